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

/// The passes over some rows of the batch (all of them, or one part).
pub(crate) struct Passes {
    pub(crate) fwd: ChainFwd,
    pub(crate) bwd: ChainBwd,
    /// Softmax of the outputs (cross-entropy), `(rows, k)`.
    pub(crate) prob: Option<Tensor>,
    /// The first layer's fused R-forward (from [`CurvState::new`] with
    /// directions), used once by the next [`CurvState::apply_dirs`].
    first: std::sync::Mutex<Option<RFwd>>,
    /// Their share of the mean loss.
    loss: f64,
}

/// The state shared by curvature products at fixed parameters.
///
/// The passes are kept over `parts_for(N)` consecutive row blocks of
/// the batch (the loss and every product are sums over samples): the
/// products run the blocks on the cores at once, each block's matrix
/// products on one core, and add the blocks' results in a fixed order —
/// so the numbers do not depend on the thread count. Routes that need
/// every sample in one pass (the Gram routes, per-example Jacobians) use
/// the passes over the whole batch, made on first use.
pub struct CurvState {
    chain: Chain,
    w: Vec<Tensor>,
    batch: Batch,
    loss_kind: LossKind,
    parts: Vec<Passes>,
    whole: std::sync::OnceLock<Passes>,
    n: usize,
    p: usize,
    /// The mean loss.
    loss: f64,
}

/// How many row blocks the passes over `n` samples are kept in: one below
/// 256 samples, else the largest power of two ≤ n / 256, at least 2 and at
/// most 8 — a function of `n` alone, so results are the same on every
/// machine.
pub(crate) fn parts_for(n: usize) -> usize {
    if n < 256 {
        return 1;
    }
    let k = (n / 256).clamp(2, 8);
    1 << (usize::BITS - 1 - k.leading_zeros())
}

/// Runs `f` on every part, on all cores when there are several, results in
/// part order.
fn per_part<T: Send>(parts: usize, f: impl Fn(usize) -> Result<T> + Sync + Send) -> Result<Vec<T>> {
    use rayon::prelude::*;
    if parts == 1 {
        return Ok(vec![f(0)?]);
    }
    (0..parts).into_par_iter().map(f).collect()
}

/// The forward and backward passes over inputs `x` with targets `t`, rows
/// of a batch of `n` samples (their share of the mean loss); with `dirs`
/// the first layer's fused R-forward; the parameter gradients when
/// `want_grads` (empty otherwise).
#[allow(clippy::too_many_arguments)]
fn passes_of(
    loss_kind: LossKind,
    chain: &Chain,
    w: &[Tensor],
    x: &Tensor,
    t: &Tensor,
    n: usize,
    dirs: Option<&[Tensor]>,
    want_grads: bool,
) -> Result<(Passes, Vec<Tensor>)> {
    let (fwd, first) = match dirs {
        Some(d) => {
            let b = d.first().map(|t| t.dim(0)).transpose()?.unwrap_or(1);
            chain.forward_fused(w, x, d, b)?
        }
        None => (chain.forward(w, x)?, None),
    };
    let (loss, delta) = loss_kind.head(fwd.output(), t, n, true)?;
    let delta = delta.ok_or_else(|| Error::invalid("hvp", "internal: no output error"))?;
    let mut bwd = chain.backward(w, &fwd, delta, false, want_grads)?;
    let grads = std::mem::take(&mut bwd.grads);
    let prob = match loss_kind {
        LossKind::CrossEntropy => Some(candle_nn::ops::softmax_last_dim(fwd.output())?),
        LossKind::Mse => None,
    };
    Ok((
        Passes {
            fwd,
            bwd,
            prob,
            first: std::sync::Mutex::new(first),
            loss,
        },
        grads,
    ))
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
        let (st, g) = CurvState::build(net, batch, None, true)?;
        let g = g.ok_or_else(|| Error::invalid("grad", "internal: no gradient"))?;
        let loss = st.loss;
        Ok((st, (loss, g)))
    }

    fn build(
        net: &Network,
        batch: &Batch,
        dirs: Option<&[Tensor]>,
        want_grads: bool,
    ) -> Result<(CurvState, Option<Vec<f64>>)> {
        let chain = net.chain().clone();
        let w = net.tensors(net.params())?;
        let n = batch.n;
        let p = net.num_params();
        let k = parts_for(n);
        let built = per_part(k, |i| {
            let (r0, r1) = (i * n / k, (i + 1) * n / k);
            let (x, t) = if k == 1 {
                (batch.x.clone(), batch.t.clone())
            } else {
                (
                    batch.x.narrow(0, r0, r1 - r0)?,
                    batch.t.narrow(0, r0, r1 - r0)?,
                )
            };
            passes_of(net.loss_kind(), &chain, &w, &x, &t, n, dirs, want_grads)
        })?;
        let mut parts = Vec::with_capacity(k);
        let mut grad: Option<Vec<f64>> = None;
        for (pass, grads) in built {
            if want_grads {
                let g = rows_of("grad", grads, 1, p)?.into_vec();
                grad = Some(match grad {
                    None => g,
                    Some(mut acc) => {
                        for (a, b) in acc.iter_mut().zip(&g) {
                            *a += b;
                        }
                        acc
                    }
                });
            }
            parts.push(pass);
        }
        let loss = parts.iter().map(|q| q.loss).sum();
        Ok((
            CurvState {
                chain,
                w,
                batch: batch.clone(),
                loss_kind: net.loss_kind(),
                parts,
                whole: std::sync::OnceLock::new(),
                n,
                p,
                loss,
            },
            grad,
        ))
    }

    /// The passes over the whole batch in one block (the part itself when
    /// there is one), made on first use.
    pub(crate) fn whole(&self) -> Result<&Passes> {
        if self.parts.len() == 1 {
            return Ok(&self.parts[0]);
        }
        if let Some(w) = self.whole.get() {
            return Ok(w);
        }
        let (pass, _) = passes_of(
            self.loss_kind,
            &self.chain,
            &self.w,
            &self.batch.x,
            &self.batch.t,
            self.n,
            None,
            false,
        )?;
        Ok(self.whole.get_or_init(|| pass))
    }

    /// The mean loss at these parameters.
    pub(crate) fn loss(&self) -> f64 {
        self.loss
    }

    /// ∇L from the kept passes: each parameterised layer's gradient
    /// products with its kept input and output error (no input errors,
    /// no forward pass), summed over the parts in order.
    pub(crate) fn gradient(&self) -> Result<Vec<f64>> {
        let per = per_part(self.parts.len(), |i| self.part_gradient(&self.parts[i]))?;
        Ok(sum_in_order(per).into_vec())
    }

    fn part_gradient(&self, pass: &Passes) -> Result<Mat> {
        let mut grads = Vec::with_capacity(self.w.len());
        for (i, l) in self.chain.layers().iter().enumerate() {
            let r = self.chain.tensor_range(i);
            if r.is_empty() {
                continue;
            }
            let b = l.backward(
                &self.w[r],
                &pass.fwd.xs[i],
                &pass.fwd.saved[i],
                &pass.bwd.dys[i],
                false,
            )?;
            grads.extend(b.grads);
        }
        rows_of("grad", grads, 1, self.p)
    }

    /// Estimated bytes held: every layer's input and output error, and
    /// as much again for what the layers saved (over the parts, and the
    /// whole batch's passes when made).
    pub(crate) fn bytes(&self) -> f64 {
        let of = |q: &Passes| {
            let xs: usize = q.fwd.xs.iter().map(|t| t.elem_count()).sum();
            let dys: usize = q.bwd.dys.iter().map(|t| t.elem_count()).sum();
            8.0 * (2 * xs + dys) as f64
        };
        let whole = match self.whole.get() {
            Some(q) if self.parts.len() > 1 => of(q),
            _ => 0.0,
        };
        self.parts.iter().map(of).sum::<f64>() + whole + 8.0 * self.p as f64
    }

    /// R of the output error `∂L/∂f` given `R f` (b·N, k):
    /// `(1/N) Hℓ R f`, with the softmax cross-entropy Hessian
    /// `Hℓ r = p ⊙ r − p (pᵀ r)` or the identity for mse.
    fn r_output_error(&self, pass: &Passes, rf: &Tensor, b: usize) -> Result<Tensor> {
        let scale = 1.0 / self.n as f64;
        Ok(match &pass.prob {
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

    /// [`CurvState::apply`] on `b` directions already split per tensor:
    /// every part's product on the cores at once, summed in part order.
    pub(crate) fn apply_dirs(&self, b: usize, dirs: &[Tensor], gauss_newton: bool) -> Result<Mat> {
        let per = per_part(self.parts.len(), |i| {
            self.apply_part(&self.parts[i], b, dirs, gauss_newton)
        })?;
        Ok(sum_in_order(per))
    }

    fn apply_part(
        &self,
        pass: &Passes,
        b: usize,
        dirs: &[Tensor],
        gauss_newton: bool,
    ) -> Result<Mat> {
        let first = pass
            .first
            .lock()
            .map(|mut g| g.take())
            .unwrap_or_else(|e| e.into_inner().take());
        let rf = self
            .chain
            .r_forward(&self.w, &pass.fwd, 0, None, Some(dirs), b, first)?;
        let ry = match rf.rxs.last() {
            Some(Some(r)) => r.clone(),
            _ => Tensor::zeros(
                (b * pass.fwd.output().dim(0)?, pass.fwd.output().dim(1)?),
                DType::F64,
                &Device::Cpu,
            )?,
        };
        let rdy = self.r_output_error(pass, &ry, b)?;
        let (_, rgrads) = self.chain.r_backward(
            &self.w,
            &pass.fwd,
            &pass.bwd,
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
        let wh = self.whole()?;
        // Rz = e_j for every example: (h1·N, h1), direction-major.
        let eye = Tensor::eye(h1, DType::F64, &Device::Cpu)?.reshape((h1, 1, h1))?;
        let rz0 = eye
            .broadcast_as((h1, n, h1))?
            .contiguous()?
            .reshape((h1 * n, h1))?;
        let k = if l + 1 == nl {
            self.r_output_error(wh, &rz0, h1)?
        } else {
            let rf = self
                .chain
                .r_forward(&self.w, &wh.fwd, l + 1, Some(rz0), None, h1, None)?;
            let ry = match rf.rxs.last() {
                Some(Some(r)) => r.clone(),
                _ => return Err(Error::invalid(op, "internal: no R-output")),
            };
            let rdy = self.r_output_error(wh, &ry, h1)?;
            let (k, _) = self.chain.r_backward(
                &self.w,
                &wh.fwd,
                &wh.bwd,
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
        let x = wh.fwd.xs[l].reshape((n, d))?;
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

/// The sum of equally shaped matrices, added in order.
fn sum_in_order(mats: Vec<Mat>) -> Mat {
    let mut it = mats.into_iter();
    let mut acc = it.next().unwrap_or_else(|| Mat::zeros(0, 0));
    for m in it {
        for (a, b) in acc.data_mut().iter_mut().zip(m.data()) {
            *a += b;
        }
    }
    acc
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Targets};
    use crate::model::{Act, Init, MlpOpts};
    use crate::rng::Rng;

    #[test]
    fn part_counts_depend_on_n_alone() {
        let got: Vec<usize> = [1, 255, 256, 511, 767, 1000, 1023, 1024, 2047, 2048, 60_000]
            .iter()
            .map(|&n| parts_for(n))
            .collect();
        assert_eq!(got, vec![1, 1, 2, 2, 2, 2, 2, 4, 4, 8, 8]);
    }

    fn max_rel(a: &[f64], b: &[f64]) -> f64 {
        let scale = b.iter().fold(0.0f64, |s, x| s.max(x.abs()));
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
            / scale
    }

    /// The products summed over row blocks equal those of one pass over
    /// every sample (loss, gradient, H and G on several directions), for
    /// 2 and 4 blocks, cross-entropy and mse.
    #[test]
    fn parts_sum_to_the_whole_batch() {
        for (n, loss) in [(700, LossKind::CrossEntropy), (1100, LossKind::Mse)] {
            let mut r = Rng::new(n as u64);
            let x = Mat::from_fn(n, 6, |_, _| r.normal());
            let y = (0..n).map(|i| (i * 7) % 3).collect();
            let data = Dataset::new(x, Targets::Labels { y, classes: 3 }).unwrap();
            let o = MlpOpts {
                act: Act::Tanh,
                loss,
                bias: true,
                init: Init::Normal { std: 0.5 },
                seed: 2,
            };
            let net = Network::mlp(&[6, 9, 3], &o).unwrap();
            let batch = net.batch("t", &data).unwrap();
            let (st, (l, g)) = CurvState::with_gradient(&net, &batch).unwrap();
            assert_eq!(st.parts.len(), parts_for(n));
            assert!(st.parts.len() > 1);
            let wh = st.whole().unwrap();
            assert!((l - wh.loss).abs() <= 1e-14 * wh.loss.abs());
            let gw = st.part_gradient(wh).unwrap();
            assert!(max_rel(&g, gw.data()) < 1e-13);
            assert!(max_rel(&st.gradient().unwrap(), gw.data()) < 1e-13);
            let vs = Mat::from_fn(3, net.num_params(), |_, _| r.normal());
            let dirs = directions_of(&st.chain, &vs).unwrap();
            for gn in [false, true] {
                let split = st.apply_dirs(3, &dirs, gn).unwrap();
                let one = st.apply_part(wh, 3, &dirs, gn).unwrap();
                let d = max_rel(split.data(), one.data());
                assert!(d < 1e-13, "n {n} gn {gn}: {d:e}");
            }
        }
    }
}
