//! The raw layer under every bingfa primitive: atomics, a cell, a parking
//! lot and a clock, each picking loom's model types or the real ones by the
//! crate-specific cfg `bingfa_loom`.
//!
//! This is what makes the loom models check the real code: the primitives of
//! this crate (and of `bingfa-queue`, `bingfa-pool`, ...) are written only
//! against this module, and under `--cfg bingfa_loom` every atomic, every
//! park and unpark, and every timeout runs on loom's types. A user's own
//! `--cfg loom` changes nothing here.
//!
//! It is public so that sibling crates can share it; it is not meant for
//! applications, and its API follows the needs of bingfa's primitives.

pub mod atomic;
pub mod cell;
pub mod clock;
pub mod mutex;
pub mod park;

pub use clock::Deadline;
pub use mutex::RawMutex;
pub use park::{FilterOp, ParkResult, UnparkResult};

/// A bounded spinner for the moments before parking.
///
/// Real: exponential backoff with `spin_loop` then `yield_now`, as in
/// parking_lot. Under loom: never spins (`spin` returns `false` at once), so
/// that models explore parking instead of unbounded loops.
#[derive(Default)]
pub struct SpinWait {
    #[cfg(not(bingfa_loom))]
    inner: parking_lot_core::SpinWait,
}

impl core::fmt::Debug for SpinWait {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SpinWait")
    }
}

impl SpinWait {
    /// A fresh spinner.
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// Spins once more; returns `false` when the caller should park instead.
    #[inline]
    pub fn spin(&mut self) -> bool {
        #[cfg(not(bingfa_loom))]
        {
            self.inner.spin()
        }
        #[cfg(bingfa_loom)]
        {
            false
        }
    }

    /// Starts counting again.
    #[inline]
    pub fn reset(&mut self) {
        #[cfg(not(bingfa_loom))]
        self.inner.reset();
    }
}

/// Yields the OS thread (loom: yields to the model's scheduler).
#[inline]
pub fn yield_now() {
    #[cfg(not(bingfa_loom))]
    std::thread::yield_now();
    #[cfg(bingfa_loom)]
    loom::thread::yield_now();
}
