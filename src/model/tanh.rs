//! `Tanh()`: σ' = 1 − tanh², σ'' = −2 tanh σ'.

use crate::error::Result;
use crate::model::pointwise::Activation;
use candle_core::Tensor;

/// The hyperbolic tangent.
#[derive(Clone, Debug)]
pub struct Tanh;

impl Activation for Tanh {
    fn kind(&self) -> &'static str {
        "Tanh"
    }

    fn eval(&self, x: &Tensor) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let t = x.tanh()?;
        let d1 = t.sqr()?.affine(-1.0, 1.0)?;
        let d2 = t.mul(&d1)?.affine(-2.0, 0.0)?;
        Ok((t, d1, Some(d2)))
    }
}
