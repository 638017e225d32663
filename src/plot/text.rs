//! The terminal renderer: braille dots through `textplots`.
//!
//! Everything is drawn in normalized [0, 1]² coordinates (so `textplots`'
//! f32 never sees raw values) and the tick labels map back to the original
//! values. Line series are solid, dashed and dotted in turn when a chart has
//! several, so they can be told apart without colours; with colour on, each
//! of several series (and its legend entry) also gets its own ANSI colour.

use textplots::{
    Chart as TextChart, LabelBuilder, LabelFormat, Plot, Shape, TickDisplay, TickDisplayBuilder,
};

use super::{step_corners, Chart, Prepared, Scale, Style, HEIGHT_RANGE, WIDTH_RANGE};

/// The ANSI foreground colours of series 1, 2, … (blue, yellow, green, red,
/// magenta, cyan: the terminal's own palette, close to the SVG's tab10
/// order), so they follow the terminal's theme.
const ANSI: [u8; 6] = [34, 33, 32, 31, 35, 36];

/// `text` in series `i`'s colour.
fn paint(i: usize, text: &str) -> String {
    format!("\x1b[{}m{text}\x1b[0m", ANSI[i % ANSI.len()])
}

/// Pixels per text column and per text row.
const COL_PX: u32 = 8;
const ROW_PX: u32 = 25;

/// How a line-like series is stroked.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dash {
    Solid,
    Dashed,
    Dotted,
}

impl Dash {
    fn for_series(i: usize, several: bool) -> Self {
        if !several {
            return Dash::Solid;
        }
        [Dash::Solid, Dash::Dashed, Dash::Dotted][i % 3]
    }

    /// Whether dot number `s` along the path is drawn.
    fn on(self, s: usize) -> bool {
        match self {
            Dash::Solid => true,
            Dash::Dashed => s % 6 < 4,
            Dash::Dotted => s.is_multiple_of(3),
        }
    }

    fn mark(self) -> &'static str {
        match self {
            Dash::Solid => "──",
            Dash::Dashed => "╌╌",
            Dash::Dotted => "┈┈",
        }
    }
}

/// The plotting grid in text columns × rows for a size in pixels (clamped
/// into bounds; rows rounded to 4k + 1 so tick labels land every 4th row).
pub(super) fn grid(width: u32, height: u32) -> (u32, u32) {
    let w = width.clamp(WIDTH_RANGE.0, WIDTH_RANGE.1);
    let h = height.clamp(HEIGHT_RANGE.0, HEIGHT_RANGE.1);
    let cols = w / COL_PX;
    let rows = (h / ROW_PX).max(2);
    let k = ((rows - 1 + 2) / 4).max(1);
    (cols, 4 * k + 1)
}

/// Columns left for the y tick labels right of the plot (`" -1.036e-4"`).
const LABEL_COLS: u32 = 11;

/// The terminal's width when stdout is a terminal, else `$COLUMNS`.
pub fn terminal_cols() -> Option<u32> {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; fd 1 may be anything.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        return Some(u32::from(ws.ws_col));
    }
    std::env::var("COLUMNS").ok()?.trim().parse().ok()
}

/// The plotting grid of a chart: `cols`/`rows` when set (the whole chart,
/// tick labels included, fits `cols`), else the terminal's width, else the
/// size in pixels ([`grid`]).
fn chart_grid(chart: &Chart) -> (u32, u32) {
    let (pc, pr) = grid(chart.width, chart.height);
    let cols = match chart.cols.or_else(terminal_cols) {
        Some(c) => c
            .saturating_sub(LABEL_COLS)
            .clamp(WIDTH_RANGE.0 / COL_PX, WIDTH_RANGE.1 / COL_PX),
        None => pc,
    };
    let rows = match chart.rows {
        Some(r) => {
            let r = r.clamp(HEIGHT_RANGE.0 / ROW_PX, HEIGHT_RANGE.1 / ROW_PX);
            4 * ((r - 1) / 4).max(1) + 1
        }
        None => pr,
    };
    (cols, rows)
}

pub(super) fn render(chart: &Chart, color: bool) -> String {
    let p = chart.prepare(false);
    let mut lines: Vec<String> = Vec::new();
    if let Some(t) = &chart.title {
        lines.push(t.clone());
    }
    if p.empty {
        lines.push("no finite data to plot".to_string());
    } else {
        // One series keeps the terminal's own colour (the best contrast).
        let ansi = color && p.series.len() > 1;
        let body = canvas(chart, &p, ansi);
        lines.push(body.trim_end_matches('\n').to_string());
        if p.legend() {
            lines.push(legend(&p, ansi));
        }
    }
    if let Some(a) = axes_line(chart, p.scale) {
        lines.push(a);
    }
    lines.extend(p.notes.iter().cloned());
    lines.join("\n")
}

/// `x: step   y: loss (log10 scale)`, or `None` when there is nothing to say.
fn axes_line(chart: &Chart, scale: Scale) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(x) = &chart.x_label {
        parts.push(format!("x: {x}"));
    }
    match (&chart.y_label, scale.describe()) {
        (Some(y), Some(s)) => parts.push(format!("y: {y} ({s})")),
        (Some(y), None) => parts.push(format!("y: {y}")),
        (None, Some(s)) => parts.push(format!("y: {s}")),
        (None, None) => {}
    }
    (!parts.is_empty()).then(|| parts.join("   "))
}

fn legend(p: &Prepared, ansi: bool) -> String {
    let several = p.series.len() > 1;
    let items: Vec<String> = p
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mark = match s.style {
                Style::Points => "··",
                Style::Bars { .. } => "▮",
                Style::Line | Style::Steps => Dash::for_series(i, several).mark(),
            };
            if ansi {
                paint(i, &format!("{mark} {}", s.name))
            } else {
                format!("{mark} {}", s.name)
            }
        })
        .collect();
    items.join("   ")
}

/// A shape to hand to textplots: how it is drawn, its series (for the
/// colour; `None` for zero lines) and its points in [0, 1]².
type Buf = (Kind, Option<usize>, Vec<(f32, f32)>);

/// Whether a buffer is drawn as joined segments or as separate dots.
#[derive(Clone, Copy)]
enum Kind {
    Lines,
    Points,
}

fn f32s(pts: &[(f64, f64)]) -> Vec<(f32, f32)> {
    pts.iter().map(|&(x, y)| (x as f32, y as f32)).collect()
}

/// Dots along the path `pts` (in [0, 1]²) every dot of a `w` × `h` canvas,
/// kept where the dash pattern is on.
fn dashed(pts: &[(f64, f64)], w: f64, h: f64, dash: Dash) -> Vec<(f32, f32)> {
    let mut out = Vec::new();
    let mut s = 0usize;
    for pair in pts.windows(2) {
        let (x1, y1) = (pair[0].0 * w, pair[0].1 * h);
        let (x2, y2) = (pair[1].0 * w, pair[1].1 * h);
        let n = ((x2 - x1).abs().max((y2 - y1).abs()).ceil() as usize).max(1);
        for i in 0..n {
            if dash.on(s) {
                let t = i as f64 / n as f64;
                out.push((
                    ((x1 + (x2 - x1) * t) / w) as f32,
                    ((y1 + (y2 - y1) * t) / h) as f32,
                ));
            }
            s += 1;
        }
    }
    if let Some(&(x, y)) = pts.last() {
        if dash.on(s) {
            out.push((x as f32, y as f32));
        }
    }
    out
}

/// The braille plot with tick labels and the x range line.
fn canvas(chart: &Chart, p: &Prepared, color: bool) -> String {
    let (cols, rows) = chart_grid(chart);
    let (w, h) = (2 * (cols - 1), 4 * (rows - 1));
    let (wf, hf) = (w as f64, h as f64);

    // Point buffers first: textplots' shapes borrow them.
    let mut bufs: Vec<Buf> = Vec::new();
    if p.scale != Scale::Log10 && p.y.contains_inside(0.0) {
        let v = p.y.norm(0.0) as f32;
        let dots = (0..=w).step_by(4).map(|i| (i as f32 / w as f32, v));
        bufs.push((Kind::Points, None, dots.collect()));
    }
    if p.x.contains_inside(0.0) {
        let u = p.x.norm(0.0) as f32;
        let dots = (0..=h).step_by(4).map(|j| (u, j as f32 / h as f32));
        bufs.push((Kind::Points, None, dots.collect()));
    }
    let several = p.series.len() > 1;
    for (i, s) in p.series.iter().enumerate() {
        let col = Some(i);
        match s.style {
            Style::Points => bufs.push((Kind::Points, col, f32s(&p.normalized(s)))),
            Style::Line | Style::Steps => {
                let mut pts = p.normalized(s);
                if s.style == Style::Steps {
                    pts = step_corners(&pts);
                }
                let dash = Dash::for_series(i, several);
                if pts.len() <= 1 {
                    bufs.push((Kind::Points, col, f32s(&pts)));
                } else if dash == Dash::Solid || pts.len() > 4 * w as usize {
                    bufs.push((Kind::Lines, col, f32s(&pts)));
                } else {
                    bufs.push((Kind::Points, col, dashed(&pts, wf, hf, dash)));
                }
            }
            Style::Bars { .. } => {
                for (l, r, b, t) in p.bars(s) {
                    let outline = [(l, b), (l, t), (r, t), (r, b)];
                    bufs.push((Kind::Lines, col, f32s(&outline)));
                }
            }
        }
    }
    let shapes: Vec<(Shape, Option<usize>)> = bufs
        .iter()
        .map(|(kind, col, v)| {
            let shape = match kind {
                Kind::Lines => Shape::Lines(v),
                Kind::Points => Shape::Points(v),
            };
            (shape, *col)
        })
        .collect();
    let all: Vec<&Shape> = shapes.iter().map(|(s, _)| s).collect();
    let full = draw(chart, p, w, h, &all);
    if !color {
        return full;
    }
    // Which series drew each cell: the chart with the frame and zero lines
    // only, and once per series with that series added; a cell that differs
    // from the frame belongs to the series (the last one where several
    // overlap, as it is drawn on top).
    let frame: Vec<&Shape> = shapes
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(s, _)| s)
        .collect();
    let base = draw(chart, p, w, h, &frame);
    let layers: Vec<(usize, String)> = (0..p.series.len())
        .map(|i| {
            let mut mine = frame.clone();
            mine.extend(shapes.iter().filter(|(_, c)| *c == Some(i)).map(|(s, _)| s));
            (i, draw(chart, p, w, h, &mine))
        })
        .collect();
    colorize(&full, &base, &layers)
}

/// The textplots chart of `shapes` on the `w` × `h` dot canvas of [0, 1]²,
/// with `p`'s tick labels.
fn draw(chart: &Chart, p: &Prepared, w: u32, h: u32, shapes: &[&Shape]) -> String {
    let (xa, ya, scale, whole) = (p.x, p.y, p.scale, chart.y_counts);
    let mut tc = TextChart::new_with_y_range(w, h, 0.0, 1.0, 0.0, 1.0);
    let mut c = &mut tc;
    c = c.x_label_format(LabelFormat::Custom(Box::new(move |u| {
        xa.label(u as f64, Scale::Linear, false)
    })));
    c = c.y_label_format(LabelFormat::Custom(Box::new(move |v| {
        ya.label(v as f64, scale, whole)
    })));
    c = c.y_tick_display(TickDisplay::Sparse);
    for shape in shapes {
        c = c.lineplot(shape);
    }
    c.axis();
    c.figures();
    format!("{c}")
}

/// `full` with each character that a layer changed from `base` in that
/// layer's series colour (runs of one colour share one escape sequence).
fn colorize(full: &str, base: &str, layers: &[(usize, String)]) -> String {
    let base: Vec<Vec<char>> = base.lines().map(|l| l.chars().collect()).collect();
    let layers: Vec<(usize, Vec<Vec<char>>)> = layers
        .iter()
        .map(|(i, t)| (*i, t.lines().map(|l| l.chars().collect()).collect()))
        .collect();
    let mut out = String::with_capacity(full.len() * 2);
    for (row, line) in full.lines().enumerate() {
        let mut run: Option<usize> = None;
        for (col, ch) in line.chars().enumerate() {
            let at = |g: &Vec<Vec<char>>| g.get(row).and_then(|l| l.get(col)).copied();
            let under = at(&base);
            let owner = layers
                .iter()
                .rev()
                .find(|(_, g)| at(g) != under)
                .map(|(i, _)| *i);
            if owner != run {
                if run.is_some() {
                    out.push_str("\x1b[0m");
                }
                if let Some(i) = owner {
                    out.push_str(&format!("\x1b[{}m", ANSI[i % ANSI.len()]));
                }
                run = owner;
            }
            out.push(ch);
        }
        if run.is_some() {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    out
}

/// The ANSI colour codes in a chart's text (`\x1b[NNm`, resets left out),
/// in order of first appearance: which colours a terminal chart uses.
pub fn colour_codes(t: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in t.split("\x1b[").skip(1) {
        let code = part.split('m').next().unwrap_or("").to_string();
        if code != "0" && !out.contains(&code) {
            out.push(code);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{histogram, Figure, Series};
    use super::*;

    fn ramp(n: usize) -> (Vec<f64>, Vec<f64>) {
        let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let ys = xs.iter().map(|x| (x / 5.0).sin() * 3.0 + 10.0).collect();
        (xs, ys)
    }

    #[test]
    fn grid_defaults_and_rounding() {
        assert_eq!(grid(640, 400), (80, 17));
        assert_eq!(grid(1, 1), (20, 5));
        assert_eq!(grid(u32::MAX, u32::MAX), (250, 81));
        for h in [100, 150, 250, 400, 800, 2000] {
            let (_, rows) = grid(640, h);
            assert_eq!((rows - 1) % 4, 0);
            assert!(
                (rows as i64 - (h / ROW_PX) as i64).abs() <= 3,
                "{h}: {rows}"
            );
        }
    }

    #[test]
    fn text_has_title_range_and_size() {
        let (xs, ys) = ramp(60);
        let chart = Chart::line(xs, ys).title("sine").size(640, 400).unwrap();
        let t = chart.to_text();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "sine");
        // title + 17 plot rows + x range line
        assert!(
            (18..=20).contains(&lines.len()),
            "{} lines:\n{t}",
            lines.len()
        );
        // y range (13 max, 7 min, approximately) on the first and last plot rows
        assert!(
            lines[1].ends_with(" 12.99") || lines[1].ends_with(" 13"),
            "{}",
            lines[1]
        );
        assert!(lines[17].trim_end().ends_with(" 7.002") || lines[17].ends_with(" 7"));
        // x range
        assert!(
            lines[18].starts_with('0') && lines[18].ends_with("59"),
            "{}",
            lines[18]
        );
        // width: 80 columns of canvas plus a label
        let w = lines[1].chars().count();
        assert!((80..=92).contains(&w), "{w}");
        assert!(!t.contains('\x1b'), "no colours by default");
        assert!(!t.ends_with('\n'));
    }

    #[test]
    fn height_follows_size() {
        let (xs, ys) = ramp(30);
        for h in [100u32, 300, 600, 1000] {
            let t = Chart::line(xs.clone(), ys.clone())
                .size(400, h)
                .unwrap()
                .to_text();
            let want = (h / ROW_PX) as usize + 1; // rows + x range line
            let got = t.lines().count();
            assert!(
                got.abs_diff(want) <= 3,
                "height {h}: want ~{want}, got {got}"
            );
        }
    }

    #[test]
    fn text_differs_with_data() {
        let (xs, ys) = ramp(40);
        let a = Chart::line(xs.clone(), ys.clone()).to_text();
        let b = Chart::line(xs.clone(), ys.iter().map(|y| -y).collect()).to_text();
        let c = Chart::line(xs.clone(), ys.iter().rev().copied().collect()).to_text();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, Chart::line(xs, ys).to_text(), "deterministic");
    }

    #[test]
    fn legend_and_dashes_for_several_series() {
        let (xs, ys) = ramp(50);
        let ys2: Vec<f64> = ys.iter().map(|y| y - 1.0).collect();
        let chart = Chart::new()
            .with_series(Series::line("loss", xs.clone(), ys))
            .with_series(Series::line("test loss", xs, ys2))
            .x_label("step");
        let t = chart.to_text();
        assert!(t.contains("── loss   ╌╌ test loss"), "{t}");
        assert!(t.contains("x: step"));
        let single = Chart::values(vec![1.0, 2.0]).to_text();
        assert!(!single.contains("──"), "no legend for one series");
    }

    #[test]
    fn several_series_in_distinct_colours_when_colour_is_on() {
        let (xs, ys) = ramp(50);
        let ys2: Vec<f64> = ys.iter().map(|y| 20.0 - y).collect();
        let mut chart = Chart::new()
            .with_series(Series::line("loss", xs.clone(), ys))
            .with_series(Series::line("test loss", xs, ys2));
        let plain = chart.to_text();
        assert!(!plain.contains('\x1b'), "off by default: {plain}");
        let t = chart.to_text_color();
        assert_eq!(colour_codes(&t), ["34", "33"], "{t}");
        // Each series' dots in its colour, the legend in the same colours.
        let canvas: String = t.lines().take(10).collect();
        assert!(
            canvas.contains("\x1b[34m") && canvas.contains("\x1b[33m"),
            "{t}"
        );
        let legend = t.lines().find(|l| l.contains("test loss")).unwrap();
        assert!(
            legend.contains("\x1b[34m── loss\x1b[0m")
                && legend.contains("\x1b[33m╌╌ test loss\x1b[0m"),
            "{legend}"
        );
        // The same characters as without colour.
        let stripped: String = t
            .split("\x1b[")
            .enumerate()
            .map(|(i, p)| {
                if i == 0 {
                    p
                } else {
                    p.split_once('m').map_or(p, |x| x.1)
                }
            })
            .collect();
        assert_eq!(stripped, plain);
        // The option wins over the command line's setting; one series stays plain.
        chart.color = Some(true);
        assert_eq!(colour_codes(&chart.to_text()), ["34", "33"]);
        chart.color = Some(false);
        assert!(!chart.to_text_color().is_empty() && !chart.to_text().contains('\x1b'));
        assert!(!Chart::values(vec![1.0, 2.0])
            .to_text_color()
            .contains('\x1b'));
    }

    #[test]
    fn log_axis_drops_non_positive_and_says_so() {
        let xs: Vec<f64> = (0..6).map(|i| i as f64).collect();
        let ys = vec![1.0, 0.0, 10.0, -5.0, 100.0, 1000.0];
        let t = Chart::line(xs, ys).log_y(true).to_text();
        assert!(
            t.contains("dropped 2 non-positive values (log axis)"),
            "{t}"
        );
        assert!(t.contains("y: log10 scale"));
        let first = t.lines().next().unwrap();
        assert!(
            first.ends_with(" 1000"),
            "labels show original values: {first}"
        );
        assert!(t.lines().nth(16).unwrap().ends_with(" 1"), "{t}");
    }

    #[test]
    fn symlog_shows_negative_and_large() {
        let ys = vec![-0.5, -0.01, 0.0, 0.01, 3.0, 800.0];
        let c = Chart::values(ys).symlog_y(0.01).unwrap();
        let t = c.to_text();
        assert!(t.lines().next().unwrap().ends_with(" 800"), "{t}");
        assert!(t.contains("symlog scale, linear within ±0.01"));
        assert!(t.lines().nth(16).unwrap().ends_with(" -0.5"), "{t}");
    }

    #[test]
    fn histogram_text() {
        let values: Vec<f64> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f64 / 100.0)
            .collect();
        let t = histogram(&values, 10, false).unwrap().to_text();
        assert_eq!(t.lines().next(), Some("histogram of 1000 values (10 bins)"));
        assert!(t.lines().nth(1).unwrap().ends_with(" 100"), "{t}");
        assert!(t.contains("x: value   y: count"));
        let t = histogram(&values, 10, true).unwrap().to_text();
        assert!(t.contains("symlog"));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        let cases: Vec<Chart> = vec![
            Chart::new(),
            Chart::line(vec![], vec![]),
            Chart::line(vec![1.0], vec![2.0]),
            Chart::line(vec![1.0, 2.0, 3.0], vec![5.0, 5.0, 5.0]),
            Chart::line(vec![0.0, 0.0], vec![0.0, 0.0]),
            Chart::line(vec![nan, inf], vec![1.0, 2.0]),
            Chart::line(vec![0.0, 1.0, 2.0], vec![nan, 1.0, -inf]),
            Chart::line(vec![0.0, 1.0], vec![-1e308, 1e308]),
            Chart::line(vec![-1e308, 1e308], vec![1e-320, 2e-320]),
            Chart::line(vec![1e15, 1e15 + 1.0], vec![1e12, 1e12 + 1.0]),
            Chart::line(vec![0.0, 1.0, 2.0], vec![1.0]),
            Chart::line(vec![0.0, 1.0], vec![-1.0, 0.0]).log_y(true),
            Chart::values(vec![1e300; 5]).log_y(true),
            Chart::values(vec![0.0; 5]).symlog_y(1e-300).unwrap(),
            Chart::new().with_series(Series::bars("b", vec![3.0], vec![1e18], None)),
            Chart::new().with_series(Series::bars("b", vec![1.0, 1.0], vec![2.0, 3.0], None)),
            Chart::new().with_series(Series::steps("s", vec![0.0, 1.0, 2.0], vec![1.0, 3.0, 2.0])),
            Chart::new().with_series(Series::points("p", vec![nan; 3], vec![nan; 3])),
            histogram(&[1.0; 50], 3, true).unwrap(),
            histogram(&[], 3, false).unwrap(),
        ];
        for (i, c) in cases.iter().enumerate() {
            let t = c.to_text();
            assert!(!t.is_empty(), "case {i}");
            let t = c.to_text_color();
            assert!(!t.is_empty(), "case {i}");
            let mut tiny = c.clone();
            (tiny.width, tiny.height) = (0, 0);
            assert!(tiny.to_text().lines().count() >= 1, "case {i}");
        }
        assert!(cases[0].to_text().contains("no finite data to plot"));
        assert!(cases[5].to_text().contains("no finite data to plot"));
        assert!(cases[6]
            .to_text()
            .contains("skipped 2 points with a NaN or infinite coordinate"));
        assert!(cases[10].to_text().contains("has 3 x and 1 y values"));
        let f = Figure::new(cases).to_text();
        assert!(f.contains("\n\n"));
    }
}
