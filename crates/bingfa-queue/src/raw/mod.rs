//! The machinery under the public queues, written only against
//! `bingfa_sync::raw` so that the loom models (`--cfg bingfa_loom`) check
//! this very code.
//!
//! - [`waiters::Waiters`]: a parking spot with a waiter counter, so that the
//!   fast path of `put`/`get` never touches the parking lot.
//! - [`ring::Ring`]: the lock-free bounded FIFO (Vyukov's MPMC ring).
//! - [`list::List`]: the lock-free unbounded FIFO (a linked list of blocks
//!   of slots, as crossbeam-channel's list flavour).
//! - [`locked::Locked`]: any [`locked::Store`] (stack, heap) behind
//!   `bingfa_sync::raw::RawMutex` (the lock under `bingfa_sync::Mutex`).
//! - [`Flavor`]: what the blocking layer (`crate::core`) needs of a store,
//!   and [`Pending`]: another thread's operation a store must wait for.

pub(crate) mod list;
pub(crate) mod locked;
pub(crate) mod ring;
pub(crate) mod waiters;

use bingfa_sync::raw::atomic::{AtomicU64, Ordering};
use bingfa_sync::raw::SpinWait;

/// A step of another thread that a push or pop must wait for: the other
/// thread has begun an operation (reserved a slot, is reading one out, is
/// linking a new block) and has not finished it. `word` still holds `seen`
/// until it finishes.
///
/// The contract that makes waiting on it safe: the thread that moves
/// `word` away from `seen` then notifies the side that waits on it (a
/// finished push notifies the consumers, a finished pop the producers; a
/// push or pop that returns `wake_peers` notifies every waiter of its own
/// side). So the blocking layer may park on the condition "`word` still
/// holds `seen`" instead of spinning, which is what lets loom check two
/// consumers (or two producers) waiting on the same third thread.
pub(crate) struct Pending<'a> {
    word: &'a AtomicU64,
    seen: u64,
}

impl<'a> Pending<'a> {
    #[inline]
    pub(crate) fn new(word: &'a AtomicU64, seen: u64) -> Self {
        Self { word, seen }
    }

    /// Whether the other thread has still not finished. Only loads an
    /// atomic, so it may run as a parking condition.
    #[inline]
    pub(crate) fn is_pending(&self) -> bool {
        self.word.load(Ordering::SeqCst) == self.seen
    }
}

/// Why a [`Flavor::try_push`] did not push.
pub(crate) enum PushFail<'a, T> {
    /// At capacity; the item is handed back.
    Full(T),
    /// Closed; the item is handed back.
    Closed(T),
    /// Another thread's operation must finish first; the item is handed
    /// back, and the caller waits on the producers' side.
    Pending(T, Pending<'a>),
}

/// Why a [`Flavor::try_pop`] did not pop.
pub(crate) enum PopFail<'a> {
    /// No item.
    Empty,
    /// Closed and no item.
    Closed,
    /// Another thread's operation must finish first; the caller waits on
    /// the consumers' side.
    Pending(Pending<'a>),
}

/// What the blocking layer needs of a store. No method blocks; where a
/// store would have to wait for another thread's operation in progress, it
/// says so with a [`Pending`] (after spinning briefly itself at most).
pub(crate) trait Flavor<T> {
    /// Adds `item`. On success, `true` asks the caller to wake every
    /// waiting producer (the push ended a state they may wait on).
    fn try_push(&self, item: T) -> Result<bool, PushFail<'_, T>>;
    /// Removes the next item; `Closed` only once the store is closed *and*
    /// empty. On success, the flag asks the caller to wake every waiting
    /// consumer (the pop ended a state they may wait on).
    fn try_pop(&self) -> Result<(T, bool), PopFail<'_>>;
    /// Items in the store right now (a snapshot; pushes in progress count).
    fn len(&self) -> usize;
    /// The capacity, 0 for unbounded.
    fn capacity(&self) -> usize;
    /// How many pushes ever succeeded (or have reserved their slot). Only
    /// grows. The task counter of `task_done`/`join` is measured against
    /// it, so that `put` pays nothing for task tracking.
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

/// Backs off before re-reading a word that another thread has already
/// moved on (our copy is stale): spin, then yield. Under loom `spin`
/// returns `false` at once, so this yields to the model's scheduler, after
/// which loom lets the reload see the newer value.
#[inline]
pub(crate) fn backoff(spin: &mut SpinWait) {
    if !spin.spin() {
        bingfa_sync::raw::yield_now();
    }
}
