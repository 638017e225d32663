//! `LeakyReLU(slope)`: x for x > 0, slope·x otherwise (PyTorch's default
//! slope 0.01); σ'' = 0.

use crate::error::Result;
use crate::model::pointwise::{map3, Activation};
use candle_core::Tensor;

/// The leaky rectifier.
#[derive(Clone, Debug)]
pub struct LeakyReLU {
    /// The slope for x ≤ 0.
    pub slope: f64,
}

impl Activation for LeakyReLU {
    fn kind(&self) -> &'static str {
        "LeakyReLU"
    }

    fn describe(&self) -> String {
        format!("LeakyReLU({})", self.slope)
    }

    fn eval(&self, x: &Tensor) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let s = self.slope;
        let (y, d1, _) = map3(x, |v| {
            if v > 0.0 {
                (v, 1.0, 0.0)
            } else {
                (v * s, s, 0.0)
            }
        })?;
        Ok((y, d1, None))
    }
}
