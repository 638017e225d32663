//! Checks for scripts, tests and teaching exercises, and small utilities.

use rhai::plugin::*;

/// Checks: assertions and the Hessian check. (script functions)
#[export_module]
pub mod check {
    use crate::script::opts::{as_f64, f64s, script_err, type_name};
    use rhai::{Dynamic, EvalAltResult, INT};

    type RResult<T> = Result<T, Box<EvalAltResult>>;

    /// Stops the script with `message` unless `cond` is true.
    ///
    /// # Example
    /// ```rhai
    /// assert(1 + 1 == 2, "arithmetic works");
    /// ```
    #[rhai_fn(name = "assert", return_raw)]
    pub fn assert(cond: bool, message: &str) -> RResult<()> {
        if cond {
            Ok(())
        } else {
            script_err(format!("assert: {message}"))
        }
    }

    /// Stops the script unless `a` and `b` agree to relative tolerance `rtol`:
    /// |a − b| ≤ rtol · max(|a|, |b|) (with an absolute floor of rtol · 1e-12).
    /// Numbers, Vectors, Spectra and arrays of numbers are compared entry by
    /// entry; the message names the worst entry.
    ///
    /// # Example
    /// ```rhai
    /// assert_close(0.1 + 0.2, 0.3, 1e-12);
    /// assert_close(vector([1, 2]), [1, 2.000000001], 1e-6);
    /// ```
    #[rhai_fn(name = "assert_close", return_raw)]
    pub fn assert_close_i(a: Dynamic, b: Dynamic, rtol: INT) -> RResult<()> {
        assert_close(a, b, rtol as f64)
    }

    /// `assert_close(a, b, rtol)` with a float tolerance (see above).
    #[rhai_fn(return_raw)]
    pub fn assert_close(a: Dynamic, b: Dynamic, rtol: f64) -> RResult<()> {
        let va = as_f64(&a).map(|x| vec![x]).or_else(|| f64s(&a));
        let vb = as_f64(&b).map(|x| vec![x]).or_else(|| f64s(&b));
        let (va, vb) = match (va, vb) {
            (Some(x), Some(y)) => (x, y),
            _ => {
                return script_err(format!(
                "assert_close: expected two numbers, Vectors or arrays of numbers, got {} and {}",
                type_name(&a),
                type_name(&b)
            ))
            }
        };
        if !(rtol.is_finite() && rtol >= 0.0) {
            return script_err(format!(
                "assert_close: expected a tolerance rtol ≥ 0, got {rtol}"
            ));
        }
        if va.len() != vb.len() {
            return script_err(format!(
                "assert_close: expected values of the same length, got {} and {}",
                va.len(),
                vb.len()
            ));
        }
        let mut worst: Option<(usize, f64)> = None;
        for (i, (x, y)) in va.iter().zip(&vb).enumerate() {
            let scale = x.abs().max(y.abs());
            let rel = if scale == 0.0 {
                0.0
            } else {
                (x - y).abs() / scale
            };
            // Equal values (the same infinity too) agree; otherwise a NaN or
            // an infinity never does (∞ ≤ rtol·∞ must not pass).
            let ok = x == y
                || (x.is_finite() && y.is_finite() && (x - y).abs() <= rtol * scale.max(1e-12));
            if (!ok || x.is_nan() || y.is_nan())
                && worst.is_none_or(|(_, r)| rel > r || rel.is_nan())
            {
                worst = Some((i, rel));
            }
        }
        match worst {
            None => Ok(()),
            Some((i, rel)) => {
                let at = if va.len() > 1 {
                    format!(" at index {i}")
                } else {
                    String::new()
                };
                script_err(format!(
                    "assert_close: expected agreement to rtol {rtol:e}, got {} vs {}{at} (relative difference {rel:.3e})",
                    va[i], vb[i]
                ))
            }
        }
    }

    /// Stops the script unless `got` is the expected answer `want`, to
    /// relative tolerance `rtol`, and says which way it is off and by how
    /// much (teaching exercises compare a learner's value with the one the
    /// solution's computation gives; `hlab check` shows the message).
    /// `about` names the answer (`"step 3: share0, ‖R‖_F / ‖H‖_F"`) or is a
    /// map: `what` (that name), `large` and `small` (hints shown when the
    /// answer is too large or too small), `hint` (shown either way).
    ///
    /// Numbers pass when |got − want| ≤ rtol·|want| (rtol 0: exactly);
    /// integers are counts (too many, too few). Vectors, Matrices, Spectra
    /// and arrays of numbers need the same type and shape and pass when
    /// ‖got − want‖ ≤ rtol·‖want‖; the message gives the relative
    /// difference, whether got is too large or too small as a whole (or
    /// points another way), and the entry furthest off.
    ///
    /// # Example
    /// ```rhai
    /// let v = vector([3, 4]);
    /// let u = v / norm(v);
    /// assert_answer(u, vector([0.6, 0.8]), 1e-12, "u, the unit vector along v");
    /// assert_answer(2 + 2, 4, 0, #{ what: "the sum", large: "count again" });
    /// try {
    ///     assert_answer(0.5, 0.25, 1e-9, "step 2: the share");
    /// } catch (e) {
    ///     print(e);   // prints assert: step 2: the share: expected 0.25, got 0.5: too large by 0.25 (2× the expected; tolerance 1e-9 relative)
    /// }
    /// ```
    #[rhai_fn(name = "assert_answer", return_raw)]
    pub fn assert_answer_i(got: Dynamic, want: Dynamic, rtol: INT, about: Dynamic) -> RResult<()> {
        assert_answer(got, want, rtol as f64, about)
    }

    /// `assert_answer(got, want, rtol, about)` with a float tolerance (see above).
    #[rhai_fn(return_raw)]
    pub fn assert_answer(got: Dynamic, want: Dynamic, rtol: f64, about: Dynamic) -> RResult<()> {
        let about = super::About::of(&about)?;
        if !(rtol.is_finite() && rtol >= 0.0) {
            return script_err(format!(
                "assert_answer: expected a tolerance rtol ≥ 0, got {rtol}"
            ));
        }
        let want = super::Answer::of(&want).ok_or_else(|| {
            format!(
                "assert_answer: expected the right answer to be a number, Vector, Matrix, Spectrum or array of numbers, got {}",
                type_name(&want)
            )
        })?;
        if want.values.iter().any(|x| !x.is_finite()) {
            return script_err(
                "assert_answer: expected a finite right answer, got NaN or infinity",
            );
        }
        match super::answer_report(&got, &want, rtol, &about) {
            None => Ok(()),
            Some(msg) => script_err(format!("assert: {msg}")),
        }
    }

    /// A path for a file named `name` in a fresh per-process temporary folder
    /// (for examples and tests that write files). The folder is created by
    /// this process under an unpredictable name, mode 700; a folder that is
    /// not the one it created is refused.
    ///
    /// # Example
    /// ```rhai
    /// print(temp_path("a.npy").ends_with("a.npy"));   // prints true
    /// ```
    #[rhai_fn(return_raw)]
    pub fn temp_path(name: &str) -> RResult<String> {
        let simple = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains('/')
            && !name.contains('\0');
        if !simple {
            return script_err(format!(
                "temp_path: expected a plain file name (no `/`, not `.` or `..`), got {name:?}"
            ));
        }
        match crate::fsio::private_temp_dir() {
            Ok(dir) => Ok(dir.join(name).display().to_string()),
            Err(e) => script_err(format!("temp_path: {e}")),
        }
    }
}

/// What [`check::assert_answer`] says about the answer.
struct About {
    what: String,
    large: Option<String>,
    small: Option<String>,
    hint: Option<String>,
}

impl About {
    fn of(d: &rhai::Dynamic) -> Result<About, Box<rhai::EvalAltResult>> {
        if let Ok(s) = d.clone().into_string() {
            return Ok(About {
                what: s,
                large: None,
                small: None,
                hint: None,
            });
        }
        let bad = || -> Box<rhai::EvalAltResult> {
            format!(
                "assert_answer: expected `about` to be a string or a map with `what` (and `large`, `small`, `hint`), got {}",
                crate::script::opts::type_name(d)
            )
            .into()
        };
        let map = d.read_lock::<rhai::Map>().ok_or_else(&bad)?;
        let text = |k: &str| -> Result<Option<String>, Box<rhai::EvalAltResult>> {
            match map.get(k) {
                None => Ok(None),
                Some(v) => v.clone().into_string().map(Some).map_err(|_| bad()),
            }
        };
        for k in map.keys() {
            if !["what", "large", "small", "hint"].contains(&k.as_str()) {
                return Err(format!(
                    "assert_answer: unknown key `{k}` in `about`; valid keys: what, large, small, hint"
                )
                .into());
            }
        }
        Ok(About {
            what: text("what")?.ok_or_else(&bad)?,
            large: text("large")?,
            small: text("small")?,
            hint: text("hint")?,
        })
    }

    /// The hints for an answer too large (`Some(true)`), too small
    /// (`Some(false)`) or off another way (`None`), each after "; ".
    fn hints(&self, large: Option<bool>) -> String {
        let side = match large {
            Some(true) => self.large.as_deref(),
            Some(false) => self.small.as_deref(),
            None => None,
        };
        side.into_iter()
            .chain(self.hint.as_deref())
            .map(|h| format!("; {h}"))
            .collect()
    }
}

/// A value to compare: its type, shape and entries.
struct Answer {
    /// `None` for a number; else the type name and its shape in words.
    kind: Option<(String, String)>,
    /// Integers (counts).
    ints: bool,
    values: Vec<f64>,
}

impl Answer {
    fn of(d: &rhai::Dynamic) -> Option<Answer> {
        use crate::script::opts::{as_f64, f64s, type_name};
        if let Some(x) = as_f64(d) {
            return Some(Answer {
                kind: None,
                ints: d.is_int(),
                values: vec![x],
            });
        }
        if let Some(m) = d.read_lock::<crate::script::types::Matrix>() {
            return Some(Answer {
                kind: Some((
                    "Matrix".into(),
                    format!("a {}×{} Matrix", m.0.rows(), m.0.cols()),
                )),
                ints: false,
                values: m.0.data().to_vec(),
            });
        }
        let values = f64s(d)?;
        let ints = d
            .read_lock::<rhai::Array>()
            .is_some_and(|a| a.iter().all(rhai::Dynamic::is_int));
        let t = type_name(d);
        let shape = format!("{} of {} entries", t, values.len());
        Some(Answer {
            kind: Some((t, shape)),
            ints,
            values,
        })
    }

    /// The value in a message: a number, a short array, or its shape.
    fn show(&self, digits: bool) -> String {
        let num = |x: f64| {
            if digits {
                format!("{x}")
            } else {
                crate::script::types::fmt_num(x)
            }
        };
        match &self.kind {
            None => num(self.values[0]),
            Some((_, shape)) if self.values.len() > 6 => shape.clone(),
            Some(_) => {
                let parts: Vec<String> = self.values.iter().map(|&x| num(x)).collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }
}

/// `got` off `want` in words ("too large by 2.2", "too few by 27") and,
/// for non-integers of the same sign, the factor ("3.3× the expected").
fn off_by(got: f64, want: f64, ints: bool) -> (String, Option<String>) {
    let d = got - want;
    let word = match (ints, d > 0.0) {
        (true, true) => "too many",
        (true, false) => "too few",
        (false, true) => "too large",
        (false, false) => "too small",
    };
    let factor = got / want;
    let factor = (!ints && factor.is_finite() && factor > 0.0 && (factor - 1.0).abs() > 1e-3)
        .then(|| format!("{}× the expected", crate::script::types::fmt_num(factor)));
    (
        format!("{word} by {}", crate::script::types::fmt_num(d.abs())),
        factor,
    )
}

/// " (a; b)" of the parts that are there, or "".
fn parens(parts: &[Option<String>]) -> String {
    let parts: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// Why `got` is not `want` to `rtol`, or `None` when it is.
fn answer_report(got: &rhai::Dynamic, want: &Answer, rtol: f64, about: &About) -> Option<String> {
    let what = &about.what;
    let tol = (rtol > 0.0).then(|| format!("tolerance {rtol:e} relative"));
    let Some(g) = Answer::of(got) else {
        return Some(format!(
            "{what}: expected {}, got {}{}",
            want.kind.as_ref().map_or("a number", |k| k.1.as_str()),
            crate::script::opts::type_name(got),
            about.hints(None)
        ));
    };
    let same_shape = match (&g.kind, &want.kind) {
        (None, None) => true,
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    if !same_shape {
        let shape = |a: &Answer| {
            a.kind
                .as_ref()
                .map_or("a number".to_string(), |k| k.1.clone())
        };
        return Some(format!(
            "{what}: expected {}, got {}{}",
            shape(want),
            shape(&g),
            about.hints(None)
        ));
    }
    if let (None, [x], [w]) = (&want.kind, g.values.as_slice(), want.values.as_slice()) {
        let (x, w) = (*x, *w);
        if x.is_finite() && (x - w).abs() <= rtol * w.abs().max(if w == 0.0 { 1.0 } else { 0.0 }) {
            return None;
        }
        if !x.is_finite() {
            return Some(format!(
                "{what}: expected {}, got {x}{}",
                want.show(false),
                about.hints(None)
            ));
        }
        let close = (x - w).abs() <= 1e-4 * w.abs();
        let (words, factor) = off_by(x, w, want.ints && g.ints);
        return Some(format!(
            "{what}: expected {}, got {}: {words}{}{}",
            want.show(close),
            g.show(close),
            parens(&[factor, tol]),
            about.hints(Some(x > w))
        ));
    }
    // Several entries: as a whole, and the entry furthest off.
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let diff: Vec<f64> = g
        .values
        .iter()
        .zip(&want.values)
        .map(|(a, b)| a - b)
        .collect();
    let (nd, nw, ng) = (norm(&diff), norm(&want.values), norm(&g.values));
    if nd.is_finite() && nd <= rtol * if nw == 0.0 { 1.0 } else { nw } {
        return None;
    }
    let rel = if nw == 0.0 { nd } else { nd / nw };
    let cos = g
        .values
        .iter()
        .zip(&want.values)
        .map(|(a, b)| a * b)
        .sum::<f64>()
        / (ng * nw);
    let ratio = ng / nw;
    let mut whole = Vec::new();
    let mut large = None;
    if ratio.is_finite() && (ratio - 1.0).abs() > rtol.max(1e-12) && nw > 0.0 {
        large = Some(ratio > 1.0);
        whole.push(format!(
            "too {} as a whole (norm {}× the expected)",
            if ratio > 1.0 { "large" } else { "small" },
            crate::script::types::fmt_num(ratio)
        ));
    }
    if cos.is_finite() && cos < 1.0 - 1e-6 {
        whole.push(format!(
            "points another way (cosine {} with the expected)",
            crate::script::types::fmt_num(cos)
        ));
    }
    let (i, _) = diff.iter().enumerate().fold((0, -1.0), |(bi, bd), (i, d)| {
        let d = if d.is_nan() { f64::INFINITY } else { d.abs() };
        if d > bd {
            (i, d)
        } else {
            (bi, bd)
        }
    });
    let (x, w) = (g.values[i], want.values[i]);
    let entry = if x.is_finite() {
        let (words, _) = off_by(x, w, want.ints && g.ints);
        format!(
            "{} instead of {}, {words}",
            crate::script::types::fmt_num(x),
            crate::script::types::fmt_num(w)
        )
    } else {
        format!("{x} instead of {}", crate::script::types::fmt_num(w))
    };
    let whole = if whole.is_empty() {
        String::new()
    } else {
        format!("; {}", whole.join(" and "))
    };
    Some(format!(
        "{what}: expected {}, got {}: off by {} relative{}{whole}; furthest off at index {i}: {entry}{}",
        want.show(false),
        g.show(false),
        crate::script::types::fmt_num(rel),
        parens(&[tol]),
        about.hints(large.or_else(|| (want.values.len() <= 6).then_some(x > w)))
    ))
}
