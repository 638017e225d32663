//! Models, loss, gradient and training.

use crate::script::opts::{as_int, script_err, type_name};
use rhai::plugin::*;
use rhai::Array;

fn sizes_of(a: &Array) -> RResult<Vec<usize>> {
    a.iter()
        .map(|d| match as_int(d) {
            Some(i) if i >= 0 => Ok(i as usize),
            _ => script_err(format!(
                "mlp: expected layer sizes as integers ≥ 1, got {} {d}",
                type_name(d)
            )),
        })
        .collect()
}

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// The valid keys of `train`'s `track` map.
pub const TRACK_KEYS: &[&str] = &["every", "top", "trace", "tol", "seed"];

/// Parses `train`'s `track` option: a map of [`TRACK_KEYS`] (or `true` for
/// the defaults).
fn track_opts(o: &crate::script::opts::Opts) -> RResult<Option<crate::train::TrackOpts>> {
    use crate::script::opts::{as_int, Opts};
    let Some(d) = o.get("track") else {
        return Ok(None);
    };
    if let Ok(b) = d.as_bool() {
        return Ok(b.then(crate::train::TrackOpts::default));
    }
    let Some(map) = d.clone().try_cast::<rhai::Map>() else {
        return script_err(format!(
            "train: option `track`: expected a map such as #{{ every: 50, top: 1 }}, got {} {d}",
            type_name(d)
        ));
    };
    let t = Opts::new("train: track", map, TRACK_KEYS)?;
    let mut to = crate::train::TrackOpts {
        every: t.opt_usize("every")?,
        top: t.usize("top", 1)?,
        tol: t.f64("tol", 1e-6)?,
        seed: t.seed("seed", 0)?,
        ..Default::default()
    };
    if let Some(tr) = t.get("trace") {
        to.trace_probes = if let Ok(b) = tr.as_bool() {
            if b {
                100
            } else {
                0
            }
        } else {
            match as_int(tr) {
                Some(i) if i >= 1 => i as usize,
                _ => {
                    return script_err(format!(
                        "train: track: option `trace`: expected true, false or a number of probes ≥ 1, got {} {tr}",
                        type_name(tr)
                    ))
                }
            }
        };
    }
    Ok(Some(to))
}

thread_local! {
    static LAST_HISTORY: std::cell::RefCell<Option<std::sync::Arc<crate::train::History>>> =
        const { std::cell::RefCell::new(None) };
}

/// Remembers the History of the last `train` call (this thread's session).
pub fn set_last_history(h: Option<std::sync::Arc<crate::train::History>>) {
    LAST_HISTORY.with(|l| *l.borrow_mut() = h);
}

/// The History of the last `train` call, if any.
pub fn get_last_history() -> Option<std::sync::Arc<crate::train::History>> {
    LAST_HISTORY.with(|l| l.borrow().clone())
}

/// Floats as a script array.
pub fn floats(xs: &[f64]) -> Array {
    xs.iter().map(|&x| rhai::Dynamic::from_float(x)).collect()
}

/// Models: construction, training, loss, gradients, parameters. (script functions)
#[export_module]
pub mod model {
    use super::{floats, sizes_of};
    use crate::model::{Act, Init, LossKind, MlpOpts, Network};
    use crate::script::opts::Keys;
    use crate::script::opts::{script_err, Opts};
    use crate::script::types::{self, Matrix, Model, Vector};
    use crate::train::{self, TrainOpts};
    use rhai::{Array, Dynamic, Map, INT};
    use std::sync::Arc;

    use super::RResult;

    /// A multilayer perceptron with layer widths `sizes` (input first) and default options.
    ///
    /// # Example
    /// ```rhai
    /// let m = mlp([784, 10, 10]);
    /// print(m.num_params);   // prints 7960
    /// ```
    #[rhai_fn(name = "mlp", return_raw)]
    pub fn mlp_default(sizes: Array) -> RResult<Model> {
        mlp(sizes, Map::new())
    }

    /// `mlp`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const MLP_OPTS: Keys = Keys {
        op: "mlp",
        keys: &["act", "loss", "bias", "init", "init_std", "seed"],
    };

    /// A multilayer perceptron with layer widths `sizes` (input first).
    ///
    /// Options: `act` ("relu" default, "tanh", "sigmoid", "linear": every hidden
    /// layer; the last layer is affine), `loss` ("cross_entropy" default, or
    /// "mse"), `bias` (true), `init` ("uniform" default: U(−1/√fan_in, 1/√fan_in)
    /// for weights and biases as PyTorch's `nn.Linear`; or "normal":
    /// `init_std`·N(0, 1), `init_std` default 0.1 as the paper's code), `seed` (0).
    /// The flat parameter order is layer by layer, weight (out × in, row-major)
    /// then bias — PyTorch's `parameters_to_vector`.
    ///
    /// # Example
    /// ```rhai
    /// let m = mlp([100, 30, 30, 10], #{ act: "tanh", init: "normal", seed: 1 });
    /// print(m.num_params);   // prints 4270
    /// print(m.sizes);        // prints [100, 30, 30, 10]
    /// ```
    #[rhai_fn(name = "mlp", return_raw)]
    pub fn mlp(sizes: Array, opts: Map) -> RResult<Model> {
        let o = Opts::of(&MLP_OPTS, opts)?;
        let init = match o.string("init", "uniform")?.as_str() {
            "uniform" => {
                if o.get("init_std").is_some() {
                    return script_err("mlp: option `init_std` needs init: \"normal\"");
                }
                Init::Uniform
            }
            "normal" => Init::Normal {
                std: o.f64("init_std", 0.1)?,
            },
            other => {
                return script_err(format!(
                    "mlp: option `init`: expected \"uniform\" or \"normal\", got \"{other}\""
                ))
            }
        };
        let mo = MlpOpts {
            act: Act::parse(&o.string("act", "relu")?)?,
            loss: LossKind::parse(&o.string("loss", "cross_entropy")?)?,
            bias: o.bool("bias", true)?,
            init,
            seed: o.seed("seed", 0)?,
        };
        Ok(Model::new(Network::mlp(&sizes_of(&sizes)?, &mo)?))
    }

    /// The number of parameters P.
    #[rhai_fn(get = "num_params", pure)]
    pub fn num_params(m: &mut Model) -> INT {
        m.read().num_params() as INT
    }

    /// The layer widths, input first, of a model made by `mlp` (`()` for other networks).
    ///
    /// # Example
    /// ```rhai
    /// print(mlp([4, 3, 2]).sizes);   // prints [4, 3, 2]
    /// ```
    #[rhai_fn(get = "sizes", pure)]
    pub fn sizes(m: &mut Model) -> Dynamic {
        match m.read().sizes() {
            Some(s) => {
                Dynamic::from_array(s.iter().map(|&s| Dynamic::from_int(s as INT)).collect())
            }
            None => Dynamic::UNIT,
        }
    }

    /// The flat parameter vector (a copy).
    ///
    /// # Example
    /// ```rhai
    /// let m = mlp([2, 3, 2]);
    /// let p = m.params;
    /// m.params = p * 0.5;
    /// assert_close(norm(m.params), norm(p) / 2, 1e-12);
    /// ```
    #[rhai_fn(get = "params", pure)]
    pub fn get_params(m: &mut Model) -> Vector {
        Vector::new(m.read().params().to_vec())
    }

    /// Sets the flat parameter vector (length must be `num_params`): a
    /// Vector, or an array of numbers.
    ///
    /// # Example
    /// ```rhai
    /// let m = mlp([1, 1]);
    /// m.params = [0.5, 2.0];
    /// print(m.params);   // prints Vector[2] [0.5, 2]
    /// ```
    #[rhai_fn(set = "params", return_raw)]
    pub fn set_params(m: &mut Model, v: Dynamic) -> RResult<()> {
        let values = match v.clone().try_cast::<Vector>() {
            Some(v) => v.as_slice().to_vec(),
            None => match crate::script::opts::f64s(&v) {
                Some(xs) => xs,
                None => {
                    return crate::script::opts::script_err(format!(
                        "params: expected a Vector of length {}, got {}",
                        m.read().num_params(),
                        crate::script::opts::type_name(&v)
                    ))
                }
            },
        };
        m.write().set_params(&values)?;
        Ok(())
    }

    /// An independent copy of a model (plain assignment shares the model).
    ///
    /// # Example
    /// ```rhai
    /// let a = mlp([2, 3, 2]);
    /// let b = a.clone();
    /// b.params = zeros(b.num_params);
    /// print(norm(a.params) > 0);   // prints true
    /// ```
    #[rhai_fn(name = "clone", pure)]
    pub fn clone_model(m: &mut Model) -> Model {
        Model::new(m.read().clone())
    }

    /// The model's outputs (logits) for every example of a Dataset, as an N × k Matrix.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 20, k: 2, dim: 3, seed: 1 });
    /// let f = predict(mlp([3, 4, 2]), data);
    /// print([f.rows, f.cols]);   // prints [20, 2]
    /// ```
    #[rhai_fn(name = "predict", return_raw)]
    pub fn predict_data(m: Model, data: types::Dataset) -> RResult<Matrix> {
        Ok(Matrix::new(m.read().predict(data.0.x())?))
    }

    /// The model's outputs (logits) for the rows of a Matrix of inputs.
    #[rhai_fn(name = "predict", return_raw)]
    pub fn predict_matrix(m: Model, x: Matrix) -> RResult<Matrix> {
        Ok(Matrix::new(m.read().predict(&x.0)?))
    }

    /// The mean loss of the model over a Dataset.
    ///
    /// cross_entropy: `L = (1/N) Σᵢ −log softmax(f(xᵢ))[yᵢ]`;
    /// mse: L = (1/N) Σᵢ ½‖f(xᵢ) − tᵢ‖² with tᵢ one-hot for integer labels.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 50, k: 3, dim: 4, seed: 1 });
    /// let m = mlp([4, 8, 3], #{ init: "normal", init_std: 0.0 });
    /// assert_close(loss(m, data), ln(3.0), 1e-12);   // uniform softmax at zero weights
    /// ```
    #[rhai_fn(return_raw)]
    pub fn loss(m: Model, data: types::Dataset) -> RResult<f64> {
        Ok(m.read().loss(&data.0)?)
    }

    /// The fraction of examples whose largest output is the label.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 40, k: 2, dim: 2, seed: 3 });
    /// let a = accuracy(mlp([2, 2]), data);
    /// assert(a >= 0.0 && a <= 1.0, "a fraction");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn accuracy(m: Model, data: types::Dataset) -> RResult<f64> {
        Ok(m.read().accuracy(&data.0)?)
    }

    /// The gradient ∇L of the mean loss with respect to the flat parameters.
    ///
    /// Exact back-propagation in f64.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 30, k: 3, dim: 4, seed: 2 });
    /// let m = mlp([4, 5, 3], #{ act: "tanh", seed: 1 });
    /// let g = grad(m, data);
    /// print(g.len == m.num_params);   // prints true
    /// // a central difference along g agrees
    /// let p = m.params;  let h = 1e-5;
    /// let a = m.clone();  a.params = p + g * h;
    /// let b = m.clone();  b.params = p - g * h;
    /// assert_close((loss(a, data) - loss(b, data)) / (2 * h), dot(g, g), 1e-6);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn grad(m: Model, data: types::Dataset) -> RResult<Vector> {
        Ok(Vector::new(m.read().loss_grad(&data.0)?.1))
    }

    /// Trains the model in place with default options (full-batch GD, lr 0.1, 10 epochs).
    #[rhai_fn(name = "train", return_raw)]
    pub fn train_default(m: Model, data: types::Dataset) -> RResult<types::History> {
        train(m, data, Map::new())
    }

    /// `train`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const TRAIN_OPTS: Keys = Keys {
        op: "train",
        keys: &[
            "lr",
            "batch",
            "epochs",
            "steps",
            "momentum",
            "weight_decay",
            "shuffle",
            "seed",
            "test",
            "log_every",
            "until_grad_norm",
            "track",
        ],
    };

    /// Trains the model in place by (stochastic) gradient descent and returns its History.
    ///
    /// Options: `lr` (0.1), `batch` (0 = full batch), `epochs` (10 when
    /// neither `epochs` nor `steps` is given) or `steps`, `momentum` (0),
    /// `weight_decay` (0), `shuffle` (true), `seed` (0), `test` (a Dataset
    /// evaluated at every log point), `log_every` (about 100 log points by
    /// default), `until_grad_norm` (stop once the full-batch ‖∇L‖ is below it).
    /// The update is PyTorch's SGD. Training a trained model continues from its
    /// parameters. A NaN or ∞ stops with an error naming the step and the lr, and
    /// leaves the last finite parameters. A progress bar shows on a terminal;
    /// Ctrl-C stops it, keeps the parameters reached, and `last_history()`
    /// returns what was recorded.
    ///
    /// `track: #{ every, top, trace, tol, seed }` records the curvature as
    /// training goes (Cohen et al. 2021's edge of stability): at step 0,
    /// every `every` steps (default: about 50 points) and at the end, the
    /// `top` (1) largest eigenvalues of the Hessian of the training loss
    /// (without weight decay), by Lanczos warm-started from the previous
    /// point's eigenvectors (a few HVPs per point) with Ritz residuals ≤
    /// `tol`·λ₁ (1e-6); `trace: true` (100 probes) or a probe count adds
    /// Hutchinson's tr H. The History then has `tracked` (`steps`, `top`,
    /// `trace`, `matvecs`, …), `sharpness` (λ₁ per tracked step) and
    /// `stability` ((2 + 2β)/lr − wd); `plot(h)` draws the sharpness against
    /// that line, and the progress bar shows the current λ₁.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 200, k: 4, dim: 20, seed: 1 });
    /// let m = mlp([20, 16, 4], #{ seed: 1 });
    /// let h = train(m, data, #{ lr: 0.1, batch: 20, epochs: 30, seed: 1 });
    /// print(h.acc[-1]);                   // prints 1.0
    /// assert(h.loss[-1] < h.loss[0] / 10, "loss falls");
    /// ```
    #[rhai_fn(name = "train", return_raw)]
    pub fn train(m: Model, data: types::Dataset, opts: Map) -> RResult<types::History> {
        let o = Opts::of(&TRAIN_OPTS, opts)?;
        if o.get("epochs").is_some() && o.get("steps").is_some() {
            return script_err("train: give either `epochs` or `steps`, not both");
        }
        let to = TrainOpts {
            lr: o.f64("lr", 0.1)?,
            batch: o.usize("batch", 0)?,
            epochs: o.opt_usize("epochs")?,
            steps: o.opt_usize("steps")?,
            momentum: o.f64("momentum", 0.0)?,
            weight_decay: o.f64("weight_decay", 0.0)?,
            shuffle: o.bool("shuffle", true)?,
            seed: o.seed("seed", 0)?,
            test: o
                .opt_custom::<types::Dataset>("test", "a Dataset")?
                .map(|d| d.0.as_ref().clone()),
            log_every: o.opt_usize("log_every")?,
            until_grad_norm: o.opt_f64("until_grad_norm")?,
            track: track_opts(&o)?,
        };
        let mut guard = m.write();
        let mut h = train::History::default();
        let r = train::train_recording(&mut guard, &data.0, &to, &mut h);
        let h = Arc::new(h);
        if r.is_ok() || h.steps > 0 || !h.step.is_empty() {
            super::set_last_history(Some(h.clone()));
        }
        r?;
        Ok(types::History(h))
    }

    /// The History recorded by the last `train` call — also when it was
    /// interrupted (Ctrl-C: `interrupted` is true and the model keeps the
    /// parameters it had reached) or diverged; `()` before any training.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 40, k: 2, dim: 3, seed: 1 });
    /// train(mlp([3, 4, 2]), data, #{ steps: 5 });
    /// let h = last_history();
    /// print(h.steps);         // prints 5
    /// print(h.interrupted);   // prints false
    /// ```
    #[rhai_fn(name = "last_history")]
    pub fn last_history() -> Dynamic {
        match super::get_last_history() {
            Some(h) => Dynamic::from(types::History(h)),
            None => Dynamic::UNIT,
        }
    }

    /// Saves the model's parameters: `.npy` (the flat vector, f64) or
    /// `.safetensors` (one tensor per parameter, named and shaped as the
    /// `state_dict` of the equivalent PyTorch `nn.Sequential`: `0.weight`, `0.bias`, …).
    /// The write is atomic.
    ///
    /// # Example
    /// ```rhai
    /// let m = mlp([3, 4, 2], #{ seed: 5 });
    /// let path = temp_path("params.safetensors");
    /// save_params(m, path);
    /// let m2 = mlp([3, 4, 2]);
    /// load_params(m2, path);
    /// print(m2.params == m.params);   // prints true
    /// ```
    #[rhai_fn(return_raw)]
    pub fn save_params(m: Model, path: &str) -> RResult<()> {
        m.read().save_params(std::path::Path::new(path))?;
        Ok(())
    }

    /// Loads parameters saved by `save_params` (or by PyTorch with the same
    /// names) into the model, checking every shape.
    ///
    /// # Example
    /// ```rhai
    /// let path = temp_path("w.npy");
    /// save_params(mlp([3, 4, 2], #{ seed: 1 }), path);
    /// let m = mlp([3, 4, 2], #{ seed: 2 });
    /// load_params(m, path);
    /// print(m.params == mlp([3, 4, 2], #{ seed: 1 }).params);   // prints true
    /// ```
    #[rhai_fn(return_raw)]
    pub fn load_params(m: Model, path: &str) -> RResult<()> {
        m.write().load_params(std::path::Path::new(path))?;
        Ok(())
    }

    // ----- History -----

    /// Training loss at each log point.
    #[rhai_fn(get = "loss", pure)]
    pub fn h_loss(h: &mut types::History) -> Array {
        floats(&h.0.loss)
    }

    /// Training accuracy at each log point.
    #[rhai_fn(get = "acc", pure)]
    pub fn h_acc(h: &mut types::History) -> Array {
        floats(&h.0.acc)
    }

    /// Test loss at each log point (empty without `test`).
    #[rhai_fn(get = "test_loss", pure)]
    pub fn h_test_loss(h: &mut types::History) -> Array {
        floats(&h.0.test_loss)
    }

    /// Test accuracy at each log point (empty without `test`).
    #[rhai_fn(get = "test_acc", pure)]
    pub fn h_test_acc(h: &mut types::History) -> Array {
        floats(&h.0.test_acc)
    }

    /// Full-batch gradient norm at each log point.
    #[rhai_fn(get = "grad_norm", pure)]
    pub fn h_grad_norm(h: &mut types::History) -> Array {
        floats(&h.0.grad_norm)
    }

    /// The step number of each log point (0 = before training).
    #[rhai_fn(get = "step", pure)]
    pub fn h_step(h: &mut types::History) -> Array {
        h.0.step
            .iter()
            .map(|&s| Dynamic::from_int(s as INT))
            .collect()
    }

    /// The number of optimiser steps taken.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 40, k: 2, dim: 2, seed: 1 });
    /// let h = train(mlp([2, 4, 2]), data, #{ batch: 10, epochs: 3 });
    /// print(h.steps);   // prints 12
    /// ```
    #[rhai_fn(get = "steps", pure)]
    pub fn h_steps(h: &mut types::History) -> INT {
        h.0.steps as INT
    }

    /// True when the training was interrupted (see `last_history()`).
    #[rhai_fn(get = "interrupted", pure)]
    pub fn h_interrupted(h: &mut types::History) -> bool {
        h.0.interrupted
    }

    /// Why training stopped: "steps", "epochs", "until_grad_norm",
    /// "interrupted" or "diverged".
    #[rhai_fn(get = "stopped_by", pure)]
    pub fn h_stopped_by(h: &mut types::History) -> String {
        h.0.stopped_by.clone()
    }

    /// The curvature recorded with `track`: `#{ steps, top, trace,
    /// trace_stderr, matvecs, residual, seconds }` (`top`: one array per
    /// tracked step, largest first; `trace` empty unless asked for), or `()`
    /// without `track`.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 60, k: 3, dim: 5, seed: 1 });
    /// let m = mlp([5, 8, 3], #{ act: "tanh", seed: 1 });
    /// let h = train(m, data, #{ lr: 0.5, steps: 20, track: #{ every: 10, top: 2 } });
    /// print(h.tracked.steps);             // prints [0, 10, 20]
    /// print(h.tracked.top[2].len());      // prints 2
    /// assert_close(h.tracked.top[2], top_eigs(m, data, 2).top(2), 1e-5);
    /// ```
    #[rhai_fn(get = "tracked", pure)]
    pub fn h_tracked(h: &mut types::History) -> Dynamic {
        let Some(t) = &h.0.tracked else {
            return Dynamic::UNIT;
        };
        let ints =
            |xs: &[usize]| -> Array { xs.iter().map(|&s| Dynamic::from_int(s as INT)).collect() };
        let mut out = Map::new();
        out.insert("steps".into(), Dynamic::from_array(ints(&t.steps)));
        out.insert(
            "top".into(),
            Dynamic::from_array(
                t.top
                    .iter()
                    .map(|v| Dynamic::from_array(floats(v)))
                    .collect(),
            ),
        );
        out.insert("trace".into(), Dynamic::from_array(floats(&t.trace)));
        out.insert(
            "trace_stderr".into(),
            Dynamic::from_array(floats(&t.trace_stderr)),
        );
        out.insert("matvecs".into(), Dynamic::from_array(ints(&t.matvecs)));
        out.insert("residual".into(), Dynamic::from_array(floats(&t.residual)));
        out.insert("seconds".into(), Dynamic::from_float(t.seconds));
        Dynamic::from_map(out)
    }

    /// λ₁, the largest Hessian eigenvalue, at each tracked step (empty
    /// without `track`); compare with `h.stability`.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 60, k: 3, dim: 5, seed: 1 });
    /// let h = train(mlp([5, 8, 3], #{ seed: 1 }), data, #{ lr: 0.5, steps: 10, track: #{ every: 5 } });
    /// print(h.sharpness.len());   // prints 3
    /// print(h.stability);         // prints 4.0
    /// ```
    #[rhai_fn(get = "sharpness", pure)]
    pub fn h_sharpness(h: &mut types::History) -> Array {
        match &h.0.tracked {
            Some(t) => floats(&t.sharpness()),
            None => Array::new(),
        }
    }

    /// The edge of stability of the update, (2 + 2β)/lr − wd (β the
    /// momentum, wd the weight decay): 2/lr for plain gradient descent.
    #[rhai_fn(get = "stability", pure)]
    pub fn h_stability(h: &mut types::History) -> f64 {
        h.0.stability_threshold()
    }

    /// Seconds the training took.
    #[rhai_fn(get = "seconds", pure)]
    pub fn h_seconds(h: &mut types::History) -> f64 {
        h.0.seconds
    }
}
