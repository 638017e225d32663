//! `ReLU()`: max(0, x); σ' = 1 where x > 0 (0 at 0, as PyTorch), σ'' = 0.

use crate::error::Result;
use crate::model::pointwise::Activation;
use candle_core::{DType, Tensor};

/// The rectifier.
#[derive(Clone, Debug)]
pub struct ReLU;

impl Activation for ReLU {
    fn kind(&self) -> &'static str {
        "ReLU"
    }

    fn eval(&self, x: &Tensor) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let mask = x.gt(0.0)?.to_dtype(DType::F64)?;
        Ok((x.relu()?, mask, None))
    }
}
