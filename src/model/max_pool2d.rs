//! `MaxPool2d(kernel, stride)`: the largest value of each window of each
//! channel, as `torch.nn.MaxPool2d` (no padding, floor mode; ties go to the
//! first element in row-major window order, as PyTorch's CPU kernel).
//!
//! The forward pass records each window's argmax; the layer is then a fixed
//! selection, linear in its input: the backward pass scatters the error to
//! the argmax positions (adding where overlapping windows pick the same
//! element), the R-forward gathers `Rx` there, the R-backward scatters
//! `R(dy)`; there is no second-order term.

use crate::error::Result;
use crate::model::im2col::{batch_geom, check_len, pair_str, pool_geom, tensor, with_data, Geom};
use crate::model::layer::{nothing, saved, Bwd, Fwd, Layer, RBack, RBwd, RFwd, Saved};
use candle_core::Tensor;
use rayon::prelude::*;

/// A 2-D max-pooling layer.
#[derive(Clone, Debug)]
pub struct MaxPool2d {
    /// Window size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
}

/// What the forward pass keeps: the plane geometry and every output's
/// argmax (an index into its input plane).
struct Argmax {
    geo: Geom,
    /// Planes (N·C) of the forward input.
    planes: usize,
    idx: Vec<usize>,
}

const KIND: &str = "MaxPool2d";

/// Parallel tasks of at least this many values' work.
fn min_len(per: usize) -> usize {
    ((1 << 13) / per.max(1)).max(1)
}

/// `out[t, q] = src[t, idx[t mod planes, q]]` over `rows` planes.
fn gather(src: &[f64], a: &Argmax, rows: usize) -> Vec<f64> {
    let (hw, p) = (a.geo.h * a.geo.w, a.geo.p());
    let mut out = vec![0.0; rows * p];
    out.par_chunks_mut(p)
        .with_min_len(min_len(p))
        .enumerate()
        .for_each(|(t, o)| {
            let s = &src[t * hw..][..hw];
            let ix = &a.idx[(t % a.planes) * p..][..p];
            for (d, &i) in o.iter_mut().zip(ix) {
                *d = s[i];
            }
        });
    out
}

/// The adjoint of [`gather`]: `out[t, idx[t mod planes, q]] += src[t, q]`.
fn scatter(src: &[f64], a: &Argmax, rows: usize) -> Vec<f64> {
    let (hw, p) = (a.geo.h * a.geo.w, a.geo.p());
    let mut out = vec![0.0; rows * hw];
    out.par_chunks_mut(hw)
        .with_min_len(min_len(p))
        .enumerate()
        .for_each(|(t, o)| {
            let s = &src[t * p..][..p];
            let ix = &a.idx[(t % a.planes) * p..][..p];
            for (&v, &i) in s.iter().zip(ix) {
                o[i] += v;
            }
        });
    out
}

/// One plane `s` `(h, w)`: each window's max into `yo` and its index into
/// `io` `(ho, wo)`. As PyTorch: start at −∞ with the window's first index;
/// a larger value or a NaN takes over (by masks, not branches: random data
/// mispredicts them).
fn max_plane(s: &[f64], geo: &Geom, yo: &mut [f64], io: &mut [usize]) {
    let Geom {
        w,
        kh,
        kw,
        sh,
        sw,
        wo,
        ..
    } = *geo;
    for (oh, (yr, ir)) in yo.chunks_mut(wo).zip(io.chunks_mut(wo)).enumerate() {
        for (ow, (yv, iv)) in yr.iter_mut().zip(ir.iter_mut()).enumerate() {
            let base = oh * sh * w + ow * sw;
            let mut best = f64::NEG_INFINITY;
            let mut bi = base as u64;
            for yy in 0..kh {
                let r0 = base + yy * w;
                for (xx, &v) in s[r0..r0 + kw].iter().enumerate() {
                    let m = 0u64.wrapping_sub(((v > best) | v.is_nan()) as u64);
                    best = f64::from_bits((v.to_bits() & m) | (best.to_bits() & !m));
                    bi = ((r0 + xx) as u64 & m) | (bi & !m);
                }
            }
            *yv = best;
            *iv = bi as usize;
        }
    }
}

impl MaxPool2d {
    fn saved<'a>(&self, s: &'a Saved) -> Result<&'a Argmax> {
        saved::<Argmax>(s, KIND)
    }
}

/// `(rows, c)` of `t` `(rows, c, h, w)`, checked to hold a multiple of the
/// forward pass's planes with `per` values each.
fn planes_of(t: &Tensor, a: &Argmax, per: usize, what: &str) -> Result<(usize, usize)> {
    let (r, c) = match t.dims() {
        &[r, c, _, _] => (r, c),
        _ => (0, 0),
    };
    let ok = r * c > 0 && (r * c) % a.planes.max(1) == 0;
    check_len(t, if ok { r * c * per } else { usize::MAX }, KIND, what)?;
    Ok((r, c))
}

impl Layer for MaxPool2d {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn describe(&self) -> String {
        format!(
            "MaxPool2d(kernel_size={}, stride={})",
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
        let dims = x.dims();
        let planes = dims[0] * dims[1];
        let (hw, p) = (geo.h * geo.w, geo.p());
        let mut y = vec![0.0; planes * p];
        let mut idx = vec![0usize; planes * p];
        with_data(x, |xd| {
            y.par_chunks_mut(p)
                .zip(idx.par_chunks_mut(p))
                .with_min_len(min_len(p * geo.kh * geo.kw))
                .enumerate()
                .for_each(|(t, (yo, io))| max_plane(&xd[t * hw..][..hw], &geo, yo, io));
        })?;
        Ok(Fwd {
            y: tensor(y, &[dims[0], dims[1], geo.ho, geo.wo])?,
            saved: Box::new(Argmax { geo, planes, idx }),
        })
    }

    fn backward(
        &self,
        _w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        _need_dx: bool,
    ) -> Result<Bwd> {
        let a = self.saved(fwd)?;
        check_len(dy, a.planes * a.geo.p(), KIND, "an output error")?;
        let dx = with_data(dy, |d| scatter(d, a, a.planes))?;
        Ok(Bwd {
            dx: Some(tensor(dx, x.dims())?),
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
        let ry = match rx {
            Some(rx) => {
                let a = self.saved(fwd)?;
                let (r, c) = planes_of(rx, a, a.geo.h * a.geo.w, "an input R-tensor")?;
                let out = with_data(rx, |d| gather(d, a, r * c))?;
                Some(tensor(out, &[r, c, a.geo.ho, a.geo.wo])?)
            }
            None => None,
        };
        Ok(RFwd {
            ry,
            saved: nothing(),
        })
    }

    fn r_backward(&self, a: RBack<'_>) -> Result<RBwd> {
        let st = self.saved(a.fwd)?;
        let (r, c) = planes_of(a.rdy, st, st.geo.p(), "an output R-error")?;
        let rdx = with_data(a.rdy, |d| scatter(d, st, r * c))?;
        Ok(RBwd {
            rdx: Some(tensor(rdx, &[r, c, st.geo.h, st.geo.w])?),
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
        Arc::new(MaxPool2d { kernel, stride })
    }

    fn t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
    }

    fn vals(t: &Tensor) -> Vec<f64> {
        t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
    }

    #[test]
    fn forward_matches_a_naive_loop() {
        let mut r = Rng::new(3);
        for (k, s, shape) in [
            ([2, 2], [2, 2], [2, 3, 5, 5]),
            ([3, 3], [1, 2], [1, 2, 7, 6]),
            ([2, 3], [2, 1], [2, 1, 6, 6]),
            ([4, 4], [1, 1], [1, 1, 4, 4]),
        ] {
            let l = MaxPool2d {
                kernel: k,
                stride: s,
            };
            let xs: Vec<f64> = (0..shape.iter().product::<usize>())
                .map(|_| r.normal())
                .collect();
            let y = l.forward(&[], &t(&xs, &shape)).unwrap().y;
            let (h, w) = (shape[2], shape[3]);
            let (ho, wo) = ((h - k[0]) / s[0] + 1, (w - k[1]) / s[1] + 1);
            assert_eq!(y.dims(), &[shape[0], shape[1], ho, wo]);
            let mut want = Vec::new();
            for pl in 0..shape[0] * shape[1] {
                for oh in 0..ho {
                    for ow in 0..wo {
                        let mut m = f64::NEG_INFINITY;
                        for i in 0..k[0] {
                            for j in 0..k[1] {
                                m = m.max(xs[pl * h * w + (oh * s[0] + i) * w + ow * s[1] + j]);
                            }
                        }
                        want.push(m);
                    }
                }
            }
            assert_eq!(vals(&y), want);
        }
    }

    #[test]
    fn ties_go_to_the_first_element_and_overlaps_accumulate() {
        let l = MaxPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        };
        // Windows [[1, 1], [1, 1]] and [[0, 3], [3, 1]].
        let x = t(&[1.0, 1.0, 0.0, 3.0, 1.0, 1.0, 3.0, 1.0], &[1, 1, 2, 4]);
        let f = l.forward(&[], &x).unwrap();
        assert_eq!(vals(&f.y), vec![1.0, 3.0]);
        let dy = t(&[5.0, 7.0], &[1, 1, 1, 2]);
        let dx = l
            .backward(&[], &x, &f.saved, &dy, true)
            .unwrap()
            .dx
            .unwrap();
        assert_eq!(vals(&dx), vec![5.0, 0.0, 0.0, 7.0, 0.0, 0.0, 0.0, 0.0]);
        // Overlapping windows (stride < kernel) that all pick the centre.
        let l = MaxPool2d {
            kernel: [2, 2],
            stride: [1, 1],
        };
        let x = t(
            &[0.0, 1.0, 0.0, 1.0, 9.0, 1.0, 0.0, 1.0, 0.0],
            &[1, 1, 3, 3],
        );
        let f = l.forward(&[], &x).unwrap();
        assert_eq!(vals(&f.y), vec![9.0; 4]);
        let dy = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let dx = l
            .backward(&[], &x, &f.saved, &dy, true)
            .unwrap()
            .dx
            .unwrap();
        assert_eq!(
            vals(&dx),
            vec![0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0]
        );
        // The R-passes use the same selection, for each of two directions.
        let rx = t(
            &(0..18).map(|i| i as f64).collect::<Vec<_>>(),
            &[2, 1, 3, 3],
        );
        let ry = l
            .r_forward(&[], &x, &f.saved, Some(&rx), None, 2)
            .unwrap()
            .ry
            .unwrap();
        assert_eq!(vals(&ry), vec![4.0, 4.0, 4.0, 4.0, 13.0, 13.0, 13.0, 13.0]);
    }

    #[test]
    fn gradient_and_curvature_match_differences() {
        let m = net(
            vec![
                conv(1, 2, [3, 3], [0, 0]),
                pool([2, 2], [2, 2]),
                flat(),
                lin(8, 4),
            ],
            &[1, 7, 7],
            LossKind::Mse,
            1,
        );
        check_all(&m, &data(6, &[1, 7, 7], 4, 2));
        // Overlapping windows, non-square stride, a conv after the pool.
        let m = net(
            vec![
                conv(2, 2, [2, 2], [1, 1]),
                tanh(),
                pool([3, 3], [1, 2]),
                conv(2, 2, [2, 2], [0, 0]),
                flat(),
                lin(16, 3),
            ],
            &[2, 6, 6],
            LossKind::CrossEntropy,
            3,
        );
        check_all(&m, &data(4, &[2, 6, 6], 3, 4));
        // Non-square kernel.
        let m = net(
            vec![
                conv(1, 2, [2, 2], [0, 0]),
                pool([2, 3], [2, 1]),
                tanh(),
                flat(),
                lin(24, 3),
            ],
            &[1, 7, 7],
            LossKind::CrossEntropy,
            5,
        );
        check_all(&m, &data(5, &[1, 7, 7], 3, 6));
    }

    #[test]
    fn describes_itself_and_checks_shapes() {
        let l = MaxPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        };
        assert_eq!(l.describe(), "MaxPool2d(kernel_size=2, stride=2)");
        assert!(l.second_order_zero() && l.params().is_empty());
        assert_eq!(l.out_shape(&[3, 7, 6]), Ok(vec![3, 3, 3]));
        let l2 = MaxPool2d {
            kernel: [2, 3],
            stride: [1, 1],
        };
        assert_eq!(l2.describe(), "MaxPool2d(kernel_size=(2, 3), stride=1)");
        let e = l2.out_shape(&[1, 4, 2]).unwrap_err();
        assert!(
            e.0.contains("at least 2×3") && e.1 == "shape [1, 4, 2]",
            "{e:?}"
        );
        let e = l.out_shape(&[16]).unwrap_err();
        assert!(e.0.contains("[c, h, w]") && e.1 == "shape [16]", "{e:?}");
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
            e.contains("layer 1 (MaxPool2d(kernel_size=3, stride=3))")
                && e.contains("at least 3×3"),
            "{e}"
        );
    }
}
