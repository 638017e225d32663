//! Networks of layers: a [`Network`] is a [`Chain`] of [`Layer`]s, a loss,
//! and one flat parameter vector — with exact first and second derivatives.
//!
//! The flat parameter order is PyTorch's `parameters_to_vector` on the
//! equivalent `nn.Sequential`: module by module, each module's tensors in
//! its own order (`weight` then `bias`; a residual block's children in
//! turn), each tensor row-major (conv weights out × in × kh × kw).
//!
//! Losses over N examples, with outputs `fᵢ`:
//! - cross-entropy: `L = (1/N) Σᵢ −log softmax(fᵢ)[yᵢ]`;
//! - mean-square: `L = (1/N) Σᵢ ½‖fᵢ − tᵢ‖²` (`tᵢ` one-hot for integer labels).
//!
//! The gradient is back-propagation through every layer's `backward`.
//! Hessian-vector products are Pearlmutter's R-operator (forward-over-
//! reverse) written out per layer on candle tensors (candle's autograd
//! detaches gradients, so second order is ours): each layer supplies its
//! Jacobian products and the second-order term; [`Chain`] owns the loops.
//! Dropping the second-order terms leaves exactly the Gauss–Newton product
//! `G v = (1/N) Σ Jᵢᵀ Hℓ,ᵢ Jᵢ v`. See [`layer`] for the contract and
//! README "Adding a layer" for how to add one.

pub mod avg_pool2d;
mod cache;
pub mod conv2d;
mod curv;
pub mod flatten;
pub mod gelu;
mod im2col;
mod io;
mod kernels;
pub mod layer;
pub mod layer_norm;
pub mod leaky_relu;
pub mod linear;
pub mod max_pool2d;
mod opts;
pub mod pointwise;
pub mod relu;
pub mod residual;
pub mod sequential;
pub mod sigmoid;
pub mod softplus;
pub mod tanh;
#[cfg(test)]
mod tests;

pub use curv::CurvState;
pub use layer::Layer;
pub use opts::{Act, Init, LossKind, MlpOpts, NetOpts};
pub use sequential::Chain;

use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::rng::Rng;
use cache::{cache_enabled, CurvCache, Params};
use candle_core::{Device, Tensor, D};
use layer::numel;
use std::sync::Arc;

/// Largest number of parameters a network may have (about 2 GB of f64).
pub const MAX_PARAMS: usize = 250_000_000;

/// What `mlp(sizes, opts)` was, for printing and `m.sizes`.
#[derive(Clone, Debug, PartialEq)]
struct MlpInfo {
    sizes: Vec<usize>,
    act: Act,
    bias: bool,
}

/// A network: layers, loss and flat parameters.
#[derive(Clone, Debug)]
pub struct Network {
    chain: Chain,
    loss: LossKind,
    /// The declared sample shape (MLPs: `[d]`).
    input: Option<Vec<usize>>,
    params: Params,
    mlp: Option<MlpInfo>,
    /// The forward and backward passes of the last data set a curvature
    /// product or gradient used (see [`CurvCache`]).
    cache: CurvCache,
}

/// One row of the layer table: name (`"3.0"`), description, output shape, parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    /// Module path as in a PyTorch state dict (`"3"`, `"3.0"`).
    pub path: String,
    /// Nesting depth (0 at the top).
    pub depth: usize,
    /// The module and its arguments.
    pub describe: String,
    /// The output sample shape, when the input shape is known.
    pub out_shape: Option<Vec<usize>>,
    /// Number of parameters (a block counts its children's).
    pub params: usize,
}

impl LossKind {
    /// Loss and, when `want_delta`, the output error δ = ∂L/∂f for the
    /// outputs `f` of some rows of a batch of `n` samples with targets `t`
    /// (the rows' share of the mean loss over all `n`).
    pub(crate) fn head(
        &self,
        f: &Tensor,
        t: &Tensor,
        n: usize,
        want_delta: bool,
    ) -> Result<(f64, Option<Tensor>)> {
        let n = n as f64;
        match self {
            LossKind::CrossEntropy => {
                let logp = candle_nn::ops::log_softmax(f, D::Minus1)?;
                let loss = -(logp.mul(t)?.sum_all()?.to_scalar::<f64>()?) / n;
                let delta = if want_delta {
                    Some(logp.exp()?.sub(t)?.affine(1.0 / n, 0.0)?)
                } else {
                    None
                };
                Ok((loss, delta))
            }
            LossKind::Mse => {
                let r = f.sub(t)?;
                let loss = 0.5 * r.sqr()?.sum_all()?.to_scalar::<f64>()? / n;
                let delta = if want_delta {
                    Some(r.affine(1.0 / n, 0.0)?)
                } else {
                    None
                };
                Ok((loss, delta))
            }
        }
    }
}

/// A data set as tensors: inputs (N, *shape) and targets (N, k) (one-hot for labels).
#[derive(Clone)]
pub struct Batch {
    pub(crate) x: Tensor,
    pub(crate) t: Tensor,
    pub(crate) n: usize,
}

impl Network {
    /// A multilayer perceptron with widths `sizes` (input first): `Linear`
    /// layers with the activation module between them.
    pub fn mlp(sizes: &[usize], o: &MlpOpts) -> Result<Network> {
        if sizes.len() < 2 {
            return Err(Error::shape(
                "mlp",
                "at least two sizes (inputs and outputs), e.g. [784, 10, 10]",
                format!("{sizes:?}"),
            ));
        }
        if let Some(pos) = sizes.iter().position(|&s| s == 0) {
            return Err(Error::shape(
                "mlp",
                "every size ≥ 1",
                format!("size {} at position {pos} of {sizes:?}", sizes[pos]),
            ));
        }
        let total: f64 = sizes
            .windows(2)
            .map(|w| w[0] as f64 * w[1] as f64 + if o.bias { w[1] as f64 } else { 0.0 })
            .sum();
        if total > MAX_PARAMS as f64 {
            return Err(Error::shape(
                "mlp",
                format!(
                    "at most {MAX_PARAMS} parameters ({})",
                    crate::error::human_bytes(8.0 * MAX_PARAMS as f64)
                ),
                format!(
                    "{total:.3e} parameters ({}) for sizes {sizes:?}; use narrower layers",
                    crate::error::human_bytes(8.0 * total)
                ),
            ));
        }
        let mut layers: Vec<Arc<dyn Layer>> = Vec::new();
        for (i, w) in sizes.windows(2).enumerate() {
            if i > 0 {
                if let Some(a) = o.act.module() {
                    layers.push(a);
                }
            }
            layers.push(Arc::new(linear::Linear {
                fan_in: w[0],
                fan_out: w[1],
                bias: o.bias,
            }));
        }
        let mut m = Network::build(
            "mlp",
            layers,
            &NetOpts {
                loss: o.loss,
                init: o.init,
                seed: o.seed,
                input: Some(vec![sizes[0]]),
            },
        )?;
        m.mlp = Some(MlpInfo {
            sizes: sizes.to_vec(),
            act: o.act,
            bias: o.bias,
        });
        Ok(m)
    }

    /// A network of `layers` (module 0 first).
    pub fn new(layers: Vec<Arc<dyn Layer>>, o: &NetOpts) -> Result<Network> {
        Network::build("net", layers, o)
    }

    fn build(op: &'static str, layers: Vec<Arc<dyn Layer>>, o: &NetOpts) -> Result<Network> {
        if layers.is_empty() {
            return Err(Error::shape(op, "at least one layer", "an empty list"));
        }
        let chain = Chain::new(layers);
        let total: f64 = chain
            .param_shapes()
            .iter()
            .map(|(_, s)| s.iter().map(|&d| d as f64).product::<f64>())
            .sum();
        if total > MAX_PARAMS as f64 {
            return Err(Error::shape(
                op,
                format!(
                    "at most {MAX_PARAMS} parameters ({})",
                    crate::error::human_bytes(8.0 * MAX_PARAMS as f64)
                ),
                format!(
                    "{total:.3e} parameters ({}); use smaller layers",
                    crate::error::human_bytes(8.0 * total)
                ),
            ));
        }
        let p = chain.num_params();
        if p == 0 {
            return Err(Error::shape(
                op,
                "a network with parameters (add a Linear or Conv2d)",
                "no parameters",
            ));
        }
        crate::mat::check_memory(
            op,
            || format!("{p} parameters and their gradient"),
            16.0 * p as f64,
            "use smaller layers",
        )?;
        if let Init::Normal { std } = o.init {
            if !(std.is_finite() && std >= 0.0) {
                return Err(Error::invalid(
                    op,
                    format!("init_std: expected a finite number ≥ 0, got {std}"),
                ));
            }
        }
        if let Some(s) = &o.input {
            if s.is_empty() || s.contains(&0) {
                return Err(Error::shape(
                    op,
                    "input: a sample shape of sizes ≥ 1, e.g. [1, 28, 28] or 784",
                    format!("{s:?}"),
                ));
            }
        }
        let mut m = Network {
            chain,
            loss: o.loss,
            input: o.input.clone(),
            params: Params::new(vec![0.0; p]),
            mlp: None,
            cache: CurvCache::default(),
        };
        if let Some(s) = &o.input {
            m.output_shape(op, s)?;
        }
        let mut rng = Rng::new(o.seed);
        let mut off = 0;
        let vals = m.params.values_mut();
        for (i, l) in m.chain.layers().iter().enumerate() {
            let n = m.chain.layer_len(i);
            l.init(o.init, &mut rng, &mut vals[off..off + n]);
            off += n;
        }
        Ok(m)
    }

    /// The layers.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Layer widths, input first — for a network made by [`Network::mlp`].
    pub fn sizes(&self) -> Option<&[usize]> {
        self.mlp.as_ref().map(|m| m.sizes.as_slice())
    }

    /// The declared sample shape, if any.
    pub fn input_shape(&self) -> Option<&[usize]> {
        self.input.as_deref()
    }

    /// Loss.
    pub fn loss_kind(&self) -> LossKind {
        self.loss
    }

    /// Number of parameters P.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// The flat parameter vector.
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// Whether `other` has the same layers (and so the same flat layout).
    pub fn same_architecture(&self, other: &Network) -> bool {
        self.table(None) == other.table(None) && self.loss == other.loss
    }

    /// A short description: `mlp [784, 10, 10], relu` or `net of 8 layers`.
    pub fn summary(&self) -> String {
        match &self.mlp {
            Some(i) => format!(
                "mlp {:?}, {}, {}, {}",
                i.sizes,
                i.act.name(),
                self.loss.name(),
                if i.bias { "bias" } else { "no bias" }
            ),
            None => format!(
                "net of {} layers, {}",
                self.chain.layers().len(),
                self.loss.name()
            ),
        }
    }

    /// Replaces the flat parameter vector (length must be P, values finite).
    pub fn set_params(&mut self, p: &[f64]) -> Result<()> {
        self.check_vector("params", p)?;
        self.params.values_mut().copy_from_slice(p);
        Ok(())
    }

    /// Errors unless `v` has length P and finite entries.
    pub fn check_vector(&self, op: &'static str, v: &[f64]) -> Result<()> {
        if v.len() != self.params.len() {
            return Err(Error::shape(
                op,
                format!(
                    "a vector of length {} (the model's parameter count)",
                    self.params.len()
                ),
                format!("length {}", v.len()),
            ));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                op,
                format!("expected finite values, got {} at index {i}", v[i]),
            ));
        }
        Ok(())
    }

    /// The layer table for a sample shape (the declared one when `None`).
    pub fn table(&self, input: Option<&[usize]>) -> Vec<LayerRow> {
        let mut rows = Vec::new();
        let shape = input.map(|s| s.to_vec()).or_else(|| self.input.clone());
        fn walk(
            chain: &Chain,
            prefix: &str,
            depth: usize,
            shape: Option<Vec<usize>>,
            rows: &mut Vec<LayerRow>,
        ) {
            let mut s = shape;
            for (i, l) in chain.layers().iter().enumerate() {
                let out = s.as_ref().and_then(|s| l.out_shape(s).ok());
                let path = format!("{prefix}{i}");
                rows.push(LayerRow {
                    path: path.clone(),
                    depth,
                    describe: if l.children().is_some() {
                        "Residual".into()
                    } else {
                        l.describe()
                    },
                    out_shape: out.clone(),
                    params: chain.layer_len(i),
                });
                if let Some(c) = l.children() {
                    walk(c, &format!("{path}."), depth + 1, s.clone(), rows);
                }
                s = out;
            }
        }
        walk(&self.chain, "", 0, shape, &mut rows);
        rows
    }

    /// Per-tensor `(state-dict name, shape, values)`, PyTorch's names
    /// (`0.weight`, `3.0.bias`).
    pub fn named_tensors(&self) -> Vec<(String, Vec<usize>, &[f64])> {
        let mut out = Vec::new();
        let mut off = 0;
        for (i, _) in self.chain.layers().iter().enumerate() {
            for (name, shape) in &self.chain.param_shapes()[self.chain.tensor_range(i)] {
                let n = numel(shape);
                out.push((
                    format!("{i}.{name}"),
                    shape.clone(),
                    &self.params[off..off + n],
                ));
                off += n;
            }
        }
        out
    }

    /// The output sample shape for input sample shape `s`: every layer
    /// checked, and the output must be one vector per sample.
    pub fn output_shape(&self, op: &'static str, s: &[usize]) -> Result<Vec<usize>> {
        let out = self.chain.out_shape(op, "", s)?;
        if out.len() != 1 {
            return Err(Error::shape(
                op,
                "the network's output to be one vector per sample (end with Linear, or Flatten)",
                format!("an output of shape {out:?} for an input of shape {s:?}"),
            ));
        }
        Ok(out)
    }

    /// The sample shape the network reads `data` as.
    fn sample_shape(
        &self,
        op: &'static str,
        data_shape: Option<&[usize]>,
        d: usize,
    ) -> Result<Vec<usize>> {
        match (&self.input, data_shape) {
            (Some(decl), _) if numel(decl) != d => Err(Error::shape(
                op,
                format!(
                    "data with {} features (the model's input size{})",
                    numel(decl),
                    if decl.len() > 1 {
                        format!(", shape {decl:?}")
                    } else {
                        String::new()
                    }
                ),
                format!("{d} features"),
            )),
            (Some(decl), Some(ds)) if ds.len() > 1 && decl.len() > 1 && ds != decl.as_slice() => {
                Err(Error::shape(
                    op,
                    format!("samples of shape {decl:?} (the model's input)"),
                    format!("shape {ds:?}"),
                ))
            }
            (Some(decl), _) => Ok(decl.clone()),
            (None, Some(ds)) => Ok(ds.to_vec()),
            (None, None) => Ok(vec![d]),
        }
    }

    /// Checks `data` against the network; returns (sample shape, outputs k).
    pub fn resolve(&self, op: &'static str, data: &Dataset) -> Result<(Vec<usize>, usize)> {
        let shape = self.sample_shape(op, data.shape(), data.dim())?;
        let k = self.output_shape(op, &shape)?[0];
        if data.is_empty() {
            return Err(Error::shape(
                op,
                "at least one example",
                "an empty data set",
            ));
        }
        self.check_activations(op, data.len(), &shape)?;
        match data.targets() {
            Targets::Labels { y, .. } => {
                if let Some(&bad) = y.iter().find(|&&c| c >= k) {
                    return Err(Error::shape(
                        op,
                        format!("labels below {k} (the model's output size)"),
                        format!("label {bad}"),
                    ));
                }
            }
            Targets::Values(t) => {
                if self.loss == LossKind::CrossEntropy {
                    return Err(Error::invalid(
                        op,
                        "cross_entropy needs integer class labels, got real-valued targets; build the model with #{ loss: \"mse\" }",
                    ));
                }
                if t.cols() != k {
                    return Err(Error::shape(
                        op,
                        format!("targets with {k} columns (the model's output size)"),
                        format!("{} columns", t.cols()),
                    ));
                }
            }
        }
        Ok((shape, k))
    }

    /// Errors unless `data` fits this network (input shape, classes or targets).
    pub fn check_data(&self, op: &'static str, data: &Dataset) -> Result<()> {
        self.resolve(op, data).map(|_| ())
    }

    /// Elements of every layer's output per sample (input included).
    pub fn activation_elems(&self, shape: &[usize]) -> usize {
        numel(shape) + r_elems(&self.chain, shape)
    }

    /// Elements per sample and per direction of an R-pass (every layer's
    /// output and scratch) for samples of shape `shape`.
    pub fn r_elems_per_sample(&self, shape: &[usize]) -> usize {
        r_elems(&self.chain, shape)
    }

    /// Directions per batched R-pass over `n` examples of shape `shape`:
    /// as many as keep the pass near `HLAB_RBLOCK_BYTES`-sized blocks
    /// (512 MB), at least 1 and at most `cap`.
    pub fn r_block(&self, n: usize, shape: &[usize], cap: usize) -> usize {
        let per = 8.0 * 3.0 * n as f64 * self.r_elems_per_sample(shape).max(1) as f64;
        let budget = 512.0 * 1024.0 * 1024.0;
        ((budget / per).floor() as usize).clamp(1, cap.max(1))
    }

    /// Refuses at once when a forward and backward pass over `n` examples
    /// would need more memory than the budget: about four arrays of every
    /// layer's output (values, derivatives, errors, R-terms).
    pub fn check_activations(&self, op: &'static str, n: usize, shape: &[usize]) -> Result<()> {
        let per = self.activation_elems(shape);
        crate::mat::check_memory(
            op,
            || format!("the activations of {n} examples through the network ({per} values each)"),
            32.0 * (n as f64) * (per as f64),
            "use fewer examples (data.take(n)) or smaller layers",
        )
    }

    /// `data` as tensors, checked against the network.
    pub fn batch(&self, op: &'static str, data: &Dataset) -> Result<Batch> {
        let (shape, k) = self.resolve(op, data)?;
        Batch::new(data, &shape, k)
    }

    /// The parameter tensors at flat parameters `p`.
    pub(crate) fn tensors(&self, p: &[f64]) -> Result<Vec<Tensor>> {
        let mut out = Vec::with_capacity(self.chain.param_shapes().len());
        let mut off = 0;
        for (_, shape) in self.chain.param_shapes() {
            let n = numel(shape);
            out.push(Tensor::from_slice(
                &p[off..off + n],
                shape.as_slice(),
                &Device::Cpu,
            )?);
            off += n;
        }
        Ok(out)
    }

    /// The rows of `vs` (b × P) as direction tensors `(b, *shape)`.
    pub(crate) fn directions(&self, vs: &Mat) -> Result<Vec<Tensor>> {
        curv::directions_of(&self.chain, vs)
    }

    /// Outputs (logits) for the rows of `x`, N × k.
    pub fn predict(&self, x: &Mat) -> Result<Mat> {
        let shape = self
            .sample_shape("predict", None, x.cols())
            .map_err(|e| match e {
                Error::Shape { expected, got, .. } => Error::shape(
                    "predict",
                    expected
                        .replace("data with", "inputs with")
                        .replace("features", "columns"),
                    got.replace("features", "columns"),
                ),
                other => other,
            })?;
        self.output_shape("predict", &shape)?;
        self.check_activations("predict", x.rows(), &shape)?;
        let mut dims = vec![x.rows()];
        dims.extend_from_slice(&shape);
        let xt = Tensor::from_slice(x.data(), dims, &Device::Cpu)?;
        let w = self.tensors(&self.params)?;
        let f = self.chain.forward(&w, &xt)?;
        tensor_mat(f.output())
    }

    /// The mean loss over `data`.
    pub fn loss(&self, data: &Dataset) -> Result<f64> {
        Ok(self.eval(data)?.0)
    }

    /// `(loss, accuracy)` over `data`. Accuracy is the fraction of rows whose
    /// largest output is the label (for regression targets: the row's argmax).
    pub fn eval(&self, data: &Dataset) -> Result<(f64, f64)> {
        self.eval_op("loss", data)
    }

    fn eval_op(&self, op: &'static str, data: &Dataset) -> Result<(f64, f64)> {
        let batch = self.batch(op, data)?;
        let w = self.tensors(&self.params)?;
        let f = self.chain.forward(&w, &batch.x)?;
        let (loss, _) = self.loss.head(f.output(), &batch.t, batch.n, false)?;
        let acc = accuracy_of(f.output(), data)?;
        Ok((loss, acc))
    }

    /// The fraction of correctly classified rows.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        Ok(self.eval_op("accuracy", data)?.1)
    }

    /// `(loss, ∇L)` over `data`. With the passes at these parameters on
    /// `data` cached, only the parameter gradients' products remain; on a
    /// miss the passes are made (the full backward pass) and kept.
    pub fn loss_grad(&self, data: &Dataset) -> Result<(f64, Vec<f64>)> {
        let batch = self.batch("grad", data)?;
        if let Some(st) = self.cached_state(data) {
            return Ok((st.loss(), st.gradient()?));
        }
        if !cache_enabled() {
            return self.loss_grad_batch(&batch, &self.params);
        }
        let (st, g) = CurvState::with_gradient(self, &batch)?;
        self.keep_state(data, Arc::new(st));
        Ok(g)
    }

    /// `(loss, ∇L)` at parameters `p` on a prepared batch.
    pub(crate) fn loss_grad_batch(&self, batch: &Batch, p: &[f64]) -> Result<(f64, Vec<f64>)> {
        let w = self.tensors(p)?;
        let f = self.chain.forward(&w, &batch.x)?;
        let (loss, delta) = self.loss.head(f.output(), &batch.t, batch.n, true)?;
        let delta = delta.ok_or_else(|| Error::invalid("grad", "internal: no output error"))?;
        let bw = self.chain.backward(&w, &f, delta, false, true)?;
        let mut g = Vec::with_capacity(self.params.len());
        for t in &bw.grads {
            g.extend(t.flatten_all()?.to_vec1::<f64>()?);
        }
        Ok((loss, g))
    }

    /// Everything the curvature products at the current parameters share.
    pub(crate) fn curvature_state(&self, batch: &Batch) -> Result<CurvState> {
        CurvState::new(self, batch, None)
    }

    /// One Hessian–vector product from scratch (`v` checked by the caller):
    /// the forward pass and the R-pass share one sweep over the inputs when
    /// the first layer allows it.
    /// With the passes at these parameters on `data` cached, only the
    /// R-pass remains; on a miss the passes are made and kept.
    pub(crate) fn hvp_once(&self, data: &Dataset, batch: &Batch, v: &[f64]) -> Result<Vec<f64>> {
        let vs = Mat::from_vec(1, v.len(), v.to_vec())?;
        let dirs = self.directions(&vs)?;
        if let Some(st) = self.cached_state(data) {
            return Ok(st.apply_dirs(1, &dirs, false)?.into_vec());
        }
        let state = CurvState::new(self, batch, Some(&dirs))?;
        let hv = state.apply_dirs(1, &dirs, false)?.into_vec();
        self.keep_state(data, Arc::new(state));
        Ok(hv)
    }

    /// Products with the exact Hessian (or the Gauss–Newton matrix) of the
    /// loss: row j of the result is `H vⱼ` for row j of `vs` (b × P).
    #[cfg(test)]
    pub(crate) fn curvature_block(
        &self,
        batch: &Batch,
        vs: &Mat,
        gauss_newton: bool,
    ) -> Result<Mat> {
        self.curvature_state(batch)?.apply(vs, gauss_newton)
    }
}

/// Output and scratch elements of every layer of `chain` (nested blocks
/// included) per sample and direction, for input samples of shape `shape`.
fn r_elems(chain: &Chain, shape: &[usize]) -> usize {
    let mut s = shape.to_vec();
    let mut total = 0;
    for l in chain.layers() {
        total += l.r_scratch(&s);
        if let Some(c) = l.children() {
            total += r_elems(c, &s);
        }
        match l.out_shape(&s) {
            Ok(o) => s = o,
            Err(_) => return total,
        }
        total += numel(&s);
    }
    total
}

/// The fraction of rows of `f` whose argmax is the label.
fn accuracy_of(f: &Tensor, data: &Dataset) -> Result<f64> {
    let preds = f.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let n = preds.len().max(1) as f64;
    let correct = match data.targets() {
        Targets::Labels { y, .. } => preds
            .iter()
            .zip(y)
            .filter(|(p, y)| **p as usize == **y)
            .count(),
        Targets::Values(t) => preds
            .iter()
            .enumerate()
            .filter(|(i, p)| argmax(t.row(*i)) == **p as usize)
            .count(),
    };
    Ok(correct as f64 / n)
}

fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

impl Batch {
    /// Converts `data` (already checked) with sample shape `shape` for a
    /// network with `k` outputs.
    pub(crate) fn new(data: &Dataset, shape: &[usize], k: usize) -> Result<Batch> {
        let n = data.len();
        let mut x = data.x_tensor()?;
        if shape.len() > 1 {
            let mut dims = vec![n];
            dims.extend_from_slice(shape);
            x = x.reshape(dims)?;
        }
        let t = match data.targets() {
            Targets::Labels { y, .. } => {
                let mut oh = vec![0.0f64; n * k];
                for (i, &c) in y.iter().enumerate() {
                    if c < k {
                        oh[i * k + c] = 1.0;
                    }
                }
                Tensor::from_vec(oh, (n, k), &Device::Cpu)?
            }
            Targets::Values(t) => mat_tensor(t)?,
        };
        Ok(Batch { x, t, n })
    }
}

/// Converts a `Mat` to an (r, c) f64 tensor.
pub(crate) fn mat_tensor(m: &Mat) -> Result<Tensor> {
    Ok(Tensor::from_slice(m.data(), m.shape(), &Device::Cpu)?)
}

/// Converts an (r, c) tensor to a `Mat`.
pub(crate) fn tensor_mat(t: &Tensor) -> Result<Mat> {
    let (r, c) = t.dims2()?;
    Mat::from_vec(r, c, t.flatten_all()?.to_vec1::<f64>()?)
}
