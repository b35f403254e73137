//! Black-box tests: FAQ loaders on real files, and the `madoguchi` binary.

mod cli;
mod dev_set;
mod eval;
mod fake_llm;
mod helpers;
mod loaders;
mod server;
