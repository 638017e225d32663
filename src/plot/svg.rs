//! The SVG renderer: `plotters`' SVG backend into a `String`.
//!
//! As in the text renderer, series are drawn in normalized [0, 1]²
//! coordinates; tick positions are chosen in drawing space (decades on a log
//! axis, 0 and ±10^k on a symlog axis, 1-2-5 steps otherwise) and labelled
//! with the original values.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{step_corners, ticks, Chart, Prepared, Scale, Style, PALETTE};
use crate::error::{Error, Result};

fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::invalid("plot", format!("SVG drawing failed: {e}"))
}

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// The [0, 1] axis that series are drawn on, with ticks chosen by us
/// (`plotters`' `WithKeyPoints` over `f64` offers no label formatter).
struct UnitAxis {
    ticks: Vec<f64>,
}

impl Ranged for UnitAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let px = limit.0 as f64 + (limit.1 - limit.0) as f64 * v;
        if px.is_finite() {
            px.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
        } else {
            limit.0
        }
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        0.0..1.0
    }
}

/// One SVG document with `charts` stacked top to bottom.
pub(super) fn render(charts: &[Chart]) -> Result<String> {
    for c in charts {
        c.validate()?;
    }
    let width = charts.iter().map(|c| c.width).max().unwrap_or(640);
    let height = charts.iter().map(|c| c.height).sum::<u32>().max(1);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut rest = root.clone();
        for c in charts {
            let (top, bottom) = rest.split_vertically(c.height);
            draw(&top, c)?;
            rest = bottom;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(buf)
}

/// Draws one chart into `area`.
fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<()> {
    let p = chart.prepare(true);
    let (w, h) = area.dim_in_pixel();

    // Footer lines under the plot.
    let mut foot = p.notes.clone();
    if p.empty {
        foot.insert(0, "no finite data to plot".to_string());
    }
    let line_h = 16u32;
    let foot_h = if foot.is_empty() {
        0
    } else {
        (line_h * foot.len() as u32 + 6).min(h / 2)
    };
    let (main, bottom) = area.split_vertically(h - foot_h);
    for (i, note) in foot.iter().enumerate() {
        let y = (i as u32 * line_h) as i32;
        let style = ("sans-serif", 15).into_font().color(&BLACK);
        bottom
            .draw(&Text::new(note.as_str(), (12, y), style))
            .map_err(draw_err)?;
    }

    let y_desc = match (&chart.y_label, p.scale.describe()) {
        (Some(y), Some(s)) => Some(format!("{y} ({s})")),
        (Some(y), None) => Some(y.clone()),
        (None, s) => s,
    };
    let mut builder = ChartBuilder::on(&main);
    builder
        .margin(12)
        .x_label_area_size(if chart.x_label.is_some() { 48 } else { 30 })
        .y_label_area_size(if y_desc.is_some() { 80 } else { 62 });
    if let Some(t) = &chart.title {
        builder.caption(t, ("sans-serif", 22));
    }
    let (xt, yt) = if p.empty {
        (vec![], vec![])
    } else {
        let nx = (w / 110).clamp(3, 10) as usize;
        let ny = (h / 45).clamp(3, 10) as usize;
        let xt = ticks(p.x, Scale::Linear, nx)
            .into_iter()
            .map(|v| p.x.norm(v));
        let yt = ticks(p.y, p.scale, ny).into_iter().map(|v| p.y.norm(v));
        (xt.collect(), yt.collect())
    };
    let mut cc = builder
        .build_cartesian_2d(UnitAxis { ticks: xt }, UnitAxis { ticks: yt })
        .map_err(draw_err)?;

    let (xa, ya, scale) = (p.x, p.y, p.scale);
    let whole = chart.y_counts;
    let x_fmt = move |u: &f64| xa.label(*u, Scale::Linear, false);
    let y_fmt = move |v: &f64| ya.label(*v, scale, whole);
    let mut mesh = cc.configure_mesh();
    mesh.x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .bold_line_style(BLACK.mix(0.12))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16));
    if let Some(x) = &chart.x_label {
        mesh.x_desc(x.as_str());
    }
    if let Some(y) = y_desc {
        mesh.y_desc(y);
    }
    mesh.draw().map_err(draw_err)?;

    let zero_style = BLACK.mix(0.45).stroke_width(1);
    if p.scale != Scale::Log10 && p.y.contains_inside(0.0) {
        let v = p.y.norm(0.0);
        cc.draw_series(LineSeries::new([(0.0, v), (1.0, v)], zero_style))
            .map_err(draw_err)?;
    }
    if p.x.contains_inside(0.0) {
        let u = p.x.norm(0.0);
        cc.draw_series(LineSeries::new([(u, 0.0), (u, 1.0)], zero_style))
            .map_err(draw_err)?;
    }

    draw_series(&mut cc, &p)?;
    if p.legend() {
        cc.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK.mix(0.4))
            .background_style(WHITE.mix(0.85))
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

type Ctx<'a, DB> = ChartContext<'a, DB, Cartesian2d<UnitAxis, UnitAxis>>;

fn draw_series<DB: DrawingBackend>(cc: &mut Ctx<'_, DB>, p: &Prepared) -> Result<()> {
    let legend = p.legend();
    for (i, s) in p.series.iter().enumerate() {
        let c = color(i);
        let name = s.name.as_str();
        match s.style {
            Style::Line | Style::Steps => {
                let mut pts = p.normalized(s);
                if s.style == Style::Steps {
                    pts = step_corners(&pts);
                }
                let style = c.stroke_width(2);
                if pts.len() == 1 {
                    let a = cc
                        .draw_series(pts.iter().map(|&q| Circle::new(q, 3, c.filled())))
                        .map_err(draw_err)?;
                    if legend {
                        a.label(name)
                            .legend(move |(x, y)| Circle::new((x + 9, y), 3, c.filled()));
                    }
                } else {
                    let a = cc
                        .draw_series(LineSeries::new(pts, style))
                        .map_err(draw_err)?;
                    if legend {
                        a.label(name).legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], style)
                        });
                    }
                }
            }
            Style::Points => {
                let pts = p.normalized(s);
                let r = if pts.len() > 2000 { 1 } else { 2 };
                let a = cc
                    .draw_series(pts.iter().map(|&q| Circle::new(q, r, c.filled())))
                    .map_err(draw_err)?;
                if legend {
                    a.label(name)
                        .legend(move |(x, y)| Circle::new((x + 9, y), 3, c.filled()));
                }
            }
            Style::Bars { .. } => {
                let fill = c.mix(0.75).filled();
                let bars = p.bars(s);
                let a = cc
                    .draw_series(
                        bars.iter()
                            .map(|&(l, r, b, t)| Rectangle::new([(l, b), (r, t)], fill)),
                    )
                    .map_err(draw_err)?;
                if legend {
                    a.label(name)
                        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], fill));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{histogram, spectrum_chart, Figure, Series};
    use super::*;

    fn wellformed(s: &str) {
        assert!(
            s.trim_start().starts_with("<svg"),
            "{}",
            &s[..s.len().min(200)]
        );
        assert!(s.trim_end().ends_with("</svg>"));
        // Every opened element is closed (self-closing or a matching end tag).
        let opens = s.matches('<').count();
        assert_eq!(opens, s.matches('>').count());
    }

    #[test]
    fn line_chart_svg() {
        let xs: Vec<f64> = (0..30).map(|i| i as f64).collect();
        let ys: Vec<f64> = xs.iter().map(|x| x * x).collect();
        let s = Chart::line(xs, ys)
            .title("Squares & <cubes>")
            .x_label("step")
            .y_label("loss")
            .to_svg()
            .unwrap();
        wellformed(&s);
        assert!(s.contains("<polyline") || s.contains("<path"));
        assert!(s.contains("Squares &amp; &lt;cubes&gt;"), "title escaped");
        assert!(s.contains("\nstep\n</text>"), "x label");
        assert!(s.contains("\nloss\n</text>"), "y label");
        assert!(s.contains("\n800\n</text>"), "a y tick label");
        assert!(s.contains("width=\"640\"") && s.contains("height=\"400\""));
    }

    #[test]
    fn bars_and_legend_svg() {
        let values: Vec<f64> = (0..300).map(|i| (i as f64 * 0.37).sin()).collect();
        let s = histogram(&values, 12, false)
            .unwrap()
            .title("hist")
            .to_svg()
            .unwrap();
        wellformed(&s);
        assert!(s.matches("<rect").count() >= 12);
        assert!(!s.contains("e-1"), "no round-off in tick labels");
        assert!(s.contains("hist"));
        let xs: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let s = Chart::new()
            .with_series(Series::line("loss", xs.clone(), xs.clone()))
            .with_series(Series::points("test loss", xs.clone(), xs.clone()))
            .to_svg()
            .unwrap();
        assert!(s.contains("\ntest loss\n</text>") && s.contains("\nloss\n</text>"));
        assert!(s.contains("<circle"));
    }

    #[test]
    fn log_svg_labels_original_values_and_notes_drops() {
        let ys = vec![0.001, 0.1, 0.0, 10.0, 1000.0, -3.0];
        let s = Chart::values(ys).log_y(true).to_svg().unwrap();
        wellformed(&s);
        assert!(s.contains("dropped 2 non-positive values (log axis)"));
        assert!(s.contains("log10 scale"));
        for label in ["0.001", "0.1", "10", "1000"] {
            assert!(s.contains(&format!("\n{label}\n</text>")), "{label}");
        }
        let s = spectrum_chart(&[-2.0, -0.1, 0.0, 0.3, 5.0, 300.0], Some("spec"), true)
            .to_svg()
            .unwrap();
        wellformed(&s);
        assert!(s.contains("symlog"));
    }

    #[test]
    fn figure_stacks() {
        let a = Chart::values(vec![1.0, 0.5, 0.2]).title("loss");
        let b = Chart::values(vec![0.1, 0.6, 0.9])
            .title("accuracy")
            .size(640, 300)
            .unwrap();
        let s = Figure::new(vec![a, b]).to_svg().unwrap();
        wellformed(&s);
        assert!(s.contains("height=\"700\""));
        assert!(s.contains("loss") && s.contains("accuracy"));
        wellformed(&Figure::default().to_svg().unwrap());
    }

    #[test]
    fn degenerate_svg_does_not_fail() {
        let nan = f64::NAN;
        let cases = vec![
            Chart::new(),
            Chart::line(vec![1.0], vec![2.0]),
            Chart::line(vec![1.0, 2.0], vec![3.0, 3.0]),
            Chart::line(vec![nan, 1.0], vec![1.0, nan]),
            Chart::line(vec![0.0, 1.0], vec![-1e308, 1e308]),
            Chart::values(vec![-1.0, 0.0]).log_y(true),
            Chart::new().with_series(Series::bars("b", vec![2.0], vec![5.0], None)),
            Chart::new().with_series(Series::steps("s", vec![0.0, 1.0], vec![1.0, 2.0])),
            histogram(&[3.0; 4], 2, true).unwrap(),
        ];
        for (i, c) in cases.iter().enumerate() {
            let s = c.to_svg().unwrap_or_else(|e| panic!("case {i}: {e}"));
            wellformed(&s);
        }
        assert!(cases[0]
            .to_svg()
            .unwrap()
            .contains("no finite data to plot"));
    }
}
