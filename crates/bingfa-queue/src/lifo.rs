//! [`LifoQueue`]: last in, first out.

use std::sync::Arc;

use crate::core::Core;
use crate::raw::locked::Locked;

/// A last-in, first-out queue (a stack) for many producers and many
/// consumers: `get` takes the item put most recently.
///
/// The items sit in a `Vec` behind a small spin-then-park lock; `len`,
/// `is_empty`, `is_full` and the task counter are atomics read without it,
/// and threads touch the parking lot only when someone waits.
///
/// Python: `queue.LifoQueue`.
///
/// # Examples
/// ```
/// use bingfa_queue::LifoQueue;
///
/// let q = LifoQueue::unbounded();
/// for i in 1..=3 {
///     q.put(i).unwrap();
/// }
/// assert_eq!(q.get(), Ok(3));
/// assert_eq!(q.get(), Ok(2));
/// assert_eq!(q.get(), Ok(1));
/// ```
pub struct LifoQueue<T> {
    core: Arc<Core<T, Locked<T, Vec<T>>>>,
}

impl<T> LifoQueue<T> {
    /// A stack holding at most `capacity` items; 0 means unbounded. No
    /// memory is reserved up front.
    ///
    /// Python: `queue.LifoQueue(maxsize=capacity)`.
    pub fn new(capacity: usize) -> Self {
        LifoQueue {
            core: Arc::new(Core::new(Locked::new(Vec::new(), capacity))),
        }
    }

    /// A stack without a capacity: `put` never waits.
    ///
    /// Python: `queue.LifoQueue()`.
    pub fn unbounded() -> Self {
        Self::new(0)
    }
}

queue_api!(LifoQueue, []);
