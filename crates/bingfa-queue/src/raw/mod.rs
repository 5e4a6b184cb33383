//! The machinery under the public queues, written only against
//! `bingfa_sync::raw` so that the loom models (`--cfg bingfa_loom`) check
//! this very code.
//!
//! - [`waiters::Waiters`]: a parking spot with a waiter counter, so that the
//!   fast path of `put`/`get` never touches the parking lot.
//! - [`lock::RawLock`]: a small spin-then-park lock for the locked stores.
//! - [`ring::Ring`]: the lock-free bounded FIFO (Vyukov's MPMC ring).
//! - [`locked::Locked`]: any [`locked::Store`] (deque, stack, heap) behind a
//!   [`lock::RawLock`].
//! - [`Flavor`]: what the blocking layer (`crate::core`) needs of a store.

pub(crate) mod lock;
pub(crate) mod locked;
pub(crate) mod ring;
pub(crate) mod waiters;

use bingfa_sync::raw::SpinWait;

use crate::error::{TryGetError, TryPutError};

/// What the blocking layer needs of a store. Every method is non-blocking
/// (a store may spin briefly for another thread's write in progress).
pub(crate) trait Flavor<T> {
    /// Adds `item`, or gives it back when the store is full or closed.
    fn try_push(&self, item: T) -> Result<(), TryPutError<T>>;
    /// Removes the next item; `Closed` only once the store is closed *and*
    /// empty.
    fn try_pop(&self) -> Result<T, TryGetError>;
    /// Items in the store right now (a snapshot).
    fn len(&self) -> usize;
    /// The capacity, 0 for unbounded.
    fn capacity(&self) -> usize;
    /// How many pushes ever succeeded (or, for the ring, have reserved their
    /// slot). Only grows. The task counter of `task_done`/`join` is measured
    /// against it, so that `put` pays nothing for task tracking.
    fn pushed(&self) -> u64;
    /// Refuses every later push. Returns `true` for the call that closed it.
    fn close(&self) -> bool;
    /// Whether [`Flavor::close`] was called.
    fn is_closed(&self) -> bool;
}

/// Pads and aligns a value to its own cache line pair, so that producers'
/// and consumers' hot words do not share a line (false sharing).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Backs off while another thread finishes a step we depend on (a write
/// whose slot it already reserved): spin, then yield. Under loom `spin`
/// returns `false` at once, so this always yields to the model's scheduler
/// and loom never sees an unbounded spin.
#[inline]
pub(crate) fn backoff(spin: &mut SpinWait) {
    if !spin.spin() {
        bingfa_sync::raw::yield_now();
    }
}
