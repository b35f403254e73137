//! Builds a lindera dictionary from MeCab-format UTF-8 sources.
//!
//! Usage: `build-dict <src_dir_utf8> <metadata.json> <dest_dir>`. Called by
//! `scripts/setup-ipadic.sh`; kept as its own workspace member so it compiles in seconds.

use std::path::PathBuf;

use lindera::dictionary::{DictionaryBuilder, Metadata};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        return Err("usage: build-dict <src_dir_utf8> <metadata.json> <dest_dir>".into());
    }
    let metadata: Metadata = serde_json::from_slice(&std::fs::read(&args[2])?)?;
    DictionaryBuilder::new(metadata)
        .build_dictionary(&PathBuf::from(&args[1]), &PathBuf::from(&args[3]))?;
    Ok(())
}
