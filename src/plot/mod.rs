//! Charts as text (a terminal) and as SVG (a notebook or a file).
//!
//! A [`Chart`] is plain data: a title, axis labels, a y-scale and a list of
//! [`Series`] (points `(x, y)` drawn as a line, dots, steps or bars). Two
//! renderers read it: [`Chart::to_text`] draws with braille dots through
//! `textplots`, [`Chart::to_svg`] through `plotters`' SVG backend. A
//! [`Figure`] stacks several charts vertically (loss above accuracy).
//!
//! # Scales
//!
//! The y-axis is [`Scale::Linear`], [`Scale::Log10`] (y ↦ log₁₀ y; values
//! ≤ 0 are dropped and the count is reported in a footer line) or
//! [`Scale::SymLog`] (y ↦ sign(y)·log₁₀(1 + |y|/c) with c = `linthresh`:
//! linear within about ±c, logarithmic beyond, defined for every y, so a
//! spectrum's few negative eigenvalues and its large outliers fit one axis).
//! Values are transformed before drawing and tick labels show the original
//! values.
//!
//! # Bad data
//!
//! Rendering never panics and never fails because of the data: points with a
//! NaN or infinite coordinate are skipped (a footer line says how many), a
//! constant series gets a small non-zero range, a single point is drawn as a
//! dot, and a chart with no finite point left is drawn as its title plus the
//! line `no finite data to plot`. Only bad *settings* are errors: a size
//! out of bounds ([`Chart::size`], [`Chart::to_svg`]), a non-positive
//! `linthresh`, a bin count out of bounds ([`histogram`]) and I/O.
//!
//! # Size
//!
//! `width` × `height` are SVG pixels (default 640 × 400). The terminal
//! renderer uses the same numbers at 8 pixels per column and 25 per row
//! (80 columns × 17 rows by default; the row count is rounded to 4k + 1 so
//! that y tick labels fall on every 4th row), so one `width` option works in
//! both front ends.
//!
//! # Example
//!
//! ```
//! use hlab::plot::{Chart, Series};
//! let xs: Vec<f64> = (0..50).map(|i| i as f64).collect();
//! let loss: Vec<f64> = xs.iter().map(|x| (-x / 10.0).exp()).collect();
//! let chart = Chart::new()
//!     .title("training")
//!     .with_series(Series::line("loss", xs.clone(), loss))
//!     .log_y(true);
//! let text = chart.to_text();
//! assert!(text.starts_with("training\n"));
//! assert!(text.contains("log10"));
//! assert!(chart.to_svg().unwrap().contains("<svg"));
//! ```

mod evcxr;
pub mod heatmap;
mod svg;
mod text;
pub mod views;

pub use text::colour_codes;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Smallest and largest `width` in pixels (text: 20 to 250 columns).
pub const WIDTH_RANGE: (u32, u32) = (160, 2000);
/// Smallest and largest `height` in pixels (text: 5 to 81 rows).
pub const HEIGHT_RANGE: (u32, u32) = (100, 2000);
/// Largest bin count [`histogram`] accepts.
pub const MAX_BINS: usize = 10_000;

/// How y values map onto the vertical axis.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Scale {
    /// y as is.
    #[default]
    Linear,
    /// log₁₀ y; values ≤ 0 are dropped (and counted in a footer line).
    Log10,
    /// sign(y)·log₁₀(1 + |y|/linthresh): linear near 0, logarithmic far out.
    SymLog {
        /// Where the axis turns from linear to logarithmic; must be > 0.
        linthresh: f64,
    },
}

impl Scale {
    /// The transformed value, or `None` when it has no place on the axis
    /// (y ≤ 0 on a log axis, or a transform that overflows).
    pub fn forward(self, y: f64) -> Option<f64> {
        let t = match self {
            Scale::Linear => y,
            Scale::Log10 => {
                if y > 0.0 {
                    y.log10()
                } else {
                    return None;
                }
            }
            Scale::SymLog { linthresh } => y.signum() * (y.abs() / linthresh).ln_1p() / 10f64.ln(),
        };
        t.is_finite().then_some(t)
    }

    /// The original value of a transformed one (inverse of [`Scale::forward`]).
    pub fn inverse(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log10 => 10f64.powf(t),
            Scale::SymLog { linthresh } => {
                if t == 0.0 {
                    0.0
                } else {
                    t.signum() * linthresh * (t.abs() * 10f64.ln()).exp_m1()
                }
            }
        }
    }

    /// A short description for a footer or an axis title: `log10 scale`, …;
    /// `None` for linear.
    pub fn describe(self) -> Option<String> {
        match self {
            Scale::Linear => None,
            Scale::Log10 => Some("log10 scale".to_string()),
            Scale::SymLog { linthresh } => Some(format!(
                "symlog scale, linear within ±{}",
                fmt_num(linthresh)
            )),
        }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Style {
    /// Points joined by straight segments (a single point shows as a dot).
    #[default]
    Line,
    /// Unjoined dots.
    Points,
    /// A staircase: each y holds from its x until the next x.
    Steps,
    /// Vertical bars centred on each x, from the baseline (0; the bottom of a
    /// log axis) to y.
    Bars {
        /// Bar width in x units; `None` uses the smallest gap between
        /// neighbouring x values (1 for a single bar).
        width: Option<f64>,
    },
}

/// One named set of points.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Shown in the legend when a chart has several series.
    pub name: String,
    /// x coordinates; for bars, the bar centres.
    pub xs: Vec<f64>,
    /// y coordinates (original values, not transformed by the scale). When
    /// `xs` and `ys` differ in length the extra values are ignored and a
    /// footer line says so.
    pub ys: Vec<f64>,
    /// How it is drawn.
    pub style: Style,
}

impl Series {
    /// A series with the given style.
    pub fn new(name: impl Into<String>, xs: Vec<f64>, ys: Vec<f64>, style: Style) -> Self {
        Series {
            name: name.into(),
            xs,
            ys,
            style,
        }
    }

    /// A line through `(xs[i], ys[i])`.
    pub fn line(name: impl Into<String>, xs: Vec<f64>, ys: Vec<f64>) -> Self {
        Self::new(name, xs, ys, Style::Line)
    }

    /// Unjoined dots at `(xs[i], ys[i])`.
    pub fn points(name: impl Into<String>, xs: Vec<f64>, ys: Vec<f64>) -> Self {
        Self::new(name, xs, ys, Style::Points)
    }

    /// A staircase through `(xs[i], ys[i])`.
    pub fn steps(name: impl Into<String>, xs: Vec<f64>, ys: Vec<f64>) -> Self {
        Self::new(name, xs, ys, Style::Steps)
    }

    /// Bars of height `ys[i]` centred on `xs[i]` (see [`Style::Bars`]).
    pub fn bars(name: impl Into<String>, xs: Vec<f64>, ys: Vec<f64>, width: Option<f64>) -> Self {
        Self::new(name, xs, ys, Style::Bars { width })
    }

    /// A line through `(i, ys[i])`, i = 0, 1, ….
    pub fn values(name: impl Into<String>, ys: Vec<f64>) -> Self {
        let xs = (0..ys.len()).map(|i| i as f64).collect();
        Self::line(name, xs, ys)
    }
}

/// A chart: series on shared axes, plus labels and footer notes.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// First line of the text output; caption of the SVG.
    pub title: Option<String>,
    /// Description of the x-axis.
    pub x_label: Option<String>,
    /// Description of the y-axis.
    pub y_label: Option<String>,
    /// What is drawn, in drawing order.
    pub series: Vec<Series>,
    /// The y-axis scale.
    pub y_scale: Scale,
    /// Width in pixels (text: 8 pixels per column); see [`WIDTH_RANGE`].
    pub width: u32,
    /// Height in pixels (text: 25 pixels per row); see [`HEIGHT_RANGE`].
    pub height: u32,
    /// Extra footer lines, shown under the chart (e.g. `λmax = 12.3`).
    pub notes: Vec<String>,
    /// Text columns of the whole chart (plot and tick labels); `None`: the
    /// terminal's width when stdout is one (or `$COLUMNS`), else `width` at
    /// 8 pixels per column.
    pub cols: Option<u32>,
    /// Text rows of the plot; `None`: `height` at 25 pixels per row.
    pub rows: Option<u32>,
    /// The y values are counts: tick labels are whole numbers (a histogram
    /// on a log scale labels 156, not 155.6).
    pub y_counts: bool,
    /// ANSI colours in the text: `Some(true)` always, `Some(false)` never,
    /// `None` as the command line decided ([`set_terminal_color`]).
    pub color: Option<bool>,
}

impl Default for Chart {
    fn default() -> Self {
        Self::new()
    }
}

impl Chart {
    /// An empty 640 × 400 chart with a linear y-axis.
    pub fn new() -> Self {
        Chart {
            title: None,
            x_label: None,
            y_label: None,
            series: Vec::new(),
            y_scale: Scale::Linear,
            width: 640,
            height: 400,
            notes: Vec::new(),
            cols: None,
            rows: None,
            y_counts: false,
            color: None,
        }
    }

    /// A chart of one line through `(xs[i], ys[i])`.
    pub fn line(xs: Vec<f64>, ys: Vec<f64>) -> Self {
        Self::new().with_series(Series::line("y", xs, ys))
    }

    /// A chart of one line through `(i, ys[i])`, i = 0, 1, ….
    pub fn values(ys: Vec<f64>) -> Self {
        Self::new().with_series(Series::values("y", ys))
    }

    /// Adds a series.
    pub fn with_series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the x-axis description.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = Some(label.into());
        self
    }

    /// Sets the y-axis description.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = Some(label.into());
        self
    }

    /// Adds a footer line.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// A log₁₀ y-axis when `on`, linear otherwise.
    pub fn log_y(mut self, on: bool) -> Self {
        self.y_scale = if on { Scale::Log10 } else { Scale::Linear };
        self
    }

    /// A symmetric-log y-axis, linear within about ±`linthresh`.
    ///
    /// Fails unless `linthresh` is finite and > 0.
    pub fn symlog_y(mut self, linthresh: f64) -> Result<Self> {
        check_linthresh(linthresh)?;
        self.y_scale = Scale::SymLog { linthresh };
        Ok(self)
    }

    /// Sets the size in pixels (text: 8 per column, 25 per row).
    ///
    /// Fails unless `width` is within [`WIDTH_RANGE`] and `height` within
    /// [`HEIGHT_RANGE`].
    pub fn size(mut self, width: u32, height: u32) -> Result<Self> {
        check_size(width, height)?;
        self.width = width;
        self.height = height;
        Ok(self)
    }

    /// Checks the settings that a renderer relies on (size, `linthresh`);
    /// [`Chart::to_svg`] calls it, [`Chart::to_text`] clamps instead.
    pub fn validate(&self) -> Result<()> {
        check_size(self.width, self.height)?;
        if let Scale::SymLog { linthresh } = self.y_scale {
            check_linthresh(linthresh)?;
        }
        Ok(())
    }

    /// The chart drawn with braille dots: title, the plot with y tick labels
    /// on the right and the x range underneath, a legend when there are
    /// several series, then footer lines (axis descriptions, the y-scale,
    /// skipped or dropped points, notes). No trailing newline. Several series
    /// get distinct ANSI colours (the legend too) when [`Chart::color`] says
    /// so, or, left unset, when the command line turned colour on
    /// ([`set_terminal_color`]); otherwise, and always in the kernel, plain.
    pub fn to_text(&self) -> String {
        text::render(self, self.color.unwrap_or_else(terminal_color))
    }

    /// As [`Chart::to_text`], never with colours.
    pub fn to_plain_text(&self) -> String {
        text::render(self, false)
    }

    /// As [`Chart::to_text`], with each of several series in its own ANSI
    /// colour.
    pub fn to_text_color(&self) -> String {
        text::render(self, true)
    }

    /// The chart as an SVG document (`<svg …>…</svg>`), `width` × `height`
    /// pixels, with tick labels, title, axis descriptions and a legend when
    /// there are several series.
    pub fn to_svg(&self) -> Result<String> {
        svg::render(std::slice::from_ref(self))
    }

    /// Writes [`Chart::to_svg`] to `path`, atomically (a temporary file in
    /// the same folder, then a rename).
    pub fn save_svg(&self, path: &Path) -> Result<()> {
        crate::fsio::write_atomic("save_svg", path, self.to_svg()?.as_bytes())
    }

    /// The data ready for drawing; `margins` widens the axes a little (SVG).
    fn prepare(&self, margins: bool) -> Prepared {
        prepare(self, margins)
    }
}

/// Several charts stacked vertically (e.g. loss above accuracy).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figure {
    /// Top to bottom.
    pub charts: Vec<Chart>,
    /// A heat map drawn instead of the charts (a loss landscape).
    pub heatmap: Option<heatmap::HeatMap>,
}

impl Figure {
    /// A figure of these charts, top to bottom.
    pub fn new(charts: Vec<Chart>) -> Self {
        Figure {
            charts,
            heatmap: None,
        }
    }

    /// A figure of one heat map.
    pub fn heat(h: heatmap::HeatMap) -> Self {
        Figure {
            charts: Vec::new(),
            heatmap: Some(h),
        }
    }

    /// Each chart's [`Chart::to_text`], separated by a blank line.
    pub fn to_text(&self) -> String {
        if let Some(h) = &self.heatmap {
            return h.to_text();
        }
        let parts: Vec<String> = self.charts.iter().map(Chart::to_text).collect();
        parts.join("\n\n")
    }

    /// As [`Figure::to_text`], never with colours (`to_string` in scripts).
    pub fn to_plain_text(&self) -> String {
        if let Some(h) = &self.heatmap {
            return h.to_text();
        }
        let parts: Vec<String> = self.charts.iter().map(Chart::to_plain_text).collect();
        parts.join("\n\n")
    }

    /// One SVG document: as wide as the widest chart, as tall as all of them.
    pub fn to_svg(&self) -> Result<String> {
        if let Some(h) = &self.heatmap {
            return h.to_svg();
        }
        svg::render(&self.charts)
    }

    /// Writes [`Figure::to_svg`] to `path`, atomically.
    pub fn save_svg(&self, path: &Path) -> Result<()> {
        crate::fsio::write_atomic("save_svg", path, self.to_svg()?.as_bytes())
    }
}

/// Equal-width bins over the range of the finite values.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    /// `counts.len() + 1` ascending edges; bin i is `[edges[i], edges[i+1])`,
    /// the last bin also holds its right edge.
    pub edges: Vec<f64>,
    /// How many values fall in each bin.
    pub counts: Vec<u64>,
    /// How many values were NaN or infinite (not counted).
    pub skipped: usize,
}

/// Counts the finite `values` into `bins` equal-width bins spanning
/// [min, max] (min ± 0.5 when all values are equal; [0, 1] when none is
/// finite).
///
/// Fails unless 1 ≤ `bins` ≤ [`MAX_BINS`].
pub fn bin_counts(values: &[f64], bins: usize) -> Result<Bins> {
    if bins == 0 || bins > MAX_BINS {
        return Err(Error::invalid(
            "hist",
            format!("expected bins between 1 and {MAX_BINS}, got {bins}"),
        ));
    }
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let skipped = values.len() - finite.len();
    let (mut lo, mut hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if finite.is_empty() {
        (lo, hi) = (0.0, 1.0);
    } else if hi <= lo {
        let pad = 0.5e-3 * lo.abs().max(1e3);
        (lo, hi) = (lo - pad, hi + pad);
    }
    // Interpolate instead of lo + i·(hi − lo), which overflows for huge ranges.
    let edges: Vec<f64> = (0..=bins)
        .map(|i| {
            let t = i as f64 / bins as f64;
            if i == bins {
                hi
            } else {
                lo * (1.0 - t) + hi * t
            }
        })
        .collect();
    let mut counts = vec![0u64; bins];
    let half_span = hi * 0.5 - lo * 0.5;
    for &v in &finite {
        let guess = ((v * 0.5 - lo * 0.5) / half_span * bins as f64).floor();
        let mut i = if guess.is_finite() {
            guess.clamp(0.0, (bins - 1) as f64) as usize
        } else {
            0
        };
        // Settle rounding at the edges so bins are exactly [e_i, e_{i+1}).
        while i > 0 && v < edges[i] {
            i -= 1;
        }
        while i + 1 < bins && v >= edges[i + 1] {
            i += 1;
        }
        counts[i] += 1;
    }
    Ok(Bins {
        edges,
        counts,
        skipped,
    })
}

/// A histogram of the finite `values` in `bins` equal-width bins, as bars
/// (series `count`: x = bin centres, y = counts). With `log_counts` the
/// y-axis is symlog with linthresh 1, i.e. log(1 + count): empty bins stay
/// at 0 and a lone outlier bin stays visible next to a tall bulk.
///
/// Fails unless 1 ≤ `bins` ≤ [`MAX_BINS`].
pub fn histogram(values: &[f64], bins: usize, log_counts: bool) -> Result<Chart> {
    let b = bin_counts(values, bins)?;
    let mut chart = Chart::new()
        .title(format!(
            "histogram of {} values ({bins} bins)",
            values.len()
        ))
        .x_label("value")
        .y_label("count");
    chart.y_counts = true;
    if log_counts {
        chart.y_scale = Scale::SymLog { linthresh: 1.0 };
    }
    if b.skipped > 0 {
        chart.notes.push(format!(
            "skipped {} non-finite value{}",
            b.skipped,
            plural(b.skipped)
        ));
    }
    if b.skipped == values.len() {
        return Ok(chart);
    }
    let width = b.edges[1] - b.edges[0];
    let centres = b
        .edges
        .windows(2)
        .map(|e| e[0] * 0.5 + e[1] * 0.5)
        .collect();
    let counts = b.counts.iter().map(|&c| c as f64).collect();
    Ok(chart.with_series(Series::bars("count", centres, counts, Some(width))))
}

/// Draws the density `d` over a histogram made by [`histogram`], scaled
/// to it: the expected count per bin, `n · bin width · φ(x)` with n the
/// values counted (an atom of `d` at zero is not drawn: its mass sits in
/// the bin holding 0). A chart without bars is returned unchanged.
pub fn overlay_density(mut chart: Chart, d: &crate::spectrum::Density) -> Chart {
    let Some(bars) = chart
        .series
        .iter()
        .find(|s| matches!(s.style, Style::Bars { .. }))
    else {
        return chart;
    };
    let total: f64 = bars.ys.iter().sum();
    let width = match bars.style {
        Style::Bars { width: Some(w) } => w,
        _ => match bars.xs.as_slice() {
            [a, b, ..] => b - a,
            _ => 1.0,
        },
    };
    let scale = total * width;
    let ys = d.y.iter().map(|&y| y * scale).collect();
    let name = format!("{} (scaled to the counts)", d.info.matrix);
    chart.series.push(Series::line(name, d.x.clone(), ys));
    chart
}

/// Eigenvalues (ascending) against their index 1..n, as a line; with
/// `symlog` the y-axis is symlog with linthresh 10⁻³·max|λ| (1 when all are
/// 0), so negative and outlying eigenvalues show together.
pub fn spectrum_chart(values_ascending: &[f64], title: Option<&str>, symlog: bool) -> Chart {
    let xs = (1..=values_ascending.len()).map(|i| i as f64).collect();
    let mut chart = Chart::new()
        .x_label("index (ascending)")
        .y_label("eigenvalue")
        .with_series(Series::line("eigenvalue", xs, values_ascending.to_vec()));
    chart.title = title.map(str::to_string);
    if symlog {
        let m = values_ascending
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let linthresh = if m > 0.0 && (m * 1e-3).is_normal() {
            m * 1e-3
        } else {
            1.0
        };
        chart.y_scale = Scale::SymLog { linthresh };
    }
    chart
}

fn check_size(width: u32, height: u32) -> Result<()> {
    let (wlo, whi) = WIDTH_RANGE;
    let (hlo, hhi) = HEIGHT_RANGE;
    if !(wlo..=whi).contains(&width) {
        return Err(Error::invalid(
            "plot",
            format!(
                "expected width between {wlo} and {whi} pixels (8 per text column), got {width}"
            ),
        ));
    }
    if !(hlo..=hhi).contains(&height) {
        return Err(Error::invalid(
            "plot",
            format!(
                "expected height between {hlo} and {hhi} pixels (25 per text row), got {height}"
            ),
        ));
    }
    Ok(())
}

fn check_linthresh(linthresh: f64) -> Result<()> {
    if linthresh.is_finite() && linthresh > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "plot",
            format!("expected a symlog linthresh > 0, got {linthresh}"),
        ))
    }
}

/// Whether text charts of the command line are in colour (see
/// [`set_terminal_color`]); off unless turned on, so the kernel and tests
/// get plain text.
static TERMINAL_COLOR: AtomicBool = AtomicBool::new(false);

/// Turns colour on or off for text charts whose `color` option is unset.
/// The command line (REPL, `hlab run`, `-e`) sets it from
/// [`color_from_env`]; the Jupyter kernel never does.
pub fn set_terminal_color(on: bool) {
    TERMINAL_COLOR.store(on, Ordering::Relaxed);
}

/// The colour setting of [`set_terminal_color`].
pub fn terminal_color() -> bool {
    TERMINAL_COLOR.load(Ordering::Relaxed)
}

/// Whether the command line should draw charts in colour: when stdout is a
/// terminal and `NO_COLOR` is unset or empty (<https://no-color.org>);
/// `CLICOLOR_FORCE` set to anything but `0` turns it on regardless.
pub fn color_from_env() -> bool {
    use std::io::IsTerminal;
    let set = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    set("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// Series colours (matplotlib's tab10), shared by both renderers.
const PALETTE: [(u8, u8, u8); 6] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
];

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub use crate::text::fmt_short as fmt_num;

/// One axis in drawing space (after the scale transform): `lo < hi`, both
/// finite. Renderers draw in normalized [0, 1] coordinates, so f32 and pixel
/// precision never meet raw values like 1e300 or 100000.5.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
}

impl Axis {
    /// An axis over [lo, hi], widened when (nearly) empty.
    fn new(lo: f64, hi: f64) -> Self {
        let scale = lo.abs().max(hi.abs());
        let half = hi * 0.5 - lo * 0.5;
        if half > 1e-12 * scale && half > 0.0 && half.is_finite() {
            return Axis { lo, hi };
        }
        let c = lo * 0.5 + hi * 0.5;
        let pad = (0.1 * c.abs()).max(if c == 0.0 { 1.0 } else { 1e-300 });
        Axis {
            lo: (c - pad).max(f64::MIN),
            hi: (c + pad).min(f64::MAX),
        }
    }

    /// Adds `frac` of the span below (unless `keep_lo`) and above.
    fn widen(self, frac: f64, keep_lo: bool) -> Self {
        let pad = (self.hi * 0.5 - self.lo * 0.5) * 2.0 * frac;
        let lo = if keep_lo { self.lo } else { self.lo - pad };
        let hi = self.hi + pad;
        if lo.is_finite() && hi.is_finite() {
            Axis { lo, hi }
        } else {
            self
        }
    }

    /// Position of `v` in [0, 1] (overflow-safe for huge ranges).
    fn norm(self, v: f64) -> f64 {
        (v * 0.5 - self.lo * 0.5) / (self.hi * 0.5 - self.lo * 0.5)
    }

    /// The value at position `u`.
    fn denorm(self, u: f64) -> f64 {
        2.0 * (self.lo * 0.5 + u * (self.hi * 0.5 - self.lo * 0.5))
    }

    /// Whether `v` lies inside, away from both ends (for zero lines that
    /// would otherwise double an axis).
    fn contains_inside(self, v: f64) -> bool {
        let u = self.norm(v);
        0.02 < u && u < 0.98
    }

    /// The tick label at position `u`: the original value under `scale`,
    /// with round-off around 0 (1e-16 for 0) removed.
    fn label(self, u: f64, scale: Scale, whole: bool) -> String {
        let t = self.denorm(u);
        let t = if t.abs() < 1e-9 * (self.hi * 0.5 - self.lo * 0.5) {
            0.0
        } else {
            t
        };
        let v = scale.inverse(t);
        fmt_num(if whole { v.round() } else { v })
    }
}

/// A series after filtering and transforming: `(x, scale(y))` in drawing
/// space (not yet normalized).
#[derive(Debug, Clone)]
struct Drawn {
    name: String,
    style: Style,
    pts: Vec<(f64, f64)>,
    /// Half the bar width (bars only).
    half: f64,
}

/// Everything a renderer needs.
#[derive(Debug, Clone)]
struct Prepared {
    series: Vec<Drawn>,
    /// The y-scale in effect (an invalid linthresh is replaced by 1).
    scale: Scale,
    x: Axis,
    y: Axis,
    /// Where bars start, in drawing space.
    base: f64,
    /// Footer lines about the data (skipped, dropped, length mismatch) and
    /// the chart's own notes.
    notes: Vec<String>,
    /// No finite point in any series.
    empty: bool,
}

impl Prepared {
    /// Positions in [0, 1]² of a series' points.
    fn normalized(&self, s: &Drawn) -> Vec<(f64, f64)> {
        s.pts
            .iter()
            .map(|&(x, y)| (self.x.norm(x), self.y.norm(y)))
            .collect()
    }

    /// Bars as (left, right, bottom, top) in [0, 1]².
    fn bars(&self, s: &Drawn) -> Vec<(f64, f64, f64, f64)> {
        let b = self.y.norm(self.base).clamp(0.0, 1.0);
        s.pts
            .iter()
            .map(|&(x, y)| {
                let l = self.x.norm(x - s.half).clamp(0.0, 1.0);
                let r = self.x.norm(x + s.half).clamp(0.0, 1.0);
                (l, r, b, self.y.norm(y).clamp(0.0, 1.0))
            })
            .collect()
    }

    /// Whether the legend is worth showing.
    fn legend(&self) -> bool {
        self.series.len() > 1
    }
}

/// Post-step corners: (x0,y0) (x1,y0) (x1,y1) (x2,y1) ….
fn step_corners(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(pts.len() * 2);
    for (i, &p) in pts.iter().enumerate() {
        if i > 0 {
            out.push((p.0, pts[i - 1].1));
        }
        out.push(p);
    }
    out
}

fn prepare(chart: &Chart, margins: bool) -> Prepared {
    let scale = match chart.y_scale {
        Scale::SymLog { linthresh } if check_linthresh(linthresh).is_err() => {
            Scale::SymLog { linthresh: 1.0 }
        }
        s => s,
    };
    let mut notes = Vec::new();
    let (mut skipped, mut dropped) = (0usize, 0usize);
    let mut series = Vec::with_capacity(chart.series.len());
    let mut has_bars = false;
    for s in &chart.series {
        let n = s.xs.len().min(s.ys.len());
        if s.xs.len() != s.ys.len() {
            notes.push(format!(
                "series '{}' has {} x and {} y values; plotted the first {n}",
                s.name,
                s.xs.len(),
                s.ys.len()
            ));
        }
        let mut pts = Vec::with_capacity(n);
        for (&x, &y) in s.xs.iter().zip(&s.ys) {
            if !x.is_finite() || !y.is_finite() {
                skipped += 1;
            } else if let Some(t) = scale.forward(y) {
                pts.push((x, t));
            } else {
                dropped += 1;
            }
        }
        let half = match s.style {
            Style::Bars { width } => {
                has_bars = true;
                bar_half_width(width, &pts)
            }
            _ => 0.0,
        };
        series.push(Drawn {
            name: s.name.clone(),
            style: s.style,
            pts,
            half,
        });
    }
    if skipped > 0 {
        notes.push(format!(
            "skipped {skipped} point{} with a NaN or infinite coordinate",
            plural(skipped)
        ));
    }
    if dropped > 0 {
        let pl = plural(dropped);
        notes.push(if scale == Scale::Log10 {
            format!("dropped {dropped} non-positive value{pl} (log axis)")
        } else {
            format!("dropped {dropped} value{pl} too large for the symlog axis")
        });
    }
    notes.extend(chart.notes.iter().cloned());

    let mut xr = (f64::INFINITY, f64::NEG_INFINITY);
    let mut yr = (f64::INFINITY, f64::NEG_INFINITY);
    for s in &series {
        for &(x, y) in &s.pts {
            xr = (xr.0.min(x - s.half), xr.1.max(x + s.half));
            yr = (yr.0.min(y), yr.1.max(y));
        }
    }
    let empty = series.iter().all(|s| s.pts.is_empty());
    if empty {
        return Prepared {
            series,
            scale,
            x: Axis::new(0.0, 1.0),
            y: Axis::new(0.0, 1.0),
            base: 0.0,
            notes,
            empty,
        };
    }
    // Bars grow from 0 on linear and symlog axes, from the bottom on log.
    let zero_base = has_bars && scale != Scale::Log10;
    if zero_base {
        yr = (yr.0.min(0.0), yr.1.max(0.0));
    }
    let mut x = Axis::new(xr.0, xr.1);
    let mut y = Axis::new(yr.0, yr.1);
    if margins {
        if !has_bars {
            x = x.widen(0.02, false);
        }
        y = y.widen(0.05, zero_base && y.lo == 0.0);
    }
    let base = if zero_base { 0.0 } else { y.lo };
    Prepared {
        series,
        scale,
        x,
        y,
        base,
        notes,
        empty,
    }
}

fn bar_half_width(width: Option<f64>, pts: &[(f64, f64)]) -> f64 {
    if let Some(w) = width.filter(|w| w.is_finite() && *w > 0.0) {
        return w * 0.5;
    }
    let mut xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    let gap = xs
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0.0 && g.is_finite())
        .fold(f64::INFINITY, f64::min);
    if gap.is_finite() {
        gap * 0.5
    } else {
        0.5
    }
}

/// "Nice" tick values (1, 2, 5 × 10^k steps) within [lo, hi], about `n`.
fn linear_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span_half = hi * 0.5 - lo * 0.5;
    if !(span_half.is_finite() && span_half > 0.0) {
        return vec![];
    }
    let raw = span_half / n.max(1) as f64 * 2.0;
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    let nice = if r < 1.5 {
        1.0
    } else if r < 3.0 {
        2.0
    } else if r < 7.0 {
        5.0
    } else {
        10.0
    };
    let step = nice * mag;
    if !(step.is_finite() && step > 0.0) {
        return vec![];
    }
    // k·nice / 10^d rounds correctly (0.6, not 0.6000000000000001).
    let inv = (1.0 / mag).round();
    let at = |k: f64| {
        if mag < 1.0 && inv.is_finite() && inv > 0.0 {
            k * nice / inv
        } else {
            k * step
        }
    };
    let mut k = (lo / step).ceil();
    let mut out = Vec::new();
    while out.len() < 50 {
        let t = at(k);
        if t > hi + step * 1e-9 {
            break;
        }
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        k += 1.0;
    }
    out
}

/// Tick positions in drawing space (transformed) for `axis` under `scale`.
fn ticks(axis: Axis, scale: Scale, n: usize) -> Vec<f64> {
    let (lo, hi) = (axis.lo, axis.hi);
    let from_original = |n: usize| -> Vec<f64> {
        linear_ticks(scale.inverse(lo), scale.inverse(hi), n)
            .into_iter()
            .filter_map(|v| scale.forward(v))
            .filter(|t| *t >= lo && *t <= hi)
            .collect()
    };
    match scale {
        Scale::Linear => linear_ticks(lo, hi, n),
        Scale::Log10 => {
            let (a, b) = (lo.ceil(), hi.floor());
            if b - a >= 1.0 {
                let count = b - a + 1.0;
                let every = (count / n.max(2) as f64).ceil().max(1.0);
                let mut out = Vec::new();
                let mut k = (a / every).ceil() * every;
                while k <= b && out.len() < 50 {
                    out.push(k);
                    k += every;
                }
                out
            } else {
                from_original(n)
            }
        }
        Scale::SymLog { linthresh } => {
            // 0 and ±10^k for the powers of ten at or above linthresh.
            let k0 = linthresh.log10().ceil();
            let kmax = scale.inverse(lo.abs().max(hi.abs())).abs().log10().floor();
            let mut mags = Vec::new();
            let mut k = k0;
            while k <= kmax && mags.len() < 400 {
                mags.push(10f64.powf(k));
                k += 1.0;
            }
            let sides = usize::from(lo < 0.0) + usize::from(hi > 0.0);
            let slots = (n.max(2) / sides.max(1)).max(1);
            let every = mags.len().div_ceil(slots).max(1);
            let mut out = Vec::new();
            for (i, &m) in mags.iter().enumerate().rev() {
                if i % every == 0 {
                    out.extend(scale.forward(-m));
                }
            }
            out.push(0.0);
            for (i, &m) in mags.iter().enumerate() {
                if i % every == 0 {
                    out.extend(scale.forward(m));
                }
            }
            out.retain(|t| *t >= lo && *t <= hi);
            if out.len() < 3 {
                from_original(n)
            } else {
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_invert() {
        for s in [
            Scale::Linear,
            Scale::Log10,
            Scale::SymLog { linthresh: 1e-3 },
        ] {
            for v in [1e-6, 0.5, 3.0, 1e6] {
                let t = s.forward(v).unwrap();
                assert!((s.inverse(t) - v).abs() <= 1e-9 * v, "{s:?} {v}");
            }
        }
        let s = Scale::SymLog { linthresh: 2.0 };
        assert_eq!(s.forward(0.0), Some(0.0));
        assert!((s.inverse(s.forward(-50.0).unwrap()) + 50.0).abs() < 1e-9);
        assert_eq!(Scale::Log10.forward(0.0), None);
        assert_eq!(Scale::Log10.forward(-1.0), None);
    }

    #[test]
    fn bins_sum_to_finite_count_and_respect_edges() {
        let mut values: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64 / 7.0).collect();
        values.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
        let b = bin_counts(&values, 13).unwrap();
        assert_eq!(b.counts.iter().sum::<u64>(), 1000);
        assert_eq!(b.skipped, 3);
        assert_eq!(b.edges.len(), 14);
        assert!(b.edges.windows(2).all(|e| e[0] < e[1]));
        for (i, &c) in b.counts.iter().enumerate() {
            let (l, r) = (b.edges[i], b.edges[i + 1]);
            let last = i + 1 == b.counts.len();
            let inside = values
                .iter()
                .filter(|v| **v >= l && (**v < r || (last && **v <= r)))
                .count() as u64;
            assert_eq!(c, inside, "bin {i} [{l}, {r})");
        }
    }

    #[test]
    fn bins_on_exact_edges() {
        // 0, 1, 2, 3, 4 in 4 bins over [0, 4]: edges 0 1 2 3 4.
        let b = bin_counts(&[0.0, 1.0, 2.0, 3.0, 4.0], 4).unwrap();
        assert_eq!(b.edges, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(b.counts, vec![1, 1, 1, 2]);
    }

    #[test]
    fn bins_degenerate_inputs() {
        let b = bin_counts(&[], 5).unwrap();
        assert_eq!(b.counts, vec![0; 5]);
        let b = bin_counts(&[7.0; 10], 3).unwrap();
        assert_eq!(b.counts.iter().sum::<u64>(), 10);
        assert!(b.edges[0] < 7.0 && 7.0 < b.edges[3]);
        let b = bin_counts(&[-1e308, 1e308, 0.0], 4).unwrap();
        assert_eq!(b.counts, vec![1, 0, 1, 1]);
        let e = bin_counts(&[1.0], 0).unwrap_err().to_string();
        assert_eq!(e, "hist: expected bins between 1 and 10000, got 0");
        assert!(bin_counts(&[1.0], MAX_BINS + 1).is_err());
    }

    #[test]
    fn histogram_stores_counts() {
        let values: Vec<f64> = (0..500).map(|i| (i as f64).sqrt()).collect();
        let c = histogram(&values, 20, false).unwrap();
        assert_eq!(c.series.len(), 1);
        assert_eq!(c.series[0].ys.iter().sum::<f64>(), 500.0);
        assert_eq!(c.series[0].xs.len(), 20);
        let c = histogram(&[f64::NAN, f64::NAN], 5, true).unwrap();
        assert!(c.series.is_empty());
        assert!(c.to_text().contains("skipped 2 non-finite values"));
    }

    #[test]
    fn size_and_linthresh_are_checked() {
        let e = Chart::new().size(50, 400).unwrap_err().to_string();
        assert_eq!(
            e,
            "plot: expected width between 160 and 2000 pixels (8 per text column), got 50"
        );
        assert!(Chart::new().size(640, 5000).is_err());
        assert!(Chart::new().size(800, 300).is_ok());
        assert!(Chart::new().symlog_y(0.0).is_err());
        assert!(Chart::new().symlog_y(f64::NAN).is_err());
        let mut c = Chart::line(vec![0.0, 1.0], vec![1.0, 2.0]);
        c.width = 10;
        assert!(c.validate().is_err());
        assert!(c.to_svg().is_err());
        // Text clamps instead of failing.
        assert!(c.to_text().lines().count() > 3);
    }

    #[test]
    fn axis_is_never_empty() {
        for (lo, hi) in [(0.0, 0.0), (5.0, 5.0), (-1e308, -1e308), (1e-320, 1e-320)] {
            let a = Axis::new(lo, hi);
            assert!(a.lo < a.hi && a.lo.is_finite() && a.hi.is_finite(), "{a:?}");
        }
        let a = Axis::new(-1e308, 1e308);
        assert!((a.norm(0.0) - 0.5).abs() < 1e-12);
        assert!((a.denorm(1.0) - 1e308).abs() < 1e294);
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(
            linear_ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
        assert_eq!(linear_ticks(-3.0, 7.0, 5), vec![-2.0, 0.0, 2.0, 4.0, 6.0]);
        let t = ticks(Axis::new(-3.0, 2.0), Scale::Log10, 6);
        assert_eq!(t, vec![-3.0, -2.0, -1.0, 0.0, 1.0, 2.0]);
        let s = Scale::SymLog { linthresh: 1.0 };
        let t = ticks(Axis::new(0.0, s.forward(1000.0).unwrap()), s, 6);
        let orig: Vec<f64> = t.iter().map(|&t| s.inverse(t).round()).collect();
        assert_eq!(orig, vec![0.0, 1.0, 10.0, 100.0, 1000.0]);
        assert!(linear_ticks(1.0, 1.0, 5).is_empty());
    }

    #[test]
    fn spectrum_chart_symlog() {
        let c = spectrum_chart(&[-0.01, 0.0, 0.5, 40.0], Some("H"), true);
        assert_eq!(c.y_scale, Scale::SymLog { linthresh: 0.04 });
        assert_eq!(c.series[0].xs, vec![1.0, 2.0, 3.0, 4.0]);
        assert!(c.to_text().starts_with("H\n"));
        let c = spectrum_chart(&[], None, true);
        assert_eq!(c.y_scale, Scale::SymLog { linthresh: 1.0 });
        assert!(c.to_text().contains("no finite data"));
    }

    #[test]
    fn save_svg_writes_atomically() {
        let dir = std::env::temp_dir().join(format!("hlab-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.svg");
        Chart::line(vec![0.0, 1.0], vec![0.0, 1.0])
            .title("saved")
            .save_svg(&path)
            .unwrap();
        let s = std::fs::read_to_string(&path).unwrap();
        assert!(s.contains("saved"));
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        let e = Chart::values(vec![1.0])
            .save_svg(&dir.join("missing").join("x.svg"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("save_svg: "), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
