//! Heat maps with contour lines: a function sampled on a grid, drawn as
//! characters in a terminal and as coloured cells with contour lines in SVG.
//!
//! `z[i][j]` is the value at `(xs[i], ys[j])`; x runs left to right, y
//! bottom to top. The values are split into `levels` equal bands (of log₁₀ z
//! when `log` is set and every value is positive). Text: each character
//! cell takes the band of the bilinearly interpolated value and is drawn
//! with a density ramp (` .:-=+*#%@`, low to high); cells where the band
//! changes to a neighbour's are the contour lines (`·` between bands).
//! SVG: one rectangle per grid point in a viridis colour, the band edges
//! traced by marching squares, a colour bar. Non-finite values are drawn
//! blank (text) or grey (SVG) and counted in the footer.
//!
//! ```
//! use hlab::plot::heatmap::HeatMap;
//! let xs: Vec<f64> = (0..11).map(|i| -1.0 + 0.2 * i as f64).collect();
//! let z: Vec<Vec<f64>> = xs.iter().map(|x| xs.iter().map(|y| x * x + 2.0 * y * y).collect()).collect();
//! let h = HeatMap::new(xs.clone(), xs, z).unwrap();
//! assert!(h.to_text().contains('@'));
//! assert!(h.to_svg().unwrap().contains("<polyline") || h.to_svg().unwrap().contains("<line"));
//! ```

use crate::error::{Error, Result};
use std::fmt::Write;

const RAMP: &[char] = &[' ', '.', ':', '-', '=', '+', '*', '#', '%', '@'];

/// A function on a grid, to draw as a heat map with contours.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMap {
    /// Title line.
    pub title: Option<String>,
    /// Grid along x (ascending).
    pub xs: Vec<f64>,
    /// Grid along y (ascending).
    pub ys: Vec<f64>,
    /// `z[i][j]` at `(xs[i], ys[j])`.
    pub z: Vec<Vec<f64>>,
    /// x-axis description.
    pub x_label: String,
    /// y-axis description.
    pub y_label: String,
    /// Bands of log₁₀ z instead of z (used only when every value is > 0).
    pub log: bool,
    /// Number of bands (2 to 10).
    pub levels: usize,
    /// A point to mark (`X`), e.g. the centre of a landscape.
    pub mark: Option<(f64, f64)>,
    /// SVG width in pixels (text: 8 per column).
    pub width: u32,
    /// SVG height in pixels (text: 25 per row… halved, characters are tall).
    pub height: u32,
    /// Footer lines.
    pub notes: Vec<String>,
}

impl HeatMap {
    /// A heat map of `z` (`z[i][j]` at `(xs[i], ys[j])`); errors unless the
    /// grid has at least 2 points per axis, ascending, and `z` matches it.
    pub fn new(xs: Vec<f64>, ys: Vec<f64>, z: Vec<Vec<f64>>) -> Result<HeatMap> {
        let op = "plot";
        if xs.len() < 2 || ys.len() < 2 {
            return Err(Error::shape(
                op,
                "a grid of at least 2 × 2 points",
                format!("{} × {}", xs.len(), ys.len()),
            ));
        }
        let asc = |v: &[f64]| v.windows(2).all(|w| w[1] > w[0]) && v.iter().all(|x| x.is_finite());
        if !asc(&xs) || !asc(&ys) {
            return Err(Error::invalid(
                op,
                "expected finite, ascending grid coordinates",
            ));
        }
        if z.len() != xs.len() || z.iter().any(|r| r.len() != ys.len()) {
            return Err(Error::shape(
                op,
                format!("values on the {} × {} grid", xs.len(), ys.len()),
                format!(
                    "{} rows of lengths {:?}",
                    z.len(),
                    z.iter().map(Vec::len).collect::<Vec<_>>()
                ),
            ));
        }
        Ok(HeatMap {
            title: None,
            xs,
            ys,
            z,
            x_label: "x".into(),
            y_label: "y".into(),
            log: false,
            levels: 10,
            mark: None,
            width: 640,
            height: 480,
            notes: Vec::new(),
        })
    }

    /// Whether bands are of log₁₀ z: asked for and every finite value > 0.
    fn use_log(&self) -> bool {
        self.log && self.finite().all(|v| v > 0.0)
    }

    fn finite(&self) -> impl Iterator<Item = f64> + '_ {
        self.z.iter().flatten().copied().filter(|v| v.is_finite())
    }

    /// The value mapped to the band axis (log or not).
    fn tf(&self, v: f64, log: bool) -> f64 {
        if log {
            v.log10()
        } else {
            v
        }
    }

    /// (lo, hi) of the transformed finite values (a small range if constant).
    fn range(&self, log: bool) -> Option<(f64, f64)> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for v in self.finite() {
            let t = self.tf(v, log);
            lo = lo.min(t);
            hi = hi.max(t);
        }
        if !lo.is_finite() {
            return None;
        }
        if hi - lo <= 1e-12 * lo.abs().max(1.0) {
            hi = lo + 1e-12 * lo.abs().max(1.0);
        }
        Some((lo, hi))
    }

    fn levels(&self) -> usize {
        self.levels.clamp(2, RAMP.len())
    }

    /// Bilinear interpolation of z at (x, y) inside the grid.
    fn sample(&self, x: f64, y: f64) -> f64 {
        let locate = |g: &[f64], v: f64| -> (usize, f64) {
            let n = g.len();
            let mut i = g.partition_point(|&p| p <= v).saturating_sub(1);
            if i >= n - 1 {
                i = n - 2;
            }
            let t = ((v - g[i]) / (g[i + 1] - g[i])).clamp(0.0, 1.0);
            (i, t)
        };
        let (i, tx) = locate(&self.xs, x);
        let (j, ty) = locate(&self.ys, y);
        let z = &self.z;
        (1.0 - tx) * (1.0 - ty) * z[i][j]
            + tx * (1.0 - ty) * z[i + 1][j]
            + (1.0 - tx) * ty * z[i][j + 1]
            + tx * ty * z[i + 1][j + 1]
    }

    fn label_value(&self, t: f64, log: bool) -> String {
        super::fmt_num(if log { 10f64.powf(t) } else { t })
    }

    /// The heat map as characters: title, the map with y labels on the
    /// right, the x range underneath, the band legend and footer lines.
    pub fn to_text(&self) -> String {
        let cols = ((self.width / 8) as usize).clamp(20, 200);
        let rows = ((self.height / 20) as usize).clamp(8, 60);
        let mut out = String::new();
        if let Some(t) = &self.title {
            out.push_str(t);
            out.push('\n');
        }
        let log = self.use_log();
        let Some((lo, hi)) = self.range(log) else {
            out.push_str("no finite data to plot");
            return out;
        };
        let nl = self.levels();
        let (x0, x1) = (self.xs[0], self.xs[self.xs.len() - 1]);
        let (y0, y1) = (self.ys[0], self.ys[self.ys.len() - 1]);
        let cx = |c: usize| x0 + (x1 - x0) * (c as f64 + 0.5) / cols as f64;
        let cy = |r: usize| y1 - (y1 - y0) * (r as f64 + 0.5) / rows as f64;
        let band = |v: f64| -> Option<usize> {
            if !v.is_finite() {
                return None;
            }
            let u = (self.tf(v, log) - lo) / (hi - lo);
            Some(((u * nl as f64).floor() as usize).min(nl - 1))
        };
        let grid: Vec<Vec<Option<usize>>> = (0..rows)
            .map(|r| (0..cols).map(|c| band(self.sample(cx(c), cy(r)))).collect())
            .collect();
        let mark = self.mark.map(|(mx, my)| {
            let c = (((mx - x0) / (x1 - x0)) * cols as f64).floor() as isize;
            let r = (((y1 - my) / (y1 - y0)) * rows as f64).floor() as isize;
            (r, c)
        });
        let ramp = |b: usize| RAMP[(b * (RAMP.len() - 1)) / (nl - 1).max(1)];
        for (r, line) in grid.iter().enumerate() {
            let mut s = String::with_capacity(cols + 12);
            for (c, b) in line.iter().enumerate() {
                if mark == Some((r as isize, c as isize)) {
                    s.push('X');
                    continue;
                }
                let ch = match b {
                    None => ' ',
                    Some(b) => {
                        let right = line.get(c + 1).copied().flatten();
                        let below = grid.get(r + 1).and_then(|l| l[c]);
                        let edge = right.is_some_and(|x| x != *b) || below.is_some_and(|x| x != *b);
                        if edge {
                            '·'
                        } else {
                            ramp(*b)
                        }
                    }
                };
                s.push(ch);
            }
            let yl = if r == 0 {
                format!(" {}", super::fmt_num(y1))
            } else if r + 1 == rows {
                format!(" {}", super::fmt_num(y0))
            } else if r == rows / 2 {
                format!(" {}", super::fmt_num(0.5 * (y0 + y1)))
            } else {
                String::new()
            };
            out.push_str(&s);
            out.push_str(&yl);
            out.push('\n');
        }
        let l = super::fmt_num(x0);
        let rr = super::fmt_num(x1);
        let gap = cols
            .saturating_sub(l.chars().count() + rr.chars().count())
            .max(1);
        let _ = writeln!(out, "{l}{}{rr}", " ".repeat(gap));
        let _ = writeln!(out, "x: {}   y: {}", self.x_label, self.y_label);
        let mut legend = String::from("bands (low → high): ");
        for b in 0..nl {
            let v = lo + (hi - lo) * b as f64 / nl as f64;
            let _ = write!(legend, "'{}' ≥ {}  ", ramp(b), self.label_value(v, log));
        }
        out.push_str(legend.trim_end());
        let _ = write!(
            out,
            "\n'·' contour between bands{}",
            if log { "; bands of log10 value" } else { "" }
        );
        let bad = self.z.iter().flatten().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            let _ = write!(out, "\n{bad} non-finite values left blank");
        }
        for n in &self.notes {
            out.push('\n');
            out.push_str(n);
        }
        out
    }

    /// The heat map as an SVG document: coloured cells (viridis), contour
    /// lines between the bands (marching squares), axes and a colour bar.
    pub fn to_svg(&self) -> Result<String> {
        let (w, h) = (self.width as f64, self.height as f64);
        if !(160.0..=4000.0).contains(&w) || !(100.0..=4000.0).contains(&h) {
            return Err(Error::shape(
                "plot",
                "width in 160..4000 and height in 100..4000 pixels",
                format!("{w} × {h}"),
            ));
        }
        let log = self.use_log();
        let (ml, mr, mt, mb) = (70.0, 110.0, 40.0, 50.0);
        let (pw, ph) = (w - ml - mr, h - mt - mb);
        let (x0, x1) = (self.xs[0], self.xs[self.xs.len() - 1]);
        let (y0, y1) = (self.ys[0], self.ys[self.ys.len() - 1]);
        let px = |x: f64| ml + (x - x0) / (x1 - x0) * pw;
        let py = |y: f64| mt + (y1 - y) / (y1 - y0) * ph;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12"><rect width="{w}" height="{h}" fill="white"/>"#
        );
        if let Some(t) = &self.title {
            let _ = write!(
                s,
                r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
                w / 2.0,
                esc(t)
            );
        }
        let range = self.range(log);
        let color_of = |v: f64| -> String {
            match (v.is_finite(), range) {
                (true, Some((lo, hi))) => viridis((self.tf(v, log) - lo) / (hi - lo)),
                _ => "#bbbbbb".into(),
            }
        };
        // Cells: each grid point owns the rectangle halfway to its neighbours.
        let edges = |g: &[f64]| -> Vec<f64> {
            let n = g.len();
            let mut e = Vec::with_capacity(n + 1);
            e.push(g[0]);
            for k in 0..n - 1 {
                e.push(0.5 * (g[k] + g[k + 1]));
            }
            e.push(g[n - 1]);
            e
        };
        let (ex, ey) = (edges(&self.xs), edges(&self.ys));
        for (i, row) in self.z.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let (xa, xb) = (px(ex[i]), px(ex[i + 1]));
                let (ya, yb) = (py(ey[j + 1]), py(ey[j]));
                let _ = write!(
                    s,
                    r#"<rect x="{xa:.2}" y="{ya:.2}" width="{:.2}" height="{:.2}" fill="{}"/>"#,
                    (xb - xa) + 0.3,
                    (yb - ya) + 0.3,
                    color_of(v)
                );
            }
        }
        // Contours at the band edges.
        if let Some((lo, hi)) = range {
            let nl = self.levels();
            for l in 1..nl {
                let c = lo + (hi - lo) * l as f64 / nl as f64;
                for (a, b) in self.contour(c, log) {
                    let _ = write!(
                        s,
                        r##"<line x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="#ffffff" stroke-opacity="0.8" stroke-width="1"/>"##,
                        px(a.0),
                        py(a.1),
                        px(b.0),
                        py(b.1)
                    );
                }
            }
        }
        if let Some((mx, my)) = self.mark {
            let _ = write!(
                s,
                r##"<path d="M{:.2} {:.2}h10M{:.2} {:.2}v10" stroke="#d62728" stroke-width="2"/>"##,
                px(mx) - 5.0,
                py(my),
                px(mx),
                py(my) - 5.0
            );
        }
        // Frame and ticks.
        let _ = write!(
            s,
            r##"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#333333"/>"##
        );
        for k in 0..5 {
            let f = k as f64 / 4.0;
            let xv = x0 + (x1 - x0) * f;
            let yv = y0 + (y1 - y0) * f;
            let _ = write!(
                s,
                r#"<text x="{:.2}" y="{:.2}" text-anchor="middle">{}</text>"#,
                px(xv),
                mt + ph + 18.0,
                super::fmt_num(xv)
            );
            let _ = write!(
                s,
                r#"<text x="{:.2}" y="{:.2}" text-anchor="end">{}</text>"#,
                ml - 6.0,
                py(yv) + 4.0,
                super::fmt_num(yv)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.2}" y="{:.2}" text-anchor="middle">{}</text>"#,
            ml + pw / 2.0,
            h - 10.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text x="16" y="{:.2}" text-anchor="middle" transform="rotate(-90 16 {:.2})">{}</text>"#,
            mt + ph / 2.0,
            mt + ph / 2.0,
            esc(&self.y_label)
        );
        // Colour bar.
        if let Some((lo, hi)) = range {
            let bx = ml + pw + 20.0;
            let n = 64;
            for k in 0..n {
                let u = k as f64 / (n - 1) as f64;
                let y = mt + ph * (1.0 - (k + 1) as f64 / n as f64);
                let _ = write!(
                    s,
                    r#"<rect x="{bx:.2}" y="{y:.2}" width="16" height="{:.2}" fill="{}"/>"#,
                    ph / n as f64 + 0.3,
                    viridis(u)
                );
            }
            for k in 0..5 {
                let f = k as f64 / 4.0;
                let _ = write!(
                    s,
                    r#"<text x="{:.2}" y="{:.2}">{}</text>"#,
                    bx + 22.0,
                    mt + ph * (1.0 - f) + 4.0,
                    self.label_value(lo + (hi - lo) * f, log)
                );
            }
        }
        s.push_str("</svg>");
        Ok(s)
    }

    /// Segments of the level set {z = c} (c on the band axis) by marching
    /// squares over the grid cells.
    fn contour(&self, c: f64, log: bool) -> Vec<((f64, f64), (f64, f64))> {
        let mut segs = Vec::new();
        let (nx, ny) = (self.xs.len(), self.ys.len());
        let val = |i: usize, j: usize| self.tf(self.z[i][j], log) - c;
        for i in 0..nx - 1 {
            for j in 0..ny - 1 {
                // Corners counter-clockwise: (i,j), (i+1,j), (i+1,j+1), (i,j+1).
                let p = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
                let v: Vec<f64> = p.iter().map(|&(a, b)| val(a, b)).collect();
                if v.iter().any(|x| !x.is_finite()) {
                    continue;
                }
                let mut pts = Vec::with_capacity(4);
                for e in 0..4 {
                    let (a, b) = (e, (e + 1) % 4);
                    if (v[a] < 0.0) != (v[b] < 0.0) {
                        let t = v[a] / (v[a] - v[b]);
                        let (pa, pb) = (p[a], p[b]);
                        let x = self.xs[pa.0] + t * (self.xs[pb.0] - self.xs[pa.0]);
                        let y = self.ys[pa.1] + t * (self.ys[pb.1] - self.ys[pa.1]);
                        pts.push((x, y));
                    }
                }
                if pts.len() >= 2 {
                    segs.push((pts[0], pts[1]));
                }
                if pts.len() == 4 {
                    segs.push((pts[2], pts[3]));
                }
            }
        }
        segs
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The viridis colour map at u ∈ [0, 1] (linear between five stops).
fn viridis(u: f64) -> String {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [68.0, 1.0, 84.0]),
        (0.25, [59.0, 82.0, 139.0]),
        (0.5, [33.0, 145.0, 140.0]),
        (0.75, [94.0, 201.0, 98.0]),
        (1.0, [253.0, 231.0, 37.0]),
    ];
    let u = if u.is_finite() {
        u.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let k = STOPS
        .windows(2)
        .position(|w| u <= w[1].0)
        .unwrap_or(STOPS.len() - 2);
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let t = (u - a.0) / (b.0 - a.0);
    let c: Vec<u8> = (0..3)
        .map(|i| (a.1[i] + t * (b.1[i] - a.1[i])).round() as u8)
        .collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bowl() -> HeatMap {
        let g: Vec<f64> = (0..21).map(|i| -1.0 + 0.1 * i as f64).collect();
        let z = g
            .iter()
            .map(|x| g.iter().map(|y| 1.0 + x * x + 4.0 * y * y).collect())
            .collect();
        let mut h = HeatMap::new(g.clone(), g, z).unwrap();
        h.mark = Some((0.0, 0.0));
        h
    }

    #[test]
    fn text_shows_low_centre_high_corners_and_contours() {
        let t = bowl().to_text();
        let lines: Vec<&str> = t.lines().collect();
        let rows = 480 / 20;
        let mid: Vec<char> = lines[rows / 2].chars().collect();
        let c = mid.iter().position(|&ch| ch == 'X').expect("the mark");
        assert_eq!(c, 40, "{t}");
        // The centre is the lowest band, the corners the highest.
        assert_eq!((mid[c - 1], mid[c + 1]), (' ', ' '), "{t}");
        assert!(
            lines[rows - 1].starts_with("@@@") && lines[rows - 1].ends_with("@ -1"),
            "{t}"
        );
        assert!(t.contains('·') && t.contains("bands (low → high)"), "{t}");
    }

    #[test]
    fn svg_has_cells_contours_and_colour_bar() {
        let s = bowl().to_svg().unwrap();
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.matches("<rect").count() > 441, "cells and colour bar");
        assert!(s.matches("<line").count() > 20, "contour segments");
        // A circle-like level set: its segments stay near the level's ellipse.
        let h = bowl();
        for (a, b) in h.contour(2.0, false) {
            for p in [a, b] {
                let r = p.0 * p.0 + 4.0 * p.1 * p.1;
                assert!((r - 1.0).abs() < 0.05, "{p:?} off the ellipse: {r}");
            }
        }
    }

    #[test]
    fn bad_grids_are_errors_and_nan_is_blank() {
        assert!(HeatMap::new(vec![0.0], vec![0.0, 1.0], vec![vec![1.0, 2.0]]).is_err());
        assert!(HeatMap::new(vec![1.0, 0.0], vec![0.0, 1.0], vec![vec![1.0; 2]; 2]).is_err());
        assert!(HeatMap::new(vec![0.0, 1.0], vec![0.0, 1.0], vec![vec![1.0; 3]; 2]).is_err());
        let h = HeatMap::new(
            vec![0.0, 1.0],
            vec![0.0, 1.0],
            vec![vec![1.0, f64::NAN], vec![2.0, 3.0]],
        )
        .unwrap();
        assert!(h.to_text().contains("1 non-finite"));
        assert!(h.to_svg().unwrap().contains("#bbbbbb"));
    }
}
