//! Dense symmetric eigen-solvers.
//!
//! For a real symmetric `A = V Λ Vᵀ` (Λ = diag(λ₁ ≤ … ≤ λₙ), V orthogonal)
//! [`sym_eigvals`] returns Λ and [`sym_eig`] returns Λ and V (eigenvectors as
//! columns), both by faer's Householder tridiagonalisation and
//! divide-and-conquer / QR iteration (O(n³), about 4n³/3 flops for the
//! values and 3× that with the vectors). A matrix whose relative asymmetry
//! ‖A − Aᵀ‖_F / ‖A‖_F exceeds [`MAX_ASYMMETRY`] is refused (the solvers would
//! otherwise answer for (A + Aᵀ)/2, a different question); below it the input
//! is symmetrised, so rounding noise in a computed Hessian does not matter,
//! and how far from symmetric it was is reported.
//!
//! Accuracy is recorded cheaply in [`EigInfo`]: the eigenvalues of a
//! symmetric matrix satisfy `Σλᵢ = tr A` and `Σλᵢ² = ‖A‖_F²`, so
//! `|Σλ − tr A| / ‖A‖_F` and `|Σλ² − ‖A‖_F²| / ‖A‖_F²` are O(n·ε) for a
//! backward-stable solver; with vectors, `maxᵢ ‖A vᵢ − λᵢ vᵢ‖ / ‖A‖₂` is
//! measured directly. [`eig_spectrum`] wraps the values and this record
//! into a [`Spectrum`].
//!
//! [`tridiag_eig`] solves the small symmetric tridiagonal problems of
//! Lanczos (values, and the first and last components of the eigenvectors —
//! the Gauss quadrature weights and the Ritz residual factors).
//!
//! faer does the work because it measured fastest (see `benches/eigs.rs`);
//! nalgebra's `SymmetricEigen`, a dev-dependency, is the tests' independent
//! second solver.
//!
//! ```
//! use hlab::linalg::sym_eigvals;
//! use hlab::mat::Mat;
//! let a = Mat::from_rows(&[vec![2.0, 1.0], vec![1.0, 2.0]]).unwrap();
//! let (vals, info) = sym_eigvals(&a).unwrap();
//! assert!((vals[0] - 1.0).abs() < 1e-14 && (vals[1] - 3.0).abs() < 1e-14);
//! assert!(info.trace_rel_err < 1e-14);
//! ```

pub mod two_stage;

use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::spectrum::{Spectrum, SpectrumInfo};
use std::time::Instant;

/// How accurate a dense eigendecomposition was, and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct EigInfo {
    /// `|Σλᵢ − tr A| / ‖A‖_F` (0 for the zero matrix).
    pub trace_rel_err: f64,
    /// `|Σλᵢ² − ‖A‖_F²| / ‖A‖_F²` (0 for the zero matrix).
    pub frob_rel_err: f64,
    /// With vectors: `maxᵢ ‖A vᵢ − λᵢ vᵢ‖ / ‖A‖₂` where `‖A‖₂ = maxᵢ |λᵢ|`.
    pub residual: Option<f64>,
    /// `max |A − Aᵀ| / max |A|` of the input before symmetrisation.
    pub asymmetry: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Which solver ran: `"two-stage"` (values of matrices with n ≥
    /// [`TWO_STAGE_MIN`]) or `"faer"`.
    pub solver: &'static str,
}

/// Smallest n for which [`sym_eigvals`] uses the two-stage reduction
/// ([`two_stage`]) instead of faer's one-stage tridiagonalisation.
pub const TWO_STAGE_MIN: usize = 1000;

impl EigInfo {
    /// The provenance of a dense spectrum: method `"dense"`, the given
    /// matrix name, seconds, `residuals = [residual]` when vectors were
    /// computed, and `accuracy` holding `trace_rel_err`, `frob_rel_err` and
    /// `asymmetry`.
    pub fn spectrum_info(&self, matrix: &str) -> SpectrumInfo {
        let mut info = SpectrumInfo::new("dense", matrix);
        info.solver = Some(self.solver.to_string());
        info.seconds = self.seconds;
        info.residuals = self.residual.into_iter().collect();
        info.accuracy = vec![
            ("trace_rel_err".to_string(), self.trace_rel_err),
            ("frob_rel_err".to_string(), self.frob_rel_err),
            ("asymmetry".to_string(), self.asymmetry),
        ];
        info
    }
}

/// All eigenvalues of the symmetric `a` as a [`Spectrum`] (see
/// [`sym_eigvals`]), with [`EigInfo::spectrum_info`] as its provenance.
pub fn eig_spectrum(a: &Mat, matrix: &str) -> Result<Spectrum> {
    let (vals, info) = sym_eigvals(a)?;
    Spectrum::new(vals, info.spectrum_info(matrix))
}

/// Bytes of one dense `n × n` f64 matrix: `8 n²`.
pub fn dense_bytes(n: usize) -> f64 {
    8.0 * (n as f64) * (n as f64)
}

/// Estimated peak bytes of [`sym_eigvals`] (`vectors = false`: the input,
/// a working copy and the solver's scratch, `3 · 8n²`) or [`sym_eig`]
/// (`vectors = true`: also V, `A·V` for the residual and the returned
/// matrix, `6 · 8n²`). Callers compare it with their memory budget before
/// forming the matrix.
pub fn eig_bytes(n: usize, vectors: bool) -> f64 {
    if vectors {
        6.0 * dense_bytes(n)
    } else {
        3.0 * dense_bytes(n)
    }
}

/// Checks that `a` is square with finite entries (errors name `op`).
fn check_input(op: &'static str, a: &Mat) -> Result<()> {
    a.require_square(op)?;
    if let Some(k) = a.data().iter().position(|x| !x.is_finite()) {
        let c = a.cols().max(1);
        return Err(Error::invalid(
            op,
            format!(
                "expected a matrix of finite numbers, got {} at ({}, {})",
                a.data()[k],
                k / c,
                k % c
            ),
        ));
    }
    let asym = relative_asymmetry(a);
    if asym > MAX_ASYMMETRY {
        return Err(Error::invalid(
            op,
            format!(
                "expected a symmetric matrix (‖A − Aᵀ‖_F / ‖A‖_F ≤ 1e-10), got {asym:.3e}; \
                 for its symmetric part ask for it: eigs((a + a.transpose) / 2)"
            ),
        ));
    }
    Ok(())
}

/// Largest relative asymmetry ‖A − Aᵀ‖_F / ‖A‖_F the dense solvers accept:
/// an assembled Hessian or A·Aᵀ is symmetric to rounding (≈ 1e-16) and
/// passes; a matrix that is not symmetric is refused rather than silently
/// replaced by its symmetric part.
pub const MAX_ASYMMETRY: f64 = 1e-10;

/// ‖A − Aᵀ‖_F / ‖A‖_F of a square `a` (0 for the zero matrix).
pub fn relative_asymmetry(a: &Mat) -> f64 {
    let n = a.rows();
    let (mut d2, mut f2) = (0.0f64, 0.0f64);
    for i in 0..n {
        for j in 0..n {
            let x = a.at(i, j);
            f2 += x * x;
            if j < i {
                let d = x - a.at(j, i);
                d2 += 2.0 * d * d;
            }
        }
    }
    if f2 > 0.0 {
        (d2 / f2).sqrt()
    } else {
        0.0
    }
}

/// `(A + Aᵀ)/2` as a faer matrix.
fn to_faer_sym(a: &Mat) -> faer::Mat<f64> {
    use rayon::prelude::*;
    let n = a.rows();
    let mut f = faer::Mat::<f64>::zeros(n, n);
    // Column blocks of the (column-major) result on all cores; inside a
    // block, tile by tile, so that a's rows and columns are read from cache.
    column_blocks(f.as_mut(), SYM_TILE)
        .into_par_iter()
        .for_each(|(c0, mut blk)| {
            for r0 in (0..n).step_by(SYM_TILE) {
                let h = SYM_TILE.min(n - r0);
                for j in 0..blk.ncols() {
                    for i in r0..r0 + h {
                        blk[(i, j)] = 0.5 * (a.at(i, c0 + j) + a.at(c0 + j, i));
                    }
                }
            }
        });
    f
}

/// `a` split into blocks of `w` columns (the last may be narrower), each
/// with the index of its first column: disjoint views for the threads.
pub(crate) fn column_blocks(
    a: faer::MatMut<'_, f64>,
    w: usize,
) -> Vec<(usize, faer::MatMut<'_, f64>)> {
    let n = a.ncols();
    let mut blocks = Vec::with_capacity(n.div_ceil(w.max(1)));
    let mut rest = a;
    let mut c0 = 0;
    while c0 < n {
        let wj = w.max(1).min(n - c0);
        let (left, right) = rest.split_at_col_mut(wj);
        blocks.push((c0, left));
        rest = right;
        c0 += wj;
    }
    blocks
}

/// Tile edge of the symmetrising copy and of the norm/trace pass: two
/// 64 × 64 tiles of f64 (64 KiB) stay in L2.
const SYM_TILE: usize = 64;

/// faer's eigendecomposition of the symmetrised `a` (no checks, no info):
/// ascending values and, when asked, eigenvectors as columns.
pub(crate) fn eig_dense(
    op: &'static str,
    a: &Mat,
    vectors: bool,
) -> Result<(Vec<f64>, Option<Mat>)> {
    let n = a.rows();
    if n == 0 {
        return Ok((Vec::new(), vectors.then(|| Mat::zeros(0, 0))));
    }
    let f = to_faer_sym(a);
    let no_conv = || {
        Error::invalid(
            op,
            format!("expected the {n}×{n} eigen-solver to converge, got no convergence"),
        )
    };
    if !vectors {
        let vals = f
            .self_adjoint_eigenvalues(faer::Side::Lower)
            .map_err(|_| no_conv())?;
        return Ok((vals, None));
    }
    let evd = f
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|_| no_conv())?;
    let vals: Vec<f64> = evd.S().column_vector().iter().copied().collect();
    let u = evd.U();
    let v = Mat::from_fn(n, n, |i, j| *u.get(i, j));
    Ok((vals, Some(v)))
}

/// ‖A‖_F², tr A and the relative asymmetry of `a` (square), where the
/// norm is that of the symmetric part ½(A + Aᵀ). One pass over the pairs
/// (i, j), (j, i) tile by tile on all cores; partial sums are combined in a
/// fixed order, so the result does not depend on the thread count.
fn frob_trace_asym(a: &Mat) -> (f64, f64, f64) {
    use rayon::prelude::*;
    let n = a.rows();
    // Per block row I: (Σ over tiles J ≤ I of the weighted s², max |aᵢⱼ − aⱼᵢ|, max |aᵢⱼ|).
    let parts: Vec<(f64, f64, f64)> = (0..n.div_ceil(SYM_TILE))
        .into_par_iter()
        .map(|bi| {
            let r0 = bi * SYM_TILE;
            let h = SYM_TILE.min(n - r0);
            let mut acc = [0.0f64; 4];
            let (mut asym, mut amax) = (0.0f64, 0.0f64);
            for c0 in (0..=r0).step_by(SYM_TILE) {
                for i in r0..r0 + h {
                    // Pairs j < i count twice; the diagonal once.
                    let jend = (c0 + SYM_TILE).min(i + 1);
                    for j in c0..jend {
                        let (x, y) = (a.at(i, j), a.at(j, i));
                        let sym = 0.5 * (x + y);
                        let w = if i == j { 1.0 } else { 2.0 };
                        acc[j % 4] += w * sym * sym;
                        asym = asym.max((x - y).abs());
                        amax = amax.max(x.abs()).max(y.abs());
                    }
                }
            }
            ((acc[0] + acc[2]) + (acc[1] + acc[3]), asym, amax)
        })
        .collect();
    let fro2 = parts.iter().map(|p| p.0).sum();
    let asym = parts.iter().fold(0.0f64, |m, p| m.max(p.1));
    let amax = parts.iter().fold(0.0f64, |m, p| m.max(p.2));
    let tr = (0..n).map(|i| a.at(i, i)).sum();
    let rel = if amax > 0.0 { asym / amax } else { 0.0 };
    (fro2, tr, rel)
}

fn info_from(
    a: &Mat,
    vals: &[f64],
    residual: Option<f64>,
    t0: Instant,
    solver: &'static str,
) -> EigInfo {
    let (fro2, tr, asymmetry) = frob_trace_asym(a);
    let s1: f64 = vals.iter().sum();
    let s2: f64 = vals.iter().map(|l| l * l).sum();
    let fro = fro2.sqrt();
    let (trace_rel_err, frob_rel_err) = if fro2 > 0.0 {
        ((s1 - tr).abs() / fro, (s2 - fro2).abs() / fro2)
    } else {
        (0.0, 0.0)
    };
    EigInfo {
        trace_rel_err,
        frob_rel_err,
        residual,
        asymmetry,
        seconds: t0.elapsed().as_secs_f64(),
        solver,
    }
}

/// `x · 2^e`, exact while the result is a normal number (in two steps, so
/// that 2^e itself may overflow).
fn ldexp(x: f64, e: i32) -> f64 {
    let h = e / 2;
    x * 2f64.powi(h) * 2f64.powi(e - h)
}

/// `a / 2^e` with its largest entry in [½, 1), when that entry is so large
/// (above 2⁵⁰⁰) or so small (below 2⁻⁵⁰⁰) that the solver's squares and
/// norms would overflow or underflow — `[[1, 1e308], [1e308, 1]]` would give
/// ±∞. Scaling by a power of two is exact, and the eigenvalues of the
/// scaled matrix times 2^e are those of `a`.
fn rescaled(a: &Mat) -> Option<(Mat, i32)> {
    let m = a.max_abs();
    let out_of_range = m > 2f64.powi(500) || (m > 0.0 && m < 2f64.powi(-500));
    if !m.is_finite() || !out_of_range {
        return None;
    }
    let e = m.log2().floor() as i32 + 1;
    let inv_h = -(e / 2);
    let inv_r = -(e - e / 2);
    let f = |x: f64| x * 2f64.powi(inv_h) * 2f64.powi(inv_r);
    let (r, c) = a.shape();
    Some((Mat::from_fn(r, c, |i, j| f(a.at(i, j))), e))
}

/// All eigenvalues of the symmetric matrix `a`, ascending: by two-stage
/// reduction ([`two_stage`]) for n ≥ [`TWO_STAGE_MIN`], by faer below.
///
/// Errors (op `eigs`) unless `a` is square with finite entries. Cost
/// O(n³) time and [`eig_bytes`]`(n, false)` memory; checking the memory
/// budget is the caller's job.
pub fn sym_eigvals(a: &Mat) -> Result<(Vec<f64>, EigInfo)> {
    if let Some((scaled, e)) = rescaled(a) {
        let (vals, info) = sym_eigvals(&scaled)?;
        return Ok((vals.into_iter().map(|v| ldexp(v, e)).collect(), info));
    }
    let t0 = Instant::now();
    check_input("eigs", a)?;
    let n = a.rows();
    let (vals, solver) = if n >= TWO_STAGE_MIN {
        let mut f = to_faer_sym(a);
        let b = two_stage::band_width(n);
        (two_stage::eigenvalues_two_stage(&mut f, b)?, "two-stage")
    } else {
        (eig_dense("eigs", a, false)?.0, "faer")
    };
    let info = info_from(a, &vals, None, t0, solver);
    Ok((vals, info))
}

/// All eigenvalues by faer's one-stage solver whatever the size (for
/// benchmarks and cross-checks of [`sym_eigvals`]).
pub fn sym_eigvals_faer(a: &Mat) -> Result<Vec<f64>> {
    check_input("eigs", a)?;
    Ok(eig_dense("eigs", a, false)?.0)
}

/// All eigenvalues (ascending) and orthonormal eigenvectors (as the
/// columns of the returned `n × n` matrix, column `j` for value `j`) of the
/// symmetric matrix `a` (faer). `info.residual` holds
/// `maxᵢ ‖A vᵢ − λᵢ vᵢ‖ / ‖A‖₂`.
///
/// Errors (op `eigs`) unless `a` is square with finite entries.
pub fn sym_eig(a: &Mat) -> Result<(Vec<f64>, Mat, EigInfo)> {
    if let Some((scaled, e)) = rescaled(a) {
        let (vals, vecs, info) = sym_eig(&scaled)?;
        return Ok((vals.into_iter().map(|v| ldexp(v, e)).collect(), vecs, info));
    }
    let t0 = Instant::now();
    check_input("eigs", a)?;
    let n = a.rows();
    let (vals, vecs) = eig_dense("eigs", a, true)?;
    let v = vecs.unwrap_or_else(|| Mat::zeros(n, n));
    // Residual A·V − V·Λ with faer's matrix product.
    let fa = to_faer_sym(a);
    let fv = faer::Mat::<f64>::from_fn(n, n, |i, j| v.at(i, j));
    let av = &fa * &fv;
    let anorm = vals.iter().fold(0.0_f64, |m, l| m.max(l.abs()));
    let mut res: f64 = 0.0;
    for (j, &l) in vals.iter().enumerate() {
        let mut s = 0.0;
        for i in 0..n {
            let r = av[(i, j)] - l * fv[(i, j)];
            s += r * r;
        }
        res = res.max(s.sqrt());
    }
    let residual = if anorm > 0.0 { res / anorm } else { res };
    let info = info_from(a, &vals, Some(residual), t0, "faer");
    Ok((vals, v, info))
}

/// Eigen-decomposition of a symmetric tridiagonal matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct TridiagEig {
    /// Eigenvalues θ₁ ≤ … ≤ θₘ.
    pub values: Vec<f64>,
    /// Orthonormal eigenvectors as columns (`m × m`), column `j` for `values[j]`.
    pub vectors: Mat,
}

impl TridiagEig {
    /// First component of eigenvector `j` (its square is the Gauss
    /// quadrature weight of node `values[j]`).
    pub fn first(&self, j: usize) -> f64 {
        self.vectors.at(0, j)
    }

    /// Last component of eigenvector `j` (β·|last| is the Lanczos residual
    /// estimate of Ritz value `values[j]`).
    pub fn last(&self, j: usize) -> f64 {
        self.vectors.at(self.vectors.rows() - 1, j)
    }
}

/// Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal
/// matrix with diagonal `alpha` (length m) and off-diagonal `beta`
/// (length m − 1). Small m (Lanczos sizes, ≲ 1000): dense O(m³).
///
/// Errors (op `eigs`) on mismatched lengths or non-finite entries.
pub fn tridiag_eig(alpha: &[f64], beta: &[f64]) -> Result<TridiagEig> {
    let m = alpha.len();
    if beta.len() + 1 != m.max(1) {
        return Err(Error::shape(
            "eigs",
            format!(
                "{} off-diagonal entries for a {m}×{m} tridiagonal",
                m.saturating_sub(1)
            ),
            format!("{}", beta.len()),
        ));
    }
    let mut t = Mat::zeros(m, m);
    for i in 0..m {
        t.set(i, i, alpha[i]);
        if i + 1 < m {
            t.set(i, i + 1, beta[i]);
            t.set(i + 1, i, beta[i]);
        }
    }
    check_input("eigs", &t)?;
    let (values, vecs) = eig_dense("eigs", &t, true)?;
    Ok(TridiagEig {
        values,
        vectors: vecs.unwrap_or_else(|| Mat::zeros(m, m)),
    })
}

/// Test helpers: matrices with known spectra.
#[cfg(test)]
pub(crate) mod testmat {
    use crate::mat::Mat;
    use crate::rng::Rng;

    /// A Haar-ish random orthogonal matrix: Householder QR of a seeded
    /// Gaussian matrix, Q = H₁ H₂ … Hₙ (signs fixed by R's diagonal).
    pub fn random_orthogonal(n: usize, seed: u64) -> Mat {
        let mut r = Rng::new(seed);
        let mut a = Mat::from_fn(n, n, |_, _| r.normal());
        // Householder vectors stored separately.
        let mut vs: Vec<Vec<f64>> = Vec::new();
        let mut signs = vec![1.0; n];
        for k in 0..n {
            let x: Vec<f64> = (k..n).map(|i| a.at(i, k)).collect();
            let nx = crate::mat::norm(&x);
            let alpha = if x[0] >= 0.0 { -nx } else { nx };
            let mut v = x.clone();
            v[0] -= alpha;
            let nv = crate::mat::norm(&v);
            if nv > 0.0 {
                for vi in v.iter_mut() {
                    *vi /= nv;
                }
            }
            for j in k..n {
                let s: f64 = (k..n).map(|i| v[i - k] * a.at(i, j)).sum();
                for i in k..n {
                    a.set(i, j, a.at(i, j) - 2.0 * v[i - k] * s);
                }
            }
            signs[k] = if a.at(k, k) >= 0.0 { 1.0 } else { -1.0 };
            vs.push(v);
        }
        // Q = H₁ … Hₙ applied to the identity, from the right end.
        let mut q = Mat::identity(n);
        for k in (0..n).rev() {
            let v = &vs[k];
            for j in 0..n {
                let s: f64 = (k..n).map(|i| v[i - k] * q.at(i, j)).sum();
                for i in k..n {
                    q.set(i, j, q.at(i, j) - 2.0 * v[i - k] * s);
                }
            }
        }
        // Multiply column j by sign(R_jj) so Q is uniquely defined.
        Mat::from_fn(n, n, |i, j| q.at(i, j) * signs[j])
    }

    /// `Q diag(d) Qᵀ` for a random orthogonal Q from `seed`.
    pub fn with_spectrum(d: &[f64], seed: u64) -> Mat {
        let n = d.len();
        let q = random_orthogonal(n, seed);
        let mut a = Mat::zeros(n, n);
        for i in 0..n {
            for j in i..n {
                let s: f64 = (0..n).map(|k| q.at(i, k) * d[k] * q.at(j, k)).sum();
                a.set(i, j, s);
                a.set(j, i, s);
            }
        }
        a
    }

    pub use crate::mat::random_symmetric;
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::testmat::*;
    use super::*;
    use crate::rng::Rng;

    /// nalgebra's `SymmetricEigen` on the symmetrised `a`: ascending values
    /// and eigenvectors as columns — the independent solver the tests check
    /// faer against. Errors (op `eigs`) unless square and finite.
    fn sym_eig_nalgebra(a: &Mat) -> Result<(Vec<f64>, Mat)> {
        check_input("eigs", a)?;
        let n = a.rows();
        let m = nalgebra::DMatrix::<f64>::from_fn(n, n, |i, j| 0.5 * (a.at(i, j) + a.at(j, i)));
        let max_iter = 100 * n + 1000;
        let e = nalgebra::SymmetricEigen::try_new(m, f64::EPSILON, max_iter).ok_or_else(|| {
        Error::invalid(
            "eigs",
            format!("expected nalgebra's {n}×{n} eigen-solver to converge within {max_iter} iterations, got no convergence"),
        )
    })?;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| e.eigenvalues[i].total_cmp(&e.eigenvalues[j]));
        let vals = order.iter().map(|&i| e.eigenvalues[i]).collect();
        let vecs = Mat::from_fn(n, n, |i, j| e.eigenvectors[(i, order[j])]);
        Ok((vals, vecs))
    }

    #[test]
    fn huge_and_tiny_entries_are_scaled_not_overflowed() {
        // Eigenvalues 1 ± 1e308 (= ±1e308 in f64): finite, not ±∞.
        let a = Mat::from_rows(&[vec![1.0, 1e308], vec![1e308, 1.0]]).unwrap();
        for vals in [sym_eigvals(&a).unwrap().0, sym_eig(&a).unwrap().0] {
            assert_eq!(vals.len(), 2);
            assert!((vals[0] + 1e308).abs() <= 1e294, "{vals:?}");
            assert!((vals[1] - 1e308).abs() <= 1e294, "{vals:?}");
        }
        // diag(3, 1)·1e-310 (subnormal entries): scaled, then scaled back.
        let t = 1e-310;
        let b = Mat::from_rows(&[vec![2.0 * t, t], vec![t, 2.0 * t]]).unwrap();
        let (vals, _) = sym_eigvals(&b).unwrap();
        assert!(
            (vals[0] / t - 1.0).abs() < 1e-3 && (vals[1] / t - 3.0).abs() < 1e-3,
            "{vals:?}"
        );
    }

    /// The tiled, threaded symmetric copy and norm/trace/asymmetry pass
    /// against the plain double loops, on a non-symmetric matrix whose size
    /// is not a multiple of the tile.
    #[test]
    fn symmetric_copy_and_norms_match_the_plain_loops() {
        let mut r = Rng::new(11);
        let n = 2 * SYM_TILE + 13;
        let a = Mat::from_fn(n, n, |_, _| r.normal());
        let f = to_faer_sym(&a);
        let (mut fro2, mut tr, mut asym, mut amax) = (0.0, 0.0, 0.0f64, 0.0f64);
        for i in 0..n {
            tr += a.at(i, i);
            for j in 0..n {
                let s = 0.5 * (a.at(i, j) + a.at(j, i));
                assert_eq!(f[(i, j)], s);
                fro2 += s * s;
                asym = asym.max((a.at(i, j) - a.at(j, i)).abs());
                amax = amax.max(a.at(i, j).abs());
            }
        }
        let (g2, gt, grel) = frob_trace_asym(&a);
        assert!((g2 - fro2).abs() < 1e-12 * fro2, "{g2} vs {fro2}");
        assert!((gt - tr).abs() < 1e-12 * n as f64, "{gt} vs {tr}");
        assert_eq!(grel, asym / amax);
    }

    fn max_orth_err(v: &Mat) -> f64 {
        let vtv = v.transpose().matmul(v).unwrap();
        let n = v.cols();
        let mut e: f64 = 0.0;
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                e = e.max((vtv.at(i, j) - want).abs());
            }
        }
        e
    }

    #[test]
    fn random_orthogonal_is_orthogonal() {
        let q = random_orthogonal(30, 4);
        assert!(max_orth_err(&q) < 1e-13);
        assert!(max_orth_err(&q.transpose()) < 1e-13);
        assert_ne!(q, random_orthogonal(30, 5));
    }

    #[test]
    fn known_spectrum_values_and_vectors() {
        let mut r = Rng::new(11);
        // Clustered, repeated, negative and zero eigenvalues.
        let mut d: Vec<f64> = (0..60).map(|_| r.normal()).collect();
        d.extend_from_slice(&[5.0, 5.0, 5.0, 0.0, 0.0, -3.0, 1e-9, 2.0 + 1e-12]);
        let a = with_spectrum(&d, 3);
        let mut want = d.clone();
        want.sort_by(f64::total_cmp);

        let (vals, info) = sym_eigvals(&a).unwrap();
        assert_eq!(vals.len(), d.len());
        assert!(vals.windows(2).all(|w| w[0] <= w[1]), "not ascending");
        for (x, y) in vals.iter().zip(&want) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
        assert!(info.trace_rel_err < 1e-13, "{info:?}");
        assert!(info.frob_rel_err < 1e-13, "{info:?}");
        assert!(info.residual.is_none());
        assert!(info.asymmetry < 1e-14);

        let (vals2, v, info2) = sym_eig(&a).unwrap();
        assert_eq!(v.shape(), (d.len(), d.len()));
        for (x, y) in vals2.iter().zip(&want) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
        assert!(max_orth_err(&v) < 1e-12);
        let res = info2.residual.unwrap();
        assert!(res < 1e-13, "residual {res}");
        // Column j really is an eigenvector for vals2[j].
        let av = a.matvec(&v.col(7)).unwrap();
        for i in 0..d.len() {
            assert!((av[i] - vals2[7] * v.at(i, 7)).abs() < 1e-12);
        }
    }

    #[test]
    fn spectrum_with_provenance() {
        let a = with_spectrum(&[3.0, -1.0, 0.5, 0.5], 2);
        let s = eig_spectrum(&a, "hessian").unwrap();
        assert_eq!(s.len(), 4);
        assert!((s.max().unwrap() - 3.0).abs() < 1e-14);
        assert_eq!(s.info.method, "dense");
        assert_eq!(s.info.matrix, "hessian");
        assert_eq!(s.info.accuracy.len(), 3);
        assert!(s.info.accuracy.iter().all(|(_, e)| *e < 1e-14));
        let (_, _, info) = sym_eig(&a).unwrap();
        assert_eq!(info.spectrum_info("m").residuals.len(), 1);
    }

    #[test]
    fn faer_agrees_with_nalgebra() {
        for (n, seed) in [(1, 1), (2, 2), (17, 3), (120, 4)] {
            let a = random_symmetric(n, seed);
            let (f, fv, _) = sym_eig(&a).unwrap();
            let (g, gv) = sym_eig_nalgebra(&a).unwrap();
            assert_eq!(f.len(), n);
            for (x, y) in f.iter().zip(&g) {
                assert!((x - y).abs() < 1e-10, "n={n}: {x} vs {y}");
            }
            // Eigenvectors agree up to sign (the spectrum is simple a.s.).
            for j in 0..n {
                let d = crate::mat::dot(&fv.col(j), &gv.col(j)).abs();
                assert!((d - 1.0).abs() < 1e-8, "n={n} col {j}: |<f,g>| = {d}");
            }
        }
    }

    #[test]
    fn asymmetric_input_is_refused_and_rounding_is_symmetrised() {
        // ‖A − Aᵀ‖_F / ‖A‖_F = √(2·0.2²) / √(1 + 4 + 4.84 + 1) = 0.0859…
        let a = Mat::from_rows(&[vec![1.0, 2.0], vec![2.2, 1.0]]).unwrap();
        let want = (2.0f64 * 0.04).sqrt() / 10.84f64.sqrt();
        assert!((relative_asymmetry(&a) - want).abs() < 1e-15);
        for e in [
            sym_eigvals(&a).unwrap_err().to_string(),
            sym_eig(&a).unwrap_err().to_string(),
        ] {
            assert!(e.starts_with("eigs: expected a symmetric matrix"), "{e}");
            assert!(e.contains(&format!("got {want:.3e}")), "{e}");
        }
        // Rounding-level asymmetry passes, symmetrised and reported.
        let b = Mat::from_rows(&[vec![1.0, 2.0], vec![2.0 + 1e-13, 1.0]]).unwrap();
        let (vals, info) = sym_eigvals(&b).unwrap();
        assert!((vals[0] + 1.0).abs() < 1e-12 && (vals[1] - 3.0).abs() < 1e-12);
        assert!(info.asymmetry > 0.0 && info.asymmetry < 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let e = sym_eigvals(&Mat::zeros(2, 3)).unwrap_err().to_string();
        assert!(
            e.starts_with("eigs:") && e.contains("square") && e.contains("2×3"),
            "{e}"
        );
        let mut a = Mat::identity(3);
        a.set(1, 2, f64::NAN);
        let e = sym_eig(&a).unwrap_err().to_string();
        assert!(e.starts_with("eigs:") && e.contains("NaN at (1, 2)"), "{e}");
        assert!(sym_eig_nalgebra(&a).is_err());
        assert!(tridiag_eig(&[1.0, 2.0], &[]).is_err());
        let (v, _) = sym_eigvals(&Mat::zeros(0, 0)).unwrap();
        assert!(v.is_empty());
        let (v, info) = sym_eigvals(&Mat::zeros(4, 4)).unwrap();
        assert_eq!(v, vec![0.0; 4]);
        assert_eq!(info.trace_rel_err, 0.0);
        assert_eq!(dense_bytes(1000), 8e6);
        assert!(eig_bytes(1000, true) > eig_bytes(1000, false));
    }

    #[test]
    fn tridiagonal_matches_known_spectrum() {
        // The m×m tridiagonal with 2 on the diagonal and −1 off it has
        // eigenvalues 2 − 2cos(kπ/(m+1)), k = 1..m, and eigenvectors
        // sin(ijπ/(m+1)) · √(2/(m+1)).
        let m = 25;
        let t = tridiag_eig(&vec![2.0; m], &vec![-1.0; m - 1]).unwrap();
        let h = std::f64::consts::PI / (m as f64 + 1.0);
        for k in 0..m {
            let want = 2.0 - 2.0 * ((k as f64 + 1.0) * h).cos();
            assert!((t.values[k] - want).abs() < 1e-13);
            let first = ((k as f64 + 1.0) * h).sin() * (2.0 / (m as f64 + 1.0)).sqrt();
            let last = ((k as f64 + 1.0) * m as f64 * h).sin() * (2.0 / (m as f64 + 1.0)).sqrt();
            assert!((t.first(k).abs() - first.abs()).abs() < 1e-12);
            assert!((t.last(k).abs() - last.abs()).abs() < 1e-12);
        }
        let w: f64 = (0..m).map(|k| t.first(k).powi(2)).sum();
        assert!((w - 1.0).abs() < 1e-13);
        let one = tridiag_eig(&[3.0], &[]).unwrap();
        assert_eq!(one.values, vec![3.0]);
        assert_eq!(one.first(0).abs(), 1.0);
    }
}
