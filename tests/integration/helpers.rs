//! Shared helpers for the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Copies a directory tree (fixtures are never modified in place).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let dest = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &dest);
        } else {
            std::fs::copy(item.path(), dest).unwrap();
        }
    }
}

/// Runs the built binary with `args` in `cwd`.
pub fn madoguchi(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(args)
        .current_dir(cwd)
        .env(
            "MADOGUCHI_DICT",
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".lindera-cache/ipadic"),
        )
        .env_remove("MADOGUCHI_FAQ")
        .env_remove("MADOGUCHI_INDEX")
        .output()
        .expect("run madoguchi")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A service's locations in a work directory `dir`: `dir/faq`, `dir/index`,
/// `dir/madoguchi.toml`, the repository's dictionary, the sentence model at `model`, no
/// synonyms file and no embeddings endpoint.
pub fn locations(dir: &Path, model: PathBuf) -> madoguchi::engine::Locations {
    madoguchi::engine::Locations {
        faq: dir.join("faq"),
        index: dir.join("index"),
        dict: madoguchi::analysis::DictSource::Path(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".lindera-cache/ipadic"),
        ),
        synonyms: None,
        config: dir.join("madoguchi.toml"),
        model,
        embedding: None,
    }
}

/// The `name=value` of a sign-in reply's session cookie (what later requests send).
pub fn session_cookie(headers: &axum::http::HeaderMap) -> String {
    let set = headers[axum::http::header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}
