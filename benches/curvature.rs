//! Curvature benchmark on 784–10–10 (P = 7,960), N = 1,000 embedded MNIST
//! images, f64, at the seeded PyTorch-style initialisation written by
//! `benches/grad.rs` to bench/data (so `bench/compare.py` times JAX on the
//! same problem): one HVP, the dense Hessian, all its eigenvalues, top 20.
//!
//! Run: `cargo bench --bench curvature` (`-- --quick` skips the dense parts,
//! `-- --no-eigs` skips only the full eigendecomposition).

use hlab::curvature::hessian::{hessian, hvp, Curvature, ModelCurvature, DEFAULT_MAX_PARAMS};
use hlab::curvature::lanczos::{lanczos_top, LanczosOpts};
use hlab::curvature::SymOp;
use hlab::linalg::sym_eigvals;
use hlab::rng::Rng;
use std::time::Instant;

mod common;
use common::{median, problem};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    hlab::init_threads();
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let no_eigs = args.iter().any(|a| a == "--no-eigs");
    let (data, m) = problem()?;
    let v = Rng::new(2).normals(m.num_params());
    let mut out = vec![0.0; v.len()];
    for _ in 0..5 {
        hvp(&m, &data, &v)?;
    }
    let mut cold = Vec::new();
    for _ in 0..200 {
        let s = Instant::now();
        hvp(&m, &data, &v)?;
        cold.push(s.elapsed().as_secs_f64() * 1e3);
    }
    let mut op = ModelCurvature::new("bench", &m, &data, Curvature::Hessian)?;
    let mut warm = Vec::new();
    for _ in 0..200 {
        let s = Instant::now();
        SymOp::apply(&mut op, &v, &mut out)?;
        warm.push(s.elapsed().as_secs_f64() * 1e3);
    }
    println!("| op | hlab |");
    println!("|---|---|");
    println!(
        "| HVP, one call (forward pass included) | {:.2} ms |",
        median(cold)
    );
    println!(
        "| HVP, operator reused (Lanczos/SLQ) | {:.2} ms |",
        median(warm)
    );
    let s = Instant::now();
    let top = lanczos_top(&mut op, &LanczosOpts::new(20))?;
    println!(
        "| top-20 eigenvalues (Lanczos, {} HVPs, max residual {:.1e}) | {:.2} s |",
        top.spectrum.info.matvecs,
        top.spectrum
            .info
            .residuals
            .iter()
            .cloned()
            .fold(0.0, f64::max),
        s.elapsed().as_secs_f64()
    );
    if quick {
        return Ok(());
    }
    let s = Instant::now();
    let h = hessian(&m, &data, DEFAULT_MAX_PARAMS)?;
    println!(
        "| dense Hessian {}×{} | {:.2} s |",
        h.rows(),
        h.cols(),
        s.elapsed().as_secs_f64()
    );
    if !no_eigs {
        let s = Instant::now();
        let (vals, info) = sym_eigvals(&h)?;
        println!(
            "| all eigenvalues ({}; trace check {:.1e}) | {:.2} s |",
            info.solver,
            info.trace_rel_err,
            s.elapsed().as_secs_f64()
        );
        let t = top.spectrum.top(20);
        let d: Vec<f64> = vals.iter().rev().take(20).cloned().collect();
        let err = t
            .iter()
            .zip(&d)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        println!("(Lanczos top-20 vs dense: max |Δλ| = {err:.1e})");
    }
    Ok(())
}
