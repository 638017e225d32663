//! `AvgPool2d(kernel, stride)`: the mean of each window of each channel, as
//! `torch.nn.AvgPool2d` (no padding, floor mode). The layer is linear in
//! its input: the backward pass spreads each error evenly over its window
//! (adding where windows overlap), the R-passes apply the same two maps to
//! `Rx` and `R(dy)`, and there is no second-order term.

use crate::error::Result;
use crate::model::im2col::{batch_geom, check_len, pair_str, pool_geom, tensor, with_data, Geom};
use crate::model::layer::{nothing, saved, Bwd, Fwd, Layer, RBack, RBwd, RFwd, Saved};
use candle_core::Tensor;
use rayon::prelude::*;

/// A 2-D average-pooling layer.
#[derive(Clone, Debug)]
pub struct AvgPool2d {
    /// Window size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
}

const KIND: &str = "AvgPool2d";

/// Parallel tasks of at least this many values' work.
fn min_len(per: usize) -> usize {
    ((1 << 13) / per.max(1)).max(1)
}

/// Window means of `rows` planes `(h, w)` of `src`: `(rows, ho, wo)`.
fn pool(src: &[f64], geo: &Geom, rows: usize) -> Vec<f64> {
    let (w, hw, p) = (geo.w, geo.h * geo.w, geo.p());
    let div = (geo.kh * geo.kw) as f64;
    let mut out = vec![0.0; rows * p];
    out.par_chunks_mut(p)
        .with_min_len(min_len(p * geo.kh * geo.kw))
        .enumerate()
        .for_each(|(t, o)| {
            let s = &src[t * hw..][..hw];
            for oh in 0..geo.ho {
                for ow in 0..geo.wo {
                    let (y0, x0) = (oh * geo.sh, ow * geo.sw);
                    let mut sum = 0.0;
                    for yy in y0..y0 + geo.kh {
                        for &v in &s[yy * w + x0..yy * w + x0 + geo.kw] {
                            sum += v;
                        }
                    }
                    o[oh * geo.wo + ow] = sum / div;
                }
            }
        });
    out
}

/// The adjoint of [`pool`]: each value spread evenly over its window.
fn spread(src: &[f64], geo: &Geom, rows: usize) -> Vec<f64> {
    let (w, hw, p) = (geo.w, geo.h * geo.w, geo.p());
    let div = (geo.kh * geo.kw) as f64;
    let mut out = vec![0.0; rows * hw];
    out.par_chunks_mut(hw)
        .with_min_len(min_len(p * geo.kh * geo.kw))
        .enumerate()
        .for_each(|(t, o)| {
            let s = &src[t * p..][..p];
            for oh in 0..geo.ho {
                for ow in 0..geo.wo {
                    let (y0, x0) = (oh * geo.sh, ow * geo.sw);
                    let v = s[oh * geo.wo + ow] / div;
                    for yy in y0..y0 + geo.kh {
                        for d in &mut o[yy * w + x0..yy * w + x0 + geo.kw] {
                            *d += v;
                        }
                    }
                }
            }
        });
    out
}

impl AvgPool2d {
    /// `t` `(rows, c, *in_hw)` through `f` per plane, into shape
    /// `(rows, c, *out_hw)`.
    fn map(
        &self,
        t: &Tensor,
        geo: &Geom,
        [in_hw, out_hw]: [[usize; 2]; 2],
        f: fn(&[f64], &Geom, usize) -> Vec<f64>,
    ) -> Result<Tensor> {
        let dims = t.dims();
        let (r, c) = match dims {
            &[r, c, ..] => (r, c),
            _ => (0, 0),
        };
        let want = if dims.len() == 4 {
            r * c * in_hw[0] * in_hw[1]
        } else {
            usize::MAX
        };
        check_len(t, want, KIND, "a tensor")?;
        let v = with_data(t, |d| f(d, geo, r * c))?;
        tensor(v, &[r, c, out_hw[0], out_hw[1]])
    }
}

impl Layer for AvgPool2d {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn describe(&self) -> String {
        format!(
            "AvgPool2d(kernel_size={}, stride={})",
            pair_str(self.kernel),
            pair_str(self.stride)
        )
    }

    fn out_shape(&self, input: &[usize]) -> std::result::Result<Vec<usize>, (String, String)> {
        let g = pool_geom(self.kernel, self.stride, input)?;
        Ok(vec![input[0], g.ho, g.wo])
    }

    fn second_order_zero(&self) -> bool {
        true
    }

    fn forward(&self, _w: &[Tensor], x: &Tensor) -> Result<Fwd> {
        let geo = batch_geom(&self.describe(), x, |s| {
            pool_geom(self.kernel, self.stride, s)
        })?;
        Ok(Fwd {
            y: self.map(x, &geo, [[geo.h, geo.w], [geo.ho, geo.wo]], pool)?,
            saved: Box::new(geo),
        })
    }

    fn backward(
        &self,
        _w: &[Tensor],
        _x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        _need_dx: bool,
    ) -> Result<Bwd> {
        let geo = saved::<Geom>(fwd, KIND)?;
        Ok(Bwd {
            dx: Some(self.map(dy, geo, [[geo.ho, geo.wo], [geo.h, geo.w]], spread)?),
            grads: Vec::new(),
            saved: nothing(),
        })
    }

    fn r_forward(
        &self,
        _w: &[Tensor],
        _x: &Tensor,
        fwd: &Saved,
        rx: Option<&Tensor>,
        _v: Option<&[Tensor]>,
        _b: usize,
    ) -> Result<RFwd> {
        let geo = saved::<Geom>(fwd, KIND)?;
        Ok(RFwd {
            ry: match rx {
                Some(rx) => Some(self.map(rx, geo, [[geo.h, geo.w], [geo.ho, geo.wo]], pool)?),
                None => None,
            },
            saved: nothing(),
        })
    }

    fn r_backward(&self, a: RBack<'_>) -> Result<RBwd> {
        let geo = saved::<Geom>(a.fwd, KIND)?;
        Ok(RBwd {
            rdx: Some(self.map(a.rdy, geo, [[geo.ho, geo.wo], [geo.h, geo.w]], spread)?),
            rgrads: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::im2col::testing::{check_all, conv, data, flat, lin, net, tanh};
    use crate::model::{LossKind, NetOpts, Network};
    use crate::rng::Rng;
    use candle_core::Device;
    use std::sync::Arc;

    fn pool(kernel: [usize; 2], stride: [usize; 2]) -> Arc<dyn Layer> {
        Arc::new(AvgPool2d { kernel, stride })
    }

    fn vals(t: &Tensor) -> Vec<f64> {
        t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
    }

    #[test]
    fn forward_matches_a_naive_loop_and_backward_is_its_adjoint() {
        let mut r = Rng::new(3);
        for (k, s, shape) in [
            ([2, 2], [2, 2], [2, 3, 5, 5]),
            ([3, 3], [1, 2], [1, 2, 7, 6]),
            ([2, 3], [2, 1], [2, 1, 6, 6]),
        ] {
            let l = AvgPool2d {
                kernel: k,
                stride: s,
            };
            let xs: Vec<f64> = (0..shape.iter().product::<usize>())
                .map(|_| r.normal())
                .collect();
            let x = Tensor::from_slice(&xs, &shape, &Device::Cpu).unwrap();
            let f = l.forward(&[], &x).unwrap();
            let (h, w) = (shape[2], shape[3]);
            let (ho, wo) = ((h - k[0]) / s[0] + 1, (w - k[1]) / s[1] + 1);
            assert_eq!(f.y.dims(), &[shape[0], shape[1], ho, wo]);
            let mut want = Vec::new();
            for pl in 0..shape[0] * shape[1] {
                for oh in 0..ho {
                    for ow in 0..wo {
                        let mut m = 0.0;
                        for i in 0..k[0] {
                            for j in 0..k[1] {
                                m += xs[pl * h * w + (oh * s[0] + i) * w + ow * s[1] + j];
                            }
                        }
                        want.push(m / (k[0] * k[1]) as f64);
                    }
                }
            }
            for (a, b) in vals(&f.y).iter().zip(&want) {
                assert!((a - b).abs() < 1e-14);
            }
            // <pool(x), dy> = <x, backward(dy)>.
            let dys: Vec<f64> = (0..want.len()).map(|_| r.normal()).collect();
            let dy = Tensor::from_slice(&dys, f.y.dims(), &Device::Cpu).unwrap();
            let dx = l
                .backward(&[], &x, &f.saved, &dy, true)
                .unwrap()
                .dx
                .unwrap();
            let lhs: f64 = want.iter().zip(&dys).map(|(a, b)| a * b).sum();
            let rhs: f64 = xs.iter().zip(vals(&dx)).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-12);
        }
    }

    #[test]
    fn gradient_and_curvature_match_differences() {
        let m = net(
            vec![
                conv(1, 2, [3, 3], [0, 0]),
                pool([2, 2], [2, 2]),
                flat(),
                lin(8, 3),
            ],
            &[1, 7, 7],
            LossKind::CrossEntropy,
            1,
        );
        check_all(&m, &data(6, &[1, 7, 7], 3, 2));
        // Overlapping, non-square windows between nonlinearities.
        let m = net(
            vec![
                conv(2, 3, [2, 2], [1, 0]),
                tanh(),
                pool([3, 2], [1, 2]),
                tanh(),
                flat(),
                lin(24, 3),
            ],
            &[2, 5, 5],
            LossKind::Mse,
            3,
        );
        check_all(&m, &data(4, &[2, 5, 5], 3, 4));
    }

    #[test]
    fn describes_itself_and_checks_shapes() {
        let l = AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        };
        assert_eq!(l.describe(), "AvgPool2d(kernel_size=2, stride=2)");
        assert_eq!(
            AvgPool2d {
                kernel: [3, 2],
                stride: [1, 2]
            }
            .describe(),
            "AvgPool2d(kernel_size=(3, 2), stride=(1, 2))"
        );
        assert!(l.second_order_zero() && l.params().is_empty());
        assert_eq!(l.out_shape(&[3, 7, 6]), Ok(vec![3, 3, 3]));
        let e = l.out_shape(&[1, 1, 5]).unwrap_err();
        assert!(
            e.0.contains("at least 2×2") && e.1 == "shape [1, 1, 5]",
            "{e:?}"
        );
        let e = l.out_shape(&[4, 4]).unwrap_err();
        assert!(e.0.contains("[c, h, w]"), "{e:?}");
        let e = Network::new(
            vec![conv(1, 2, [3, 3], [0, 0]), pool([3, 3], [3, 3]), flat()],
            &NetOpts {
                input: Some(vec![1, 4, 4]),
                ..NetOpts::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("AvgPool2d(kernel_size=3, stride=3)") && e.contains("got shape [2, 2, 2]"),
            "{e}"
        );
    }
}
