//! Shared helpers of the convolution and pooling layers: window geometry,
//! unfold (im2col) and its adjoint fold (col2im), layout changes, GEMMs on
//! slices and the cutting of a batch into blocks, as plain loops on
//! contiguous f64 data.
//!
//! A batch is processed in blocks of a few samples whose columns stay in
//! cache (no batch-sized column matrix is ever made: allocating and
//! streaming one costs more than unfolding again), blocks grouped into
//! parallel units. A block of `c` samples unfolds to `(K, c·P)` with
//! `K = C·kh·kw` (row `(c, i, j)`, the order of a conv weight's
//! flattening) and `P = Ho·Wo` (column `(n, oh, ow)`), Caffe's layout with
//! the block's samples side by side, so a conv of the block is one GEMM.

use crate::error::Result;
use candle_core::{CpuStorage, Device, Storage, Tensor};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// Sliding-window geometry over one sample `(c, h, w)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Vertical zero padding (each side).
    pub ph: usize,
    /// Horizontal zero padding (each side).
    pub pw: usize,
    /// Output height.
    pub ho: usize,
    /// Output width.
    pub wo: usize,
}

impl Geom {
    /// The geometry of `kernel`, `stride`, `padding` over `[c, h, w]`, or
    /// `None` when a kernel or stride is 0 or the kernel does not fit the
    /// padded input (floor mode, as PyTorch).
    pub fn new(
        [c, h, w]: [usize; 3],
        [kh, kw]: [usize; 2],
        [sh, sw]: [usize; 2],
        [ph, pw]: [usize; 2],
    ) -> Option<Geom> {
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return None;
        }
        let hp = h.checked_add(ph.checked_mul(2)?)?;
        let wp = w.checked_add(pw.checked_mul(2)?)?;
        if kh > hp || kw > wp {
            return None;
        }
        Some(Geom {
            c,
            h,
            w,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            ho: (hp - kh) / sh + 1,
            wo: (wp - kw) / sw + 1,
        })
    }

    /// Rows of a sample's columns: `c·kh·kw`.
    pub fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Output positions per channel: `ho·wo`.
    pub fn p(&self) -> usize {
        self.ho * self.wo
    }

    /// Elements of one input sample: `c·h·w`.
    pub fn plane(&self) -> usize {
        self.c * self.h * self.w
    }

    /// The output columns `ow` whose input column `ow·sw + j − pw` lies in
    /// the image, as a range `lo..hi` (empty when none).
    fn cols_in(&self, j: usize) -> (usize, usize) {
        range_in(j, self.pw, self.sw, self.w, self.wo)
    }

    /// The same for rows: `oh·sh + i − ph` inside.
    fn rows_in(&self, i: usize) -> (usize, usize) {
        range_in(i, self.ph, self.sh, self.h, self.ho)
    }
}

/// The `o < n` with `0 ≤ o·s + k − p < len`, as `lo..hi`.
fn range_in(k: usize, p: usize, s: usize, len: usize, n: usize) -> (usize, usize) {
    let lo = if p > k { (p - k).div_ceil(s) } else { 0 };
    let hi = if len + p > k {
        (len + p - k).div_ceil(s).min(n)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Values (256 KB) that one block's columns may take: blocks stay in cache.
const BLOCK_VALUES: usize = 1 << 15;

/// Blocks per parallel unit (whose partial sums are added in a fixed order).
const UNIT_BLOCKS: usize = 8;

/// Values (32 MB) that all units' partial sums together may take.
const PARTIAL_VALUES: usize = 1 << 22;

#[cfg(test)]
thread_local! {
    /// `(samples per block, blocks per unit)` forced by tests of the blocked paths.
    pub static TEST_BLOCKING: std::cell::Cell<Option<(usize, usize)>> =
        const { std::cell::Cell::new(None) };
}

/// How a batch of `n` samples is cut for a layer whose columns have
/// `k·p` values per sample and whose per-unit partial sums have `partial`
/// values: `(samples per block, samples per unit)`, the unit a multiple of
/// the block. Depends on the sizes only (never on the thread count), so
/// that sums are added in the same order on every machine.
pub fn blocking(n: usize, kp: usize, partial: usize) -> (usize, usize) {
    #[cfg(test)]
    if let Some((nb, ub)) = TEST_BLOCKING.with(|c| c.get()) {
        return (nb, nb * ub);
    }
    let nb = (BLOCK_VALUES / kp.max(1)).clamp(1, n.max(1));
    let units_max = (PARTIAL_VALUES / partial.max(1)).max(1);
    let blocks = n.div_ceil(nb);
    let per_unit = UNIT_BLOCKS.max(blocks.div_ceil(units_max));
    (nb, nb * per_unit)
}

/// How many directions to handle at once when each takes `per` values of
/// scratch (at least one, at most `b`).
pub fn dir_block(b: usize, per: usize) -> usize {
    (BLOCK_VALUES / per.max(1)).clamp(1, b.max(1))
}

/// Splits `buf`, laid out `(b, n, per)`, into the units of `unit` samples:
/// unit u gets, for every one of the b leading indices, its contiguous
/// chunk of samples. An empty `buf` gives every unit an empty list.
pub fn split_units(
    buf: &mut [f64],
    b: usize,
    n: usize,
    per: usize,
    unit: usize,
) -> Vec<Vec<&mut [f64]>> {
    let units = n.div_ceil(unit.max(1));
    let mut out: Vec<Vec<&mut [f64]>> = (0..units).map(|_| Vec::with_capacity(b)).collect();
    if buf.is_empty() || per == 0 {
        return out;
    }
    for dir in buf.chunks_mut(n * per) {
        for (u, c) in dir.chunks_mut(unit * per).enumerate() {
            out[u].push(c);
        }
    }
    out
}

/// Unfolds `c` contiguous samples `x` `(c, C, H, W)` into `dst`, the
/// columns `(K, c·P)` of the block.
pub fn unfold_block(x: &[f64], c: usize, geo: &Geom, dst: &mut [f64]) {
    let (p, plane) = (geo.p(), geo.plane());
    debug_assert_eq!(x.len(), c * plane);
    debug_assert_eq!(dst.len(), geo.k() * c * p);
    for s in 0..c {
        unfold_sample(&x[s * plane..(s + 1) * plane], geo, dst, c * p, s * p);
    }
}

/// Folds a block's columns `(K, c·P)` onto its `c` samples `dst`
/// `(c, C, H, W)`, adding (the adjoint of [`unfold_block`]).
pub fn fold_block(cols: &[f64], c: usize, geo: &Geom, dst: &mut [f64]) {
    let (p, plane) = (geo.p(), geo.plane());
    debug_assert_eq!(dst.len(), c * plane);
    debug_assert_eq!(cols.len(), geo.k() * c * p);
    for s in 0..c {
        fold_sample(
            cols,
            s * p,
            c * p,
            geo,
            &mut dst[s * plane..(s + 1) * plane],
        );
    }
}

/// `d = s` for short runs without a library call per run.
#[inline(always)]
fn copy_run(d: &mut [f64], s: &[f64]) {
    if d.len() >= 32 {
        d.copy_from_slice(s);
        return;
    }
    let mut dc = d.chunks_exact_mut(4);
    let mut sc = s.chunks_exact(4);
    for (a, b) in (&mut dc).zip(&mut sc) {
        a[0] = b[0];
        a[1] = b[1];
        a[2] = b[2];
        a[3] = b[3];
    }
    for (a, b) in dc.into_remainder().iter_mut().zip(sc.remainder()) {
        *a = *b;
    }
}

/// `d += s` elementwise.
#[inline(always)]
fn add_run(d: &mut [f64], s: &[f64]) {
    for (a, b) in d.iter_mut().zip(s) {
        *a += *b;
    }
}

/// One sample's columns: row `(c, i, j)` at `dst[row·stride + off..][..P]`.
fn unfold_sample(src: &[f64], geo: &Geom, dst: &mut [f64], stride: usize, off: usize) {
    let (h, w, wo, p) = (geo.h, geo.w, geo.wo, geo.p());
    let mut r = 0;
    for ci in 0..geo.c {
        let chan = &src[ci * h * w..][..h * w];
        for i in 0..geo.kh {
            let (ylo, yhi) = geo.rows_in(i);
            for j in 0..geo.kw {
                let (xlo, xhi) = geo.cols_in(j);
                let d = &mut dst[r * stride + off..][..p];
                r += 1;
                if ylo > 0 {
                    d[..ylo * wo].fill(0.0);
                }
                if yhi < geo.ho {
                    d[yhi * wo..].fill(0.0);
                }
                let len = xhi.saturating_sub(xlo);
                let x0 = (xlo * geo.sw + j).saturating_sub(geo.pw);
                for oh in ylo..yhi {
                    let y = oh * geo.sh + i - geo.ph;
                    let drow = &mut d[oh * wo..][..wo];
                    let (left, rest) = drow.split_at_mut(xlo);
                    for v in left.iter_mut().chain(rest[len..].iter_mut()) {
                        *v = 0.0;
                    }
                    if len == 0 {
                        continue;
                    }
                    let srow = &chan[y * w + x0..];
                    if geo.sw == 1 {
                        copy_run(&mut drow[xlo..xhi], &srow[..len]);
                    } else {
                        for (a, b) in drow[xlo..xhi].iter_mut().zip(srow.iter().step_by(geo.sw)) {
                            *a = *b;
                        }
                    }
                }
            }
        }
    }
}

/// One sample: `dst[c, y, x] += cols[row·stride + off + (oh, ow)]`.
fn fold_sample(cols: &[f64], off: usize, stride: usize, geo: &Geom, dst: &mut [f64]) {
    let (h, w, wo, p) = (geo.h, geo.w, geo.wo, geo.p());
    let mut r = 0;
    for ci in 0..geo.c {
        let chan = &mut dst[ci * h * w..][..h * w];
        for i in 0..geo.kh {
            let (ylo, yhi) = geo.rows_in(i);
            for j in 0..geo.kw {
                let (xlo, xhi) = geo.cols_in(j);
                let src = &cols[r * stride + off..][..p];
                r += 1;
                if xlo >= xhi {
                    continue;
                }
                let (x0, len) = (xlo * geo.sw + j - geo.pw, xhi - xlo);
                for oh in ylo..yhi {
                    let y = oh * geo.sh + i - geo.ph;
                    let srow = &src[oh * wo + xlo..][..len];
                    let drow = &mut chan[y * w + x0..];
                    if geo.sw == 1 {
                        add_run(&mut drow[..len], srow);
                    } else {
                        for (d, s) in drow.iter_mut().step_by(geo.sw).zip(srow) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

/// Sample-major to channel-major: `src` `(c, a, p)` → `dst` `(a, c·p)`.
pub fn to_cm(src: &[f64], c: usize, a: usize, p: usize, dst: &mut [f64]) {
    debug_assert_eq!(src.len(), c * a * p);
    debug_assert_eq!(dst.len(), c * a * p);
    for s in 0..c {
        for ai in 0..a {
            dst[ai * c * p + s * p..][..p].copy_from_slice(&src[(s * a + ai) * p..][..p]);
        }
    }
}

/// Channel-major to sample-major: `src` `(a, c·p)` → `dst` `(c, a, p)`,
/// plus `bias[ai]` when given; adds onto `dst` when `acc`.
pub fn from_cm(
    src: &[f64],
    c: usize,
    a: usize,
    p: usize,
    bias: Option<&[f64]>,
    dst: &mut [f64],
    acc: bool,
) {
    debug_assert_eq!(src.len(), c * a * p);
    debug_assert_eq!(dst.len(), c * a * p);
    for s in 0..c {
        for ai in 0..a {
            let d = &mut dst[(s * a + ai) * p..][..p];
            let sr = &src[ai * c * p + s * p..][..p];
            let off = bias.map_or(0.0, |bv| bv[ai]);
            match (acc, off == 0.0) {
                (false, true) => d.copy_from_slice(sr),
                (false, false) => {
                    for (x, y) in d.iter_mut().zip(sr) {
                        *x = *y + off;
                    }
                }
                (true, _) => {
                    for (x, y) in d.iter_mut().zip(sr) {
                        *x += *y + off;
                    }
                }
            }
        }
    }
}

/// The row-major `r × c` matrix in `s` (exactly `r·c` values).
pub fn mat(s: &[f64], r: usize, c: usize) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(s, r, c)
}

/// The row-major `r × c` matrix in `s`, writable.
pub fn mat_mut(s: &mut [f64], r: usize, c: usize) -> MatMut<'_, f64> {
    MatMut::from_row_major_slice_mut(s, r, c)
}

/// The `r × c` matrix in `s` with rows `rs` apart, writable.
pub fn mat_strided(s: &mut [f64], r: usize, c: usize, rs: usize) -> MatMut<'_, f64> {
    // (faer 0.24's `from_row_major_slice_with_stride_mut` lays the
    // matrix out column-major; the transposed column-major view is right.)
    MatMut::from_column_major_slice_with_stride_mut(s, c, r, rs).transpose_mut()
}

/// The transpose of the row-major `r × c` matrix `s`, row-major.
pub fn transposed(s: &[f64], r: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for (i, row) in s.chunks(c).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            out[j * r + i] = v;
        }
    }
    out
}

/// `dst = a · b`, or `dst += a · b` when `acc`, on this thread.
pub fn gemm(dst: MatMut<'_, f64>, acc: bool, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
    let beta = if acc { Accum::Add } else { Accum::Replace };
    matmul(dst, beta, a, b, 1.0, Par::Seq);
}

/// One block of a unit: its first sample `s0` in the batch, its size `c`,
/// and its first sample `b0` inside the unit.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    /// First sample in the batch.
    pub s0: usize,
    /// Samples in the block.
    pub c: usize,
    /// First sample inside its unit (where its outputs start in the unit's chunks).
    pub b0: usize,
}

/// Runs `f(scratch, partial, chunks, block)` on every block of a batch of
/// `n` samples cut by [`blocking`] into blocks of `nb` in units of `unit`,
/// the units in parallel: each unit owns its output chunks `tasks[u]` (from
/// [`split_units`]) and a partial sum of `plen` values, started at zero.
/// Returns the partial sums added in unit order (deterministic).
pub fn run_blocks<S, F>(
    tasks: Vec<Vec<&mut [f64]>>,
    n: usize,
    nb: usize,
    unit: usize,
    plen: usize,
    f: F,
) -> Vec<f64>
where
    S: Default + Send,
    F: Fn(&mut S, &mut [f64], &mut [&mut [f64]], Block) + Sync + Send,
{
    use rayon::prelude::*;
    let parts: Vec<Vec<f64>> = tasks
        .into_par_iter()
        .enumerate()
        .map_init(S::default, |sc, (u, mut segs)| {
            let mut part = vec![0.0; plen];
            let (u0, u1) = (u * unit, ((u + 1) * unit).min(n));
            for s0 in (u0..u1).step_by(nb.max(1)) {
                let blk = Block {
                    s0,
                    c: nb.min(u1 - s0),
                    b0: s0 - u0,
                };
                f(sc, &mut part, &mut segs, blk);
            }
            part
        })
        .collect();
    sum_partials(parts, plen)
}

/// Adds the partial sums of the units in order (deterministic).
pub fn sum_partials(parts: Vec<Vec<f64>>, len: usize) -> Vec<f64> {
    let mut out = vec![0.0; len];
    for p in parts {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
    out
}

/// Runs `f` on `t`'s values in row-major order, without copying them when
/// `t` is a contiguous f64 CPU tensor.
pub fn with_data<R>(t: &Tensor, f: impl FnOnce(&[f64]) -> R) -> Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (Storage::Cpu(CpuStorage::F64(v)), Some((a, b))) =
            (&*storage, layout.contiguous_offsets())
        {
            return Ok(f(&v[a..b]));
        }
    }
    let v = t.flatten_all()?.to_vec1::<f64>()?;
    Ok(f(&v))
}

/// Errors unless `t` has `want` elements (a broken contract between layers,
/// checked so that the loops below never index out of bounds).
pub fn check_len(t: &Tensor, want: usize, layer: &str, what: &str) -> Result<()> {
    if t.elem_count() != want {
        return Err(crate::error::Error::invalid(
            "net",
            format!(
                "internal: {layer} got {what} of shape {:?} ({} values, expected {want})",
                t.dims(),
                t.elem_count()
            ),
        ));
    }
    Ok(())
}

/// A CPU tensor of `shape` owning `v`.
pub fn tensor(v: Vec<f64>, shape: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// `2` for a square pair, `(2, 3)` otherwise (how PyTorch prints a size
/// given as an int or a tuple).
pub fn pair_str([a, b]: [usize; 2]) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("({a}, {b})")
    }
}

/// The window geometry of a pooling layer (no padding) over each
/// `(h, w)` plane of an input sample `[c, h, w]`, or `(expected, got)`.
pub fn pool_geom(
    kernel: [usize; 2],
    stride: [usize; 2],
    input: &[usize],
) -> std::result::Result<Geom, (String, String)> {
    let &[_, h, w] = input else {
        return Err((
            "an input of shape [c, h, w]".into(),
            format!("shape {input:?}"),
        ));
    };
    if kernel.contains(&0) || stride.contains(&0) {
        return Err((
            "a kernel size and stride of at least 1".into(),
            format!("kernel_size={kernel:?}, stride={stride:?}"),
        ));
    }
    Geom::new([1, h, w], kernel, stride, [0, 0]).ok_or_else(|| {
        (
            format!("an input of at least {}×{}", kernel[0], kernel[1]),
            format!("shape {input:?}"),
        )
    })
}

/// The geometry of a layer's input batch `x` `(N, *sample)` from its
/// `out_shape`-style check, as a `net` shape error naming the layer.
pub fn batch_geom(
    what: &str,
    x: &Tensor,
    check: impl FnOnce(&[usize]) -> std::result::Result<Geom, (String, String)>,
) -> Result<Geom> {
    let dims = x.dims();
    let sample = dims.get(1..).unwrap_or(&[]);
    check(sample).map_err(|(expected, got)| {
        crate::error::Error::shape("net", format!("{what} to get {expected}"), got)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Naive unfold of `m` samples into `(K, m·P)`, for reference.
    fn naive_unfold(x: &[f64], m: usize, geo: &Geom) -> Vec<f64> {
        let (k, p) = (geo.k(), geo.p());
        let mut out = vec![0.0; k * m * p];
        for n in 0..m {
            for c in 0..geo.c {
                for i in 0..geo.kh {
                    for j in 0..geo.kw {
                        let row = (c * geo.kh + i) * geo.kw + j;
                        for oh in 0..geo.ho {
                            for ow in 0..geo.wo {
                                let y = (oh * geo.sh + i) as isize - geo.ph as isize;
                                let xx = (ow * geo.sw + j) as isize - geo.pw as isize;
                                let inside = y >= 0
                                    && xx >= 0
                                    && (y as usize) < geo.h
                                    && (xx as usize) < geo.w;
                                out[row * m * p + n * p + oh * geo.wo + ow] = if inside {
                                    x[n * geo.plane()
                                        + (c * geo.h + y as usize) * geo.w
                                        + xx as usize]
                                } else {
                                    0.0
                                };
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn unfold_matches_naive_and_fold_is_its_adjoint() {
        let mut r = Rng::new(1);
        let cases = [
            ([2, 5, 6], [3, 2], [1, 1], [0, 0]),
            ([1, 7, 5], [3, 3], [2, 2], [1, 1]),
            ([3, 4, 4], [2, 3], [2, 1], [2, 1]),
            ([1, 3, 3], [5, 5], [1, 3], [1, 1]),
            ([2, 6, 7], [1, 1], [3, 2], [0, 2]),
        ];
        for (shape, k, s, p) in cases {
            let geo = Geom::new(shape, k, s, p).unwrap();
            for m in [1, 3] {
                let x: Vec<f64> = (0..m * geo.plane()).map(|_| r.normal()).collect();
                let mut cols = vec![f64::NAN; geo.k() * m * geo.p()];
                unfold_block(&x, m, &geo, &mut cols);
                assert_eq!(cols, naive_unfold(&x, m, &geo), "{geo:?}");
                // <unfold(x), c> = <x, fold(c)>.
                let c: Vec<f64> = (0..cols.len()).map(|_| r.normal()).collect();
                let mut f = vec![0.0; x.len()];
                fold_block(&c, m, &geo, &mut f);
                let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
                let rhs: f64 = x.iter().zip(&f).map(|(a, b)| a * b).sum();
                assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0), "{geo:?}");
            }
        }
    }

    #[test]
    fn geometry_refuses_what_does_not_fit() {
        assert!(Geom::new([1, 4, 4], [5, 5], [1, 1], [0, 0]).is_none());
        assert!(Geom::new([1, 4, 4], [5, 5], [1, 1], [1, 1]).is_some());
        assert!(Geom::new([1, 4, 4], [0, 1], [1, 1], [0, 0]).is_none());
        assert!(Geom::new([1, 4, 4], [1, 1], [1, 0], [0, 0]).is_none());
        let g = Geom::new([1, 28, 28], [5, 5], [2, 3], [1, 0]).unwrap();
        assert_eq!((g.ho, g.wo), ((28 + 2 - 5) / 2 + 1, (28 - 5) / 3 + 1));
    }

    #[test]
    fn layout_changes_are_inverse_and_add_bias() {
        let (c, a, p) = (3, 4, 5);
        let src: Vec<f64> = (0..c * a * p).map(|i| i as f64).collect();
        let mut cm = vec![0.0; src.len()];
        to_cm(&src, c, a, p, &mut cm);
        for s in 0..c {
            for ai in 0..a {
                for q in 0..p {
                    assert_eq!(cm[ai * c * p + s * p + q], src[(s * a + ai) * p + q]);
                }
            }
        }
        let bias: Vec<f64> = (0..a).map(|i| 100.0 * i as f64).collect();
        let mut back = vec![1.0; src.len()];
        from_cm(&cm, c, a, p, Some(&bias), &mut back, true);
        for (i, v) in back.iter().enumerate() {
            assert_eq!(*v, 1.0 + src[i] + bias[(i / p) % a]);
        }
        let mut plain = vec![7.0; src.len()];
        from_cm(&cm, c, a, p, None, &mut plain, false);
        assert_eq!(plain, src);
    }

    #[test]
    fn strided_views_and_transposes_are_row_major() {
        // Columns 1..3 of a 2 × 4 row-major matrix += [1 2; 3 4] · I.
        let mut m = vec![0.0; 8];
        let a = [1.0, 2.0, 3.0, 4.0];
        let eye = [1.0, 0.0, 0.0, 1.0];
        gemm(
            mat_strided(&mut m[1..], 2, 2, 4),
            true,
            mat(&a, 2, 2),
            mat(&eye, 2, 2),
        );
        assert_eq!(m, vec![0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0]);
        assert_eq!(
            transposed(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        assert_eq!(
            sum_partials(vec![vec![1.0, 2.0], vec![3.0, 4.0]], 2),
            vec![4.0, 6.0]
        );
    }

    #[test]
    fn blocking_is_bounded_and_splits_cover_the_buffer() {
        let (nb, unit) = blocking(1000, 25 * 576, 100);
        assert!(nb >= 1 && unit % nb == 0 && nb * 25 * 576 <= BLOCK_VALUES.max(25 * 576));
        let (_, unit) = blocking(1000, 100, 1 << 20);
        assert!(1000usize.div_ceil(unit) * (1 << 20) <= 2 * PARTIAL_VALUES);
        let mut buf: Vec<f64> = (0..2 * 7 * 3).map(|i| i as f64).collect();
        let units = split_units(&mut buf, 2, 7, 3, 4);
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].len(), 2);
        assert_eq!(units[0][1][0], 21.0);
        assert_eq!(units[1][0].len(), 9);
        assert_eq!(units[1][1][0], 21.0 + 12.0);
    }
}

/// Shared checks of the conv and pooling layers' tests: a network's loss,
/// gradient and curvature products against finite differences.
#[cfg(test)]
pub mod testing {
    use crate::data::{Dataset, Targets};
    use crate::mat::{self, Mat};
    use crate::model::flatten::Flatten;
    use crate::model::layer::{numel, Layer};
    use crate::model::linear::Linear;
    use crate::model::pointwise::Pointwise;
    use crate::model::tanh::Tanh;
    use crate::model::{Init, LossKind, NetOpts, Network};
    use crate::rng::Rng;
    use std::sync::Arc;

    /// `n` samples of `shape` with N(0, 1) values and labels `i mod k`.
    pub fn data(n: usize, shape: &[usize], k: usize, seed: u64) -> Dataset {
        let mut r = Rng::new(seed);
        let x = Mat::from_fn(n, numel(shape), |_, _| r.normal());
        let y = (0..n).map(|i| i % k).collect();
        Dataset::new(x, Targets::Labels { y, classes: k })
            .unwrap()
            .with_shape(shape)
            .unwrap()
    }

    /// A network of `layers` on samples of `input`, N(0, 0.5²) parameters.
    pub fn net(layers: Vec<Arc<dyn Layer>>, input: &[usize], loss: LossKind, seed: u64) -> Network {
        Network::new(
            layers,
            &NetOpts {
                loss,
                init: Init::Normal { std: 0.5 },
                seed,
                input: Some(input.to_vec()),
            },
        )
        .unwrap()
    }

    /// `Linear(i, o)` with a bias.
    /// A stride-1 biased `Conv2d(i, o, k)` with `padding`.
    pub fn conv(i: usize, o: usize, k: [usize; 2], padding: [usize; 2]) -> Arc<dyn Layer> {
        Arc::new(crate::model::conv2d::Conv2d {
            in_ch: i,
            out_ch: o,
            kernel: k,
            stride: [1, 1],
            padding,
            bias: true,
        })
    }

    pub fn lin(i: usize, o: usize) -> Arc<dyn Layer> {
        Arc::new(Linear {
            fan_in: i,
            fan_out: o,
            bias: true,
        })
    }

    /// `Tanh()`.
    pub fn tanh() -> Arc<dyn Layer> {
        Arc::new(Pointwise(Tanh))
    }

    /// `Flatten()`.
    pub fn flat() -> Arc<dyn Layer> {
        Arc::new(Flatten)
    }

    /// The gradient against central differences of the loss.
    pub fn check_gradient(m: &Network, d: &Dataset) {
        let (l0, g) = m.loss_grad(d).unwrap();
        assert!((l0 - m.loss(d).unwrap()).abs() < 1e-14);
        let h = 1e-6;
        let mut mp = m.clone();
        for i in 0..m.num_params() {
            let mut p = m.params().to_vec();
            p[i] += h;
            mp.set_params(&p).unwrap();
            let lp = mp.loss(d).unwrap();
            p[i] -= 2.0 * h;
            mp.set_params(&p).unwrap();
            let lm = mp.loss(d).unwrap();
            let fd = (lp - lm) / (2.0 * h);
            let err = (fd - g[i]).abs() / g[i].abs().max(1e-3);
            assert!(
                err < 1e-6,
                "{:?} param {i}: fd {fd} vs {}",
                m.table(None),
                g[i]
            );
        }
    }

    /// Hessian–vector products (a block of 3) against central differences
    /// of the gradient, and the one-shot product against the block's.
    pub fn check_hvp(m: &Network, d: &Dataset) {
        let p = m.num_params();
        let mut r = Rng::new(5);
        let vs = Mat::from_fn(3, p, |_, _| r.normal());
        let batch = m.batch("test", d).unwrap();
        let hv = m.curvature_block(&batch, &vs, false).unwrap();
        for j in 0..3 {
            let v = vs.row(j);
            let eps = 1e-5;
            let plus: Vec<f64> = m.params().iter().zip(v).map(|(a, b)| a + eps * b).collect();
            let minus: Vec<f64> = m.params().iter().zip(v).map(|(a, b)| a - eps * b).collect();
            let (_, gp) = m.loss_grad_batch(&batch, &plus).unwrap();
            let (_, gm) = m.loss_grad_batch(&batch, &minus).unwrap();
            let fd: Vec<f64> = gp
                .iter()
                .zip(&gm)
                .map(|(a, b)| (a - b) / (2.0 * eps))
                .collect();
            let num = fd
                .iter()
                .zip(hv.row(j))
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            let den = mat::norm(&fd).max(1e-8);
            assert!(
                num / den < 1e-6,
                "{:?}: rel err {}",
                m.table(None),
                num / den
            );
            let once = m.clone().hvp_once(d, &batch, v).unwrap();
            let scale = mat::norm(hv.row(j)).max(1e-300);
            for (a, b) in once.iter().zip(hv.row(j)) {
                assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b}");
            }
        }
    }

    /// The full Gauss–Newton matrix is symmetric PSD, the Hessian symmetric,
    /// and both are the same when the batch is cut into blocks of one sample.
    pub fn check_blocks(m: &Network, d: &Dataset) {
        let p = m.num_params();
        let batch = m.batch("test", d).unwrap();
        let eye = Mat::identity(p);
        let g = m.curvature_block(&batch, &eye, true).unwrap();
        assert!(
            g.asymmetry() < 1e-12 * g.max_abs().max(1.0),
            "{}",
            g.asymmetry()
        );
        let mut r = Rng::new(9);
        for _ in 0..5 {
            let v: Vec<f64> = (0..p).map(|_| r.normal()).collect();
            let gv = g.matvec(&v).unwrap();
            assert!(mat::dot(&v, &gv) >= -1e-12 * mat::dot(&v, &v) * g.max_abs().max(1.0));
        }
        let h = m.curvature_block(&batch, &eye, false).unwrap();
        assert!(
            h.asymmetry() < 1e-10 * h.max_abs().max(1.0),
            "{}",
            h.asymmetry()
        );
        // The same with blocks of one sample, two blocks a unit.
        super::TEST_BLOCKING.with(|c| c.set(Some((1, 2))));
        let h1 = m.curvature_block(&batch, &eye, false).unwrap();
        let g1 = m.curvature_block(&batch, &eye, true).unwrap();
        super::TEST_BLOCKING.with(|c| c.set(None));
        let diff = |a: &Mat, b: &Mat| {
            a.data()
                .iter()
                .zip(b.data())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max)
        };
        assert!(diff(&h, &h1) <= 1e-12 * h.max_abs().max(1.0));
        assert!(diff(&g, &g1) <= 1e-12 * g.max_abs().max(1.0));
    }

    /// Every check on `m` with `d`.
    pub fn check_all(m: &Network, d: &Dataset) {
        check_gradient(m, d);
        check_hvp(m, d);
        check_blocks(m, d);
    }
}
