//! Dense symmetric eigenvalues: what `eigs` uses (two-stage reduction from
//! n = 1000 on), faer's one-stage solver and nalgebra, on seeded random
//! symmetric matrices, plus Lanczos top-10 for scale; max |Δλ| compares the
//! first two.
//!
//! Run: `cargo bench --bench eigs` (set `HLAB_BENCH_SIZES=500,1000` to
//! choose sizes). Prints one table; best of `reps` runs per cell.

use hlab::curvature::lanczos::{lanczos_top, LanczosOpts};
use hlab::linalg::{sym_eig, sym_eigvals, sym_eigvals_faer};
use hlab::mat::random_symmetric;
use std::time::Instant;

/// Best wall-clock seconds of `reps` runs of `f`.
fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    match out {
        Some(o) => (best, o),
        None => (best, f()),
    }
}

fn main() {
    hlab::init_threads();
    let sizes: Vec<usize> = std::env::var("HLAB_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![500, 1000, 2000, 4000]);
    println!(
        "{:>6} | {:>14} | {:>13} | {:>15} | {:>11} | {:>15} | {:>12} | {:>10}",
        "n",
        "eigs vals s",
        "faer 1-stage s",
        "nalgebra vals s",
        "faer vecs s",
        "nalgebra vecs s",
        "lanczos10 s",
        "max |Δλ|"
    );
    for &n in &sizes {
        let a = random_symmetric(n, n as u64);
        let reps = if n <= 1000 { 3 } else { 1 };
        // What `eigs` uses (two-stage from TWO_STAGE_MIN on), faer's
        // one-stage solver, and nalgebra (up to n = 2000: minutes beyond).
        let (te, e) = best(reps, || sym_eigvals(&a).map(|r| r.0));
        let (tf, f) = best(reps, || sym_eigvals_faer(&a));
        let tn = if n <= 2000 {
            let (tn, _) = best(reps, || {
                let m = nalgebra::DMatrix::<f64>::from_fn(n, n, |i, j| a.at(i, j));
                m.symmetric_eigenvalues().len()
            });
            format!("{tn:.3}")
        } else {
            "-".to_string()
        };
        let dmax = match (&e, &f) {
            (Ok(e), Ok(f)) => e
                .iter()
                .zip(f)
                .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs())),
            _ => f64::NAN,
        };
        let (tfv, tnv) = if n <= 1000 {
            let (tfv, _) = best(1, || sym_eig(&a).map(|r| r.0.len()));
            let (tnv, _) = best(1, || {
                let m = nalgebra::DMatrix::<f64>::from_fn(n, n, |i, j| a.at(i, j));
                nalgebra::SymmetricEigen::new(m).eigenvalues.len()
            });
            (format!("{tfv:.3}"), format!("{tnv:.3}"))
        } else {
            ("-".to_string(), "-".to_string())
        };
        let (tl, _) = best(1, || {
            let mut op = a.clone();
            lanczos_top(&mut op, &LanczosOpts::new(10)).map(|r| r.spectrum.len())
        });
        println!(
            "{n:>6} | {te:>14.3} | {tf:>13.3} | {tn:>15} | {tfv:>11} | {tnv:>15} | {tl:>12.3} | {dmax:>10.1e}"
        );
    }
}
