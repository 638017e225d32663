//! # hlab — the curvature of neural-network loss surfaces, interactively
//!
//! The modules, from the bottom layer up (a module uses only those above
//! it in this table; `tests/house.rs` checks it):
//!
//! | module | what it holds |
//! |---|---|
//! | [`error`] | the one error enum and `Result` |
//! | [`text`] | numbers as people read them, the "did you mean" suggestion |
//! | [`fsio`] | the one atomic file writer every save uses |
//! | [`progress`] | progress bars and the interrupt flag |
//! | [`rng`] | the seeded, portable random generator |
//! | [`mat`] | `Mat`, the dense matrix, and vector helpers |
//! | [`data`] | `Dataset`, clusters, MNIST, `.npy` |
//! | [`model`] | networks: the layer engine, losses, the R-operator passes, state dicts |
//! | [`spectrum`] | `Spectrum`: eigenvalues with provenance, outlier rules |
//! | [`linalg`] | dense symmetric eigen-solvers |
//! | [`laws`] | reference spectral laws (Marchenko–Pastur) and the Kolmogorov–Smirnov distance |
//! | [`curvature`] | exact HVPs, Hessians, Gauss–Newton, Lanczos, SLQ, Hutchinson, the Gram route and Papyan's class decomposition |
//! | [`train`] | SGD with momentum and weight decay, `History`, curvature tracked during training |
//! | [`landscape`] | loss (and curvature) along lines and on planes |
//! | [`output`] | `Display`, `Output`, `Sink`: what an evaluation emits |
//! | [`plot`] | charts as text and SVG |
//! | [`script`] | the only module that imports rhai: `Session`, the script types, the api wrappers, docs |
//! | [`console`] | the command line's stdout sink and its one Ctrl-C handler (`run`, `-e`, `check`, REPL) |
//! | [`commands`] | the `:commands` (`:help`, `:vars`, `:time`, …), one table for the REPL and the kernel |
//! | [`complete`] | completion and the "is this input complete?" rule (REPL and kernel) |
//! | [`course`] | the teaching course's exercises and `hlab check` |
//! | [`repl`] | the interactive REPL and piped input |
//! | [`kernel`] | the Jupyter kernel: protocol 5.3 over ZeroMQ, kernelspec install |

#![warn(missing_docs)]

pub mod commands;
pub mod complete;
pub mod console;
pub mod course;
pub mod curvature;
pub mod data;
pub mod error;
pub mod fsio;
pub mod kernel;
pub mod landscape;
pub mod laws;
pub mod linalg;
pub mod mat;
pub mod model;
pub mod output;
pub mod plot;
pub mod progress;
pub mod repl;
pub mod rng;
pub mod script;
pub mod spectrum;
pub mod text;
pub mod train;

pub use error::{Error, Result};

/// Call once at the start of a program, before any other thread exists.
///
/// Three process settings that make the numerical work faster and change no
/// result:
///
/// - candle asks for its thread count on every matrix product and, unless
///   `RAYON_NUM_THREADS` is set, works it out by reading `/proc/cpuinfo`
///   each time (≈ 4 % of a Hessian-vector product at P = 7,960 here); the
///   variable is set once to the available parallelism unless the user set
///   it.
/// - The R-operator allocates and frees tensors of up to tens of MB per
///   product. glibc serves those with fresh `mmap`s and trims its heap
///   after each free, so every product page-faults its memory back in
///   (≈ 20 % of `density` on a P = 94k net). With glibc, blocks up to
///   32 MB come from the heap and the heap is not trimmed, so they are
///   reused; the peak memory is unchanged.
/// - candle splits every elementwise map of more than 64k elements over
///   its own spinning thread pool (beside rayon's, which runs the matrix
///   products): on a machine with few cores, shared, the main thread spins
///   at that pool's barrier while its worker waits for a core (≈ 40 % of
///   a Hessian-vector product at P = 94k under load, hvp 124 → 57 ms).
///   `CANDLE_NUM_THREADS=1` (unless the user set it) runs those maps on
///   the calling thread; matrix products still use every core (rayon).
pub fn init_threads() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3
        // (malloc.h); the mmap threshold is capped at 32 MB by glibc.
        // SAFETY: mallopt only changes allocator tunables; it is called
        // before other threads allocate.
        unsafe {
            libc::mallopt(-3, 32 << 20);
            libc::mallopt(-1, i32::MAX);
            libc::mallopt(-2, 64 << 20);
        }
    }
}
