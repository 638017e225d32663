//! [`CurvState`]: the forward and backward passes at fixed parameters,
//! shared by every curvature product (HVP, Gauss–Newton product, dense
//! blocks), and the exact Gram route for a leading `Linear` layer;
//! [`gram`]: the Gauss–Newton matrix as the Gram matrix of per-example
//! Jacobian products.

mod gram;

use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::model::layer::RFwd;
use crate::model::sequential::{Chain, ChainBwd, ChainFwd};
use crate::model::{Batch, LossKind, Network};
use candle_core::{DType, Device, Tensor, D};

/// The state shared by curvature products at fixed parameters.
pub struct CurvState {
    chain: Chain,
    w: Vec<Tensor>,
    fwd: ChainFwd,
    bwd: ChainBwd,
    /// Softmax of the outputs (cross-entropy), `(N, k)`.
    prob: Option<Tensor>,
    n: usize,
    p: usize,
    /// The first layer's fused R-forward (from [`CurvState::new`] with directions).
    first: std::sync::Mutex<Option<RFwd>>,
    /// The mean loss.
    loss: f64,
}

impl CurvState {
    /// The passes at `net`'s parameters on `batch`; with `dirs`, the first
    /// layer's R-forward along them is fused into the forward pass (used
    /// once, by the next [`CurvState::apply_dirs`]).
    pub(crate) fn new(net: &Network, batch: &Batch, dirs: Option<&[Tensor]>) -> Result<CurvState> {
        Ok(CurvState::build(net, batch, dirs, false)?.0)
    }

    /// The state and `(loss, ∇L)` from one full backward pass.
    pub(crate) fn with_gradient(
        net: &Network,
        batch: &Batch,
    ) -> Result<(CurvState, (f64, Vec<f64>))> {
        let (st, grads) = CurvState::build(net, batch, None, true)?;
        let g = rows_of("grad", grads, 1, st.p)?.into_vec();
        let loss = st.loss;
        Ok((st, (loss, g)))
    }

    fn build(
        net: &Network,
        batch: &Batch,
        dirs: Option<&[Tensor]>,
        want_grads: bool,
    ) -> Result<(CurvState, Vec<Tensor>)> {
        let chain = net.chain().clone();
        let w = net.tensors(net.params())?;
        let (fwd, first) = match dirs {
            Some(d) => {
                let b = d.first().map(|t| t.dim(0)).transpose()?.unwrap_or(1);
                chain.forward_fused(&w, &batch.x, d, b)?
            }
            None => (chain.forward(&w, &batch.x)?, None),
        };
        let (loss, delta) = net.head(fwd.output(), batch, true)?;
        let delta = delta.ok_or_else(|| Error::invalid("hvp", "internal: no output error"))?;
        let mut bwd = chain.backward(&w, &fwd, delta, false, want_grads)?;
        let grads = std::mem::take(&mut bwd.grads);
        let prob = match net.loss_kind() {
            LossKind::CrossEntropy => Some(candle_nn::ops::softmax_last_dim(fwd.output())?),
            LossKind::Mse => None,
        };
        Ok((
            CurvState {
                chain,
                w,
                fwd,
                bwd,
                prob,
                n: batch.n,
                p: net.num_params(),
                first: std::sync::Mutex::new(first),
                loss,
            },
            grads,
        ))
    }

    /// The mean loss at these parameters.
    pub(crate) fn loss(&self) -> f64 {
        self.loss
    }

    /// ∇L from the kept passes: each parameterised layer's gradient
    /// products with its kept input and output error (no input errors,
    /// no forward pass).
    pub(crate) fn gradient(&self) -> Result<Vec<f64>> {
        let mut grads = Vec::with_capacity(self.w.len());
        for (i, l) in self.chain.layers().iter().enumerate() {
            let r = self.chain.tensor_range(i);
            if r.is_empty() {
                continue;
            }
            let b = l.backward(
                &self.w[r],
                &self.fwd.xs[i],
                &self.fwd.saved[i],
                &self.bwd.dys[i],
                false,
            )?;
            grads.extend(b.grads);
        }
        Ok(rows_of("grad", grads, 1, self.p)?.into_vec())
    }

    /// Estimated bytes held: every layer's input and output error, and
    /// as much again for what the layers saved.
    pub(crate) fn bytes(&self) -> f64 {
        let xs: usize = self.fwd.xs.iter().map(|t| t.elem_count()).sum();
        let dys: usize = self.bwd.dys.iter().map(|t| t.elem_count()).sum();
        8.0 * (2 * xs + dys + self.p) as f64
    }

    /// R of the output error `∂L/∂f` given `R f` (b·N, k):
    /// `(1/N) Hℓ R f`, with the softmax cross-entropy Hessian
    /// `Hℓ r = p ⊙ r − p (pᵀ r)` or the identity for mse.
    fn r_output_error(&self, rf: &Tensor, b: usize) -> Result<Tensor> {
        let scale = 1.0 / self.n as f64;
        Ok(match &self.prob {
            Some(prob) => {
                let (n, k) = prob.dims2()?;
                let rf3 = rf.reshape((b, n, k))?;
                let pr = rf3.broadcast_mul(prob)?;
                let s = pr.sum_keepdim(D::Minus1)?;
                pr.sub(&s.broadcast_mul(prob)?)?
                    .affine(scale, 0.0)?
                    .reshape((b * n, k))?
            }
            None => rf.affine(scale, 0.0)?,
        })
    }

    /// The R-operator on a block of directions (rows of `vs`).
    pub(crate) fn apply(&self, vs: &Mat, gauss_newton: bool) -> Result<Mat> {
        let op = if gauss_newton { "gauss_newton" } else { "hvp" };
        if vs.cols() != self.p {
            return Err(Error::shape(
                op,
                format!(
                    "directions of length {} (the model's parameter count)",
                    self.p
                ),
                format!("length {}", vs.cols()),
            ));
        }
        let dirs = directions_of(&self.chain, vs)?;
        self.apply_dirs(vs.rows(), &dirs, gauss_newton)
    }

    /// [`CurvState::apply`] on `b` directions already split per tensor.
    pub(crate) fn apply_dirs(&self, b: usize, dirs: &[Tensor], gauss_newton: bool) -> Result<Mat> {
        let first = self
            .first
            .lock()
            .map(|mut g| g.take())
            .unwrap_or_else(|e| e.into_inner().take());
        let rf = self
            .chain
            .r_forward(&self.w, &self.fwd, 0, None, Some(dirs), b, first)?;
        let ry = match rf.rxs.last() {
            Some(Some(r)) => r.clone(),
            _ => Tensor::zeros(
                (b * self.n, self.fwd.output().dim(1)?),
                DType::F64,
                &Device::Cpu,
            )?,
        };
        let rdy = self.r_output_error(&ry, b)?;
        let (_, rgrads) = self.chain.r_backward(
            &self.w,
            &self.fwd,
            &self.bwd,
            &rf,
            0,
            Some(dirs),
            rdy,
            b,
            gauss_newton,
            false,
            true,
        )?;
        rows_of("hvp", rgrads, b, self.p)
    }

    /// `(fan_in, fan_out, bias)` of top-level layer `l` when it is `Linear`.
    fn linear_at(&self, l: usize) -> Option<(usize, usize, bool)> {
        let layer = self.chain.layers().get(l)?;
        if layer.kind() != "Linear" {
            return None;
        }
        let shapes = &self.chain.param_shapes()[self.chain.tensor_range(l)];
        let w = &shapes.first()?.1;
        Some((w[1], w[0], shapes.len() == 2))
    }

    /// The top-level `Linear` layer with the most parameters (the one whose
    /// block the Gram route saves the most products on), if any.
    pub(crate) fn gram_layer(&self) -> Option<usize> {
        (0..self.chain.layers().len())
            .filter(|&l| self.linear_at(l).is_some())
            .max_by_key(|&l| (self.chain.layer_len(l), std::cmp::Reverse(l)))
    }

    /// Where top-level layer `l`'s parameters sit: `(offset, count)`.
    pub(crate) fn layer_span(&self, l: usize) -> (usize, usize) {
        let off = (0..l).map(|i| self.chain.layer_len(i)).sum();
        (off, self.chain.layer_len(l))
    }

    /// [`CurvState::gram_block`] for layer 0 when it is `Linear`; its size
    /// (0 otherwise).
    #[cfg(test)]
    pub(crate) fn first_layer_block(&self, gauss_newton: bool, out: &mut Mat) -> Result<usize> {
        if self.linear_at(0).is_none() {
            return Ok(0);
        }
        self.gram_block(0, gauss_newton, out)
    }

    /// The exact diagonal block of the Hessian (or Gauss–Newton matrix) for
    /// the parameters of top-level `Linear` layer `l`, without one product
    /// per parameter; written in place into `out` (the P × P matrix being
    /// built, so no second large matrix is allocated); returns its size.
    ///
    /// The layer's outputs z are linear in its parameters, so
    /// `H[(j,i),(j',i')] = Σₙ a_{n,i} a_{n,i'} Kₙ[j,j']` with `a` its input
    /// and `Kₙ = ∂²L/∂zₙ∂zₙ` (out × out per example; bias columns take
    /// a = 1). K comes from `out` R-passes that start at z (through every
    /// layer after it; for the last layer it is the loss's Hessian itself),
    /// and the block from out(out+1)/2 weighted Gram products AᵀDA.
    pub(crate) fn gram_block(&self, l: usize, gauss_newton: bool, out: &mut Mat) -> Result<usize> {
        let op = if gauss_newton {
            "gauss_newton"
        } else {
            "hessian"
        };
        let Some((d, h1, bias)) = self.linear_at(l) else {
            return Err(Error::invalid(
                op,
                "internal: the Gram route needs a Linear layer",
            ));
        };
        let n = self.n;
        let nl = self.chain.layers().len();
        // Rz = e_j for every example: (h1·N, h1), direction-major.
        let eye = Tensor::eye(h1, DType::F64, &Device::Cpu)?.reshape((h1, 1, h1))?;
        let rz0 = eye
            .broadcast_as((h1, n, h1))?
            .contiguous()?
            .reshape((h1 * n, h1))?;
        let k = if l + 1 == nl {
            self.r_output_error(&rz0, h1)?
        } else {
            let rf = self
                .chain
                .r_forward(&self.w, &self.fwd, l + 1, Some(rz0), None, h1, None)?;
            let ry = match rf.rxs.last() {
                Some(Some(r)) => r.clone(),
                _ => return Err(Error::invalid(op, "internal: no R-output")),
            };
            let rdy = self.r_output_error(&ry, h1)?;
            let (k, _) = self.chain.r_backward(
                &self.w,
                &self.fwd,
                &self.bwd,
                &rf,
                l + 1,
                None,
                rdy,
                h1,
                gauss_newton,
                true,
                false,
            )?;
            k.ok_or_else(|| Error::invalid(op, "internal: no R-error at the Gram layer"))?
        };
        // K[j] (N, h1): column j' holds ∂²L/∂z[j']∂z[j] for every example.
        let (o1, p1) = self.layer_span(l);
        let ld = out.cols();
        if out.rows() < o1 + p1 || ld < o1 + p1 {
            return Err(Error::shape(
                op,
                format!("a matrix of at least {0}×{0}", o1 + p1),
                format!("{}×{}", out.rows(), ld),
            ));
        }
        let x = self.fwd.xs[l].reshape((n, d))?;
        let xt = x.t()?;
        let b_off = bias.then_some(h1 * d);
        for j in 0..h1 {
            let kj = k.narrow(0, j * n, n)?; // (N, h1)
            if let Some(bo) = b_off {
                // Weight–bias and bias–bias entries.
                let xk = xt.matmul(&kj)?.to_vec2::<f64>()?; // (d, h1)
                let ks = kj.sum(0)?.to_vec1::<f64>()?;
                for (i, row) in xk.iter().enumerate() {
                    for (jp, &v) in row.iter().enumerate() {
                        out.set(o1 + j * d + i, o1 + bo + jp, v);
                        out.set(o1 + bo + jp, o1 + j * d + i, v);
                    }
                }
                for (jp, &v) in ks.iter().enumerate() {
                    out.set(o1 + bo + j, o1 + bo + jp, v);
                }
            }
            for jp in j..h1 {
                // Each Gram product is O(N d²): check for Ctrl-C between them.
                crate::progress::check_interrupt(op)?;
                let kc = kj.narrow(1, jp, 1)?; // (N, 1)
                let g = xt
                    .matmul(&x.broadcast_mul(&kc)?)?
                    .flatten_all()?
                    .to_vec1::<f64>()?;
                for i in 0..d {
                    let r1 = o1 + j * d + i;
                    let row = &g[i * d..(i + 1) * d];
                    let c0 = o1 + jp * d;
                    out.data_mut()[r1 * ld + c0..r1 * ld + c0 + d].copy_from_slice(row);
                    if jp != j {
                        for (ip, &v) in row.iter().enumerate() {
                            out.set(c0 + ip, r1, v);
                        }
                    }
                }
            }
        }
        Ok(p1)
    }
}

/// Per-tensor results `(b, …)` of a batched pass as one `b × p` matrix
/// (row j: direction j's values of every parameter tensor in flat order).
pub(crate) fn rows_of(op: &'static str, parts: Vec<Tensor>, b: usize, p: usize) -> Result<Mat> {
    let mut out = Mat::zeros(b, p);
    let mut off = 0;
    for t in parts {
        let cnt = t.elem_count() / b.max(1);
        let vals = t.flatten_all()?.to_vec1::<f64>()?;
        if off + cnt > p {
            break;
        }
        for j in 0..b {
            out.data_mut()[j * p + off..j * p + off + cnt]
                .copy_from_slice(&vals[j * cnt..(j + 1) * cnt]);
        }
        off += cnt;
    }
    if off != p {
        return Err(Error::invalid(
            op,
            format!("internal: the pass gave {off} of {p} parameters"),
        ));
    }
    Ok(out)
}

/// The rows of `vs` (b × P) as direction tensors `(b, *shape)` for `chain`.
pub(crate) fn directions_of(chain: &Chain, vs: &Mat) -> Result<Vec<Tensor>> {
    let b = vs.rows();
    let mut out = Vec::with_capacity(chain.param_shapes().len());
    let mut off = 0;
    for (_, shape) in chain.param_shapes() {
        let n: usize = shape.iter().product();
        let mut buf = Vec::with_capacity(b * n);
        for j in 0..b {
            buf.extend_from_slice(&vs.row(j)[off..off + n]);
        }
        let mut dims = vec![b];
        dims.extend_from_slice(shape);
        out.push(Tensor::from_vec(buf, dims, &Device::Cpu)?);
        off += n;
    }
    Ok(out)
}
