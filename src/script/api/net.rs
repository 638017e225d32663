//! Networks of layers: `net(layers, opts)` and the layer constructors,
//! named and behaving as `torch.nn`'s modules.

use crate::script::opts::{as_int, script_err, type_name};
use rhai::{Dynamic, EvalAltResult};

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// A sample shape from an int or an array of ints ≥ 1.
pub fn shape_of(op: &str, key: &str, d: &Dynamic) -> RResult<Vec<usize>> {
    let bad = || -> Box<EvalAltResult> {
        format!(
            "{op}: {key}: expected an int ≥ 1 or an array of them (e.g. [1, 28, 28]), got {} {d}",
            type_name(d)
        )
        .into()
    };
    if let Some(i) = as_int(d) {
        return if i >= 1 {
            Ok(vec![i as usize])
        } else {
            Err(bad())
        };
    }
    match d.read_lock::<rhai::Array>() {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|x| match as_int(x) {
                Some(i) if i >= 1 => Ok(i as usize),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// A `[h, w]` pair from an int or a two-element array, each ≥ `min`.
pub fn pair_of(op: &str, key: &str, d: &Dynamic, min: i64) -> RResult<[usize; 2]> {
    let bad = || {
        script_err(format!(
            "{op}: {key}: expected an int ≥ {min} or [h, w] of them, got {} {d}",
            type_name(d)
        ))
    };
    if let Some(i) = as_int(d) {
        return if i >= min { Ok([i as usize; 2]) } else { bad() };
    }
    match d.read_lock::<rhai::Array>() {
        Some(a) if a.len() == 2 => match (as_int(&a[0]), as_int(&a[1])) {
            (Some(h), Some(w)) if h >= min && w >= min => Ok([h as usize, w as usize]),
            _ => bad(),
        },
        _ => bad(),
    }
}

/// A count ≥ 1.
fn count(op: &str, what: &str, v: i64) -> RResult<usize> {
    if v >= 1 {
        Ok(v as usize)
    } else {
        script_err(format!("{op}: {what}: expected an int ≥ 1, got {v}"))
    }
}

/// The layers of a script array.
fn layers_of(op: &str, a: &rhai::Array) -> RResult<Vec<std::sync::Arc<dyn crate::model::Layer>>> {
    a.iter()
        .enumerate()
        .map(
            |(i, d)| match d.clone().try_cast::<crate::script::types::Layer>() {
                Some(l) => Ok(l.0),
                None => script_err(format!(
                "{op}: expected an array of layers (Linear(…), ReLU(), …), got {} {d} at index {i}",
                type_name(d)
            )),
            },
        )
        .collect()
}

/// Networks of layers and the layer constructors. (script functions)
#[rhai::plugin::export_module]
pub mod net {
    use super::{count, layers_of, pair_of, shape_of, RResult};
    use crate::model::avg_pool2d::AvgPool2d;
    use crate::model::conv2d::Conv2d;
    use crate::model::flatten::Flatten;
    use crate::model::gelu::GELU;
    use crate::model::layer_norm::LayerNorm;
    use crate::model::leaky_relu::LeakyReLU;
    use crate::model::linear::Linear;
    use crate::model::max_pool2d::MaxPool2d;
    use crate::model::pointwise::Pointwise;
    use crate::model::relu::ReLU;
    use crate::model::residual::Residual;
    use crate::model::sigmoid::Sigmoid;
    use crate::model::softplus::Softplus;
    use crate::model::tanh::Tanh;
    use crate::model::{Chain, Init, LossKind, NetOpts, Network};
    use crate::script::opts::Keys;
    use crate::script::opts::{script_err, Opts};
    use crate::script::types::{self, Model};
    use rhai::{Array, Dynamic, Map, INT};
    use std::sync::Arc;

    /// A network from an array of layers, with default options.
    ///
    /// # Example
    /// ```rhai
    /// let m = net([Linear(4, 8), ReLU(), Linear(8, 3)]);
    /// print(m.num_params);   // prints 67
    /// ```
    #[rhai_fn(name = "net", return_raw)]
    pub fn net_default(layers: Array) -> RResult<Model> {
        net(layers, Map::new())
    }

    /// `net`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const NET_OPTS: Keys = Keys {
        op: "net",
        keys: &["input", "loss", "init", "init_std", "seed"],
    };

    /// A network from an array of layers (modules 0, 1, … as in PyTorch's
    /// `nn.Sequential`). Options: `input` (the sample shape, e.g.
    /// `[1, 28, 28]`, or a feature count: shapes are checked and the layer
    /// table shown at once; otherwise at first use with a Dataset), `loss`
    /// ("cross_entropy" default, or "mse"), `init` ("uniform" default:
    /// PyTorch's default per layer; or "normal": `init_std`·N(0, 1) for
    /// weights and biases, `init_std` default 0.1), `seed` (0).
    /// The flat parameter order is PyTorch's `parameters_to_vector`.
    ///
    /// # Example
    /// ```rhai
    /// let m = net([Conv2d(1, 4, 5), ReLU(), MaxPool2d(2), Conv2d(4, 8, 5), ReLU(),
    ///              MaxPool2d(2), Flatten(), Linear(128, 10)], #{ input: [1, 28, 28], seed: 1 });
    /// print(m.num_params);   // prints 2202
    /// let d = load_mnist(#{ n: 20 });
    /// print(grad(m, d).len);   // prints 2202
    /// ```
    #[rhai_fn(name = "net", return_raw)]
    pub fn net(layers: Array, opts: Map) -> RResult<Model> {
        let o = Opts::of(&NET_OPTS, opts)?;
        let init = match o.string("init", "uniform")?.as_str() {
            "uniform" => {
                if o.get("init_std").is_some() {
                    return script_err("net: option `init_std` needs init: \"normal\"");
                }
                Init::Uniform
            }
            "normal" => Init::Normal {
                std: o.f64("init_std", 0.1)?,
            },
            other => {
                return script_err(format!(
                    "net: option `init`: expected \"uniform\" or \"normal\", got \"{other}\""
                ))
            }
        };
        let input = match o.get("input") {
            Some(d) => Some(shape_of("net", "input", d)?),
            None => None,
        };
        let no = NetOpts {
            loss: LossKind::parse(&o.string("loss", "cross_entropy")?)?,
            init,
            seed: o.seed("seed", 0)?,
            input: input.clone(),
        };
        let m = Network::new(layers_of("net", &layers)?, &no)?;
        if input.is_some() {
            crate::script::display_now(crate::output::Display {
                text: crate::script::types::layer_table(&m),
                svg: None,
            });
        }
        Ok(Model::new(m))
    }

    /// The model's layers, one map each: `name` (the module path, as in a
    /// state dict: "0", "3.1"), `layer` (the module and its arguments),
    /// `shape` (its output sample shape, or `()` when the input shape is
    /// not known yet), `params`.
    ///
    /// # Example
    /// ```rhai
    /// let m = net([Linear(4, 8), Tanh(), Linear(8, 3)], #{ input: 4 });
    /// print(m.layers[2].layer);   // prints Linear(8, 3)
    /// print(m.layers[2].shape);   // prints [3]
    /// ```
    #[rhai_fn(get = "layers", pure)]
    pub fn layers(m: &mut Model) -> Array {
        m.read()
            .table(None)
            .into_iter()
            .map(|r| {
                let mut map = Map::new();
                map.insert("name".into(), r.path.into());
                map.insert("layer".into(), r.describe.into());
                map.insert(
                    "shape".into(),
                    match r.out_shape {
                        Some(s) => Dynamic::from_array(
                            s.into_iter().map(|v| Dynamic::from_int(v as INT)).collect(),
                        ),
                        None => Dynamic::UNIT,
                    },
                );
                map.insert("params".into(), Dynamic::from_int(r.params as INT));
                Dynamic::from_map(map)
            })
            .collect()
    }

    /// `torch.nn.Linear(in, out)`: `y = x Wᵀ + b`; a sample of shape
    /// `[c, h, w]` is flattened first.
    ///
    /// # Example
    /// ```rhai
    /// print(Linear(784, 10));   // prints Linear(784, 10)
    /// ```
    #[rhai_fn(name = "Linear", return_raw)]
    pub fn linear(fan_in: INT, fan_out: INT) -> RResult<types::Layer> {
        linear_opts(fan_in, fan_out, Map::new())
    }

    /// `Linear`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const LINEAR_OPTS: Keys = Keys {
        op: "Linear",
        keys: &["bias"],
    };

    /// `Linear(in, out, #{ bias: false })`.
    #[rhai_fn(name = "Linear", return_raw)]
    pub fn linear_opts(fan_in: INT, fan_out: INT, opts: Map) -> RResult<types::Layer> {
        let o = Opts::of(&LINEAR_OPTS, opts)?;
        Ok(types::Layer(Arc::new(Linear {
            fan_in: count("Linear", "in_features", fan_in)?,
            fan_out: count("Linear", "out_features", fan_out)?,
            bias: o.bool("bias", true)?,
        })))
    }

    /// `torch.nn.Conv2d(in_ch, out_ch, kernel)`: kernel an int or `[h, w]`;
    /// options `stride` (1), `padding` (0) (each an int or `[h, w]`),
    /// `bias` (true). Weights are out × in × kh × kw.
    ///
    /// # Example
    /// ```rhai
    /// let c = Conv2d(1, 4, 5, #{ stride: 2, padding: 1 });
    /// let m = net([c, Flatten(), Linear(4 * 13 * 13, 10)], #{ input: [1, 28, 28] });
    /// print(m.num_params);   // prints 6874
    /// ```
    #[rhai_fn(name = "Conv2d", return_raw)]
    pub fn conv2d(in_ch: INT, out_ch: INT, kernel: Dynamic) -> RResult<types::Layer> {
        conv2d_opts(in_ch, out_ch, kernel, Map::new())
    }

    /// `Conv2d`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const CONV2D_OPTS: Keys = Keys {
        op: "Conv2d",
        keys: &["stride", "padding", "bias"],
    };

    /// `Conv2d(in_ch, out_ch, kernel, #{ stride, padding, bias })`.
    #[rhai_fn(name = "Conv2d", return_raw)]
    pub fn conv2d_opts(
        in_ch: INT,
        out_ch: INT,
        kernel: Dynamic,
        opts: Map,
    ) -> RResult<types::Layer> {
        let o = Opts::of(&CONV2D_OPTS, opts)?;
        let stride = match o.get("stride") {
            Some(d) => pair_of("Conv2d", "stride", d, 1)?,
            None => [1, 1],
        };
        let padding = match o.get("padding") {
            Some(d) => pair_of("Conv2d", "padding", d, 0)?,
            None => [0, 0],
        };
        Ok(types::Layer(Arc::new(Conv2d {
            in_ch: count("Conv2d", "in_channels", in_ch)?,
            out_ch: count("Conv2d", "out_channels", out_ch)?,
            kernel: pair_of("Conv2d", "kernel", &kernel, 1)?,
            stride,
            padding,
            bias: o.bool("bias", true)?,
        })))
    }

    /// `torch.nn.MaxPool2d(kernel)`: the largest value of each window
    /// (option `stride`, default = kernel; no padding). Ties go to the first
    /// element in row-major window order, as PyTorch's CPU kernel.
    ///
    /// # Example
    /// ```rhai
    /// let m = net([Conv2d(1, 2, 3), MaxPool2d(2), Flatten(), Linear(18, 2)], #{ input: [1, 8, 8] });
    /// print(m.layers[1].shape);   // prints [2, 3, 3]
    /// ```
    #[rhai_fn(name = "MaxPool2d", return_raw)]
    pub fn max_pool(kernel: Dynamic) -> RResult<types::Layer> {
        max_pool_opts(kernel, Map::new())
    }

    /// `MaxPool2d`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const MAXPOOL2D_OPTS: Keys = Keys {
        op: "MaxPool2d",
        keys: &["stride"],
    };

    /// `MaxPool2d(kernel, #{ stride })`.
    #[rhai_fn(name = "MaxPool2d", return_raw)]
    pub fn max_pool_opts(kernel: Dynamic, opts: Map) -> RResult<types::Layer> {
        let o = Opts::of(&MAXPOOL2D_OPTS, opts)?;
        let kernel = pair_of("MaxPool2d", "kernel", &kernel, 1)?;
        let stride = match o.get("stride") {
            Some(d) => pair_of("MaxPool2d", "stride", d, 1)?,
            None => kernel,
        };
        Ok(types::Layer(Arc::new(MaxPool2d { kernel, stride })))
    }

    /// `torch.nn.AvgPool2d(kernel)`: the mean of each window (option
    /// `stride`, default = kernel; no padding).
    ///
    /// # Example
    /// ```rhai
    /// let m = net([AvgPool2d(2), Flatten(), Linear(4, 2)], #{ input: [1, 4, 4] });
    /// print(m.num_params);   // prints 10
    /// ```
    #[rhai_fn(name = "AvgPool2d", return_raw)]
    pub fn avg_pool(kernel: Dynamic) -> RResult<types::Layer> {
        avg_pool_opts(kernel, Map::new())
    }

    /// `AvgPool2d`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const AVGPOOL2D_OPTS: Keys = Keys {
        op: "AvgPool2d",
        keys: &["stride"],
    };

    /// `AvgPool2d(kernel, #{ stride })`.
    #[rhai_fn(name = "AvgPool2d", return_raw)]
    pub fn avg_pool_opts(kernel: Dynamic, opts: Map) -> RResult<types::Layer> {
        let o = Opts::of(&AVGPOOL2D_OPTS, opts)?;
        let kernel = pair_of("AvgPool2d", "kernel", &kernel, 1)?;
        let stride = match o.get("stride") {
            Some(d) => pair_of("AvgPool2d", "stride", d, 1)?,
            None => kernel,
        };
        Ok(types::Layer(Arc::new(AvgPool2d { kernel, stride })))
    }

    /// `torch.nn.Flatten()`: each sample becomes a vector.
    ///
    /// # Example
    /// ```rhai
    /// print(Flatten());   // prints Flatten()
    /// ```
    #[rhai_fn(name = "Flatten")]
    pub fn flatten() -> types::Layer {
        types::Layer(Arc::new(Flatten))
    }

    /// `torch.nn.ReLU()`: max(0, x).
    ///
    /// # Example
    /// ```rhai
    /// print(ReLU());   // prints ReLU()
    /// ```
    #[rhai_fn(name = "ReLU")]
    pub fn relu() -> types::Layer {
        types::Layer(Arc::new(Pointwise(ReLU)))
    }

    /// `torch.nn.LeakyReLU()`: x for x > 0, 0.01·x otherwise.
    #[rhai_fn(name = "LeakyReLU")]
    pub fn leaky_relu_default() -> types::Layer {
        types::Layer(Arc::new(Pointwise(LeakyReLU { slope: 0.01 })))
    }

    /// `torch.nn.LeakyReLU(slope)`: x for x > 0, slope·x otherwise.
    ///
    /// # Example
    /// ```rhai
    /// print(LeakyReLU(0.1));   // prints LeakyReLU(0.1)
    /// ```
    #[rhai_fn(name = "LeakyReLU", return_raw)]
    pub fn leaky_relu_i(slope: INT) -> RResult<types::Layer> {
        leaky_relu(slope as f64)
    }

    /// `LeakyReLU(slope)` with a float slope (see above).
    #[rhai_fn(name = "LeakyReLU", return_raw)]
    pub fn leaky_relu(slope: f64) -> RResult<types::Layer> {
        if !slope.is_finite() {
            return script_err(format!("LeakyReLU: expected a finite slope, got {slope}"));
        }
        Ok(types::Layer(Arc::new(Pointwise(LeakyReLU { slope }))))
    }

    /// `torch.nn.Tanh()`.
    ///
    /// # Example
    /// ```rhai
    /// print(Tanh());   // prints Tanh()
    /// ```
    #[rhai_fn(name = "Tanh")]
    pub fn tanh() -> types::Layer {
        types::Layer(Arc::new(Pointwise(Tanh)))
    }

    /// `torch.nn.Sigmoid()`: 1/(1 + e^(−x)).
    ///
    /// # Example
    /// ```rhai
    /// print(Sigmoid());   // prints Sigmoid()
    /// ```
    #[rhai_fn(name = "Sigmoid")]
    pub fn sigmoid() -> types::Layer {
        types::Layer(Arc::new(Pointwise(Sigmoid)))
    }

    /// `torch.nn.GELU()`: x·Φ(x) with the exact normal CDF (erf).
    ///
    /// # Example
    /// ```rhai
    /// print(GELU());   // prints GELU()
    /// ```
    #[rhai_fn(name = "GELU")]
    pub fn gelu() -> types::Layer {
        types::Layer(Arc::new(Pointwise(GELU { tanh: false })))
    }

    /// `GELU`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const GELU_OPTS: Keys = Keys {
        op: "GELU",
        keys: &["approximate"],
    };

    /// `GELU(#{ approximate: "tanh" })`: PyTorch's tanh approximation
    /// (`approximate: "none"` is the exact one).
    ///
    /// # Example
    /// ```rhai
    /// print(GELU(#{ approximate: "tanh" }));   // prints GELU(approximate='tanh')
    /// ```
    #[rhai_fn(name = "GELU", return_raw)]
    pub fn gelu_opts(opts: Map) -> RResult<types::Layer> {
        let o = Opts::of(&GELU_OPTS, opts)?;
        let tanh = match o.string("approximate", "none")?.as_str() {
            "none" => false,
            "tanh" => true,
            other => {
                return script_err(format!(
                    "GELU: approximate: expected \"none\" or \"tanh\", got \"{other}\""
                ))
            }
        };
        Ok(types::Layer(Arc::new(Pointwise(GELU { tanh }))))
    }

    /// `torch.nn.Softplus()`: log(1 + eˣ), and x above 20 (β = 1, as PyTorch).
    ///
    /// # Example
    /// ```rhai
    /// print(Softplus());   // prints Softplus()
    /// ```
    #[rhai_fn(name = "Softplus")]
    pub fn softplus() -> types::Layer {
        types::Layer(Arc::new(Pointwise(Softplus)))
    }

    /// `torch.nn.LayerNorm(shape)`: normalises the trailing dimensions
    /// `shape` (an int or an array) of each sample to mean 0 and variance 1
    /// (eps 1e-5), then scales by `weight` and shifts by `bias` (ones and
    /// zeros at first).
    ///
    /// # Example
    /// ```rhai
    /// let m = net([Linear(4, 8), LayerNorm(8), GELU(), Linear(8, 3)]);
    /// print(m.num_params);   // prints 83
    /// ```
    #[rhai_fn(name = "LayerNorm", return_raw)]
    pub fn layer_norm(shape: Dynamic) -> RResult<types::Layer> {
        Ok(types::Layer(Arc::new(LayerNorm {
            shape: shape_of("LayerNorm", "shape", &shape)?,
            eps: 1e-5,
        })))
    }

    /// `Residual([layers…])`: `x + f(x)` with `f` the layers in sequence
    /// (they must keep the shape); its layers are named inside it as
    /// PyTorch names the children of an `nn.Sequential` subclass
    /// (`1.0.weight`).
    ///
    /// # Example
    /// ```rhai
    /// let m = net([Linear(4, 8), Residual([LayerNorm(8), Linear(8, 8), GELU()]), Linear(8, 3)],
    ///             #{ input: 4 });
    /// print(m.layers[2].name);   // prints 1.0
    /// ```
    #[rhai_fn(name = "Residual", return_raw)]
    pub fn residual(layers: Array) -> RResult<types::Layer> {
        let body = layers_of("Residual", &layers)?;
        if body.is_empty() {
            return script_err("Residual: expected at least one layer, got an empty list");
        }
        Ok(types::Layer(Arc::new(Residual {
            body: Chain::new(body),
        })))
    }
}
