//! The outliers' origin: G's spectrum through the Gram route, Papyan's
//! class decomposition, and the Marchenko–Pastur law to hold a bulk
//! against.

use crate::script::types::{self, Matrix};
use crate::spectrum::Spectrum;
use std::sync::Arc;

fn spec(s: Spectrum) -> types::Spectrum {
    types::Spectrum(Arc::new(s))
}

fn matrix(m: crate::mat::Mat, label: &'static str) -> Matrix {
    Matrix::labelled(m, label)
}

/// Why the outliers: the Gram route, class decomposition, reference laws. (script functions)
#[rhai::plugin::export_module]
pub mod outliers {
    use super::{matrix, spec};
    use crate::curvature::gram;
    use crate::script::opts::Keys;
    use crate::script::opts::{f64s, script_err, type_name, Opts};
    use crate::script::types::{self, Model};
    use rhai::{Dynamic, Map};
    use std::sync::Arc;

    type RResult<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// G's spectrum through the Gram route, default options.
    #[rhai_fn(name = "gn_gram", return_raw)]
    pub fn gn_gram2(m: Model, data: types::Dataset) -> RResult<Dynamic> {
        gn_gram(m, data, Map::new())
    }

    /// `gn_gram`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const GN_GRAM_OPTS: Keys = Keys {
        op: "gn_gram",
        keys: &["vectors"],
    };

    /// The spectrum of the Gauss–Newton matrix G through its Gram matrix,
    /// exactly, without forming G: with `v_{i,c} = Jᵢᵀ u_{i,c}` (`u_{i,c} =
    /// √p_{i,c}(e_c − pᵢ)` for cross-entropy, `e_c` for mse),
    /// `G = (1/N) V Vᵀ`, so G's non-zero eigenvalues are those of the
    /// (N·C) × (N·C) matrix `(1/N) VᵀV`. Returns all N·C of them, ascending
    /// (G's non-zero spectrum plus zeros; for cross-entropy at least N exact
    /// zeros); `info.rank` counts those above 1e-12·λ_max, `info.method` is
    /// "gram".
    ///
    /// Use it when N·C < P (wide nets, a few hundred examples): E3's
    /// 784–70–10 (P = 55,660, far beyond `gauss_newton`) on 300 MNIST
    /// images takes seconds. For a Linear layer the per-example Jacobian
    /// Gram is the Hadamard product of the input Gram and the
    /// back-propagated Gram; other layers (conv, LayerNorm, residual blocks)
    /// add the Gram of their per-example gradients. Refuses at once when the
    /// (N·C)² matrix does not fit in memory. `#{ vectors: k }` returns
    /// `#{ values: Spectrum, vectors: Matrix }` with G's top-k unit
    /// eigenvectors (P × k, columns by decreasing eigenvalue).
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 20, k: 3, dim: 5, seed: 1 });
    /// let m = mlp([5, 8, 3], #{ seed: 1 });
    /// let s = gn_gram(m, data);
    /// print(s.len());   // prints 60
    /// let g = eigs(gauss_newton(m, data));
    /// assert_close(s.top(5), g.top(5), 1e-10);
    /// print(s.info.rank <= 40);   // prints true
    /// ```
    #[rhai_fn(name = "gn_gram", return_raw)]
    pub fn gn_gram(m: Model, data: types::Dataset, opts: Map) -> RResult<Dynamic> {
        let o = Opts::of(&GN_GRAM_OPTS, opts)?;
        let k = o.usize("vectors", 0)?;
        let g = m.read();
        let r = gram::gn_gram(&g, &data.0, k)?;
        match r.vectors {
            None => Ok(Dynamic::from(spec(r.spectrum))),
            Some(v) => {
                let mut out = Map::new();
                out.insert("values".into(), Dynamic::from(spec(r.spectrum)));
                out.insert(
                    "vectors".into(),
                    Dynamic::from(matrix(v, "gauss_newton eigenvectors")),
                );
                Ok(Dynamic::from_map(out))
            }
        }
    }

    /// Papyan's class decomposition of G, default options.
    #[rhai_fn(name = "class_decomposition", return_raw)]
    pub fn class_decomposition2(m: Model, data: types::Dataset) -> RResult<Map> {
        class_decomposition(m, data, Map::new())
    }

    /// `class_decomposition`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const CLASS_DECOMPOSITION_OPTS: Keys = Keys {
        op: "class_decomposition",
        keys: &["matrices"],
    };

    /// Papyan's decomposition of the Gauss–Newton matrix by true class c
    /// and output c′ (Papyan 2019, "Measurements of three-level hierarchical
    /// structure in the outliers in the spectrum of deepnet Hessians";
    /// 2020, "Traces of class/cross-class structure pervade deep learning
    /// spectra"). With `π_c = N_c/N`, `δ_{c,c′}` the mean of `v_{i,c′}` over
    /// the examples of class c, and `δ_c` the mean of `δ_{c,c′}` over c′ ≠ c:
    ///
    /// - `same_class` = Σ_c π_c δ_{c,c} δ_{c,c}ᵀ (C eigenvalues),
    /// - `class_means` = Σ_c π_c (C − 1) δ_c δ_cᵀ (C; rank ≤ C: G's outliers),
    /// - `cross_class` = Σ_c π_c Σ_{c′≠c} (δ_{c,c′} − δ_c)(δ_{c,c′} − δ_c)ᵀ
    ///   (C(C − 1); rank ≤ C(C − 2): the "mini-bulk"),
    /// - `within` = (1/N) Σ_{i,c′} (v_{i,c′} − δ_{yᵢ,c′})(…)ᵀ (N·C: the bulk).
    ///
    /// The four sum to G exactly; each is returned as the Spectrum of its
    /// Gram matrix (its non-zero eigenvalues plus zeros; `info.rank`), with
    /// `gauss_newton` (G's spectrum, as `gn_gram`) and `overlap`: the mean
    /// squared cosine of the principal angles between G's top-C
    /// eigenvectors and the range of `class_means` (1 = the same subspace).
    /// Needs class labels; classes may be unbalanced. `#{ matrices: true }`
    /// also returns `matrices`: the four parts as P × P Matrices (small nets).
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 30, k: 3, dim: 4, seed: 2 });
    /// let m = mlp([4, 6, 3], #{ seed: 2 });
    /// let d = class_decomposition(m, data);
    /// print(d.class_means.info.rank <= 3);   // prints true
    /// let parts = d.same_class.sum() + d.class_means.sum() + d.cross_class.sum() + d.within.sum();
    /// assert_close(parts, d.gauss_newton.sum(), 1e-10);
    /// print(d.overlap > 0.0 && d.overlap <= 1.0 + 1e-12);   // prints true
    /// ```
    #[rhai_fn(name = "class_decomposition", return_raw)]
    pub fn class_decomposition(m: Model, data: types::Dataset, opts: Map) -> RResult<Map> {
        let o = Opts::of(&CLASS_DECOMPOSITION_OPTS, opts)?;
        let want = o.bool("matrices", false)?;
        let g = m.read();
        let d = gram::class_decomposition(&g, &data.0, want)?;
        let mut out = Map::new();
        out.insert("gauss_newton".into(), Dynamic::from(spec(d.gauss_newton)));
        out.insert("same_class".into(), Dynamic::from(spec(d.same_class)));
        out.insert("class_means".into(), Dynamic::from(spec(d.class_means)));
        out.insert("cross_class".into(), Dynamic::from(spec(d.cross_class)));
        out.insert("within".into(), Dynamic::from(spec(d.within)));
        out.insert("overlap".into(), Dynamic::from_float(d.overlap));
        if let Some(p) = d.matrices {
            let mut mm = Map::new();
            mm.insert(
                "same_class".into(),
                Dynamic::from(matrix(p.same_class, "same_class")),
            );
            mm.insert(
                "class_means".into(),
                Dynamic::from(matrix(p.class_means, "class_means")),
            );
            mm.insert(
                "cross_class".into(),
                Dynamic::from(matrix(p.cross_class, "cross_class")),
            );
            mm.insert("within".into(), Dynamic::from(matrix(p.within, "within")));
            out.insert("matrices".into(), Dynamic::from_map(mm));
        }
        Ok(out)
    }

    /// The Marchenko–Pastur law, default options (400 points).
    #[rhai_fn(name = "marchenko_pastur", return_raw)]
    pub fn marchenko_pastur2(ratio: Dynamic, sigma2: Dynamic) -> RResult<types::Density> {
        marchenko_pastur(ratio, sigma2, Map::new())
    }

    /// `marchenko_pastur`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const MARCHENKO_PASTUR_OPTS: Keys = Keys {
        op: "marchenko_pastur",
        keys: &["points"],
    };

    /// The Marchenko–Pastur law of the eigenvalues of (1/N) XᵀX for an
    /// N × d matrix X of i.i.d. entries of variance `sigma2`, `ratio` = d/N:
    /// density `√((b − x)(x − a)) / (2π σ² λ x)` on
    /// `[σ²(1 − √λ)², σ²(1 + √λ)²]`, as a Density on `points` (400) equally
    /// spaced points between the edges. For ratio ≤ 1 it integrates to 1;
    /// above 1 the continuous part integrates to 1/ratio and `info.atom`
    /// holds the mass 1 − 1/ratio at zero. `info` also has `ratio`,
    /// `sigma2`, `lower_edge`, `upper_edge`. Overlay it on a histogram with
    /// `hist(values, #{ overlay: law })`; `ks_distance` measures the fit.
    ///
    /// # Example
    /// ```rhai
    /// let law = marchenko_pastur(0.2, 0.25);
    /// print(law.info.upper_edge);   // prints 0.5236067977499789
    /// assert_close(law.integral(), 1.0, 1e-3);
    /// print(marchenko_pastur(2, 1).info.atom);   // prints 0.5
    /// ```
    #[rhai_fn(name = "marchenko_pastur", return_raw)]
    pub fn marchenko_pastur(ratio: Dynamic, sigma2: Dynamic, opts: Map) -> RResult<types::Density> {
        let o = Opts::of(&MARCHENKO_PASTUR_OPTS, opts)?;
        let num = |what: &str, d: &Dynamic| -> RResult<f64> {
            match crate::script::opts::as_f64(d) {
                Some(x) => Ok(x),
                None => script_err(format!(
                    "marchenko_pastur: expected {what} to be a number, got {} {d}",
                    type_name(d)
                )),
            }
        };
        let r = num("ratio", &ratio)?;
        let s = num("sigma2", &sigma2)?;
        let d = crate::laws::marchenko_pastur(r, s, o.usize("points", 400)?)?;
        Ok(types::Density(Arc::new(d)))
    }

    /// The Kolmogorov–Smirnov distance sup_x |F_n(x) − F(x)| between the
    /// empirical distribution of `values` (a Spectrum, Vector or array) and
    /// a Density (its atom at zero included, e.g. Marchenko–Pastur's for
    /// ratio > 1): 0 for a perfect fit, about 1/√n for n samples of the law.
    ///
    /// # Example
    /// ```rhai
    /// let x = randn(1000, 200, 7);
    /// let s = eigs(x.transpose() * x / 1000.0);
    /// print(ks_distance(s, marchenko_pastur(0.2, 1.0)) < 0.05);   // prints true
    /// print(ks_distance(s, marchenko_pastur(0.2, 1.5)) > 0.2);    // prints true
    /// ```
    #[rhai_fn(return_raw)]
    pub fn ks_distance(values: Dynamic, density: types::Density) -> RResult<f64> {
        let Some(v) = f64s(&values) else {
            return script_err(format!(
                "ks_distance: expected a Spectrum, Vector or array of numbers, got {}",
                type_name(&values)
            ));
        };
        Ok(crate::laws::ks_distance(&v, &density.0)?)
    }

    /// `s.sum()`: the sum of a Spectrum's eigenvalues (the matrix's trace).
    ///
    /// # Example
    /// ```rhai
    /// print(eigs(matrix([[2, 1], [1, 3]])).sum());   // prints 5.0
    /// ```
    #[rhai_fn(name = "sum", pure)]
    pub fn spectrum_sum(s: &mut types::Spectrum) -> f64 {
        s.0.values().iter().sum()
    }

    /// `d.integral()`: a Density's mass by the trapezoid rule on its grid
    /// (1 for `density`; 1/ratio for `marchenko_pastur` above ratio 1).
    ///
    /// # Example
    /// ```rhai
    /// print(marchenko_pastur(4, 1).integral() < 0.26);   // prints true
    /// ```
    #[rhai_fn(name = "integral", pure)]
    pub fn integral(d: &mut types::Density) -> f64 {
        d.0.integral()
    }
}
