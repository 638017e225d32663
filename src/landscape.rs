//! Loss landscapes along lines: `w(t) = (1 − t)·a + t·b`.
//!
//! The paper's E5 asks whether a barrier separates a large-batch solution
//! from a small-batch one reached from it; the answer is the loss along the
//! line between them, evaluated on the whole training set (and a test set).

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Network;
use crate::progress::{check_interrupt, Progress};

/// Where to evaluate along the line.
#[derive(Clone, Debug, PartialEq)]
pub struct LineOpts {
    /// First t (−0.5).
    pub from: f64,
    /// Last t (1.5).
    pub to: f64,
    /// Number of points, both ends included (41).
    pub steps: usize,
}

impl Default for LineOpts {
    fn default() -> Self {
        LineOpts {
            from: -0.5,
            to: 1.5,
            steps: 41,
        }
    }
}

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
    let mut m = template.clone();
    let mut c = Curve::default();
    let progress = Progress::new("interpolate", o.steps as u64);
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
}
