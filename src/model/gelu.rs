//! `GELU()`: x·Φ(x) with the exact normal CDF (erf), or with
//! `approximate: "tanh"` PyTorch's `0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
//! Both with exact first and second derivatives.

use crate::error::Result;
use crate::model::pointwise::{map3, Activation};
use candle_core::Tensor;

/// The Gaussian error linear unit.
#[derive(Clone, Debug)]
pub struct GELU {
    /// Use the tanh approximation.
    pub tanh: bool,
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
const C3: f64 = 0.044_715;

/// `(gelu, gelu', gelu'')` at `x`, exact (erf).
pub fn gelu_erf(x: f64) -> (f64, f64, f64) {
    let cdf = 0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2));
    let pdf = INV_SQRT_2PI * (-0.5 * x * x).exp();
    (x * cdf, cdf + x * pdf, pdf * (2.0 - x * x))
}

/// `(gelu, gelu', gelu'')` at `x`, tanh approximation.
pub fn gelu_tanh(x: f64) -> (f64, f64, f64) {
    let u = SQRT_2_OVER_PI * (x + C3 * x * x * x);
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * C3 * x * x);
    let ddu = SQRT_2_OVER_PI * 6.0 * C3 * x;
    let t = u.tanh();
    let s = 1.0 - t * t; // tanh'(u)
    let y = 0.5 * x * (1.0 + t);
    let d1 = 0.5 * (1.0 + t) + 0.5 * x * s * du;
    let d2 = s * du + 0.5 * x * (-2.0 * t * s * du * du + s * ddu);
    (y, d1, d2)
}

impl Activation for GELU {
    fn kind(&self) -> &'static str {
        "GELU"
    }

    fn describe(&self) -> String {
        if self.tanh {
            "GELU(approximate='tanh')".into()
        } else {
            "GELU()".into()
        }
    }

    fn eval(&self, x: &Tensor) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let (y, d1, d2) = if self.tanh {
            map3(x, gelu_tanh)?
        } else {
            map3(x, gelu_erf)?
        };
        Ok((y, d1, Some(d2)))
    }
}
