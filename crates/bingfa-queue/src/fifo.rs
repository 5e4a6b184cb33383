//! [`Queue`]: first in, first out.

use std::sync::Arc;

use crate::core::Core;
use crate::raw::list::List;
use crate::raw::ring::Ring;
use crate::raw::{Flavor, PopFail, PushFail};

/// The most free slots a spinning producer of a full bounded FIFO waits
/// for ([`Flavor::room_batch`]): a few cache lines of slots.
const ROOM_BATCH: usize = 64;

/// A first-in, first-out queue for many producers and many consumers.
///
/// Bounded queues are a lock-free ring (Vyukov's bounded MPMC queue, as in
/// crossbeam-channel's array flavour): a `put` or `get` that need not wait
/// is a load, a CAS and a store, and touches the parking lot only when a
/// thread is actually waiting on the other side. Unbounded queues are a
/// lock-free linked list of blocks of 31 slots (as crossbeam-channel's
/// list flavour), with the same fast paths.
///
/// A `put` that finds a bounded queue of 16 slots or more full spins a
/// few microseconds before it sleeps, and while it spins it waits for an
/// eighth of the slots (at most 64) to be free rather than for the first
/// one, so that producer and consumer do not fight over the same cache
/// lines item after item; after that it takes the first free slot, as a
/// blocked `put` in Python does. An item put into a full queue waits
/// behind all of it anyway, so this costs it no latency.
///
/// Handles are cheap to clone; all of them refer to the same queue.
///
/// Python: `queue.Queue`.
///
/// # Examples
/// ```
/// use bingfa_queue::Queue;
///
/// let q = Queue::new(2);
/// q.put("a").unwrap();
/// q.put("b").unwrap();
/// assert!(q.is_full());
/// assert_eq!(q.get(), Ok("a"));
/// assert_eq!(q.get(), Ok("b"));
/// ```
pub struct Queue<T> {
    core: Arc<Core<T, Fifo<T>>>,
}

impl<T> Queue<T> {
    /// A queue holding at most `capacity` items; 0 means unbounded.
    ///
    /// Python: `queue.Queue(maxsize=capacity)`.
    ///
    /// # Panics
    /// If `capacity` is too large to index (above about 2^62) or the slots
    /// of a bounded queue cannot be allocated: a bounded queue allocates all
    /// its `capacity` slots up front.
    pub fn new(capacity: usize) -> Self {
        let flavor = if capacity == 0 {
            Fifo::Unbounded(List::new())
        } else {
            Fifo::Bounded(Ring::new(capacity))
        };
        Queue {
            core: Arc::new(Core::new(flavor)),
        }
    }

    /// A queue without a capacity: `put` never waits. It grows by blocks
    /// of 31 slots (the first one allocated here), and each block is freed
    /// once its last item is taken.
    ///
    /// Python: `queue.Queue()`.
    pub fn unbounded() -> Self {
        Self::new(0)
    }
}

queue_api!(Queue, []);

/// The two stores of a FIFO queue.
pub(crate) enum Fifo<T> {
    Bounded(Ring<T>),
    Unbounded(List<T>),
}

impl<T> Flavor<T> for Fifo<T> {
    #[inline]
    fn try_push(&self, item: T) -> Result<bool, PushFail<'_, T>> {
        match self {
            Fifo::Bounded(f) => f.try_push(item),
            Fifo::Unbounded(f) => f.try_push(item),
        }
    }
    #[inline]
    fn try_pop(&self) -> Result<(T, bool), PopFail<'_>> {
        match self {
            Fifo::Bounded(f) => f.try_pop(),
            Fifo::Unbounded(f) => f.try_pop(),
        }
    }
    #[inline]
    fn len(&self) -> usize {
        match self {
            Fifo::Bounded(f) => f.len(),
            Fifo::Unbounded(f) => f.len(),
        }
    }
    #[inline]
    fn capacity(&self) -> usize {
        match self {
            Fifo::Bounded(f) => f.capacity(),
            Fifo::Unbounded(f) => f.capacity(),
        }
    }
    #[inline]
    fn room_batch(&self) -> usize {
        match self {
            // An eighth of the ring, at most a few cache lines of slots.
            Fifo::Bounded(f) => (f.capacity() / 8).min(ROOM_BATCH),
            Fifo::Unbounded(_) => 0,
        }
    }
    #[inline]
    fn pushed(&self) -> u64 {
        match self {
            Fifo::Bounded(f) => f.pushed(),
            Fifo::Unbounded(f) => f.pushed(),
        }
    }
    #[inline]
    fn close(&self) -> bool {
        match self {
            Fifo::Bounded(f) => f.close(),
            Fifo::Unbounded(f) => f.close(),
        }
    }
    #[inline]
    fn is_closed(&self) -> bool {
        match self {
            Fifo::Bounded(f) => f.is_closed(),
            Fifo::Unbounded(f) => f.is_closed(),
        }
    }
}
