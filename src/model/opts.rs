//! How networks are built: the activation of an MLP, the loss, the
//! initialisation, and the options of `mlp` and `net`.

use crate::error::{Error, Result};
use crate::model::{relu, sigmoid, tanh, Layer};
use std::sync::Arc;

/// Hidden-layer activation of an [`crate::model::Network::mlp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// max(0, z); σ'' = 0 (almost everywhere).
    Relu,
    /// tanh z.
    Tanh,
    /// 1 / (1 + e^(−z)).
    Sigmoid,
    /// z (a deep linear net: no activation module).
    Linear,
}

impl Act {
    /// Parses "relu", "tanh", "sigmoid", "linear".
    pub fn parse(s: &str) -> Result<Act> {
        match s {
            "relu" => Ok(Act::Relu),
            "tanh" => Ok(Act::Tanh),
            "sigmoid" => Ok(Act::Sigmoid),
            "linear" => Ok(Act::Linear),
            _ => Err(Error::invalid(
                "mlp",
                format!(
                    "act: expected one of \"relu\", \"tanh\", \"sigmoid\", \"linear\", got \"{s}\""
                ),
            )),
        }
    }

    /// The name scripts use.
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::Tanh => "tanh",
            Act::Sigmoid => "sigmoid",
            Act::Linear => "linear",
        }
    }

    /// The activation module, if any.
    pub(crate) fn module(self) -> Option<Arc<dyn Layer>> {
        use crate::model::pointwise::Pointwise;
        match self {
            Act::Relu => Some(Arc::new(Pointwise(relu::ReLU))),
            Act::Tanh => Some(Arc::new(Pointwise(tanh::Tanh))),
            Act::Sigmoid => Some(Arc::new(Pointwise(sigmoid::Sigmoid))),
            Act::Linear => None,
        }
    }
}

/// Training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Mean softmax cross-entropy.
    CrossEntropy,
    /// Mean of ½‖f − t‖².
    Mse,
}

impl LossKind {
    /// Parses "cross_entropy" or "mse".
    pub fn parse(s: &str) -> Result<LossKind> {
        match s {
            "cross_entropy" => Ok(LossKind::CrossEntropy),
            "mse" => Ok(LossKind::Mse),
            _ => Err(Error::invalid(
                "net",
                format!("loss: expected \"cross_entropy\" or \"mse\", got \"{s}\""),
            )),
        }
    }

    /// The name scripts use.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::Mse => "mse",
        }
    }
}

/// Parameter initialisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// PyTorch's default for the layer: U(−1/√fan_in, 1/√fan_in) for the
    /// weights and biases of `Linear` and `Conv2d` (fan_in = in·kh·kw);
    /// ones and zeros for `LayerNorm`.
    Uniform,
    /// `std · N(0, 1)` for every weight and bias (the paper's code used
    /// 0.1); `LayerNorm` keeps ones and zeros.
    Normal {
        /// The standard deviation.
        std: f64,
    },
}

/// How to build an MLP ([`crate::model::Network::mlp`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MlpOpts {
    /// Hidden activation.
    pub act: Act,
    /// Loss.
    pub loss: LossKind,
    /// Whether layers have biases.
    pub bias: bool,
    /// Initialisation.
    pub init: Init,
    /// Seed of the initialisation.
    pub seed: u64,
}

impl Default for MlpOpts {
    fn default() -> Self {
        MlpOpts {
            act: Act::Relu,
            loss: LossKind::CrossEntropy,
            bias: true,
            init: Init::Uniform,
            seed: 0,
        }
    }
}

/// How to build a [`crate::model::Network`] from layers.
#[derive(Clone, Debug, PartialEq)]
pub struct NetOpts {
    /// Loss.
    pub loss: LossKind,
    /// Initialisation.
    pub init: Init,
    /// Seed of the initialisation.
    pub seed: u64,
    /// The sample shape, when known (checked at once).
    pub input: Option<Vec<usize>>,
}

impl Default for NetOpts {
    fn default() -> Self {
        NetOpts {
            loss: LossKind::CrossEntropy,
            init: Init::Uniform,
            seed: 0,
            input: None,
        }
    }
}
