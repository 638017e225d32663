//! Data sets: inputs N×d with integer class labels or N×k regression targets.
//!
//! Submodules make and load them: [`clusters`] (Gaussian blobs, the recipe of
//! `sklearn.datasets.make_blobs` plus global standardisation), [`mnist`]
//! (an embedded 1,000-image subset and a loader for IDX folders) and [`npy`]
//! (NumPy `.npy` files).

pub mod clusters;
pub mod mnist;
pub mod npy;

use crate::error::{human_bytes, Error, Result};
use crate::mat::Mat;
use crate::rng::Rng;

/// Opens `path` for `op` after checking it is a regular file (a device
/// such as `/dev/zero`, a pipe or a socket could block or never end);
/// returns the file and its size. `what` names the expected file in errors.
pub fn open_regular_file(
    op: &'static str,
    path: &std::path::Path,
    what: &str,
) -> Result<(std::fs::File, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(op, path, e))?;
    if meta.is_dir() {
        return Err(Error::io(
            op,
            path,
            format!("is a directory, expected {what}"),
        ));
    }
    if !meta.is_file() {
        return Err(Error::io(
            op,
            path,
            format!("is not a regular file (a device or a pipe), expected {what}"),
        ));
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(op, path, e))?;
    Ok((f, meta.len()))
}

/// How much one read of a loader asks for: between two reads the loader
/// checks the interrupt flag.
pub const READ_CHUNK: usize = 1 << 20;

/// Reads exactly `n` bytes from `r` into `out` (reserved fallibly), in
/// chunks that honour the interrupt flag; a short read is an error saying
/// how much the file held.
pub fn read_exact_chunked(
    op: &'static str,
    path: &std::path::Path,
    r: &mut impl std::io::Read,
    n: u64,
    out: &mut Vec<u8>,
) -> Result<()> {
    let n = usize::try_from(n).map_err(|_| Error::io(op, path, "file too large to address"))?;
    out.try_reserve_exact(n).map_err(|_| {
        Error::io(
            op,
            path,
            format!("cannot allocate {} to read it", human_bytes(n as f64)),
        )
    })?;
    let start = out.len();
    let mut buf = vec![0u8; READ_CHUNK.min(n.max(1))];
    while out.len() - start < n {
        crate::progress::check_interrupt(op)?;
        let want = (n - (out.len() - start)).min(buf.len());
        let got = match r.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(Error::format(
                    op,
                    path,
                    format!(
                    "truncated: expected {n} bytes, got {} (the file changed while it was read)",
                    out.len() - start
                ),
                ))
            }
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(op, path, e)),
        };
        out.extend_from_slice(&buf[..got]);
    }
    Ok(())
}

/// Reads from `r` into `out` until its end or `limit` bytes, in chunks
/// that honour the interrupt flag (a decompressor can take long); read
/// errors go through `err`.
pub fn read_up_to(
    op: &'static str,
    r: &mut impl std::io::Read,
    limit: u64,
    out: &mut Vec<u8>,
    err: impl Fn(std::io::Error) -> Error,
) -> Result<()> {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut total = 0u64;
    while total < limit {
        crate::progress::check_interrupt(op)?;
        let want = (limit - total).min(buf.len() as u64) as usize;
        match r.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(k) => {
                out.extend_from_slice(&buf[..k]);
                total += k as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}

/// Errors unless `r` is at its end: a file that holds more than its size
/// said (`/proc/self/pagemap` says 0 and never ends) is refused, not read.
pub fn expect_end(
    op: &'static str,
    path: &std::path::Path,
    r: &mut impl std::io::Read,
    size: u64,
) -> Result<()> {
    // Some special files only answer reads of whole words (pagemap: 8 bytes).
    let mut probe = [0u8; 64];
    loop {
        match r.read(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                return Err(Error::io(
                    op,
                    path,
                    format!(
                        "expected a regular file of the {size} bytes its size says, got more (a special or growing file)"
                    ),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(op, path, e)),
        }
    }
}

/// Reads a whole regular file for `op` (see [`open_regular_file`]): at most
/// the size the file system reports, checked against the memory budget
/// first, in chunks that honour the interrupt flag, and refused when the
/// file holds more than its size says.
pub fn read_regular_file(op: &'static str, path: &std::path::Path, what: &str) -> Result<Vec<u8>> {
    let (mut f, size) = open_regular_file(op, path, what)?;
    crate::mat::check_memory(
        op,
        || format!("reading {}", path.display()),
        size as f64,
        "raise HLAB_MEMORY_LIMIT or free variables",
    )?;
    let mut out = Vec::new();
    read_exact_chunked(op, path, &mut f, size, &mut out)?;
    expect_end(op, path, &mut f, size)?;
    Ok(out)
}

/// What a data set asks the model to predict.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class index per row, each `< classes`.
    Labels {
        /// The class of each row.
        y: Vec<usize>,
        /// The number of classes.
        classes: usize,
    },
    /// One row of real targets per input row (regression).
    Values(Mat),
}

/// The most classes a data set may have (labels 0 … MAX_CLASSES − 1): a
/// model needs one output per class.
pub const MAX_CLASSES: usize = 1_000_000;

/// Inputs and targets.
#[derive(Clone, Debug)]
pub struct Dataset {
    x: Mat,
    targets: Targets,
    /// The shape of one sample (`[c, h, w]`), when it is more than its features.
    shape: Option<Vec<usize>>,
    /// The inputs as a tensor, made once on first use.
    x_tensor: std::sync::OnceLock<candle_core::Tensor>,
    /// Identity of these exact contents (a data set never changes after it
    /// is made; [`Dataset::with_shape`] takes a new one): keys cached passes.
    id: u64,
}

/// A process-wide identity, never handed out twice: keys of cached passes
/// (a data set's contents, a version of a model's parameters).
pub(crate) fn fresh_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl PartialEq for Dataset {
    fn eq(&self, other: &Self) -> bool {
        self.x == other.x && self.targets == other.targets && self.shape == other.shape
    }
}

impl Dataset {
    /// Checks shapes, finiteness and labels, then builds the data set.
    ///
    /// `classes` for labels is `max(y) + 1` unless given larger.
    pub fn new(x: Mat, targets: Targets) -> Result<Self> {
        let n = x.rows();
        if let Some(pos) = x.data().iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "expected finite inputs, got {} at row {}, column {}",
                    x.data()[pos],
                    pos / x.cols().max(1),
                    pos % x.cols().max(1)
                ),
            ));
        }
        match &targets {
            Targets::Labels { y, classes } => {
                if y.len() != n {
                    return Err(Error::shape(
                        "dataset",
                        format!("{n} labels (one per input row)"),
                        format!("{}", y.len()),
                    ));
                }
                if let Some(&bad) = y.iter().find(|&&c| c >= *classes) {
                    return Err(Error::shape(
                        "dataset",
                        format!("labels below {classes}"),
                        format!("label {bad}"),
                    ));
                }
            }
            Targets::Values(t) => {
                if t.rows() != n {
                    return Err(Error::shape(
                        "dataset",
                        format!("{n} target rows (one per input row)"),
                        format!("{}", t.rows()),
                    ));
                }
                if t.data().iter().any(|v| !v.is_finite()) {
                    return Err(Error::invalid(
                        "dataset",
                        "expected finite targets, got NaN or ∞",
                    ));
                }
            }
        }
        Ok(Dataset::raw(x, targets))
    }

    fn raw(x: Mat, targets: Targets) -> Dataset {
        Dataset {
            x,
            targets,
            shape: None,
            x_tensor: std::sync::OnceLock::new(),
            id: fresh_id(),
        }
    }

    /// Identity of these contents: equal ids mean equal inputs, targets and
    /// sample shape (clones share it; any new data set gets a new one).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The inputs as an (N, d) f64 tensor, converted once and cached.
    pub fn x_tensor(&self) -> Result<candle_core::Tensor> {
        if let Some(t) = self.x_tensor.get() {
            return Ok(t.clone());
        }
        let t = candle_core::Tensor::from_slice(
            self.x.data(),
            self.x.shape(),
            &candle_core::Device::Cpu,
        )?;
        Ok(self.x_tensor.get_or_init(|| t).clone())
    }

    /// From inputs and integer labels below [`MAX_CLASSES`];
    /// `classes = max(y) + 1`.
    pub fn classification(x: Mat, y: Vec<usize>) -> Result<Self> {
        if let Some((i, &c)) = y.iter().enumerate().find(|(_, &c)| c >= MAX_CLASSES) {
            return Err(Error::shape(
                "dataset",
                format!("labels below {MAX_CLASSES} (at most {MAX_CLASSES} classes)"),
                format!("{c} at index {i}"),
            ));
        }
        let classes = y.iter().max().map_or(0, |m| m + 1);
        Dataset::new(x, Targets::Labels { y, classes })
    }

    /// Number of examples N.
    pub fn len(&self) -> usize {
        self.x.rows()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.x.rows() == 0
    }

    /// Input dimension d.
    pub fn dim(&self) -> usize {
        self.x.cols()
    }

    /// Number of classes (labels), or the number of target columns (regression).
    pub fn classes(&self) -> usize {
        match &self.targets {
            Targets::Labels { classes, .. } => *classes,
            Targets::Values(t) => t.cols(),
        }
    }

    /// The inputs, N×d.
    pub fn x(&self) -> &Mat {
        &self.x
    }

    /// The targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The labels, if this is a classification set.
    pub fn labels(&self) -> Option<&[usize]> {
        match &self.targets {
            Targets::Labels { y, .. } => Some(y),
            Targets::Values(_) => None,
        }
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Dataset {
        let d = self.dim();
        let mut xs = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            xs.extend_from_slice(self.x.row(i));
        }
        let x = Mat::from_fn(idx.len(), d, |i, j| xs[i * d + j]);
        let targets = match &self.targets {
            Targets::Labels { y, classes } => Targets::Labels {
                y: idx.iter().map(|&i| y[i]).collect(),
                classes: *classes,
            },
            Targets::Values(t) => {
                let k = t.cols();
                let mut ts = Vec::with_capacity(idx.len() * k);
                for &i in idx {
                    ts.extend_from_slice(t.row(i));
                }
                Targets::Values(Mat::from_fn(idx.len(), k, |i, j| ts[i * k + j]))
            }
        };
        let mut out = Dataset::raw(x, targets);
        out.shape = self.shape.clone();
        out
    }

    /// The same data with sample shape `shape` (its product must be the
    /// number of features; `[d]` clears it).
    pub fn with_shape(mut self, shape: &[usize]) -> Result<Dataset> {
        let prod = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if shape.is_empty() || shape.contains(&0) || prod != Some(self.dim()) {
            return Err(Error::shape(
                "dataset",
                format!(
                    "shape: sizes ≥ 1 whose product is {} (the number of features)",
                    self.dim()
                ),
                format!("{shape:?}"),
            ));
        }
        self.shape = (shape.len() > 1).then(|| shape.to_vec());
        self.id = fresh_id();
        Ok(self)
    }

    /// The sample shape when it was given (`[1, 28, 28]`), else `None` (a vector of `dim` features).
    pub fn shape(&self) -> Option<&[usize]> {
        self.shape.as_deref()
    }

    /// Shuffles with `seed` and cuts into a first part of ⌊frac·N⌋ rows and the rest.
    pub fn split(&self, frac: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(frac > 0.0 && frac < 1.0) {
            return Err(Error::invalid(
                "split",
                format!("expected a fraction strictly between 0 and 1, got {frac}"),
            ));
        }
        let n = self.len();
        let mut idx: Vec<usize> = (0..n).collect();
        Rng::new(seed).shuffle(&mut idx);
        let cut = ((frac * n as f64).floor() as usize).clamp(0, n);
        Ok((self.select(&idx[..cut]), self.select(&idx[cut..])))
    }

    /// The first `n` rows.
    pub fn take(&self, n: usize) -> Result<Dataset> {
        if n > self.len() {
            return Err(Error::shape(
                "take",
                format!("at most {} rows (the data set's size)", self.len()),
                format!("{n}"),
            ));
        }
        Ok(self.select(&(0..n).collect::<Vec<_>>()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        let x = Mat::from_fn(10, 2, |i, j| (i * 2 + j) as f64);
        Dataset::classification(x, (0..10).map(|i| i % 3).collect()).unwrap()
    }

    #[test]
    fn split_and_take_keep_rows_together() {
        let d = tiny();
        assert_eq!(d.classes(), 3);
        let (a, b) = d.split(0.7, 1).unwrap();
        assert_eq!((a.len(), b.len()), (7, 3));
        for part in [&a, &b] {
            for (i, &lab) in part.labels().unwrap().iter().enumerate() {
                let orig = (part.x().at(i, 0) / 2.0) as usize;
                assert_eq!(lab, orig % 3);
            }
        }
        assert_eq!(d.take(4).unwrap().len(), 4);
        assert!(d.take(11).is_err());
        assert!(d.split(1.0, 1).is_err());
    }

    #[test]
    fn bad_labels_and_nan_are_rejected() {
        let x = Mat::zeros(2, 2);
        let e = Dataset::new(
            x.clone(),
            Targets::Labels {
                y: vec![0, 5],
                classes: 3,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("label 5"), "{e}");
        let mut xn = x.clone();
        xn.set(1, 1, f64::NAN);
        assert!(Dataset::classification(xn, vec![0, 1]).is_err());
        assert!(Dataset::classification(x, vec![0]).is_err());
    }
}
