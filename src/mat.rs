//! `Mat`: a dense, row-major f64 matrix — the value behind the script type
//! `Matrix` — and the small vector helpers (`dot`, `axpy`, `norm`) that the
//! iterative algorithms share.

use crate::error::{human_bytes, Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// Dense row-major f64 matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Mat {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Mat {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Mat {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// The `n × n` identity.
    pub fn identity(n: usize) -> Self {
        let mut m = Mat::zeros(n, n);
        for i in 0..n {
            m.data[i * n + i] = 1.0;
        }
        m
    }

    /// From row-major data; `data.len()` must be `rows * cols`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::shape(
                "matrix",
                format!("{} values for {rows}×{cols}", rows * cols),
                format!("{}", data.len()),
            ));
        }
        Ok(Mat { rows, cols, data })
    }

    /// From rows of equal length.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self> {
        let r = rows.len();
        let c = rows.first().map_or(0, |x| x.len());
        let mut data = Vec::with_capacity(r * c);
        for (i, row) in rows.iter().enumerate() {
            if row.len() != c {
                return Err(Error::shape(
                    "matrix",
                    format!("every row of length {c}"),
                    format!("row {i} of length {}", row.len()),
                ));
            }
            data.extend_from_slice(row);
        }
        Ok(Mat {
            rows: r,
            cols: c,
            data,
        })
    }

    /// A matrix whose entry (i, j) is `f(i, j)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Mat { rows, cols, data }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Row-major data.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// Mutable row-major data.
    pub fn data_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// The row-major data, by value.
    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }

    /// Entry (i, j); panics out of range (callers check).
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    /// Sets entry (i, j).
    #[inline]
    pub fn set(&mut self, i: usize, j: usize, v: f64) {
        self.data[i * self.cols + j] = v;
    }

    /// Entry (i, j), or an error naming the shape.
    pub fn get(&self, i: usize, j: usize) -> Result<f64> {
        if i >= self.rows || j >= self.cols {
            return Err(Error::shape(
                "matrix index",
                format!("row < {} and column < {}", self.rows, self.cols),
                format!("({i}, {j})"),
            ));
        }
        Ok(self.at(i, j))
    }

    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Column `j`, copied.
    pub fn col(&self, j: usize) -> Vec<f64> {
        (0..self.rows).map(|i| self.at(i, j)).collect()
    }

    /// The transpose.
    pub fn transpose(&self) -> Mat {
        Mat::from_fn(self.cols, self.rows, |i, j| self.at(j, i))
    }

    /// Sum of the diagonal (square matrices).
    pub fn trace(&self) -> Result<f64> {
        self.require_square("trace")?;
        Ok((0..self.rows).map(|i| self.at(i, i)).sum())
    }

    /// Errors unless square.
    pub fn require_square(&self, op: &'static str) -> Result<()> {
        if self.rows != self.cols {
            return Err(Error::shape(
                op,
                "a square matrix",
                format!("{}×{}", self.rows, self.cols),
            ));
        }
        Ok(())
    }

    /// `self + other` (`sign` = 1) or `self - other` (`sign` = −1).
    pub fn add_scaled(&self, other: &Mat, sign: f64, op: &'static str) -> Result<Mat> {
        if self.shape() != other.shape() {
            return Err(Error::shape(
                op,
                format!(
                    "two matrices of the same shape ({}×{})",
                    self.rows, self.cols
                ),
                format!("{}×{}", other.rows, other.cols),
            ));
        }
        let data = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| a + sign * b)
            .collect();
        Ok(Mat {
            rows: self.rows,
            cols: self.cols,
            data,
        })
    }

    /// `s · self`.
    pub fn scale(&self, s: f64) -> Mat {
        Mat {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(|a| a * s).collect(),
        }
    }

    /// `self · v`.
    pub fn matvec(&self, v: &[f64]) -> Result<Vec<f64>> {
        if v.len() != self.cols {
            return Err(Error::shape(
                "matrix * vector",
                format!(
                    "a vector of length {} (the matrix is {}×{})",
                    self.cols, self.rows, self.cols
                ),
                format!("length {}", v.len()),
            ));
        }
        Ok((0..self.rows).map(|i| dot(self.row(i), v)).collect())
    }

    /// `self · other`.
    pub fn matmul(&self, other: &Mat) -> Result<Mat> {
        if self.cols != other.rows {
            return Err(Error::shape(
                "matrix * matrix",
                format!("{} rows in the right factor", self.cols),
                format!("{}×{}", other.rows, other.cols),
            ));
        }
        let mut out = Mat::zeros(self.rows, other.cols);
        for i in 0..self.rows {
            let orow = &mut out.data[i * other.cols..(i + 1) * other.cols];
            for k in 0..self.cols {
                let a = self.data[i * self.cols + k];
                if a != 0.0 {
                    axpy(a, other.row(k), orow);
                }
            }
        }
        Ok(out)
    }

    /// Largest |self − selfᵀ| entry (0 for a symmetric matrix).
    pub fn asymmetry(&self) -> f64 {
        let mut m: f64 = 0.0;
        for i in 0..self.rows.min(self.cols) {
            for j in 0..i {
                m = m.max((self.at(i, j) - self.at(j, i)).abs());
            }
        }
        m
    }

    /// Largest |entry|.
    pub fn max_abs(&self) -> f64 {
        self.data.iter().fold(0.0_f64, |m, x| m.max(x.abs()))
    }
}

/// The default memory budget for one piece of dense work: 16 GB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 16_000_000_000;

/// 0 = not set yet (read `HLAB_MEMORY_LIMIT` on first use).
static MEMORY_BUDGET: AtomicU64 = AtomicU64::new(0);

/// Parses a byte count: `123`, `512MB`, `1.5 GB`, `2e9` (units B, kB, MB,
/// GB, TB, powers of 1000, any case).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let x: f64 = num.trim().parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        _ => return None,
    };
    let b = x * scale;
    (1.0..1.8e19).contains(&b).then_some(b as u64)
}

thread_local! {
    static THREAD_BUDGET: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The memory budget in bytes that dense work is checked against before it
/// allocates: this thread's [`with_memory_budget`], else
/// [`set_memory_budget`], else the environment variable `HLAB_MEMORY_LIMIT`
/// (e.g. `32GB`), else [`DEFAULT_MEMORY_BUDGET`].
pub fn memory_budget() -> u64 {
    if let Some(b) = THREAD_BUDGET.with(|c| c.get()) {
        return b;
    }
    match MEMORY_BUDGET.load(Ordering::Relaxed) {
        0 => {
            let b = std::env::var("HLAB_MEMORY_LIMIT")
                .ok()
                .and_then(|v| parse_bytes(&v))
                .unwrap_or(DEFAULT_MEMORY_BUDGET);
            MEMORY_BUDGET.store(b, Ordering::Relaxed);
            b
        }
        b => b,
    }
}

/// Sets the memory budget for this process (bytes ≥ 1).
pub fn set_memory_budget(bytes: u64) {
    MEMORY_BUDGET.store(bytes.max(1), Ordering::Relaxed);
}

/// Runs `f` with a memory budget of `bytes` on this thread only (tests use
/// it to exercise the refusals without touching other threads).
pub fn with_memory_budget<R>(bytes: u64, f: impl FnOnce() -> R) -> R {
    let old = THREAD_BUDGET.with(|c| c.replace(Some(bytes.max(1))));
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_BUDGET.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(old);
    f()
}

/// Refuses at once, before anything is allocated, when `bytes` (what `op`
/// would need for `what`) exceed the [`memory_budget`]. The error says how
/// much is needed, the limit, and `hint` (what to use instead).
///
/// ```
/// let e = hlab::mat::check_memory("eye", || "a dense 1000000×1000000 matrix".into(), 8e12, "use a smaller n")
///     .unwrap_err()
///     .to_string();
/// assert!(e.starts_with("eye: needs 8.0 TB of memory"), "{e}");
/// ```
pub fn check_memory(
    op: &'static str,
    what: impl FnOnce() -> String,
    bytes: f64,
    hint: &str,
) -> Result<()> {
    let limit = memory_budget();
    if bytes.is_nan() || bytes > limit as f64 {
        return Err(Error::TooLarge {
            op,
            what: what(),
            need: human_bytes(bytes),
            limit: format!("{} (HLAB_MEMORY_LIMIT)", human_bytes(limit as f64)),
            hint: hint.to_string(),
        });
    }
    Ok(())
}

/// A seeded random symmetric `n × n` matrix with N(0, 1) entries (test and
/// benchmark input with a known distribution).
pub fn random_symmetric(n: usize, seed: u64) -> Mat {
    let mut r = crate::rng::Rng::new(seed);
    let mut a = Mat::zeros(n, n);
    for i in 0..n {
        for j in i..n {
            let x = r.normal();
            a.set(i, j, x);
            a.set(j, i, x);
        }
    }
    a
}

/// Σ aᵢ bᵢ, summed in eight interleaved partial sums (so the compiler
/// vectorises it; a single running sum is bound by the add latency) that
/// are combined in a fixed order: the same inputs give the same bits.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Work (vector length × count) above which [`project_out`] uses threads.
const PAR_WORK: usize = 1 << 18;

/// One classical Gram–Schmidt pass: `cᵢ = vᵢ · w` for every `vᵢ` in `vs`,
/// then `w ← w − Σ cᵢ vᵢ`; returns `c`. Both halves stream `vs` once and
/// run on all cores for large bases (the dots split over the vectors, the
/// update over slices of `w`), with a result independent of the thread
/// count. Call it twice (CGS2) for orthogonality to rounding.
pub fn project_out(vs: &[Vec<f64>], w: &mut [f64]) -> Vec<f64> {
    use rayon::prelude::*;
    let n = w.len();
    let par = n.saturating_mul(vs.len()) >= PAR_WORK;
    let c: Vec<f64> = if par {
        let wr: &[f64] = w;
        vs.par_iter().map(|v| dot(v, wr)).collect()
    } else {
        vs.iter().map(|v| dot(v, w)).collect()
    };
    const CHUNK: usize = 2048;
    let update = |(k, part): (usize, &mut [f64])| {
        let off = k * CHUNK;
        for (v, &ci) in vs.iter().zip(&c) {
            axpy(-ci, &v[off..off + part.len()], part);
        }
    };
    if par {
        w.par_chunks_mut(CHUNK).enumerate().for_each(update);
    } else {
        w.chunks_mut(CHUNK).enumerate().for_each(update);
    }
    c
}

/// Euclidean norm.
#[inline]
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// y ← y + a·x.
#[inline]
pub fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matvec_transpose_trace() {
        let a = Mat::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]).unwrap();
        let b = a.transpose();
        assert_eq!(b.shape(), (2, 3));
        let c = b.matmul(&a).unwrap();
        assert_eq!(c.data(), &[35.0, 44.0, 44.0, 56.0]);
        assert_eq!(c.trace().unwrap(), 91.0);
        assert_eq!(a.matvec(&[1.0, -1.0]).unwrap(), vec![-1.0, -1.0, -1.0]);
        assert!(a.matvec(&[1.0]).is_err());
        assert!(a.trace().is_err());
        assert!(a.get(3, 0).is_err());
        assert_eq!(c.asymmetry(), 0.0);
    }

    #[test]
    fn byte_counts_parse() {
        assert_eq!(parse_bytes("123"), Some(123));
        assert_eq!(parse_bytes("512MB"), Some(512_000_000));
        assert_eq!(parse_bytes("1.5 gb"), Some(1_500_000_000));
        assert_eq!(parse_bytes("2e9"), Some(2_000_000_000));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("-1GB"), None);
        assert_eq!(parse_bytes("3 parsecs"), None);
    }

    #[test]
    fn check_memory_refuses_above_the_budget() {
        assert!(check_memory("t", String::new, 1e3, "").is_ok());
        let e = check_memory("t", || "x".into(), 1e30, "use less")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t: needs "), "{e}");
        assert!(e.ends_with("; use less"), "{e}");
        assert!(check_memory("t", String::new, f64::NAN, "").is_err());
        with_memory_budget(100, || {
            assert_eq!(memory_budget(), 100);
            assert!(check_memory("t", String::new, 101.0, "").is_err());
        });
        assert!(memory_budget() > 100);
    }

    #[test]
    fn ragged_rows_are_rejected() {
        let e = Mat::from_rows(&[vec![1.0, 2.0], vec![3.0]]).unwrap_err();
        assert!(e.to_string().contains("row 1 of length 1"), "{e}");
    }
}
