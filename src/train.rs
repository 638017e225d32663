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
//!
//! With [`TrackOpts`], the top Hessian eigenvalues (the sharpness λ₁, Cohen
//! et al. 2021) are recorded at step 0, every `every` steps and at the end,
//! each Lanczos run warm-started from the previous point's Ritz vectors, so
//! that a tracked point costs a few Hessian-vector products rather than the
//! hundred or so of a cold start. Under gradient descent with step η,
//! momentum β and weight decay λ, the quadratic model is stable only while
//! λ₁ < (2 + 2β)/η − λ ([`History::stability_threshold`]).

use crate::curvature::hessian::{Curvature, ModelCurvature};
use crate::curvature::lanczos::{lanczos_top, LanczosOpts};
use crate::curvature::trace::hutchinson;
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
    /// Track the Hessian's top eigenvalues (and trace) as training goes.
    pub track: Option<TrackOpts>,
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
            track: None,
        }
    }
}

/// What curvature to record during training (Cohen et al. 2021's
/// sharpness): at step 0, every `every` steps and at the end, the `top`
/// largest eigenvalues of the Hessian of the training loss over the whole
/// training set (without weight decay), by Lanczos warm-started from the
/// previous point's Ritz vectors, with Ritz residuals ≤ `tol`·λ₁; and, when
/// `trace_probes > 0`, Hutchinson's estimate of tr H.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackOpts {
    /// Steps between tracked points (≥ 1); `None`: about 50 points in all.
    pub every: Option<usize>,
    /// How many of the largest eigenvalues (≥ 1, ≤ P).
    pub top: usize,
    /// Hutchinson probes for the trace (0: no trace).
    pub trace_probes: usize,
    /// Ritz residual tolerance relative to λ₁.
    pub tol: f64,
    /// Seed of the Lanczos start (first point) and of the trace probes.
    pub seed: u64,
}

impl Default for TrackOpts {
    fn default() -> Self {
        TrackOpts {
            every: None,
            top: 1,
            trace_probes: 0,
            tol: 1e-6,
            seed: 0,
        }
    }
}

/// The curvature recorded by `track`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tracked {
    /// The tracked steps (0, every n, the last).
    pub steps: Vec<usize>,
    /// The top eigenvalues at each tracked step, largest first.
    pub top: Vec<Vec<f64>>,
    /// Hutchinson's tr H at each tracked step (empty without `trace`).
    pub trace: Vec<f64>,
    /// Its standard error (empty without `trace`).
    pub trace_stderr: Vec<f64>,
    /// Hessian-vector products Lanczos used at each tracked step.
    pub matvecs: Vec<usize>,
    /// The largest Ritz residual relative to λ₁ at each tracked step.
    pub residual: Vec<f64>,
    /// Seconds spent tracking, in all.
    pub seconds: f64,
}

impl Tracked {
    /// λ₁ at each tracked step.
    pub fn sharpness(&self) -> Vec<f64> {
        self.top
            .iter()
            .map(|t| t.first().copied().unwrap_or(f64::NAN))
            .collect()
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
    /// Why training stopped: "steps", "epochs", "until_grad_norm",
    /// "interrupted" or "diverged".
    pub stopped_by: String,
    /// Step size used.
    pub lr: f64,
    /// Batch size used (0 = full batch).
    pub batch: usize,
    /// Momentum used.
    pub momentum: f64,
    /// Weight decay used.
    pub weight_decay: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The curvature recorded with `track`.
    pub tracked: Option<Tracked>,
    /// True when the run was interrupted (Ctrl-C) before its end.
    pub interrupted: bool,
}

impl History {
    #[cfg(test)]
    fn sharpness_len(&self) -> usize {
        self.tracked.as_ref().map_or(0, |t| t.sharpness().len())
    }

    /// The edge of stability of the update: `(2 + 2β)/lr − wd` (β the
    /// momentum, wd the weight decay) — gradient descent on a quadratic
    /// whose curvature exceeds it diverges.
    pub fn stability_threshold(&self) -> f64 {
        (2.0 + 2.0 * self.momentum) / self.lr - self.weight_decay
    }
}

/// Trains `m` in place on `data` and returns what was recorded.
///
/// On an interrupt or a divergence, `m` keeps the last finite parameters.
pub fn train(m: &mut Network, data: &Dataset, o: &TrainOpts) -> Result<History> {
    let mut hist = History::default();
    train_recording(m, data, o, &mut hist)?;
    Ok(hist)
}

/// As [`train`], writing into `hist` as it goes, so that when it fails
/// (interrupted, diverged) `hist` still holds everything recorded up to
/// then (`interrupted`, `stopped_by` and `steps` say where it stopped) and
/// `m` the last finite parameters reached.
pub fn train_recording(
    m: &mut Network,
    data: &Dataset,
    o: &TrainOpts,
    hist: &mut History,
) -> Result<()> {
    *hist = History {
        lr: o.lr,
        batch: o.batch,
        momentum: o.momentum,
        weight_decay: o.weight_decay,
        ..History::default()
    };
    let plan = check(m, data, o)?;
    let start = Instant::now();
    let mut params = m.params().to_vec();
    let r = run(m, data, o, &plan, hist, &mut params);
    m.set_params(&params)?;
    hist.seconds = start.elapsed().as_secs_f64();
    match r {
        Ok(stopped_by) => {
            hist.stopped_by = stopped_by.to_string();
            Ok(())
        }
        Err(Error::Interrupted { .. }) => {
            // The point reached is recorded, so last_history() ends there.
            if hist.step.last() != Some(&hist.steps) {
                let full = m.batch("train", data)?;
                log_point(m, &full, data, o.test.as_ref(), hist, hist.steps, &params)?;
            }
            hist.interrupted = true;
            hist.stopped_by = "interrupted".into();
            Err(Error::TrainInterrupted {
                step: hist.steps,
                total: plan.total,
            })
        }
        Err(e) => {
            if matches!(e, Error::Diverged { .. }) {
                hist.stopped_by = "diverged".into();
            }
            Err(e)
        }
    }
}

/// The checked plan of a run.
struct Plan {
    bs: usize,
    total: usize,
    stop_name: &'static str,
    log_every: usize,
    track_every: usize,
}

fn check(m: &Network, data: &Dataset, o: &TrainOpts) -> Result<Plan> {
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
    let mut track_every = 0;
    if let Some(t) = &o.track {
        let p = m.num_params();
        track_every = match t.every {
            Some(0) => {
                return Err(Error::shape(
                    "train",
                    "track.every ≥ 1 (steps between tracked points)",
                    "every = 0",
                ))
            }
            Some(e) => e,
            None => (total / 50).max(1),
        };
        if t.top == 0 || t.top > p {
            return Err(Error::shape(
                "train",
                format!("track.top between 1 and {p} (the number of parameters)"),
                format!("top = {}", t.top),
            ));
        }
        if !(t.tol.is_finite() && t.tol > 0.0) {
            return Err(Error::invalid(
                "train",
                format!("track.tol: expected a finite number > 0, got {}", t.tol),
            ));
        }
    }
    Ok(Plan {
        bs,
        total,
        stop_name,
        log_every,
        track_every,
    })
}

/// Records the curvature at tracked points, warm-starting each Lanczos run
/// from the previous point's Ritz vectors.
struct Tracker<'a> {
    o: &'a TrackOpts,
    data: &'a Dataset,
    tmpl: Network,
    prev: Option<Vec<f64>>,
}

impl Tracker<'_> {
    /// Top eigenvalues (largest first), matvecs, residual/λ₁ and the Ritz
    /// vectors' sum at `params`.
    fn record(&mut self, t: &mut Tracked, step: usize, params: &[f64]) -> Result<f64> {
        let t0 = Instant::now();
        self.tmpl.set_params(params)?;
        let r = top_with_vectors(
            &self.tmpl,
            self.data,
            self.o.top,
            self.o.tol,
            self.o.seed,
            self.prev.take(),
        )?;
        let lam1 = r.values.first().copied().unwrap_or(f64::NAN);
        t.steps.push(step);
        t.matvecs.push(r.matvecs);
        t.residual
            .push(r.max_residual / lam1.abs().max(f64::MIN_POSITIVE));
        t.top.push(r.values);
        self.prev = Some(r.start);
        if self.o.trace_probes > 0 {
            let mut op = ModelCurvature::new("train", &self.tmpl, self.data, Curvature::Hessian)?;
            let tr = hutchinson(&mut op, self.o.trace_probes, self.o.seed)?;
            t.trace.push(tr.value);
            t.trace_stderr.push(tr.stderr);
        }
        t.seconds += t0.elapsed().as_secs_f64();
        Ok(lam1)
    }
}

/// What [`top_with_vectors`] found.
pub struct TopEigs {
    /// The k largest eigenvalues, largest first.
    pub values: Vec<f64>,
    /// Hessian-vector products used.
    pub matvecs: usize,
    /// The largest Ritz residual ‖H y − θ y‖.
    pub max_residual: f64,
    /// The sum of the Ritz vectors: the warm start for a nearby point.
    pub start: Vec<f64>,
}

/// The `k` largest Hessian eigenvalues of `m`'s loss over `data` by
/// Lanczos (residuals ≤ `tol`·λ₁), started from `start` when given (a warm
/// start: the [`TopEigs::start`] of a nearby point), else from `seed`.
pub fn top_with_vectors(
    m: &Network,
    data: &Dataset,
    k: usize,
    tol: f64,
    seed: u64,
    start: Option<Vec<f64>>,
) -> Result<TopEigs> {
    let mut op = ModelCurvature::new("top_eigs", m, data, Curvature::Hessian)?;
    let lo = LanczosOpts {
        k,
        tol,
        seed,
        vectors: true,
        start,
        rel_to_top: true,
        ..LanczosOpts::default()
    };
    let r = lanczos_top(&mut op, &lo)?;
    let mut values = r.spectrum.values().to_vec();
    values.reverse();
    let y = r
        .vectors
        .ok_or_else(|| Error::invalid("top_eigs", "internal: no Ritz vectors"))?;
    let mut start = vec![0.0; y.rows()];
    for j in 0..y.cols() {
        for (i, s) in start.iter_mut().enumerate() {
            *s += y.at(i, j);
        }
    }
    Ok(TopEigs {
        values,
        matvecs: r.spectrum.info.matvecs,
        max_residual: r
            .spectrum
            .info
            .residuals
            .iter()
            .cloned()
            .fold(0.0_f64, f64::max),
        start,
    })
}

/// Records the loss, accuracy, gradient norm (and test loss and accuracy)
/// at `params`; returns (‖∇L‖, L).
fn log_point(
    tmpl: &Network,
    full: &Batch,
    data: &Dataset,
    test: Option<&Dataset>,
    hist: &mut History,
    step: usize,
    params: &[f64],
) -> Result<(f64, f64)> {
    let (loss, g) = tmpl.loss_grad_batch(full, params)?;
    let gn = crate::mat::norm(&g);
    let mut mm = tmpl.clone();
    mm.set_params(params)?;
    hist.step.push(step);
    hist.loss.push(loss);
    hist.acc.push(mm.accuracy(data)?);
    hist.grad_norm.push(gn);
    if let Some(t) = test {
        let (tl, ta) = mm.eval(t)?;
        hist.test_loss.push(tl);
        hist.test_acc.push(ta);
    }
    Ok((gn, loss))
}

/// The training loop; returns what stopped it. `params` always holds the
/// last finite parameters, `hist` what was recorded.
fn run(
    m: &Network,
    data: &Dataset,
    o: &TrainOpts,
    plan: &Plan,
    hist: &mut History,
    params: &mut Vec<f64>,
) -> Result<&'static str> {
    let n = data.len();
    let (bs, total) = (plan.bs, plan.total);
    let full = m.batch("train", data)?;
    let test = match &o.test {
        Some(t) => Some((t, m.batch("train", t)?)),
        None => None,
    };
    let mut rng = Rng::new(o.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut buf = vec![0.0; m.num_params()];
    let progress = Progress::new("train", total as u64);
    let mut stopped_by = plan.stop_name;
    let mut tracker = o.track.as_ref().map(|t| Tracker {
        o: t,
        data,
        tmpl: m.clone(),
        prev: None,
    });
    if tracker.is_some() {
        hist.tracked = Some(Tracked::default());
    }
    let show = |loss: f64, sharp: Option<f64>| match sharp {
        Some(s) => progress.message(format!("loss {loss:.4e}  λ₁ {s:.4}")),
        None => progress.message(format!("loss {loss:.4e}")),
    };

    let tmpl = m.clone();
    let test_set = test.as_ref().map(|(t, _)| *t);
    let log = |hist: &mut History, step: usize, params: &[f64]| -> Result<(f64, f64)> {
        log_point(&tmpl, &full, data, test_set, hist, step, params)
    };
    let mut track = |hist: &mut History, step: usize, params: &[f64]| -> Result<Option<f64>> {
        match (&mut tracker, &mut hist.tracked) {
            (Some(tr), Some(t)) => Ok(Some(tr.record(t, step, params)?)),
            _ => Ok(None),
        }
    };

    let (mut gn, mut last_loss) = log(hist, 0, params)?;
    let mut sharp = track(hist, 0, params)?;
    show(last_loss, sharp);
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
        check_interrupt("train")?;
        let (loss, mut g) = if full_batch {
            tmpl.loss_grad_batch(&full, params)?
        } else {
            if next_batch == batches.len() {
                if o.shuffle {
                    rng.shuffle(&mut order);
                }
                batches = make_batches(&full, &order, bs)?;
                next_batch = 0;
            }
            let r = tmpl.loss_grad_batch(&batches[next_batch], params)?;
            next_batch += 1;
            r
        };
        if !loss.is_finite() || g.iter().any(|x| !x.is_finite()) {
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
            crate::mat::axpy(o.weight_decay, params, &mut g);
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
            return Err(Error::Diverged {
                step: step + 1,
                loss: f64::INFINITY,
                lr: o.lr,
            });
        }
        *params = new;
        step += 1;
        hist.steps = step;
        progress.inc(1);
        if step % plan.log_every == 0 || step == total {
            let (g2, l) = log(hist, step, params)?;
            gn = g2;
            last_loss = l;
            if !l.is_finite() {
                return Err(Error::Diverged {
                    step,
                    loss: l,
                    lr: o.lr,
                });
            }
            show(last_loss, sharp);
        }
        if plan.track_every > 0 && (step % plan.track_every == 0 || step == total) {
            sharp = track(hist, step, params)?.or(sharp);
            show(last_loss, sharp);
        }
    }
    if hist.step.last() != Some(&step) {
        log(hist, step, params)?;
    }
    let tracked_last = hist.tracked.as_ref().and_then(|t| t.steps.last().copied());
    if hist.tracked.is_some() && tracked_last != Some(step) {
        track(hist, step, params)?;
    }
    drop(progress);
    hist.steps = step;
    Ok(stopped_by)
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

    fn cold_top(m: &Network, d: &Dataset, k: usize) -> (Vec<f64>, usize) {
        let mut op = ModelCurvature::new("top_eigs", m, d, Curvature::Hessian).unwrap();
        let r = lanczos_top(
            &mut op,
            &LanczosOpts {
                k,
                tol: 1e-6,
                rel_to_top: true,
                ..LanczosOpts::default()
            },
        )
        .unwrap();
        let mut v = r.spectrum.values().to_vec();
        v.reverse();
        (v, r.spectrum.info.matvecs)
    }

    fn exact_top(m: &Network, d: &Dataset, k: usize) -> Vec<f64> {
        let h = crate::curvature::hessian::hessian(m, d, 10_000).unwrap();
        let (mut all, _) = crate::linalg::sym_eigvals(&h).unwrap();
        all.reverse();
        all.truncate(k);
        all
    }

    #[test]
    fn tracked_eigenvalues_equal_separate_runs_and_warm_starts_are_cheaper() {
        let d = blobs(48, 3);
        let track = TrackOpts {
            every: Some(4),
            top: 2,
            trace_probes: 50,
            ..TrackOpts::default()
        };
        let o = TrainOpts {
            lr: 0.5,
            steps: Some(10),
            momentum: 0.5,
            weight_decay: 1e-3,
            track: Some(track),
            ..TrainOpts::default()
        };
        let mut a = net(3);
        let start = a.clone();
        let h = train(&mut a, &d, &o).unwrap();
        let t = h.tracked.as_ref().unwrap();
        assert_eq!(t.steps, vec![0, 4, 8, 10]);
        assert_eq!(t.top.len(), 4);
        assert_eq!(t.trace.len(), 4);
        assert_eq!(h.sharpness_len(), 4);
        assert!((h.stability_threshold() - (3.0 / 0.5 - 1e-3)).abs() < 1e-12);
        // The same parameters reached by a separate run of 8 steps, and the
        // end: the exact top eigenvalues (dense) agree to the tolerance.
        let mut b = start.clone();
        train(
            &mut b,
            &d,
            &TrainOpts {
                steps: Some(8),
                track: None,
                ..o.clone()
            },
        )
        .unwrap();
        for (m, i) in [(&start, 0), (&b, 2), (&a, 3)] {
            let want = exact_top(m, &d, 2);
            for (g, w) in t.top[i].iter().zip(&want) {
                assert!((g - w).abs() <= 1e-6 * want[0], "step {i}: {g} vs {w}");
            }
            let h = crate::curvature::hessian::hessian(m, &d, 10_000).unwrap();
            let tr: f64 = (0..h.rows()).map(|j| h.at(j, j)).sum();
            let se = t.trace_stderr[i];
            assert!(
                (t.trace[i] - tr).abs() < 5.0 * se + 1e-9,
                "{} vs {tr}",
                t.trace[i]
            );
        }
        // Warm starts need fewer products than cold ones at the same points.
        let (cold, cold_mv) = cold_top(&a, &d, 2);
        assert!((cold[0] - t.top[3][0]).abs() <= 1e-6 * cold[0]);
        assert!(
            t.matvecs[3] < cold_mv,
            "warm {} vs cold {cold_mv}",
            t.matvecs[3]
        );
    }

    #[test]
    fn tracking_bad_options_are_errors() {
        let d = blobs(16, 1);
        let mut m = net(1);
        let p = m.num_params();
        let with = |t: TrackOpts| TrainOpts {
            steps: Some(3),
            track: Some(t),
            ..TrainOpts::default()
        };
        let e = train(
            &mut m,
            &d,
            &with(TrackOpts {
                every: Some(0),
                ..TrackOpts::default()
            }),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("train: expected track.every ≥ 1"), "{e}");
        let e = train(
            &mut m,
            &d,
            &with(TrackOpts {
                top: p + 1,
                ..TrackOpts::default()
            }),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(&format!("between 1 and {p}")), "{e}");
        let e = train(
            &mut m,
            &d,
            &with(TrackOpts {
                tol: 0.0,
                ..TrackOpts::default()
            }),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("track.tol"), "{e}");
    }

    #[test]
    fn minibatch_tracking_ends_at_the_last_step() {
        let d = blobs(40, 2);
        let mut m = net(2);
        let mut h = History::default();
        train_recording(
            &mut m,
            &d,
            &TrainOpts {
                batch: 8,
                epochs: Some(3),
                track: Some(TrackOpts {
                    every: Some(4),
                    ..TrackOpts::default()
                }),
                ..TrainOpts::default()
            },
            &mut h,
        )
        .unwrap();
        let t = h.tracked.unwrap();
        assert_eq!(t.steps, vec![0, 4, 8, 12, 15]);
        let (cold, _) = cold_top(&m, &d, 1);
        assert!((t.top[4][0] - cold[0]).abs() <= 2e-6 * cold[0]);
    }
}
