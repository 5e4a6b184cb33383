//! [`PriorityQueue`]: smallest first, stable.

use std::sync::Arc;

use crate::core::Core;
use crate::raw::locked::{Heap, Locked};

/// A priority queue for many producers and many consumers: `get` takes the
/// smallest item (by `Ord`), like Python's `heapq`.
///
/// **Stable**: items that compare equal come out in the order they were
/// put. (Python's `PriorityQueue` is not: equal priorities come out in heap
/// order, which is why its docs suggest `(priority, count, item)` tuples;
/// here the count is built in.) For "largest first", wrap items in
/// [`std::cmp::Reverse`]; to order by a key, put `(key, item)` tuples.
///
/// The items sit in a binary heap behind a small spin-then-park lock;
/// `len`, `is_empty`, `is_full` and the task counter are atomics read
/// without it.
///
/// If `T`'s `Ord` panics inside a put or a get, the panic propagates to that
/// caller and the queue is as it was before the call: the item of the put
/// is not in it (nor counted by [`unfinished_tasks`](Self::unfinished_tasks)),
/// the item of the get is still in it, the lock is released, and a thread
/// that was woken for that put or get passes the wake-up on. Items whose
/// comparisons panicked may come out in an order among themselves that
/// their `Ord` did not say (by arrival, where it could not tell).
///
/// Python: `queue.PriorityQueue`.
///
/// # Examples
/// ```
/// use bingfa_queue::PriorityQueue;
///
/// let q = PriorityQueue::unbounded();
/// q.put((2, "write")).unwrap();
/// q.put((1, "read")).unwrap();
/// q.put((2, "close")).unwrap();
/// assert_eq!(q.get(), Ok((1, "read")));
/// assert_eq!(q.get(), Ok((2, "close"))); // ("close" < "write")
/// assert_eq!(q.get(), Ok((2, "write")));
/// ```
#[doc(alias = "heapq")]
pub struct PriorityQueue<T> {
    core: Arc<Core<T, Locked<T, Heap<T>>>>,
}

impl<T: Ord> PriorityQueue<T> {
    /// A priority queue holding at most `capacity` items; 0 means
    /// unbounded. No memory is reserved up front.
    ///
    /// Python: `queue.PriorityQueue(maxsize=capacity)`.
    pub fn new(capacity: usize) -> Self {
        PriorityQueue {
            core: Arc::new(Core::new(Locked::new(Heap::new(), capacity))),
        }
    }

    /// A priority queue without a capacity: `put` never waits.
    ///
    /// Python: `queue.PriorityQueue()`.
    pub fn unbounded() -> Self {
        Self::new(0)
    }
}

queue_api!(PriorityQueue, [: Ord]);
