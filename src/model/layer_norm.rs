//! `LayerNorm(shape)`: layer normalisation over a sample's trailing
//! dimensions, as `torch.nn.LayerNorm(shape)` (eps 1e-5, elementwise
//! affine).
//!
//! For an input sample of shape `S` ending with `shape`, every group of
//! `D = prod(shape)` consecutive values (per sample and per leading
//! position) is normalised with its own mean μ and biased variance σ²:
//! `x̂ = (x − μ) s` with `s = (σ² + eps)^(−1/2)`, then `y = x̂ ⊙ γ + β`
//! with `γ` (`weight`) and `β` (`bias`) of shape `shape`, broadcast over
//! the leading positions.
//!
//! Derivatives, with means over each group and
//! `A(u) = u − mean(u) − x̂ · mean(u ⊙ x̂)`:
//! - the normalisation's Jacobian is `s A`, symmetric, so with
//!   `g = dy ⊙ γ`: `dx = s A(g)`, `dγ = Σ dy ⊙ x̂`, `dβ = Σ dy` (sums over
//!   samples and leading positions);
//! - R-forward: `R(x̂) = s A(Rx)`, `Ry = R(x̂) ⊙ γ + x̂ ⊙ Vγ + Vβ`;
//! - R-backward: `R(s) = −s² mean(x̂ ⊙ Rx)`, `Rg = R(dy) ⊙ γ + dy ⊙ Vγ`,
//!   `R(dx) = R(s) A(g) + s A(Rg) − s (R(x̂) m + x̂ mean(g ⊙ R(x̂)))` with
//!   `m = mean(g ⊙ x̂)`; `R(dγ) = Σ R(dy) ⊙ x̂ + dy ⊙ R(x̂)`,
//!   `R(dβ) = Σ R(dy)`. The Gauss–Newton product keeps only the terms in
//!   `R(dy)`: `R(dx) = s A(R(dy) ⊙ γ)`, `R(dγ) = Σ R(dy) ⊙ x̂`.

use crate::error::Result;
use crate::model::layer::{nothing, numel, saved, Bwd, Fwd, Layer, RBack, RBwd, RFwd, Saved};
use crate::model::Init;
use crate::rng::Rng;
use candle_core::{Tensor, D};

/// Layer normalisation over the trailing dimensions `shape`, with a
/// learnable elementwise scale (`weight`) and shift (`bias`).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// The normalised trailing dimensions (PyTorch's `normalized_shape`).
    pub shape: Vec<usize>,
    /// Added to the variance before the square root (PyTorch: 1e-5).
    pub eps: f64,
}

impl LayerNorm {
    /// `LayerNorm(shape)` with PyTorch's default eps, 1e-5.
    pub fn new(shape: Vec<usize>) -> LayerNorm {
        LayerNorm { shape, eps: 1e-5 }
    }

    /// D: the number of values normalised together.
    fn group(&self) -> usize {
        numel(&self.shape)
    }

    /// `γ` or `β` (or a direction of one) as `(lead…, D)` for broadcasting.
    fn row(&self, t: &Tensor, lead: &[usize]) -> Result<Tensor> {
        let mut dims = lead.to_vec();
        dims.push(self.group());
        Ok(t.reshape(dims)?)
    }

    /// `R(x̂)` (b, rows, D) and `R(s)` (b, rows, 1) from `Rx` (b·N, *S).
    fn r_norm(&self, f: &Norm, rx: &Tensor, b: usize) -> Result<RNorm> {
        let (rows, d) = f.xhat.dims2()?;
        let rx3 = rx.reshape((b, rows, d))?;
        let xhat = f.xhat.unsqueeze(0)?;
        let s = f.s.unsqueeze(0)?;
        let rxhat = center(&rx3, &xhat)?.broadcast_mul(&s)?;
        let rs = rx3
            .broadcast_mul(&xhat)?
            .mean_keepdim(D::Minus1)?
            .broadcast_mul(&s.sqr()?)?
            .neg()?;
        Ok(RNorm { rxhat, rs })
    }
}

/// What the forward pass keeps.
struct Norm {
    /// The normalised input `x̂`, (rows, D).
    xhat: Tensor,
    /// `s = (σ² + eps)^(−1/2)` per group, (rows, 1).
    s: Tensor,
}

/// What the forward R-pass keeps (when the input direction is nonzero).
struct RNorm {
    /// `R(x̂)`, (b, rows, D).
    rxhat: Tensor,
    /// `R(s)`, (b, rows, 1).
    rs: Tensor,
}

/// `A(u) = u − mean(u) − x̂ mean(u ⊙ x̂)` over the last dimension; `x̂`
/// broadcasts against `u`.
fn center(u: &Tensor, xhat: &Tensor) -> Result<Tensor> {
    let mu = u.mean_keepdim(D::Minus1)?;
    let proj = u.broadcast_mul(xhat)?.mean_keepdim(D::Minus1)?;
    Ok(u.broadcast_sub(&mu)?.sub(&xhat.broadcast_mul(&proj)?)?)
}

/// `t` with `rows` rows of the sample shape of `like` (`(rows, *S)`).
fn with_rows(t: &Tensor, like: &Tensor, rows: usize) -> Result<Tensor> {
    let mut shape = like.dims().to_vec();
    shape[0] = rows;
    Ok(t.reshape(shape)?)
}

impl Layer for LayerNorm {
    fn kind(&self) -> &'static str {
        "LayerNorm"
    }

    fn describe(&self) -> String {
        format!("LayerNorm({:?})", self.shape)
    }

    fn out_shape(&self, input: &[usize]) -> std::result::Result<Vec<usize>, (String, String)> {
        if self.shape.is_empty() || self.shape.contains(&0) {
            return Err((
                "a normalized shape of sizes ≥ 1".to_string(),
                format!("normalized shape {:?}", self.shape),
            ));
        }
        if !input.ends_with(&self.shape) {
            return Err((
                format!("an input whose trailing dimensions are {:?}", self.shape),
                format!("shape {input:?}"),
            ));
        }
        Ok(input.to_vec())
    }

    fn params(&self) -> Vec<(String, Vec<usize>)> {
        vec![
            ("weight".to_string(), self.shape.clone()),
            ("bias".to_string(), self.shape.clone()),
        ]
    }

    /// Ones for the weight and zeros for the bias, whatever the [`Init`]
    /// (PyTorch's default for `LayerNorm`).
    fn init(&self, _init: Init, _rng: &mut Rng, out: &mut [f64]) {
        let d = self.group().min(out.len());
        let (w, b) = out.split_at_mut(d);
        w.fill(1.0);
        b.fill(0.0);
    }

    fn forward(&self, w: &[Tensor], x: &Tensor) -> Result<Fwd> {
        let d = self.group();
        let rows = x.elem_count() / d;
        let x2 = x.reshape((rows, d))?;
        let c = x2.broadcast_sub(&x2.mean_keepdim(D::Minus1)?)?;
        let var = c.sqr()?.mean_keepdim(D::Minus1)?;
        let s = var.affine(1.0, self.eps)?.sqrt()?.recip()?;
        let xhat = c.broadcast_mul(&s)?;
        let y = xhat
            .broadcast_mul(&self.row(&w[0], &[1])?)?
            .broadcast_add(&self.row(&w[1], &[1])?)?
            .reshape(x.shape())?;
        Ok(Fwd {
            y,
            saved: Box::new(Norm { xhat, s }),
        })
    }

    fn backward(
        &self,
        w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        need_dx: bool,
    ) -> Result<Bwd> {
        let f = saved::<Norm>(fwd, "LayerNorm")?;
        let dy2 = dy.reshape(f.xhat.shape())?;
        let grads = vec![
            dy2.mul(&f.xhat)?.sum(0)?.reshape(self.shape.as_slice())?,
            dy2.sum(0)?.reshape(self.shape.as_slice())?,
        ];
        let dx = if need_dx {
            let g = dy2.broadcast_mul(&self.row(&w[0], &[1])?)?;
            Some(
                center(&g, &f.xhat)?
                    .broadcast_mul(&f.s)?
                    .reshape(x.shape())?,
            )
        } else {
            None
        };
        Ok(Bwd {
            dx,
            grads,
            saved: nothing(),
        })
    }

    fn r_forward(
        &self,
        w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        rx: Option<&Tensor>,
        v: Option<&[Tensor]>,
        b: usize,
    ) -> Result<RFwd> {
        let f = saved::<Norm>(fwd, "LayerNorm")?;
        let r = match rx {
            Some(rx) => Some(self.r_norm(f, rx, b)?),
            None => None,
        };
        let from_x = match &r {
            Some(r) => Some(r.rxhat.broadcast_mul(&self.row(&w[0], &[1, 1])?)?),
            None => None,
        };
        let from_v = match v {
            Some(v) => Some(
                f.xhat
                    .unsqueeze(0)?
                    .broadcast_mul(&self.row(&v[0], &[b, 1])?)?
                    .broadcast_add(&self.row(&v[1], &[b, 1])?)?,
            ),
            None => None,
        };
        let ry = match (from_x, from_v) {
            (Some(a), Some(c)) => Some(a.add(&c)?),
            (a, c) => a.or(c),
        };
        let ry = match ry {
            Some(t) => Some(with_rows(&t, x, b * x.dim(0)?)?),
            None => None,
        };
        let saved: Saved = match r {
            Some(r) => Box::new(r),
            None => nothing(),
        };
        Ok(RFwd { ry, saved })
    }

    fn r_backward(&self, a: RBack<'_>) -> Result<RBwd> {
        let f = saved::<Norm>(a.fwd, "LayerNorm")?;
        let b = a.b;
        let (rows, d) = f.xhat.dims2()?;
        let xhat = f.xhat.unsqueeze(0)?;
        let s = f.s.unsqueeze(0)?;
        let rdy3 = a.rdy.reshape((b, rows, d))?;
        let dy3 = a.dy.reshape((1, rows, d))?;
        // R(x̂) and R(s): from the forward R-pass, or from Rx when that
        // pass was not this layer's own.
        let recomputed;
        let r = match a.rfwd.downcast_ref::<RNorm>() {
            Some(r) => Some(r),
            None => match a.rx {
                Some(rx) => {
                    recomputed = self.r_norm(f, rx, b)?;
                    Some(&recomputed)
                }
                None => None,
            },
        };
        let second = !a.gauss_newton;
        let mut rgrads = Vec::new();
        if a.want_grads {
            let mut gw = rdy3.broadcast_mul(&xhat)?;
            if second {
                if let Some(r) = r {
                    gw = gw.add(&r.rxhat.broadcast_mul(&dy3)?)?;
                }
            }
            rgrads.push(gw.sum(1)?);
            rgrads.push(rdy3.sum(1)?);
        }
        let rdx = if a.need_dx {
            let gamma = self.row(&a.w[0], &[1, 1])?;
            let mut rg = rdy3.broadcast_mul(&gamma)?;
            if second {
                if let Some(v) = a.v {
                    rg = rg.add(&dy3.broadcast_mul(&self.row(&v[0], &[b, 1])?)?)?;
                }
            }
            let mut rdx = center(&rg, &xhat)?.broadcast_mul(&s)?;
            if second {
                if let Some(r) = r {
                    let g = dy3.broadcast_mul(&gamma)?;
                    let m = g.mul(&xhat)?.mean_keepdim(D::Minus1)?;
                    let gr = r.rxhat.broadcast_mul(&g)?.mean_keepdim(D::Minus1)?;
                    let inner = r
                        .rxhat
                        .broadcast_mul(&m)?
                        .add(&xhat.broadcast_mul(&gr)?)?
                        .broadcast_mul(&s)?;
                    rdx = rdx
                        .add(&center(&g, &xhat)?.broadcast_mul(&r.rs)?)?
                        .sub(&inner)?;
                }
            }
            Some(with_rows(&rdx, a.x, b * a.x.dim(0)?)?)
        } else {
            None
        };
        Ok(RBwd { rdx, rgrads })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Targets};
    use crate::mat::Mat;
    use crate::model::flatten::Flatten;
    use crate::model::linear::Linear;
    use crate::model::pointwise::Pointwise;
    use crate::model::tanh::Tanh;
    use crate::model::{LossKind, NetOpts, Network};
    use candle_core::Device;
    use std::sync::Arc;

    fn ln(shape: &[usize]) -> Arc<dyn Layer> {
        Arc::new(LayerNorm::new(shape.to_vec()))
    }

    fn lin(i: usize, o: usize) -> Arc<dyn Layer> {
        Arc::new(Linear {
            fan_in: i,
            fan_out: o,
            bias: true,
        })
    }

    fn tanh() -> Arc<dyn Layer> {
        Arc::new(Pointwise(Tanh))
    }

    fn data(n: usize, shape: &[usize], k: usize, seed: u64) -> Dataset {
        let mut r = Rng::new(seed);
        let x = Mat::from_fn(n, numel(shape), |_, _| r.normal());
        let y = (0..n).map(|i| i % k).collect();
        let d = Dataset::new(x, Targets::Labels { y, classes: k }).unwrap();
        if shape.len() > 1 {
            d.with_shape(shape).unwrap()
        } else {
            d
        }
    }

    /// A network with every LayerNorm's weight 1 + 0.5·N(0, 1) and bias
    /// 0.5·N(0, 1), so that γ ≠ 1 and β ≠ 0.
    fn net(layers: Vec<Arc<dyn Layer>>, input: &[usize], loss: LossKind) -> Network {
        let mut m = Network::new(
            layers,
            &NetOpts {
                loss,
                init: Init::Normal { std: 0.5 },
                seed: 7,
                input: Some(input.to_vec()),
            },
        )
        .unwrap();
        let mut p = m.params().to_vec();
        let mut r = Rng::new(11);
        let mut off = 0;
        for (i, l) in m.chain().layers().iter().enumerate() {
            let n = m.chain().layer_len(i);
            if l.kind() == "LayerNorm" {
                let d = n / 2;
                for (j, v) in p[off..off + n].iter_mut().enumerate() {
                    *v = if j < d { 1.0 } else { 0.0 } + 0.5 * r.normal();
                }
            }
            off += n;
        }
        m.set_params(&p).unwrap();
        m
    }

    /// (network, its data): LayerNorm after a Linear layer, first on 3-D
    /// samples over two trailing dimensions, and twice in a row with
    /// different normalised shapes.
    fn cases() -> Vec<(Network, Dataset)> {
        let mut out = Vec::new();
        for loss in [LossKind::CrossEntropy, LossKind::Mse] {
            out.push((
                net(vec![lin(5, 6), ln(&[6]), tanh(), lin(6, 3)], &[5], loss),
                data(7, &[5], 3, 1),
            ));
            out.push((
                net(
                    vec![ln(&[3, 4]), Arc::new(Flatten), lin(24, 3)],
                    &[2, 3, 4],
                    loss,
                ),
                data(5, &[2, 3, 4], 3, 2),
            ));
            out.push((
                net(
                    vec![ln(&[4]), tanh(), ln(&[3, 4]), Arc::new(Flatten), lin(24, 3)],
                    &[2, 3, 4],
                    loss,
                ),
                data(5, &[2, 3, 4], 3, 3),
            ));
        }
        out
    }

    #[test]
    fn describes_itself_and_initialises_like_pytorch() {
        let l = LayerNorm::new(vec![2, 4, 4]);
        assert_eq!(l.describe(), "LayerNorm([2, 4, 4])");
        assert_eq!(LayerNorm::new(vec![8]).describe(), "LayerNorm([8])");
        assert_eq!(l.eps, 1e-5);
        assert_eq!(
            l.params(),
            vec![
                ("weight".to_string(), vec![2, 4, 4]),
                ("bias".to_string(), vec![2, 4, 4])
            ]
        );
        let mut out = vec![7.0; 64];
        l.init(Init::Normal { std: 0.5 }, &mut Rng::new(1), &mut out);
        assert!(out[..32].iter().all(|&v| v == 1.0) && out[32..].iter().all(|&v| v == 0.0));
        assert_eq!(l.out_shape(&[3, 2, 4, 4]), Ok(vec![3, 2, 4, 4]));
    }

    #[test]
    fn forward_matches_a_naive_loop() {
        let l = LayerNorm::new(vec![3, 4]);
        let (n, lead, d) = (3, 2, 12);
        let mut r = Rng::new(4);
        let xs: Vec<f64> = (0..n * lead * d).map(|_| 2.0 * r.normal() + 1.0).collect();
        let gs: Vec<f64> = (0..d).map(|_| 1.0 + r.normal()).collect();
        let bs: Vec<f64> = (0..d).map(|_| r.normal()).collect();
        let x = Tensor::from_slice(&xs, (n, lead, 3, 4), &Device::Cpu).unwrap();
        let w = [
            Tensor::from_slice(&gs, (3, 4), &Device::Cpu).unwrap(),
            Tensor::from_slice(&bs, (3, 4), &Device::Cpu).unwrap(),
        ];
        let y = l.forward(&w, &x).unwrap().y;
        assert_eq!(y.dims(), &[n, lead, 3, 4]);
        let ys = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for grp in 0..n * lead {
            let v = &xs[grp * d..(grp + 1) * d];
            let mu = v.iter().sum::<f64>() / d as f64;
            let var = v.iter().map(|a| (a - mu).powi(2)).sum::<f64>() / d as f64;
            for i in 0..d {
                let want = (v[i] - mu) / (var + 1e-5).sqrt() * gs[i] + bs[i];
                let got = ys[grp * d + i];
                assert!((want - got).abs() < 1e-12, "{want} vs {got}");
            }
        }
    }

    #[test]
    fn gradient_matches_central_differences() {
        for (m, data) in cases() {
            let (_, g) = m.loss_grad(&data).unwrap();
            let h = 1e-6;
            for i in 0..m.num_params() {
                let mut p = m.params().to_vec();
                let mut mp = m.clone();
                p[i] += h;
                mp.set_params(&p).unwrap();
                let lp = mp.loss(&data).unwrap();
                p[i] -= 2.0 * h;
                mp.set_params(&p).unwrap();
                let lm = mp.loss(&data).unwrap();
                let fd = (lp - lm) / (2.0 * h);
                let err = (fd - g[i]).abs() / g[i].abs().max(1e-3);
                assert!(
                    err < 1e-6,
                    "{:?} param {i}: fd {fd} vs {}",
                    m.table(None)[0],
                    g[i]
                );
            }
        }
    }

    #[test]
    fn hvp_matches_differences_of_gradients() {
        for (m, data) in cases() {
            let p = m.num_params();
            let mut r = Rng::new(5);
            let vs = Mat::from_fn(3, p, |_, _| r.normal());
            let batch = m.batch("test", &data).unwrap();
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
                assert!(num / den < 1e-6, "{}: rel err {}", m.summary(), num / den);
            }
        }
    }

    #[test]
    fn hessian_is_symmetric_and_gauss_newton_is_symmetric_psd() {
        for (m, data) in cases() {
            let p = m.num_params();
            let batch = m.batch("test", &data).unwrap();
            let h = m.curvature_block(&batch, &Mat::identity(p), false).unwrap();
            assert!(
                h.asymmetry() < 1e-10 * h.max_abs().max(1.0),
                "{}",
                h.asymmetry()
            );
            let g = m.curvature_block(&batch, &Mat::identity(p), true).unwrap();
            assert!(
                g.asymmetry() < 1e-12 * g.max_abs().max(1.0),
                "{}",
                g.asymmetry()
            );
            let sym = Mat::from_fn(p, p, |i, j| 0.5 * (g.row(i)[j] + g.row(j)[i]));
            let ev = crate::linalg::sym_eigvals_faer(&sym).unwrap();
            let lo = ev.iter().cloned().fold(f64::INFINITY, f64::min);
            assert!(
                lo >= -1e-12 * g.max_abs().max(1.0),
                "smallest eigenvalue {lo}"
            );
            // The Hessian and Gauss–Newton matrix differ (LayerNorm and
            // tanh are curved), and the difference is the second-order terms.
            assert!(
                (0..p * p).any(|i| (h.data()[i] - g.data()[i]).abs() > 1e-6),
                "Hessian equals Gauss–Newton"
            );
        }
    }

    #[test]
    fn leading_linear_block_matches_the_products() {
        // The Gram route for a leading Linear layer runs the later layers'
        // R-passes without parameter directions or parameter R-gradients.
        for (m, data) in cases()
            .into_iter()
            .filter(|(m, _)| m.chain().layers()[0].kind() == "Linear")
        {
            let p = m.num_params();
            let batch = m.batch("test", &data).unwrap();
            let state = m.curvature_state(&batch).unwrap();
            for gn in [false, true] {
                let full = m.curvature_block(&batch, &Mat::identity(p), gn).unwrap();
                let mut out = Mat::zeros(p, p);
                let p1 = state.first_layer_block(gn, &mut out).unwrap();
                assert_eq!(p1, 36);
                for i in 0..p1 {
                    for j in 0..p1 {
                        let (a, b) = (out.row(i)[j], full.row(i)[j]);
                        assert!(
                            (a - b).abs() < 1e-12 * full.max_abs().max(1.0),
                            "({i},{j}): {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_bad_trailing_shape_is_an_error_naming_layer_norm() {
        for (layers, input) in [
            (
                vec![ln(&[4]), Arc::new(Flatten) as Arc<dyn Layer>, lin(15, 3)],
                vec![3, 5],
            ),
            (
                vec![ln(&[3, 4]), Arc::new(Flatten) as Arc<dyn Layer>, lin(12, 3)],
                vec![4, 3],
            ),
            (vec![lin(5, 6), ln(&[5])], vec![5]),
        ] {
            let e = Network::new(
                layers,
                &NetOpts {
                    input: Some(input),
                    ..NetOpts::default()
                },
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("LayerNorm(") && e.contains("trailing dimensions are"),
                "{e}"
            );
        }
        let e = LayerNorm::new(vec![2, 3]).out_shape(&[3]).unwrap_err();
        assert_eq!(e.0, "an input whose trailing dimensions are [2, 3]");
        assert_eq!(e.1, "shape [3]");
    }
}
