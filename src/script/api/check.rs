//! Checks for scripts, tests and teaching exercises, and small utilities.

use rhai::plugin::*;

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
