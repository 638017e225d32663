//! `parse_idx` on arbitrary bytes (raw or gzipped): never a panic, memory
//! bounded; whatever parses holds exactly the bytes its dimensions say.
#![no_main]

use hlab::data::mnist::parse_idx;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = parse_idx(data, Path::new("fuzz-idx3-ubyte")) {
        let len: usize = idx.dims.iter().product();
        assert_eq!(idx.data.len(), len);
    }
});
