//! Plots: charts of values, shown as text in a terminal and SVG in Jupyter.

use crate::plot::{Chart, Figure};
use crate::script::opts::type_name;
use crate::script::opts::{script_err, Opts};
use rhai::{EvalAltResult, Map};

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// Applies `title`, `log_y`, `symlog`, `width`, `height`, `x_label`,
/// `y_label`, `cols`, `rows`, `color`.
pub fn apply_opts(mut fig: Figure, o: &Opts) -> RResult<Figure> {
    let title = o.opt_string("title")?;
    let log_y = o.bool("log_y", false)?;
    let symlog = o.opt_f64("symlog")?;
    let w = o.opt_usize("width")?;
    let h = o.opt_usize("height")?;
    let xl = o.opt_string("x_label")?;
    let yl = o.opt_string("y_label")?;
    let cols = o.opt_usize("cols")?;
    let rows = o.opt_usize("rows")?;
    let color = o.opt_bool("color")?;
    for (key, v, lo, hi) in [("cols", cols, 31, 261), ("rows", rows, 5, 81)] {
        if let Some(v) = v.filter(|v| !(lo..=hi).contains(v)) {
            return script_err(format!(
                "plot: {key}: expected between {lo} and {hi} text {key}, got {v}"
            ));
        }
    }
    let n = fig.charts.len();
    let mut out = Vec::with_capacity(n);
    for (i, mut c) in fig.charts.drain(..).enumerate() {
        if let Some(t) = &title {
            let old = c.title.clone();
            c = c.title(match old {
                Some(ct) if n > 1 => format!("{t} — {ct}"),
                _ => t.clone(),
            });
        }
        if log_y && i == 0 {
            c = c.log_y(true);
        }
        if let Some(s) = symlog {
            c = c.symlog_y(s)?;
        }
        if w.is_some() || h.is_some() {
            let ww = w.unwrap_or(c.width as usize).min(u32::MAX as usize) as u32;
            let hh = h.unwrap_or(c.height as usize).min(u32::MAX as usize) as u32;
            c = c.size(ww, hh)?;
        }
        if let Some(x) = &xl {
            c = c.x_label(x.clone());
        }
        c.cols = cols.map(|v| v as u32).or(c.cols);
        c.rows = rows.map(|v| v as u32).or(c.rows);
        c.color = color.or(c.color);
        if let Some(y) = &yl {
            c = c.y_label(y.clone());
        }
        out.push(c);
    }
    Ok(Figure::new(out))
}

/// One chart as a figure.
pub fn single(c: Chart) -> Figure {
    Figure::new(vec![c])
}

/// Errors for values that cannot be plotted.
pub fn cannot_plot<T>(what: &str) -> RResult<T> {
    script_err(format!(
        "plot: expected a History, Spectrum, Density, Curve, Vector or array of numbers, got {what}"
    ))
}

/// Several Spectra, Densities, Histories or Curves on one chart: each
/// one's figure, its series renamed by `labels` (default "1", "2", …)
/// and drawn on the first one's charts.
pub fn figure_of_many(values: &rhai::Array, o: &Opts) -> RResult<crate::plot::Figure> {
    let labels: Vec<String> = match o.get("labels") {
        None => (1..=values.len()).map(|i| i.to_string()).collect(),
        Some(l) => match l.read_lock::<rhai::Array>() {
            Some(a) if a.len() == values.len() => a.iter().map(|x| x.to_string()).collect(),
            _ => {
                return script_err(format!(
                    "plot: labels: expected an array of {} names (one per value), got {}",
                    values.len(),
                    l
                ))
            }
        },
    };
    let mut out: Option<crate::plot::Figure> = None;
    let mut kind = String::new();
    for (v, label) in values.iter().zip(&labels) {
        let mut v = v.clone();
        let t = type_name(&v);
        if kind.is_empty() {
            kind = t.clone();
        } else if t != kind {
            return script_err(format!(
                "plot: expected values of one kind on one chart, got {kind} and {t}"
            ));
        }
        let fig = plot::figure_of(&mut v, Opts::of(&plot::PLOT_OPTS, Map::new())?)?;
        match &mut out {
            None => {
                let mut f = fig;
                for c in &mut f.charts {
                    rename(c, label);
                }
                out = Some(f);
            }
            Some(f) => {
                for (dst, mut src) in f.charts.iter_mut().zip(fig.charts) {
                    rename(&mut src, label);
                    dst.series.extend(src.series);
                }
            }
        }
    }
    let mut fig = out.unwrap_or_default();
    for c in &mut fig.charts {
        if let Some(t) = &c.title {
            // "4270 eigenvalues of the hessian (dense)" → one per label.
            c.title = Some(format!("{} — {}", labels.join(", "), t));
        }
    }
    Ok(fig)
}

/// Prefixes a chart's series names with `label` (or names its only
/// series `label`).
pub fn rename(c: &mut crate::plot::Chart, label: &str) {
    let one = c.series.len() == 1;
    for s in &mut c.series {
        s.name = if one {
            label.to_string()
        } else {
            format!("{label} {}", s.name)
        };
    }
}

/// Plots: charts of values. (script functions)
#[rhai::plugin::export_module]
pub mod plot {
    use super::{apply_opts, cannot_plot, figure_of_many, single};
    use crate::plot::{histogram, views, Chart, Series};
    use crate::script::opts::Keys;
    use crate::script::opts::{f64s, script_err, type_name, Opts};
    use crate::script::types::{self, Plot};
    use rhai::{Dynamic, EvalAltResult, Map};

    type RResult<T> = Result<T, Box<EvalAltResult>>;

    /// The figure `plot(value, opts)` draws for a History, Spectrum,
    /// Density, Curve or numbers.
    #[rhai_fn(skip)]
    pub fn figure_of(value: &mut Dynamic, o: Opts) -> RResult<crate::plot::Figure> {
        let value = &*value;
        if let Some(a) = value.read_lock::<rhai::Array>() {
            if !a.is_empty() && f64s(value).is_none() {
                let fig = figure_of_many(&a, &o)?;
                return apply_opts(fig, &o);
            }
        }
        if o.get("labels").is_some() {
            return script_err(
                "plot: labels: expected an array of values to label (plot([s, g], #{ labels: [\"H\", \"G\"] })), got one value",
            );
        }
        let fig = if let Some(h) = value.read_lock::<types::History>() {
            views::history(&h.0)
        } else if let Some(s) = value.read_lock::<types::Spectrum>() {
            let mut f = views::spectrum(&s.0, false);
            if o.bool("log_y", false)? {
                for c in &mut f.charts {
                    c.series
                        .iter_mut()
                        .for_each(|ser| ser.ys.iter_mut().for_each(|y| *y = y.abs()));
                    c.notes.push("|eigenvalue| on a log axis".into());
                }
            }
            f
        } else if let Some(d) = value.read_lock::<types::Density>() {
            views::density(&d.0)
        } else if let Some(c) = value.read_lock::<types::Curve>() {
            views::curve(&c.0)
        } else if let Some(ys) = f64s(value) {
            single(
                Chart::new()
                    .title(format!("{} values", ys.len()))
                    .x_label("index")
                    .y_label("value")
                    .with_series(Series::values("values", ys)),
            )
        } else {
            return cannot_plot(&type_name(value));
        };
        apply_opts(fig, &o)
    }

    /// Plots a value and shows it: a History (loss above accuracy, against the
    /// step), a Spectrum (eigenvalue against rank), a Density, a Curve, or an
    /// array/Vector of numbers (against their index).
    ///
    /// Shows as text in a terminal and as SVG in Jupyter; returns the Plot so it
    /// can be saved with `save_svg`.
    ///
    /// # Example
    /// ```rhai
    /// let p = plot([1, 4, 9, 16, 25]);
    /// print(type_of(p));   // prints Plot
    /// ```
    #[rhai_fn(name = "plot", return_raw)]
    pub fn plot1(value: Dynamic) -> RResult<Plot> {
        plot2(value, Map::new())
    }

    /// `plot`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const PLOT_OPTS: Keys = Keys {
        op: "plot",
        keys: &[
            "title", "log_y", "symlog", "width", "height", "x_label", "y_label", "cols", "rows",
            "color", "labels",
        ],
    };

    /// Plots a value with options: `title`, `log_y` (log10 y axis), `symlog`
    /// (symmetric log y axis, linear within ±the given threshold), `width`,
    /// `height` (SVG pixels), `cols`, `rows` (text; default: the terminal's
    /// width), `x_label`, `y_label`, `color` (text: several series in
    /// distinct colours, `true`/`false` forces it; by default on when stdout
    /// is a terminal and `NO_COLOR` is unset, never in Jupyter). An array of
    /// Spectra, Densities, Histories or Curves draws them on one chart,
    /// named by `labels`, told apart by dashes and the legend as well.
    ///
    /// # Example
    /// ```rhai
    /// let data = make_clusters(#{ n: 100, k: 2, dim: 5, seed: 1 });
    /// let m = mlp([5, 8, 2]);
    /// let h = train(m, data, #{ batch: 10, epochs: 5 });
    /// plot(h, #{ title: "training", log_y: true, width: 480, cols: 72 });
    /// let s = eigs(hessian(m, data));
    /// let g = eigs(gauss_newton(m, data));
    /// plot([s, g], #{ labels: ["H", "G"] });
    /// ```
    #[rhai_fn(name = "plot", return_raw)]
    pub fn plot2(value: Dynamic, opts: Map) -> RResult<Plot> {
        // plot(xs, ys) arrives here when the second argument is not a map.
        let o = Opts::of(&PLOT_OPTS, opts)?;
        let mut value = value;
        Ok(Plot::show(figure_of(&mut value, o)?))
    }

    /// Plots `ys` against `xs` (arrays or Vectors of the same length).
    ///
    /// # Example
    /// ```rhai
    /// let xs = [0.0, 0.5, 1.0, 1.5];
    /// plot(xs, [0.0, 0.25, 1.0, 2.25], #{ title: "x²" });
    /// ```
    #[rhai_fn(name = "plot", return_raw)]
    pub fn plot_xy(xs: Dynamic, ys: Dynamic, opts: Map) -> RResult<Plot> {
        let o = Opts::of(&PLOT_OPTS, opts)?;
        let (Some(x), Some(y)) = (f64s(&xs), f64s(&ys)) else {
            return script_err(format!(
                "plot: expected two arrays of numbers, got {} and {}",
                type_name(&xs),
                type_name(&ys)
            ));
        };
        if x.len() != y.len() {
            return script_err(format!(
                "plot: expected xs and ys of the same length, got {} and {}",
                x.len(),
                y.len()
            ));
        }
        let chart = Chart::line(x, y)
            .title("y against x")
            .x_label("x")
            .y_label("y");
        let fig = apply_opts(single(chart), &o)?;
        Ok(Plot::show(fig))
    }

    /// Plots `ys` against `xs` with default options.
    #[rhai_fn(name = "plot", return_raw)]
    pub fn plot_xy_default(xs: rhai::Array, ys: rhai::Array) -> RResult<Plot> {
        plot_xy(Dynamic::from_array(xs), Dynamic::from_array(ys), Map::new())
    }

    /// `hist`'s option keys: [`Opts::of`] checks maps against them and
    /// completion offers them.
    pub(crate) const HIST_OPTS: Keys = Keys {
        op: "hist",
        keys: &[
            "title", "log_y", "symlog", "width", "height", "x_label", "y_label", "cols", "rows",
            "color", "bins", "log", "overlay",
        ],
    };

    /// A histogram of numbers (an array, Vector or Spectrum) and shows it.
    ///
    /// Options: `bins` (30), `log` (log scale for the counts: symmetric log,
    /// so empty bins stay visible), `overlay` (a Density — e.g.
    /// `marchenko_pastur(…)` or `density(m, data)` — drawn over the bars,
    /// scaled to the counts), and the plot options.
    ///
    /// # Example
    /// ```rhai
    /// let h = hist(randn(2000, 1), #{ bins: 20, title: "N(0, 1)" });
    /// print(type_of(h));   // prints Plot
    /// ```
    #[rhai_fn(name = "hist", return_raw)]
    pub fn hist2(values: Dynamic, opts: Map) -> RResult<Plot> {
        let o = Opts::of(&HIST_OPTS, opts)?;
        let Some(v) = f64s(&values) else {
            return script_err(format!(
                "hist: expected a Vector, Spectrum or array of numbers, got {}",
                type_name(&values)
            ));
        };
        let bins = o.usize("bins", 30)?;
        let mut chart = histogram(&v, bins, o.bool("log", false)?)?;
        if let Some(d) = o.opt_custom::<types::Density>("overlay", "a Density")? {
            chart = crate::plot::overlay_density(chart, &d.0);
        }
        Ok(Plot::show(apply_opts(single(chart), &o)?))
    }

    /// A histogram with the number of bins given positionally: `hist(v, 50)`.
    #[rhai_fn(name = "hist", return_raw)]
    pub fn hist_bins(values: Dynamic, bins: rhai::INT) -> RResult<Plot> {
        let mut o = Map::new();
        o.insert("bins".into(), Dynamic::from_int(bins));
        hist2(values, o)
    }

    /// A histogram with default options (30 bins).
    #[rhai_fn(name = "hist", return_raw)]
    pub fn hist1(values: Dynamic) -> RResult<Plot> {
        hist2(values, Map::new())
    }

    /// Saves a plot as an SVG file (atomic write).
    ///
    /// # Example
    /// ```rhai
    /// let p = plot([3, 1, 2]);
    /// let path = temp_path("p.svg");
    /// save_svg(p, path);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn save_svg(p: Plot, path: &str) -> RResult<()> {
        p.fig.save_svg(std::path::Path::new(path))?;
        Ok(())
    }
}
