//! All eigenvalues of a large dense symmetric matrix by two-stage
//! tridiagonalisation (the scheme of LAPACK's `dsyev_2stage` and of
//! ELPA): a symmetric `A` is reduced
//!
//! 1. to a band of half-width `b` by blocked Householder transformations
//!    (`Qᵀ A Q` with `Q = I − V T Vᵀ` per panel of `b` columns), whose work is
//!    all matrix–matrix products (faer's GEMM kernels on 256 × 256 tiles;
//!    with one panel of look-ahead, a single pass over the trailing matrix
//!    applies one panel's update and forms the next panel's product), and
//! 2. from the band to a tridiagonal by Householder bulge chasing on a
//!    compact band copy (about 6·n²·b flops on `b × b` blocks; groups of
//!    sweeps move down the band as wavefronts that stay in cache, and the
//!    groups run on all cores, synchronised step by step),
//!
//! and the tridiagonal's eigenvalues come from root-free implicit QL
//! iteration (O(n²)). One-stage reduction (faer's `self_adjoint_eigenvalues`)
//! spends half its 4n³/3 flops in matrix–vector products that stream the
//! whole trailing matrix from memory at every column; above a few thousand
//! rows that is what limits it, and this path avoids it. Values only: the
//! eigenvectors would need both stages' transformations back.
//!
//! Every transformation is orthogonal, so the values are backward stable
//! (errors O(n·ε·‖A‖)); tests compare them with faer's one-stage solver.
//! The result does not depend on the number of threads.

use crate::error::{Error, Result};
use crate::progress::Progress;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self as tri, BlockStructure as Bs};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[inline]
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

/// Householder QR of the panel `a[k+w.., k..k+w]` (the `w` columns left of
/// the trailing matrix): returns `V` (unit lower trapezoidal) and `T`
/// (upper triangular) with `Q = H₁ ⋯ H_r = I − V T Vᵀ`, and writes the
/// panel's band part `R` back into `a` (zeros below it).
fn panel_qr(a: &mut Mat<f64>, k: usize, w: usize) -> (Mat<f64>, Mat<f64>) {
    let r0 = k + w;
    let m = a.nrows() - r0;
    let r = w.min(m);
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
    let mut v = Mat::<f64>::zeros(m, r);
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
    let mut t = Mat::<f64>::zeros(r, r);
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
    (v, t)
}

/// Tile size of the trailing-matrix sweep: a 256 × 256 tile (512 KiB) stays
/// in a core's L2 between its update and its two products.
const TILE: usize = 256;

/// One pass over the lower triangle of the symmetric `s` (m × m), tile by
/// tile, the tiles spread over the threads: with `upd = Some((p, q))` each
/// tile is first updated `s −= p qᵀ`, and with `next = Some(v)` the product
/// `s v` of the updated symmetric matrix is accumulated and returned (else
/// an m × 0 matrix). Doing both in one pass reads the trailing matrix from
/// memory once per panel instead of twice. The strict upper triangle of
/// diagonal tiles is overwritten with meaningless values and never read.
fn sweep(
    s: MatMut<'_, f64>,
    upd: Option<(MatRef<'_, f64>, MatRef<'_, f64>)>,
    next: Option<MatRef<'_, f64>>,
    par: Par,
) -> Mat<f64> {
    use rayon::prelude::*;
    let m = s.nrows();
    let r = next.map_or(0, |v| v.ncols());
    // Block column J from its diagonal tile down.
    let cols = super::column_blocks(s, TILE)
        .into_iter()
        .map(|(c0, blk)| (c0, blk.subrows_mut(c0, m - c0)));
    let work = |mut x: Mat<f64>, (c0, mut blk): (usize, MatMut<'_, f64>)| {
        let wj = blk.ncols();
        let mut i0 = c0;
        while i0 < m {
            let hi = TILE.min(m - i0);
            let mut tile = blk.as_mut().subrows_mut(i0 - c0, hi);
            if let Some((p, q)) = upd {
                matmul(
                    tile.as_mut(),
                    Accum::Add,
                    p.subrows(i0, hi),
                    q.subrows(c0, wj).transpose(),
                    -1.0,
                    Par::Seq,
                );
            }
            if let Some(v) = next {
                let tile = tile.as_ref();
                if i0 == c0 {
                    // x_J += (tril + stril ᵀ)(tile) v_J.
                    tri::matmul(
                        x.as_mut().subrows_mut(c0, wj),
                        Bs::Rectangular,
                        Accum::Add,
                        tile,
                        Bs::TriangularLower,
                        v.subrows(c0, wj),
                        Bs::Rectangular,
                        1.0,
                        Par::Seq,
                    );
                    tri::matmul(
                        x.as_mut().subrows_mut(c0, wj),
                        Bs::Rectangular,
                        Accum::Add,
                        tile.transpose(),
                        Bs::StrictTriangularUpper,
                        v.subrows(c0, wj),
                        Bs::Rectangular,
                        1.0,
                        Par::Seq,
                    );
                } else {
                    matmul(
                        x.as_mut().subrows_mut(i0, hi),
                        Accum::Add,
                        tile,
                        v.subrows(c0, wj),
                        1.0,
                        Par::Seq,
                    );
                    matmul(
                        x.as_mut().subrows_mut(c0, wj),
                        Accum::Add,
                        tile.transpose(),
                        v.subrows(i0, hi),
                        1.0,
                        Par::Seq,
                    );
                }
            }
            i0 += hi;
        }
        x
    };
    let add = |mut a: Mat<f64>, b: Mat<f64>| {
        for c in 0..r {
            crate::mat::axpy(1.0, b.col_as_slice(c), a.col_as_slice_mut(c));
        }
        a
    };
    // Block column J holds (count − J) tiles: dealing the columns out in
    // turn to a fixed number of parts balances the work, and summing the
    // parts' products in order makes the result independent of the threads
    // (sequential runs use the same parts).
    let mut parts: Vec<Vec<(usize, MatMut<'_, f64>)>> =
        (0..SWEEP_PARTS).map(|_| Vec::new()).collect();
    for (j, c) in cols.enumerate() {
        parts[j % SWEEP_PARTS].push(c);
    }
    let part = |part: Vec<(usize, MatMut<'_, f64>)>| part.into_iter().fold(Mat::zeros(m, r), work);
    let xs: Vec<Mat<f64>> = if matches!(par, Par::Seq) {
        parts.into_iter().map(part).collect()
    } else {
        parts.into_par_iter().map(part).collect()
    };
    xs.into_iter()
        .reduce(add)
        .unwrap_or_else(|| Mat::zeros(m, r))
}

/// Parts the tiles of one sweep are dealt into (each with its own `S V`
/// accumulator): enough for the cores of a workstation.
const SWEEP_PARTS: usize = 8;

/// `a b` as a new matrix.
fn product(a: MatRef<'_, f64>, b: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    let mut c = Mat::<f64>::zeros(a.nrows(), b.ncols());
    matmul(c.as_mut(), Accum::Replace, a, b, 1.0, par);
    c
}

/// Reduces the symmetric `a` (its lower triangle) in place to a lower band
/// of half-width `b`. Only the lower triangle is read and written: on
/// return `a[i][j]` for `j ≤ i ≤ j + b` holds the band and the rest of the
/// lower triangle is zero.
///
/// Panel by panel, `S ← Qᵀ S Q` on the trailing `S` with `Q = I − V T Vᵀ`:
/// `W = S V T`, `Y = W − ½ V (Tᵀ Vᵀ W)`, `S ← S − V Yᵀ − Y Vᵀ`. With one
/// panel of look-ahead: the next panel's columns are updated and factored
/// first, then one tiled sweep applies this panel's update to the rest and
/// forms the next panel's `S V` while each tile is in cache.
fn reduce_to_band(a: &mut Mat<f64>, b: usize, par: Par, progress: &Progress) -> Result<()> {
    let n = a.nrows();
    if b + 1 >= n {
        return Ok(());
    }
    let (mut v, mut t) = panel_qr(a, 0, b);
    let mut x = sweep(
        a.as_mut().submatrix_mut(b, b, n - b, n - b),
        None,
        Some(v.as_ref()),
        par,
    );
    let mut k = 0;
    while k + b + 1 < n {
        crate::progress::check_interrupt("eigs")?;
        let r0 = k + b;
        let m = n - r0;
        let r = v.ncols();
        // W = X T, Z = Tᵀ (Vᵀ W).
        let mut wm = product(x.as_ref(), t.as_ref(), par);
        let z = product(
            t.as_ref().transpose(),
            product(v.as_ref().transpose(), wm.as_ref(), par).as_ref(),
            par,
        );
        // Y = W − ½ V Z (in place of W); vy = [V Y], yv = [Y V] so that
        // S −= vy yvᵀ = V Yᵀ + Y Vᵀ is one rank-2r product.
        matmul(wm.as_mut(), Accum::Add, v.as_ref(), z.as_ref(), -0.5, par);
        let mut vy = Mat::<f64>::zeros(m, 2 * r);
        let mut yv = Mat::<f64>::zeros(m, 2 * r);
        for c in 0..r {
            vy.col_as_slice_mut(c).copy_from_slice(v.col_as_slice(c));
            vy.col_as_slice_mut(r + c)
                .copy_from_slice(wm.col_as_slice(c));
            yv.col_as_slice_mut(c).copy_from_slice(wm.col_as_slice(c));
            yv.col_as_slice_mut(r + c)
                .copy_from_slice(v.col_as_slice(c));
        }
        if r0 + b + 1 < n {
            // Look-ahead: the next panel's b columns, its QR, then the rest.
            matmul(
                a.as_mut().submatrix_mut(r0, r0, m, b),
                Accum::Add,
                vy.as_ref(),
                yv.as_ref().subrows(0, b).transpose(),
                -1.0,
                par,
            );
            (v, t) = panel_qr(a, r0, b);
            x = sweep(
                a.as_mut().submatrix_mut(r0 + b, r0 + b, m - b, m - b),
                Some((vy.as_ref().subrows(b, m - b), yv.as_ref().subrows(b, m - b))),
                Some(v.as_ref()),
                par,
            );
        } else {
            sweep(
                a.as_mut().submatrix_mut(r0, r0, m, m),
                Some((vy.as_ref(), yv.as_ref())),
                None,
                par,
            );
        }
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
    fn from_dense(a: &Mat<f64>, b: usize) -> Band {
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
}

/// The band's storage as the chase threads share it. Steps that run at the
/// same time touch disjoint windows of columns (the schedule in [`chase`]
/// guarantees it) and a step holds one column slice at a time, so no two
/// live slices overlap.
#[derive(Clone, Copy)]
struct BandPtr {
    ld: usize,
    ptr: *mut f64,
    len: usize,
}

// SAFETY: see the type's doc; the pointer outlives the scoped threads.
unsafe impl Send for BandPtr {}
unsafe impl Sync for BandPtr {}

impl BandPtr {
    /// Entries `a[r0 .. r0 + len][c]` (r0 ≥ c), contiguous.
    ///
    /// # Safety
    /// No other live slice may overlap them.
    #[inline(always)]
    unsafe fn col<'a>(self, c: usize, r0: usize, len: usize) -> &'a mut [f64] {
        let s = c * self.ld + (r0 - c);
        assert!(r0 - c + len <= self.ld && s + len <= self.len);
        // SAFETY: in bounds (asserted) and unaliased (the caller's promise).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(s), len) }
    }

    /// `D ← H D H` for the symmetric diagonal block `D = a[s..s+len][s..s+len]`
    /// (lower triangle) and `H = I − τ v vᵀ`.
    ///
    /// # Safety
    /// As for [`BandPtr::col`], for the block's columns.
    #[inline(always)]
    unsafe fn sym_update(self, s: usize, v: &[f64], tau: f64, p: &mut Vec<f64>) {
        if tau == 0.0 {
            return;
        }
        let len = v.len();
        p.clear();
        p.resize(len, 0.0);
        // p = D v from the lower triangle.
        for j in 0..len {
            // SAFETY: the caller's promise.
            let col = unsafe { self.col(s + j, s + j, len - j) };
            let acc = col[0] * v[j] + crate::mat::dot(&col[1..], &v[j + 1..]);
            crate::mat::axpy(v[j], &col[1..], &mut p[j + 1..]);
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
            // SAFETY: the caller's promise.
            let col = unsafe { self.col(s + j, s + j, len - j) };
            for (i, d) in col.iter_mut().enumerate() {
                *d -= v[j + i] * wj + p[j + i] * vj;
            }
        }
    }
}

/// Where one sweep of the chase stands between its steps. Sweep `i`
/// annihilates column `i` below the sub-diagonal (step 0), then chases the
/// bulge that creates down the band, one `b × b` block per step.
struct Sweep {
    i: usize,
    steps: usize,
    done: bool,
    v: Vec<f64>,
    v2: Vec<f64>,
    tau: f64,
    sp: usize,
    lp: usize,
    st: usize,
}

impl Sweep {
    fn new(i: usize, b: usize) -> Sweep {
        Sweep {
            i,
            steps: 0,
            done: false,
            v: Vec::with_capacity(b),
            v2: Vec::with_capacity(b),
            tau: 0.0,
            sp: 0,
            lp: 0,
            st: 0,
        }
    }

    /// Runs the sweep's next step. Step `t` reads and writes only entries
    /// whose row and column lie in `[i + 1 + (t − 1)·b, i + 1 + (t + 1)·b)`.
    ///
    /// # Safety
    /// No other thread may touch that window meanwhile.
    #[inline(always)]
    unsafe fn step(&mut self, band: BandPtr, n: usize, b: usize, p: &mut Vec<f64>, q: &mut [f64]) {
        if self.steps == 0 {
            let i = self.i;
            let len = b.min(n - 1 - i);
            // SAFETY (all blocks below): inside this step's window.
            let x = unsafe { band.col(i, i + 1, len) };
            self.tau = house(x);
            self.v.clear();
            self.v.push(1.0);
            self.v.extend_from_slice(&x[1..]);
            x[1..].iter_mut().for_each(|t| *t = 0.0);
            unsafe { band.sym_update(i + 1, &self.v, self.tau, p) };
            (self.sp, self.lp, self.st) = (i + 1, len, i + 1 + len);
        } else {
            let (sp, lp, st) = (self.sp, self.lp, self.st);
            let len2 = b.min(n - st);
            let (v, tau) = (&self.v, self.tau);
            // B = a[st..st+len2][sp..sp+lp] ← B H (right application).
            if tau != 0.0 {
                let qv = &mut q[..len2];
                qv.iter_mut().for_each(|t| *t = 0.0);
                for (j, vj) in v.iter().enumerate() {
                    crate::mat::axpy(*vj, unsafe { band.col(sp + j, st, len2) }, qv);
                }
                for (j, vj) in v.iter().enumerate() {
                    let col = unsafe { band.col(sp + j, st, len2) };
                    crate::mat::axpy(-tau * vj, qv, col);
                }
            }
            // A reflector for B's first column, applied to B's other columns.
            let x = unsafe { band.col(sp, st, len2) };
            let tau2 = house(x);
            let v2 = &mut self.v2;
            v2.clear();
            v2.push(1.0);
            v2.extend_from_slice(&x[1..]);
            x[1..].iter_mut().for_each(|t| *t = 0.0);
            if tau2 != 0.0 {
                for j in 1..lp {
                    let col = unsafe { band.col(sp + j, st, len2) };
                    let s = crate::mat::dot(v2, col);
                    crate::mat::axpy(-tau2 * s, v2, col);
                }
            }
            unsafe { band.sym_update(st, v2, tau2, p) };
            std::mem::swap(&mut self.v, &mut self.v2);
            self.tau = tau2;
            (self.sp, self.lp, self.st) = (st, len2, st + len2);
        }
        self.steps += 1;
        self.done = self.st >= n;
    }
}

/// Sweeps run together as one wavefront: sweep `s` of a group runs its step
/// `τ − LAG·s` at time `τ`, so the group's working set (about
/// `(LAG·GROUP + 3)·b` columns of the band) stays in a core's cache while the
/// group passes over the band.
const GROUP: usize = 8;
/// Sweep `i + 1` may run step `t` once sweep `i` has run steps `0 ..= t + 2`
/// (their windows are disjoint from then on); inside a wavefront sweep `i`
/// runs first at each time, so a lag of 2 is enough.
const LAG: usize = 2;

/// Reduces the band (half-width `b`) to tridiagonal form by bulge chasing;
/// returns the diagonal and the off-diagonal. Groups of [`GROUP`] sweeps go
/// to the threads in turn; a group's first sweep waits, step by step, until
/// the previous group's last sweep is three steps ahead. The kernels are
/// short loops on vectors of length ≤ b; on x86-64 they are compiled a
/// second time for AVX2 + FMA and that copy runs where the CPU has them
/// (the crate's baseline target is SSE2).
fn band_to_tridiagonal(
    band: &mut Band,
    b: usize,
    progress: &Progress,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = band.n;
    let nsweeps = n.saturating_sub(2);
    let ngroups = nsweeps.div_ceil(GROUP);
    let threads = rayon::current_num_threads().clamp(1, ngroups.max(1));
    let published: Vec<AtomicUsize> = (0..ngroups).map(|_| AtomicUsize::new(0)).collect();
    let abort = AtomicBool::new(false);
    let ptr = BandPtr {
        ld: band.ld,
        ptr: band.data.as_mut_ptr(),
        len: band.data.len(),
    };
    let ctx = ChaseCtx {
        band: ptr,
        n,
        b,
        threads,
        published: &published,
        abort: &abort,
        progress,
    };
    let results: Vec<Result<()>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (1..threads)
            .map(|k| sc.spawn(move || ctx.run_dispatch(k)))
            .collect();
        let mut out = vec![ctx.run_dispatch(0)];
        for h in handles {
            out.push(h.join().unwrap_or_else(|_| {
                Err(Error::invalid(
                    "eigs",
                    "expected the bulge-chasing thread to finish, got a panic",
                ))
            }));
        }
        out
    });
    for r in results {
        r?;
    }
    let d = (0..n).map(|c| band.data[c * band.ld]).collect();
    let e = (0..n.saturating_sub(1))
        .map(|c| band.data[c * band.ld + 1])
        .collect();
    Ok((d, e))
}

/// What every chase thread shares.
#[derive(Clone, Copy)]
struct ChaseCtx<'a> {
    band: BandPtr,
    n: usize,
    b: usize,
    threads: usize,
    /// Steps run by each group's last sweep (`usize::MAX` once it is done).
    published: &'a [AtomicUsize],
    abort: &'a AtomicBool,
    progress: &'a Progress,
}

impl ChaseCtx<'_> {
    fn run_dispatch(self, k: usize) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU features it is compiled for were just detected.
            return unsafe { self.run_avx2(k) };
        }
        self.run(k)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn run_avx2(self, k: usize) -> Result<()> {
        self.run(k)
    }

    /// Thread `k` runs groups `k, k + threads, …`.
    #[inline(always)]
    fn run(self, k: usize) -> Result<()> {
        let r = self.run_groups(k);
        if r.is_err() {
            self.abort.store(true, Ordering::Release);
        }
        r
    }

    #[inline(always)]
    fn run_groups(self, k: usize) -> Result<()> {
        let (n, b) = (self.n, self.b);
        let nsweeps = n.saturating_sub(2);
        let mut p = Vec::with_capacity(b);
        let mut q = vec![0.0; b];
        let mut g = k;
        while g * GROUP < nsweeps {
            crate::progress::check_interrupt("eigs")?;
            let i0 = g * GROUP;
            let cnt = GROUP.min(nsweeps - i0);
            let mut sweeps: Vec<Sweep> = (i0..i0 + cnt).map(|i| Sweep::new(i, b)).collect();
            let mut time = 0;
            loop {
                let mut active = false;
                for (s, sw) in sweeps.iter_mut().enumerate() {
                    if sw.done {
                        continue;
                    }
                    active = true;
                    if time < LAG * s {
                        break;
                    }
                    if s == 0 && g > 0 {
                        self.wait_for(g - 1, sw.steps + 3)?;
                    }
                    // SAFETY: the wavefront and `wait_for` keep this step's
                    // window apart from every step running meanwhile.
                    unsafe { sw.step(self.band, n, b, &mut p, &mut q) };
                    if s == cnt - 1 {
                        let v = if sw.done { usize::MAX } else { sw.steps };
                        self.published[g].store(v, Ordering::Release);
                    }
                }
                if !active {
                    break;
                }
                time += 1;
            }
            self.progress.inc(cnt as u64);
            g += self.threads;
        }
        Ok(())
    }

    /// Waits until group `g`'s last sweep has run `steps` steps (or is done).
    fn wait_for(self, g: usize, steps: usize) -> Result<()> {
        let mut spins = 0u32;
        while self.published[g].load(Ordering::Acquire) < steps {
            if self.abort.load(Ordering::Acquire) {
                return Err(Error::Interrupted { op: "eigs" });
            }
            spins += 1;
            if spins < 1 << 12 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        Ok(())
    }
}

/// Eigenvalues `(rt1, rt2)` of the symmetric 2 × 2 matrix `[[a, b], [b, c]]`,
/// `|rt1| ≥ |rt2|` (LAPACK's `dlae2`: the smaller one from the determinant,
/// so it keeps its relative accuracy).
fn eig2(a: f64, b: f64, c: f64) -> (f64, f64) {
    let sm = a + c;
    let adf = (a - c).abs();
    let ab = (2.0 * b).abs();
    let (acmx, acmn) = if a.abs() > c.abs() { (a, c) } else { (c, a) };
    let rt = if adf > ab {
        adf * (1.0 + (ab / adf).powi(2)).sqrt()
    } else if adf < ab {
        ab * (1.0 + (adf / ab).powi(2)).sqrt()
    } else {
        ab * std::f64::consts::SQRT_2
    };
    if sm == 0.0 {
        return (0.5 * rt, -0.5 * rt);
    }
    let rt1 = 0.5 * (sm + rt.copysign(sm));
    (rt1, (acmx / rt1) * acmn - (b / rt1) * b)
}

/// Eigenvalues (ascending) of the symmetric tridiagonal matrix with
/// diagonal `d` and off-diagonal `e` by the root-free implicit QL iteration
/// of Pal, Walker and Kahan (LAPACK's `dsterf`): it works on the squared
/// off-diagonals, so a QL sweep has one division and no square root per
/// rotation; Wilkinson shifts, O(n²) in all.
pub fn tridiagonal_eigenvalues(mut d: Vec<f64>, e: &[f64]) -> Result<Vec<f64>> {
    let n = d.len();
    let tnorm = d
        .iter()
        .zip(e.iter().chain(std::iter::repeat(&0.0)))
        .fold(0.0_f64, |m, (a, b)| m.max(a.abs() + 2.0 * b.abs()));
    if tnorm == 0.0 || !tnorm.is_finite() {
        d.sort_by(|a, b| a.total_cmp(b));
        return Ok(d);
    }
    // Work on T/‖T‖ (no overflow in the squares) with e2[i] = e[i]².
    d.iter_mut().for_each(|x| *x /= tnorm);
    let mut e2: Vec<f64> = e
        .iter()
        .take(n.saturating_sub(1))
        .map(|x| (x / tnorm).powi(2))
        .collect();
    e2.resize(n, 0.0);
    // An off-diagonal is dropped when |e| ≤ ε(|d_m| + |d_m+1|) or
    // |e| ≤ ε/10 (normwise backward stable; a purely relative test never
    // deflates a cluster of zero eigenvalues).
    let eps2 = f64::EPSILON * f64::EPSILON;
    let tiny2 = 0.01 * eps2;
    let max_iter = 30 * n.max(1);
    let mut iters = 0;
    let mut l = 0;
    let mut checked = 0;
    while l < n {
        if l >= checked {
            crate::progress::check_interrupt("eigs")?;
            checked = l + 256;
        }
        let mut m = l;
        while m + 1 < n {
            let dd = d[m].abs() + d[m + 1].abs();
            if e2[m] <= eps2 * dd * dd || e2[m] <= tiny2 {
                break;
            }
            m += 1;
        }
        e2[m] = 0.0;
        if m == l {
            l += 1;
            continue;
        }
        if m == l + 1 {
            (d[l], d[l + 1]) = eig2(d[l], e2[l].sqrt(), d[l + 1]);
            e2[l] = 0.0;
            l += 2;
            continue;
        }
        iters += 1;
        if iters > max_iter {
            return Err(Error::invalid(
                "eigs",
                format!(
                    "expected the {n}×{n} tridiagonal QL iteration to converge, got no convergence"
                ),
            ));
        }
        // Wilkinson shift from the leading 2 × 2 block.
        let p = d[l];
        let rte = e2[l].sqrt();
        let sg = (d[l + 1] - p) / (2.0 * rte);
        let r = sg.hypot(1.0);
        let sigma = p - rte / (sg + r.copysign(sg));
        let (mut c, mut s) = (1.0, 0.0);
        let mut gamma = d[m] - sigma;
        let mut pp = gamma * gamma;
        for i in (l..m).rev() {
            let bb = e2[i];
            let r = pp + bb;
            if i + 1 != m {
                e2[i + 1] = s * r;
            }
            let oldc = c;
            c = pp / r;
            s = bb / r;
            let oldgam = gamma;
            let alpha = d[i];
            gamma = c * (alpha - sigma) - s * oldgam;
            d[i + 1] = oldgam + (alpha - gamma);
            pp = if c != 0.0 {
                gamma * gamma / c
            } else {
                oldc * bb
            };
        }
        e2[l] = s * pp;
        d[l] = sigma + gamma;
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

    /// The chase splits its sweeps over the threads of the current pool and
    /// synchronises them step by step: the values must not depend on the
    /// thread count (one thread, and more threads than cores), including a
    /// matrix with fewer sweep groups than threads.
    #[test]
    fn chase_gives_the_same_values_on_any_number_of_threads() {
        for (n, b) in [(700, 8), (130, 16), (12, 3)] {
            let a = testmat::random_symmetric(n, 40 + n as u64);
            let want = crate::linalg::sym_eigvals_faer(&a).unwrap();
            let scale = want.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
            let mut first: Option<Vec<f64>> = None;
            for threads in [1, 2, 3, 5] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let got = pool
                    .install(|| eigenvalues_two_stage(&mut faer_of(&a), b))
                    .unwrap();
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() < 1e-12 * scale * (n as f64).sqrt(),
                        "n={n} threads={threads}: {g} vs {w}"
                    );
                }
                // Every step's arithmetic is the same whatever the schedule.
                match &first {
                    None => first = Some(got),
                    Some(f) => assert_eq!(f, &got, "n={n} threads={threads}"),
                }
            }
        }
    }

    /// The band reduction gives the same bits sequentially and threaded
    /// (the sweep's tiles go to a fixed set of parts either way), on a size
    /// with several 256-row tiles.
    #[test]
    fn band_reduction_is_the_same_sequential_or_threaded() {
        let n = 2 * TILE + 70;
        let a = testmat::random_symmetric(n, 17);
        let progress = Progress::new("test", 0);
        let mut seq = faer_of(&a);
        reduce_to_band(&mut seq, 16, Par::Seq, &progress).unwrap();
        let mut thr = faer_of(&a);
        reduce_to_band(&mut thr, 16, Par::rayon(2), &progress).unwrap();
        for j in 0..n {
            for i in j..n {
                assert_eq!(seq[(i, j)], thr[(i, j)], "({i}, {j})");
            }
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
