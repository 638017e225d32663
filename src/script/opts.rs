//! Option maps (`#{ lr: 0.1 }`) parsed into typed values; unknown keys are
//! errors that name the valid keys (and the closest one).

use rhai::{Dynamic, EvalAltResult, Map, INT};

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// A script error with a message (the engine adds the position).
pub fn script_err<T>(msg: impl Into<String>) -> RResult<T> {
    Err(EvalAltResult::ErrorRuntime(Dynamic::from(msg.into()), rhai::Position::NONE).into())
}

/// The type name scripts see for a value.
pub fn type_name(d: &Dynamic) -> String {
    let t = d.type_name();
    t.rsplit("::").next().unwrap_or(t).to_string()
}

/// The option keys of one operation, declared next to the function that
/// reads them (`pub(crate) const TRAIN_OPTS: Keys = …` above `train`):
/// [`Opts::of`] checks a map against them, and completion offers them
/// (every declaration is listed in [`super::api::OPTION_KEYS`]; a test
/// checks that every function taking an option map has one).
#[derive(Debug)]
pub struct Keys {
    /// The operation, as scripts call it.
    pub op: &'static str,
    /// Its valid keys.
    pub keys: &'static [&'static str],
}

/// A checked option map for one operation.
pub struct Opts {
    op: &'static str,
    map: Map,
}

pub use crate::text::{closest, edit_distance};

impl Opts {
    /// Checks that every key of `map` is in `allowed`.
    pub fn new(op: &'static str, map: Map, allowed: &[&str]) -> RResult<Opts> {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let close = closest(key, allowed.iter().copied())
                    .map(|a| format!(" (did you mean `{a}`?)"))
                    .unwrap_or_default();
                return script_err(format!(
                    "{op}: unknown option `{key}`{close}; valid options: {}",
                    allowed.join(", ")
                ));
            }
        }
        Ok(Opts { op, map })
    }

    /// Checks `map` against an operation's declared [`Keys`].
    pub fn of(keys: &'static Keys, map: Map) -> RResult<Opts> {
        Opts::new(keys.op, map, keys.keys)
    }

    /// An empty option set.
    pub fn empty(op: &'static str) -> Opts {
        Opts {
            op,
            map: Map::new(),
        }
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key).filter(|d| !d.is_unit())
    }

    fn bad<T>(&self, key: &str, expected: &str, got: &Dynamic) -> RResult<T> {
        script_err(format!(
            "{}: option `{key}`: expected {expected}, got {} {}",
            self.op,
            type_name(got),
            got
        ))
    }

    /// A number (integer or float).
    pub fn opt_f64(&self, key: &str) -> RResult<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(d) => match as_f64(d) {
                Some(x) => Ok(Some(x)),
                None => self.bad(key, "a number", d),
            },
        }
    }

    /// A number with a default.
    pub fn f64(&self, key: &str, default: f64) -> RResult<f64> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    /// A non-negative integer.
    pub fn opt_usize(&self, key: &str) -> RResult<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(d) => match as_int(d) {
                Some(i) if i >= 0 => Ok(Some(i as usize)),
                _ => self.bad(key, "an integer ≥ 0", d),
            },
        }
    }

    /// A non-negative integer with a default.
    pub fn usize(&self, key: &str, default: usize) -> RResult<usize> {
        Ok(self.opt_usize(key)?.unwrap_or(default))
    }

    /// A seed (any integer; negative ones are reinterpreted as unsigned).
    pub fn seed(&self, key: &str, default: u64) -> RResult<u64> {
        match self.get(key) {
            None => Ok(default),
            Some(d) => match as_int(d) {
                Some(i) => Ok(i as u64),
                None => self.bad(key, "an integer seed", d),
            },
        }
    }

    /// A boolean with a default.
    pub fn bool(&self, key: &str, default: bool) -> RResult<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(d) => match d.as_bool() {
                Ok(b) => Ok(b),
                Err(_) => self.bad(key, "true or false", d),
            },
        }
    }

    /// A boolean, if given.
    pub fn opt_bool(&self, key: &str) -> RResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(d) => match d.as_bool() {
                Ok(b) => Ok(Some(b)),
                Err(_) => self.bad(key, "true or false", d),
            },
        }
    }

    /// A string.
    pub fn opt_string(&self, key: &str) -> RResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(d) if d.is_string() => Ok(Some(d.to_string())),
            Some(d) => self.bad(key, "a string", d),
        }
    }

    /// A string with a default.
    pub fn string(&self, key: &str, default: &str) -> RResult<String> {
        Ok(self.opt_string(key)?.unwrap_or_else(|| default.to_string()))
    }

    /// A value of a custom type.
    pub fn opt_custom<T: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        expected: &str,
    ) -> RResult<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(d) => match d.clone().try_cast::<T>() {
                Some(t) => Ok(Some(t)),
                None => self.bad(key, expected, d),
            },
        }
    }

    /// A list of numbers (array or Vector).
    pub fn opt_f64s(&self, key: &str) -> RResult<Option<Vec<f64>>> {
        match self.get(key) {
            None => Ok(None),
            Some(d) => match f64s(d) {
                Some(v) => Ok(Some(v)),
                None => self.bad(key, "an array of numbers", d),
            },
        }
    }
}

/// An integer or float as f64.
pub fn as_f64(d: &Dynamic) -> Option<f64> {
    if let Ok(f) = d.as_float() {
        Some(f)
    } else {
        d.as_int().ok().map(|i| i as f64)
    }
}

/// An integer, or a float with an integer value.
pub fn as_int(d: &Dynamic) -> Option<INT> {
    if let Ok(i) = d.as_int() {
        return Some(i);
    }
    match d.as_float() {
        Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as INT),
        _ => None,
    }
}

/// An array of numbers or a Vector as `Vec<f64>`.
pub fn f64s(d: &Dynamic) -> Option<Vec<f64>> {
    if let Some(v) = d.clone().try_cast::<super::types::Vector>() {
        return Some(v.as_slice().to_vec());
    }
    if let Some(s) = d.read_lock::<super::types::Spectrum>() {
        return Some(s.0.values().to_vec());
    }
    let arr = d.read_lock::<rhai::Array>()?;
    arr.iter().map(as_f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_the_valid_ones_and_the_closest() {
        let mut m = Map::new();
        m.insert("lrr".into(), Dynamic::from(0.1));
        let e = Opts::new("train", m, &["lr", "batch"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown option `lrr`"), "{e}");
        assert!(e.contains("did you mean `lr`"), "{e}");
        assert!(e.contains("valid options: lr, batch"), "{e}");
    }

    #[test]
    fn typed_getters_convert_and_reject() {
        let mut m = Map::new();
        m.insert("lr".into(), Dynamic::from(1_i64));
        m.insert("batch".into(), Dynamic::from(-3_i64));
        m.insert("name".into(), Dynamic::from("x"));
        let o = Opts::new("t", m, &["lr", "batch", "name"]).unwrap();
        assert_eq!(o.f64("lr", 0.0).unwrap(), 1.0);
        assert!(o.usize("batch", 0).is_err());
        assert!(o.f64("name", 0.0).is_err());
        assert_eq!(o.usize("missing", 7).unwrap(), 7);
    }
}
