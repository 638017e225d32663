//! Landscapes: the loss along a line between two solutions, and `Curve`.

use rhai::plugin::*;

#[export_module]
pub mod landscape {
    use crate::landscape::{interpolate as line, LineOpts};
    use crate::script::api::model::floats;
    use crate::script::opts::{f64s, script_err, type_name, Opts};
    use crate::script::types::{CurveV, Data, Model};
    use rhai::{Array, Dynamic, Map};
    use std::sync::Arc;

    type RResult<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// The loss along the line between two models, default options.
    #[rhai_fn(name = "interpolate", return_raw)]
    pub fn interpolate3(a: Dynamic, b: Dynamic, data: Data) -> RResult<CurveV> {
        interpolate(a, b, data, Map::new())
    }

    /// The training (and test) loss and accuracy at w(t) = (1 − t)·a + t·b.
    ///
    /// `a`, `b`: two Models of the same sizes, or two Vectors of parameters
    /// plus `model: m` for the architecture. Options: `from` (−0.5), `to`
    /// (1.5), `steps` (41 points, both ends included; t = 0 and t = 1 are hit
    /// exactly when on the grid), `test` (a Dataset). `curve.barrier()` is the
    /// largest rise of the training loss on [0, 1] above the straight line
    /// between its ends.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 100, k: 2, dim: 4, seed: 1 });
    /// let a = mlp([4, 8, 2], #{ seed: 1 });
    /// let b = a.clone();
    /// train(b, data, #{ lr: 0.5, epochs: 50 });
    /// let c = interpolate(a, b, data, #{ from: 0.0, to: 1.0, steps: 11 });
    /// print(c.t.len());                            // prints 11
    /// assert_close(c.loss[10], loss(b, data), 1e-12);
    /// ```
    #[rhai_fn(name = "interpolate", return_raw)]
    pub fn interpolate(a: Dynamic, b: Dynamic, data: Data, opts: Map) -> RResult<CurveV> {
        let o = Opts::of("interpolate", opts)?;
        let lo = LineOpts {
            from: o.f64("from", -0.5)?,
            to: o.f64("to", 1.5)?,
            steps: o.usize("steps", 41)?,
        };
        let test = o.opt_custom::<Data>("test", "a Dataset")?;
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
        let c = line(
            &template,
            &pa,
            &pb,
            &data.0,
            test.as_ref().map(|t| t.0.as_ref()),
            &lo,
        )?;
        Ok(CurveV(Arc::new(c)))
    }

    /// The positions t.
    #[rhai_fn(get = "t", pure)]
    pub fn c_t(c: &mut CurveV) -> Array {
        floats(&c.0.t)
    }

    /// Training loss along the line.
    #[rhai_fn(get = "loss", pure)]
    pub fn c_loss(c: &mut CurveV) -> Array {
        floats(&c.0.loss)
    }

    /// Training accuracy along the line.
    #[rhai_fn(get = "acc", pure)]
    pub fn c_acc(c: &mut CurveV) -> Array {
        floats(&c.0.acc)
    }

    /// Test loss along the line (empty without `test`).
    #[rhai_fn(get = "test_loss", pure)]
    pub fn c_test_loss(c: &mut CurveV) -> Array {
        floats(&c.0.test_loss)
    }

    /// Test accuracy along the line (empty without `test`).
    #[rhai_fn(get = "test_acc", pure)]
    pub fn c_test_acc(c: &mut CurveV) -> Array {
        floats(&c.0.test_acc)
    }

    /// The largest rise of the training loss on [0, 1] above the chord
    /// between its end values (0: no barrier).
    #[rhai_fn(name = "barrier", pure)]
    pub fn c_barrier(c: &mut CurveV) -> f64 {
        c.0.barrier()
    }

    #[rhai_fn(name = "to_string", pure)]
    pub fn c_to_string(c: &mut CurveV) -> String {
        c.to_string()
    }

    #[rhai_fn(name = "to_debug", pure)]
    pub fn c_to_debug(c: &mut CurveV) -> String {
        c.to_string()
    }
}
