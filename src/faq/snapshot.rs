//! A FAQ directory as a set of files, and back: what a FAQ version in the database holds
//! ([`crate::store`]), read from one replica's `faq/` and written into another's.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// One file of a FAQ directory: its path relative to the directory (with `/`), and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative path, `/`-separated (`municipalities/999008/overrides.yaml`).
    pub path: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// SHA-256 (hex) over the files' paths and bytes, in path order: equal for equal directories.
pub fn fingerprint(files: &[File]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&File> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.path.as_bytes());
        h.update([0]);
        h.update((f.bytes.len() as u64).to_le_bytes());
        h.update(&f.bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a name is left out of snapshots: hidden files and an upload's temporary file.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".upload-tmp")
}

/// Every file under `dir` (hidden ones and temporary upload files left out), in path order.
pub fn read(dir: &Path) -> std::io::Result<Vec<File>> {
    paths(dir)?
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(dir.join(&path))?;
            Ok(File { path, bytes })
        })
        .collect()
}

/// The relative paths (`/`-separated) of the files [`read`] reads, in path order, without
/// reading them.
pub fn paths(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name().to_string_lossy().into_owned();
        if skipped(&name) {
            continue;
        }
        let path = item.path();
        if item.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// `path` as a safe relative path under a directory: plain names only (no `..`, no root).
pub fn relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let plain = !path.is_empty()
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && !p
            .components()
            .any(|c| skipped(&c.as_os_str().to_string_lossy()));
    plain.then(|| p.to_owned())
}

/// Makes `dir` hold exactly `files`: writes each file whose bytes differ (through a temporary
/// file and a rename, so a reader never sees half a file), removes the files that are not in
/// the set (hidden files are left alone) and the folders left empty. Returns how many files
/// were written and removed. A path that is not a plain relative path is an error, and nothing
/// is changed then.
pub fn write(dir: &Path, files: &[File]) -> std::io::Result<(usize, usize)> {
    let mut wanted: BTreeMap<PathBuf, &File> = BTreeMap::new();
    for f in files {
        let rel = relative(&f.path).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "'{}' is not a relative path inside the FAQ directory",
                    f.path
                ),
            )
        })?;
        wanted.insert(rel, f);
    }
    std::fs::create_dir_all(dir)?;
    let mut written = 0;
    for (rel, f) in &wanted {
        let dest = dir.join(rel);
        if std::fs::read(&dest).is_ok_and(|old| old == f.bytes) {
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = dest.with_file_name(format!(
            ".{}.sync-tmp",
            dest.file_name().unwrap_or_default().to_string_lossy()
        ));
        std::fs::write(&tmp, &f.bytes)?;
        std::fs::rename(&tmp, &dest)?;
        written += 1;
    }
    let mut removed = 0;
    for old in paths(dir)? {
        let rel = PathBuf::from(&old);
        if !wanted.contains_key(&rel) {
            std::fs::remove_file(dir.join(&rel))?;
            removed += 1;
        }
    }
    remove_empty_dirs(dir)?;
    Ok((written, removed))
}

fn remove_empty_dirs(dir: &Path) -> std::io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        if item.file_type()?.is_dir() {
            let path = item.path();
            remove_empty_dirs(&path)?;
            if std::fs::read_dir(&path)?.next().is_none() {
                std::fs::remove_dir(&path)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_read_and_written_back_exactly() {
        let a = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(a.path().join("municipalities/999008")).unwrap();
        std::fs::write(a.path().join("national.yaml"), "n").unwrap();
        std::fs::write(a.path().join("municipalities/999008/town.yaml"), "t").unwrap();
        std::fs::write(a.path().join(".hidden"), "h").unwrap();
        std::fs::write(a.path().join("x.yaml.upload-tmp"), "partial").unwrap();
        let files = read(a.path()).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["municipalities/999008/town.yaml", "national.yaml"]);

        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(b.path().join("municipalities/999016")).unwrap();
        std::fs::write(b.path().join("municipalities/999016/old.yaml"), "o").unwrap();
        std::fs::write(b.path().join("national.yaml"), "n").unwrap();
        std::fs::write(b.path().join(".keep"), "").unwrap();
        assert_eq!(write(b.path(), &files).unwrap(), (1, 1));
        assert_eq!(read(b.path()).unwrap(), files);
        assert!(
            !b.path().join("municipalities/999016").exists(),
            "empty folder left"
        );
        assert!(b.path().join(".keep").exists(), "hidden files are not ours");
        assert_eq!(write(b.path(), &files).unwrap(), (0, 0));
    }

    #[test]
    fn paths_that_leave_the_directory_are_refused() {
        let d = tempfile::tempdir().unwrap();
        for bad in [
            "../x.yaml",
            "/etc/passwd",
            "a/../../x",
            "",
            ".hidden/x.yaml",
        ] {
            assert!(relative(bad).is_none(), "{bad}");
            let f = File {
                path: bad.into(),
                bytes: vec![],
            };
            assert!(write(d.path(), &[f]).is_err(), "{bad}");
        }
        assert!(relative("municipalities/999008/a.yaml").is_some());
    }
}
