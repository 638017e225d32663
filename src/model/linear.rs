//! `Linear(in, out)`: `y = x Wᵀ + b`, as `torch.nn.Linear`. A sample of
//! shape `[c, h, w]` is flattened first (its product must be `in`).

use crate::error::Result;
use crate::model::kernels as gemm;
use crate::model::layer::{nothing, numel, Bwd, Fwd, Layer, RBack, RBwd, RFwd, Saved};
use crate::model::Init;
use crate::rng::Rng;
use candle_core::Tensor;

/// A fully connected layer.
#[derive(Clone, Debug)]
pub struct Linear {
    /// Input features.
    pub fan_in: usize,
    /// Output features.
    pub fan_out: usize,
    /// Whether it has a bias.
    pub bias: bool,
}

/// The sums over the middle axis of `t` (b, N, h) → (b, h), as one
/// product with a row of ones per direction: candle 0.11 sums over a
/// non-trailing axis element by element (a division per element), several
/// times slower than this memory-bound pass.
fn sum_rows(t: &Tensor) -> Result<Tensor> {
    let (b, n, h) = t.dims3()?;
    let ones = Tensor::ones((1, 1, n), t.dtype(), t.device())?.broadcast_as((b, 1, n))?;
    Ok(ones.matmul(t)?.reshape((b, h))?)
}

/// (N, b·h) → (b·N, h), direction-major, contiguous.
fn nbh_to_bn_h(t: &Tensor, b: usize) -> Result<Tensor> {
    let (n, bh) = t.dims2()?;
    let h = bh / b;
    Ok(t.reshape((n, b, h))?
        .transpose(0, 1)?
        .contiguous()?
        .reshape((b * n, h))?)
}

impl Linear {
    /// `x` as (rows, in).
    fn flat(&self, x: &Tensor) -> Result<Tensor> {
        let rows = x.dim(0)?;
        Ok(if x.rank() == 2 {
            x.clone()
        } else {
            x.reshape((rows, self.fan_in))?
        })
    }

    /// Whether products over the input `x` with b directions run as one
    /// wide product (reading `x` once, then reordering the b·N·out result)
    /// rather than one per direction (reading `x` b times, no reordering):
    /// wide when the input is much wider than the output.
    fn wide(&self, b: usize) -> bool {
        b > 1 && self.fan_in > 2 * self.fan_out
    }

    /// `x Vⱼᵀ (+ vbⱼ)` for the b directions `v` as (b·N, out): one product
    /// per direction written direction-major in place (no transposing
    /// copies), or one wide product when [`Linear::wide`].
    fn param_r(&self, x2: &Tensor, v: &[Tensor], b: usize) -> Result<Tensor> {
        let (n, fi, fo) = (x2.dim(0)?, self.fan_in, self.fan_out);
        if self.wide(b) {
            let vw = v[0].reshape((b * fo, fi))?;
            return self.finish_param_r(x2.matmul(&vw.t()?)?, v, b);
        }
        let vw = v[0].reshape((b, fo, fi))?;
        let z = x2
            .unsqueeze(0)?
            .broadcast_as((b, n, fi))?
            .matmul(&vw.transpose(1, 2)?)?; // (b, N, out)
        let z = if self.bias {
            z.broadcast_add(&v[1].reshape((b, 1, fo))?)?
        } else {
            z
        };
        Ok(z.reshape((b * n, fo))?)
    }

    /// (N, b·out) `x Vᵀ` → (b·N, out), plus the bias directions.
    fn finish_param_r(&self, prod: Tensor, v: &[Tensor], b: usize) -> Result<Tensor> {
        let n = prod.dim(0)?;
        let mut z = nbh_to_bn_h(&prod, b)?;
        if self.bias {
            let vb = v[1].reshape((b, 1, self.fan_out))?;
            z = z
                .reshape((b, n, self.fan_out))?
                .broadcast_add(&vb)?
                .reshape((b * n, self.fan_out))?;
        }
        Ok(z)
    }

    fn affine(&self, w: &[Tensor], z: Tensor) -> Result<Tensor> {
        Ok(if self.bias {
            z.broadcast_add(&w[1].reshape((1, self.fan_out))?)?
        } else {
            z
        })
    }
}

impl Layer for Linear {
    fn kind(&self) -> &'static str {
        "Linear"
    }

    fn describe(&self) -> String {
        if self.bias {
            format!("Linear({}, {})", self.fan_in, self.fan_out)
        } else {
            format!("Linear({}, {}, bias=False)", self.fan_in, self.fan_out)
        }
    }

    fn out_shape(&self, input: &[usize]) -> std::result::Result<Vec<usize>, (String, String)> {
        if numel(input) != self.fan_in || input.is_empty() {
            return Err((
                format!("an input of {} features", self.fan_in),
                format!("shape {input:?} ({} features)", numel(input)),
            ));
        }
        Ok(vec![self.fan_out])
    }

    fn params(&self) -> Vec<(String, Vec<usize>)> {
        let mut p = vec![("weight".to_string(), vec![self.fan_out, self.fan_in])];
        if self.bias {
            p.push(("bias".to_string(), vec![self.fan_out]));
        }
        p
    }

    fn init(&self, init: Init, rng: &mut Rng, out: &mut [f64]) {
        let bound = 1.0 / (self.fan_in as f64).sqrt();
        for v in out {
            *v = match init {
                Init::Uniform => rng.uniform_in(-bound, bound),
                Init::Normal { std } => std * rng.normal(),
            };
        }
    }

    fn forward(&self, w: &[Tensor], x: &Tensor) -> Result<Fwd> {
        let z = self.flat(x)?.matmul(&w[0].t()?)?;
        Ok(Fwd {
            y: self.affine(w, z)?,
            saved: nothing(),
        })
    }

    fn forward_fused(
        &self,
        w: &[Tensor],
        x: &Tensor,
        v: &[Tensor],
        b: usize,
    ) -> Result<Option<(Fwd, RFwd)>> {
        let x2 = self.flat(x)?;
        let vw = v[0].reshape((b * self.fan_out, self.fan_in))?;
        let zz = x2.matmul(&Tensor::cat(&[&w[0], &vw], 0)?.t()?)?;
        let z = zz.narrow(1, 0, self.fan_out)?.contiguous()?;
        let side = zz.narrow(1, self.fan_out, b * self.fan_out)?.contiguous()?;
        Ok(Some((
            Fwd {
                y: self.affine(w, z)?,
                saved: nothing(),
            },
            RFwd {
                ry: Some(self.finish_param_r(side, v, b)?),
                saved: nothing(),
            },
        )))
    }

    fn backward(
        &self,
        w: &[Tensor],
        x: &Tensor,
        _fwd: &Saved,
        dy: &Tensor,
        need_dx: bool,
    ) -> Result<Bwd> {
        let x2 = self.flat(x)?;
        let mut grads = vec![dy.t()?.matmul(&x2)?];
        if self.bias {
            grads.push(sum_rows(&dy.unsqueeze(0)?)?.squeeze(0)?);
        }
        let dx = if need_dx {
            Some(dy.matmul(&w[0])?.reshape(x.shape())?)
        } else {
            None
        };
        Ok(Bwd {
            dx,
            grads,
            saved: nothing(),
        })
    }

    fn backward_errors(
        &self,
        w: &[Tensor],
        x: &Tensor,
        _fwd: &Saved,
        dy: &Tensor,
        need_dx: bool,
    ) -> Result<Bwd> {
        let dx = if need_dx {
            Some(dy.matmul(&w[0])?.reshape(x.shape())?)
        } else {
            None
        };
        Ok(Bwd {
            dx,
            grads: Vec::new(),
            saved: nothing(),
        })
    }

    fn r_forward(
        &self,
        w: &[Tensor],
        x: &Tensor,
        _fwd: &Saved,
        rx: Option<&Tensor>,
        v: Option<&[Tensor]>,
        b: usize,
    ) -> Result<RFwd> {
        let ry = if gemm::on_cpu(x) {
            self.r_forward_cpu(w, x, rx, v, b)?
        } else {
            self.r_forward_tensors(w, x, rx, v, b)?
        };
        Ok(RFwd {
            ry,
            saved: nothing(),
        })
    }

    fn r_backward(&self, a: RBack<'_>) -> Result<RBwd> {
        if gemm::on_cpu(a.x) {
            self.r_backward_cpu(&a)
        } else {
            self.r_backward_tensors(&a)
        }
    }
}

impl Linear {
    /// [`Layer::r_forward`] on candle tensors (any device).
    fn r_forward_tensors(
        &self,
        w: &[Tensor],
        x: &Tensor,
        rx: Option<&Tensor>,
        v: Option<&[Tensor]>,
        b: usize,
    ) -> Result<Option<Tensor>> {
        let from_x = match rx {
            Some(rx) => {
                let rows = rx.dim(0)?;
                Some(rx.reshape((rows, self.fan_in))?.matmul(&w[0].t()?)?)
            }
            None => None,
        };
        let from_v = match v {
            Some(v) => Some(self.param_r(&self.flat(x)?, v, b)?),
            None => None,
        };
        Ok(match (from_x, from_v) {
            (Some(a), Some(c)) => Some(a.add(&c)?),
            (a, c) => a.or(c),
        })
    }

    /// [`Layer::r_backward`] on candle tensors (any device).
    fn r_backward_tensors(&self, a: &RBack<'_>) -> Result<RBwd> {
        let b = a.b;
        let x2 = self.flat(a.x)?;
        let n = x2.dim(0)?;
        let (fi, fo) = (self.fan_in, self.fan_out);
        let mut rgrads = Vec::new();
        if a.want_grads {
            // R(gW) = Rδᵀ x + δᵀ R(x), as (b, out·in).
            // Per direction j: Rδⱼᵀ x (+ δᵀ Rxⱼ), (b, out, in), as products
            // of strided views: no transposing copies of the (b·N)-row
            // tensors. (xᵀ Rδⱼ)ᵀ rather than Rδⱼᵀ x: candle 0.11 folds a
            // batched product with a shared right factor into one product
            // assuming a row-major left factor, which a transposed view
            // is not.
            let rd3 = a.rdy.reshape((b, n, fo))?;
            let mut gw = if self.wide(b) {
                // One product over x: [Rδ₁ᵀ; …; Rδ_bᵀ] x.
                rd3.transpose(1, 2)?
                    .contiguous()?
                    .reshape((b * fo, n))?
                    .matmul(&x2)?
                    .reshape((b, fo, fi))?
            } else {
                x2.t()?
                    .unsqueeze(0)?
                    .broadcast_as((b, fi, n))?
                    .matmul(&rd3)?
                    .transpose(1, 2)?
            };
            if !a.gauss_newton {
                if let Some(rx) = a.rx {
                    let rx3 = rx.reshape((b, n, fi))?;
                    let t =
                        a.dy.t()?
                            .unsqueeze(0)?
                            .broadcast_as((b, fo, n))?
                            .matmul(&rx3)?;
                    gw = gw.add(&t)?;
                }
            }
            rgrads.push(gw.contiguous()?.reshape((b, fo * fi))?);
            if self.bias {
                rgrads.push(sum_rows(&a.rdy.reshape((b, n, fo))?)?);
            }
        }
        let rdx = if a.need_dx {
            // R(dx) = Rδ W + δ V.
            let mut back = a.rdy.matmul(&a.w[0])?;
            if !a.gauss_newton {
                if let Some(v) = a.v {
                    // δ Vⱼ per direction, direction-major: (b, N, in).
                    let dv =
                        a.dy.unsqueeze(0)?
                            .broadcast_as((b, n, fo))?
                            .matmul(&v[0].reshape((b, fo, fi))?)?;
                    back = back.add(&dv.reshape((b * n, fi))?)?;
                }
            }
            let mut shape = a.x.dims().to_vec();
            shape[0] = b * n;
            Some(back.reshape(shape)?)
        } else {
            None
        };
        Ok(RBwd { rdx, rgrads })
    }
}

impl Linear {
    /// `R y = Rx Wᵀ + x Vⱼᵀ + vbⱼ` per direction j, as (b·N, out), with the
    /// CPU kernels: one product over every direction's Rx, then each
    /// direction's parameter product added in place.
    fn r_forward_cpu(
        &self,
        w: &[Tensor],
        x: &Tensor,
        rx: Option<&Tensor>,
        v: Option<&[Tensor]>,
        b: usize,
    ) -> Result<Option<Tensor>> {
        if rx.is_none() && v.is_none() {
            return Ok(None);
        }
        let n = x.dim(0)?;
        let (fi, fo) = (self.fan_in, self.fan_out);
        let mut ts: Vec<&Tensor> = vec![x, &w[0]];
        ts.extend(rx);
        if let Some(v) = v {
            ts.extend(v.iter());
        }
        let out = gemm::with_views(&ts, |vs| {
            let xv = gemm::reshape(vs[0], n, fi)?;
            let wv = vs[1];
            let mut k = 2;
            let mut out = gemm::Out::new(b * n, fo);
            let from_x = rx.is_some();
            if from_x {
                out.gemm(0, gemm::reshape(vs[k], b * n, fi)?, wv.t(), false)?;
                k += 1;
            }
            if v.is_some() {
                let vw = gemm::reshape(vs[k], b * fo, fi)?;
                for j in 0..b {
                    out.gemm(j * n, xv, vw.block(j, fo)?.t(), from_x)?;
                }
                if self.bias {
                    let vb = gemm::reshape(vs[k + 1], b, fo)?;
                    for j in 0..b {
                        out.add_rows(j * n, n, vb.rows(j, 1)?.values()?);
                    }
                }
            }
            Ok(out)
        })?;
        Ok(Some(out.tensor(&[b * n, fo])?))
    }

    /// [`Layer::r_backward`] with the CPU kernels: per direction j,
    /// `R(gW)ⱼ = Rδⱼᵀ x + δᵀ Rxⱼ` and `R(gb)ⱼ = Σ Rδⱼ` written into one
    /// (b, out·in) result; `R(dx) = Rδ W` over every direction at once,
    /// then `δ Vⱼ` added in place per direction.
    fn r_backward_cpu(&self, a: &RBack<'_>) -> Result<RBwd> {
        let b = a.b;
        let n = a.x.dim(0)?;
        let (fi, fo) = (self.fan_in, self.fan_out);
        let second = !a.gauss_newton;
        let rx = a.rx.filter(|_| second && a.want_grads);
        let v = a.v.filter(|_| second && a.need_dx);
        let mut ts: Vec<&Tensor> = vec![a.x, &a.w[0], a.dy, a.rdy];
        ts.extend(rx);
        if let Some(v) = v {
            ts.push(&v[0]);
        }
        let (gw, gb, rdx) = gemm::with_views(&ts, |vs| {
            let xv = gemm::reshape(vs[0], n, fi)?;
            let wv = vs[1];
            let dy = gemm::reshape(vs[2], n, fo)?;
            let rdy = gemm::reshape(vs[3], b * n, fo)?;
            let mut k = 4;
            let rxv = match rx {
                Some(_) => {
                    k += 1;
                    Some(gemm::reshape(vs[k - 1], b * n, fi)?)
                }
                None => None,
            };
            let vv = match v {
                Some(_) => Some(gemm::reshape(vs[k], b * fo, fi)?),
                None => None,
            };
            let grads = || -> Result<(Option<Tensor>, Option<Tensor>)> {
                if !a.want_grads {
                    return Ok((None, None));
                }
                let mut g = gemm::Out::new(b * fo, fi);
                for j in 0..b {
                    let rdj = rdy.block(j, n)?;
                    g.gemm(j * fo, rdj.t(), xv, false)?;
                    if let Some(rxv) = rxv {
                        g.gemm(j * fo, dy.t(), rxv.block(j, n)?, true)?;
                    }
                }
                let gw = g.tensor(&[b, fo * fi])?;
                let gb = if self.bias {
                    let mut s = vec![0.0; b * fo];
                    for (j, sj) in s.chunks_exact_mut(fo).enumerate() {
                        rdy.block(j, n)?.add_col_sums(sj);
                    }
                    Some(Tensor::from_vec(s, (b, fo), &candle_core::Device::Cpu)?)
                } else {
                    None
                };
                Ok((Some(gw), gb))
            };
            let back = || -> Result<Option<Tensor>> {
                if !a.need_dx {
                    return Ok(None);
                }
                let mut o = gemm::Out::new(b * n, fi);
                o.gemm(0, rdy, wv, false)?;
                if let Some(vv) = vv {
                    for j in 0..b {
                        o.gemm(j * n, dy, vv.block(j, fo)?, true)?;
                    }
                }
                let mut shape = a.x.dims().to_vec();
                shape[0] = b * n;
                Ok(Some(o.tensor(&shape)?))
            };
            let (gw, gb) = grads()?;
            let rdx = back()?;
            Ok((gw, gb, rdx))
        })?;
        let rgrads = gw.into_iter().chain(gb).collect();
        Ok(RBwd { rdx, rgrads })
    }
}
