//! `Session::eval` on arbitrary UTF-8 text. A panic inside hlab is caught by
//! the session and comes back as `ErrorKind::Internal`: this target turns it
//! back into a crash so libFuzzer reports it.
//!
//! Bounds, so every input ends quickly and stays small: at most 50,000
//! engine operations, strings/arrays/maps of at most 10,000 elements, a
//! 64 MB budget for hlab's dense work, and a watchdog that interrupts an
//! evaluation still running after one second (hlab's long loops check the
//! interrupt flag). Inputs that mention `save` are skipped, so the fuzzer
//! never writes files where it should not.
#![no_main]

use hlab::session::{ErrorKind, Session};
use libfuzzer_sys::fuzz_target;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

static EPOCH: OnceLock<Instant> = OnceLock::new();
/// Milliseconds since EPOCH when the current evaluation started (0: idle).
static STARTED: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

fn init() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        hlab::mat::set_memory_budget(64_000_000);
        hlab::progress::set_progress_enabled(false);
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_millis(50));
            let s = STARTED.load(Ordering::SeqCst);
            if s != 0 && now_ms().saturating_sub(s) > 1000 {
                hlab::progress::request_interrupt();
            }
        });
    });
}

fuzz_target!(|data: &[u8]| {
    let Ok(code) = std::str::from_utf8(data) else {
        return;
    };
    if code.contains("save") {
        return;
    }
    init();
    let mut s = Session::new(Arc::new(|_| {}));
    s.set_max_operations(50_000);
    s.set_max_sizes(10_000);
    STARTED.store(now_ms(), Ordering::SeqCst);
    let r = s.eval(code);
    STARTED.store(0, Ordering::SeqCst);
    if let Err(e) = r {
        assert!(
            e.kind != ErrorKind::Internal,
            "a panic inside hlab: {}",
            e.message
        );
        assert!(!e.message.is_empty());
    }
});
