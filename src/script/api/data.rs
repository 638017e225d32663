//! Data sets: synthetic clusters, MNIST, `.npy` files, and `Dataset` methods.

use crate::mat::Mat;
use crate::script::opts::{f64s, script_err, type_name};
use crate::script::types::Matrix;
use rhai::plugin::*;
use rhai::Array;

fn matrix_of(op: &str, key: &str, d: &Dynamic) -> RResult<Mat> {
    if let Some(m) = d.clone().try_cast::<Matrix>() {
        return Ok(m.0.as_ref().clone());
    }
    if let Some(arr) = d.read_lock::<Array>() {
        let mut rows = Vec::new();
        for r in arr.iter() {
            match f64s(r) {
                Some(v) => rows.push(v),
                None => {
                    return script_err(format!(
                        "{op}: option `{key}`: expected an array of rows of numbers, got a {}",
                        type_name(r)
                    ))
                }
            }
        }
        return Ok(Mat::from_rows(&rows)?);
    }
    script_err(format!(
        "{op}: option `{key}`: expected a Matrix or an array of rows, got {}",
        type_name(d)
    ))
}

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// Data: datasets, their members, files of arrays. (script functions)
#[export_module]
pub mod data {
    use super::matrix_of;
    use crate::data::clusters::{make_clusters as make, ClusterOpts};
    use crate::data::mnist::{load_mnist as load, MnistOpts, Split};
    use crate::data::npy::{read_npy, write_npy, NpyArray};
    use crate::data::{Dataset, Targets};
    use crate::mat::Mat;
    use crate::script::opts::Keys;
    use crate::script::opts::{f64s, script_err, type_name, Opts};
    use crate::script::types::{self, Matrix, Vector};
    use rhai::{Array, Dynamic, Map, INT};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::RResult;

    /// Gaussian clusters with the default options (n 1000, k 10, dim 100).
    #[rhai_fn(name = "make_clusters", return_raw)]
    pub fn make_clusters_default() -> RResult<types::Dataset> {
        make_clusters(Map::new())
    }

    /// `make_clusters`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const MAKE_CLUSTERS_OPTS: Keys = Keys {
        op: "make_clusters",
        keys: &[
            "n",
            "k",
            "dim",
            "std",
            "box",
            "centers",
            "normalize",
            "seed",
        ],
    };

    /// Gaussian clusters, the recipe of the paper's experiments
    /// (`sklearn.datasets.make_blobs`, then global standardisation).
    ///
    /// Options: `n` (1000), `k` (10), `dim` (100), `std` (1.0: each cluster's
    /// standard deviation), `box` (10.0: centres uniform in [−box, box]^dim),
    /// `centers` (array of centre rows or a Matrix; overrides `k` and `box`),
    /// `normalize` (true: every feature standardised to mean 0, variance 1 over
    /// the whole set), `seed` (0). Labels 0..k−1, classes as equal in size as
    /// n allows, rows shuffled.
    ///
    /// # Example
    /// ```rhai
    /// let d = make_clusters(#{ k: 4, dim: 20, n: 400, seed: 1 });
    /// print(d);   // prints Dataset: 400 examples × 20 features, 4 classes (counts 100/100/100/100)
    /// let c = make_clusters(#{ centers: [[1, 1], [-1, -1]], std: 0.5, n: 10, normalize: false });
    /// print(c.classes);   // prints 2
    /// ```
    #[rhai_fn(name = "make_clusters", return_raw)]
    pub fn make_clusters(opts: Map) -> RResult<types::Dataset> {
        let o = Opts::of(&MAKE_CLUSTERS_OPTS, opts)?;
        let d = ClusterOpts::default();
        let centers = match o.get("centers") {
            None => None,
            Some(c) => Some(matrix_of("make_clusters", "centers", c)?),
        };
        let dim_default = centers.as_ref().map_or(d.dim, |c: &Mat| c.cols());
        let co = ClusterOpts {
            n: o.usize("n", d.n)?,
            k: o.usize("k", centers.as_ref().map_or(d.k, |c| c.rows()))?,
            dim: o.usize("dim", dim_default)?,
            std: o.f64("std", d.std)?,
            box_size: o.f64("box", d.box_size)?,
            centers,
            normalize: o.bool("normalize", d.normalize)?,
            seed: o.seed("seed", d.seed)?,
        };
        Ok(types::Dataset(Arc::new(make(&co)?)))
    }

    /// The embedded MNIST training subset (1,000 real digits, 784 pixels in [0, 1]).
    #[rhai_fn(name = "load_mnist", return_raw)]
    pub fn load_mnist_default() -> RResult<types::Dataset> {
        load_mnist(Map::new())
    }

    /// `load_mnist`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const LOAD_MNIST_OPTS: Keys = Keys {
        op: "load_mnist",
        keys: &["path", "split", "n", "classes", "seed"],
    };

    /// Real MNIST digits as a Dataset: pixels scaled to [0, 1], flattened to 784.
    ///
    /// Without `path`: the subset shipped inside hlab (1,000 training images
    /// with MNIST's class balance; `split: "test"` gives 1,000 other, held-out
    /// MNIST training images). `path`: a folder of standard IDX files
    /// (`train-images-idx3-ubyte[.gz]`, `t10k-…`) — full MNIST or
    /// Fashion-MNIST. `split` ("train" or "test"), `n` (how many), `classes`
    /// (array of digits to keep; relabelled 0..len−1 in the given order), `seed`.
    ///
    /// # Example
    /// ```rhai
    /// let d = load_mnist();
    /// print([d.len, d.dim, d.classes]);   // prints [1000, 784, 10]
    /// let two = load_mnist(#{ classes: [3, 8], n: 100, seed: 1 });
    /// print(two.classes);                 // prints 2
    /// ```
    #[rhai_fn(name = "load_mnist", return_raw)]
    pub fn load_mnist(opts: Map) -> RResult<types::Dataset> {
        let o = Opts::of(&LOAD_MNIST_OPTS, opts)?;
        let split = match o.string("split", "train")?.as_str() {
            "train" => Split::Train,
            "test" => Split::Test,
            other => {
                return script_err(format!(
                    "load_mnist: option `split`: expected \"train\" or \"test\", got \"{other}\""
                ))
            }
        };
        let classes = match o.opt_f64s("classes")? {
            None => None,
            Some(v) => Some(
                v.iter()
                    .map(|&c| {
                        if c.fract() == 0.0 && (0.0..10.0).contains(&c) {
                            Ok(c as usize)
                        } else {
                            script_err(format!(
                                "load_mnist: option `classes`: expected digits 0..9, got {c}"
                            ))
                        }
                    })
                    .collect::<RResult<Vec<usize>>>()?,
            ),
        };
        let mo = MnistOpts {
            path: o.opt_string("path")?.map(PathBuf::from),
            split,
            n: o.opt_usize("n")?,
            classes,
            seed: o.seed("seed", 0)?,
        };
        Ok(types::Dataset(Arc::new(load(&mo)?)))
    }

    /// A Dataset from an N × d Matrix of inputs and N integer labels (an array,
    /// or a Vector of integer-valued floats as `load_npy` gives them), or an
    /// N × k Matrix of regression targets.
    ///
    /// # Example
    /// ```rhai
    /// let x = matrix([[0, 1], [1, 0], [1, 1]]);
    /// let d = dataset(x, [0, 1, 1]);
    /// print(d.classes);   // prints 2
    /// let r = dataset(x, matrix([[0.5], [1.5], [2.5]]));
    /// print(r);           // prints Dataset: 3 examples × 2 features, 1 regression targets
    /// ```
    #[rhai_fn(name = "dataset", return_raw)]
    pub fn dataset(x: Matrix, y: Dynamic) -> RResult<types::Dataset> {
        let x = x.0.as_ref().clone();
        if let Some(t) = y.clone().try_cast::<Matrix>() {
            return Ok(types::Dataset(Arc::new(Dataset::new(
                x,
                Targets::Values(t.0.as_ref().clone()),
            )?)));
        }
        let vals = match f64s(&y) {
            Some(v) => v,
            None => {
                return script_err(format!(
                    "dataset: expected labels (array or Vector of integers) or a Matrix of targets, got {}",
                    type_name(&y)
                ))
            }
        };
        let mut labels = Vec::with_capacity(vals.len());
        for (i, &v) in vals.iter().enumerate() {
            if !(v.fract() == 0.0 && v >= 0.0) {
                return script_err(format!(
                    "dataset: expected integer labels ≥ 0, got {v} at index {i}"
                ));
            }
            let max = crate::data::MAX_CLASSES;
            if v >= max as f64 {
                return script_err(format!(
                    "dataset: expected labels below {max} (at most {max} classes), got {v} at index {i}"
                ));
            }
            labels.push(v as usize);
        }
        Ok(types::Dataset(Arc::new(Dataset::classification(
            x, labels,
        )?)))
    }

    /// `dataset`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const DATASET_OPTS: Keys = Keys {
        op: "dataset",
        keys: &["shape"],
    };

    /// `dataset(x, y)` with options: `shape`, the shape of one sample
    /// (`[channels, height, width]`, row-major as PyTorch's NCHW; its
    /// product must be the number of columns of `x`).
    ///
    /// # Example
    /// ```rhai
    /// let x = matrix([[1, 2, 3, 4], [5, 6, 7, 8]]);
    /// let d = dataset(x, [0, 1], #{ shape: [1, 2, 2] });
    /// print(d.shape);   // prints [1, 2, 2]
    /// ```
    #[rhai_fn(name = "dataset", return_raw)]
    pub fn dataset_opts(x: Matrix, y: Dynamic, opts: Map) -> RResult<types::Dataset> {
        let o = Opts::of(&DATASET_OPTS, opts)?;
        let d = dataset(x, y)?;
        match o.get("shape") {
            None => Ok(d),
            Some(s) => {
                let shape = crate::script::api::net::shape_of("dataset", "shape", s)?;
                Ok(types::Dataset(Arc::new(
                    d.0.as_ref().clone().with_shape(&shape)?,
                )))
            }
        }
    }

    /// The shape of one sample: `[c, h, w]` when given (`load_mnist` gives
    /// `[1, 28, 28]`), else `[dim]`.
    ///
    /// # Example
    /// ```rhai
    /// print(make_clusters(#{ n: 10, dim: 3 }).shape);   // prints [3]
    /// ```
    #[rhai_fn(get = "shape", pure)]
    pub fn shape(d: &mut types::Dataset) -> Array {
        let s = match d.0.shape() {
            Some(s) => s.to_vec(),
            None => vec![d.0.dim()],
        };
        s.into_iter().map(|v| Dynamic::from_int(v as INT)).collect()
    }

    /// A Vector (1-D file) or Matrix (2-D file) from a NumPy `.npy` file.
    ///
    /// Any numeric dtype, either byte order, C or Fortran order.
    ///
    /// # Example
    /// ```rhai
    /// let p = temp_path("v.npy");
    /// save_npy(vector([1, 2, 3]), p);
    /// print(load_npy(p));   // prints Vector[3] [1, 2, 3]
    /// ```
    #[rhai_fn(return_raw)]
    pub fn load_npy(path: &str) -> RResult<Dynamic> {
        Ok(match read_npy(Path::new(path))? {
            NpyArray::Vector(v) => Dynamic::from(Vector::new(v)),
            NpyArray::Matrix(m) => Dynamic::from(Matrix::new(m)),
        })
    }

    /// Writes a Vector, Matrix, Spectrum or array of numbers as `.npy`
    /// (f64, C order; readable by NumPy). The write is atomic.
    ///
    /// # Example
    /// ```rhai
    /// let p = temp_path("m.npy");
    /// save_npy(matrix([[1, 2], [3, 4]]), p);
    /// print(load_npy(p).cols);   // prints 2
    /// ```
    #[rhai_fn(return_raw)]
    pub fn save_npy(value: Dynamic, path: &str) -> RResult<()> {
        let arr = if let Some(m) = value.clone().try_cast::<Matrix>() {
            NpyArray::Matrix(m.0.as_ref().clone())
        } else if let Some(v) = f64s(&value) {
            NpyArray::Vector(v)
        } else {
            return script_err(format!(
                "save_npy: expected a Vector, Matrix, Spectrum or array of numbers, got {}",
                type_name(&value)
            ));
        };
        write_npy(Path::new(path), &arr)?;
        Ok(())
    }

    // ----- Dataset methods -----

    /// Number of examples.
    #[rhai_fn(name = "len", get = "len", pure)]
    pub fn len(d: &mut types::Dataset) -> INT {
        d.0.len() as INT
    }

    /// Input dimension.
    #[rhai_fn(get = "dim", pure)]
    pub fn dim(d: &mut types::Dataset) -> INT {
        d.0.dim() as INT
    }

    /// Number of classes (or of regression targets).
    #[rhai_fn(get = "classes", pure)]
    pub fn classes(d: &mut types::Dataset) -> INT {
        d.0.classes() as INT
    }

    /// The inputs as an N × d Matrix.
    #[rhai_fn(get = "x", pure)]
    pub fn x(d: &mut types::Dataset) -> Matrix {
        Matrix::new(d.0.x().clone())
    }

    /// The labels as an array of integers (or the targets as a Matrix for regression).
    ///
    /// # Example
    /// ```rhai
    /// let d = make_clusters(#{ n: 6, k: 3, dim: 2, seed: 1 });
    /// print(d.y.len());   // prints 6
    /// ```
    #[rhai_fn(get = "y", pure)]
    pub fn y(d: &mut types::Dataset) -> Dynamic {
        match d.0.targets() {
            Targets::Labels { y, .. } => {
                Dynamic::from_array(y.iter().map(|&c| Dynamic::from_int(c as INT)).collect())
            }
            Targets::Values(t) => Dynamic::from(Matrix::new(t.clone())),
        }
    }

    /// Shuffles with `seed` and splits into `[first ⌊frac·N⌋ rows, the rest]`.
    ///
    /// # Example
    /// ```rhai
    /// let d = make_clusters(#{ n: 100, k: 2, dim: 3, seed: 1 });
    /// let parts = d.split(0.8, 1);
    /// print([parts[0].len, parts[1].len]);   // prints [80, 20]
    /// ```
    #[rhai_fn(name = "split", return_raw, pure)]
    pub fn split_i(d: &mut types::Dataset, frac: INT, seed: INT) -> RResult<Array> {
        split(d, frac as f64, seed)
    }

    /// `d.split(frac, seed)` with a float fraction (see above).
    #[rhai_fn(return_raw, pure)]
    pub fn split(d: &mut types::Dataset, frac: f64, seed: INT) -> RResult<Array> {
        let (a, b) = d.0.split(frac, seed as u64)?;
        Ok(vec![
            Dynamic::from(types::Dataset(Arc::new(a))),
            Dynamic::from(types::Dataset(Arc::new(b))),
        ])
    }

    /// The first `n` examples.
    ///
    /// # Example
    /// ```rhai
    /// print(load_mnist().take(10).len);   // prints 10
    /// ```
    #[rhai_fn(return_raw, pure)]
    pub fn take(d: &mut types::Dataset, n: INT) -> RResult<types::Dataset> {
        if n < 0 {
            return script_err(format!("take: expected a count ≥ 0, got {n}"));
        }
        Ok(types::Dataset(Arc::new(d.0.take(n as usize)?)))
    }
}
