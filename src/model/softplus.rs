//! `Softplus()`: log(1 + eˣ) (β = 1), and x itself above the threshold 20,
//! as PyTorch: there σ' = 1 and σ'' = 0; below, σ' = sigmoid(x) and
//! σ'' = σ'(1 − σ').

use crate::error::Result;
use crate::model::pointwise::{map3, Activation};
use candle_core::Tensor;

/// The smooth rectifier.
#[derive(Clone, Debug)]
pub struct Softplus;

/// PyTorch's default threshold.
const THRESHOLD: f64 = 20.0;

/// `(softplus, softplus', softplus'')` at `x`.
pub fn softplus(x: f64) -> (f64, f64, f64) {
    if x > THRESHOLD {
        return (x, 1.0, 0.0);
    }
    let s = 1.0 / (1.0 + (-x).exp());
    (x.exp().ln_1p(), s, s * (1.0 - s))
}

impl Activation for Softplus {
    fn kind(&self) -> &'static str {
        "Softplus"
    }

    fn eval(&self, x: &Tensor) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let (y, d1, d2) = map3(x, softplus)?;
        Ok((y, d1, Some(d2)))
    }
}
