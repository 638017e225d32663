//! Curvature: exact HVPs, dense Hessians and Gauss–Newton matrices, their
//! eigenvalues, Lanczos, spectral densities and traces; `Spectrum` and
//! `Density` methods.

use crate::curvature::hessian::{Curvature, DEFAULT_MAX_PARAMS};
use crate::script::opts::Opts;
use crate::script::types;
use crate::spectrum::Spectrum;
use rhai::{Dynamic, EvalAltResult, Map, INT};
use std::sync::Arc;

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// The `matrix` option: "hessian" (default), "gauss_newton" or "residual".
fn curvature_of(op: &'static str, o: &Opts) -> RResult<Curvature> {
    Ok(Curvature::parse(op, &o.string("matrix", "hessian")?)?)
}

fn max_params(o: &Opts) -> RResult<usize> {
    o.usize("max_params", DEFAULT_MAX_PARAMS)
}

/// `info` as a script map.
pub fn info_map(info: &crate::spectrum::SpectrumInfo) -> Map {
    let mut m = Map::new();
    m.insert("method".into(), Dynamic::from(info.method.clone()));
    m.insert("matrix".into(), Dynamic::from(info.matrix.clone()));
    if let Some(s) = &info.solver {
        m.insert("solver".into(), Dynamic::from(s.clone()));
    }
    if let Some(r) = info.rank {
        m.insert("rank".into(), Dynamic::from_int(r as INT));
    }
    // The keys API.md lists are always there, `()` where not applicable.
    let int_or_unit = |x: Option<INT>| x.map_or(Dynamic::UNIT, Dynamic::from_int);
    m.insert("steps".into(), int_or_unit(info.steps.map(|s| s as INT)));
    m.insert("probes".into(), int_or_unit(info.probes.map(|p| p as INT)));
    m.insert("seed".into(), int_or_unit(info.seed.map(|s| s as INT)));
    m.insert("matvecs".into(), Dynamic::from_int(info.matvecs as INT));
    m.insert(
        "residuals".into(),
        Dynamic::from_array(
            info.residuals
                .iter()
                .map(|&r| Dynamic::from_float(r))
                .collect(),
        ),
    );
    m.insert("seconds".into(), Dynamic::from_float(info.seconds));
    if let Some(t) = info.tol {
        m.insert("tol".into(), Dynamic::from_float(t));
    }
    if let Some(c) = info.converged {
        m.insert("converged".into(), Dynamic::from_bool(c));
    }
    if let Some(s) = info.sigma2 {
        m.insert("sigma2".into(), Dynamic::from_float(s));
    }
    for (k, v) in &info.accuracy {
        m.insert(k.as_str().into(), Dynamic::from_float(*v));
    }
    m
}

/// Announces the expected time of a dense eigen-solve of an n × n matrix
/// when it is long: O(n³), scaled from a 256 × 256 solve timed once per
/// process (only for n ≥ 1500, where the solve takes seconds or more).
fn announce_eig_estimate(n: usize, vectors: bool) {
    static UNIT: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    if n < 1500 {
        return;
    }
    let unit = *UNIT.get_or_init(|| {
        let m = 256;
        let a = crate::mat::Mat::from_fn(m, m, |i, j| 1.0 / (1.0 + (i + j) as f64));
        let t0 = std::time::Instant::now();
        let _ = crate::linalg::sym_eigvals_faer(&a);
        t0.elapsed().as_secs_f64()
    });
    let scale = (n as f64 / 256.0).powi(3) * if vectors { 3.0 } else { 1.0 };
    crate::progress::announce_estimate(
        None,
        "eigs",
        &format!(
            "all eigenvalues{} of a {}×{} matrix, {} MB",
            if vectors { " and vectors" } else { "" },
            crate::progress::thousands(n),
            crate::progress::thousands(n),
            (crate::linalg::eig_bytes(n, vectors) / 1e6).round()
        ),
        unit * scale,
        "scaled as n³ from a timed 256×256 solve",
    );
}

/// Refuses a dense eigen-solve of an n × n matrix above the memory budget.
fn check_eig_memory(n: usize, vectors: bool) -> RResult<()> {
    let hint = if vectors {
        "leave out `vectors: true`, or use top_eigs(m, data, k) for the extreme eigenpairs"
    } else {
        "use top_eigs(m, data, k) for the extreme eigenvalues or density(m, data) for their distribution"
    };
    Ok(crate::mat::check_memory(
        "eigs",
        || {
            let v = if vectors { " with vectors" } else { "" };
            format!("the eigendecomposition{v} of a {n}×{n} matrix")
        },
        crate::linalg::eig_bytes(n, vectors),
        hint,
    )?)
}

/// Refuses Lanczos whose basis (`max_iter` or the automatic size, times P)
/// and projected matrix would exceed the memory budget.
fn check_lanczos_memory(p: usize, k: usize, max_iter: usize, block: usize) -> RResult<()> {
    let basis = if max_iter == 0 {
        p.min(
            300_usize.max(
                k.saturating_mul(10)
                    .saturating_add(block.saturating_mul(10)),
            ),
        )
    } else {
        max_iter.min(p)
    } as f64;
    // The largest basis that fits: 8·b·(p + 8b) ≤ budget.
    let budget = crate::mat::memory_left() as f64;
    let pf = p as f64;
    let fits = ((-pf + (pf * pf + 4.0 * budget).sqrt()) / 16.0)
        .floor()
        .max(0.0);
    let hint = if fits as usize >= k {
        format!("use a smaller k, or a basis that fits with #{{ max_iter: {fits} }}")
    } else {
        "use a smaller k".to_string()
    };
    Ok(crate::mat::check_memory(
        "top_eigs",
        || format!("a Lanczos basis of {basis} vectors of length {p}"),
        8.0 * basis * (pf + 8.0 * basis),
        &hint,
    )?)
}

/// Refuses SLQ whose basis, nodes or grid would exceed the memory budget.
fn check_slq_memory(p: usize, steps: usize, probes: usize, points: usize) -> RResult<()> {
    let m = steps.min(p) as f64;
    // All probes run in lockstep, each with its own basis.
    let need = 8.0 * probes as f64 * m * (p as f64 + 4.0 * m) + 32.0 * points as f64;
    Ok(crate::mat::check_memory(
        "density",
        || format!("{probes} probes × {m} Lanczos steps over {p} parameters and {points} points"),
        need,
        "use fewer steps, probes or points",
    )?)
}

fn spec(s: Spectrum) -> types::Spectrum {
    types::Spectrum(Arc::new(s))
}

/// Curvature: HVPs, dense H and G, Lanczos, SLQ, traces, Spectrum and Density members. (script functions)
#[rhai::plugin::export_module]
pub mod curvature {
    use super::{
        announce_eig_estimate, check_eig_memory, check_lanczos_memory, check_slq_memory,
        curvature_of, info_map, max_params, spec,
    };
    use crate::curvature::hessian::{check_hessian as check, Curvature, ModelCurvature};
    use crate::curvature::lanczos::{lanczos_top, LanczosOpts, Which};
    use crate::curvature::slq::{slq_density, SlqOpts};
    use crate::curvature::trace::hutchinson;
    use crate::linalg::{sym_eig, sym_eigvals};
    use crate::script::opts::Keys;
    use crate::script::opts::{script_err, Opts};
    use crate::script::types::{self, Matrix, Model, Vector};
    use crate::spectrum::{OutlierRule, Spectrum};
    use rhai::{Array, Dynamic, Map, INT};
    use std::sync::Arc;

    type RResult<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// The exact Hessian-vector product H·v of the mean loss (Pearlmutter's
    /// R-operator, forward-over-reverse; no finite differences).
    ///
    /// Costs about two gradients.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 40, k: 3, dim: 4, seed: 1 });
    /// let m = mlp([4, 6, 3], #{ act: "tanh", seed: 2 });
    /// let v = randn(m.num_params, 3);
    /// let hv = hvp(m, data, v);
    /// assert_close(hv, hessian(m, data) * v, 1e-10);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn hvp(m: Model, data: types::Dataset, v: Vector) -> RResult<Vector> {
        let g = m.read();
        Ok(Vector::new(crate::curvature::hessian::hvp(
            &g,
            &data.0,
            v.as_slice(),
        )?))
    }

    /// Hessian-vector products with several directions at once:
    /// `hvp(m, data, [v1, v2, …])` → an array of Vectors `[H·v1, H·v2, …]`
    /// in the same order. One forward pass serves them all and the R-pass
    /// runs on blocks of directions as wider matrix products (blocks sized
    /// for memory), so b directions cost well under b single calls.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 40, k: 3, dim: 4, seed: 1 });
    /// let m = mlp([4, 6, 3], #{ act: "tanh", seed: 2 });
    /// let vs = [randn(m.num_params, 1), randn(m.num_params, 2), randn(m.num_params, 3)];
    /// let hs = hvp(m, data, vs);
    /// print(hs.len());   // prints 3
    /// assert_close(hs[2], hvp(m, data, vs[2]), 1e-12);
    /// ```
    #[rhai_fn(name = "hvp", return_raw)]
    pub fn hvp_many(m: Model, data: types::Dataset, vs: Array) -> RResult<Array> {
        let g = m.read();
        let p = g.num_params();
        if vs.is_empty() {
            return Ok(Array::new());
        }
        let mut rows = Vec::with_capacity(vs.len().saturating_mul(p).min(1 << 28));
        for (i, v) in vs.iter().enumerate() {
            let Some(v) = v.clone().try_cast::<Vector>() else {
                return script_err(format!(
                    "hvp: expected an array of Vectors of length {p}, got {} at index {i}",
                    crate::script::opts::type_name(v)
                ));
            };
            if v.as_slice().len() != p {
                return script_err(format!(
                    "hvp: expected Vectors of length {p} (the model's parameter count), got length {} at index {i}",
                    v.as_slice().len()
                ));
            }
            g.check_vector("hvp", v.as_slice())?;
            rows.extend_from_slice(v.as_slice());
        }
        crate::mat::check_memory(
            "hvp",
            || format!("{} directions and their products of length {p}", vs.len()),
            16.0 * (vs.len() * p) as f64,
            "pass fewer directions per call",
        )?;
        let vm = crate::mat::Mat::from_vec(vs.len(), p, rows)?;
        let mut op = ModelCurvature::new("hvp", &g, &data.0, Curvature::Hessian)?;
        let out = op.apply_rows(&vm)?;
        Ok((0..out.rows())
            .map(|j| Dynamic::from(Vector::new(out.row(j).to_vec())))
            .collect())
    }

    /// The dense exact Hessian of the mean loss, P × P, symmetric.
    #[rhai_fn(name = "hessian", return_raw)]
    pub fn hessian1(m: Model, data: types::Dataset) -> RResult<Matrix> {
        hessian(m, data, Map::new())
    }

    /// `hessian`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const HESSIAN_OPTS: Keys = Keys {
        op: "hessian",
        keys: &["max_params"],
    };

    /// The dense exact Hessian H = ∇²L of the mean loss with respect to the flat
    /// parameters (P × P, symmetric).
    ///
    /// Built from the R-operator: the first layer's block by exact weighted
    /// Gram products, the other rows by batched products with unit
    /// directions. Refuses at once above `max_params` (20000, 3.2 GB) with the
    /// memory it would need; use `top_eigs` or `density` beyond that.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 50, k: 3, dim: 5, seed: 1 });
    /// let m = mlp([5, 8, 3], #{ seed: 1 });
    /// let h = hessian(m, data);
    /// print([h.rows, h.cols]);   // prints [75, 75]
    /// assert_close(h.trace(), hessian_trace(m, data, #{ probes: 2000 }).value, 0.1);
    /// ```
    #[rhai_fn(name = "hessian", return_raw)]
    pub fn hessian(m: Model, data: types::Dataset, opts: Map) -> RResult<Matrix> {
        let o = Opts::of(&HESSIAN_OPTS, opts)?;
        let g = m.read();
        Ok(Matrix::labelled(
            crate::curvature::hessian::hessian(&g, &data.0, max_params(&o)?)?,
            "hessian",
        ))
    }

    /// The dense Gauss–Newton matrix G, P × P.
    #[rhai_fn(name = "gauss_newton", return_raw)]
    pub fn gauss_newton1(m: Model, data: types::Dataset) -> RResult<Matrix> {
        gauss_newton(m, data, Map::new())
    }

    /// `gauss_newton`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const GAUSS_NEWTON_OPTS: Keys = Keys {
        op: "gauss_newton",
        keys: &["max_params"],
    };

    /// The dense Gauss–Newton matrix G = (1/N) Σᵢ Jᵢᵀ Hℓ,ᵢ Jᵢ (Jᵢ: Jacobian of
    /// the outputs, Hℓ,ᵢ = diag(p) − ppᵀ for softmax cross-entropy, I for mse):
    /// exact and positive semi-definite. The residual is
    /// `hessian(m, data) - gauss_newton(m, data)`.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 30, k: 3, dim: 4, seed: 2 });
    /// let m = mlp([4, 5, 3], #{ seed: 2 });
    /// let g = eigs(gauss_newton(m, data));
    /// print(g.min() > -1e-12);   // prints true
    /// ```
    #[rhai_fn(name = "gauss_newton", return_raw)]
    pub fn gauss_newton(m: Model, data: types::Dataset, opts: Map) -> RResult<Matrix> {
        let o = Opts::of(&GAUSS_NEWTON_OPTS, opts)?;
        let g = m.read();
        Ok(Matrix::labelled(
            crate::curvature::hessian::gauss_newton(&g, &data.0, max_params(&o)?)?,
            "gauss_newton",
        ))
    }

    /// All eigenvalues of a symmetric Matrix, ascending, as a Spectrum.
    #[rhai_fn(name = "eigs", return_raw)]
    pub fn eigs1(a: Matrix) -> RResult<types::Spectrum> {
        check_eig_memory(a.0.rows(), false)?;
        announce_eig_estimate(a.0.rows(), false);
        let (vals, info) = sym_eigvals(&a.0)?;
        Ok(spec(Spectrum::new(vals, info.spectrum_info(a.1))?))
    }

    /// `eigs`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const EIGS_OPTS: Keys = Keys {
        op: "eigs",
        keys: &["vectors"],
    };

    /// All eigenvalues of a symmetric Matrix (dense solver: two-stage
    /// reduction to a band and then a tridiagonal for n ≥ 1000, faer's
    /// one-stage solver below; about 15 s at n = 8,000 on 2 cores).
    ///
    /// `#{ vectors: true }` returns `#{ values: Spectrum, vectors: Matrix }`
    /// with the eigenvectors as columns (faer). `info` records the method
    /// (`"dense"`), the `solver` (`"two-stage"` or `"faer"`) and the
    /// accuracy checks (trace and Frobenius identities; residuals with vectors).
    /// Refuses at once when the solve would need more than the memory budget
    /// (24n² bytes, 48n² with vectors, plus what the session holds;
    /// `HLAB_MEMORY_LIMIT`, default 75 % of the memory available).
    ///
    /// # Example
    /// ```rhai
    /// let s = eigs(matrix([[2, 1], [1, 2]]));
    /// print(s.to_array());   // prints [1.0, 3.0]
    /// print(s.info.solver);  // prints faer
    /// let e = eigs(matrix([[2, 0], [0, 5]]), #{ vectors: true });
    /// print(e.vectors.cols);  // prints 2
    /// ```
    #[rhai_fn(name = "eigs", return_raw)]
    pub fn eigs2(a: Matrix, opts: Map) -> RResult<Dynamic> {
        let o = Opts::of(&EIGS_OPTS, opts)?;
        if o.bool("vectors", false)? {
            check_eig_memory(a.0.rows(), true)?;
            announce_eig_estimate(a.0.rows(), true);
            let (vals, vecs, info) = sym_eig(&a.0)?;
            let mut m = Map::new();
            m.insert(
                "values".into(),
                Dynamic::from(spec(Spectrum::new(vals, info.spectrum_info(a.1))?)),
            );
            m.insert("vectors".into(), Dynamic::from(Matrix::new(vecs)));
            Ok(Dynamic::from_map(m))
        } else {
            Ok(Dynamic::from(eigs1(a)?))
        }
    }

    /// The k largest eigenvalues of the Hessian, by Lanczos on exact HVPs.
    #[rhai_fn(name = "top_eigs", return_raw)]
    pub fn top_eigs3(m: Model, data: types::Dataset, k: INT) -> RResult<types::Spectrum> {
        top_eigs(m, data, k, Map::new())
    }

    /// The k largest (or smallest) eigenvalues without forming the matrix:
    /// Lanczos on exact Hessian-vector products, extended until every wanted
    /// Ritz pair has relative residual ≤ `tol`. The basis is kept
    /// semi-orthogonal (partial reorthogonalisation, Simon 1984; full for a
    /// `block` > 1), so no spurious copies of eigenvalues appear.
    ///
    /// Options: `which` ("largest" or "smallest"), `tol` (1e-8), `max_iter`
    /// (basis size cap), `seed` (0), `block` (1), `matrix` ("hessian",
    /// "gauss_newton" or "residual"). `info` holds the residuals, the number of
    /// HVPs (`matvecs`), the steps, the seconds and the seed.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 60, k: 3, dim: 5, seed: 1 });
    /// let m = mlp([5, 8, 3], #{ seed: 1 });
    /// let top = top_eigs(m, data, 3);
    /// let all = eigs(hessian(m, data));
    /// assert_close(top.top(3), all.top(3), 1e-8);
    /// print(top.info.method);   // prints lanczos
    /// ```
    /// The k largest eigenvalues with `k` among the options:
    /// `top_eigs(m, data, #{ k: 6, tol: 1e-10 })`.
    #[rhai_fn(name = "top_eigs", return_raw)]
    pub fn top_eigs_opts(m: Model, data: types::Dataset, opts: Map) -> RResult<types::Spectrum> {
        let k = match opts.get("k") {
            Some(v) => v.as_int().map_err(|_| {
                crate::script::opts::script_err::<()>(format!(
                    "top_eigs: k: expected an integer, got {}",
                    crate::script::opts::type_name(v)
                ))
                .unwrap_err()
            })?,
            None => return script_err(
                "top_eigs: expected the count k, as top_eigs(m, data, k) or #{ k: … }, got neither",
            ),
        };
        top_eigs(m, data, k, opts)
    }

    /// `top_eigs`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const TOP_EIGS_OPTS: Keys = Keys {
        op: "top_eigs",
        keys: &["k", "which", "tol", "max_iter", "seed", "block", "matrix"],
    };

    /// `top_eigs(m, data, k, opts)`: the `k` largest (or smallest) eigenvalues
    /// with options (see above).
    #[rhai_fn(name = "top_eigs", return_raw)]
    pub fn top_eigs(
        m: Model,
        data: types::Dataset,
        k: INT,
        mut opts: Map,
    ) -> RResult<types::Spectrum> {
        if let Some(v) = opts.remove("k") {
            if v.as_int().ok() != Some(k) {
                return script_err(format!(
                    "top_eigs: expected k once, got k = {k} and the option k: {v}"
                ));
            }
        }
        let o = Opts::of(&TOP_EIGS_OPTS, opts)?;
        if k < 1 {
            return script_err(format!("top_eigs: expected k ≥ 1, got {k}"));
        }
        let kind = curvature_of("top_eigs", &o)?;
        let mut lo = LanczosOpts::new(k as usize);
        lo.which = Which::parse(&o.string("which", "largest")?)?;
        lo.tol = o.f64("tol", lo.tol)?;
        lo.max_iter = o.usize("max_iter", 0)?;
        lo.seed = o.seed("seed", 0)?;
        lo.block = o.usize("block", 1)?;
        let g = m.read();
        check_lanczos_memory(g.num_params(), lo.k, lo.max_iter, lo.block)?;
        let mut op = ModelCurvature::new("top_eigs", &g, &data.0, kind)?;
        let mut r = lanczos_top(&mut op, &lo)?;
        r.spectrum.info.matrix = kind.name().to_string();
        Ok(spec(r.spectrum))
    }

    /// The smoothed spectral density of the Hessian by stochastic Lanczos
    /// quadrature, default options.
    #[rhai_fn(name = "density", return_raw)]
    pub fn density2(m: Model, data: types::Dataset) -> RResult<types::Density> {
        density(m, data, Map::new())
    }

    /// `density`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const DENSITY_OPTS: Keys = Keys {
        op: "density",
        keys: &["steps", "probes", "sigma2", "points", "seed", "matrix"],
    };

    /// The smoothed spectral density of the Hessian (or `matrix:
    /// "gauss_newton"` / "residual") by stochastic Lanczos quadrature:
    /// `probes` Rademacher vectors (10), `steps` Lanczos steps each (90), a
    /// Gaussian of variance `sigma2` (1e-5·max(1, λmax−λmin)) on every node,
    /// `points` grid points, `seed`. It integrates to 1.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 60, k: 3, dim: 5, seed: 1 });
    /// let m = mlp([5, 8, 3], #{ seed: 1 });
    /// let d = density(m, data, #{ steps: 30, probes: 4 });
    /// print(d.info.method);   // prints slq
    /// ```
    #[rhai_fn(name = "density", return_raw)]
    pub fn density(m: Model, data: types::Dataset, opts: Map) -> RResult<types::Density> {
        let o = Opts::of(&DENSITY_OPTS, opts)?;
        let kind = curvature_of("density", &o)?;
        let mut so = SlqOpts::default();
        so.steps = o.usize("steps", so.steps)?;
        so.probes = o.usize("probes", so.probes)?;
        so.sigma2 = o.opt_f64("sigma2")?;
        so.points = o.usize("points", so.points)?;
        so.seed = o.seed("seed", 0)?;
        let g = m.read();
        check_slq_memory(g.num_params(), so.steps, so.probes, so.points)?;
        let mut op = ModelCurvature::new("density", &g, &data.0, kind)?;
        let mut d = slq_density(&mut op, &so)?;
        d.info.matrix = kind.name().to_string();
        Ok(types::Density(Arc::new(d)))
    }

    /// Hutchinson's estimate of the Hessian's trace, default options.
    #[rhai_fn(name = "hessian_trace", return_raw)]
    pub fn hessian_trace2(m: Model, data: types::Dataset) -> RResult<Map> {
        hessian_trace(m, data, Map::new())
    }

    /// Hutchinson's estimate of tr(H) with Rademacher probes:
    /// `#{ value, stderr, probes }`. Options: `probes` (100), `seed` (0),
    /// `matrix` ("hessian", "gauss_newton", "residual").
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 40, k: 2, dim: 3, seed: 1 });
    /// let m = mlp([3, 4, 2], #{ seed: 1 });
    /// let t = hessian_trace(m, data, #{ probes: 200, seed: 1 });
    /// assert(abs(t.value - hessian(m, data).trace()) < 4 * t.stderr + 1e-12, "within 4 standard errors");
    /// ```
    /// Hutchinson's estimate with the number of probes given positionally:
    /// `hessian_trace(m, data, 500)`.
    #[rhai_fn(name = "hessian_trace", return_raw)]
    pub fn hessian_trace3(m: Model, data: types::Dataset, probes: INT) -> RResult<Map> {
        hessian_trace4(m, data, probes, Map::new())
    }

    /// Hutchinson's estimate with `probes` positional and other options.
    #[rhai_fn(name = "hessian_trace", return_raw)]
    pub fn hessian_trace4(
        m: Model,
        data: types::Dataset,
        probes: INT,
        mut opts: Map,
    ) -> RResult<Map> {
        if let Some(v) = opts.get("probes") {
            if v.as_int().ok() != Some(probes) {
                return script_err(format!(
                    "hessian_trace: expected probes once, got {probes} and the option probes: {v}"
                ));
            }
        }
        if probes < 1 {
            return script_err(format!("hessian_trace: expected probes ≥ 1, got {probes}"));
        }
        opts.insert("probes".into(), Dynamic::from_int(probes));
        hessian_trace(m, data, opts)
    }

    /// `hessian_trace`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const HESSIAN_TRACE_OPTS: Keys = Keys {
        op: "hessian_trace",
        keys: &["probes", "seed", "matrix"],
    };

    /// `hessian_trace(m, data, opts)`: the estimate with options (see above).
    #[rhai_fn(name = "hessian_trace", return_raw)]
    pub fn hessian_trace(m: Model, data: types::Dataset, opts: Map) -> RResult<Map> {
        let o = Opts::of(&HESSIAN_TRACE_OPTS, opts)?;
        let kind = curvature_of("hessian_trace", &o)?;
        let probes = o.usize("probes", 100)?;
        let g = m.read();
        crate::mat::check_memory(
            "hessian_trace",
            || format!("{probes} probe results"),
            8.0 * probes as f64 + 32.0 * 16.0 * g.num_params() as f64,
            "use fewer probes",
        )?;
        let mut op = ModelCurvature::new("hessian_trace", &g, &data.0, kind)?;
        let t = hutchinson(&mut op, probes, o.seed("seed", 0)?)?;
        let mut out = Map::new();
        out.insert("value".into(), Dynamic::from_float(t.value));
        out.insert("stderr".into(), Dynamic::from_float(t.stderr));
        out.insert("probes".into(), Dynamic::from_int(t.probes as INT));
        out.insert("seed".into(), Dynamic::from_int(t.seed as INT));
        out.insert("seconds".into(), Dynamic::from_float(t.seconds));
        Ok(out)
    }

    /// The exactness check, default options (5 directions).
    #[rhai_fn(name = "check_hessian", return_raw)]
    pub fn check_hessian2(m: Model, data: types::Dataset) -> RResult<f64> {
        check_hessian(m, data, Map::new())
    }

    /// The largest relative difference, over `directions` (5) random unit
    /// directions (`seed`), between the exact `hvp` and a central finite
    /// difference of `grad` with step 1e-5 — about 1e-8 or smaller when all is
    /// well (the finite difference is the inexact side).
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 40, k: 3, dim: 4, seed: 1 });
    /// let m = mlp([4, 6, 3], #{ act: "tanh", seed: 1 });
    /// print(check_hessian(m, data) < 1e-6);   // prints true
    /// ```
    /// The exactness check over `directions` random directions, given
    /// positionally: `check_hessian(m, data, 10)`.
    #[rhai_fn(name = "check_hessian", return_raw)]
    pub fn check_hessian3(m: Model, data: types::Dataset, directions: INT) -> RResult<f64> {
        let mut o = Map::new();
        o.insert("directions".into(), Dynamic::from_int(directions));
        check_hessian(m, data, o)
    }

    /// `check_hessian`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const CHECK_HESSIAN_OPTS: Keys = Keys {
        op: "check_hessian",
        keys: &["directions", "seed"],
    };

    /// `check_hessian(m, data, opts)`: the check with options (see above).
    #[rhai_fn(name = "check_hessian", return_raw)]
    pub fn check_hessian(m: Model, data: types::Dataset, opts: Map) -> RResult<f64> {
        let o = Opts::of(&CHECK_HESSIAN_OPTS, opts)?;
        let g = m.read();
        Ok(check(
            &g,
            &data.0,
            o.usize("directions", 5)?,
            o.seed("seed", 0)?,
        )?)
    }

    // ----- Spectrum -----

    /// Number of eigenvalues.
    #[rhai_fn(name = "len", get = "len", pure)]
    pub fn s_len(s: &mut types::Spectrum) -> INT {
        s.0.len() as INT
    }

    /// Eigenvalue `i` in ascending order (negative `i` counts from the end).
    #[rhai_fn(index_get, return_raw, pure)]
    pub fn s_index(s: &mut types::Spectrum, i: INT) -> RResult<f64> {
        let n = s.0.len() as INT;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return script_err(format!(
                "spectrum index: expected an index in 0..{n}, got {i}"
            ));
        }
        Ok(s.0.values()[j as usize])
    }

    /// The smallest eigenvalue (a property and a method: `s.min`, `s.min()`).
    #[rhai_fn(name = "min", get = "min", return_raw, pure)]
    pub fn s_min(s: &mut types::Spectrum) -> RResult<f64> {
        s.0.min()
            .map_or_else(|| script_err("min: the spectrum is empty"), Ok)
    }

    /// The largest eigenvalue (a property and a method: `s.max`, `s.max()`).
    ///
    /// # Example
    /// ```rhai
    /// let s = eigs(matrix([[1, 0], [0, -2]]));
    /// print([s.min(), s.max()]);   // prints [-2.0, 1.0]
    /// print([s.min, s.max]);       // prints [-2.0, 1.0]
    /// ```
    #[rhai_fn(name = "max", get = "max", return_raw, pure)]
    pub fn s_max(s: &mut types::Spectrum) -> RResult<f64> {
        s.0.max()
            .map_or_else(|| script_err("max: the spectrum is empty"), Ok)
    }

    /// The `k` largest eigenvalues, largest first (all of them when k ≥ len).
    ///
    /// # Example
    /// ```rhai
    /// print(eigs(matrix([[3, 0, 0], [0, 1, 0], [0, 0, 2]])).top(2));   // prints [3.0, 2.0]
    /// ```
    #[rhai_fn(name = "top", return_raw, pure)]
    pub fn s_top(s: &mut types::Spectrum, k: INT) -> RResult<Array> {
        if k < 0 {
            return script_err(format!("top: expected k ≥ 0, got {k}"));
        }
        Ok(s.0
            .top(k as usize)
            .into_iter()
            .map(Dynamic::from_float)
            .collect())
    }

    /// How many eigenvalues are above `t` (a float or an integer; not NaN,
    /// ±∞ allowed).
    ///
    /// # Example
    /// ```rhai
    /// let s = eigs(matrix([[3, 0], [0, 0.5]]));
    /// print(s.count_above(1));     // prints 1
    /// print(s.count_above(0.1));   // prints 2
    /// ```
    #[rhai_fn(name = "count_above", return_raw, pure)]
    pub fn s_count_above(s: &mut types::Spectrum, t: f64) -> RResult<INT> {
        if t.is_nan() {
            return script_err("count_above: expected a threshold that is a number, got NaN");
        }
        Ok(s.0.count_above(t) as INT)
    }

    /// How many eigenvalues are above the integer `t`.
    #[rhai_fn(name = "count_above", pure)]
    pub fn s_count_above_i(s: &mut types::Spectrum, t: INT) -> INT {
        s.0.count_above(t as f64) as INT
    }

    /// The fraction of eigenvalues below zero.
    ///
    /// # Example
    /// ```rhai
    /// print(eigs(matrix([[1, 0], [0, -2]])).frac_negative());   // prints 0.5
    /// ```
    #[rhai_fn(name = "frac_negative", pure)]
    pub fn s_frac_negative(s: &mut types::Spectrum) -> f64 {
        s.0.frac_negative()
    }

    /// How many eigenvalues stand out of the bulk, by the elbow rule.
    #[rhai_fn(name = "outliers", return_raw, pure)]
    pub fn s_outliers1(s: &mut types::Spectrum) -> RResult<INT> {
        Ok(s.0.outliers(OutlierRule::Elbow)? as INT)
    }

    /// `outliers`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const OUTLIERS_OPTS: Keys = Keys {
        op: "outliers",
        keys: &["rule", "threshold", "above"],
    };

    /// How many eigenvalues stand out of the bulk: `rule` "elbow" (default),
    /// "gap" (largest consecutive gap), "ratio" (largest consecutive ratio) —
    /// the three heuristics of Sagun et al. 2017, Table 1 — or `threshold: t`
    /// (count above t).
    ///
    /// Every rule looks only at the eigenvalues above the bulk's edge, so a
    /// full spectrum, a Gauss–Newton spectrum and a `top_eigs` spectrum longer
    /// than the count agree. `above` sets the edge; its default is the
    /// largest of the negative side's magnitude (|λ| at the 2% quantile of the
    /// negative eigenvalues, or |λ_min| with fewer than 10 of them), 5% of λ₁,
    /// and the rounding floor n·ε·max|λ|. `rule: "all"` returns
    /// `#{ elbow, gap, ratio, edge }`: every rule's count and the edge used.
    ///
    /// # Example
    /// ```rhai
    /// let s = eigs(matrix([[5, 0, 0, 0], [0, 4, 0, 0], [0, 0, 0.001, 0], [0, 0, 0, 0.002]]));
    /// print(s.outliers());                        // prints 2
    /// print(s.outliers(#{ rule: "gap" }));        // prints 2
    /// print(s.outliers(#{ threshold: 4.5 }));     // prints 1
    /// print(s.outliers(#{ rule: "all" }));        // prints #{"edge": 0.25, "elbow": 2, "gap": 2, "ratio": 2}
    /// print(s.outliers(#{ rule: "ratio", above: 0.0015 }));   // prints 2
    /// ```
    #[rhai_fn(name = "outliers", return_raw, pure)]
    pub fn s_outliers(s: &mut types::Spectrum, opts: Map) -> RResult<Dynamic> {
        let o = Opts::of(&OUTLIERS_OPTS, opts)?;
        let above = o.opt_f64("above")?;
        let rule = match (o.opt_string("rule")?, o.opt_f64("threshold")?) {
            (Some(_), Some(_)) => {
                return script_err("outliers: give either `rule` or `threshold`, not both")
            }
            (_, Some(_)) if above.is_some() => {
                return script_err(
                    "outliers: give either `threshold` (a count above t) or `above` (the edge the rules look above), not both",
                )
            }
            (_, Some(t)) => OutlierRule::Threshold(t),
            (Some(r), None) if r == "all" => {
                let c = s.0.all_outliers(above)?;
                let mut m = Map::new();
                m.insert("elbow".into(), Dynamic::from_int(c.elbow as INT));
                m.insert("gap".into(), Dynamic::from_int(c.gap as INT));
                m.insert("ratio".into(), Dynamic::from_int(c.ratio as INT));
                m.insert("edge".into(), Dynamic::from_float(c.edge));
                return Ok(Dynamic::from_map(m));
            }
            (Some(r), None) => OutlierRule::parse(&r)?,
            (None, None) => OutlierRule::Elbow,
        };
        Ok(Dynamic::from_int(s.0.outliers_above(rule, above)? as INT))
    }

    /// The eigenvalues, ascending, as an array.
    ///
    /// # Example
    /// ```rhai
    /// print(eigs(matrix([[2, 0], [0, 1]])).to_array());   // prints [1.0, 2.0]
    /// ```
    #[rhai_fn(name = "to_array", return_raw, pure)]
    pub fn s_to_array(s: &mut types::Spectrum) -> RResult<Array> {
        crate::script::api::values::array_room(s.0.values().len())?;
        Ok(s.0
            .values()
            .iter()
            .map(|&x| Dynamic::from_float(x))
            .collect())
    }

    /// How the spectrum was obtained: method, matrix, steps, probes, seed,
    /// matvecs, residuals, seconds.
    #[rhai_fn(get = "info", pure)]
    pub fn s_info(s: &mut types::Spectrum) -> Map {
        info_map(&s.0.info)
    }

    // ----- Density -----

    /// Grid points of a Density.
    #[rhai_fn(get = "x", pure)]
    pub fn d_x(d: &mut types::Density) -> Array {
        d.0.x.iter().map(|&x| Dynamic::from_float(x)).collect()
    }

    /// Density values on the grid (they integrate to 1).
    #[rhai_fn(get = "y", pure)]
    pub fn d_y(d: &mut types::Density) -> Array {
        d.0.y.iter().map(|&x| Dynamic::from_float(x)).collect()
    }

    /// How the density was obtained.
    #[rhai_fn(get = "info", pure)]
    pub fn d_info(d: &mut types::Density) -> Map {
        info_map(&d.0.info)
    }
}
