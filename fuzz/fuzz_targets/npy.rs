//! `parse_npy` on arbitrary bytes: never a panic, memory bounded by the
//! input; whatever parses re-encodes (as `<f8`) to the same values.
#![no_main]

use hlab::data::npy::{npy_bytes, parse_npy};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.npy");
    if let Ok(a) = parse_npy(data, path) {
        let again = parse_npy(&npy_bytes(&a), path).expect("a re-encoded array parses");
        assert_eq!(a.shape(), again.shape());
        let same = a
            .values()
            .iter()
            .zip(again.values())
            .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "values change through a round trip");
    }
});
