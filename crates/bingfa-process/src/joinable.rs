//! [`JoinableQueue`]: a [`Queue`] that counts unfinished tasks across
//! processes, for `task_done` and `join`.

use std::fmt;
use std::time::Duration;

use bingfa_sync::raw::atomic::{fence, AtomicU32, Ordering};
use bingfa_sync::raw::Deadline;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{Codec, Postcard, Raw};
use crate::error::{Error, PutError};
use crate::queue::Queue;
use crate::shm::ShmBox;
use crate::sys;

/// The unfinished-task count and its joiners, in shared memory: the
/// protocol `put`, `task_done` and `join` follow (loom-checked in
/// `loom_tests`).
#[repr(C)]
pub(crate) struct Tasks {
    /// Items put and not yet marked done; the futex word joiners sleep on.
    unfinished: AtomicU32,
    /// Joiners registered to sleep.
    waiters: AtomicU32,
}

impl Tasks {
    pub(crate) fn new() -> Tasks {
        Tasks {
            unfinished: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
        }
    }

    /// One more task; `false` (and nothing changes) at `u32::MAX`.
    pub(crate) fn add(&self) -> bool {
        let n = &self.unfinished;
        let mut cur = n.load(Ordering::Relaxed);
        loop {
            if cur == u32::MAX {
                return false;
            }
            match n.compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// One task done; `false` (and nothing changes) when none is
    /// unfinished. Wakes the joiners when it was the last.
    pub(crate) fn done(&self) -> bool {
        let n = &self.unfinished;
        let mut cur = n.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                return false;
            }
            match n.compare_exchange_weak(cur, cur - 1, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if cur == 1 {
            self.wake_joiners();
        }
        true
    }

    /// `k` tasks taken back (a failed put, items dropped by an immediate
    /// close), never below zero. Wakes the joiners if none is left.
    pub(crate) fn take_back(&self, k: u32) {
        let n = &self.unfinished;
        let mut cur = n.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_sub(k);
            match n.compare_exchange_weak(cur, next, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if cur != 0 && cur <= k {
            self.wake_joiners();
        }
    }

    fn wake_joiners(&self) {
        // Pairs with the fence of a joiner between registering and reading
        // the count: either it sees zero, or we see it registered.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            sys::wake(&self.unfinished, u32::MAX);
        }
    }

    /// Waits until no task is unfinished or `deadline` passes; returns
    /// whether none is.
    pub(crate) fn wait(&self, deadline: Option<Deadline>) -> bool {
        loop {
            let n = self.unfinished.load(Ordering::SeqCst);
            if n == 0 {
                return true;
            }
            if deadline.is_some_and(|d| d.has_passed()) {
                return false;
            }
            self.waiters.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let n = self.unfinished.load(Ordering::SeqCst);
            // Checked: a `task_done` killed between taking the count to
            // zero and its wake would leave this joiner asleep for good.
            let woke = n == 0 || sys::wait_checked(&self.unfinished, n, deadline);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if !woke {
                return self.unfinished.load(Ordering::SeqCst) == 0;
            }
        }
    }

    pub(crate) fn unfinished(&self) -> u32 {
        self.unfinished.load(Ordering::SeqCst)
    }
}

/// A [`Queue`] whose consumers say when they have finished each item, so
/// that a process can wait until every item put has been processed.
/// Python: `multiprocessing.JoinableQueue`.
///
/// Every successful put adds one unfinished task (a put that fails adds
/// none); [`task_done`](JoinableQueue::task_done) takes one away;
/// [`join`](JoinableQueue::join) waits until none is left. The count
/// lives in shared memory with the queue, so producers, consumers and
/// joiners may each be in any process.
///
/// A consumer killed between its `get` and its `task_done` leaves that
/// task unfinished for good (Python: the same): use
/// [`join_timeout`](JoinableQueue::join_timeout) where that can happen.
///
/// Its items are encoded as in a [`Queue`], with the codec `C`: serde
/// by default, or plain data as its own bytes ([`JoinableQueue::raw`]).
///
/// ```
/// use bingfa_process::JoinableQueue;
///
/// let q = JoinableQueue::<u32>::new(8).unwrap();
/// // SAFETY: a doctest is a program of its own, with no other thread.
/// let worker = unsafe { bingfa_process::fork(|| {
///     while let Ok(n) = q.get() {
///         let _ = n * 2; // the work
///         q.task_done().unwrap();
///     }
/// }) }
/// .unwrap();
/// for n in 0..20 {
///     q.put(n).unwrap();
/// }
/// q.join(); // every item was got and marked done
/// q.close();
/// worker.join().unwrap();
/// ```
pub struct JoinableQueue<T, C = Postcard> {
    queue: Queue<T, C>,
    tasks: ShmBox<Tasks>,
}

impl<T, C> Clone for JoinableQueue<T, C> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
            tasks: self.tasks.clone(),
        }
    }
}

impl<T, C> fmt::Debug for JoinableQueue<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished_tasks", &self.unfinished_tasks())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A joinable queue of `capacity` items of at most
    /// [`DEFAULT_MAX_MESSAGE`](crate::DEFAULT_MAX_MESSAGE) encoded bytes
    /// each. Python: `multiprocessing.JoinableQueue(maxsize)`.
    ///
    /// # Errors
    /// As for [`Queue::new`].
    pub fn new(capacity: usize) -> Result<JoinableQueue<T>, Error> {
        Self::from_queue(Queue::new(capacity)?)
    }

    /// A joinable queue of `capacity` items of at most `max_message`
    /// encoded bytes each. See [`Queue::with_max_message`].
    ///
    /// # Errors
    /// As for [`Queue::with_max_message`].
    pub fn with_max_message(
        capacity: usize,
        max_message: usize,
    ) -> Result<JoinableQueue<T>, Error> {
        Self::from_queue(Queue::with_max_message(capacity, max_message)?)
    }

}

impl<T: bytemuck::Pod> JoinableQueue<T, Raw> {
    /// A joinable queue of `capacity` plain-data items, each copied as its
    /// own bytes; see [`Queue::raw`]. No Python counterpart.
    ///
    /// # Errors
    /// As for [`Queue::raw`].
    pub fn raw(capacity: usize) -> Result<JoinableQueue<T, Raw>, Error> {
        Self::from_queue(Queue::raw(capacity)?)
    }
}

impl<T, C: Codec<T>> JoinableQueue<T, C> {
    /// A joinable queue of `capacity` items of at most `max_message`
    /// payload bytes each, encoded with codec `C`. See
    /// [`Queue::with_codec`].
    ///
    /// # Errors
    /// As for [`Queue::with_codec`].
    pub fn with_codec(capacity: usize, max_message: usize) -> Result<JoinableQueue<T, C>, Error> {
        Self::from_queue(Queue::with_codec(capacity, max_message)?)
    }

    fn from_queue(queue: Queue<T, C>) -> Result<JoinableQueue<T, C>, Error> {
        Ok(JoinableQueue {
            queue,
            tasks: ShmBox::new(Tasks::new())?,
        })
    }

    /// Puts `item` (one more unfinished task), waiting while the queue is
    /// full. Python: `JoinableQueue.put`.
    ///
    /// # Errors
    /// As for [`Queue::put`]; a failed put adds no task and hands the item
    /// back. [`Error::Invalid`] when 2^32 - 1 tasks are unfinished already.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.counted(item, |item| self.queue.put(item))
    }

    /// Puts `item`, waiting at most `timeout` for room. Python:
    /// `JoinableQueue.put(item, timeout=t)`.
    ///
    /// # Errors
    /// As for [`put`](JoinableQueue::put), and [`Error::Timeout`].
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.counted(item, |item| self.queue.put_timeout(item, timeout))
    }

    /// Puts `item` if there is room now. Python:
    /// `JoinableQueue.put_nowait`.
    ///
    /// # Errors
    /// As for [`put`](JoinableQueue::put), and [`Error::Full`].
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        self.counted(item, |item| self.queue.try_put(item))
    }

    /// Counts the task before the put (a consumer may get the item and
    /// call `task_done` before the put returns), and takes it back if the
    /// put fails.
    fn counted(
        &self,
        item: T,
        put: impl FnOnce(T) -> Result<(), PutError<T>>,
    ) -> Result<(), PutError<T>> {
        if !self.tasks.add() {
            return Err(PutError {
                error: Error::Invalid("JoinableQueue: too many unfinished tasks"),
                item,
            });
        }
        put(item).inspect_err(|_| self.tasks.take_back(1))
    }

    /// Takes the oldest item, waiting while the queue is empty. Python:
    /// `JoinableQueue.get`.
    ///
    /// # Errors
    /// As for [`Queue::get`].
    pub fn get(&self) -> Result<T, Error> {
        self.queue.get()
    }

    /// Takes the oldest item, waiting at most `timeout`. Python:
    /// `JoinableQueue.get(timeout=t)`.
    ///
    /// # Errors
    /// As for [`Queue::get_timeout`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.queue.get_timeout(timeout)
    }

    /// Takes the oldest item if there is one now. Python:
    /// `JoinableQueue.get_nowait`.
    ///
    /// # Errors
    /// As for [`Queue::try_get`].
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, Error> {
        self.queue.try_get()
    }
}

impl<T, C> JoinableQueue<T, C> {
    /// Marks one task done: an item got earlier has been processed.
    /// Python: `JoinableQueue.task_done`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when no task is unfinished (more calls than
    /// items put; Python: `ValueError`); nothing changes.
    pub fn task_done(&self) -> Result<(), Error> {
        if self.tasks.done() {
            Ok(())
        } else {
            Err(Error::Invalid("task_done() called too many times"))
        }
    }

    /// Waits until every item put has been marked done. Python:
    /// `JoinableQueue.join`.
    pub fn join(&self) {
        let _ = self.join_until(None);
    }

    /// Waits at most `timeout` until every item put has been marked done.
    /// Python has no timed form.
    ///
    /// # Errors
    /// [`Error::Timeout`] if tasks are still unfinished at the deadline.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.join_until(Deadline::after(timeout))
    }

    fn join_until(&self, deadline: Option<Deadline>) -> Result<(), Error> {
        if self.tasks.wait(deadline) {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    /// The number of items put and not yet marked done (a snapshot).
    /// Python: the `_unfinished_tasks` semaphore's value.
    pub fn unfinished_tasks(&self) -> u32 {
        self.tasks.unfinished()
    }

    /// How many items are in the queue now. Python: `qsize`.
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether the queue is empty now. Python: `empty`.
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether the queue is full now. Python: `full`.
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        self.queue.is_full()
    }

    /// The most items the queue holds. Python: `maxsize`.
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    /// The largest encoded item a put accepts, in bytes.
    pub fn max_message_size(&self) -> usize {
        self.queue.max_message_size()
    }

    /// Closes the queue for every process; see [`Queue::close`]. Items left
    /// in it stay unfinished tasks until they are got and marked done.
    /// Python 3.13: `shutdown()`.
    #[doc(alias = "shutdown")]
    pub fn close(&self) {
        self.queue.close()
    }

    /// Closes the queue and drops the items left in it, counting each as
    /// done (a joiner waits only for items already got); returns how many
    /// were dropped. Python 3.13: `shutdown(immediate=True)`.
    pub fn close_immediate(&self) -> usize {
        let dropped = self.queue.close_immediate();
        self.tasks
            .take_back(u32::try_from(dropped).unwrap_or(u32::MAX));
        dropped
    }

    /// Whether the queue is closed. Python 3.13: `is_shutdown`.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

/// A joinable queue serializes as its two shared memory descriptors: only
/// as an argument of [`Builder::spawn`](crate::Builder::spawn).
impl<T, C> Serialize for JoinableQueue<T, C> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.queue, &self.tasks).serialize(s)
    }
}

impl<'de, T, C> Deserialize<'de> for JoinableQueue<T, C> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (queue, tasks) = <(Queue<T, C>, ShmBox<Tasks>)>::deserialize(d)?;
        Ok(JoinableQueue { queue, tasks })
    }
}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    use super::*;
    use crate::sys::lost_wake_up;

    /// A last `task_done` whose wake-up never comes (its process killed
    /// between the decrement and the wake) costs a blocked `join` a slice,
    /// not the rest of its life.
    #[test]
    fn join_survives_a_lost_wake_up() {
        let tasks: &'static Tasks = Box::leak(Box::new(Tasks::new()));
        assert!(tasks.add());
        lost_wake_up::check(
            move || tasks.wait(None),
            || tasks.waiters.load(Ordering::SeqCst) > 0,
            || {
                tasks.unfinished.fetch_sub(1, Ordering::SeqCst);
            },
        );
    }
}
