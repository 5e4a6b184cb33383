//! Functions every `bingfa-cluster worker` has, for trying a cluster out,
//! for benchmarks and for the demo: all under the `bingfa.` prefix.

use std::time::{Duration, Instant};

use crate::task::{Registry, Task};

fn noop(x: u64) -> u64 {
    x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Burns the CPU for about `ms` milliseconds; returns how many rounds of
/// a hash it did.
fn spin_ms(ms: u64) -> u64 {
    let end = Instant::now() + Duration::from_millis(ms);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rounds = 0u64;
    while Instant::now() < end {
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        rounds += 1;
    }
    std::hint::black_box(x);
    rounds
}

/// `(host name, pid)` of the process that runs it.
fn whoami((): ()) -> (String, u32) {
    let host = std::env::var("BINGFA_HOST").unwrap_or_else(|_| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    });
    (host, std::process::id())
}

/// `x` echoed.
pub static NOOP: Task<u64, u64> = Task::new("bingfa.noop", noop).with_version("1");
/// Sleeps `ms` milliseconds, returns `ms`.
pub static SLEEP_MS: Task<u64, u64> = Task::new("bingfa.sleep_ms", sleep_ms).with_version("1");
/// Busy for `ms` milliseconds of CPU, returns the rounds it did.
pub static SPIN_MS: Task<u64, u64> = Task::new("bingfa.spin_ms", spin_ms).with_version("1");
/// The host name (`BINGFA_HOST` if set) and pid of the process that runs it.
pub static WHOAMI: Task<(), (String, u32)> = Task::new("bingfa.whoami", whoami).with_version("1");

/// A registry of the built-in functions.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.add(&NOOP).add(&SLEEP_MS).add(&SPIN_MS).add(&WHOAMI);
    r
}
