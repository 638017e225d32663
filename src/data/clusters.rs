//! Gaussian clusters: the recipe of `sklearn.datasets.make_blobs`, then
//! (by default) global standardisation as `sklearn.preprocessing.scale`.
//!
//! With k centres c₀ … c_{k−1} drawn uniformly in [−box, box]^dim, cluster
//! j holds points cⱼ + σ·z with z ~ N(0, I). The N points are shared as
//! equally as possible (⌊N/k⌋ each, the first N mod k clusters one more),
//! labelled 0 … k−1 and shuffled. With `normalize`, every feature is then
//! shifted and scaled to mean 0 and population variance 1 over the whole set.
//!
//! ```
//! use hlab::data::clusters::{make_clusters, ClusterOpts};
//! let d = make_clusters(&ClusterOpts { n: 20, k: 3, dim: 2, ..Default::default() }).unwrap();
//! assert_eq!((d.len(), d.dim(), d.classes()), (20, 2, 3));
//! ```

use crate::data::{Dataset, Targets};
use crate::error::{human_bytes, Error, Result};
use crate::mat::Mat;
use crate::rng::Rng;

const OP: &str = "make_clusters";

/// The most values (N·dim) `make_clusters` will generate: 2·10⁹ f64, 16 GB.
pub const MAX_VALUES: usize = 2_000_000_000;

/// Options of [`make_clusters`].
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterOpts {
    /// Number of points N (≥ 1).
    pub n: usize,
    /// Number of clusters k (1 ≤ k ≤ N); ignored when `centers` is given.
    pub k: usize,
    /// Input dimension (≥ 1); ignored when `centers` is given.
    pub dim: usize,
    /// Standard deviation of every cluster, in every direction (≥ 0).
    pub std: f64,
    /// Centres are drawn uniformly in [−box_size, box_size]^dim (> 0);
    /// ignored when `centers` is given.
    pub box_size: f64,
    /// Explicit centres, one per row. They override `k` (= rows), `dim`
    /// (= columns) and `box_size`.
    pub centers: Option<Mat>,
    /// Standardise every feature to mean 0, variance 1 over the whole set.
    pub normalize: bool,
    /// Seed of the centres, the noise and the shuffle.
    pub seed: u64,
}

impl Default for ClusterOpts {
    /// N = 1000, k = 10, dim = 100, std = 1, box = 10, normalize, seed 0.
    fn default() -> Self {
        ClusterOpts {
            n: 1000,
            k: 10,
            dim: 100,
            std: 1.0,
            box_size: 10.0,
            centers: None,
            normalize: true,
            seed: 0,
        }
    }
}

/// Gaussian clusters with integer labels 0 … k−1, as `sklearn`'s `make_blobs`.
///
/// Draws the centres (row-major, uniform in the box) unless `centers` is
/// given, then shuffles the labels, then draws each row as its cluster's
/// centre + `std`·N(0, I), all from one [`Rng`] seeded with `seed`: the same
/// options always give the same data set. Cluster j gets ⌊N/k⌋ points, plus
/// one when j < N mod k. With `normalize`, each feature is standardised over
/// the whole set (population variance; a constant feature becomes 0).
/// Cost: O(N·dim) time and 8·N·dim bytes; more than [`MAX_VALUES`] values,
/// or more memory than [`crate::mat::memory_budget`], is refused at once.
pub fn make_clusters(o: &ClusterOpts) -> Result<Dataset> {
    let (k, dim) = match &o.centers {
        Some(c) => (c.rows(), c.cols()),
        None => (o.k, o.dim),
    };
    validate(o, k, dim)?;
    let mut rng = Rng::new(o.seed);
    let centers = match &o.centers {
        Some(c) => c.clone(),
        None => Mat::from_fn(k, dim, |_, _| rng.uniform_in(-o.box_size, o.box_size)),
    };

    // Labels in cluster order, shuffled, then each row drawn for its label:
    // the same as drawing cluster by cluster and shuffling the rows, with
    // one copy of the data in memory.
    let n = o.n;
    let mut y: Vec<usize> = (0..k)
        .flat_map(|j| std::iter::repeat_n(j, n / k + usize::from(j < n % k)))
        .collect();
    rng.shuffle(&mut y);
    let mut x = Vec::with_capacity(n * dim);
    for &j in &y {
        x.extend(centers.row(j).iter().map(|&c| c + o.std * rng.normal()));
    }
    let mut xm = Mat::from_vec(n, dim, x)?;
    if o.normalize {
        standardize(&mut xm);
    }
    Dataset::new(xm, Targets::Labels { y, classes: k })
}

/// The largest std, box or centre coordinate: the points' squares (their
/// variance, the loss) must stay finite.
const MAX_SCALE: f64 = 1e150;

fn validate(o: &ClusterOpts, k: usize, dim: usize) -> Result<()> {
    if o.n == 0 {
        return Err(Error::invalid(OP, "expected n ≥ 1 points, got n = 0"));
    }
    if k == 0 {
        let what = if o.centers.is_some() {
            "expected at least one row of centers, got 0"
        } else {
            "expected k ≥ 1 clusters, got k = 0"
        };
        return Err(Error::invalid(OP, what));
    }
    if k > o.n {
        return Err(Error::invalid(
            OP,
            format!(
                "expected at most n = {} clusters (one point each at least), got k = {k}",
                o.n
            ),
        ));
    }
    if dim == 0 {
        let what = if o.centers.is_some() {
            "expected centers with at least one column, got 0"
        } else {
            "expected dim ≥ 1, got dim = 0"
        };
        return Err(Error::invalid(OP, what));
    }
    if !(o.std.is_finite() && o.std >= 0.0) {
        return Err(Error::invalid(
            OP,
            format!("expected a finite std ≥ 0, got {}", o.std),
        ));
    }
    if o.std > MAX_SCALE {
        return Err(Error::invalid(
            OP,
            format!(
                "expected std ≤ {MAX_SCALE:e} (the points and their variance must stay finite), got {:e}",
                o.std
            ),
        ));
    }
    match &o.centers {
        Some(c) => {
            if let Some(pos) = c.data().iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "expected finite centers, got {} at row {}, column {}",
                        c.data()[pos],
                        pos / dim,
                        pos % dim
                    ),
                ));
            }
            if c.max_abs() > MAX_SCALE {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "expected centers of size ≤ {MAX_SCALE:e} (the points and their variance must stay finite), got {:e}",
                        c.max_abs()
                    ),
                ));
            }
        }
        None => {
            if !(o.box_size.is_finite() && o.box_size > 0.0) {
                return Err(Error::invalid(
                    OP,
                    format!("expected a finite box > 0, got {}", o.box_size),
                ));
            }
            if o.box_size > MAX_SCALE {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "expected box ≤ {MAX_SCALE:e} (the points and their variance must stay finite), got {:e}",
                        o.box_size
                    ),
                ));
            }
        }
    }
    let values = o.n.checked_mul(dim).filter(|&v| v <= MAX_VALUES);
    if values.is_none() {
        let need = o.n as f64 * dim as f64 * 8.0;
        return Err(Error::TooLarge {
            op: OP,
            what: format!("{} points × {dim} features", o.n),
            need: human_bytes(need),
            limit: human_bytes(MAX_VALUES as f64 * 8.0),
            hint: "use a smaller n or dim".into(),
        });
    }
    crate::mat::check_memory(
        OP,
        || format!("{} points × {dim} features", o.n),
        (o.n as f64) * (dim as f64 + 1.0) * 8.0,
        "use a smaller n or dim",
    )
}

/// Each column to mean 0 and population variance 1; constant columns to 0.
fn standardize(x: &mut Mat) {
    let (n, d) = x.shape();
    let nf = n as f64;
    for j in 0..d {
        let col = x.col(j);
        let mean = col.iter().sum::<f64>() / nf;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nf;
        let constant = col.iter().all(|&v| v == col[0]);
        let scale = if constant || var <= 0.0 {
            0.0
        } else {
            1.0 / var.sqrt()
        };
        for (i, v) in col.iter().enumerate() {
            x.set(i, j, if constant { 0.0 } else { (v - mean) * scale });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(d: &Dataset) -> Vec<usize> {
        let mut c = vec![0; d.classes()];
        for &l in d.labels().unwrap() {
            c[l] += 1;
        }
        c
    }

    #[test]
    fn shapes_and_balanced_counts() {
        let o = ClusterOpts {
            n: 23,
            k: 5,
            dim: 3,
            ..Default::default()
        };
        let d = make_clusters(&o).unwrap();
        assert_eq!((d.len(), d.dim(), d.classes()), (23, 3, 5));
        assert_eq!(counts(&d), vec![5, 5, 5, 4, 4]);
        let d = make_clusters(&ClusterOpts::default()).unwrap();
        assert_eq!((d.len(), d.dim()), (1000, 100));
        assert_eq!(counts(&d), vec![100; 10]);
    }

    #[test]
    fn rows_are_shuffled() {
        let d = make_clusters(&ClusterOpts {
            n: 100,
            k: 4,
            dim: 2,
            ..Default::default()
        })
        .unwrap();
        let y = d.labels().unwrap();
        let mut sorted = y.to_vec();
        sorted.sort();
        assert_ne!(y, &sorted[..]);
    }

    #[test]
    fn normalize_gives_zero_mean_unit_variance() {
        let d = make_clusters(&ClusterOpts {
            n: 300,
            k: 3,
            dim: 7,
            seed: 5,
            ..Default::default()
        })
        .unwrap();
        for j in 0..d.dim() {
            let c = d.x().col(j);
            let m = c.iter().sum::<f64>() / c.len() as f64;
            let v = c.iter().map(|x| (x - m).powi(2)).sum::<f64>() / c.len() as f64;
            assert!(m.abs() < 1e-12, "mean {m}");
            assert!((v - 1.0).abs() < 1e-12, "var {v}");
        }
        // Without normalisation, features are far from standard (box 10).
        let raw = make_clusters(&ClusterOpts {
            n: 300,
            k: 3,
            dim: 7,
            seed: 5,
            normalize: false,
            ..Default::default()
        })
        .unwrap();
        let spread: f64 = (0..7)
            .map(|j| {
                let c = raw.x().col(j);
                let m = c.iter().sum::<f64>() / 300.0;
                c.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 300.0
            })
            .sum();
        assert!(spread > 7.0 * 2.0, "total variance {spread}");
        assert_eq!(raw.labels(), d.labels());
    }

    #[test]
    fn constant_feature_stays_zero() {
        let centers = Mat::from_rows(&[vec![1.0, 3.0], vec![2.0, 3.0]]).unwrap();
        let d = make_clusters(&ClusterOpts {
            n: 10,
            std: 0.0,
            centers: Some(centers),
            ..Default::default()
        })
        .unwrap();
        assert!(d.x().col(1).iter().all(|&v| v == 0.0));
        for (i, &l) in d.labels().unwrap().iter().enumerate() {
            let want = if l == 0 { -1.0 } else { 1.0 };
            assert!((d.x().at(i, 0) - want).abs() < 1e-12);
        }
    }

    #[test]
    fn deterministic_per_seed() {
        let o = ClusterOpts {
            n: 50,
            k: 3,
            dim: 4,
            seed: 42,
            ..Default::default()
        };
        let a = make_clusters(&o).unwrap();
        let b = make_clusters(&o).unwrap();
        assert_eq!(a, b);
        let c = make_clusters(&ClusterOpts { seed: 43, ..o }).unwrap();
        assert_ne!(a.x(), c.x());
    }

    #[test]
    fn explicit_centers_with_zero_std_are_exact() {
        let centers = Mat::from_rows(&[
            vec![1.5, -2.0, 0.25],
            vec![0.0, 7.0, -3.0],
            vec![4.0, 4.0, 4.0],
        ])
        .unwrap();
        let d = make_clusters(&ClusterOpts {
            n: 8,
            k: 99,
            dim: 99,
            std: 0.0,
            centers: Some(centers.clone()),
            normalize: false,
            ..Default::default()
        })
        .unwrap();
        assert_eq!((d.len(), d.dim(), d.classes()), (8, 3, 3));
        assert_eq!(counts(&d), vec![3, 3, 2]);
        for (i, &l) in d.labels().unwrap().iter().enumerate() {
            assert_eq!(d.x().row(i), centers.row(l));
        }
    }

    #[test]
    fn centres_lie_in_the_box() {
        let d = make_clusters(&ClusterOpts {
            n: 40,
            k: 40,
            dim: 5,
            std: 0.0,
            box_size: 2.5,
            normalize: false,
            ..Default::default()
        })
        .unwrap();
        assert!(d.x().data().iter().all(|v| v.abs() < 2.5));
        assert!(d.x().max_abs() > 1.0);
    }

    #[test]
    fn bad_options_are_errors() {
        let base = ClusterOpts {
            n: 10,
            k: 2,
            dim: 2,
            ..Default::default()
        };
        let cases = [
            (
                ClusterOpts {
                    n: 0,
                    ..base.clone()
                },
                "n ≥ 1",
            ),
            (
                ClusterOpts {
                    k: 0,
                    ..base.clone()
                },
                "k ≥ 1",
            ),
            (
                ClusterOpts {
                    k: 11,
                    ..base.clone()
                },
                "got k = 11",
            ),
            (
                ClusterOpts {
                    dim: 0,
                    ..base.clone()
                },
                "dim ≥ 1",
            ),
            (
                ClusterOpts {
                    std: -1.0,
                    ..base.clone()
                },
                "std ≥ 0, got -1",
            ),
            (
                ClusterOpts {
                    std: f64::NAN,
                    ..base.clone()
                },
                "std",
            ),
            (
                ClusterOpts {
                    box_size: 0.0,
                    ..base.clone()
                },
                "box > 0",
            ),
            (
                ClusterOpts {
                    box_size: f64::INFINITY,
                    ..base.clone()
                },
                "box > 0",
            ),
            (
                ClusterOpts {
                    centers: Some(Mat::from_rows(&[vec![0.0, f64::NAN]]).unwrap()),
                    ..base.clone()
                },
                "finite centers",
            ),
            (
                ClusterOpts {
                    n: 1_000_000,
                    dim: 1_000_000,
                    ..base.clone()
                },
                "8.0 TB",
            ),
            (
                ClusterOpts {
                    n: usize::MAX,
                    dim: 3,
                    ..base.clone()
                },
                "needs",
            ),
        ];
        for (o, want) in cases {
            let e = make_clusters(&o).unwrap_err().to_string();
            assert!(e.starts_with("make_clusters: "), "{e}");
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }
}
