//! `Mlp`: a multilayer perceptron, its flat parameter vector, its loss, and
//! exact first- and second-order derivatives of that loss.
//!
//! The net is `f(x) = W_L σ(… σ(W_1 x + b_1) …) + b_L` with one activation σ
//! on every hidden layer and an affine last layer. The flat parameter order is
//! layer by layer, weight matrix (out × in, row-major) then bias — exactly
//! PyTorch's `parameters_to_vector` on `nn.Sequential(Linear, act, Linear, …)`.
//!
//! Losses over N examples, with outputs `fᵢ`:
//! - cross-entropy: `L = (1/N) Σᵢ −log softmax(fᵢ)[yᵢ]`;
//! - mean-square: `L = (1/N) Σᵢ ½‖fᵢ − tᵢ‖²` (`tᵢ` one-hot for integer labels).
//!
//! The gradient is ordinary back-propagation. Hessian-vector products use
//! Pearlmutter's R-operator (forward-over-reverse) written out by hand on
//! candle tensors: candle's autograd detaches gradients, so second order is
//! ours. For a block of b directions V (b × P) the R-pass carries a leading
//! batch dimension, so the work is matmul-bound. Dropping the terms of the
//! R-pass that involve the back-propagated error δ (the σ'' term, `δ·V` and
//! `δᵀ·R(a)`) leaves exactly the Gauss–Newton product `G v = (1/N) Σ Jᵢᵀ Hℓ,ᵢ Jᵢ v`.

use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::rng::Rng;
use candle_core::{DType, Device, Tensor, D};

/// Hidden-layer activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// max(0, z); σ'' = 0 (almost everywhere).
    Relu,
    /// tanh z.
    Tanh,
    /// 1 / (1 + e^(−z)).
    Sigmoid,
    /// z (a deep linear net).
    Linear,
}

impl Act {
    /// Parses "relu", "tanh", "sigmoid", "linear".
    pub fn parse(s: &str) -> Result<Act> {
        match s {
            "relu" => Ok(Act::Relu),
            "tanh" => Ok(Act::Tanh),
            "sigmoid" => Ok(Act::Sigmoid),
            "linear" => Ok(Act::Linear),
            _ => Err(Error::invalid(
                "mlp",
                format!(
                    "act: expected one of \"relu\", \"tanh\", \"sigmoid\", \"linear\", got \"{s}\""
                ),
            )),
        }
    }

    /// The name scripts use.
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::Tanh => "tanh",
            Act::Sigmoid => "sigmoid",
            Act::Linear => "linear",
        }
    }
}

/// Training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Mean softmax cross-entropy.
    CrossEntropy,
    /// Mean of ½‖f − t‖².
    Mse,
}

impl LossKind {
    /// Parses "cross_entropy" or "mse".
    pub fn parse(s: &str) -> Result<LossKind> {
        match s {
            "cross_entropy" => Ok(LossKind::CrossEntropy),
            "mse" => Ok(LossKind::Mse),
            _ => Err(Error::invalid(
                "mlp",
                format!("loss: expected \"cross_entropy\" or \"mse\", got \"{s}\""),
            )),
        }
    }

    /// The name scripts use.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::Mse => "mse",
        }
    }
}

/// Parameter initialisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// U(−1/√fan_in, 1/√fan_in) for weights and biases, as PyTorch's `nn.Linear`.
    Uniform,
    /// `std · N(0, 1)` for weights and biases (the paper's code used 0.1).
    Normal { std: f64 },
}

/// How to build an [`Mlp`].
#[derive(Clone, Debug, PartialEq)]
pub struct MlpOpts {
    /// Hidden activation.
    pub act: Act,
    /// Loss.
    pub loss: LossKind,
    /// Whether layers have biases.
    pub bias: bool,
    /// Initialisation.
    pub init: Init,
    /// Seed of the initialisation.
    pub seed: u64,
}

impl Default for MlpOpts {
    fn default() -> Self {
        MlpOpts {
            act: Act::Relu,
            loss: LossKind::CrossEntropy,
            bias: true,
            init: Init::Uniform,
            seed: 0,
        }
    }
}

/// Largest number of parameters an `mlp` may have (about 2 GB of f64).
pub const MAX_PARAMS: usize = 250_000_000;

/// A multilayer perceptron and its flat parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    sizes: Vec<usize>,
    act: Act,
    loss: LossKind,
    bias: bool,
    params: Vec<f64>,
}

/// Where one layer's weights and bias sit in the flat vector.
#[derive(Clone, Copy, Debug)]
struct Layer {
    fan_in: usize,
    fan_out: usize,
    w_off: usize,
    b_off: Option<usize>,
}

impl Mlp {
    /// A freshly initialised net with layer widths `sizes` (input first).
    pub fn new(sizes: &[usize], o: &MlpOpts) -> Result<Mlp> {
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
        let mut p: usize = 0;
        for w in sizes.windows(2) {
            let layer = w[0]
                .checked_mul(w[1])
                .and_then(|m| m.checked_add(if o.bias { w[1] } else { 0 }));
            p = match layer.and_then(|l| p.checked_add(l)) {
                Some(v) if v <= MAX_PARAMS => v,
                _ => {
                    let total: f64 = sizes
                        .windows(2)
                        .map(|w| w[0] as f64 * w[1] as f64 + if o.bias { w[1] as f64 } else { 0.0 })
                        .sum();
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
            };
        }
        crate::mat::check_memory(
            "mlp",
            || format!("{p} parameters and their gradient"),
            16.0 * p as f64,
            "use narrower layers",
        )?;
        if let Init::Normal { std } = o.init {
            if !(std.is_finite() && std >= 0.0) {
                return Err(Error::invalid(
                    "mlp",
                    format!("init_std: expected a finite number ≥ 0, got {std}"),
                ));
            }
        }
        let mut m = Mlp {
            sizes: sizes.to_vec(),
            act: o.act,
            loss: o.loss,
            bias: o.bias,
            params: vec![0.0; p],
        };
        let mut rng = Rng::new(o.seed);
        for l in m.layers() {
            let bound = 1.0 / (l.fan_in as f64).sqrt();
            let n = l.fan_in * l.fan_out + if l.b_off.is_some() { l.fan_out } else { 0 };
            for v in &mut m.params[l.w_off..l.w_off + n] {
                *v = match o.init {
                    Init::Uniform => rng.uniform_in(-bound, bound),
                    Init::Normal { std } => std * rng.normal(),
                };
            }
        }
        Ok(m)
    }

    fn layers(&self) -> Vec<Layer> {
        let mut off = 0;
        self.sizes
            .windows(2)
            .map(|w| {
                let (fan_in, fan_out) = (w[0], w[1]);
                let w_off = off;
                off += fan_in * fan_out;
                let b_off = self.bias.then(|| {
                    let b = off;
                    off += fan_out;
                    b
                });
                Layer {
                    fan_in,
                    fan_out,
                    w_off,
                    b_off,
                }
            })
            .collect()
    }

    /// Layer widths, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Hidden activation.
    pub fn act(&self) -> Act {
        self.act
    }

    /// Loss.
    pub fn loss_kind(&self) -> LossKind {
        self.loss
    }

    /// Whether layers have biases.
    pub fn has_bias(&self) -> bool {
        self.bias
    }

    /// Number of outputs k.
    pub fn out_dim(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// Number of parameters P.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// The flat parameter vector.
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// Replaces the flat parameter vector (length must be P, values finite).
    pub fn set_params(&mut self, p: &[f64]) -> Result<()> {
        self.check_vector("params", p)?;
        self.params.copy_from_slice(p);
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

    /// Per-layer `(name, shape, values)` for saving: `layers.{i}.weight` (out × in)
    /// and `layers.{i}.bias` (out), `i` counting the affine layers from 0.
    pub fn named_tensors(&self) -> Vec<(String, Vec<usize>, &[f64])> {
        let mut out = Vec::new();
        for (i, l) in self.layers().iter().enumerate() {
            let nw = l.fan_in * l.fan_out;
            out.push((
                format!("layers.{i}.weight"),
                vec![l.fan_out, l.fan_in],
                &self.params[l.w_off..l.w_off + nw],
            ));
            if let Some(b) = l.b_off {
                out.push((
                    format!("layers.{i}.bias"),
                    vec![l.fan_out],
                    &self.params[b..b + l.fan_out],
                ));
            }
        }
        out
    }

    /// Errors unless `data` fits this net (input width, classes or targets).
    pub fn check_data(&self, op: &'static str, data: &Dataset) -> Result<()> {
        let d = self.sizes[0];
        let k = self.sizes[self.sizes.len() - 1];
        if data.dim() != d {
            return Err(Error::shape(
                op,
                format!("data with {d} features (the model's input size)"),
                format!("{} features", data.dim()),
            ));
        }
        if data.is_empty() {
            return Err(Error::shape(
                op,
                "at least one example",
                "an empty data set",
            ));
        }
        self.check_activations(op, data.len())?;
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
        Ok(())
    }

    /// Refuses at once when a forward and backward pass over `n` examples
    /// would need more memory than the budget: about four N × width arrays
    /// per layer (pre-activations, activations, derivatives, errors).
    pub fn check_activations(&self, op: &'static str, n: usize) -> Result<()> {
        let widths: usize = self.sizes.iter().sum();
        crate::mat::check_memory(
            op,
            || {
                format!(
                    "the activations of {n} examples through layers {:?}",
                    self.sizes
                )
            },
            32.0 * (n as f64) * (widths as f64),
            "use fewer examples (data.take(n)) or narrower layers",
        )
    }

    /// Outputs (logits) for the rows of `x`, N × k.
    pub fn predict(&self, x: &Mat) -> Result<Mat> {
        if x.cols() != self.sizes[0] {
            return Err(Error::shape(
                "predict",
                format!(
                    "inputs with {} columns (the model's input size)",
                    self.sizes[0]
                ),
                format!("{} columns", x.cols()),
            ));
        }
        self.check_activations("predict", x.rows())?;
        let net = Net::new(self, &self.params)?;
        let xt = mat_tensor(x)?;
        let (fw, _) = net.forward(&xt, None)?;
        tensor_mat(fw.output())
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

    /// [`Mlp::eval`] with errors naming `op`.
    fn eval_op(&self, op: &'static str, data: &Dataset) -> Result<(f64, f64)> {
        self.check_data(op, data)?;
        let batch = Batch::new(data, self.out_dim())?;
        let net = Net::new(self, &self.params)?;
        let (fw, _) = net.forward(&batch.x, None)?;
        let (loss, _) = self.head(&fw, &batch, false)?;
        let acc = accuracy_of(fw.output(), data)?;
        Ok((loss, acc))
    }

    /// The fraction of correctly classified rows.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        Ok(self.eval_op("accuracy", data)?.1)
    }

    /// `(loss, ∇L)` over `data`.
    pub fn loss_grad(&self, data: &Dataset) -> Result<(f64, Vec<f64>)> {
        self.check_data("grad", data)?;
        let batch = Batch::new(data, self.out_dim())?;
        self.loss_grad_batch(&batch, &self.params)
    }

    /// `(loss, ∇L)` at parameters `p` on a prepared batch.
    pub(crate) fn loss_grad_batch(&self, batch: &Batch, p: &[f64]) -> Result<(f64, Vec<f64>)> {
        let net = Net::new(self, p)?;
        let (fw, _) = net.forward(&batch.x, None)?;
        let (loss, delta) = self.head(&fw, batch, true)?;
        let delta = delta.ok_or_else(|| Error::invalid("grad", "internal: no output error"))?;
        let grads = net.backward(&fw, &batch.x, delta)?;
        let mut g = vec![0.0; self.params.len()];
        for (l, (gw, gb)) in self.layers().iter().zip(grads) {
            let nw = l.fan_in * l.fan_out;
            g[l.w_off..l.w_off + nw].copy_from_slice(&gw.flatten_all()?.to_vec1::<f64>()?);
            if let (Some(b), Some(gb)) = (l.b_off, gb) {
                g[b..b + l.fan_out].copy_from_slice(&gb.flatten_all()?.to_vec1::<f64>()?);
            }
        }
        Ok((loss, g))
    }

    /// Loss and, when `want_delta`, the output error δ_L = ∂L/∂f (N × k).
    fn head(&self, fw: &Forward, batch: &Batch, want_delta: bool) -> Result<(f64, Option<Tensor>)> {
        let f = fw.output();
        let n = batch.n as f64;
        match self.loss {
            LossKind::CrossEntropy => {
                let logp = candle_nn::ops::log_softmax(f, D::Minus1)?;
                let loss = -(logp.mul(&batch.t)?.sum_all()?.to_scalar::<f64>()?) / n;
                let delta = if want_delta {
                    Some(logp.exp()?.sub(&batch.t)?.affine(1.0 / n, 0.0)?)
                } else {
                    None
                };
                Ok((loss, delta))
            }
            LossKind::Mse => {
                let r = f.sub(&batch.t)?;
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

    /// Everything the curvature products at the current parameters share:
    /// the forward pass, the back-propagated errors and the softmax.
    pub(crate) fn curvature_state(&self, batch: &Batch) -> Result<CurvState> {
        Ok(self.curvature_state_with(batch, None)?.0)
    }

    /// [`Mlp::curvature_state`], and with `first` (the first layer's weight
    /// directions as made by [`directions`]) also the R-pass's
    /// first product `X Vᵀ`, taken in the forward pass's sweep over `X`.
    fn curvature_state_with(
        &self,
        batch: &Batch,
        first: Option<&Tensor>,
    ) -> Result<(CurvState, Option<Tensor>)> {
        let net = Net::new(self, &self.params)?;
        let (fw, side) = net.forward(&batch.x, first)?;
        let (_, delta) = self.head(&fw, batch, true)?;
        let nl = net.w.len();
        let mut deltas: Vec<Tensor> = Vec::with_capacity(nl);
        let mut d = delta.ok_or_else(|| Error::invalid("hvp", "internal: no output error"))?;
        for l in (0..nl).rev() {
            let next = if l > 0 {
                Some(d.matmul(&net.w[l])?.mul(&fw.dact[l - 1])?)
            } else {
                None
            };
            deltas.push(d);
            match next {
                Some(nd) => d = nd,
                None => break,
            }
        }
        deltas.reverse();
        // (δ_l W_l) ⊙ σ''(z_{l−1}) for the second-order activation term.
        let dw_dd = (0..nl)
            .map(|l| -> Result<Option<Tensor>> {
                Ok(
                    match (l, l.checked_sub(1).and_then(|p| fw.ddact[p].as_ref())) {
                        (l, Some(dd)) if l > 0 => Some(deltas[l].matmul(&net.w[l])?.mul(dd)?),
                        _ => None,
                    },
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let prob = match self.loss {
            LossKind::CrossEntropy => Some(candle_nn::ops::softmax_last_dim(fw.output())?),
            LossKind::Mse => None,
        };
        let state = CurvState {
            net,
            fw,
            deltas,
            dw_dd,
            prob,
            x: batch.x.clone(),
            n: batch.n,
            layers: self.layers(),
            p: self.params.len(),
        };
        Ok((state, side))
    }

    /// One Hessian–vector product from scratch (`v` checked by the caller):
    /// the forward pass and the R-pass share one sweep over the inputs.
    pub(crate) fn hvp_once(&self, batch: &Batch, v: &[f64]) -> Result<Vec<f64>> {
        let vs = Mat::from_vec(1, v.len(), v.to_vec())?;
        let layers = self.layers();
        let dirs = directions(&layers, &vs)?;
        let (state, side) = self.curvature_state_with(batch, Some(&dirs.0[0]))?;
        Ok(state.apply_dirs(1, dirs, side, false)?.into_vec())
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

/// The forward state shared by curvature products at fixed parameters.
pub struct CurvState {
    net: Net,
    fw: Forward,
    deltas: Vec<Tensor>,
    dw_dd: Vec<Option<Tensor>>,
    prob: Option<Tensor>,
    x: Tensor,
    n: usize,
    layers: Vec<Layer>,
    p: usize,
}

/// Directions split per layer: `Vw` as (b·out, in) and `Vb` as (b, 1, out).
type Directions = (Vec<Tensor>, Vec<Option<Tensor>>);

/// The rows of `vs` (b × P, P checked by the caller) split per layer.
fn directions(layers: &[Layer], vs: &Mat) -> Result<Directions> {
    let b = vs.rows();
    let mut vw = Vec::with_capacity(layers.len());
    let mut vb = Vec::with_capacity(layers.len());
    for l in layers {
        let nw = l.fan_in * l.fan_out;
        let mut w = Vec::with_capacity(b * nw);
        let mut bb = Vec::with_capacity(b * l.fan_out);
        for j in 0..b {
            let row = vs.row(j);
            w.extend_from_slice(&row[l.w_off..l.w_off + nw]);
            if let Some(o) = l.b_off {
                bb.extend_from_slice(&row[o..o + l.fan_out]);
            }
        }
        vw.push(Tensor::from_vec(
            w,
            (b * l.fan_out, l.fan_in),
            &Device::Cpu,
        )?);
        vb.push(match l.b_off {
            Some(_) => Some(Tensor::from_vec(bb, (b, 1, l.fan_out), &Device::Cpu)?),
            None => None,
        });
    }
    Ok((vw, vb))
}

/// (b, N, h) → (N, b·h), contiguous.
fn bnh_to_nbh(t: &Tensor) -> Result<Tensor> {
    let (b, n, h) = t.dims3()?;
    Ok(t.transpose(0, 1)?.contiguous()?.reshape((n, b * h))?)
}

/// (N, b·h) → (b, N, h), contiguous.
fn nbh_to_bnh(t: &Tensor, b: usize) -> Result<Tensor> {
    let (n, bh) = t.dims2()?;
    Ok(t.reshape((n, b, bh / b))?.transpose(0, 1)?.contiguous()?)
}

/// (b, N, h) · M (h, k) → (b, N, k).
fn bmm_right(t: &Tensor, m: &Tensor) -> Result<Tensor> {
    let (b, n, h) = t.dims3()?;
    let k = m.dim(1)?;
    Ok(t.reshape((b * n, h))?.matmul(m)?.reshape((b, n, k))?)
}

impl CurvState {
    /// Number of parameters of the first layer (they lead the flat vector).
    pub(crate) fn first_layer_len(&self) -> usize {
        let l = self.layers[0];
        l.fan_in * l.fan_out + if l.b_off.is_some() { l.fan_out } else { 0 }
    }

    /// The exact block of the Hessian (or Gauss–Newton matrix) for the first
    /// layer's parameters, without one product per parameter.
    ///
    /// The first layer's pre-activations are linear in its parameters, so
    /// `H[(j,i),(j',i')] = Σₙ x_{n,i} x_{n,i'} Kₙ[j,j']` with
    /// `Kₙ = ∂²L/∂z₁ₙ∂z₁ₙ` (h₁ × h₁ per example; bias columns take x = 1).
    /// K comes from h₁ R-passes that start at z₁, and the block from
    /// h₁(h₁+1)/2 weighted Gram products XᵀDX. The block is written into
    /// the top-left corner of `out` (the P × P matrix being built), so no
    /// second large matrix is allocated.
    pub(crate) fn first_layer_block(&self, gauss_newton: bool, out: &mut Mat) -> Result<()> {
        let lay = self.layers[0];
        let (h1, d) = (lay.fan_out, lay.fan_in);
        let nl = self.layers.len();
        let n = self.n;
        let fw = &self.fw;
        // Rz₁ = e_j for every example: (h1, N, h1).
        let eye = Tensor::eye(h1, DType::F64, &Device::Cpu)?.reshape((h1, 1, h1))?;
        let rz0 = eye.broadcast_as((h1, n, h1))?.contiguous()?;
        let mut rz = vec![rz0];
        for l in 1..nl {
            let ra = rz[l - 1].broadcast_mul(&fw.dact[l - 1])?;
            rz.push(bmm_right(&ra, &self.net.w[l].t()?)?);
        }
        let mut rdelta = self.r_output_error(&rz[nl - 1])?;
        for l in (1..nl).rev() {
            let mut nd = bmm_right(&rdelta, &self.net.w[l])?.broadcast_mul(&fw.dact[l - 1])?;
            if !gauss_newton {
                if let Some(dw) = &self.dw_dd[l] {
                    nd = nd.add(&rz[l - 1].broadcast_mul(dw)?)?;
                }
            }
            rdelta = nd;
        }
        // K[j] (N, h1): column j' holds ∂²L/∂z₁[j']∂z₁[j] for every example.
        let p1 = self.first_layer_len();
        // Written straight into the top-left p1 × p1 block of `out`.
        let ld = out.cols();
        if out.rows() < p1 || ld < p1 {
            return Err(Error::shape(
                "hessian",
                format!("a matrix of at least {p1}×{p1}"),
                format!("{}×{}", out.rows(), ld),
            ));
        }
        let x = &self.x;
        let xt = x.t()?;
        let b_off = lay.b_off.map(|_| h1 * d);
        for j in 0..h1 {
            let kj = rdelta.get(j)?; // (N, h1)
            if let Some(bo) = b_off {
                // Weight–bias and bias–bias entries.
                let xk = xt.matmul(&kj)?.to_vec2::<f64>()?; // (d, h1)
                let ks = kj.sum(0)?.to_vec1::<f64>()?;
                for (i, row) in xk.iter().enumerate() {
                    for (jp, &v) in row.iter().enumerate() {
                        out.set(j * d + i, bo + jp, v);
                        out.set(bo + jp, j * d + i, v);
                    }
                }
                for (jp, &v) in ks.iter().enumerate() {
                    out.set(bo + j, bo + jp, v);
                }
            }
            for jp in j..h1 {
                // Each Gram product is O(N d²): check for Ctrl-C between them.
                crate::progress::check_interrupt(if gauss_newton {
                    "gauss_newton"
                } else {
                    "hessian"
                })?;
                let k = kj.narrow(1, jp, 1)?; // (N, 1)
                let g = xt
                    .matmul(&x.broadcast_mul(&k)?)?
                    .flatten_all()?
                    .to_vec1::<f64>()?;
                for i in 0..d {
                    let r1 = j * d + i;
                    let row = &g[i * d..(i + 1) * d];
                    out.data_mut()[r1 * ld + jp * d..r1 * ld + jp * d + d].copy_from_slice(row);
                    if jp != j {
                        for (ip, &v) in row.iter().enumerate() {
                            out.set(jp * d + ip, r1, v);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// R of the output error `∂L/∂f` given `R f` (any leading batch
    /// dimensions): `(1/N) Hℓ R f`, with the softmax cross-entropy Hessian
    /// `Hℓ r = p ⊙ r − p (pᵀ r)` or the identity for mse.
    fn r_output_error(&self, rf: &Tensor) -> Result<Tensor> {
        let scale = 1.0 / self.n as f64;
        Ok(match &self.prob {
            Some(prob) => {
                let pr = rf.broadcast_mul(prob)?;
                let s = pr.sum_keepdim(D::Minus1)?;
                pr.sub(&s.broadcast_mul(prob)?)?.affine(scale, 0.0)?
            }
            None => rf.affine(scale, 0.0)?,
        })
    }

    /// The R-operator on a block of directions (rows of `vs`).
    pub(crate) fn apply(&self, vs: &Mat, gauss_newton: bool) -> Result<Mat> {
        let op = if gauss_newton { "gauss_newton" } else { "hvp" };
        let p = self.p;
        if vs.cols() != p {
            return Err(Error::shape(
                op,
                format!("directions of length {p} (the model's parameter count)"),
                format!("length {}", vs.cols()),
            ));
        }
        let dirs = directions(&self.layers, vs)?;
        self.apply_dirs(vs.rows(), dirs, None, gauss_newton)
    }

    /// [`CurvState::apply`] on `b` directions already split per layer;
    /// `first` is `X V₁ᵀ` (N × b·out₁) when the forward pass computed it.
    fn apply_dirs(
        &self,
        b: usize,
        (vw, vb): Directions,
        mut first: Option<Tensor>,
        gauss_newton: bool,
    ) -> Result<Mat> {
        let p = self.p;
        let layers = &self.layers;
        let nl = layers.len();
        let fw = &self.fw;
        let net = &self.net;
        // Forward R-pass: Rz[l] (b, N, out_l), Ra[l] for hidden layers.
        let mut rz: Vec<Tensor> = Vec::with_capacity(nl);
        let mut ra: Vec<Tensor> = Vec::with_capacity(nl);
        for l in 0..nl {
            let a_prev = if l == 0 { &self.x } else { &fw.a[l - 1] };
            // a_{l−1} V_lᵀ as one (N, in)·(in, b·out) product.
            let prod = match first.take() {
                Some(t) if l == 0 => t,
                _ => a_prev.matmul(&vw[l].t()?)?,
            };
            let mut z = nbh_to_bnh(&prod, b)?;
            if l > 0 {
                z = z.add(&bmm_right(&ra[l - 1], &net.w[l].t()?)?)?;
            }
            if let Some(vb) = &vb[l] {
                z = z.broadcast_add(vb)?;
            }
            if l + 1 < nl {
                ra.push(z.broadcast_mul(&fw.dact[l])?);
            }
            rz.push(z);
        }
        // R of the output error.
        let mut rdelta = self.r_output_error(&rz[nl - 1])?;
        // Backward R-pass.
        let mut out = Mat::zeros(b, p);
        for l in (0..nl).rev() {
            let lay = layers[l];
            let a_prev = if l == 0 { &self.x } else { &fw.a[l - 1] };
            let (_, n, out_l) = rdelta.dims3()?;
            // R(gW) = Rδᵀ a_{l−1} + δᵀ R(a_{l−1}), as (b·out, in).
            let rdt = rdelta
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * out_l, n))?;
            let mut gw = rdt.matmul(a_prev)?;
            if !gauss_newton && l > 0 {
                // δᵀ R(a) : (out, N)·(N, b·in) → (out, b, in) → (b, out, in).
                let t = self.deltas[l].t()?.matmul(&bnh_to_nbh(&ra[l - 1])?)?;
                let t = t
                    .reshape((out_l, b, lay.fan_in))?
                    .transpose(0, 1)?
                    .contiguous()?
                    .reshape((b * out_l, lay.fan_in))?;
                gw = gw.add(&t)?;
            }
            let gw = gw.flatten_all()?.to_vec1::<f64>()?;
            let nw = lay.fan_in * lay.fan_out;
            let gb = match lay.b_off {
                Some(_) => Some(rdelta.sum(1)?.flatten_all()?.to_vec1::<f64>()?),
                None => None,
            };
            for j in 0..b {
                let row = &mut out.data_mut()[j * p..(j + 1) * p];
                row[lay.w_off..lay.w_off + nw].copy_from_slice(&gw[j * nw..(j + 1) * nw]);
                if let (Some(o), Some(gb)) = (lay.b_off, &gb) {
                    row[o..o + lay.fan_out]
                        .copy_from_slice(&gb[j * lay.fan_out..(j + 1) * lay.fan_out]);
                }
            }
            if l > 0 {
                // Rδ_{l−1} = (Rδ W + δ V) ⊙ σ'(z) + (δ W) ⊙ σ''(z) ⊙ Rz.
                let mut back = bmm_right(&rdelta, &net.w[l])?;
                if !gauss_newton {
                    // δ V : (N, out)·(out, b·in) → (b, N, in).
                    let v = vw[l]
                        .reshape((b, out_l, lay.fan_in))?
                        .transpose(0, 1)?
                        .contiguous()?
                        .reshape((out_l, b * lay.fan_in))?;
                    back = back.add(&nbh_to_bnh(&self.deltas[l].matmul(&v)?, b)?)?;
                }
                let mut nd = back.broadcast_mul(&fw.dact[l - 1])?;
                if !gauss_newton {
                    if let Some(dw) = &self.dw_dd[l] {
                        nd = nd.add(&rz[l - 1].broadcast_mul(dw)?)?;
                    }
                }
                rdelta = nd;
            }
        }
        Ok(out)
    }
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

/// A data set as tensors: inputs (N, d) and targets (N, k) (one-hot for labels).
pub struct Batch {
    pub(crate) x: Tensor,
    pub(crate) t: Tensor,
    pub(crate) n: usize,
}

impl Batch {
    /// Converts `data` (already checked against the model) for a net with `k` outputs.
    pub(crate) fn new(data: &Dataset, k: usize) -> Result<Batch> {
        let x = data.x_tensor()?;
        let n = data.len();
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

/// Per-layer weight and bias tensors at given flat parameters.
struct Net {
    w: Vec<Tensor>,
    b: Vec<Option<Tensor>>,
    act: Act,
}

/// What the forward pass keeps for the backward passes.
struct Forward {
    /// Hidden activations a_l (N, h_l); the last entry is the output f.
    a: Vec<Tensor>,
    /// σ'(z_l) for hidden layers.
    dact: Vec<Tensor>,
    /// σ''(z_l) for hidden layers (None where it is zero).
    ddact: Vec<Option<Tensor>>,
}

impl Forward {
    fn output(&self) -> &Tensor {
        &self.a[self.a.len() - 1]
    }
}

impl Net {
    fn new(m: &Mlp, p: &[f64]) -> Result<Net> {
        let mut w = Vec::new();
        let mut b = Vec::new();
        for l in m.layers() {
            let nw = l.fan_in * l.fan_out;
            w.push(Tensor::from_slice(
                &p[l.w_off..l.w_off + nw],
                (l.fan_out, l.fan_in),
                &Device::Cpu,
            )?);
            b.push(match l.b_off {
                Some(o) => Some(Tensor::from_slice(
                    &p[o..o + l.fan_out],
                    (1, l.fan_out),
                    &Device::Cpu,
                )?),
                None => None,
            });
        }
        Ok(Net { w, b, act: m.act })
    }

    /// The forward pass. With `extra` (r × in), the first layer's product
    /// is `x [W₁; extra]ᵀ` in one pass over `x`, and `x extraᵀ` (N × r) is
    /// returned beside the pass.
    fn forward(&self, x: &Tensor, extra: Option<&Tensor>) -> Result<(Forward, Option<Tensor>)> {
        let nl = self.w.len();
        let mut a = Vec::with_capacity(nl);
        let mut dact = Vec::with_capacity(nl);
        let mut ddact = Vec::with_capacity(nl);
        let mut h = x.clone();
        let mut side = None;
        for l in 0..nl {
            let mut z = match (l, extra) {
                (0, Some(e)) => {
                    let out = self.w[0].dim(0)?;
                    let zz = h.matmul(&Tensor::cat(&[&self.w[0], e], 0)?.t()?)?;
                    side = Some(zz.narrow(1, out, e.dim(0)?)?.contiguous()?);
                    zz.narrow(1, 0, out)?.contiguous()?
                }
                _ => h.matmul(&self.w[l].t()?)?,
            };
            if let Some(b) = &self.b[l] {
                z = z.broadcast_add(b)?;
            }
            if l + 1 < nl {
                let (act, d1, d2) = activate(self.act, &z)?;
                dact.push(d1);
                ddact.push(d2);
                h = act;
            } else {
                h = z;
            }
            a.push(h.clone());
        }
        Ok((Forward { a, dact, ddact }, side))
    }

    /// Gradients `(gW_l, gb_l)` for every layer from the output error δ_L.
    fn backward(
        &self,
        fw: &Forward,
        x: &Tensor,
        mut delta: Tensor,
    ) -> Result<Vec<(Tensor, Option<Tensor>)>> {
        let nl = self.w.len();
        let mut out = Vec::with_capacity(nl);
        for l in (0..nl).rev() {
            let a_prev = if l == 0 { x } else { &fw.a[l - 1] };
            let gw = delta.t()?.matmul(a_prev)?;
            let gb = match self.b[l] {
                Some(_) => Some(delta.sum(0)?),
                None => None,
            };
            out.push((gw, gb));
            if l > 0 {
                delta = delta.matmul(&self.w[l])?.mul(&fw.dact[l - 1])?;
            }
        }
        out.reverse();
        Ok(out)
    }
}

/// σ(z), σ'(z) and σ''(z) (None when identically zero).
fn activate(act: Act, z: &Tensor) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    Ok(match act {
        Act::Relu => {
            let mask = z.gt(0.0)?.to_dtype(DType::F64)?;
            (z.relu()?, mask, None)
        }
        Act::Tanh => {
            let t = z.tanh()?;
            let d1 = t.sqr()?.affine(-1.0, 1.0)?;
            let d2 = t.mul(&d1)?.affine(-2.0, 0.0)?;
            (t, d1, Some(d2))
        }
        Act::Sigmoid => {
            let s = candle_nn::ops::sigmoid(z)?;
            let d1 = s.mul(&s.affine(-1.0, 1.0)?)?;
            let d2 = d1.mul(&s.affine(-2.0, 1.0)?)?;
            (s, d1, Some(d2))
        }
        Act::Linear => (z.clone(), z.ones_like()?, None),
    })
}

impl Mlp {
    /// Saves the parameters: `.npy` holds the flat vector, `.safetensors`
    /// one tensor per layer (`layers.0.weight`, `layers.0.bias`, …).
    pub fn save_params(&self, path: &std::path::Path) -> Result<()> {
        match extension(path) {
            Some("npy") => {
                let bytes = crate::data::npy::npy_bytes(&crate::data::npy::NpyArray::Vector(
                    self.params.clone(),
                ));
                crate::data::npy::write_atomic("save_params", path, &bytes)
            }
            Some("safetensors") => {
                crate::data::npy::write_atomic("save_params", path, &self.safetensors_bytes())
            }
            _ => Err(Error::invalid(
                "save_params",
                format!(
                    "expected a path ending in .npy or .safetensors, got {}",
                    path.display()
                ),
            )),
        }
    }

    /// Loads parameters saved by [`Mlp::save_params`] (or by PyTorch with the
    /// same names), checking every shape against this model.
    pub fn load_params(&mut self, path: &std::path::Path) -> Result<()> {
        if !path.exists() {
            return Err(Error::io("load_params", path, "no such file"));
        }
        if path.is_dir() {
            return Err(Error::io(
                "load_params",
                path,
                "is a directory, expected a file",
            ));
        }
        match extension(path) {
            Some("npy") => match crate::data::npy::read_npy(path)? {
                crate::data::npy::NpyArray::Vector(v) => {
                    self.check_vector("load_params", &v)?;
                    self.params = v;
                    Ok(())
                }
                crate::data::npy::NpyArray::Matrix(m) => Err(Error::shape(
                    "load_params",
                    format!("a 1-D array of {} parameters", self.params.len()),
                    format!("a {}×{} matrix", m.rows(), m.cols()),
                )),
            },
            Some("safetensors") => {
                let bytes = crate::data::read_regular_file("load_params", path, "a file")?;
                self.load_safetensors(&bytes, path)
            }
            _ => Err(Error::invalid(
                "load_params",
                format!(
                    "expected a path ending in .npy or .safetensors, got {}",
                    path.display()
                ),
            )),
        }
    }
}

impl Mlp {
    /// The parameters in the `.safetensors` format: an 8-byte little-endian
    /// header length, a JSON header naming each tensor (`layers.0.weight`,
    /// …; dtype F64, shape, byte offsets), padded with spaces to a multiple
    /// of 8, then the little-endian data in the same order.
    pub fn safetensors_bytes(&self) -> Vec<u8> {
        let tensors = self.named_tensors();
        let mut header = String::from("{");
        let mut offset = 0usize;
        for (i, (name, shape, vals)) in tensors.iter().enumerate() {
            let end = offset + 8 * vals.len();
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            if i > 0 {
                header.push(',');
            }
            header.push_str(&format!(
                "\"{name}\":{{\"dtype\":\"F64\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
                dims.join(",")
            ));
            offset = end;
        }
        header.push('}');
        while header.len() % 8 != 0 {
            header.push(' ');
        }
        let mut out = Vec::with_capacity(8 + header.len() + offset);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for (_, _, vals) in &tensors {
            for v in *vals {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Loads parameters from the bytes of a `.safetensors` file (`path` is
    /// for messages), checking every name and shape; the model is unchanged
    /// on any error.
    pub fn load_safetensors(&mut self, bytes: &[u8], path: &std::path::Path) -> Result<()> {
        let map = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| Error::format("load_params", path, e.to_string()))?;
        let mut p = self.params.clone();
        let layers = self.layers();
        for (li, l) in layers.iter().enumerate() {
            let mut parts = vec![(
                format!("layers.{li}.weight"),
                vec![l.fan_out, l.fan_in],
                l.w_off,
            )];
            if let Some(b) = l.b_off {
                parts.push((format!("layers.{li}.bias"), vec![l.fan_out], b));
            }
            for (name, shape, off) in parts {
                let t = map.get(&name).ok_or_else(|| {
                    let mut have: Vec<&String> = map.keys().collect();
                    have.sort();
                    Error::format(
                        "load_params",
                        path,
                        format!("expected a tensor named {name}, found {have:?}"),
                    )
                })?;
                if t.dims() != shape.as_slice() {
                    return Err(Error::shape(
                        "load_params",
                        format!("{name} of shape {shape:?}"),
                        format!("{:?}", t.dims()),
                    ));
                }
                let vals = t
                    .to_dtype(DType::F64)
                    .and_then(|t| t.flatten_all())
                    .and_then(|t| t.to_vec1::<f64>())
                    .map_err(|e| Error::format("load_params", path, format!("{name}: {e}")))?;
                p[off..off + vals.len()].copy_from_slice(&vals);
            }
        }
        self.check_vector("load_params", &p)?;
        self.params = p;
        Ok(())
    }
}

fn extension(path: &std::path::Path) -> Option<&str> {
    path.extension().and_then(|e| e.to_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize, d: usize, k: usize, seed: u64) -> Dataset {
        let mut r = Rng::new(seed);
        let x = Mat::from_fn(n, d, |_, _| r.normal());
        let y = (0..n).map(|i| i % k).collect();
        Dataset::new(x, Targets::Labels { y, classes: k }).unwrap()
    }

    fn model(sizes: &[usize], act: Act, loss: LossKind, bias: bool) -> Mlp {
        let o = MlpOpts {
            act,
            loss,
            bias,
            init: Init::Normal { std: 0.5 },
            seed: 3,
        };
        Mlp::new(sizes, &o).unwrap()
    }

    fn all_models() -> Vec<Mlp> {
        let mut out = vec![];
        for act in [Act::Relu, Act::Tanh, Act::Sigmoid, Act::Linear] {
            for loss in [LossKind::CrossEntropy, LossKind::Mse] {
                for bias in [true, false] {
                    out.push(model(&[4, 5, 3, 3], act, loss, bias));
                }
            }
        }
        out
    }

    #[test]
    fn gradient_matches_central_differences() {
        let data = toy(13, 4, 3, 1);
        for m in all_models() {
            let (l0, g) = m.loss_grad(&data).unwrap();
            assert!((l0 - m.loss(&data).unwrap()).abs() < 1e-14);
            let h = 1e-6;
            for i in 0..m.num_params() {
                let mut p = m.params().to_vec();
                p[i] += h;
                let mut mp = m.clone();
                mp.set_params(&p).unwrap();
                let lp = mp.loss(&data).unwrap();
                p[i] -= 2.0 * h;
                mp.set_params(&p).unwrap();
                let lm = mp.loss(&data).unwrap();
                let fd = (lp - lm) / (2.0 * h);
                let err = (fd - g[i]).abs() / g[i].abs().max(1e-3);
                assert!(
                    err < 1e-6,
                    "{:?} {:?} param {i}: fd {fd} vs {}",
                    m.act(),
                    m.loss_kind(),
                    g[i]
                );
            }
        }
    }

    #[test]
    fn one_shot_hvp_matches_the_reused_operator() {
        // `hvp_once` takes X V₁ᵀ from the forward pass's stacked product;
        // it must agree with the operator that recomputes it.
        let data = toy(13, 4, 3, 4);
        for m in all_models() {
            let p = m.num_params();
            let mut r = Rng::new(8);
            let v: Vec<f64> = (0..p).map(|_| r.normal()).collect();
            let batch = Batch::new(&data, m.out_dim()).unwrap();
            let once = m.hvp_once(&batch, &v).unwrap();
            let vs = Mat::from_vec(1, p, v.clone()).unwrap();
            let reused = m.curvature_block(&batch, &vs, false).unwrap();
            let scale = crate::mat::norm(reused.row(0)).max(1e-300);
            for (a, b) in once.iter().zip(reused.row(0)) {
                assert!((a - b).abs() <= 1e-14 * scale, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn hvp_matches_differences_of_gradients() {
        let data = toy(11, 4, 3, 2);
        for m in all_models() {
            let p = m.num_params();
            let mut r = Rng::new(5);
            let vs = Mat::from_fn(3, p, |_, _| r.normal());
            let batch = Batch::new(&data, m.out_dim()).unwrap();
            let hv = m.curvature_block(&batch, &vs, false).unwrap();
            for j in 0..3 {
                let v = vs.row(j);
                let eps = 1e-5;
                let plus: Vec<f64> = m.params().iter().zip(v).map(|(a, b)| a + eps * b).collect();
                let minus: Vec<f64> = m.params().iter().zip(v).map(|(a, b)| a - eps * b).collect();
                let (_, gp) = m.loss_grad_batch(&batch, &plus).unwrap();
                let (_, gm) = m.loss_grad_batch(&batch, &minus).unwrap();
                let fd: Vec<f64> = gp
                    .iter()
                    .zip(&gm)
                    .map(|(a, b)| (a - b) / (2.0 * eps))
                    .collect();
                let num: f64 = fd
                    .iter()
                    .zip(hv.row(j))
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let den = crate::mat::norm(&fd).max(1e-8);
                assert!(
                    num / den < 1e-6,
                    "{:?} {:?} bias {}: rel err {}",
                    m.act(),
                    m.loss_kind(),
                    m.has_bias(),
                    num / den
                );
            }
        }
    }

    #[test]
    fn gauss_newton_product_is_symmetric_psd() {
        let data = toy(9, 4, 3, 4);
        for m in all_models() {
            let p = m.num_params();
            let batch = Batch::new(&data, m.out_dim()).unwrap();
            let g = m.curvature_block(&batch, &Mat::identity(p), true).unwrap();
            assert!(g.asymmetry() < 1e-12 * g.max_abs().max(1.0));
            let mut r = Rng::new(9);
            for _ in 0..5 {
                let v: Vec<f64> = (0..p).map(|_| r.normal()).collect();
                let gv = g.matvec(&v).unwrap();
                assert!(crate::mat::dot(&v, &gv) >= -1e-12);
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let m = model(&[4, 5, 3], Act::Relu, LossKind::CrossEntropy, true);
        let e = m.loss(&toy(5, 3, 3, 1)).unwrap_err().to_string();
        assert!(e.contains("4 features") && e.contains("got 3"), "{e}");
        let e = m.loss(&toy(5, 4, 5, 1)).unwrap_err().to_string();
        assert!(e.contains("labels below 3"), "{e}");
        assert!(Mlp::new(&[3], &MlpOpts::default()).is_err());
        assert!(Mlp::new(&[3, 0, 2], &MlpOpts::default()).is_err());
        assert!(Mlp::new(&[1 << 20, 1 << 20, 2], &MlpOpts::default()).is_err());
        let mut m2 = m.clone();
        assert!(m2.set_params(&[1.0, 2.0]).is_err());
    }
}
