//! The global instrumentation switch: one atomic word of flags.
//!
//! Primitives load it with [`active`] (one relaxed load) and take their
//! instrumented path only when it is non-zero.

use std::sync::atomic::{AtomicU32, Ordering};

/// Events are recorded for the timeline and the Chrome trace.
pub const TRACE: u32 = 1 << 0;
/// Deadlock detection (wait-for graph and lock order) is on.
pub const DEADLOCK: u32 = 1 << 1;

static FLAGS: AtomicU32 = AtomicU32::new(0);

/// The flags in force, as one relaxed atomic load. Zero means "no
/// instrumentation": the caller takes its fast path.
///
/// Python: no standard equivalent (`sys.gettrace() is not None` is close).
#[inline(always)]
pub fn active() -> u32 {
    FLAGS.load(Ordering::Relaxed)
}

/// Whether `flag` (one of the constants of this module) is on.
///
/// Python: no standard equivalent.
#[inline]
pub fn is_on(flag: u32) -> bool {
    active() & flag != 0
}

/// Turns `flag` on or off; returns whether it was on before.
///
/// Python: no standard equivalent.
pub fn set(flag: u32, on: bool) -> bool {
    let old = if on {
        FLAGS.fetch_or(flag, Ordering::SeqCst)
    } else {
        FLAGS.fetch_and(!flag, Ordering::SeqCst)
    };
    old & flag != 0
}
