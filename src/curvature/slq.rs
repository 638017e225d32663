//! Stochastic Lanczos quadrature (SLQ): a smoothed spectral density of a
//! symmetric operator from matrix-vector products only.
//!
//! The spectral density of `A ∈ ℝⁿˣⁿ` is `φ(t) = (1/n) Σᵢ δ(t − λᵢ)`; with
//! a Gaussian kernel `g_σ` it becomes `φ_σ(t) = (1/n) Σᵢ g_σ(t − λᵢ)
//! = (1/n) tr g_σ(t·I − A)`. For a Rademacher probe `v = z/√n`
//! (`zᵢ = ±1`), `E[vᵀ f(A) v] = (1/n) tr f(A)`, and `m` Lanczos steps from
//! `v` give the tridiagonal `T = S Θ Sᵀ` whose Gauss quadrature
//! `vᵀ f(A) v ≈ Σⱼ τⱼ f(θⱼ)`, `τⱼ = (Sₑ₁ⱼ)²` (the squared first
//! components; they sum to 1), is exact for polynomials of degree
//! `≤ 2m − 1`. Averaging over `p` probes:
//!
//! `φ_σ(t) ≈ (1/p) Σₗ Σⱼ τⱼ⁽ˡ⁾ g_σ(t − θⱼ⁽ˡ⁾)`.
//!
//! Defaults follow the community (PyHessian): 90 steps, 10 probes,
//! `σ² = 10⁻⁵ · max(1, θ_max − θ_min)`. The grid covers
//! `[θ_min − 6σ − h, θ_max + 6σ + h]` (θ over all probes) with `points`
//! values `xᵢ` spaced `h` apart, and `yᵢ` is the *average of φ_σ over the cell*
//! `[xᵢ − h/2, xᵢ + h/2]`, computed exactly with the normal CDF. So the
//! density integrates to 1 (up to the 6σ tails, ~10⁻⁹) however coarse the
//! grid is relative to σ, and equals φ_σ(xᵢ) up to O(h²/σ²) when `h ≪ σ`.
//!
//! Cost: `p · m` products, `O(p m² n)` flops of (partial)
//! reorthogonalisation: each probe's basis is kept semi-orthogonal, a
//! full Gram–Schmidt pass only on the steps Simon's ω-recurrence asks for
//! (see [`super::lanczos`]).
//!
//! ```
//! use hlab::curvature::slq::{slq_density, SlqOpts};
//! use hlab::mat::Mat;
//! let mut a = Mat::from_fn(200, 200, |i, j| if i == j { (i % 4) as f64 } else { 0.0 });
//! let d = slq_density(&mut a, &SlqOpts::default()).unwrap();
//! assert!((d.integral() - 1.0).abs() < 1e-6);
//! assert!((d.mean() - 1.5).abs() < 0.2);
//! ```

use super::lanczos::lanczos_tridiagonal_many;
use super::SymOp;
use crate::error::{Error, Result};
use crate::linalg::tridiag_eig;
use crate::progress::check_interrupt;
use crate::rng::Rng;
use crate::spectrum::{Density, SpectrumInfo};
use std::time::Instant;

const OP: &str = "density";

/// Options of [`slq_density`].
#[derive(Clone, Debug, PartialEq)]
pub struct SlqOpts {
    /// Lanczos steps per probe (default 90; capped at the dimension).
    pub steps: usize,
    /// Number of Rademacher probes (default 10).
    pub probes: usize,
    /// Gaussian smoothing variance σ²; default `1e-5 · max(1, θ_max − θ_min)`.
    pub sigma2: Option<f64>,
    /// Grid points (default 1000, at least 4).
    pub points: usize,
    /// Seed of the probes.
    pub seed: u64,
}

impl Default for SlqOpts {
    fn default() -> Self {
        SlqOpts {
            steps: 90,
            probes: 10,
            sigma2: None,
            points: 1000,
            seed: 0,
        }
    }
}

/// Upper tail of the standard normal, `Q(z) = P(Z > z) = erfc(z/√2)/2`
/// (musl's `erfc` from the `libm` crate, < 1 ulp).
fn upper_tail(z: f64) -> f64 {
    0.5 * libm::erfc(z * std::f64::consts::FRAC_1_SQRT_2)
}

/// The SLQ density of `op` (see the module doc). Returns the grid `x`,
/// the cell-averaged density `y`, the quadrature nodes and weights per
/// probe, and `info` (method `"slq"`, steps, probes, seed, matvecs,
/// sigma2, seconds).
///
/// Errors (op `density`) when steps, probes or points are out of range,
/// σ² is not positive, the operator returns NaN/∞, or on an interrupt.
pub fn slq_density(op: &mut dyn SymOp, o: &SlqOpts) -> Result<Density> {
    let t0 = Instant::now();
    let n = op.dim();
    if n == 0 {
        return Err(Error::shape(
            OP,
            "an operator of dimension ≥ 1",
            "dimension 0",
        ));
    }
    if o.steps == 0 {
        return Err(Error::shape(OP, "steps ≥ 1", "steps = 0"));
    }
    if o.probes == 0 {
        return Err(Error::shape(OP, "probes ≥ 1", "probes = 0"));
    }
    if o.points < 4 {
        return Err(Error::shape(
            OP,
            "points ≥ 4",
            format!("points = {}", o.points),
        ));
    }
    if let Some(s2) = o.sigma2 {
        if !(s2 > 0.0 && s2.is_finite()) {
            return Err(Error::invalid(
                OP,
                format!("sigma2: expected a positive number, got {s2}"),
            ));
        }
    }
    let steps = o.steps.min(n);
    let mut rng = Rng::new(o.seed);
    let progress = crate::progress::Progress::new(OP, (o.probes * steps) as u64);
    let mut nodes = Vec::with_capacity(o.probes);
    let mut weights = Vec::with_capacity(o.probes);
    let mut matvecs = 0;
    let scale = 1.0 / (n as f64).sqrt();
    // All probes in lockstep: one block product per Lanczos step.
    let starts: Vec<Vec<f64>> = (0..o.probes)
        .map(|_| (0..n).map(|_| rng.rademacher() * scale).collect())
        .collect();
    let runs = lanczos_tridiagonal_many(op, &starts, steps, OP)?;
    for t in runs {
        check_interrupt(OP)?;
        matvecs += t.matvecs;
        progress.inc(t.matvecs as u64);
        let e = tridiag_eig(&t.alpha, &t.beta)?;
        let w: Vec<f64> = (0..e.values.len()).map(|j| e.first(j).powi(2)).collect();
        nodes.push(e.values);
        weights.push(w);
    }
    let lo0 = nodes
        .iter()
        .flatten()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi0 = nodes
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let sigma2 = o.sigma2.unwrap_or(1e-5 * (hi0 - lo0).max(1.0));
    let sigma = sigma2.sqrt();
    // Grid [θ_min − 6σ − h, θ_max + 6σ + h] with spacing h: the end cells
    // hold no mass, so the trapezoid and midpoint sums agree.
    let np = o.points;
    let h = (hi0 - lo0 + 12.0 * sigma) / (np - 3) as f64;
    let lo = lo0 - 6.0 * sigma - h;
    let x: Vec<f64> = (0..np).map(|i| lo + h * i as f64).collect();
    // Cell boundaries b₀ … b_np: bᵢ = xᵢ − h/2.
    let bounds: Vec<f64> = (0..=np).map(|i| lo + h * (i as f64 - 0.5)).collect();
    let mut mass = vec![0.0; np];
    let mut tails = vec![0.0; np + 1];
    let inv_p = 1.0 / o.probes as f64;
    for (th, w) in nodes.iter().zip(&weights) {
        check_interrupt(OP)?;
        for (t, wt) in th.iter().zip(w) {
            for (q, b) in tails.iter_mut().zip(&bounds) {
                *q = upper_tail((b - t) / sigma);
            }
            for (i, m) in mass.iter_mut().enumerate() {
                *m += inv_p * wt * (tails[i] - tails[i + 1]);
            }
        }
    }
    let y: Vec<f64> = mass.iter().map(|m| m / h).collect();
    let mut info = SpectrumInfo::new("slq", "operator");
    info.steps = Some(steps);
    info.probes = Some(o.probes);
    info.seed = Some(o.seed);
    info.matvecs = matvecs;
    info.sigma2 = Some(sigma2);
    info.seconds = t0.elapsed().as_secs_f64();
    Ok(Density {
        x,
        y,
        nodes,
        weights,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::testmat::{random_symmetric, with_spectrum};
    use crate::mat::Mat;

    #[test]
    fn integrates_to_one_for_any_grid() {
        let a = random_symmetric(300, 1);
        for (points, sigma2) in [(1000, None), (40, None), (1000, Some(1e-8)), (7, Some(0.5))] {
            let o = SlqOpts {
                points,
                sigma2,
                ..SlqOpts::default()
            };
            let d = slq_density(&mut a.clone(), &o).unwrap();
            assert_eq!(d.x.len(), points);
            assert_eq!(d.y.len(), points);
            assert!(d.y.iter().all(|y| *y >= 0.0));
            let i = d.integral();
            assert!(
                (i - 1.0).abs() < 1e-6,
                "points {points} sigma2 {sigma2:?}: ∫ = {i}"
            );
            for w in &d.weights {
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn mean_is_trace_over_n_within_sampling_error() {
        let n = 400;
        let a = random_symmetric(n, 2).scale(0.1);
        let tr = a.trace().unwrap();
        // Var(zᵀAz) = 2 Σ_{i≠j} A_ij² for Rademacher z.
        let off2: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a.at(i, j).powi(2))
            .sum();
        for seed in 0..4 {
            let o = SlqOpts {
                seed,
                ..SlqOpts::default()
            };
            let d = slq_density(&mut a.clone(), &o).unwrap();
            let sd = (2.0 * off2 / 10.0).sqrt() / n as f64;
            let want = tr / n as f64;
            assert!(
                (d.mean() - want).abs() < 4.0 * sd,
                "seed {seed}: {} vs {want} ± {sd}",
                d.mean()
            );
            assert!((d.moment(1) - d.mean()).abs() < 1e-6);
            // Second moment: (1/n)‖A‖_F², also within sampling error (loose).
            let f2: f64 = a.data().iter().map(|x| x * x).sum::<f64>() / n as f64;
            assert!(
                (d.moment(2) - f2).abs() < 0.1 * f2,
                "{} vs {f2}",
                d.moment(2)
            );
        }
    }

    #[test]
    fn mass_above_gap_is_fraction_of_outliers() {
        let n = 500;
        let k = 10;
        let mut r = crate::rng::Rng::new(3);
        let mut spec: Vec<f64> = (0..n - k).map(|_| r.uniform_in(-1.0, 1.0)).collect();
        spec.extend((0..k).map(|i| 5.0 + i as f64 * 0.5));
        let a = with_spectrum(&spec, 4);
        let d = slq_density(&mut a.clone(), &SlqOpts::default()).unwrap();
        // Extreme nodes converge to the extreme eigenvalues.
        assert!((d.node_max() - 9.5).abs() < 1e-6, "{}", d.node_max());
        assert!(
            d.node_min() > -1.0 && d.node_min() < -0.95,
            "{}",
            d.node_min()
        );
        let frac = k as f64 / n as f64;
        // Per probe the mass above the gap has variance ≈ 2k/n² (Rademacher
        // components of the k outlier eigenvectors), 10 probes.
        let sd = (2.0 * k as f64 / 10.0).sqrt() / n as f64;
        let q = d.mass_above(3.0);
        assert!((q - frac).abs() < 4.0 * sd, "nodes: {q} vs {frac} ± {sd}");
        // The same from the smoothed density on the grid.
        let grid_mass: f64 =
            d.x.windows(2)
                .zip(d.y.windows(2))
                .filter(|(x, _)| x[0] > 3.0)
                .map(|(x, y)| 0.5 * (x[1] - x[0]) * (y[0] + y[1]))
                .sum();
        assert!((grid_mass - q).abs() < 1e-3, "{grid_mass} vs {q}");
        assert_eq!(d.info.method, "slq");
        assert_eq!(d.info.probes, Some(10));
        assert_eq!(d.info.steps, Some(90));
        assert_eq!(d.info.matvecs, 900);
        let s2 = d.info.sigma2.unwrap();
        assert!((s2 - 1e-5 * (d.node_max() - d.node_min())).abs() < 1e-12);
    }

    #[test]
    fn small_dimension_quadrature_is_exact() {
        // n < steps: full Lanczos, nodes are the eigenvalues (or the ones the
        // probe sees), and the smoothed moments are exact.
        let a = Mat::from_fn(5, 5, |i, j| {
            if i == j {
                [1.0, 2.0, 2.0, -1.0, 4.0][i]
            } else {
                0.0
            }
        });
        let d = slq_density(&mut a.clone(), &SlqOpts::default()).unwrap();
        for (th, w) in d.nodes.iter().zip(&d.weights) {
            // Rademacher probes weigh every eigenvector equally: 1/5 each.
            for (t, wt) in th.iter().zip(w) {
                let mult = if (*t - 2.0).abs() < 1e-12 { 2.0 } else { 1.0 };
                assert!(
                    [1.0, 2.0, -1.0, 4.0].iter().any(|e| (e - t).abs() < 1e-12),
                    "{t}"
                );
                assert!((wt - mult / 5.0).abs() < 1e-12, "{t}: {wt}");
            }
        }
        assert!((d.moment(1) - 8.0 / 5.0).abs() < 1e-12);
        assert!(d.info.matvecs <= 50);
    }

    #[test]
    fn deterministic_and_errors() {
        let a = random_symmetric(60, 5);
        let o = SlqOpts {
            steps: 20,
            probes: 3,
            seed: 9,
            ..SlqOpts::default()
        };
        let d1 = slq_density(&mut a.clone(), &o).unwrap();
        let d2 = slq_density(&mut a.clone(), &o).unwrap();
        assert_eq!(
            (&d1.x, &d1.y, &d1.nodes, &d1.weights),
            (&d2.x, &d2.y, &d2.nodes, &d2.weights)
        );
        let o3 = SlqOpts {
            seed: 10,
            ..o.clone()
        };
        assert_ne!(slq_density(&mut a.clone(), &o3).unwrap().y, d1.y);
        for bad in [
            SlqOpts {
                steps: 0,
                ..o.clone()
            },
            SlqOpts {
                probes: 0,
                ..o.clone()
            },
            SlqOpts {
                points: 3,
                ..o.clone()
            },
            SlqOpts {
                sigma2: Some(-1.0),
                ..o.clone()
            },
        ] {
            let e = slq_density(&mut a.clone(), &bad).unwrap_err().to_string();
            assert!(e.starts_with("density:"), "{e}");
        }
    }
}
