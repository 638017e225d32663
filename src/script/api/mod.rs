//! Thin wrappers from script calls to hlab's math, one module per topic.

pub mod check;
pub mod curvature;
pub mod data;
pub mod landscape;
pub mod model;
pub mod net;
pub mod outliers;
pub mod plot;
pub mod values;

use crate::script::opts::Keys;
use rhai::{exported_module, Engine};

/// Every operation's option keys, each declared next to its function.
pub const OPTION_KEYS: &[&Keys] = &[
    &data::data::MAKE_CLUSTERS_OPTS,
    &data::data::LOAD_MNIST_OPTS,
    &model::model::MLP_OPTS,
    &net::net::NET_OPTS,
    &data::data::DATASET_OPTS,
    &net::net::LINEAR_OPTS,
    &net::net::CONV2D_OPTS,
    &net::net::MAXPOOL2D_OPTS,
    &net::net::AVGPOOL2D_OPTS,
    &net::net::GELU_OPTS,
    &model::model::TRAIN_OPTS,
    &plot::plot::PLOT_OPTS,
    &plot::plot::HIST_OPTS,
    &curvature::curvature::HESSIAN_OPTS,
    &curvature::curvature::GAUSS_NEWTON_OPTS,
    &curvature::curvature::EIGS_OPTS,
    &curvature::curvature::TOP_EIGS_OPTS,
    &curvature::curvature::DENSITY_OPTS,
    &curvature::curvature::HESSIAN_TRACE_OPTS,
    &curvature::curvature::CHECK_HESSIAN_OPTS,
    &outliers::outliers::GN_GRAM_OPTS,
    &outliers::outliers::CLASS_DECOMPOSITION_OPTS,
    &outliers::outliers::MARCHENKO_PASTUR_OPTS,
    &curvature::curvature::OUTLIERS_OPTS,
    &landscape::landscape::INTERPOLATE_OPTS,
    &landscape::landscape::LANDSCAPE_OPTS,
];

/// The valid option keys of `op` (empty for an operation without options).
pub fn option_keys(op: &str) -> &'static [&'static str] {
    OPTION_KEYS
        .iter()
        .find(|k| k.op == op)
        .map_or(&[], |k| k.keys)
}

/// Registers every wrapper module as global functions.
pub fn register(engine: &mut Engine) {
    engine.register_global_module(exported_module!(values::values).into());
    engine.register_global_module(exported_module!(data::data).into());
    engine.register_global_module(exported_module!(model::model).into());
    engine.register_global_module(exported_module!(net::net).into());
    engine.register_global_module(exported_module!(check::check).into());
    engine.register_global_module(exported_module!(landscape::landscape).into());
    engine.register_global_module(exported_module!(curvature::curvature).into());
    engine.register_global_module(exported_module!(outliers::outliers).into());
    engine.register_global_module(exported_module!(plot::plot).into());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every function that takes an option map has its keys declared, and
    /// every declaration names a function that exists: a missing one fails
    /// here, not in a user's session.
    #[test]
    fn every_option_map_has_declared_keys() {
        let engine = crate::script::build_engine();
        let docs = crate::script::docs::collect(&engine, None);
        let mut missing = Vec::new();
        let mut with_map = 0;
        for d in &docs {
            let takes_map = d.signature.contains(": Map") || d.signature.contains(": map");
            if takes_map && !d.signature.starts_with('.') {
                with_map += 1;
                if option_keys(&d.name).is_empty() {
                    missing.push(d.signature.clone());
                }
            }
        }
        assert!(
            missing.is_empty(),
            "no option keys declared for {missing:?}"
        );
        assert!(
            with_map >= OPTION_KEYS.len(),
            "{with_map} signatures with a map"
        );
        for (i, k) in OPTION_KEYS.iter().enumerate() {
            assert!(
                OPTION_KEYS[i + 1..].iter().all(|o| o.op != k.op),
                "{} declared twice",
                k.op
            );
            for (j, key) in k.keys.iter().enumerate() {
                assert!(!k.keys[j + 1..].contains(key), "{}: {key} twice", k.op);
            }
            assert!(
                docs.iter().any(|d| d.name == k.op),
                "option keys declared for `{}`, which is not a function",
                k.op
            );
            assert!(!k.keys.is_empty(), "`{}` declares no keys", k.op);
        }
        assert_eq!(option_keys("train"), model::model::TRAIN_OPTS.keys);
        assert!(option_keys("hist").contains(&"bins"));
        assert!(option_keys("no_such_op").is_empty());
    }
}
