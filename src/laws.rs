//! Reference spectral laws to hold a measured spectrum against: the
//! Marchenko–Pastur law of sample covariance matrices, and the
//! Kolmogorov–Smirnov distance between a spectrum and a density.
//!
//! For an N × d matrix X of i.i.d. entries with mean 0 and variance σ²,
//! the eigenvalues of the d × d matrix `(1/N) XᵀX` follow, as N, d → ∞
//! with `λ = d/N` fixed, the density
//!
//! `ρ(x) = √((b − x)(x − a)) / (2π σ² λ x)` on `[a, b]`,
//! `a = σ²(1 − √λ)²`, `b = σ²(1 + √λ)²`,
//!
//! plus an atom of mass `1 − 1/λ` at 0 when `λ > 1` (Marchenko & Pastur
//! 1967). Its mean is σ² and its second moment σ⁴(1 + λ).
//!
//! ```
//! use hlab::laws::marchenko_pastur;
//! let d = marchenko_pastur(0.25, 1.0, 2000).unwrap();
//! assert!((d.integral() - 1.0).abs() < 1e-3);
//! assert!((d.mean() - 1.0).abs() < 1e-3);
//! ```

use crate::error::{Error, Result};
use crate::spectrum::{Density, SpectrumInfo};

/// The support `[a, b]` of the Marchenko–Pastur law with ratio `λ` and
/// variance `σ²`.
pub fn mp_edges(ratio: f64, sigma2: f64) -> (f64, f64) {
    let r = ratio.sqrt();
    (
        sigma2 * (1.0 - r) * (1.0 - r),
        sigma2 * (1.0 + r) * (1.0 + r),
    )
}

/// The mass of the atom at zero: `max(0, 1 − 1/λ)`.
pub fn mp_atom(ratio: f64) -> f64 {
    (1.0 - 1.0 / ratio).max(0.0)
}

/// The continuous part of the density at `x` (0 outside the support).
pub fn mp_density(ratio: f64, sigma2: f64, x: f64) -> f64 {
    let (a, b) = mp_edges(ratio, sigma2);
    if x <= a || x >= b || x <= 0.0 {
        return 0.0;
    }
    ((b - x) * (x - a)).sqrt() / (2.0 * std::f64::consts::PI * sigma2 * ratio * x)
}

/// The Marchenko–Pastur law with ratio `λ = d/N` and entry variance σ² as a
/// [`Density`] on `points` equally spaced points spanning the support
/// (the atom at 0, for λ > 1, is `info.accuracy["atom"]`, not on the grid).
///
/// Errors (op `marchenko_pastur`) unless `ratio` and `sigma2` are positive
/// and finite and `points` is in 16..=1,000,000.
pub fn marchenko_pastur(ratio: f64, sigma2: f64, points: usize) -> Result<Density> {
    const OP: &str = "marchenko_pastur";
    if !(ratio.is_finite() && ratio > 0.0) {
        return Err(Error::invalid(
            OP,
            format!("expected a ratio d/N > 0, got {ratio}"),
        ));
    }
    if !(sigma2.is_finite() && sigma2 > 0.0) {
        return Err(Error::invalid(
            OP,
            format!("expected a variance sigma2 > 0, got {sigma2}"),
        ));
    }
    if !(16..=1_000_000).contains(&points) {
        return Err(Error::invalid(
            OP,
            format!("points: expected 16 to 1000000, got {points}"),
        ));
    }
    let (a, b) = mp_edges(ratio, sigma2);
    // The grid runs from edge to edge: the density is 0 at both ends
    // (except at a = 0 when λ = 1, where it diverges like 1/√x: the first
    // point is then moved in by half a step so it stays finite).
    let h = (b - a) / (points - 1) as f64;
    let x: Vec<f64> = (0..points).map(|i| a + h * i as f64).collect();
    let mut y: Vec<f64> = x.iter().map(|&t| mp_density(ratio, sigma2, t)).collect();
    if a <= 0.0 {
        y[0] = mp_density(ratio, sigma2, 0.5 * h);
    }
    let mut info = SpectrumInfo::new("closed form", "Marchenko–Pastur law");
    info.accuracy = vec![
        ("atom".into(), mp_atom(ratio)),
        ("ratio".into(), ratio),
        ("sigma2".into(), sigma2),
        ("lower_edge".into(), a),
        ("upper_edge".into(), b),
    ];
    Ok(Density {
        x,
        y,
        nodes: Vec::new(),
        weights: Vec::new(),
        info,
    })
}

/// The atom at zero recorded in a density's info (0 when none).
pub fn atom_of(d: &Density) -> f64 {
    d.info
        .accuracy
        .iter()
        .find(|(k, _)| k == "atom")
        .map_or(0.0, |(_, v)| *v)
}

/// The Kolmogorov–Smirnov distance `sup_x |F_n(x) − F(x)|` between the
/// empirical distribution of `values` and the distribution of the density
/// `d` (its grid integrated by the trapezoid rule and scaled to total mass
/// 1 − atom, plus its atom at 0 when it has one).
///
/// Errors (op `ks_distance`) on no finite values or a density without mass.
pub fn ks_distance(values: &[f64], d: &Density) -> Result<f64> {
    const OP: &str = "ks_distance";
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Err(Error::invalid(
            OP,
            "expected at least one finite value, got none",
        ));
    }
    v.sort_by(f64::total_cmp);
    let n = d.x.len().min(d.y.len());
    let mut cum = vec![0.0; n];
    for i in 1..n {
        cum[i] = cum[i - 1] + 0.5 * (d.x[i] - d.x[i - 1]) * (d.y[i] + d.y[i - 1]);
    }
    let total = cum.last().copied().unwrap_or(0.0);
    if !(total.is_finite() && total > 0.0) {
        return Err(Error::invalid(
            OP,
            format!("expected a density with positive finite mass, got {total}"),
        ));
    }
    let atom = atom_of(d).clamp(0.0, 1.0);
    let scale = (1.0 - atom) / total;
    // F(x), or F(x−) with `left` (they differ only at the atom).
    let cdf = |x: f64, left: bool| -> f64 {
        let base = if x > 0.0 || (x == 0.0 && !left) {
            atom
        } else {
            0.0
        };
        let cont = if n == 0 || x <= d.x[0] {
            0.0
        } else if x >= d.x[n - 1] {
            total
        } else {
            // Binary search for the grid interval, then integrate the
            // linear interpolant of y up to x.
            let j = d.x.partition_point(|&t| t <= x).max(1) - 1;
            let (x0, x1) = (d.x[j], d.x[j + 1]);
            let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 };
            let yx = d.y[j] + t * (d.y[j + 1] - d.y[j]);
            cum[j] + 0.5 * (x - x0) * (d.y[j] + yx)
        };
        base + cont * scale
    };
    let m = v.len() as f64;
    let mut dist: f64 = 0.0;
    let mut i = 0;
    while i < v.len() {
        // Ties: the empirical CDF jumps once over all copies.
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[i] {
            j += 1;
        }
        let below = i as f64 / m;
        let at = (j + 1) as f64 / m;
        dist = dist
            .max((cdf(v[i], true) - below).abs())
            .max((at - cdf(v[i], false)).abs());
        i = j + 1;
    }
    Ok(dist)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn moment(d: &Density, p: i32) -> f64 {
        d.x.windows(2)
            .zip(d.y.windows(2))
            .map(|(x, y)| 0.5 * (x[1] - x[0]) * (x[0].powi(p) * y[0] + x[1].powi(p) * y[1]))
            .sum()
    }

    #[test]
    fn integrates_to_one_or_one_over_ratio_with_the_closed_form_moments() {
        for &(ratio, s2) in &[(0.1, 1.0), (0.5, 0.25), (0.9, 2.0), (2.0, 0.25), (5.0, 1.0)] {
            let d = marchenko_pastur(ratio, s2, 20_000).unwrap();
            let mass = d.integral();
            let atom = atom_of(&d);
            let want = if ratio <= 1.0 { 1.0 } else { 1.0 / ratio };
            assert!((mass - want).abs() < 2e-4, "ratio {ratio}: mass {mass}");
            assert!((mass + atom - 1.0).abs() < 2e-4, "ratio {ratio}");
            // E[x] = σ², E[x²] = σ⁴(1 + λ) (the atom contributes nothing).
            let m1 = moment(&d, 1);
            let m2 = moment(&d, 2);
            assert!((m1 - s2).abs() < 1e-3 * s2, "ratio {ratio}: m1 {m1}");
            assert!(
                (m2 - s2 * s2 * (1.0 + ratio)).abs() < 1e-3 * s2 * s2,
                "ratio {ratio}: m2 {m2}"
            );
        }
    }

    #[test]
    fn sample_covariance_eigenvalues_are_close_in_ks_and_a_wrong_law_is_far() {
        let (n, dd) = (1000, 200);
        let mut r = Rng::new(7);
        let x: Vec<f64> = (0..n * dd).map(|_| r.normal()).collect();
        let xm = crate::mat::Mat::from_vec(n, dd, x).unwrap();
        let cov = xm.transpose().matmul(&xm).unwrap().scale(1.0 / n as f64);
        let (vals, _) = crate::linalg::sym_eigvals(&cov).unwrap();
        let good = marchenko_pastur(dd as f64 / n as f64, 1.0, 2000).unwrap();
        let dist = ks_distance(&vals, &good).unwrap();
        assert!(dist < 0.05, "{dist}");
        let bad = marchenko_pastur(dd as f64 / n as f64, 1.3, 2000).unwrap();
        let far = ks_distance(&vals, &bad).unwrap();
        assert!(far > 0.1, "{far}");
    }

    #[test]
    fn ks_counts_the_atom_and_rejects_bad_input() {
        // λ = 2: half the eigenvalues are exactly 0.
        let d = marchenko_pastur(2.0, 1.0, 4000).unwrap();
        let mut r = Rng::new(3);
        let (n, dd) = (300, 600);
        let x: Vec<f64> = (0..n * dd).map(|_| r.normal()).collect();
        let xm = crate::mat::Mat::from_vec(n, dd, x).unwrap();
        let cov = xm.transpose().matmul(&xm).unwrap().scale(1.0 / n as f64);
        let (vals, _) = crate::linalg::sym_eigvals(&cov).unwrap();
        // Rounding leaves the zeros at ±1e-13: clip them to 0.
        let vals: Vec<f64> = vals
            .iter()
            .map(|&v| if v.abs() < 1e-9 { 0.0 } else { v })
            .collect();
        let dist = ks_distance(&vals, &d).unwrap();
        assert!(dist < 0.06, "{dist}");
        // Without the atom the same values are far from the law.
        let mut no_atom = d.clone();
        no_atom.info.accuracy.retain(|(k, _)| k != "atom");
        assert!(ks_distance(&vals, &no_atom).unwrap() > 0.4);
        assert!(ks_distance(&[], &d).is_err());
        assert!(ks_distance(&[f64::NAN], &d).is_err());
        assert!(marchenko_pastur(0.0, 1.0, 100).is_err());
        assert!(marchenko_pastur(1.0, -1.0, 100).is_err());
        assert!(marchenko_pastur(1.0, 1.0, 3).is_err());
        assert!(marchenko_pastur(f64::NAN, 1.0, 100).is_err());
    }
}
