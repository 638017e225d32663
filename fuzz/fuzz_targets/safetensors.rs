//! `Network::load_safetensors` on arbitrary bytes: never a panic; a failed load
//! leaves the parameters as they were, a successful one leaves them finite.
#![no_main]

use hlab::model::{MlpOpts, Network};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

static MODEL: OnceLock<Network> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let base = MODEL.get_or_init(|| Network::mlp(&[3, 4, 2], &MlpOpts::default()).expect("a model"));
    let mut m = base.clone();
    match m.load_safetensors(data, Path::new("fuzz.safetensors")) {
        Ok(()) => assert!(m.params().iter().all(|x| x.is_finite())),
        Err(_) => assert_eq!(m.params(), base.params()),
    }
});
