//! Iterators over the queues: [`Iter`] and [`IntoIter`] get items until the
//! queue is closed and drained, [`TryIter`] takes what is there now.
//!
//! They are generic over the queue type (`Iter<'_, Queue<T>>`,
//! `Iter<'_, PriorityQueue<T>>`, ...) and yield that queue's items.

use core::fmt;

/// Gets items, waiting for each, until the queue is closed and drained.
/// Made by `iter()` (or a `for` loop over `&queue`).
///
/// It does not call `task_done`.
#[must_use = "iterators do nothing unless iterated"]
pub struct Iter<'a, Q> {
    queue: &'a Q,
}

impl<'a, Q> Iter<'a, Q> {
    pub(crate) fn new(queue: &'a Q) -> Self {
        Iter { queue }
    }

    pub(crate) fn queue(&self) -> &'a Q {
        self.queue
    }
}

impl<Q: fmt::Debug> fmt::Debug for Iter<'_, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("queue", self.queue).finish()
    }
}

/// Takes the items in the queue now, without waiting. Made by
/// `try_iter()`.
///
/// It does not call `task_done`.
#[must_use = "iterators do nothing unless iterated"]
pub struct TryIter<'a, Q> {
    queue: &'a Q,
}

impl<'a, Q> TryIter<'a, Q> {
    pub(crate) fn new(queue: &'a Q) -> Self {
        TryIter { queue }
    }

    pub(crate) fn queue(&self) -> &'a Q {
        self.queue
    }
}

impl<Q: fmt::Debug> fmt::Debug for TryIter<'_, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter")
            .field("queue", self.queue)
            .finish()
    }
}

/// Gets items, waiting for each, until the queue is closed and drained,
/// holding a handle to the queue. Made by a `for` loop over a queue handle
/// (`IntoIterator`).
///
/// It does not call `task_done`.
#[must_use = "iterators do nothing unless iterated"]
pub struct IntoIter<Q> {
    queue: Q,
}

impl<Q> IntoIter<Q> {
    pub(crate) fn new(queue: Q) -> Self {
        IntoIter { queue }
    }

    pub(crate) fn queue(&self) -> &Q {
        &self.queue
    }

    /// The queue handle back.
    pub fn into_inner(self) -> Q {
        self.queue
    }
}

impl<Q: fmt::Debug> fmt::Debug for IntoIter<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("queue", &self.queue)
            .finish()
    }
}
