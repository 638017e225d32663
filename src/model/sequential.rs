//! [`Chain`]: layers applied one after another — the loops of the forward,
//! backward and R passes, written once. A network's top level is a chain,
//! and so is the body of a residual block.

use crate::error::{Error, Result};
use crate::model::layer::{nothing, numel, Layer, RBack, Saved};
use candle_core::Tensor;
use std::sync::Arc;

/// Layers in sequence, with where each one's parameter tensors sit.
#[derive(Clone, Debug)]
pub struct Chain {
    layers: Vec<Arc<dyn Layer>>,
    /// Index of each layer's first parameter tensor; one extra at the end.
    first: Vec<usize>,
    /// Every parameter tensor's (module-local name, shape), in order.
    shapes: Vec<(String, Vec<usize>)>,
}

/// What the forward pass keeps: every layer's input (and the output last).
pub struct ChainFwd {
    /// `xs[l]` is layer l's input; `xs[L]` the chain's output.
    pub xs: Vec<Tensor>,
    /// Each layer's saved state.
    pub saved: Vec<Saved>,
}

impl ChainFwd {
    /// The chain's output.
    pub fn output(&self) -> &Tensor {
        &self.xs[self.xs.len() - 1]
    }
}

/// What the backward pass keeps: every layer's output error.
pub struct ChainBwd {
    /// `dys[l]` is `∂L/∂(output of layer l)`.
    pub dys: Vec<Tensor>,
    /// Each layer's saved state.
    pub saved: Vec<Saved>,
    /// Gradients of every parameter tensor, in order.
    pub grads: Vec<Tensor>,
    /// `∂L/∂(chain input)` when asked for.
    pub dx: Option<Tensor>,
}

/// What the forward R-pass keeps: every layer's input R-tensor.
pub struct ChainRFwd {
    /// `rxs[l]` is layer l's input R-tensor (None: zero); `rxs[L]` the output's.
    pub rxs: Vec<Option<Tensor>>,
    /// Each layer's saved state.
    pub saved: Vec<Saved>,
}

impl Chain {
    /// A chain of `layers`.
    pub fn new(layers: Vec<Arc<dyn Layer>>) -> Chain {
        let mut first = Vec::with_capacity(layers.len() + 1);
        let mut shapes = Vec::new();
        for l in &layers {
            first.push(shapes.len());
            shapes.extend(l.params());
        }
        first.push(shapes.len());
        Chain {
            layers,
            first,
            shapes,
        }
    }

    /// The layers.
    pub fn layers(&self) -> &[Arc<dyn Layer>] {
        &self.layers
    }

    /// Every parameter tensor's (module-local name, shape), in flat order.
    pub fn param_shapes(&self) -> &[(String, Vec<usize>)] {
        &self.shapes
    }

    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.shapes.iter().map(|(_, s)| numel(s)).sum()
    }

    /// The range of parameter tensors that belong to layer `l`.
    pub fn tensor_range(&self, l: usize) -> std::ops::Range<usize> {
        self.first[l]..self.first[l + 1]
    }

    /// Scalar parameter count of layer `l`.
    pub fn layer_len(&self, l: usize) -> usize {
        self.shapes[self.tensor_range(l)]
            .iter()
            .map(|(_, s)| numel(s))
            .sum()
    }

    /// The output sample shape for `input`, checking every layer; an error
    /// names the layer (`path` prefixes nested positions, e.g. "3.").
    pub fn out_shape(&self, op: &'static str, path: &str, input: &[usize]) -> Result<Vec<usize>> {
        let mut s = input.to_vec();
        for (i, l) in self.layers.iter().enumerate() {
            s = l.out_shape(&s).map_err(|(expected, got)| {
                Error::shape(
                    op,
                    format!("layer {path}{i} ({}) to get {expected}", l.describe()),
                    got,
                )
            })?;
        }
        Ok(s)
    }

    /// The forward pass from `x`.
    pub fn forward(&self, w: &[Tensor], x: &Tensor) -> Result<ChainFwd> {
        let mut xs = Vec::with_capacity(self.layers.len() + 1);
        let mut saved = Vec::with_capacity(self.layers.len());
        xs.push(x.clone());
        for (i, l) in self.layers.iter().enumerate() {
            let f = l.forward(&w[self.tensor_range(i)], &xs[i])?;
            xs.push(f.y);
            saved.push(f.saved);
        }
        Ok(ChainFwd { xs, saved })
    }

    /// The forward pass with the first layer's parameter R-pass fused into
    /// it where that layer offers it (`v`: the first layer's directions).
    /// Returns the pass and, when fused, the first layer's R-forward.
    pub fn forward_fused(
        &self,
        w: &[Tensor],
        x: &Tensor,
        v: &[Tensor],
        b: usize,
    ) -> Result<(ChainFwd, Option<crate::model::layer::RFwd>)> {
        let Some(l0) = self.layers.first() else {
            return Ok((self.forward(w, x)?, None));
        };
        let r0 = self.tensor_range(0);
        let Some((f0, rf0)) = l0.forward_fused(&w[r0.clone()], x, &v[r0], b)? else {
            return Ok((self.forward(w, x)?, None));
        };
        let mut xs = Vec::with_capacity(self.layers.len() + 1);
        let mut saved = Vec::with_capacity(self.layers.len());
        xs.push(x.clone());
        xs.push(f0.y);
        saved.push(f0.saved);
        for (i, l) in self.layers.iter().enumerate().skip(1) {
            let f = l.forward(&w[self.tensor_range(i)], &xs[i])?;
            xs.push(f.y);
            saved.push(f.saved);
        }
        Ok((ChainFwd { xs, saved }, Some(rf0)))
    }

    /// The backward pass from the output error `dy`; without `want_grads`
    /// the parameter gradients may be skipped (`grads` then may be empty).
    pub fn backward(
        &self,
        w: &[Tensor],
        f: &ChainFwd,
        dy: Tensor,
        need_dx: bool,
        want_grads: bool,
    ) -> Result<ChainBwd> {
        let nl = self.layers.len();
        let mut dys = vec![dy];
        let mut saved = Vec::with_capacity(nl);
        let mut grads: Vec<Vec<Tensor>> = Vec::with_capacity(nl);
        let mut dx = None;
        for i in (0..nl).rev() {
            let l = &self.layers[i];
            let want = i > 0 || need_dx;
            let cur = dys
                .last()
                .cloned()
                .ok_or_else(|| Error::invalid("grad", "internal: no error"))?;
            let (wi, xi, si) = (&w[self.tensor_range(i)], &f.xs[i], &f.saved[i]);
            let b = if want_grads {
                l.backward(wi, xi, si, &cur, want)?
            } else {
                l.backward_errors(wi, xi, si, &cur, want)?
            };
            grads.push(b.grads);
            saved.push(b.saved);
            match (i, b.dx) {
                (0, d) => dx = d,
                (_, Some(d)) => dys.push(d),
                (_, None) => {
                    return Err(Error::invalid(
                        "grad",
                        format!("internal: {} gave no input error", l.kind()),
                    ))
                }
            }
        }
        dys.reverse();
        saved.reverse();
        grads.reverse();
        Ok(ChainBwd {
            dys,
            saved,
            grads: grads.into_iter().flatten().collect(),
            dx,
        })
    }

    /// The forward R-pass from layer `start` on, with input R-tensor `rx`
    /// at that layer and parameter directions `v` (every tensor of the
    /// chain, `(b, *shape)`; None: zero). `first` is layer `start`'s
    /// R-forward when the forward pass already made it.
    #[allow(clippy::too_many_arguments)]
    pub fn r_forward(
        &self,
        w: &[Tensor],
        f: &ChainFwd,
        start: usize,
        rx: Option<Tensor>,
        v: Option<&[Tensor]>,
        b: usize,
        mut first: Option<crate::model::layer::RFwd>,
    ) -> Result<ChainRFwd> {
        let nl = self.layers.len();
        let mut rxs: Vec<Option<Tensor>> = vec![None; start];
        let mut saved: Vec<Saved> = (0..start).map(|_| nothing()).collect();
        rxs.push(rx);
        for i in start..nl {
            let r = self.tensor_range(i);
            let rf = match first.take() {
                Some(rf) if i == start => rf,
                _ => self.layers[i].r_forward(
                    &w[r.clone()],
                    &f.xs[i],
                    &f.saved[i],
                    rxs[i].as_ref(),
                    v.map(|v| &v[r]),
                    b,
                )?,
            };
            rxs.push(rf.ry);
            saved.push(rf.saved);
        }
        Ok(ChainRFwd { rxs, saved })
    }

    /// The backward R-pass down to layer `start` from the output's `rdy`:
    /// returns `R(dx)` at layer `start`'s input (when `need_dx`) and the R
    /// of every parameter tensor's gradient of layers ≥ `start`, in order
    /// (`(b, n)` each).
    #[allow(clippy::too_many_arguments)]
    pub fn r_backward(
        &self,
        w: &[Tensor],
        f: &ChainFwd,
        bw: &ChainBwd,
        rf: &ChainRFwd,
        start: usize,
        v: Option<&[Tensor]>,
        rdy: Tensor,
        b: usize,
        gauss_newton: bool,
        need_dx: bool,
        want_grads: bool,
    ) -> Result<(Option<Tensor>, Vec<Tensor>)> {
        let nl = self.layers.len();
        if start >= nl {
            return Ok((need_dx.then_some(rdy), Vec::new()));
        }
        let mut rdy = rdy;
        let mut rgrads: Vec<Vec<Tensor>> = Vec::with_capacity(nl);
        let mut rdx = None;
        for i in (start..nl).rev() {
            let r = self.tensor_range(i);
            let want = i > start || need_dx;
            let out = self.layers[i].r_backward(RBack {
                w: &w[r.clone()],
                x: &f.xs[i],
                fwd: &f.saved[i],
                bwd: &bw.saved[i],
                rfwd: &rf.saved[i],
                rx: rf.rxs[i].as_ref(),
                v: v.map(|v| &v[r]),
                dy: &bw.dys[i],
                rdy: &rdy,
                b,
                gauss_newton,
                need_dx: want,
                want_grads,
            })?;
            rgrads.push(out.rgrads);
            match (i == start, out.rdx) {
                (true, d) => rdx = d,
                (false, Some(d)) => rdy = d,
                (false, None) => {
                    return Err(Error::invalid(
                        "hvp",
                        format!("internal: {} gave no input R-error", self.layers[i].kind()),
                    ))
                }
            }
        }
        rgrads.reverse();
        Ok((rdx, rgrads.into_iter().flatten().collect()))
    }
}
