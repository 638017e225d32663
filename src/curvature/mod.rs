//! Curvature: exact Hessian-vector products, dense Hessians and Gauss–Newton
//! matrices, and the iterative spectral algorithms that only need "multiply by
//! the matrix": Lanczos, stochastic Lanczos quadrature, Hutchinson.
//!
//! The algorithms see a symmetric linear map `A: ℝⁿ → ℝⁿ` only through the
//! [`SymOp`] trait — `dim()` and `apply(v) = A·v` — so the same code runs on a
//! dense [`Mat`], on a closure ([`FnOp`]) and on exact Hessian-vector products
//! of a network. [`Counted`] counts the products an algorithm asked for.
//!
//! ```
//! use hlab::curvature::{Counted, SymOp};
//! use hlab::mat::Mat;
//! let a = Mat::from_rows(&[vec![2.0, 1.0], vec![1.0, 3.0]]).unwrap();
//! let mut op = Counted::new(a);
//! let mut out = vec![0.0; 2];
//! op.apply(&[1.0, 0.0], &mut out).unwrap();
//! assert_eq!(out, vec![2.0, 1.0]);
//! assert_eq!(op.matvecs(), 1);
//! ```

pub mod gram;
pub mod hessian;
pub mod lanczos;
pub mod slq;
pub mod trace;

use crate::error::{Error, Result};
use crate::mat::Mat;

/// A symmetric linear operator `A: ℝⁿ → ℝⁿ`, known only by its products.
///
/// Implementations must be (numerically) symmetric: `uᵀ(A v) = (A u)ᵀ v`.
/// `apply` takes `&mut self` so an implementation may keep scratch buffers
/// or counters.
pub trait SymOp {
    /// The dimension `n`.
    fn dim(&self) -> usize;

    /// `out ← A·v`; `v` and `out` have length `dim()`.
    fn apply(&mut self, v: &[f64], out: &mut [f64]) -> Result<()>;

    /// `A·V` for a block of vectors: `vs` is `dim × b`, its columns are the
    /// vectors; the result is `dim × b`. The default applies [`SymOp::apply`]
    /// to each column; implementations with a faster batched product
    /// override it.
    fn apply_block(&mut self, vs: &Mat) -> Result<Mat> {
        let n = self.dim();
        if vs.rows() != n {
            return Err(Error::shape(
                "apply_block",
                format!("a block with {n} rows (the operator's dimension)"),
                format!("{}×{}", vs.rows(), vs.cols()),
            ));
        }
        let b = vs.cols();
        let mut out = Mat::zeros(n, b);
        let mut y = vec![0.0; n];
        for j in 0..b {
            let v = vs.col(j);
            self.apply(&v, &mut y)?;
            for (i, yi) in y.iter().enumerate() {
                out.set(i, j, *yi);
            }
        }
        Ok(out)
    }
}

impl<T: SymOp + ?Sized> SymOp for &mut T {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn apply(&mut self, v: &[f64], out: &mut [f64]) -> Result<()> {
        (**self).apply(v, out)
    }
    fn apply_block(&mut self, vs: &Mat) -> Result<Mat> {
        (**self).apply_block(vs)
    }
}

/// `out ← A·v` for a dense matrix, checking that `A` is square and the
/// lengths match.
fn mat_apply(a: &Mat, v: &[f64], out: &mut [f64]) -> Result<()> {
    a.require_square("matrix operator")?;
    let n = a.rows();
    if v.len() != n || out.len() != n {
        return Err(Error::shape(
            "matrix operator",
            format!("vectors of length {n}"),
            format!("input {} and output {}", v.len(), out.len()),
        ));
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = crate::mat::dot(a.row(i), v);
    }
    Ok(())
}

/// A dense matrix as an operator. It must be square (checked on every
/// product); symmetry is the caller's promise.
impl SymOp for Mat {
    fn dim(&self) -> usize {
        self.rows()
    }
    fn apply(&mut self, v: &[f64], out: &mut [f64]) -> Result<()> {
        mat_apply(self, v, out)
    }
    fn apply_block(&mut self, vs: &Mat) -> Result<Mat> {
        self.require_square("matrix operator")?;
        self.matmul(vs)
    }
}

/// A borrowed dense matrix as an operator (no copy).
impl SymOp for &Mat {
    fn dim(&self) -> usize {
        self.rows()
    }
    fn apply(&mut self, v: &[f64], out: &mut [f64]) -> Result<()> {
        mat_apply(self, v, out)
    }
    fn apply_block(&mut self, vs: &Mat) -> Result<Mat> {
        self.require_square("matrix operator")?;
        self.matmul(vs)
    }
}

/// An operator given by a closure `f(v, out)` that writes `A·v` into `out`.
pub struct FnOp<F> {
    dim: usize,
    f: F,
}

impl<F: FnMut(&[f64], &mut [f64]) -> Result<()>> FnOp<F> {
    /// The operator of dimension `dim` whose product is `f`.
    pub fn new(dim: usize, f: F) -> Self {
        FnOp { dim, f }
    }
}

impl<F: FnMut(&[f64], &mut [f64]) -> Result<()>> SymOp for FnOp<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&mut self, v: &[f64], out: &mut [f64]) -> Result<()> {
        if v.len() != self.dim || out.len() != self.dim {
            return Err(Error::shape(
                "operator",
                format!("vectors of length {}", self.dim),
                format!("input {} and output {}", v.len(), out.len()),
            ));
        }
        (self.f)(v, out)
    }
}

/// Wraps an operator and counts matrix-vector products (a block of `b`
/// vectors counts `b`).
pub struct Counted<O> {
    inner: O,
    count: usize,
}

impl<O: SymOp> Counted<O> {
    /// Wraps `inner` with a zero count.
    pub fn new(inner: O) -> Self {
        Counted { inner, count: 0 }
    }

    /// Products so far.
    pub fn matvecs(&self) -> usize {
        self.count
    }

    /// The wrapped operator.
    pub fn into_inner(self) -> O {
        self.inner
    }
}

impl<O: SymOp> SymOp for Counted<O> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn apply(&mut self, v: &[f64], out: &mut [f64]) -> Result<()> {
        self.count += 1;
        self.inner.apply(v, out)
    }
    fn apply_block(&mut self, vs: &Mat) -> Result<Mat> {
        self.count += vs.cols();
        self.inner.apply_block(vs)
    }
}

/// Errors unless every entry of `v` is finite — the operator produced NaN
/// or infinity (`op`: the algorithm that noticed).
pub(crate) fn require_finite(op: &'static str, v: &[f64]) -> Result<()> {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(
            op,
            format!(
                "expected finite matrix-vector products, got {} at index {i}",
                v[i]
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mat_fn_and_counted_agree() {
        let a = Mat::from_rows(&[
            vec![2.0, 1.0, 0.0],
            vec![1.0, 3.0, 1.0],
            vec![0.0, 1.0, 4.0],
        ])
        .unwrap();
        let a2 = a.clone();
        let mut f = Counted::new(FnOp::new(3, move |v: &[f64], out: &mut [f64]| {
            out.copy_from_slice(&a2.matvec(v)?);
            Ok(())
        }));
        let vs = Mat::from_fn(3, 2, |i, j| (i + 2 * j) as f64 - 1.0);
        let want = a.matmul(&vs).unwrap();
        assert_eq!(f.apply_block(&vs).unwrap(), want);
        assert_eq!(f.matvecs(), 2);
        let mut m = a.clone();
        assert_eq!(m.apply_block(&vs).unwrap(), want);
        let mut out = vec![0.0; 3];
        (&a).apply(&[1.0, 1.0, 1.0], &mut out).unwrap();
        assert_eq!(out, vec![3.0, 5.0, 5.0]);
        assert!(f.apply(&[1.0], &mut out).is_err());
        assert!(f.apply_block(&Mat::zeros(2, 1)).is_err());
    }

    #[test]
    fn non_square_matrix_is_an_error() {
        let mut m = Mat::zeros(2, 3);
        let mut out = vec![0.0; 2];
        let e = m.apply(&[1.0, 2.0], &mut out).unwrap_err().to_string();
        assert!(e.contains("square") && e.contains("2×3"), "{e}");
        assert!(require_finite("x", &[1.0, f64::NAN]).is_err());
    }
}
