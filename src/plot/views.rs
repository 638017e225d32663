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
        .y_label("loss")
        .with_series(Series::line("train loss", xs.clone(), h.loss.clone()));
    if !h.test_loss.is_empty() {
        loss = loss.with_series(Series::line("test loss", xs.clone(), h.test_loss.clone()));
    }
    let mut acc = Chart::new()
        .title("accuracy")
        .x_label("step")
        .y_label("accuracy")
        .with_series(Series::line("train acc", xs.clone(), h.acc.clone()));
    if !h.test_acc.is_empty() {
        acc = acc.with_series(Series::line("test acc", xs, h.test_acc.clone()));
    }
    let mut charts = vec![loss, acc];
    if let Some(t) = &h.tracked {
        charts.push(sharpness(h, t));
    }
    Figure::new(charts)
}

/// The tracked top eigenvalues against the step, with the stability line
/// (2 + 2β)/lr − wd drawn across.
pub fn sharpness(h: &History, t: &crate::train::Tracked) -> Chart {
    let xs: Vec<f64> = t.steps.iter().map(|&s| s as f64).collect();
    let edge = h.stability_threshold();
    let k = t.top.iter().map(Vec::len).max().unwrap_or(0);
    let mut c = Chart::new()
        .title("sharpness (top Hessian eigenvalues)")
        .x_label("step");
    for j in 0..k {
        let ys = t
            .top
            .iter()
            .map(|v| v.get(j).copied().unwrap_or(f64::NAN))
            .collect();
        c = c.with_series(Series::line(format!("λ{}", j + 1), xs.clone(), ys));
    }
    let (x0, x1) = (
        xs.first().copied().unwrap_or(0.0),
        xs.last().copied().unwrap_or(1.0),
    );
    let label = if h.momentum == 0.0 && h.weight_decay == 0.0 {
        "2/lr".to_string()
    } else {
        "(2 + 2β)/lr − wd".to_string()
    };
    c.with_series(Series::line(label.clone(), vec![x0, x1], vec![edge, edge]))
        .note(format!("{label} = {}", super::fmt_num(edge)))
}

/// Eigenvalue against its index (ascending), points; symmetric-log y when
/// `symlog` (so negative eigenvalues, the bulk and the outliers share one axis).
pub fn spectrum(s: &crate::spectrum::Spectrum, symlog: bool) -> Figure {
    let title = format!(
        "{} eigenvalues of the {} ({})",
        s.len(),
        s.info.matrix,
        s.info.method
    );
    let mut c = super::spectrum_chart(s.values(), Some(&title), symlog);
    if let Some(series) = c.series.first_mut() {
        series.style = super::Style::Points;
    }
    Figure::new(vec![c])
}

/// The density on a log y axis (values below 1e-10 of the peak are floored
/// there, so the tails do not swallow the axis).
pub fn density(d: &crate::spectrum::Density) -> Figure {
    let peak = d.y.iter().cloned().fold(0.0_f64, f64::max);
    let floor = if peak > 0.0 { peak * 1e-10 } else { 1e-300 };
    let ys: Vec<f64> = d.y.iter().map(|&y| y.max(floor)).collect();
    let c = Chart::new()
        .title(format!(
            "spectral density of the {} ({}, {} probes × {} steps)",
            d.info.matrix,
            d.info.method,
            d.info.probes.unwrap_or(0),
            d.info.steps.unwrap_or(0)
        ))
        .x_label("eigenvalue")
        .y_label("density")
        .with_series(Series::line("density", d.x.clone(), ys))
        .log_y(true);
    Figure::new(vec![c])
}

/// Loss (train, test) above accuracy along the line parameter t.
pub fn curve(c: &crate::landscape::Curve) -> Figure {
    let mut loss = Chart::new()
        .title("loss along w(t) = (1 − t)·a + t·b")
        .x_label("t")
        .y_label("loss")
        .with_series(Series::line("train loss", c.t.clone(), c.loss.clone()));
    if !c.test_loss.is_empty() {
        loss = loss.with_series(Series::line("test loss", c.t.clone(), c.test_loss.clone()));
    }
    let mut acc = Chart::new()
        .title("accuracy along the line")
        .x_label("t")
        .y_label("accuracy")
        .with_series(Series::line("train acc", c.t.clone(), c.acc.clone()));
    if !c.test_acc.is_empty() {
        acc = acc.with_series(Series::line("test acc", c.t.clone(), c.test_acc.clone()));
    }
    let mut charts = vec![loss, acc];
    if !c.top.is_empty() {
        let sharp = c
            .top
            .iter()
            .map(|v| v.first().copied().unwrap_or(f64::NAN))
            .collect();
        charts.push(
            Chart::new()
                .title("sharpness λ₁ along the line")
                .x_label("t")
                .with_series(Series::line("λ1", c.t.clone(), sharp)),
        );
    }
    Figure::new(charts)
}
/// The surface's training loss as a heat map with contours (log bands when
/// the loss spans more than a decade).
pub fn surface(s: &crate::landscape::Surface) -> crate::Result<super::heatmap::HeatMap> {
    let z: Vec<Vec<f64>> = (0..s.loss.rows()).map(|i| s.loss.row(i).to_vec()).collect();
    let mut h = super::heatmap::HeatMap::new(s.a.clone(), s.b.clone(), z)?;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in s.loss.data() {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    h.log = lo > 0.0 && hi > 10.0 * lo;
    h.title = Some(format!(
        "training loss on the plane w + a·d₁ + b·d₂ ({} directions)",
        s.dirs
    ));
    h.x_label = "a (along d₁)".into();
    h.y_label = "b (along d₂)".into();
    if s.a.first().is_some_and(|&x| x <= 0.0) && s.a.last().is_some_and(|&x| x >= 0.0) {
        h.mark = Some((0.0, 0.0));
    }
    if let Some(c) = s.center_loss() {
        h.notes.push(format!(
            "'X' the model: loss {}; min {}, max {}",
            super::fmt_num(c),
            super::fmt_num(lo),
            super::fmt_num(hi)
        ));
    }
    Ok(h)
}
