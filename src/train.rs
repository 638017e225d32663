//! Training by (stochastic) gradient descent, and what it records.
//!
//! One step on a batch B: `g = ∇L_B(w) + λ w`, `buf = μ buf + g`,
//! `w ← w − η buf` — PyTorch's `torch.optim.SGD` with `momentum` μ and
//! `weight_decay` λ. `batch = 0` means full-batch gradient descent. Batches
//! are consecutive slices of a permutation drawn per epoch from the seed
//! (or of the stored order when `shuffle` is false); a last, smaller batch
//! is used as it is. The loss and accuracy on the whole training set (and
//! the test set, when given) are recorded at step 0, every `log_every`
//! steps and at the end.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{Batch, Network};
use crate::progress::{check_interrupt, Progress};
use crate::rng::Rng;
use candle_core::{Device, Tensor};
use std::time::Instant;

/// Options of [`train`].
#[derive(Clone, Debug)]
pub struct TrainOpts {
    /// Step size η.
    pub lr: f64,
    /// Batch size; 0 = full batch.
    pub batch: usize,
    /// Number of passes over the data (ignored when `steps` is set).
    pub epochs: Option<usize>,
    /// Number of optimiser steps.
    pub steps: Option<usize>,
    /// Heavy-ball momentum μ.
    pub momentum: f64,
    /// L2 weight decay λ added to the gradient.
    pub weight_decay: f64,
    /// Reshuffle the examples every epoch.
    pub shuffle: bool,
    /// Seed of the shuffling.
    pub seed: u64,
    /// A test set evaluated at every log point.
    pub test: Option<Dataset>,
    /// Steps between log points (default: about 100 log points in all).
    pub log_every: Option<usize>,
    /// Stop once the full-batch gradient norm falls below this.
    pub until_grad_norm: Option<f64>,
}

impl Default for TrainOpts {
    fn default() -> Self {
        TrainOpts {
            lr: 0.1,
            batch: 0,
            epochs: None,
            steps: None,
            momentum: 0.0,
            weight_decay: 0.0,
            shuffle: true,
            seed: 0,
            test: None,
            log_every: None,
            until_grad_norm: None,
        }
    }
}

/// Default number of epochs when neither `epochs` nor `steps` is given.
pub const DEFAULT_EPOCHS: usize = 10;

/// What training recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The step numbers of the log points (0 = before the first step).
    pub step: Vec<usize>,
    /// Training loss at each log point.
    pub loss: Vec<f64>,
    /// Training accuracy at each log point.
    pub acc: Vec<f64>,
    /// Test loss at each log point (empty without a test set).
    pub test_loss: Vec<f64>,
    /// Test accuracy at each log point (empty without a test set).
    pub test_acc: Vec<f64>,
    /// Full-batch gradient norm at each log point.
    pub grad_norm: Vec<f64>,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Why training stopped: "steps", "epochs" or "until_grad_norm".
    pub stopped_by: String,
    /// Step size used.
    pub lr: f64,
    /// Batch size used (0 = full batch).
    pub batch: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Trains `m` in place on `data` and returns what was recorded.
///
/// On an interrupt or a divergence, `m` keeps the last finite parameters.
pub fn train(m: &mut Network, data: &Dataset, o: &TrainOpts) -> Result<History> {
    m.check_data("train", data)?;
    if let Some(t) = &o.test {
        m.check_data("train", t).map_err(|e| match e {
            Error::Shape { expected, got, .. } => {
                let expected = expected.strip_prefix("data with ").unwrap_or(&expected);
                Error::shape("train", format!("a test set with {expected}"), got)
            }
            other => other,
        })?;
    }
    check_positive("lr", o.lr)?;
    check_nonneg("momentum", o.momentum)?;
    check_nonneg("weight_decay", o.weight_decay)?;
    if let Some(g) = o.until_grad_norm {
        check_positive("until_grad_norm", g)?;
    }
    let n = data.len();
    let bs = if o.batch == 0 || o.batch >= n {
        n
    } else {
        o.batch
    };
    let per_epoch = n.div_ceil(bs);
    let (total, stop_name) = match (o.steps, o.epochs) {
        (Some(s), _) => (s, "steps"),
        (None, Some(e)) => (e.saturating_mul(per_epoch), "epochs"),
        (None, None) => (DEFAULT_EPOCHS * per_epoch, "epochs"),
    };
    if total > 100_000_000 {
        return Err(Error::shape(
            "train",
            "at most 100000000 steps",
            format!("{total}"),
        ));
    }
    let log_every = match o.log_every {
        Some(0) => return Err(Error::invalid("train", "log_every: expected ≥ 1, got 0")),
        Some(l) => l,
        None => (total / 100).max(1),
    };
    let start = Instant::now();
    let full = m.batch("train", data)?;
    let test = match &o.test {
        Some(t) => Some((t, m.batch("train", t)?)),
        None => None,
    };
    let mut hist = History {
        lr: o.lr,
        batch: o.batch,
        ..History::default()
    };
    let mut rng = Rng::new(o.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut buf = vec![0.0; m.num_params()];
    let mut params = m.params().to_vec();
    let progress = Progress::new("train", total as u64);
    let mut stopped_by = stop_name;

    let tmpl = m.clone();
    let log = |hist: &mut History, step: usize, params: &[f64]| -> Result<f64> {
        let (loss, g) = tmpl.loss_grad_batch(&full, params)?;
        let gn = crate::mat::norm(&g);
        let mut mm = tmpl.clone();
        mm.set_params(params)?;
        hist.step.push(step);
        hist.loss.push(loss);
        hist.acc.push(mm.accuracy(data)?);
        hist.grad_norm.push(gn);
        if let Some((t, _)) = &test {
            let (tl, ta) = mm.eval(t)?;
            hist.test_loss.push(tl);
            hist.test_acc.push(ta);
        }
        progress.message(format!("loss {loss:.4e}"));
        Ok(gn)
    };

    let mut gn = log(&mut hist, 0, &params)?;
    let mut step = 0;
    let mut batches: Vec<Batch> = Vec::new();
    let mut next_batch = 0;
    let full_batch = bs == n;
    while step < total {
        if let Some(t) = o.until_grad_norm {
            if gn < t {
                stopped_by = "until_grad_norm";
                break;
            }
        }
        if let Err(e) = check_interrupt("train") {
            m.set_params(&params)?;
            return Err(e);
        }
        let (loss, mut g) = if full_batch {
            tmpl.loss_grad_batch(&full, &params)?
        } else {
            if next_batch == batches.len() {
                if o.shuffle {
                    rng.shuffle(&mut order);
                }
                batches = make_batches(&full, &order, bs)?;
                next_batch = 0;
            }
            let r = tmpl.loss_grad_batch(&batches[next_batch], &params)?;
            next_batch += 1;
            r
        };
        if !loss.is_finite() || g.iter().any(|x| !x.is_finite()) {
            m.set_params(&params)?;
            return Err(Error::Diverged {
                step: step + 1,
                loss,
                lr: o.lr,
            });
        }
        if full_batch {
            gn = crate::mat::norm(&g);
            if let Some(t) = o.until_grad_norm {
                if gn < t {
                    stopped_by = "until_grad_norm";
                    break;
                }
            }
        }
        if o.weight_decay != 0.0 {
            crate::mat::axpy(o.weight_decay, &params, &mut g);
        }
        let new: Vec<f64> = if o.momentum != 0.0 {
            for (b, gi) in buf.iter_mut().zip(&g) {
                *b = o.momentum * *b + gi;
            }
            params.iter().zip(&buf).map(|(p, b)| p - o.lr * b).collect()
        } else {
            params.iter().zip(&g).map(|(p, gi)| p - o.lr * gi).collect()
        };
        if new.iter().any(|x| !x.is_finite()) {
            m.set_params(&params)?;
            return Err(Error::Diverged {
                step: step + 1,
                loss: f64::INFINITY,
                lr: o.lr,
            });
        }
        params = new;
        step += 1;
        progress.inc(1);
        if step % log_every == 0 || step == total {
            gn = log(&mut hist, step, &params)?;
            let last = hist.loss.last().copied().unwrap_or(0.0);
            if !last.is_finite() {
                return Err(Error::Diverged {
                    step,
                    loss: last,
                    lr: o.lr,
                });
            }
        }
    }
    if hist.step.last() != Some(&step) {
        log(&mut hist, step, &params)?;
    }
    drop(progress);
    m.set_params(&params)?;
    hist.steps = step;
    hist.stopped_by = stopped_by.to_string();
    hist.seconds = start.elapsed().as_secs_f64();
    Ok(hist)
}

fn make_batches(full: &Batch, order: &[usize], bs: usize) -> Result<Vec<Batch>> {
    let mut out = Vec::with_capacity(order.len().div_ceil(bs));
    for chunk in order.chunks(bs) {
        let ids: Vec<u32> = chunk.iter().map(|&i| i as u32).collect();
        let idx = Tensor::from_vec(ids, chunk.len(), &Device::Cpu)?;
        out.push(Batch {
            x: full.x.index_select(&idx, 0)?,
            t: full.t.index_select(&idx, 0)?,
            n: chunk.len(),
        });
    }
    Ok(out)
}

fn check_positive(name: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return Err(Error::invalid(
            "train",
            format!("{name}: expected a finite number > 0, got {v}"),
        ));
    }
    Ok(())
}

fn check_nonneg(name: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(Error::invalid(
            "train",
            format!("{name}: expected a finite number ≥ 0, got {v}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Targets;
    use crate::mat::Mat;
    use crate::model::{Act, Init, LossKind, MlpOpts};

    fn blobs(n: usize, seed: u64) -> Dataset {
        let mut r = Rng::new(seed);
        let x = Mat::from_fn(
            n,
            2,
            |i, _| if i % 2 == 0 { 1.0 } else { -1.0 } + 0.3 * r.normal(),
        );
        let y = (0..n).map(|i| i % 2).collect();
        Dataset::new(x, Targets::Labels { y, classes: 2 }).unwrap()
    }

    fn net(seed: u64) -> Network {
        Network::mlp(
            &[2, 8, 2],
            &MlpOpts {
                act: Act::Tanh,
                loss: LossKind::CrossEntropy,
                bias: true,
                init: Init::Uniform,
                seed,
            },
        )
        .unwrap()
    }

    #[test]
    fn gd_reduces_loss_and_is_deterministic() {
        let d = blobs(64, 1);
        let o = TrainOpts {
            lr: 0.5,
            batch: 8,
            epochs: Some(20),
            seed: 4,
            momentum: 0.9,
            ..TrainOpts::default()
        };
        let mut a = net(1);
        let ha = train(&mut a, &d, &o).unwrap();
        let mut b = net(1);
        let hb = train(&mut b, &d, &o).unwrap();
        assert_eq!(a.params(), b.params());
        assert_eq!(ha.loss, hb.loss);
        assert!(ha.loss.last().unwrap() < &(0.5 * ha.loss[0]));
        assert_eq!(ha.steps, 160);
        assert_eq!(ha.step.first(), Some(&0));
        assert_eq!(ha.step.last(), Some(&160));
        assert!(*ha.acc.last().unwrap() > 0.9);
    }

    #[test]
    fn until_grad_norm_stops_early_and_divergence_is_reported() {
        let d = blobs(32, 2);
        let mut m = net(2);
        let h = train(
            &mut m,
            &d,
            &TrainOpts {
                lr: 1.0,
                steps: Some(100_000),
                until_grad_norm: Some(1e-2),
                ..TrainOpts::default()
            },
        )
        .unwrap();
        assert_eq!(h.stopped_by, "until_grad_norm");
        assert!(h.steps < 100_000);
        assert!(*h.grad_norm.last().unwrap() < 1e-2);

        let mut m = Network::mlp(
            &[2, 8, 2],
            &MlpOpts {
                act: Act::Linear,
                loss: LossKind::Mse,
                ..MlpOpts::default()
            },
        )
        .unwrap();
        let before = m.params().to_vec();
        let e = train(
            &mut m,
            &d,
            &TrainOpts {
                lr: 50.0,
                steps: Some(5000),
                ..TrainOpts::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("diverged at step"), "{e}");
        assert!(m.params().iter().all(|x| x.is_finite()));
        assert_ne!(m.params(), &before[..]);
    }

    #[test]
    fn training_continues_from_current_parameters() {
        let d = blobs(32, 5);
        let o = TrainOpts {
            steps: Some(10),
            ..TrainOpts::default()
        };
        let mut a = net(7);
        train(&mut a, &d, &o).unwrap();
        train(&mut a, &d, &o).unwrap();
        let mut b = net(7);
        train(
            &mut b,
            &d,
            &TrainOpts {
                steps: Some(20),
                ..TrainOpts::default()
            },
        )
        .unwrap();
        for (x, y) in a.params().iter().zip(b.params()) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}
