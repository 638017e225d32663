//! Kernels on a tensor's own f64 storage for the R-pass's hot paths on
//! the CPU. Matrix products: `C = A·B` into fresh storage that is not zeroed first,
//! and `C += A·B` in place, on strided views (transposes and per-direction
//! blocks are views, never copies). candle 0.11 would zero every output,
//! follow each sum of two products with an elementwise add over a third
//! tensor, and copy where a factor is a transposed block. The products are
//! the gemm crate's (candle's own CPU kernels), on every core through
//! rayon; each output element is computed by one thread in a fixed order,
//! so results do not depend on the thread count.
//!
//! And the elementwise products of an activation's R-pass in one pass
//! (`r ⊙ σ' + s ⊙ dy σ''`, every direction against the same forward
//! values) where candle would broadcast, multiply and add in three.
//!
//! Only tensors on the CPU in f64 are read here; callers keep candle's
//! tensor path for other devices ([`on_cpu`]).

use crate::error::{Error, Result};
use candle_core::{CpuStorage, Device, Storage, Tensor};

/// Products below this many multiply-adds run on the calling thread: the
/// threads' hand-over costs more than they save (a 1000 × 256 by 256 × 10
/// product is 2.6 M). Products called from a rayon worker (the curvature
/// state's row blocks run on the cores at once) run on that worker alone.
const PAR_FMAS: usize = 4 << 20;

/// Whether `t` is an f64 tensor on the CPU (the kernels here apply).
/// Tests can turn the kernels off ([`CANDLE_PATH`]) to compare them with
/// candle's tensor path.
pub(crate) fn on_cpu(t: &Tensor) -> bool {
    #[cfg(test)]
    if CANDLE_PATH.with(|c| c.get()) {
        return false;
    }
    matches!(t.device(), Device::Cpu) && t.dtype() == candle_core::DType::F64
}

#[cfg(test)]
thread_local! {
    /// Set by tests to run the R-pass on candle tensors on the CPU too.
    pub(crate) static CANDLE_PATH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A strided 2-D view of f64 values: element (i, j) at
/// `off + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    data: &'a [f64],
    off: usize,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    /// The row-major `rows × cols` matrix at the start of `data`.
    pub fn new(data: &'a [f64], rows: usize, cols: usize) -> Result<View<'a>> {
        View {
            data,
            off: 0,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
        .checked()
    }

    fn checked(self) -> Result<View<'a>> {
        let last = if self.rows == 0 || self.cols == 0 {
            self.off
        } else {
            self.off + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        };
        if last > self.data.len() {
            return Err(Error::invalid(
                "hvp",
                format!(
                    "internal: a {}×{} view needs {last} values, the storage has {}",
                    self.rows,
                    self.cols,
                    self.data.len()
                ),
            ));
        }
        Ok(self)
    }

    /// The transpose (a view).
    pub fn t(self) -> View<'a> {
        View {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Rows `r0 .. r0 + n` (a view).
    pub fn rows(self, r0: usize, n: usize) -> Result<View<'a>> {
        View {
            off: self.off + r0 * self.rs,
            rows: n,
            ..self
        }
        .checked()
    }

    /// Block `j` of `n` rows: rows `j·n .. (j+1)·n`.
    pub fn block(self, j: usize, n: usize) -> Result<View<'a>> {
        self.rows(j * n, n)
    }

    /// The values of a contiguous row-major view.
    pub fn values(&self) -> Result<&'a [f64]> {
        if self.rs != self.cols || self.cs != 1 {
            return Err(Error::invalid(
                "hvp",
                "internal: elementwise kernels need contiguous values",
            ));
        }
        Ok(&self.data[self.off..self.off + self.rows * self.cols])
    }

    /// Column sums, added into `out` (length `cols`).
    pub fn add_col_sums(&self, out: &mut [f64]) {
        for i in 0..self.rows {
            let r = self.off + i * self.rs;
            for (j, o) in out.iter_mut().enumerate().take(self.cols) {
                *o += self.data[r + j * self.cs];
            }
        }
    }
}

/// A fresh row-major output matrix, filled by rows in order: a product
/// that writes (rather than adds) must start at the first row not yet
/// written, and one that adds may only touch written rows — so no row is
/// read before it is written and the storage is never zeroed first.
pub(crate) struct Out {
    /// The rows written so far (`len = written rows × cols`).
    data: Vec<f64>,
    rows: usize,
    cols: usize,
}

impl Out {
    /// `rows × cols`, nothing written yet.
    pub fn new(rows: usize, cols: usize) -> Out {
        Out {
            data: Vec::with_capacity(rows * cols),
            rows,
            cols,
        }
    }

    /// Rows written so far.
    fn written(&self) -> usize {
        self.data.len().checked_div(self.cols).unwrap_or(self.rows)
    }

    /// `C[r0 .. r0 + a.rows, ..] = a · b` (`add = false`: `r0` must be the
    /// first row not yet written) or `+= a · b` (`add`: rows already
    /// written).
    pub fn gemm(&mut self, r0: usize, a: View<'_>, b: View<'_>, add: bool) -> Result<()> {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let written = self.written();
        let rows_ok = if add {
            r0 + m <= written
        } else {
            r0 == written && r0 + m <= self.rows
        };
        if b.rows != k || n != self.cols || !rows_ok {
            return Err(Error::invalid(
                "hvp",
                format!(
                    "internal: product of {m}×{k} and {}×{n} into rows {r0}.. of {}×{} \
                     ({written} rows written, add {add})",
                    b.rows, self.rows, self.cols
                ),
            ));
        }
        if m == 0 || n == 0 {
            return Ok(());
        }
        if k == 0 {
            if !add {
                self.data.resize((r0 + m) * n, 0.0);
            }
            return Ok(());
        }
        let par = if m * n * k >= PAR_FMAS && rayon::current_thread_index().is_none() {
            gemm::Parallelism::Rayon(rayon::current_num_threads())
        } else {
            gemm::Parallelism::None
        };
        let dst: *mut f64 = if add {
            self.data[r0 * n..(r0 + m) * n].as_mut_ptr()
        } else {
            // The m × n values after the written rows: reserved capacity.
            self.data.spare_capacity_mut()[..m * n].as_mut_ptr().cast()
        };
        // SAFETY: both views were bounds-checked on construction (every
        // element (i, j) lies inside its slice); `dst` points at m × n
        // row-major values inside this matrix's own storage (written rows
        // when adding, reserved capacity otherwise), which does not alias
        // the inputs (borrowed immutably from tensors). With `read_dst`
        // false the product writes every one of the m × n values without
        // reading them, so the new rows are initialised before `set_len`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                n as isize,
                add,
                a.data.as_ptr().add(a.off),
                a.cs as isize,
                a.rs as isize,
                b.data.as_ptr().add(b.off),
                b.cs as isize,
                b.rs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            );
            if !add {
                self.data.set_len((r0 + m) * n);
            }
        }
        Ok(())
    }

    /// Adds `bias` (length `cols`) to every row of the written rows
    /// `r0 .. r0 + n`.
    pub fn add_rows(&mut self, r0: usize, n: usize, bias: &[f64]) {
        let c = self.cols;
        let end = ((r0 + n) * c).min(self.data.len());
        for row in self.data[(r0 * c).min(end)..end].chunks_exact_mut(c) {
            for (x, b) in row.iter_mut().zip(bias) {
                *x += b;
            }
        }
    }

    /// The values, as a tensor of `shape` (same element count); every row
    /// must have been written.
    pub fn tensor(self, shape: &[usize]) -> Result<Tensor> {
        if self.written() != self.rows {
            return Err(Error::invalid(
                "hvp",
                format!("internal: {} of {} rows written", self.written(), self.rows),
            ));
        }
        Ok(Tensor::from_vec(self.data, shape, &Device::Cpu)?)
    }
}

/// Runs `f` on row-major views of `ts` (each made contiguous first if it
/// is not), each as `(elements / last dim) × last dim`.
pub(crate) fn with_views<R>(ts: &[&Tensor], f: impl FnOnce(&[View<'_>]) -> Result<R>) -> Result<R> {
    let owned: Vec<Tensor> = ts
        .iter()
        .map(|t| t.contiguous())
        .collect::<std::result::Result<_, _>>()?;
    let guards: Vec<_> = owned.iter().map(|t| t.storage_and_layout()).collect();
    let mut views = Vec::with_capacity(guards.len());
    for (t, (st, layout)) in owned.iter().zip(&guards) {
        let data: &[f64] = match &**st {
            Storage::Cpu(CpuStorage::F64(v)) => v,
            _ => {
                return Err(Error::invalid(
                    "hvp",
                    "internal: the CPU kernels need f64 tensors on the CPU",
                ))
            }
        };
        let cols = t.dims().last().copied().unwrap_or(1);
        let rows = t.elem_count().checked_div(cols).unwrap_or(0);
        let start = layout.start_offset();
        let end = start + t.elem_count();
        if end > data.len() {
            return Err(Error::invalid(
                "hvp",
                "internal: a tensor's layout runs past its storage",
            ));
        }
        views.push(View::new(&data[start..end], rows, cols)?);
    }
    f(&views)
}

/// `r ⊙ f`, plus `s ⊙ g` when given, for R-tensors `r`, `s` (b·N, …)
/// and forward tensors `f`, `g` (N, …): every direction's block against
/// the same forward values; the result has `r`'s shape.
pub(crate) fn rmul_add(
    r: &Tensor,
    f: &Tensor,
    extra: Option<(&Tensor, &Tensor)>,
    b: usize,
) -> Result<Tensor> {
    let mut ts = vec![r, f];
    if let Some((s, g)) = extra {
        ts.extend([s, g]);
    }
    let per = f.elem_count();
    if r.elem_count() != b * per
        || extra.is_some_and(|(s, g)| s.elem_count() != b * per || g.elem_count() != per)
    {
        return Err(Error::invalid(
            "hvp",
            format!(
                "internal: R-tensor of {} values for {b} directions of {per}",
                r.elem_count()
            ),
        ));
    }
    let out = with_views(&ts, |vs| {
        let (rv, fv) = (vs[0].values()?, vs[1].values()?);
        let mut out = Vec::with_capacity(b * per);
        match vs.get(2..4) {
            Some([sv, gv]) => {
                let (sv, gv) = (sv.values()?, gv.values()?);
                for j in 0..b {
                    let (rj, sj) = (&rv[j * per..(j + 1) * per], &sv[j * per..(j + 1) * per]);
                    out.extend(
                        rj.iter()
                            .zip(fv)
                            .zip(sj.iter().zip(gv))
                            .map(|((x, y), (z, w))| x * y + z * w),
                    );
                }
            }
            _ => {
                for rj in rv.chunks_exact(per.max(1)).take(b) {
                    out.extend(rj.iter().zip(fv).map(|(x, y)| x * y));
                }
            }
        }
        Ok(out)
    })?;
    Ok(Tensor::from_vec(out, r.shape(), &Device::Cpu)?)
}

/// The view `v` reshaped to `rows × cols` (same element count, row-major).
pub(crate) fn reshape<'a>(v: View<'a>, rows: usize, cols: usize) -> Result<View<'a>> {
    if v.rs != v.cols || v.cs != 1 || rows * cols != v.rows * v.cols {
        return Err(Error::invalid(
            "hvp",
            format!(
                "internal: cannot view a {}×{} block as {rows}×{cols}",
                v.rows, v.cols
            ),
        ));
    }
    View {
        rows,
        cols,
        rs: cols,
        ..v
    }
    .checked()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn products_on_views_equal_the_plain_loop() {
        // Large enough to run threaded, and a small one on one thread;
        // transposed factors and row blocks as views.
        for &(m, k, n) in &[(3, 4, 5), (300, 200, 100), (1000, 256, 10)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 5) % 11) as f64 - 5.0).collect();
            let want = naive(&a, &b, m, k, n);
            let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let mut c = Out::new(2 * m, n);
            let va = View::new(&at, k, m).unwrap().t();
            let vb = View::new(&b, k, n).unwrap();
            // Rows must be written in order before they are added to.
            assert!(c.gemm(m, va, vb, false).is_err());
            assert!(c.gemm(0, va, vb, true).is_err());
            c.gemm(0, va, vb, false).unwrap();
            c.gemm(0, va, vb, true).unwrap();
            assert!(Out::new(2 * m, n).tensor(&[2 * m, n]).is_err());
            c.gemm(m, View::new(&a, m, k).unwrap(), vb, false).unwrap();
            let t = c.tensor(&[2 * m, n]).unwrap().flatten_all().unwrap();
            let got = t.to_vec1::<f64>().unwrap();
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(got[i * n + j], 2.0 * want[i * n + j]);
                    assert_eq!(got[(m + i) * n + j], want[i * n + j]);
                }
            }
        }
    }

    #[test]
    fn out_of_bounds_views_and_shapes_are_errors() {
        let d = vec![0.0; 6];
        assert!(View::new(&d, 2, 4).is_err());
        let v = View::new(&d, 2, 3).unwrap();
        assert!(v.rows(1, 2).is_err());
        assert!(reshape(v, 3, 2).is_ok());
        assert!(reshape(v.t(), 3, 2).is_err());
        let mut c = Out::new(2, 2);
        assert!(c.gemm(0, v, v, false).is_err());
    }
}
