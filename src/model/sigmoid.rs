//! `Sigmoid()`: s = 1/(1 + e^(−x)), σ' = s(1 − s), σ'' = σ'(1 − 2s).

use crate::error::Result;
use crate::model::pointwise::Activation;
use candle_core::Tensor;

/// The logistic function.
#[derive(Clone, Debug)]
pub struct Sigmoid;

impl Activation for Sigmoid {
    fn kind(&self) -> &'static str {
        "Sigmoid"
    }

    fn eval(&self, x: &Tensor) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let s = candle_nn::ops::sigmoid(x)?;
        let d1 = s.mul(&s.affine(-1.0, 1.0)?)?;
        let d2 = d1.mul(&s.affine(-2.0, 1.0)?)?;
        Ok((s, d1, Some(d2)))
    }
}
