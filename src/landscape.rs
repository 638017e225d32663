//! Loss landscapes along lines, `w(t) = (1 − t)·a + t·b`, and on planes,
//! `w + a·d₁ + b·d₂`.
//!
//! The paper's E5 asks whether a barrier separates a large-batch solution
//! from a small-batch one reached from it; the answer is the loss along the
//! line between them, evaluated on the whole training set (and a test set).
//! With `curvature: k` the line also records the top-k Hessian eigenvalues
//! at every point (Lanczos warm-started from the neighbour's eigenvectors).
//!
//! [`landscape`] draws the loss on a plane (Li et al. 2018, "Visualizing the
//! loss landscape of neural nets"). Its random directions are *filter
//! normalised* as in their code (`net_plotter.normalize_direction`): a
//! Gaussian direction is rescaled, filter by filter, to the norm of the
//! matching weights — a filter being one output unit of a `Linear` layer
//! (one row of its weight) or one output channel of a `Conv2d` — `d_f ←
//! d_f · ‖w_f‖ / (‖d_f‖ + 1e-10)`; the entries of biases and `LayerNorm`
//! parameters are set to zero (their `ignore='biasbn'`). Other
//! multi-dimensional parameters are normalised per slice of their first
//! dimension, one-dimensional ones zeroed, as their code does.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::model::Network;
use crate::progress::{check_interrupt, Progress};
use crate::rng::Rng;

/// Where to evaluate along the line.
#[derive(Clone, Debug, PartialEq)]
pub struct LineOpts {
    /// First t (−0.5).
    pub from: f64,
    /// Last t (1.5).
    pub to: f64,
    /// Number of points, both ends included (41).
    pub steps: usize,
    /// Top Hessian eigenvalues to record at each point (0: none).
    pub curvature: usize,
}

impl Default for LineOpts {
    fn default() -> Self {
        LineOpts {
            from: -0.5,
            to: 1.5,
            steps: 41,
            curvature: 0,
        }
    }
}

/// Residual tolerance (relative to λ₁) of the curvature along a line and of
/// the "top_eigs" directions of a landscape.
pub const CURVATURE_TOL: f64 = 1e-8;

/// The loss and accuracy profile along a line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curve {
    /// The positions t.
    pub t: Vec<f64>,
    /// Training loss at each t.
    pub loss: Vec<f64>,
    /// Training accuracy at each t.
    pub acc: Vec<f64>,
    /// Test loss at each t (empty without a test set).
    pub test_loss: Vec<f64>,
    /// Test accuracy at each t (empty without a test set).
    pub test_acc: Vec<f64>,
    /// With `curvature: k`: the k largest Hessian eigenvalues at each t,
    /// largest first (empty otherwise).
    pub top: Vec<Vec<f64>>,
}

impl Curve {
    /// The largest rise of the training loss on [0, 1] above the straight
    /// line between its end values (0 when there is no barrier).
    pub fn barrier(&self) -> f64 {
        let (mut l0, mut l1) = (None, None);
        for (&t, &l) in self.t.iter().zip(&self.loss) {
            if t.abs() < 1e-12 {
                l0 = Some(l);
            }
            if (t - 1.0).abs() < 1e-12 {
                l1 = Some(l);
            }
        }
        let (Some(l0), Some(l1)) = (l0, l1) else {
            return f64::NAN;
        };
        self.t
            .iter()
            .zip(&self.loss)
            .filter(|(t, _)| (-1e-12..=1.0 + 1e-12).contains(*t))
            .map(|(&t, &l)| l - ((1.0 - t) * l0 + t * l1))
            .fold(0.0_f64, f64::max)
    }
}

/// Evaluates the model of `template`'s architecture at `(1 − t)·a + t·b`.
pub fn interpolate(
    template: &Network,
    a: &[f64],
    b: &[f64],
    data: &Dataset,
    test: Option<&Dataset>,
    o: &LineOpts,
) -> Result<Curve> {
    template.check_vector("interpolate", a)?;
    template.check_vector("interpolate", b)?;
    template.check_data("interpolate", data)?;
    if let Some(t) = test {
        template.check_data("interpolate", t)?;
    }
    if !(o.from.is_finite() && o.to.is_finite()) {
        return Err(Error::invalid(
            "interpolate",
            format!(
                "expected finite `from` and `to`, got {} and {}",
                o.from, o.to
            ),
        ));
    }
    if o.steps < 2 || o.steps > 100_000 {
        return Err(Error::invalid(
            "interpolate",
            format!("steps: expected between 2 and 100000, got {}", o.steps),
        ));
    }
    if o.curvature > template.num_params() {
        return Err(Error::shape(
            "interpolate",
            format!(
                "curvature: at most {} eigenvalues (the number of parameters)",
                template.num_params()
            ),
            format!("curvature = {}", o.curvature),
        ));
    }
    let mut m = template.clone();
    let mut c = Curve::default();
    let progress = Progress::new("interpolate", o.steps as u64);
    let mut warm: Option<Vec<f64>> = None;
    for i in 0..o.steps {
        check_interrupt("interpolate")?;
        let t = o.from + (o.to - o.from) * i as f64 / (o.steps - 1) as f64;
        // Snap to the exact grid values 0 and 1 when they are on the grid.
        let t = if t.abs() < 1e-12 {
            0.0
        } else if (t - 1.0).abs() < 1e-12 {
            1.0
        } else {
            t
        };
        let w: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| (1.0 - t) * x + t * y)
            .collect();
        m.set_params(&w)?;
        let (l, acc) = m.eval(data)?;
        if o.curvature > 0 {
            let r = crate::train::top_with_vectors(
                &m,
                data,
                o.curvature,
                CURVATURE_TOL,
                0,
                warm.take(),
            )?;
            c.top.push(r.values);
            warm = Some(r.start);
        }
        c.t.push(t);
        c.loss.push(l);
        c.acc.push(acc);
        if let Some(ts) = test {
            let (tl, ta) = m.eval(ts)?;
            c.test_loss.push(tl);
            c.test_acc.push(ta);
        }
        progress.inc(1);
    }
    Ok(c)
}

/// How the two directions of a [`landscape`] are chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Dirs {
    /// Seeded Gaussian directions, filter-normalised (Li et al. 2018).
    Random,
    /// The two leading Hessian eigenvectors (unit norm; d₁ for λ₁).
    TopEigs,
    /// Two given directions, used as they are.
    Given(Vec<f64>, Vec<f64>),
}

/// Options of [`landscape`].
#[derive(Clone, Debug, PartialEq)]
pub struct SurfaceOpts {
    /// The directions.
    pub dirs: Dirs,
    /// The range of a and of b ([-1, 1]).
    pub range: (f64, f64),
    /// Points per axis, both ends included (21).
    pub steps: usize,
    /// Seed of the random directions.
    pub seed: u64,
}

impl Default for SurfaceOpts {
    fn default() -> Self {
        SurfaceOpts {
            dirs: Dirs::Random,
            range: (-1.0, 1.0),
            steps: 21,
            seed: 0,
        }
    }
}

/// The loss (and accuracy) on a plane through a model's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Surface {
    /// Grid along d₁.
    pub a: Vec<f64>,
    /// Grid along d₂.
    pub b: Vec<f64>,
    /// `loss[i][j]` at `w + a[i]·d₁ + b[j]·d₂` (training set).
    pub loss: Mat,
    /// Training accuracy on the grid (None for regression targets).
    pub acc: Option<Mat>,
    /// Test loss on the grid (with a test set).
    pub test_loss: Option<Mat>,
    /// Test accuracy on the grid (with a labelled test set).
    pub test_acc: Option<Mat>,
    /// The two directions.
    pub d1: Vec<f64>,
    /// The second direction.
    pub d2: Vec<f64>,
    /// "random", "top_eigs" or "given".
    pub dirs: String,
    /// With "top_eigs": λ₁ and λ₂.
    pub eigenvalues: Vec<f64>,
    /// Seconds it took.
    pub seconds: f64,
}

/// Where each parameter tensor sits in the flat vector and how a random
/// direction treats it: `Some(f)`: normalised in `f` filters (contiguous
/// slices), `None`: set to zero.
fn tensor_roles(chain: &crate::model::Chain, out: &mut Vec<(usize, Option<usize>)>) {
    for l in chain.layers() {
        if let Some(c) = l.children() {
            tensor_roles(c, out);
            continue;
        }
        let kind = l.kind();
        for (name, shape) in l.params() {
            let n: usize = shape.iter().product();
            let leaf = name.rsplit('.').next().unwrap_or(&name);
            let zero = kind == "LayerNorm" || leaf == "bias" || shape.len() <= 1;
            out.push((n, if zero { None } else { Some(shape[0].max(1)) }));
        }
    }
}

/// A seeded Gaussian direction filter-normalised to `m`'s weights (Li et
/// al. 2018; see the module doc).
pub fn filter_normalized(m: &Network, rng: &mut Rng) -> Result<Vec<f64>> {
    let w = m.params();
    let mut roles = Vec::new();
    tensor_roles(m.chain(), &mut roles);
    let total: usize = roles.iter().map(|r| r.0).sum();
    if total != w.len() {
        return Err(Error::invalid(
            "landscape",
            format!(
                "internal: the layers describe {total} parameters, the model has {}",
                w.len()
            ),
        ));
    }
    let mut d: Vec<f64> = (0..w.len()).map(|_| rng.normal()).collect();
    let mut off = 0;
    for (n, role) in roles {
        let part = &mut d[off..off + n];
        match role {
            None => part.fill(0.0),
            Some(f) => {
                let len = n / f;
                for k in 0..f {
                    let s = k * len..(k + 1) * len;
                    let wn = crate::mat::norm(&w[off + s.start..off + s.end]);
                    let dn = crate::mat::norm(&part[s.clone()]);
                    let scale = wn / (dn + 1e-10);
                    part[s].iter_mut().for_each(|x| *x *= scale);
                }
            }
        }
        off += n;
    }
    Ok(d)
}

/// The loss on the plane w + a·d₁ + b·d₂ around `m`'s parameters, a and b
/// on the grid `range` × `range` with `steps` points per axis.
pub fn landscape(
    m: &Network,
    data: &Dataset,
    test: Option<&Dataset>,
    o: &SurfaceOpts,
) -> Result<Surface> {
    const OP: &str = "landscape";
    let t0 = std::time::Instant::now();
    m.check_data(OP, data)?;
    if let Some(t) = test {
        m.check_data(OP, t)?;
    }
    let (lo, hi) = o.range;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(Error::shape(
            OP,
            "range: [lo, hi] with finite lo < hi",
            format!("[{lo}, {hi}]"),
        ));
    }
    if o.steps < 2 || o.steps > 1001 {
        return Err(Error::shape(
            OP,
            "steps between 2 and 1001 per axis",
            format!("steps = {}", o.steps),
        ));
    }
    let p = m.num_params();
    let mut eigenvalues = Vec::new();
    let (d1, d2, name) = match &o.dirs {
        Dirs::Random => {
            let mut rng = Rng::new(o.seed);
            let d1 = filter_normalized(m, &mut rng)?;
            let d2 = filter_normalized(m, &mut rng)?;
            (d1, d2, "random")
        }
        Dirs::TopEigs => {
            if p < 2 {
                return Err(Error::shape(
                    OP,
                    "a model with at least 2 parameters for dirs: \"top_eigs\"",
                    format!("{p}"),
                ));
            }
            let mut op = crate::curvature::hessian::ModelCurvature::new(
                OP,
                m,
                data,
                crate::curvature::hessian::Curvature::Hessian,
            )?;
            let r = crate::curvature::lanczos::lanczos_top(
                &mut op,
                &crate::curvature::lanczos::LanczosOpts {
                    k: 2,
                    tol: CURVATURE_TOL,
                    seed: o.seed,
                    vectors: true,
                    rel_to_top: true,
                    ..Default::default()
                },
            )?;
            let y = r
                .vectors
                .ok_or_else(|| Error::invalid(OP, "internal: no eigenvectors"))?;
            let v = r.spectrum.values();
            eigenvalues = vec![v[1], v[0]];
            (y.col(1), y.col(0), "top_eigs")
        }
        Dirs::Given(a, b) => {
            for v in [a, b] {
                if v.len() != p {
                    return Err(Error::shape(
                        OP,
                        format!("directions of length {p} (the model's parameters)"),
                        format!("length {}", v.len()),
                    ));
                }
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(Error::invalid(OP, "expected finite directions"));
                }
            }
            (a.clone(), b.clone(), "given")
        }
    };
    let n = o.steps;
    let grid: Vec<f64> = (0..n)
        .map(|i| {
            let t = lo + (hi - lo) * i as f64 / (n - 1) as f64;
            if t.abs() < 1e-12 * (hi - lo) {
                0.0
            } else {
                t
            }
        })
        .collect();
    let labels = data.labels().is_some();
    let test_labels = test.is_some_and(|t| t.labels().is_some());
    let mut loss = Mat::zeros(n, n);
    let mut acc = labels.then(|| Mat::zeros(n, n));
    let mut test_loss = test.map(|_| Mat::zeros(n, n));
    let mut test_acc = test_labels.then(|| Mat::zeros(n, n));
    let w0 = m.params();
    let mut mm = m.clone();
    let progress = Progress::new(OP, (n * n) as u64);
    let mut w = vec![0.0; p];
    for (i, &a) in grid.iter().enumerate() {
        for (j, &b) in grid.iter().enumerate() {
            check_interrupt(OP)?;
            for k in 0..p {
                w[k] = w0[k] + a * d1[k] + b * d2[k];
            }
            mm.set_params(&w)?;
            let (l, ac) = mm.eval(data)?;
            loss.set(i, j, l);
            if let Some(acc) = acc.as_mut() {
                acc.set(i, j, ac);
            }
            if let (Some(t), Some(tl)) = (test, test_loss.as_mut()) {
                let (l2, a2) = mm.eval(t)?;
                tl.set(i, j, l2);
                if let Some(ta) = test_acc.as_mut() {
                    ta.set(i, j, a2);
                }
            }
            progress.inc(1);
        }
    }
    Ok(Surface {
        a: grid.clone(),
        b: grid,
        loss,
        acc,
        test_loss,
        test_acc,
        d1,
        d2,
        dirs: name.to_string(),
        eigenvalues,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

impl Surface {
    /// The loss at a = b = 0 when that point is on the grid.
    pub fn center_loss(&self) -> Option<f64> {
        let i = self.a.iter().position(|&x| x == 0.0)?;
        let j = self.b.iter().position(|&x| x == 0.0)?;
        Some(self.loss.at(i, j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use crate::model::MlpOpts;

    #[test]
    fn endpoints_are_the_two_models_and_barrier_is_measured() {
        let mut r = crate::rng::Rng::new(1);
        let x = Mat::from_fn(20, 3, |_, _| r.normal());
        let d = Dataset::classification(x, (0..20).map(|i| i % 2).collect()).unwrap();
        let a = Network::mlp(
            &[3, 4, 2],
            &MlpOpts {
                seed: 1,
                ..MlpOpts::default()
            },
        )
        .unwrap();
        let b = Network::mlp(
            &[3, 4, 2],
            &MlpOpts {
                seed: 2,
                ..MlpOpts::default()
            },
        )
        .unwrap();
        let c = interpolate(
            &a,
            a.params(),
            b.params(),
            &d,
            Some(&d),
            &LineOpts::default(),
        )
        .unwrap();
        assert_eq!(c.t.len(), 41);
        let i0 = c.t.iter().position(|&t| t == 0.0).unwrap();
        let i1 = c.t.iter().position(|&t| t == 1.0).unwrap();
        assert!((c.loss[i0] - a.loss(&d).unwrap()).abs() < 1e-14);
        assert!((c.loss[i1] - b.loss(&d).unwrap()).abs() < 1e-14);
        assert_eq!(c.test_loss, c.loss);
        assert!(c.barrier() >= 0.0);
        let e = interpolate(&a, a.params(), &[1.0], &d, None, &LineOpts::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains("interpolate: expected a vector of length"),
            "{e}"
        );
    }

    fn mixed_net() -> (Network, Dataset) {
        use crate::model::conv2d::Conv2d;
        use crate::model::layer::Layer;
        use crate::model::layer_norm::LayerNorm;
        use crate::model::linear::Linear;
        use crate::model::pointwise::Pointwise;
        use crate::model::residual::Residual;
        use crate::model::tanh::Tanh;
        use crate::model::{Chain, Init, LossKind, NetOpts};
        use std::sync::Arc;
        let lin = |i, o| -> Arc<dyn Layer> {
            Arc::new(Linear {
                fan_in: i,
                fan_out: o,
                bias: true,
            })
        };
        let layers: Vec<Arc<dyn Layer>> = vec![
            Arc::new(Conv2d {
                in_ch: 1,
                out_ch: 3,
                kernel: [3, 3],
                stride: [1, 1],
                padding: [0, 0],
                bias: true,
            }),
            Arc::new(Pointwise(Tanh)),
            Arc::new(crate::model::flatten::Flatten),
            lin(48, 6),
            Arc::new(LayerNorm::new(vec![6])),
            Arc::new(Residual {
                body: Chain::new(vec![lin(6, 6), Arc::new(Pointwise(Tanh))]),
            }),
            lin(6, 2),
        ];
        let m = Network::new(
            layers,
            &NetOpts {
                loss: LossKind::CrossEntropy,
                init: Init::Uniform,
                seed: 3,
                input: Some(vec![1, 6, 6]),
            },
        )
        .unwrap();
        let mut r = crate::rng::Rng::new(4);
        let x = Mat::from_fn(12, 36, |_, _| r.normal());
        let d = Dataset::classification(x, (0..12).map(|i| i % 2).collect())
            .unwrap()
            .with_shape(&[1, 6, 6])
            .unwrap();
        (m, d)
    }

    #[test]
    fn filter_normalisation_gives_each_filter_the_weights_norm() {
        let (m, _) = mixed_net();
        let d = filter_normalized(&m, &mut crate::rng::Rng::new(1)).unwrap();
        let w = m.params();
        let mut off = 0;
        let mut checked = 0;
        for (name, shape, vals) in m.named_tensors() {
            let n = vals.len();
            let part = &d[off..off + n];
            let is_ln = name.starts_with("4.");
            if name.ends_with("bias") || is_ln {
                assert!(part.iter().all(|&x| x == 0.0), "{name} not zero");
            } else {
                let f = shape[0];
                let len = n / f;
                for k in 0..f {
                    let wn = crate::mat::norm(&w[off + k * len..off + (k + 1) * len]);
                    let dn = crate::mat::norm(&part[k * len..(k + 1) * len]);
                    assert!(
                        (wn - dn).abs() <= 1e-9 * wn,
                        "{name} filter {k}: {dn} vs {wn}"
                    );
                    checked += 1;
                }
            }
            off += n;
        }
        assert_eq!(off, m.num_params());
        // Conv 3 filters, Linear 6 + 6 + 2 units.
        assert_eq!(checked, 3 + 6 + 6 + 2);
    }

    #[test]
    fn centre_is_the_loss_and_curvature_along_the_top_eigenvector_is_lambda1() {
        let (m, d) = mixed_net();
        let s = landscape(
            &m,
            &d,
            Some(&d),
            &SurfaceOpts {
                steps: 5,
                ..SurfaceOpts::default()
            },
        )
        .unwrap();
        assert_eq!(s.a, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(s.center_loss(), Some(m.loss(&d).unwrap()));
        assert_eq!(s.test_loss.as_ref().unwrap(), &s.loss);
        assert!(s.acc.is_some());
        let h = 1e-3;
        let s = landscape(
            &m,
            &d,
            None,
            &SurfaceOpts {
                dirs: Dirs::TopEigs,
                range: (-h, h),
                steps: 3,
                seed: 0,
            },
        )
        .unwrap();
        assert!((crate::mat::norm(&s.d1) - 1.0).abs() < 1e-10);
        assert!((crate::mat::norm(&s.d2) - 1.0).abs() < 1e-10);
        let l1 = s.eigenvalues[0];
        let (l, c) = (&s.loss, 1);
        let second = (l.at(0, c) - 2.0 * l.at(c, c) + l.at(2, c)) / (h * h);
        assert!((second - l1).abs() < 0.03 * l1.abs(), "{second} vs λ₁ {l1}");
        let second2 = (l.at(c, 0) - 2.0 * l.at(c, c) + l.at(c, 2)) / (h * h);
        let l2 = s.eigenvalues[1];
        assert!(
            (second2 - l2).abs() < 0.03 * l1.abs(),
            "{second2} vs λ₂ {l2}"
        );
    }

    #[test]
    fn landscape_bad_options_are_errors() {
        let (m, d) = mixed_net();
        let bad = |o: SurfaceOpts| landscape(&m, &d, None, &o).unwrap_err().to_string();
        let e = bad(SurfaceOpts {
            steps: 1,
            ..SurfaceOpts::default()
        });
        assert!(e.starts_with("landscape: expected steps between 2"), "{e}");
        let e = bad(SurfaceOpts {
            range: (1.0, -1.0),
            ..SurfaceOpts::default()
        });
        assert!(e.contains("lo < hi") && e.contains("[1, -1]"), "{e}");
        let e = bad(SurfaceOpts {
            dirs: Dirs::Given(vec![0.0; 3], vec![0.0; m.num_params()]),
            ..SurfaceOpts::default()
        });
        assert!(e.contains("length 3"), "{e}");
    }

    #[test]
    fn curvature_on_the_end_points_is_top_eigs_of_the_models() {
        let (a, d) = mixed_net();
        let mut b = a.clone();
        crate::train::train(
            &mut b,
            &d,
            &crate::train::TrainOpts {
                lr: 0.2,
                steps: Some(20),
                ..Default::default()
            },
        )
        .unwrap();
        let c = interpolate(
            &a,
            a.params(),
            b.params(),
            &d,
            None,
            &LineOpts {
                from: 0.0,
                to: 1.0,
                steps: 6,
                curvature: 2,
            },
        )
        .unwrap();
        assert_eq!(c.top.len(), 6);
        for (m, i) in [(&a, 0), (&b, 5)] {
            let h = crate::curvature::hessian::hessian(m, &d, 10_000).unwrap();
            let (mut all, _) = crate::linalg::sym_eigvals(&h).unwrap();
            all.reverse();
            for (g, w) in c.top[i].iter().zip(&all[..2]) {
                assert!(
                    (g - w).abs() <= 1e-7 * all[0].abs(),
                    "t = {}: {g} vs {w}",
                    c.t[i]
                );
            }
        }
    }
}
