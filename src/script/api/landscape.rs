//! Landscapes: the loss along a line between two solutions (`Curve`) and on
//! a plane around one (`Surface`).

use rhai::plugin::*;

/// Landscapes: loss along lines and on planes. (script functions)
#[export_module]
pub mod landscape {
    use crate::landscape::{interpolate as line, Dirs, LineOpts, SurfaceOpts};
    use crate::script::api::model::floats;
    use crate::script::opts::Keys;
    use crate::script::opts::{as_f64, f64s, script_err, type_name, Opts};
    use crate::script::types::{self, Matrix, Model, Plot, Vector};
    use rhai::{Array, Dynamic, Map};
    use std::sync::Arc;

    type RResult<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// The loss along the line between two models, default options.
    #[rhai_fn(name = "interpolate", return_raw)]
    pub fn interpolate3(a: Dynamic, b: Dynamic, data: types::Dataset) -> RResult<types::Curve> {
        interpolate(a, b, data, Map::new())
    }

    /// `interpolate`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const INTERPOLATE_OPTS: Keys = Keys {
        op: "interpolate",
        keys: &["from", "to", "steps", "test", "model", "curvature"],
    };

    /// The training (and test) loss and accuracy at w(t) = (1 − t)·a + t·b.
    ///
    /// `a`, `b`: two Models of the same sizes, or two Vectors of parameters
    /// plus `model: m` for the architecture. Options: `from` (−0.5), `to`
    /// (1.5), `steps` (41 points, both ends included; t = 0 and t = 1 are hit
    /// exactly when on the grid), `test` (a Dataset), `curvature` (k: record
    /// the k largest Hessian eigenvalues at every point in `c.top`, by Lanczos
    /// warm-started from the neighbour's eigenvectors, residuals ≤ 1e-8·λ₁;
    /// at t = 0 and t = 1 they are those of the two models). `curve.barrier()`
    /// is the largest rise of the training loss on [0, 1] above the straight
    /// line between its ends.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 100, k: 2, dim: 4, seed: 1 });
    /// let a = mlp([4, 8, 2], #{ seed: 1 });
    /// let b = a.clone();
    /// train(b, data, #{ lr: 0.5, epochs: 50 });
    /// let c = interpolate(a, b, data, #{ from: 0.0, to: 1.0, steps: 11, curvature: 2 });
    /// print(c.t.len());                            // prints 11
    /// assert_close(c.loss[10], loss(b, data), 1e-12);
    /// assert_close(c.top[10], top_eigs(b, data, 2).top(2), 1e-6);
    /// ```
    #[rhai_fn(name = "interpolate", return_raw)]
    pub fn interpolate(
        a: Dynamic,
        b: Dynamic,
        data: types::Dataset,
        opts: Map,
    ) -> RResult<types::Curve> {
        let o = Opts::of(&INTERPOLATE_OPTS, opts)?;
        let lo = LineOpts {
            from: o.f64("from", -0.5)?,
            to: o.f64("to", 1.5)?,
            steps: o.usize("steps", 41)?,
            curvature: o.usize("curvature", 0)?,
        };
        let test = o.opt_custom::<types::Dataset>("test", "a Dataset")?;
        let model = o.opt_custom::<Model>("model", "a Model")?;
        let (template, pa, pb) = match (a.clone().try_cast::<Model>(), b.clone().try_cast::<Model>()) {
            (Some(ma), Some(mb)) => {
                let (ga, gb) = (ma.read(), mb.read());
                if !ga.same_architecture(&gb) {
                    return script_err(format!(
                        "interpolate: expected two models of the same architecture, got {} and {}",
                        ga.summary(),
                        gb.summary()
                    ));
                }
                (ga.clone(), ga.params().to_vec(), gb.params().to_vec())
            }
            _ => match (f64s(&a), f64s(&b), model) {
                (Some(va), Some(vb), Some(m)) => (m.read().clone(), va, vb),
                (Some(_), Some(_), None) => {
                    return script_err(
                        "interpolate: two Vectors of parameters need the architecture: add #{ model: m }",
                    )
                }
                _ => {
                    return script_err(format!(
                        "interpolate: expected two Models (or two Vectors and #{{ model: m }}), got {} and {}",
                        type_name(&a),
                        type_name(&b)
                    ))
                }
            },
        };
        // The line's extremes are at its ends: w(t) must be finite there, or
        // the error would surface later as the model's `params` refusing it.
        for t in [lo.from, lo.to] {
            let finite = t.is_finite()
                && (lo.to - lo.from).is_finite()
                && pa
                    .iter()
                    .zip(&pb)
                    .all(|(x, y)| ((1.0 - t) * x + t * y).is_finite());
            if !finite {
                return script_err(format!(
                    "interpolate: expected `from` and `to` that keep t and the parameters w(t) = (1 − t)·a + t·b finite, got from = {:e}, to = {:e} (w({t:e}) or to − from is not finite)",
                    lo.from, lo.to
                ));
            }
        }
        let c = line(
            &template,
            &pa,
            &pb,
            &data.0,
            test.as_ref().map(|t| t.0.as_ref()),
            &lo,
        )?;
        Ok(types::Curve(Arc::new(c)))
    }

    /// The positions t.
    #[rhai_fn(get = "t", pure)]
    pub fn c_t(c: &mut types::Curve) -> Array {
        floats(&c.0.t)
    }

    /// Training loss along the line.
    #[rhai_fn(get = "loss", pure)]
    pub fn c_loss(c: &mut types::Curve) -> Array {
        floats(&c.0.loss)
    }

    /// Training accuracy along the line.
    #[rhai_fn(get = "acc", pure)]
    pub fn c_acc(c: &mut types::Curve) -> Array {
        floats(&c.0.acc)
    }

    /// Test loss along the line (empty without `test`).
    #[rhai_fn(get = "test_loss", pure)]
    pub fn c_test_loss(c: &mut types::Curve) -> Array {
        floats(&c.0.test_loss)
    }

    /// Test accuracy along the line (empty without `test`).
    #[rhai_fn(get = "test_acc", pure)]
    pub fn c_test_acc(c: &mut types::Curve) -> Array {
        floats(&c.0.test_acc)
    }

    /// With `curvature: k`: the k largest Hessian eigenvalues at each point
    /// (one array per point, largest first); empty otherwise.
    #[rhai_fn(get = "top", pure)]
    pub fn c_top(c: &mut types::Curve) -> Array {
        c.0.top
            .iter()
            .map(|v| Dynamic::from_array(floats(v)))
            .collect()
    }

    /// λ₁ at each point (with `curvature`).
    #[rhai_fn(get = "sharpness", pure)]
    pub fn c_sharpness(c: &mut types::Curve) -> Array {
        c.0.top
            .iter()
            .map(|v| Dynamic::from_float(v.first().copied().unwrap_or(f64::NAN)))
            .collect()
    }

    /// The loss on a plane around the model, default options.
    #[rhai_fn(name = "landscape", return_raw)]
    pub fn landscape2(m: Model, data: types::Dataset) -> RResult<types::Surface> {
        landscape(m, data, Map::new())
    }

    /// `landscape`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const LANDSCAPE_OPTS: Keys = Keys {
        op: "landscape",
        keys: &["dirs", "range", "steps", "seed", "test"],
    };

    /// The loss (and accuracy) on the plane w + a·d₁ + b·d₂ around the
    /// model's parameters w (Li et al. 2018), a and b on a grid.
    ///
    /// Options: `dirs` — "random" (default: seeded Gaussian directions,
    /// filter-normalised as Li et al.'s code: per output unit of a Linear,
    /// per filter of a Conv2d, each rescaled to the norm of the matching
    /// weights; bias and LayerNorm entries zero), "top_eigs" (the two leading
    /// Hessian eigenvectors, unit norm; `s.eigenvalues` holds λ₁, λ₂), or
    /// `[d1, d2]` (two Vectors, used as given); `range` ([-1.0, 1.0], or a
    /// number r for [-r, r]); `steps` (21 points per axis); `seed`; `test` (a
    /// Dataset: `test_loss`, `test_acc`). `s.loss[i][j]` is the loss at
    /// `(a[i], b[j])`; `plot(s)` draws a heat map with contours; `save_npy(s,
    /// path)` writes the loss matrix. Ctrl-C stops it.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 60, k: 3, dim: 5, seed: 1 });
    /// let m = mlp([5, 8, 3], #{ act: "tanh", seed: 1 });
    /// train(m, data, #{ lr: 0.5, steps: 100 });
    /// let s = landscape(m, data, #{ steps: 11, range: 0.5 });
    /// print([s.loss.rows, s.loss.cols]);          // prints [11, 11]
    /// assert_close(s.loss[5][5], loss(m, data), 1e-12);
    /// plot(s);
    /// ```
    #[rhai_fn(name = "landscape", return_raw)]
    pub fn landscape(m: Model, data: types::Dataset, opts: Map) -> RResult<types::Surface> {
        let o = Opts::of(&LANDSCAPE_OPTS, opts)?;
        let dirs = match o.get("dirs") {
            None => Dirs::Random,
            Some(d) if d.is_string() => match d.to_string().as_str() {
                "random" => Dirs::Random,
                "top_eigs" => Dirs::TopEigs,
                other => {
                    return script_err(format!(
                        "landscape: option `dirs`: expected \"random\", \"top_eigs\" or [Vector, Vector], got \"{other}\""
                    ))
                }
            },
            Some(d) => {
                let arr = d.clone().try_cast::<Array>();
                let pair = arr.as_ref().and_then(|a| {
                    if a.len() == 2 {
                        Some((f64s(&a[0])?, f64s(&a[1])?))
                    } else {
                        None
                    }
                });
                match pair {
                    Some((a, b)) => Dirs::Given(a, b),
                    None => {
                        return script_err(format!(
                            "landscape: option `dirs`: expected \"random\", \"top_eigs\" or [Vector, Vector], got {} {d}",
                            type_name(d)
                        ))
                    }
                }
            }
        };
        let range = match o.get("range") {
            None => (-1.0, 1.0),
            Some(r) => match (as_f64(r), f64s(r)) {
                (Some(x), _) => (-x, x),
                (None, Some(v)) if v.len() == 2 => (v[0], v[1]),
                _ => {
                    return script_err(format!(
                        "landscape: option `range`: expected [lo, hi] or a number r (for [-r, r]), got {} {r}",
                        type_name(r)
                    ))
                }
            },
        };
        let so = SurfaceOpts {
            dirs,
            range,
            steps: o.usize("steps", 21)?,
            seed: o.seed("seed", 0)?,
        };
        let test = o.opt_custom::<types::Dataset>("test", "a Dataset")?;
        let g = m.read();
        let s = crate::landscape::landscape(&g, &data.0, test.as_ref().map(|t| t.0.as_ref()), &so)?;
        Ok(types::Surface(Arc::new(s)))
    }

    /// The grid along d₁.
    #[rhai_fn(get = "a", pure)]
    pub fn s_a(s: &mut types::Surface) -> Array {
        floats(&s.0.a)
    }

    /// The grid along d₂.
    #[rhai_fn(get = "b", pure)]
    pub fn s_b(s: &mut types::Surface) -> Array {
        floats(&s.0.b)
    }

    /// The training loss on the grid: `loss[i][j]` at `(a[i], b[j])`.
    #[rhai_fn(get = "loss", pure)]
    pub fn s_loss(s: &mut types::Surface) -> Matrix {
        Matrix::new(s.0.loss.clone())
    }

    /// The training accuracy on the grid (class labels only).
    #[rhai_fn(get = "acc", pure, return_raw)]
    pub fn s_acc(s: &mut types::Surface) -> RResult<Matrix> {
        match &s.0.acc {
            Some(a) => Ok(Matrix::new(a.clone())),
            None => script_err(
                "landscape: accuracy is defined for class labels, got a surface computed on regression targets (use s.loss)",
            ),
        }
    }

    /// The test loss on the grid (with `test`).
    #[rhai_fn(get = "test_loss", pure, return_raw)]
    pub fn s_test_loss(s: &mut types::Surface) -> RResult<Matrix> {
        match &s.0.test_loss {
            Some(a) => Ok(Matrix::new(a.clone())),
            None => script_err("landscape: no test loss: compute the surface with #{ test: data }"),
        }
    }

    /// The test accuracy on the grid (with a labelled `test` set).
    #[rhai_fn(get = "test_acc", pure, return_raw)]
    pub fn s_test_acc(s: &mut types::Surface) -> RResult<Matrix> {
        match (&s.0.test_acc, &s.0.test_loss) {
            (Some(a), _) => Ok(Matrix::new(a.clone())),
            (None, Some(_)) => script_err(
                "landscape: accuracy is defined for class labels, got a test set of regression targets",
            ),
            (None, None) => {
                script_err("landscape: no test accuracy: compute the surface with #{ test: data }")
            }
        }
    }

    /// The two directions d₁, d₂ (Vectors).
    #[rhai_fn(get = "dirs", pure)]
    pub fn s_dirs(s: &mut types::Surface) -> Array {
        vec![
            Dynamic::from(Vector::new(s.0.d1.clone())),
            Dynamic::from(Vector::new(s.0.d2.clone())),
        ]
    }

    /// With `dirs: "top_eigs"`: [λ₁, λ₂]; empty otherwise.
    #[rhai_fn(get = "eigenvalues", pure)]
    pub fn s_eigenvalues(s: &mut types::Surface) -> Array {
        floats(&s.0.eigenvalues)
    }

    /// Draws a surface as a heat map with contour lines (terminal and SVG).
    #[rhai_fn(name = "plot", return_raw)]
    pub fn plot_surface1(s: types::Surface) -> RResult<Plot> {
        plot_surface(s, Map::new())
    }

    /// Draws a surface as a heat map with contour lines: characters in a
    /// terminal, coloured cells with contours and a colour bar in SVG.
    /// Options: `title`, `width`, `height` (pixels), `log_y` (bands of
    /// log₁₀ loss; default when the loss spans more than a decade).
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 40, k: 2, dim: 3, seed: 1 });
    /// let s = landscape(mlp([3, 4, 2], #{ seed: 1 }), data, #{ steps: 5 });
    /// let p = plot(s, #{ title: "around init" });
    /// print(type_of(p));   // prints Plot
    /// ```
    #[rhai_fn(name = "plot", return_raw)]
    pub fn plot_surface(s: types::Surface, opts: Map) -> RResult<Plot> {
        let o = Opts::new("plot", opts, &["title", "width", "height", "log_y"])?;
        let mut h = crate::plot::views::surface(&s.0)?;
        if let Some(t) = o.opt_string("title")? {
            h.title = Some(t);
        }
        if let Some(l) = o.get("log_y") {
            h.log = l
                .as_bool()
                .map_err(|_| format!("plot: option `log_y`: expected true or false, got {l}"))?;
        }
        let w = o.usize("width", h.width as usize)?;
        let ht = o.usize("height", h.height as usize)?;
        if !(160..=4000).contains(&w) || !(100..=4000).contains(&ht) {
            return script_err(format!(
                "plot: expected width in 160..4000 and height in 100..4000 pixels, got {w} × {ht}"
            ));
        }
        h.width = w as u32;
        h.height = ht as u32;
        Ok(Plot::show(crate::plot::Figure::heat(h)))
    }

    /// Writes a surface's loss matrix (steps × steps, `loss[i][j]` at
    /// `(a[i], b[j])`) as a `.npy` file (f64, C order).
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 40, k: 2, dim: 3, seed: 1 });
    /// let s = landscape(mlp([3, 4, 2], #{ seed: 1 }), data, #{ steps: 3 });
    /// let path = temp_path("surface.npy");
    /// save_npy(s, path);
    /// print(load_npy(path).rows);   // prints 3
    /// ```
    #[rhai_fn(name = "save_npy", return_raw)]
    pub fn save_surface(s: types::Surface, path: &str) -> RResult<()> {
        crate::data::npy::write_npy(
            std::path::Path::new(path),
            &crate::data::npy::NpyArray::Matrix(s.0.loss.clone()),
        )?;
        Ok(())
    }

    /// The largest rise of the training loss on [0, 1] above the chord
    /// between its end values (0: no barrier).
    #[rhai_fn(name = "barrier", pure)]
    pub fn c_barrier(c: &mut types::Curve) -> f64 {
        c.0.barrier()
    }
}
