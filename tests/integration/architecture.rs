//! The module layering that `ARCHITECTURE.md` describes, checked on the source: every module of
//! `src/` uses only modules of a lower layer, so there is no import loop and the core never
//! reaches into the server or the CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top, as in ARCHITECTURE.md ("Modules and who may use whom"). A module may use
/// modules of earlier layers only.
const LAYERS: &[&[&str]] = &[
    &[
        "faq",
        "mask",
        "auth",
        "telemetry",
        "language",
        "romaji",
        "devanagari",
    ],
    &["analysis"],
    &["index"],
    &["synonyms", "semantic"],
    &["retrieve"],
    &["answer", "llm"],
    &["metrics", "store"],
    &["config"],
    &["engine"],
    &["chat"],
    &["eval"],
    &["server"],
    &["cli"],
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for item in std::fs::read_dir(dir).unwrap() {
        let p = item.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without its unit-test module.
fn code(text: &str) -> String {
    let body = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    body.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules each top-level module of `src/` names through `crate::`.
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let module = |p: &Path| -> String {
        let rel = p.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_owned()
    };
    let known: BTreeSet<String> = files.iter().map(|p| module(p)).collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &files {
        let m = module(p);
        if m == "lib" || m == "main" {
            continue;
        }
        let text = code(&std::fs::read_to_string(p).unwrap());
        let entry = out.entry(m.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                // Only the first segment of each path in the group: `{a::X, b}`.
                group
                    .split(',')
                    .filter_map(|s| s.trim().split("::").next())
                    .collect()
            } else {
                vec![
                    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap(),
                ]
            };
            for n in names {
                if n != m && known.contains(n) {
                    entry.insert(n.to_owned());
                }
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_lower_layers() {
    let layer_of = |m: &str| LAYERS.iter().position(|l| l.contains(&m));
    let mut wrong = Vec::new();
    for (m, deps) in uses() {
        let Some(own) = layer_of(&m) else {
            wrong.push(format!(
                "{m}: not in ARCHITECTURE.md's layers (add it there and here)"
            ));
            continue;
        };
        for d in deps {
            match layer_of(&d) {
                Some(l) if l < own => {}
                _ => wrong.push(format!("{m} uses {d}")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_uses() {
    let u = uses();
    assert!(u["server"].contains("chat"), "{u:?}");
    assert!(u["chat"].contains("engine"), "{u:?}");
    assert!(u["index"].contains("analysis"), "{u:?}");
}
