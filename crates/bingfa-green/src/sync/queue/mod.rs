//! Green queues: [`Queue`] (FIFO, also [`JoinableQueue`]), [`LifoQueue`],
//! [`PriorityQueue`] and the rendezvous [`Channel`].
//!
//! One error model with the thread queues (`bingfa_queue`) and the process
//! queue (`bingfa_process`): a put that fails for any reason hands its item
//! back in a [`PutError`], whose `is_full`, `is_timeout` and `is_closed`
//! tell why; a get fails with [`Error::Empty`](crate::Error::Empty) (a
//! `try_get` on an empty queue), [`Error::Timeout`](crate::Error::Timeout)
//! or [`Error::Closed`](crate::Error::Closed) (closed and empty).

mod channel;
mod core;

use std::fmt;
use std::time::Duration;

pub use self::channel::Channel;
pub use self::core::PutError;
use self::core::{Core, Fifo, Lifo, Priority, Wait};
use crate::error::Error;

/// The API the three queues share, written once, with each type's name in
/// its examples.
macro_rules! queue_api {
    ($name:ident, [$($bound:tt)*]) => {
        impl<T $($bound)*> $name<T> {
            /// A queue without a bound: [`put`](Self::put) never waits.
            ///
            #[doc = concat!("Python: `gevent.queue.", stringify!($name), "()`.")]
            pub fn new() -> Self {
                $name { core: Core::new(None) }
            }

            /// A queue holding at most `capacity` items: [`put`](Self::put)
            /// waits while it is full.
            ///
            /// A capacity of 0 makes a rendezvous (as `std::sync::mpsc::sync_channel(0)`
            /// and `crossbeam_channel::bounded(0)`): a put waits until a
            /// getter takes its item, and a `try_put` succeeds only when a
            /// getter is waiting. [`Channel`] is that queue. (Python's
            /// `Queue(0)` is unbounded instead: use [`new`](Self::new).)
            ///
            #[doc = concat!("Python: `gevent.queue.", stringify!($name), "(maxsize)`.")]
            #[doc(alias = "maxsize")]
            pub fn bounded(capacity: usize) -> Self {
                $name { core: Core::new(Some(capacity)) }
            }

            /// The bound, `None` when unbounded.
            ///
            /// Python: `q.maxsize`.
            #[doc(alias = "maxsize")]
            pub fn capacity(&self) -> Option<usize> {
                self.core.capacity()
            }

            /// Puts `item`, waiting (switching to other green threads, or
            /// blocking a plain OS thread) while the queue is full. When it
            /// has to wait, the item goes in once a get makes room, blocked
            /// putters in the order they came.
            ///
            /// Python: `q.put(item)`.
            ///
            /// # Errors
            /// [`PutError`] with [`Error::Closed`] and the item, if the
            /// queue is closed before the item went in. A kill or a
            /// [`Timeout`](crate::Timeout) that unwinds the wait drops the
            /// item (it never went in).
            pub fn put(&self, item: T) -> Result<(), PutError<T>> {
                self.core.put(item, Wait::Forever)
            }

            /// Puts `item` if there is room now.
            ///
            /// Python: `q.put_nowait(item)`.
            ///
            /// # Errors
            /// [`PutError`] with the item: [`Error::Full`] when full,
            /// [`Error::Closed`] when closed.
            ///
            /// ```
            #[doc = concat!("use bingfa_green::sync::", stringify!($name), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($name), "::bounded(1);")]
            /// q.try_put(1).unwrap();
            /// let err = q.try_put(2).unwrap_err();
            /// assert!(err.is_full());
            /// assert_eq!(err.into_inner(), 2);
            /// ```
            #[doc(alias = "put_nowait")]
            pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
                self.core.put(item, Wait::No)
            }

            /// Puts `item`, waiting at most `timeout` for room.
            ///
            /// Python: `q.put(item, timeout=t)`.
            ///
            /// # Errors
            /// [`PutError`] with the item: [`Error::Timeout`] when still
            /// full after `timeout`, [`Error::Closed`] when closed.
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
                self.core.put(item, Wait::For(timeout))
            }

            /// Takes the next item, waiting while the queue is empty.
            ///
            /// Python: `q.get()`.
            ///
            /// # Errors
            /// [`Error::Closed`] once the queue is closed and empty.
            pub fn get(&self) -> Result<T, Error> {
                self.core.get(Wait::Forever)
            }

            /// Takes the next item if there is one now.
            ///
            /// Python: `q.get_nowait()`.
            ///
            /// # Errors
            /// [`Error::Empty`] when empty, [`Error::Closed`] when closed
            /// and empty.
            #[doc(alias = "get_nowait")]
            pub fn try_get(&self) -> Result<T, Error> {
                self.core.get(Wait::No)
            }

            /// Takes the next item, waiting at most `timeout`.
            ///
            /// Python: `q.get(timeout=t)`.
            ///
            /// # Errors
            /// [`Error::Timeout`] when still empty after `timeout`,
            /// [`Error::Closed`] when closed and empty.
            pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
                self.core.get(Wait::For(timeout))
            }

            /// A clone of the item [`get`](Self::get) would take next,
            /// waiting while the queue is empty; the item stays.
            ///
            /// Python: `q.peek()`.
            ///
            /// # Errors
            /// [`Error::Closed`] once the queue is closed and empty.
            pub fn peek(&self) -> Result<T, Error>
            where
                T: Clone,
            {
                self.core.peek(Wait::Forever)
            }

            /// As [`peek`](Self::peek), without waiting.
            ///
            /// Python: `q.peek_nowait()`.
            ///
            /// # Errors
            /// [`Error::Empty`] when empty, [`Error::Closed`] when closed
            /// and empty.
            #[doc(alias = "peek_nowait")]
            pub fn try_peek(&self) -> Result<T, Error>
            where
                T: Clone,
            {
                self.core.peek(Wait::No)
            }

            /// As [`peek`](Self::peek), waiting at most `timeout`.
            ///
            /// Python: `q.peek(timeout=t)`.
            ///
            /// # Errors
            /// [`Error::Timeout`] when still empty after `timeout`,
            /// [`Error::Closed`] when closed and empty.
            pub fn peek_timeout(&self, timeout: Duration) -> Result<T, Error>
            where
                T: Clone,
            {
                self.core.peek(Wait::For(timeout))
            }

            /// Items in the queue now (the items of blocked putters are not
            /// in it yet).
            ///
            /// Python: `q.qsize()`.
            #[doc(alias = "qsize")]
            pub fn len(&self) -> usize {
                self.core.len()
            }

            /// Whether it holds no item now.
            ///
            /// Python: `q.empty()`.
            #[doc(alias = "empty")]
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Whether a put would wait now (never when unbounded, always
            /// with capacity 0).
            ///
            /// Python: `q.full()`.
            #[doc(alias = "full")]
            pub fn is_full(&self) -> bool {
                self.core.is_full()
            }

            /// Marks one item taken from the queue as processed: every
            /// successful put adds an unfinished task, every `task_done`
            /// finishes one, and [`join`](Self::join) returns when none is
            /// left.
            ///
            /// Python: `q.task_done()`.
            ///
            /// # Errors
            /// [`Error::TaskDone`] when no task is unfinished (one call too
            /// many; Python: `ValueError`).
            pub fn task_done(&self) -> Result<(), Error> {
                self.core.task_done()
            }

            /// Items put and not yet marked done.
            ///
            /// Python: `q.unfinished_tasks`.
            pub fn unfinished_tasks(&self) -> usize {
                self.core.unfinished_tasks()
            }

            /// Waits until every item put has been marked done with
            /// [`task_done`](Self::task_done); at once when none is
            /// unfinished. Closing does not end the wait.
            ///
            /// Python: `q.join()`.
            pub fn join(&self) {
                self.core.join(None);
            }

            /// As [`join`](Self::join), giving up after `timeout`; whether
            /// every task is done.
            ///
            /// Python: `q.join(timeout=t)`.
            #[doc(alias = "join")]
            pub fn join_timeout(&self, timeout: Duration) -> bool {
                self.core.join(Some(timeout))
            }

            /// Closes the queue: puts fail from now on (blocked putters too,
            /// each getting its item back), gets take what is left and then
            /// fail with [`Error::Closed`]; every waiter wakes. Returns
            /// whether this call closed it.
            ///
            /// Python: `q.shutdown()` (3.13; `gevent.queue.Queue.shutdown`),
            /// or putting `StopIteration` to end an iteration.
            #[doc(alias = "shutdown")]
            pub fn close(&self) -> bool {
                self.core.close()
            }

            /// Closes the queue and takes out every item left, so that
            /// gets fail with [`Error::Closed`] at once; the items taken
            /// count as done for [`join`](Self::join). Returns them (Python
            /// drops them), in `get` order.
            ///
            /// Python: `q.shutdown(immediate=True)`.
            #[doc(alias = "shutdown")]
            pub fn close_immediate(&self) -> Vec<T> {
                self.core.close_immediate()
            }

            /// Whether it is closed.
            ///
            /// Python: `q.is_shutdown`.
            #[doc(alias = "is_shutdown")]
            pub fn is_closed(&self) -> bool {
                self.core.is_closed()
            }

            /// An iterator that [`get`](Self::get)s items until the queue
            /// is closed and empty.
            ///
            /// Python: `for item in q:` (until `StopIteration` is put).
            pub fn iter(&self) -> Iter<'_, T> {
                Iter { next: Box::new(move || self.get().ok()) }
            }
        }

        impl<'a, T $($bound)*> IntoIterator for &'a $name<T> {
            type Item = T;
            type IntoIter = Iter<'a, T>;
            fn into_iter(self) -> Iter<'a, T> {
                self.iter()
            }
        }

        /// An unbounded queue.
        impl<T $($bound)*> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T $($bound)*> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &self.len())
                    .field("capacity", &self.capacity())
                    .field("unfinished_tasks", &self.unfinished_tasks())
                    .field("closed", &self.is_closed())
                    .finish()
            }
        }
    };
}

/// A FIFO queue for green threads: [`get`](Self::get) waits (switching
/// away) while it is empty, [`put`](Self::put) while it is full. It counts
/// tasks too ([`task_done`](Self::task_done), [`join`](Self::join)), so it
/// is also gevent's `JoinableQueue`.
///
/// `Send + Sync` for `T: Send`: a plain OS thread may put (waking a green
/// getter on any hub) or get (blocking that thread). Share it in an `Rc`
/// on one hub, an `Arc` across threads.
///
/// Python: `gevent.queue.Queue` (`JoinableQueue`, `SimpleQueue`).
///
/// ```
/// use std::rc::Rc;
/// use bingfa_green::{run, spawn, sync::Queue};
///
/// // The course's producer/consumer, with a queue of two.
/// run(|| {
///     let q = Rc::new(Queue::bounded(2));
///     let qp = q.clone();
///     let producer = spawn(move || {
///         for i in 0..5 {
///             qp.put(i).unwrap();
///         }
///         qp.close();
///     });
///     let got: Vec<i32> = q.iter().collect(); // until closed and empty
///     producer.join().unwrap();
///     assert_eq!(got, [0, 1, 2, 3, 4]);
/// })
/// .unwrap();
/// ```
#[doc(alias = "JoinableQueue")]
#[doc(alias = "SimpleQueue")]
pub struct Queue<T> {
    core: Core<T, Fifo<T>>,
}

/// gevent's older name of [`Queue`] (which counts tasks).
///
/// Python: `gevent.queue.JoinableQueue`.
pub type JoinableQueue<T> = Queue<T>;

/// A last-in, first-out green queue: [`get`](Self::get) takes the item put
/// most recently. Otherwise as [`Queue`].
///
/// Python: `gevent.queue.LifoQueue`.
///
/// ```
/// use bingfa_green::sync::LifoQueue;
///
/// let q = LifoQueue::new();
/// for i in 1..=3 {
///     q.put(i).unwrap();
/// }
/// assert_eq!(q.try_get().unwrap(), 3);
/// assert_eq!(q.try_peek().unwrap(), 2);
/// ```
pub struct LifoQueue<T> {
    core: Core<T, Lifo<T>>,
}

/// A green queue that gives the smallest item first (`Ord`; wrap in
/// `std::cmp::Reverse` for the largest). Otherwise as [`Queue`].
///
/// Python: `gevent.queue.PriorityQueue` (lowest first, as `heapq`).
///
/// ```
/// use bingfa_green::sync::PriorityQueue;
///
/// let q = PriorityQueue::new();
/// for (prio, job) in [(3, "c"), (1, "a"), (2, "b")] {
///     q.put((prio, job)).unwrap();
/// }
/// assert_eq!(q.try_get().unwrap(), (1, "a"));
/// ```
pub struct PriorityQueue<T: Ord> {
    core: Core<T, Priority<T>>,
}

queue_api!(Queue, []);
queue_api!(LifoQueue, []);
queue_api!(PriorityQueue, [: Ord]);

/// Gets items from a queue or channel until it is closed and empty.
pub struct Iter<'a, T> {
    next: Box<dyn FnMut() -> Option<T> + 'a>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        (self.next)()
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iter")
    }
}

#[cfg(all(test, bingfa_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A bounded queue of one between two OS threads: every item arrives,
    /// in order, with the putter blocking on a full queue.
    #[test]
    fn loom_queue_bounded_handoff() {
        loom::model(|| {
            let q = Arc::new(Queue::bounded(1));
            let q2 = q.clone();
            let p = loom::thread::spawn(move || {
                q2.put(1).unwrap();
                q2.put(2).unwrap();
            });
            assert_eq!(q.get().unwrap(), 1);
            assert_eq!(q.get().unwrap(), 2);
            p.join().unwrap();
        });
    }

    /// Close wakes a blocked getter.
    #[test]
    fn loom_queue_close_wakes_getter() {
        loom::model(|| {
            let q: Arc<Queue<u8>> = Arc::new(Queue::new());
            let q2 = q.clone();
            let c = loom::thread::spawn(move || {
                q2.close();
            });
            assert!(matches!(q.get(), Err(Error::Closed)));
            c.join().unwrap();
        });
    }

    /// A rendezvous between two threads: the put returns only once the
    /// getter has the item; a close racing a blocked put either lets the
    /// getter take the item or hands it back to the putter, never both
    /// and never neither.
    #[test]
    fn loom_channel_put_waits_for_getter() {
        loom::model(|| {
            let ch: Arc<Channel<u8>> = Arc::new(Channel::new());
            let c2 = ch.clone();
            let getter = loom::thread::spawn(move || c2.get().ok());
            let c3 = ch.clone();
            let closer = loom::thread::spawn(move || {
                c3.close();
            });
            let r = ch.put(7);
            let got = getter.join().unwrap();
            closer.join().unwrap();
            match r {
                Ok(()) => assert_eq!(got, Some(7)),
                Err(e) => {
                    assert!(e.is_closed());
                    assert_eq!(e.into_inner(), 7);
                    assert_eq!(got, None);
                }
            }
        });
    }

    /// A timed put and a timed get on a channel while the clock may end
    /// either wait at any point: the item is taken by the getter exactly
    /// when the put succeeds; otherwise the putter has it back and the
    /// getter timed out. Never both, never neither.
    #[test]
    fn loom_channel_timed_put_and_get_agree() {
        loom::model(|| {
            let far = Duration::from_secs(3600);
            let ch: Arc<Channel<u8>> = Arc::new(Channel::new());
            let (c1, c2) = (ch.clone(), ch.clone());
            let done = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let (d1, d2) = (done.clone(), done.clone());
            let putter = loom::thread::spawn(move || {
                let r = c1.put_timeout(7, far);
                d1.fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
                r.map_err(|e| (e.is_timeout(), e.into_inner()))
            });
            let getter = loom::thread::spawn(move || {
                let r = c2.get_timeout(far);
                d2.fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
                r
            });
            while done.load(loom::sync::atomic::Ordering::SeqCst) < 2 {
                bingfa_sync::raw::clock::advance();
                loom::thread::yield_now();
            }
            let (p, g) = (putter.join().unwrap(), getter.join().unwrap());
            match p {
                Ok(()) => assert_eq!(g.unwrap(), 7),
                Err(back) => {
                    assert_eq!(back, (true, 7));
                    assert!(matches!(g, Err(Error::Timeout(_))));
                }
            }
            assert_eq!(ch.balance(), 0);
        });
    }
}
