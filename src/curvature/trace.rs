//! Hutchinson's trace estimator.
//!
//! For a Rademacher vector `z` (`zᵢ = ±1` independently), `E[zᵀ A z] = tr A`
//! and `Var[zᵀ A z] = 2 Σ_{i≠j} A²ᵢⱼ`. With `p` probes the estimate is the
//! sample mean `t̂ = (1/p) Σₗ zₗᵀ A zₗ` and its standard error the sample
//! standard deviation over `√p` (NaN for a single probe). Probes are
//! applied in blocks of up to 16 through [`SymOp::apply_block`].
//!
//! ```
//! use hlab::curvature::trace::hutchinson;
//! use hlab::mat::Mat;
//! let mut a = Mat::from_fn(30, 30, |i, j| if i == j { 2.0 } else { 0.0 });
//! let t = hutchinson(&mut a, 5, 0).unwrap();
//! assert_eq!(t.value, 60.0); // exact for a diagonal matrix
//! assert_eq!(t.stderr, 0.0);
//! ```

use super::{require_finite, SymOp};
use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::progress::{check_interrupt, Progress};
use crate::rng::Rng;
use std::time::Instant;

const OP: &str = "hessian_trace";

/// Probes applied together in one block product.
const BLOCK: usize = 16;

/// A trace estimate with its standard error.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEstimate {
    /// The estimate of `tr A`.
    pub value: f64,
    /// Standard error of the estimate (NaN with one probe).
    pub stderr: f64,
    /// Number of probes (= matrix-vector products).
    pub probes: usize,
    /// Seed of the probes.
    pub seed: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Hutchinson's estimate of `tr A` from `probes` seeded Rademacher vectors.
///
/// Errors (op `hessian_trace`) when `probes = 0` or the dimension is 0,
/// the operator returns NaN/∞, or on an interrupt.
pub fn hutchinson(op: &mut dyn SymOp, probes: usize, seed: u64) -> Result<TraceEstimate> {
    let t0 = Instant::now();
    let n = op.dim();
    if probes == 0 {
        return Err(Error::shape(OP, "probes ≥ 1", "probes = 0"));
    }
    if n == 0 {
        return Err(Error::shape(
            OP,
            "an operator of dimension ≥ 1",
            "dimension 0",
        ));
    }
    let mut rng = Rng::new(seed);
    let progress = Progress::new(OP, probes as u64);
    let mut samples = Vec::with_capacity(probes);
    while samples.len() < probes {
        check_interrupt(OP)?;
        let b = (probes - samples.len()).min(BLOCK);
        let z = Mat::from_fn(n, b, |_, _| rng.rademacher());
        let az = op.apply_block(&z)?;
        if az.shape() != (n, b) {
            return Err(Error::shape(
                OP,
                format!("a {n}×{b} block product"),
                format!("{}×{}", az.rows(), az.cols()),
            ));
        }
        require_finite(OP, az.data())?;
        let mut s = vec![0.0; b];
        for i in 0..n {
            for (j, sj) in s.iter_mut().enumerate() {
                *sj += z.at(i, j) * az.at(i, j);
            }
        }
        samples.extend(s);
        progress.inc(b as u64);
    }
    let p = probes as f64;
    let value = samples.iter().sum::<f64>() / p;
    let stderr = if probes > 1 {
        let var = samples.iter().map(|x| (x - value).powi(2)).sum::<f64>() / (p - 1.0);
        (var / p).sqrt()
    } else {
        f64::NAN
    };
    Ok(TraceEstimate {
        value,
        stderr,
        probes,
        seed,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curvature::Counted;
    use crate::linalg::testmat::random_symmetric;

    #[test]
    fn within_three_standard_errors_over_seeds() {
        let mut misses = 0;
        let mut trials = 0;
        for mseed in 0..5 {
            let mut a = random_symmetric(80, 100 + mseed);
            // A nonzero mean on the diagonal so the trace is not ≈ 0.
            for i in 0..80 {
                a.set(i, i, a.at(i, i) + 1.0);
            }
            let tr = a.trace().unwrap();
            for seed in 0..8 {
                let t = hutchinson(&mut a, 100, seed).unwrap();
                assert_eq!(t.probes, 100);
                assert!(t.stderr > 0.0);
                trials += 1;
                if (t.value - tr).abs() > 3.0 * t.stderr {
                    misses += 1;
                }
                // Never absurdly far.
                assert!(
                    (t.value - tr).abs() < 5.0 * t.stderr,
                    "{} vs {tr} ± {}",
                    t.value,
                    t.stderr
                );
            }
        }
        // P(|Z| > 3) ≈ 0.3%: at most one miss in 40 trials.
        assert!(misses <= 1, "{misses} of {trials} beyond 3 standard errors");
    }

    #[test]
    fn stderr_shrinks_like_one_over_sqrt_probes() {
        let mut a = random_symmetric(100, 7);
        let s10 = hutchinson(&mut a, 10, 1).unwrap().stderr;
        let s1000 = hutchinson(&mut a, 1000, 1).unwrap().stderr;
        // Expected ratio √100 = 10; the sample standard deviations vary.
        assert!(s1000 < s10 / 4.0, "{s10} → {s1000}");
        assert!(s1000 > s10 / 25.0, "{s10} → {s1000}");
        // Variance 2Σ_{i≠j}A²: compare the 1000-probe stderr with theory.
        let off2: f64 = (0..100)
            .flat_map(|i| (0..100).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a.at(i, j).powi(2))
            .sum();
        let theory = (2.0 * off2 / 1000.0).sqrt();
        assert!((s1000 / theory - 1.0).abs() < 0.15, "{s1000} vs {theory}");
    }

    #[test]
    fn counts_deterministic_and_errors() {
        let a = random_symmetric(20, 3);
        let mut op = Counted::new(&a);
        let t1 = hutchinson(&mut op, 37, 5).unwrap();
        assert_eq!(op.matvecs(), 37);
        let t2 = hutchinson(&mut op, 37, 5).unwrap();
        assert_eq!(t1.value, t2.value);
        assert!(hutchinson(&mut op, 1, 5).unwrap().stderr.is_nan());
        let e = hutchinson(&mut op, 0, 5).unwrap_err().to_string();
        assert!(
            e.starts_with("hessian_trace:") && e.contains("probes ≥ 1"),
            "{e}"
        );
    }
}
