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

use rhai::{exported_module, Engine};

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
