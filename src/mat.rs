//! `Mat`: a dense, row-major f64 matrix — the value behind the script type
//! `Matrix` — and the small vector helpers (`dot`, `axpy`, `norm`,
//! `project_out`, in `mat/vector.rs`) that the iterative algorithms share.

mod vector;
pub use vector::{axpy, dot, norm, project_out};

use crate::error::{human_bytes, Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Dense row-major f64 matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Mat {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
    /// Its bytes on the ledger of the session that made it.
    held: Held,
}

impl Mat {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Mat::wrap(rows, cols, vec![0.0; rows * cols])
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
        Ok(Mat::wrap(rows, cols, data))
    }

    /// Wraps `data` (of length `rows * cols`) and puts its bytes on the
    /// current ledger.
    fn wrap(rows: usize, cols: usize, data: Vec<f64>) -> Mat {
        let held = Held::new(8 * data.capacity() as u64);
        Mat {
            rows,
            cols,
            data,
            held,
        }
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
        Ok(Mat::wrap(r, c, data))
    }

    /// A matrix whose entry (i, j) is `f(i, j)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Mat::wrap(rows, cols, data)
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
        Ok(Mat::wrap(self.rows, self.cols, data))
    }

    /// `s · self`.
    pub fn scale(&self, s: f64) -> Mat {
        Mat::wrap(
            self.rows,
            self.cols,
            self.data.iter().map(|a| a * s).collect(),
        )
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

    /// `self · other` by faer's cache-blocked, parallel GEMM, a block of
    /// rows at a time (about 2³⁰ multiply-adds, at least 128 rows each), so
    /// an interrupt stops it with [`Error::Interrupted`] between blocks.
    pub fn matmul(&self, other: &Mat) -> Result<Mat> {
        let work = self.cols.max(1) * other.cols.max(1);
        self.matmul_by_rows(other, ((1usize << 30) / work).max(128))
    }

    /// [`Mat::matmul`] in blocks of `block` rows of `self`.
    fn matmul_by_rows(&self, other: &Mat, block: usize) -> Result<Mat> {
        if self.cols != other.rows {
            return Err(Error::shape(
                "matrix * matrix",
                format!("{} rows in the right factor", self.cols),
                format!("{}×{}", other.rows, other.cols),
            ));
        }
        let (m, k, n) = (self.rows, self.cols, other.cols);
        let mut out = Mat::zeros(m, n);
        if m == 0 || n == 0 || k == 0 {
            return Ok(out);
        }
        let b = faer::MatRef::from_row_major_slice(&other.data, k, n);
        for i0 in (0..m).step_by(block.max(1)) {
            crate::progress::check_interrupt("matrix * matrix")?;
            let i1 = (i0 + block.max(1)).min(m);
            let a = faer::MatRef::from_row_major_slice(&self.data[i0 * k..i1 * k], i1 - i0, k);
            let c =
                faer::MatMut::from_row_major_slice_mut(&mut out.data[i0 * n..i1 * n], i1 - i0, n);
            faer::linalg::matmul::matmul(c, faer::Accum::Replace, a, b, 1.0, faer::Par::rayon(0));
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

/// The memory budget when `/proc/meminfo` cannot be read: 16 GB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 16_000_000_000;

/// 0 = not set yet (read `HLAB_MEMORY_LIMIT` on first use).
static MEMORY_BUDGET: AtomicU64 = AtomicU64::new(0);

/// Parses a byte count: plain bytes (`123`, `2e9`, `1.5`), or a number with
/// a unit: `k`, `M`, `G`, `T` or `kB`, `MB`, `GB`, `TB` (powers of 1000),
/// `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024), `B`; any case, spaces
/// allowed before the unit. Anything else (`2^30`, `1 GBs`, `-1`, `0`) is
/// refused with the reason.
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let bad = || {
        format!(
            "expected a byte count such as 8000000000, 8G, 8GB or 8GiB \
             (k/M/G/T and kB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024), got {s:?}"
        )
    };
    let t = s.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num = num.trim();
    if num.is_empty()
        || !num
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+.eE-".contains(&b))
    {
        return Err(bad());
    }
    let x: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let b = x * scale;
    if (1.0..1.8e19).contains(&b) {
        Ok(b as u64)
    } else {
        Err(bad())
    }
}

/// 75 % of the memory available at start (`MemAvailable` in
/// `/proc/meminfo`), else [`DEFAULT_MEMORY_BUDGET`].
pub fn default_memory_budget() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb.saturating_mul(1024) / 4 * 3)
        .filter(|&b| b > 0)
        .unwrap_or(DEFAULT_MEMORY_BUDGET)
}

/// Sets the process's budget from `HLAB_MEMORY_LIMIT`, or to
/// [`default_memory_budget`] when it is unset; a malformed value is an
/// error (the command line reports it at start-up and stops).
pub fn init_memory_budget() -> std::result::Result<u64, String> {
    let b = match std::env::var("HLAB_MEMORY_LIMIT") {
        Ok(v) => parse_bytes(&v).map_err(|e| format!("HLAB_MEMORY_LIMIT: {e}"))?,
        Err(std::env::VarError::NotPresent) => default_memory_budget(),
        Err(std::env::VarError::NotUnicode(v)) => {
            return Err(format!(
                "HLAB_MEMORY_LIMIT: expected a byte count such as 8GB, got {v:?}"
            ))
        }
    };
    MEMORY_BUDGET.store(b, Ordering::Relaxed);
    Ok(b)
}

thread_local! {
    static THREAD_BUDGET: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
    static LEDGER: std::cell::RefCell<Option<Arc<AtomicU64>>> = const { std::cell::RefCell::new(None) };
}

/// The memory budget in bytes that a session's values and the work it is
/// about to do are checked against: this thread's [`with_memory_budget`],
/// else [`set_memory_budget`] or [`init_memory_budget`], else
/// `HLAB_MEMORY_LIMIT` read on first use (e.g. `32GB`; a malformed value is
/// ignored here — the command line refuses it at start-up), else 75 % of
/// the memory available.
pub fn memory_budget() -> u64 {
    if let Some(b) = THREAD_BUDGET.with(|c| c.get()) {
        return b;
    }
    match MEMORY_BUDGET.load(Ordering::Relaxed) {
        0 => {
            let b = init_memory_budget().unwrap_or_else(|_| default_memory_budget());
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

/// A session's ledger: the bytes its values (matrices, vectors, data sets)
/// hold right now. Values made while [`with_ledger`] runs put their bytes on
/// it and take them off when the last copy is dropped.
pub type Ledger = Arc<AtomicU64>;

/// Runs `f` with values made on this thread counted on `ledger`.
pub fn with_ledger<R>(ledger: &Ledger, f: impl FnOnce() -> R) -> R {
    let old = LEDGER.with(|l| l.replace(Some(ledger.clone())));
    struct Restore(Option<Ledger>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let old = self.0.take();
            LEDGER.with(|l| *l.borrow_mut() = old);
        }
    }
    let _restore = Restore(old);
    f()
}

/// The bytes held on this thread's ledger (0 outside a session).
pub fn held_bytes() -> u64 {
    LEDGER.with(|l| l.borrow().as_ref().map_or(0, |c| c.load(Ordering::Relaxed)))
}

/// A value's bytes on the ledger it was made under (see [`with_ledger`]).
#[derive(Default)]
pub struct Held {
    bytes: u64,
    ledger: Option<Ledger>,
}

impl Held {
    /// Puts `bytes` on this thread's ledger, if any.
    pub fn new(bytes: u64) -> Held {
        let ledger = LEDGER.with(|l| l.borrow().clone());
        if let Some(l) = &ledger {
            l.fetch_add(bytes, Ordering::Relaxed);
        }
        Held { bytes, ledger }
    }
}

impl Clone for Held {
    fn clone(&self) -> Held {
        if let Some(l) = &self.ledger {
            l.fetch_add(self.bytes, Ordering::Relaxed);
        }
        Held {
            bytes: self.bytes,
            ledger: self.ledger.clone(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(l) = &self.ledger {
            l.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

impl PartialEq for Held {
    /// Bookkeeping only: never part of a value's equality.
    fn eq(&self, _: &Held) -> bool {
        true
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({})", self.bytes)
    }
}

/// Bytes left for new work: the budget less what the session holds.
pub fn memory_left() -> u64 {
    memory_budget().saturating_sub(held_bytes())
}

/// Refuses at once, before anything is allocated, when `bytes` (what `op`
/// would need for `what`) plus what the session's values already hold
/// exceed the [`memory_budget`]. The error says how much is needed, what is
/// left of the limit, and `hint` (what to use instead).
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
    let held = held_bytes();
    if bytes.is_nan() || bytes + held as f64 > limit as f64 {
        let limit = if held == 0 {
            format!("{} (HLAB_MEMORY_LIMIT)", human_bytes(limit as f64))
        } else {
            format!(
                "{} (what is left of HLAB_MEMORY_LIMIT = {} while the session's values hold {})",
                human_bytes(limit.saturating_sub(held) as f64),
                human_bytes(limit as f64),
                human_bytes(held as f64)
            )
        };
        return Err(Error::TooLarge {
            op,
            what: what(),
            need: human_bytes(bytes),
            limit,
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

    /// faer's product against the textbook triple loop on random
    /// non-square shapes (including empty inner and outer dimensions and
    /// vectors), whole and in blocks of 7 rows: every entry within 1e-12 of
    /// the naive sum, relative to Σₖ |aᵢₖ bₖⱼ|.
    #[test]
    fn matmul_matches_the_naive_product() {
        let mut r = crate::rng::Rng::new(11);
        let mut random =
            |rows: usize, cols: usize| Mat::from_fn(rows, cols, |_, _| r.uniform_in(-1.0, 1.0));
        for (m, k, n) in [
            (1, 1, 1),
            (3, 5, 2),
            (7, 1, 9),
            (1, 40, 1),
            (17, 33, 5),
            (64, 3, 100),
            (0, 4, 3),
            (4, 0, 3),
            (300, 200, 70),
        ] {
            let a = random(m, k);
            let b = random(k, n);
            for c in [a.matmul(&b).unwrap(), a.matmul_by_rows(&b, 7).unwrap()] {
                assert_eq!(c.shape(), (m, n));
                for i in 0..m {
                    for j in 0..n {
                        let (mut s, mut abs) = (0.0, 0.0);
                        for l in 0..k {
                            s += a.at(i, l) * b.at(l, j);
                            abs += (a.at(i, l) * b.at(l, j)).abs();
                        }
                        let err = (c.at(i, j) - s).abs();
                        assert!(
                            err <= 1e-12 * abs,
                            "{m}×{k}·{k}×{n} at ({i}, {j}): {} vs {s}",
                            c.at(i, j)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn byte_counts_parse() {
        let ok = |s: &str| parse_bytes(s).unwrap();
        assert_eq!(ok("123"), 123);
        assert_eq!(ok("512MB"), 512_000_000);
        assert_eq!(ok("512M"), 512_000_000);
        assert_eq!(ok("1.5 gb"), 1_500_000_000);
        assert_eq!(ok("2e9"), 2_000_000_000);
        assert_eq!(ok("1GiB"), 1 << 30);
        assert_eq!(ok("512MiB"), 512 << 20);
        assert_eq!(ok("2 KiB"), 2048);
        assert_eq!(ok("1TiB"), 1 << 40);
        assert_eq!(ok("3kB"), 3000);
        for bad in [
            "lots",
            "-1GB",
            "3 parsecs",
            "2^30",
            "0",
            "",
            "1 GBs",
            "GB",
            "1e400",
        ] {
            let e = parse_bytes(bad).unwrap_err();
            assert!(e.starts_with("expected a byte count"), "{bad}: {e}");
        }
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
