//! The queue's crash and fault hooks, and what the children's standard
//! input is made from, for this crate's own tests (feature
//! `__test-hooks`, turned on by its dev-dependency on itself). Not for
//! users: no stability promise.

use crate::{Codec, Queue};

/// What a process killed in the middle of a put or a get leaves in a
/// queue, and damage from outside.
pub trait QueueTestHooks<T, C> {
    /// Starts a put of `item` and stops for good in the middle of it,
    /// after claiming a slot and writing `upto` bytes of the frame, as
    /// a process killed at that point would leave it. Never returns
    /// once a slot is claimed (the caller is meant to be killed);
    /// returns `false` at once if the queue is full.
    fn __crash_test_partial_put(&self, item: &T, upto: usize) -> bool;
    /// Claims the oldest item for reading and stops for good, as a
    /// consumer killed in the middle of its get would leave it. Never
    /// returns once an item is claimed; returns `false` at once if
    /// there is none.
    fn __crash_test_partial_get(&self) -> bool;
    /// Damages byte `at` of the oldest item's frame in the shared
    /// memory. Returns whether there was an item.
    fn __fault_test_damage_oldest(&self, at: usize) -> bool;
}

impl<T, C: Codec<T>> QueueTestHooks<T, C> for Queue<T, C> {
    fn __crash_test_partial_put(&self, item: &T, upto: usize) -> bool {
        Queue::__crash_test_partial_put(self, item, upto)
    }
    fn __crash_test_partial_get(&self) -> bool {
        Queue::__crash_test_partial_get(self)
    }
    fn __fault_test_damage_oldest(&self, at: usize) -> bool {
        Queue::__fault_test_damage_oldest(self, at)
    }
}

/// The descriptor of `/dev/null` this process keeps for its forked
/// children's standard input, once a fork has opened it.
pub fn dev_null_fd() -> Option<i32> {
    crate::sys::dev_null_fd()
}
