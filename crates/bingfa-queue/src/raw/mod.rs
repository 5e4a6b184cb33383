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
//! - [`Backoff`]: how a thread waits for another thread that is running
//!   (spin, then yield; under loom, yield at once).
//! - [`seq_cst_atomic_u64`] and friends: atomics whose first value is a
//!   `SeqCst` store, for the words that wake-ups pair on (see `waiters`).

pub(crate) mod list;
pub(crate) mod locked;
pub(crate) mod ring;
pub(crate) mod waiters;

use bingfa_sync::raw::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A step of another thread that a push or pop must wait for: the other
/// thread has begun an operation (reserved a slot, is reading one out, is
/// linking a new block) and has not finished it. `word` still holds `seen`
/// until it finishes.
///
/// The contract that makes waiting on it safe: the thread that moves
/// `word` away from `seen` does so with a `SeqCst` write and then returns
/// `wake_peers`, so that the blocking layer notifies every waiter of its
/// side (a `SeqCst` write before the notifier's `SeqCst` read of the
/// waiter count: see `waiters` for why no wake-up is lost). So the
/// blocking layer may park on the condition "`word` still holds `seen`"
/// instead of spinning, which is what lets loom check two consumers (or
/// two producers) waiting on the same third thread.
///
/// Only the unbounded list uses it, for its gates (a producer linking the
/// next block, a consumer moving `head` to it): rare steps, so the `SeqCst`
/// write costs nothing measurable. The ring never parks on a slot another
/// thread is writing or reading: that would need a store-load fence after
/// every slot write (to see a waiter that came after it), which is what
/// crossbeam-channel avoids too; it waits with a [`Backoff`] instead.
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
    /// User code (a priority queue's `Ord`) panicked; the store is as it
    /// was, the item is handed back, and the caller continues the panic.
    Panicked(T, locked::Panic),
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
    /// User code (a priority queue's `Ord`) panicked; the store is as it
    /// was (the item stays in), and the caller continues the panic.
    Panicked(locked::Panic),
}

/// What the blocking layer needs of a store. No method parks. Where a
/// store must wait for another thread's operation in progress, it either
/// waits itself with a [`Backoff`] (the ring: the other thread is between
/// two of its own instructions, so that wait is short unless that thread
/// is preempted, and then it yields to it) or says so with a [`Pending`]
/// (the list's gates), which the blocking layer may park on.
///
/// Wake-ups: a push that succeeded made a `SeqCst` read-modify-write on the
/// word that the consumers' "empty" condition reads (`len`, with `SeqCst`
/// loads), and a pop on the word the producers' "full" condition reads;
/// the blocking layer's notification after it is a `SeqCst` load of the
/// waiter count. See `waiters` for why that loses no wake-up.
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
    /// How many free slots a spinning producer of the full store waits for
    /// before it tries again (`Core::spin_for_room`); 0 or 1: the first.
    /// A ring of slots, which producer and consumer write in the same
    /// cache lines when one takes each slot the other frees, gains from a
    /// batch; a locked store, measured, does not (its producers then read
    /// the lock's line while the consumer holds it).
    fn room_batch(&self) -> usize {
        0
    }
    /// Takes every item out at once, in the order pops would have, for
    /// `close_immediately` (with the payload of a panic of user code, if
    /// one came; the items are all there either way). `None`: no faster way
    /// than popping them one by one.
    fn drain(&self) -> Option<(Vec<T>, Option<locked::Panic>)> {
        None
    }
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

/// Atomics whose first value is a `SeqCst` store.
///
/// In the C++ model (and on hardware) this is the same as `new`: no
/// `SeqCst` load can read the initial value once a `SeqCst` write that
/// precedes it in the single total order exists, because the initial value
/// happens before every write. Loom models the initial value as a plain
/// release store, and lets a `SeqCst` load read it past a newer `SeqCst`
/// write, which would make it report a lost wake-up that cannot happen. So
/// every word that a wait condition and a notification pair on starts with
/// a `SeqCst` store.
pub(crate) fn seq_cst_atomic_u64(value: u64) -> AtomicU64 {
    let atomic = AtomicU64::new(value);
    atomic.store(value, Ordering::SeqCst);
    atomic
}

/// As [`seq_cst_atomic_u64`].
pub(crate) fn seq_cst_atomic_usize(value: usize) -> AtomicUsize {
    let atomic = AtomicUsize::new(value);
    atomic.store(value, Ordering::SeqCst);
    atomic
}

/// Spins done by [`Backoff`] before it yields: `2^step` pause
/// instructions at step `step`, up to this step.
#[cfg_attr(bingfa_loom, allow(dead_code))]
const SPIN_STEPS: u32 = 6;
/// Under loom: yields of one wait after which the execution stops
/// exploring new branches (see [`Backoff::snooze`]).
#[cfg(bingfa_loom)]
const LOOM_SPINS: u32 = 2;
/// Steps after which [`Backoff::is_completed`] says to park instead.
const YIELD_STEPS: u32 = 10;

/// Exponential backoff for waiting on another thread that is running: a
/// lost compare-and-swap ([`Backoff::spin`]), or a slot another thread is
/// writing or reading out, a full or empty queue before parking
/// ([`Backoff::snooze`]).
///
/// Real: `snooze` spins `2, 4, .., 64` pause instructions, then yields the
/// thread each time. Under loom: `spin` does nothing (a lost CAS means
/// another thread moved on, so the retry makes progress) and `snooze`
/// yields to the model's scheduler, which then runs another thread and
/// makes the next load see a newer value if there is one;
/// [`Backoff::is_completed`] is `true` at once, so that models park
/// instead of spinning.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    #[inline]
    pub(crate) fn new() -> Self {
        Self { step: 0 }
    }

    /// Backs off after a lost compare-and-swap.
    #[inline]
    pub(crate) fn spin(&mut self) {
        #[cfg(not(bingfa_loom))]
        {
            for _ in 0..1u32 << self.step.min(SPIN_STEPS) {
                core::hint::spin_loop();
            }
            if self.step <= SPIN_STEPS {
                self.step += 1;
            }
        }
    }

    /// Waits a little for another thread's step: spins, and once spinning
    /// has gone on for a while, yields the thread (under loom: always
    /// yields).
    #[inline]
    pub(crate) fn snooze(&mut self) {
        #[cfg(not(bingfa_loom))]
        {
            if self.step <= SPIN_STEPS {
                for _ in 0..1u32 << self.step {
                    core::hint::spin_loop();
                }
            } else {
                bingfa_sync::raw::yield_now();
            }
            if self.step <= YIELD_STEPS {
                self.step += 1;
            }
        }
        #[cfg(bingfa_loom)]
        {
            // Loom cannot bound two threads that spin (even with yields)
            // on a third one that does not run: it alternates between the
            // two for free (tokio-rs/loom#53) until it gives up on the
            // model. A spin only loads, so an execution that has already
            // yielded `LOOM_SPINS` times here differs from one that spun
            // less only in how long the other threads waited: stop
            // exploring new branches in it (loom then runs the thread that
            // did not yield, which ends the spin).
            self.step += 1;
            if self.step > LOOM_SPINS {
                loom::skip_branch();
            }
            bingfa_sync::raw::yield_now();
        }
    }

    /// Whether the caller has spun and yielded long enough and should park
    /// (if it can). Always `true` under loom.
    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        cfg!(bingfa_loom) || self.step > YIELD_STEPS
    }
}
