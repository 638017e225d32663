//! Charts of hlab's own values: training histories (and, as they land,
//! spectra, densities and landscape curves).

use super::{Chart, Figure, Series};
use crate::train::History;

fn steps(h: &History) -> Vec<f64> {
    h.step.iter().map(|&s| s as f64).collect()
}

/// Loss (train and test) above accuracy (train and test), against the step.
pub fn history(h: &History) -> Figure {
    let xs = steps(h);
    let mut loss = Chart::new()
        .title("loss")
        .x_label("step")
        .with_series(Series::line("train loss", xs.clone(), h.loss.clone()));
    if !h.test_loss.is_empty() {
        loss = loss.with_series(Series::line("test loss", xs.clone(), h.test_loss.clone()));
    }
    let mut acc = Chart::new()
        .title("accuracy")
        .x_label("step")
        .with_series(Series::line("train acc", xs.clone(), h.acc.clone()));
    if !h.test_acc.is_empty() {
        acc = acc.with_series(Series::line("test acc", xs, h.test_acc.clone()));
    }
    Figure::new(vec![loss, acc])
}
