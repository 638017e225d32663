//! All eigenvalues of a large dense symmetric matrix by two-stage
//! tridiagonalisation (the scheme of LAPACK's `dsyev_2stage` and of
//! ELPA): a symmetric `A` is reduced
//!
//! 1. to a band of half-width `b` by blocked Householder transformations
//!    (`Qᵀ A Q` with `Q = I − V T Vᵀ` per panel of `b` columns), whose work is
//!    all matrix–matrix products (faer's threaded GEMM), and
//! 2. from the band to a tridiagonal by Householder bulge chasing on a
//!    compact band copy (about 6·n²·b flops, every kernel on `b × b`
//!    blocks that stay in cache),
//!
//! and the tridiagonal's eigenvalues come from implicit QL iteration
//! (O(n²)). One-stage reduction (faer's `self_adjoint_eigenvalues`)
//! spends half its 4n³/3 flops in matrix–vector products that stream the
//! whole trailing matrix from memory at every column; above a few thousand
//! rows that is what limits it, and this path avoids it. Values only: the
//! eigenvectors would need both stages' transformations back.
//!
//! Every transformation is orthogonal, so the values are backward stable
//! (errors O(n·ε·‖A‖)); tests compare them with faer's one-stage solver.

use crate::error::{Error, Result};
use crate::progress::Progress;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self as tri, BlockStructure as Bs};
use faer::{Accum, Par};

/// Householder reflector `H = I − τ v vᵀ` (v₀ = 1) with `H x = β e₁`.
/// On return `x[0] = β`, `x[1..]` holds `v[1..]`; returns τ (0 when `x`
/// already has the wanted form).
fn house(x: &mut [f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let alpha = x[0];
    let xnorm = crate::mat::norm(&x[1..]);
    if xnorm == 0.0 {
        return 0.0;
    }
    let beta = -alpha.hypot(xnorm).copysign(alpha);
    let tau = (beta - alpha) / beta;
    let scale = 1.0 / (alpha - beta);
    for t in x[1..].iter_mut() {
        *t *= scale;
    }
    x[0] = beta;
    tau
}

/// Reduces the symmetric `a` (its lower triangle)
/// in place to a lower band of half-width `b`. Only the lower triangle is
/// read and written: on return `a[i][j]` for `j ≤ i ≤ j + b` holds the band
/// and the rest of the lower triangle is zero.
fn reduce_to_band(a: &mut faer::Mat<f64>, b: usize, par: Par, progress: &Progress) -> Result<()> {
    let n = a.nrows();
    let mut k = 0;
    while k + b + 1 < n {
        crate::progress::check_interrupt("eigs")?;
        let r0 = k + b;
        let m = n - r0;
        let w = b;
        let r = w.min(m);
        // Householder QR of the panel a[r0.., k..k+w].
        let mut panel = a.as_ref().submatrix(r0, k, m, w).to_owned();
        let mut taus = vec![0.0; r];
        for c in 0..r {
            let tau = house(&mut panel.col_as_slice_mut(c)[c..]);
            taus[c] = tau;
            if tau == 0.0 {
                continue;
            }
            let v: Vec<f64> = {
                let col = panel.col_as_slice(c);
                std::iter::once(1.0)
                    .chain(col[c + 1..].iter().copied())
                    .collect()
            };
            for j in c + 1..w {
                let colj = &mut panel.col_as_slice_mut(j)[c..];
                let s = crate::mat::dot(&v, colj);
                crate::mat::axpy(-tau * s, &v, colj);
            }
        }
        // V (unit lower trapezoidal) and the band part R.
        let mut v = faer::Mat::<f64>::zeros(m, r);
        for c in 0..r {
            let src = panel.col_as_slice(c);
            let dst = v.col_as_slice_mut(c);
            dst[c] = 1.0;
            dst[c + 1..].copy_from_slice(&src[c + 1..]);
        }
        for j in 0..w {
            let src = panel.col_as_slice(j);
            let dst = &mut a.col_as_slice_mut(k + j)[r0..];
            for (i, d) in dst.iter_mut().enumerate() {
                *d = if i <= j { src[i] } else { 0.0 };
            }
        }
        // T (upper triangular) with Q = H₁ ⋯ H_r = I − V T Vᵀ.
        let mut t = faer::Mat::<f64>::zeros(r, r);
        for i in 0..r {
            t[(i, i)] = taus[i];
            if i == 0 || taus[i] == 0.0 {
                continue;
            }
            let vi = v.col_as_slice(i);
            let z: Vec<f64> = (0..i)
                .map(|j| -taus[i] * crate::mat::dot(&v.col_as_slice(j)[i..], &vi[i..]))
                .collect();
            for row in 0..i {
                let mut s = 0.0;
                for (col, zc) in z.iter().enumerate().skip(row) {
                    s += t[(row, col)] * zc;
                }
                t[(row, i)] = s;
            }
        }
        // S ← Qᵀ S Q on the trailing S = a[r0.., r0..]:
        // W = S V T, Y = W − ½ V (Tᵀ Vᵀ W), S ← S − V Yᵀ − Y Vᵀ.
        // Only S's lower triangle is kept: S V = tril(S) V + stril(S)ᵀ V.
        let mut x = faer::Mat::<f64>::zeros(m, r);
        let s = a.as_ref().submatrix(r0, r0, m, m);
        tri::matmul(
            x.as_mut(),
            Bs::Rectangular,
            Accum::Replace,
            s,
            Bs::TriangularLower,
            v.as_ref(),
            Bs::Rectangular,
            1.0,
            par,
        );
        tri::matmul(
            x.as_mut(),
            Bs::Rectangular,
            Accum::Add,
            s.transpose(),
            Bs::StrictTriangularUpper,
            v.as_ref(),
            Bs::Rectangular,
            1.0,
            par,
        );
        let mut wm = faer::Mat::<f64>::zeros(m, r);
        matmul(
            wm.as_mut(),
            Accum::Replace,
            x.as_ref(),
            t.as_ref(),
            1.0,
            par,
        );
        let mut vtw = faer::Mat::<f64>::zeros(r, r);
        matmul(
            vtw.as_mut(),
            Accum::Replace,
            v.as_ref().transpose(),
            wm.as_ref(),
            1.0,
            par,
        );
        let mut z = faer::Mat::<f64>::zeros(r, r);
        matmul(
            z.as_mut(),
            Accum::Replace,
            t.as_ref().transpose(),
            vtw.as_ref(),
            1.0,
            par,
        );
        // Y = W − ½ V Z (in place of W), then [V Y] and [Y V] side by side
        // for one rank-2r product.
        matmul(wm.as_mut(), Accum::Add, v.as_ref(), z.as_ref(), -0.5, par);
        let mut vy = faer::Mat::<f64>::zeros(m, 2 * r);
        let mut yv = faer::Mat::<f64>::zeros(m, 2 * r);
        for c in 0..r {
            vy.col_as_slice_mut(c).copy_from_slice(v.col_as_slice(c));
            vy.col_as_slice_mut(r + c)
                .copy_from_slice(wm.col_as_slice(c));
            yv.col_as_slice_mut(c).copy_from_slice(wm.col_as_slice(c));
            yv.col_as_slice_mut(r + c)
                .copy_from_slice(v.col_as_slice(c));
        }
        // vy = [V Y], yv = [Y V]: S −= [V Y] [Y V]ᵀ = V Yᵀ + Y Vᵀ.
        tri::matmul(
            a.as_mut().submatrix_mut(r0, r0, m, m),
            Bs::TriangularLower,
            Accum::Add,
            vy.as_ref(),
            Bs::Rectangular,
            yv.as_ref().transpose(),
            Bs::Rectangular,
            -1.0,
            par,
        );
        progress.inc(b as u64);
        k += b;
    }
    Ok(())
}

/// The lower band of a symmetric matrix with room for the bulges of the
/// chase: column `c` holds `a[c + d][c]` at `c·ld + d`, `d < ld = 2b + 1`.
struct Band {
    n: usize,
    ld: usize,
    data: Vec<f64>,
}

impl Band {
    fn from_dense(a: &faer::Mat<f64>, b: usize) -> Band {
        let n = a.nrows();
        let ld = 2 * b + 1;
        let mut data = vec![0.0; n * ld];
        for c in 0..n {
            let col = a.col_as_slice(c);
            let len = (b + 1).min(n - c);
            data[c * ld..c * ld + len].copy_from_slice(&col[c..c + len]);
        }
        Band { n, ld, data }
    }

    /// Entries `a[r0 .. r0 + len][c]` (r0 ≥ c), contiguous.
    fn col(&mut self, c: usize, r0: usize, len: usize) -> &mut [f64] {
        let s = c * self.ld + (r0 - c);
        &mut self.data[s..s + len]
    }

    /// `D ← H D H` for the symmetric diagonal block `D = a[s..s+len][s..s+len]`
    /// (lower triangle) and `H = I − τ v vᵀ`.
    fn sym_update(&mut self, s: usize, v: &[f64], tau: f64, p: &mut Vec<f64>) {
        if tau == 0.0 {
            return;
        }
        let len = v.len();
        p.clear();
        p.resize(len, 0.0);
        // p = D v from the lower triangle.
        for j in 0..len {
            let col = self.col(s + j, s + j, len - j);
            let mut acc = col[0] * v[j];
            for (i, d) in col.iter().enumerate().skip(1) {
                p[j + i] += d * v[j];
                acc += d * v[j + i];
            }
            p[j] += acc;
        }
        let mut pv = 0.0;
        for (pi, vi) in p.iter_mut().zip(v) {
            *pi *= tau;
            pv += *pi * vi;
        }
        let kk = 0.5 * tau * pv;
        for (pi, vi) in p.iter_mut().zip(v) {
            *pi -= kk * vi;
        }
        // D −= v wᵀ + w vᵀ (w = p), lower triangle.
        for j in 0..len {
            let (vj, wj) = (v[j], p[j]);
            let col = self.col(s + j, s + j, len - j);
            for (i, d) in col.iter_mut().enumerate() {
                *d -= v[j + i] * wj + p[j + i] * vj;
            }
        }
    }
}

/// Reduces the band (half-width `b`) to tridiagonal form by bulge chasing;
/// returns the diagonal and the off-diagonal.
fn band_to_tridiagonal(
    band: &mut Band,
    b: usize,
    progress: &Progress,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = band.n;
    let mut v = Vec::with_capacity(b);
    let mut v2 = Vec::with_capacity(b);
    let mut p = Vec::with_capacity(b);
    let mut q = vec![0.0; b];
    for i in 0..n.saturating_sub(2) {
        if i % 64 == 0 {
            crate::progress::check_interrupt("eigs")?;
            progress.inc(64.min(n - i) as u64);
        }
        // Annihilate column i below its first sub-diagonal entry.
        let len = b.min(n - 1 - i);
        let x = band.col(i, i + 1, len);
        let mut tau = house(x);
        v.clear();
        v.push(1.0);
        v.extend_from_slice(&x[1..]);
        x[1..].iter_mut().for_each(|t| *t = 0.0);
        band.sym_update(i + 1, &v, tau, &mut p);
        // Chase the bulge down the band.
        let (mut sp, mut lp) = (i + 1, len);
        let mut st = sp + lp;
        while st < n {
            let len2 = b.min(n - st);
            // B = a[st..st+len2][sp..sp+lp] ← B H (right application).
            if tau != 0.0 {
                let qv = &mut q[..len2];
                qv.iter_mut().for_each(|t| *t = 0.0);
                for (j, vj) in v.iter().enumerate() {
                    crate::mat::axpy(*vj, band.col(sp + j, st, len2), qv);
                }
                for (j, vj) in v.iter().enumerate() {
                    let f = -tau * vj;
                    let col = band.col(sp + j, st, len2);
                    crate::mat::axpy(f, &q[..len2], col);
                }
            }
            // A reflector for B's first column, applied to B's other columns.
            let x = band.col(sp, st, len2);
            let tau2 = house(x);
            v2.clear();
            v2.push(1.0);
            v2.extend_from_slice(&x[1..]);
            x[1..].iter_mut().for_each(|t| *t = 0.0);
            if tau2 != 0.0 {
                for j in 1..lp {
                    let col = band.col(sp + j, st, len2);
                    let s = crate::mat::dot(&v2, col);
                    crate::mat::axpy(-tau2 * s, &v2, col);
                }
            }
            band.sym_update(st, &v2, tau2, &mut p);
            std::mem::swap(&mut v, &mut v2);
            tau = tau2;
            sp = st;
            lp = len2;
            st += len2;
        }
    }
    let d = (0..n).map(|c| band.data[c * band.ld]).collect();
    let e = (0..n.saturating_sub(1))
        .map(|c| band.data[c * band.ld + 1])
        .collect();
    Ok((d, e))
}

/// Eigenvalues (ascending) of the symmetric tridiagonal matrix with
/// diagonal `d` and off-diagonal `e` by implicit QL iteration with
/// Wilkinson shifts (values only, O(n²)).
pub fn tridiagonal_eigenvalues(mut d: Vec<f64>, e: &[f64]) -> Result<Vec<f64>> {
    let n = d.len();
    let mut e: Vec<f64> = e.iter().copied().chain(std::iter::once(0.0)).collect();
    e.truncate(n);
    // Off-diagonals below ε·‖T‖/10 are dropped (normwise backward stable;
    // a purely relative test never deflates a cluster of zero eigenvalues).
    let tnorm = d
        .iter()
        .zip(&e)
        .fold(0.0_f64, |m, (a, b)| m.max(a.abs() + 2.0 * b.abs()));
    if tnorm == 0.0 || !tnorm.is_finite() {
        d.sort_by(|a, b| a.total_cmp(b));
        return Ok(d);
    }
    // Work on T/‖T‖ so that the plain √(f² + g²) below cannot overflow.
    d.iter_mut().for_each(|x| *x /= tnorm);
    e.iter_mut().for_each(|x| *x /= tnorm);
    let tiny = 0.1 * f64::EPSILON;
    for l in 0..n {
        if l % 256 == 0 {
            crate::progress::check_interrupt("eigs")?;
        }
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd || e[m].abs() <= tiny {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iter += 1;
            if iter > 60 {
                return Err(Error::invalid(
                    "eigs",
                    format!("expected the {n}×{n} tridiagonal QL iteration to converge, got no convergence"),
                ));
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = (g * g + 1.0).sqrt();
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut i = m;
            let mut deflated = false;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let bb = c * e[i];
                r = (f * f + g * g).sqrt();
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * bb;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - bb;
            }
            if deflated {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    d.iter_mut().for_each(|x| *x *= tnorm);
    d.sort_by(|a, b| a.total_cmp(b));
    Ok(d)
}

/// Band half-width used for an `n × n` matrix: 32 (measured on 2 cores at
/// n = 2000 … 7960: b = 16 slows the band reduction, b = 64 doubles the
/// bulge chasing for less gain).
pub fn band_width(n: usize) -> usize {
    32.min(n.saturating_sub(1).max(1))
}

/// All eigenvalues (ascending) of the symmetric `a` (full storage; it is
/// overwritten) by two-stage reduction with band half-width `b`.
pub fn eigenvalues_two_stage(a: &mut faer::Mat<f64>, b: usize) -> Result<Vec<f64>> {
    let n = a.nrows();
    let b = b.max(1).min(n.saturating_sub(1).max(1));
    // Progress: n units for the band reduction, n for the chase.
    let progress = Progress::new("eigs", 2 * n as u64);
    progress.message("band reduction");
    reduce_to_band(a, b, faer::get_global_parallelism(), &progress)?;
    let mut band = Band::from_dense(a, b);
    progress.message("bulge chasing");
    let (d, e) = band_to_tridiagonal(&mut band, b, &progress)?;
    progress.message("tridiagonal QL");
    tridiagonal_eigenvalues(d, &e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::testmat;

    fn faer_of(a: &crate::mat::Mat) -> faer::Mat<f64> {
        faer::Mat::from_fn(a.rows(), a.cols(), |i, j| a.at(i, j))
    }

    #[test]
    fn tridiagonal_ql_matches_the_dense_solver() {
        let mut r = crate::rng::Rng::new(3);
        for n in [1usize, 2, 3, 10, 57] {
            let d: Vec<f64> = (0..n).map(|_| r.normal()).collect();
            let e: Vec<f64> = (0..n.saturating_sub(1)).map(|_| r.normal()).collect();
            let got = tridiagonal_eigenvalues(d.clone(), &e).unwrap();
            let want = crate::linalg::tridiag_eig(&d, &e).unwrap().values;
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12, "n={n}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn two_stage_matches_one_stage_on_known_and_random_spectra() {
        for (n, b) in [(5, 2), (40, 3), (97, 8), (200, 16), (301, 32), (64, 63)] {
            let a = testmat::random_symmetric(n, n as u64);
            let (want, _) = crate::linalg::sym_eigvals(&a).unwrap();
            let got = eigenvalues_two_stage(&mut faer_of(&a), b).unwrap();
            let scale = want.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-12 * scale * (n as f64).sqrt(),
                    "n={n} b={b}: {g} vs {w}"
                );
            }
        }
        // Known spectrum with repeated values and a bulk at zero.
        let mut d = vec![0.0; 150];
        for (i, x) in d.iter_mut().enumerate().take(10) {
            *x = 10.0 + i as f64;
        }
        d[20] = -0.5;
        d[21] = -0.5;
        let a = testmat::with_spectrum(&d, 7);
        let got = eigenvalues_two_stage(&mut faer_of(&a), 12).unwrap();
        let mut want = d.clone();
        want.sort_by(|a, b| a.total_cmp(b));
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12 * 20.0, "{g} vs {w}");
        }
    }

    /// `sym_eigvals` takes this path from n = TWO_STAGE_MIN on: a known
    /// spectrum (outliers, a negative pair, a bulk at zero) and a random
    /// matrix at that size, against the truth and faer's one-stage solver.
    #[test]
    fn sym_eigvals_uses_two_stage_at_size_and_stays_exact() {
        let n = crate::linalg::TWO_STAGE_MIN;
        let mut d = vec![0.0; n];
        for (i, x) in d.iter_mut().enumerate().take(10) {
            *x = 1.0 + 0.25 * i as f64;
        }
        d[500] = -0.01;
        d[501] = -0.02;
        let a = testmat::with_spectrum(&d, 9);
        let (got, info) = crate::linalg::sym_eigvals(&a).unwrap();
        assert_eq!(info.solver, "two-stage");
        let mut want = d.clone();
        want.sort_by(|a, b| a.total_cmp(b));
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-13 * 4.0 * (n as f64).sqrt(),
                "{g} vs {w}"
            );
        }
        assert!(
            info.trace_rel_err < 1e-12 && info.frob_rel_err < 1e-12,
            "{info:?}"
        );
        let r = testmat::random_symmetric(n + 37, 5);
        let (got, _) = crate::linalg::sym_eigvals(&r).unwrap();
        let want = crate::linalg::sym_eigvals_faer(&r).unwrap();
        let scale = want.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-13 * scale * 30.0, "{g} vs {w}");
        }
    }
}
