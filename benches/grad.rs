//! Gradient benchmark: 784–10–10 ReLU net, cross-entropy, N = 1,000 MNIST
//! images, f64. Writes the weights and data to bench/data/*.npy so
//! `bench/compare.py` times JAX and PyTorch on exactly the same problem.
//!
//! Run: `cargo bench --bench grad`

use hlab::data::npy::{write_npy, NpyArray};
use std::time::Instant;

mod common;
use common::{median, problem};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    hlab::init_threads();
    let (data, m) = problem()?;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/data");
    std::fs::create_dir_all(&dir)?;
    write_npy(&dir.join("x.npy"), &NpyArray::Matrix(data.x().clone()))?;
    let y: Vec<f64> = data
        .labels()
        .unwrap_or(&[])
        .iter()
        .map(|&c| c as f64)
        .collect();
    write_npy(&dir.join("y.npy"), &NpyArray::Vector(y))?;
    write_npy(
        &dir.join("params.npy"),
        &NpyArray::Vector(m.params().to_vec()),
    )?;

    for _ in 0..20 {
        m.loss_grad(&data)?;
    }
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let (l, g) = m.loss_grad(&data)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(l.is_finite() && g.len() == 7960);
    }
    println!(
        "gradient 784-10-10, N=1000, f64: median {:.3} ms (min {:.3} ms) over 200 runs, {} threads",
        median(times.clone()),
        times.iter().cloned().fold(f64::INFINITY, f64::min),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    Ok(())
}
