//! The problem both `grad` and `curvature` benchmark (issue 3): a 784–10–10
//! ReLU net with cross-entropy at its seed-1 initialisation, on the 1,000
//! embedded MNIST training images, f64 (P = 7,960).

use hlab::data::mnist::{load_mnist, MnistOpts};
use hlab::data::Dataset;
use hlab::model::{MlpOpts, Network};

/// The benchmark's data and model.
pub fn problem() -> Result<(Dataset, Network), Box<dyn std::error::Error>> {
    let data = load_mnist(&MnistOpts::default())?;
    let m = Network::mlp(
        &[784, 10, 10],
        &MlpOpts {
            seed: 1,
            ..MlpOpts::default()
        },
    )?;
    Ok((data, m))
}

/// The median of `xs` (upper median for an even count).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}
