//! madoguchi (窓口): a retrieval-augmented FAQ chatbot for Japanese national and local government.
//!
//! Data flows one way: [`faq`] files are validated into a [`faq::Corpus`], analysed by
//! [`analysis`] (lindera IPADIC) and written by [`index`] into tantivy; [`retrieve`] turns a
//! resident's question into ranked hits; [`cli`] exposes it all as the `madoguchi` command.

#![warn(missing_docs)]

pub mod analysis;
pub mod answer;
pub mod auth;
pub mod chat;
pub mod cli;
pub mod config;
pub mod devanagari;
pub mod engine;
pub mod eval;
pub mod faq;
pub mod index;
pub mod language;
pub mod llm;
pub mod mask;
pub mod metrics;
pub mod retrieve;
pub mod romaji;
pub mod semantic;
pub mod server;
pub mod store;
pub mod synonyms;
pub mod telemetry;
