//! Green `Queue<T>`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::waiter::{wait_until, Locked, WaitList};
use crate::error::Error;

struct State<T> {
    items: VecDeque<T>,
    cap: Option<usize>,
    closed: bool,
    getters: WaitList,
    putters: WaitList,
}

/// A FIFO queue for green threads, bounded or not: [`get`](Self::get)
/// waits (switching away) while it is empty, [`put`](Self::put) while it is
/// full.
///
/// `Send + Sync` for `T: Send`: a plain OS thread may put (waking a green
/// getter on any hub) or get.
///
/// Python: `gevent.queue.Queue`.
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
///         for i in 0..5 { qp.put(i).unwrap(); }
///         qp.close();
///     });
///     let mut got = Vec::new();
///     while let Ok(v) = q.get() { got.push(v); }
///     producer.join().unwrap();
///     assert_eq!(got, [0, 1, 2, 3, 4]);
/// })
/// .unwrap();
/// ```
pub struct Queue<T> {
    state: Locked<State<T>>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T> Queue<T> {
    /// An unbounded queue.
    ///
    /// Python: `Queue()`.
    pub fn new() -> Queue<T> {
        Self::with_cap(None)
    }

    /// A queue holding at most `cap` items (`cap` 0 is taken as 1).
    ///
    /// Python: `Queue(maxsize)`.
    pub fn bounded(cap: usize) -> Queue<T> {
        Self::with_cap(Some(cap.max(1)))
    }

    fn with_cap(cap: Option<usize>) -> Queue<T> {
        Queue {
            state: Locked::new(State {
                items: VecDeque::new(),
                cap,
                closed: false,
                getters: WaitList::default(),
                putters: WaitList::default(),
            }),
        }
    }

    fn try_push(s: &mut State<T>, v: &mut Option<T>) -> Option<Result<(), ()>> {
        if s.closed {
            return Some(Err(()));
        }
        if s.cap.is_some_and(|c| s.items.len() >= c) {
            return None;
        }
        s.items
            .push_back(v.take().expect("value present until pushed"));
        Some(Ok(()))
    }

    fn wake_getter(&self, woke: Option<super::waiter::Waiter>) {
        if let Some(w) = woke {
            w.wake();
        }
    }

    fn put_until(&self, v: T, deadline: Option<Instant>) -> Result<(), (T, bool)> {
        let mut slot = Some(v);
        let r = wait_until(
            &self.state,
            deadline,
            |s| &mut s.putters,
            |s| Self::try_push(s, &mut slot).map(|r| r.map(|()| s.getters.pop())),
        );
        match r {
            Some(Ok(w)) => {
                self.wake_getter(w);
                Ok(())
            }
            Some(Err(())) => Err((slot.take().expect("not pushed"), true)),
            None => Err((slot.take().expect("not pushed"), false)),
        }
    }

    /// Appends `value`, waiting while the queue is full.
    ///
    /// Python: `q.put(item)`.
    ///
    /// # Errors
    /// [`Error::Closed`] if the queue is closed (the value is dropped; use
    /// [`try_put`](Self::try_put) to get it back).
    pub fn put(&self, value: T) -> Result<(), Error> {
        self.put_until(value, None).map_err(|_| Error::Closed)
    }

    /// Appends `value` if there is room now; gives it back otherwise (full
    /// or closed).
    ///
    /// Python: `q.put_nowait(item)`.
    ///
    /// # Errors
    /// The value, when full or closed.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, value: T) -> Result<(), T> {
        let mut slot = Some(value);
        let r = self
            .state
            .with(|s| Self::try_push(s, &mut slot).map(|r| r.map(|()| s.getters.pop())));
        match r {
            Some(Ok(w)) => {
                self.wake_getter(w);
                Ok(())
            }
            _ => Err(slot.take().expect("not pushed")),
        }
    }

    /// Appends `value`, waiting at most `timeout` for room.
    ///
    /// Python: `q.put(item, timeout=t)`.
    ///
    /// # Errors
    /// The value back, when still full after `timeout` or closed.
    pub fn put_timeout(&self, value: T, timeout: Duration) -> Result<(), T> {
        self.put_until(value, Instant::now().checked_add(timeout))
            .map_err(|(v, _)| v)
    }

    fn try_pop(s: &mut State<T>) -> Option<Result<(T, Option<super::waiter::Waiter>), ()>> {
        match s.items.pop_front() {
            Some(v) => Some(Ok((v, s.putters.pop()))),
            None if s.closed => Some(Err(())),
            None => None,
        }
    }

    fn get_until(&self, deadline: Option<Instant>) -> Option<Result<T, Error>> {
        let r = wait_until(&self.state, deadline, |s| &mut s.getters, Self::try_pop)?;
        Some(match r {
            Ok((v, w)) => {
                if let Some(w) = w {
                    w.wake();
                }
                Ok(v)
            }
            Err(()) => Err(Error::Closed),
        })
    }

    /// Takes the oldest item, waiting while the queue is empty.
    ///
    /// Python: `q.get()`.
    ///
    /// # Errors
    /// [`Error::Closed`] once the queue is closed and empty.
    pub fn get(&self) -> Result<T, Error> {
        self.get_until(None).expect("no deadline")
    }

    /// Takes the oldest item if there is one now.
    ///
    /// Python: `q.get_nowait()`.
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Option<T> {
        let r = self.state.with(|s| Self::try_pop(s));
        match r {
            Some(Ok((v, w))) => {
                if let Some(w) = w {
                    w.wake();
                }
                Some(v)
            }
            _ => None,
        }
    }

    /// Takes the oldest item, waiting at most `timeout`.
    ///
    /// Python: `q.get(timeout=t)`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if still empty after `timeout`, [`Error::Closed`]
    /// once closed and empty.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.get_until(Instant::now().checked_add(timeout))
            .unwrap_or(Err(Error::Timeout(timeout)))
    }

    /// Closes the queue: puts fail from now on; gets drain what is left,
    /// then fail with [`Error::Closed`]. Wakes every waiter.
    ///
    /// Python: putting `StopIteration` in a gevent queue.
    pub fn close(&self) {
        let ws = self.state.with(|s| {
            s.closed = true;
            let mut ws = s.getters.take_all();
            ws.extend(s.putters.take_all());
            ws
        });
        for w in ws {
            w.wake();
        }
    }

    /// Items in the queue now.
    ///
    /// Python: `q.qsize()`.
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.state.with(|s| s.items.len())
    }

    /// Whether it is empty now.
    ///
    /// Python: `q.empty()`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it is full now (never, unbounded).
    ///
    /// Python: `q.full()`.
    pub fn is_full(&self) -> bool {
        self.state
            .with(|s| s.cap.is_some_and(|c| s.items.len() >= c))
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("len", &self.len()).finish()
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
            let c = loom::thread::spawn(move || q2.close());
            assert!(matches!(q.get(), Err(Error::Closed)));
            c.join().unwrap();
        });
    }
}
