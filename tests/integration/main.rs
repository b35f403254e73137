//! Black-box tests: FAQ loaders on real files, the `madoguchi` binary, the HTTP service, the
//! evaluation harness and the module layering.

mod architecture;
mod cli;
mod dev_set;
mod eval;
mod fake_embeddings;
mod fake_llm;
mod fuzz;
mod helpers;
mod loaders;
mod replicas;
mod semantic;
mod server;
mod storage_faults;
