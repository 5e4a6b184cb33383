//! The logic every green queue shares: a store (FIFO, LIFO or priority),
//! the items of blocked putters, the task counter, closing, and the wait
//! lists of getters, peekers and joiners.
//!
//! A putter that finds no room leaves its item in the queue as an *offer*
//! and waits until a getter takes it (straight from the offer when the
//! capacity is 0, or by moving it into the store when a get makes room);
//! so a queue of capacity 0 is a rendezvous, and every blocked putter is
//! served in arrival order. A putter that gives up (timeout, close, or an
//! unwind) withdraws its offer; whoever got there first wins, so an item
//! is taken exactly once or handed back, never both.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sync::waiter::{unwind_if_interrupted, wait_until, Locked, WaitList, Waiter};

/// A put failed; the item is handed back in [`item`](PutError::item).
///
/// The same shape as `bingfa_process::PutError`, and the same predicates
/// (`is_full`, `is_timeout`, `is_closed`, `into_inner`) as the errors of
/// `bingfa_queue`: a failed put never loses its item, and a full queue is
/// told apart from a closed one.
///
/// Python: `queue.Full` (from `put_nowait` or a timed `put`),
/// `queue.ShutDown` (a closed queue); Python drops the item with the
/// exception.
#[derive(thiserror::Error)]
#[error("{error}")]
pub struct PutError<T> {
    /// Why: [`Error::Full`] (a `try_put`), [`Error::Timeout`] (a
    /// `put_timeout`), [`Error::Closed`].
    pub error: Error,
    /// The item that was not put.
    pub item: T,
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.item
    }

    /// Whether the queue was full (a `try_put`). Python: `queue.Full`.
    pub fn is_full(&self) -> bool {
        matches!(self.error, Error::Full)
    }

    /// Whether the timeout passed with the queue still full (a
    /// `put_timeout`). Python: `queue.Full` from `put(timeout=t)`.
    pub fn is_timeout(&self) -> bool {
        matches!(self.error, Error::Timeout(_))
    }

    /// Whether the queue was closed. Python: `queue.ShutDown`.
    pub fn is_closed(&self) -> bool {
        matches!(self.error, Error::Closed)
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Where a queue keeps its items: the order of `get`.
pub(crate) trait Store<T>: Default {
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn peek(&self) -> Option<&T>;
    fn len(&self) -> usize;
}

/// First in, first out.
pub(crate) type Fifo<T> = VecDeque<T>;

impl<T> Store<T> for VecDeque<T> {
    fn push(&mut self, item: T) {
        self.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn peek(&self) -> Option<&T> {
        self.front()
    }
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
}

/// Last in, first out.
pub(crate) type Lifo<T> = Vec<T>;

impl<T> Store<T> for Vec<T> {
    fn push(&mut self, item: T) {
        Vec::push(self, item);
    }
    fn pop(&mut self) -> Option<T> {
        Vec::pop(self)
    }
    fn peek(&self) -> Option<&T> {
        self.last()
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// Smallest first.
pub(crate) type Priority<T> = BinaryHeap<Reverse<T>>;

impl<T: Ord> Store<T> for BinaryHeap<Reverse<T>> {
    fn push(&mut self, item: T) {
        BinaryHeap::push(self, Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        BinaryHeap::pop(self).map(|Reverse(v)| v)
    }
    fn peek(&self) -> Option<&T> {
        BinaryHeap::peek(self).map(|Reverse(v)| v)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
}

/// The item of a putter that found no room. `waiter` is the blocked
/// putter, `None` for an item handed to a waiting getter by a `try_put`
/// on a queue of capacity 0 (nobody waits for it).
struct Offer<T> {
    id: u64,
    item: T,
    waiter: Option<Waiter>,
}

struct State<T, S> {
    store: S,
    cap: Option<usize>,
    offers: VecDeque<Offer<T>>,
    next_offer: u64,
    closed: bool,
    unfinished: usize,
    getters: WaitList,
    peekers: WaitList,
    joiners: WaitList,
}

impl<T, S: Store<T>> State<T, S> {
    fn has_room(&self) -> bool {
        self.cap.is_none_or(|c| self.store.len() < c)
    }

    /// The offer a getter may take: the oldest; once closed, only those
    /// nobody waits for (blocked putters fail with `Closed` instead).
    fn takeable(&self) -> Option<usize> {
        if self.closed {
            self.offers.iter().position(|o| o.waiter.is_none())
        } else if self.offers.is_empty() {
            None
        } else {
            Some(0)
        }
    }

    fn take_offer(&mut self) -> Option<Offer<T>> {
        let i = self.takeable()?;
        self.offers.remove(i)
    }

    /// Takes the next item for a getter: from the store (moving the oldest
    /// offer in behind it), else straight from an offer. Returns the item
    /// and the putter to wake.
    fn take(&mut self) -> Option<(T, Option<Waiter>)> {
        if let Some(v) = self.store.pop() {
            let mut putter = None;
            if let Some(o) = self.take_offer() {
                self.store.push(o.item);
                self.unfinished += 1;
                putter = o.waiter;
            }
            return Some((v, putter));
        }
        let o = self.take_offer()?;
        self.unfinished += 1;
        Some((o.item, o.waiter))
    }

    fn peek(&self) -> Option<&T> {
        self.store
            .peek()
            .or_else(|| self.takeable().map(|i| &self.offers[i].item))
    }

    /// The waiters to wake when an item becomes visible: one getter (it
    /// takes the item) and every peeker (they take nothing).
    fn item_visible(&mut self) -> Vec<Waiter> {
        let mut ws = self.peekers.take_all();
        if let Some(g) = self.getters.pop() {
            ws.push(g);
        }
        ws
    }
}

fn wake_all(ws: impl IntoIterator<Item = Waiter>) {
    for w in ws {
        w.wake();
    }
}

/// How long a put or get may wait.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all (`try_`).
    No,
    /// Until done.
    Forever,
    /// At most this long (`_timeout`).
    For(Duration),
}

impl Wait {
    fn deadline(self) -> Option<Instant> {
        match self {
            Wait::For(d) => Instant::now().checked_add(d),
            _ => None,
        }
    }

    /// The error of a put or get that could not wait any longer.
    fn gave_up(self, empty_or_full: Error) -> Error {
        match self {
            Wait::For(d) => Error::Timeout(d),
            _ => empty_or_full,
        }
    }
}

/// How a blocked put ended, once it woke.
enum Settled<T> {
    /// A getter took the item.
    Put,
    Failed(Error, T),
    /// A kill or a `Timeout` ended the wait before the item was taken.
    Interrupted(T),
    /// Not yet: sleep again.
    Again,
}

enum FirstTry<T> {
    Done(Vec<Waiter>),
    Failed(Error, T),
    MustWait(T),
    Offered(u64, Vec<Waiter>),
}

/// A green queue: the store `S` of items `T`, shared by the public types.
pub(crate) struct Core<T, S> {
    state: Locked<State<T, S>>,
}

impl<T, S: Store<T>> Core<T, S> {
    pub(crate) fn new(cap: Option<usize>) -> Self {
        Core {
            state: Locked::new(State {
                store: S::default(),
                cap,
                offers: VecDeque::new(),
                next_offer: 0,
                closed: false,
                unfinished: 0,
                getters: WaitList::default(),
                peekers: WaitList::default(),
                joiners: WaitList::default(),
            }),
        }
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.state.with(|s| s.cap)
    }

    pub(crate) fn put(&self, item: T, how: Wait) -> Result<(), PutError<T>> {
        let deadline = how.deadline();
        let expired = || match how {
            Wait::No => true,
            Wait::Forever => false,
            Wait::For(_) => deadline.is_some_and(|d| Instant::now() >= d),
        };
        // The first look, without a waiter (it costs an allocation for a
        // plain thread); if the put must wait, the look is made again
        // under the same lock that registers the offer, since the queue
        // may have changed (a close, room made) in between.
        let attempt = |s: &mut State<T, S>, item: T, me: Option<&Waiter>| {
            if s.closed {
                return FirstTry::Failed(Error::Closed, item);
            }
            if s.offers.is_empty() && s.has_room() {
                s.store.push(item);
                s.unfinished += 1;
                return FirstTry::Done(s.item_visible());
            }
            if expired() {
                // A rendezvous with a getter waiting now: the item goes to
                // it; nobody waits for the offer.
                if s.cap == Some(0) && s.getters.len() > 0 {
                    let id = s.next_offer;
                    s.next_offer += 1;
                    s.offers.push_back(Offer {
                        id,
                        item,
                        waiter: None,
                    });
                    return FirstTry::Done(s.item_visible());
                }
                return FirstTry::Failed(how.gave_up(Error::Full), item);
            }
            let Some(me) = me else {
                return FirstTry::MustWait(item);
            };
            let id = s.next_offer;
            s.next_offer += 1;
            s.offers.push_back(Offer {
                id,
                item,
                waiter: Some(me.clone()),
            });
            // A getter takes it straight from the offer only when the
            // store is empty (capacity 0).
            let ws = if s.store.len() == 0 {
                s.item_visible()
            } else {
                Vec::new()
            };
            FirstTry::Offered(id, ws)
        };
        let item = match self.state.with(|s| attempt(s, item, None)) {
            FirstTry::Done(ws) => {
                wake_all(ws);
                return Ok(());
            }
            FirstTry::Failed(error, item) => return Err(PutError { error, item }),
            FirstTry::MustWait(item) => item,
            FirstTry::Offered(..) => unreachable!("no waiter to offer with"),
        };
        let me = Waiter::current();
        let (id, ws) = match self.state.with(|s| attempt(s, item, Some(&me))) {
            FirstTry::Done(ws) => {
                wake_all(ws);
                return Ok(());
            }
            FirstTry::Failed(error, item) => return Err(PutError { error, item }),
            FirstTry::Offered(id, ws) => (id, ws),
            FirstTry::MustWait(_) => unreachable!("a waiter was given"),
        };

        // Withdraws the offer (dropping the item) if something unwinds
        // out of the wait; a taken offer is left alone.
        struct Withdraw<'a, T, S: Store<T>> {
            core: &'a Core<T, S>,
            id: Option<u64>,
        }
        impl<T, S: Store<T>> Drop for Withdraw<'_, T, S> {
            fn drop(&mut self) {
                if let Some(id) = self.id {
                    let gone = self.core.state.with(|s| {
                        let p = s.offers.iter().position(|o| o.id == id)?;
                        s.offers.remove(p)
                    });
                    drop(gone);
                }
            }
        }
        let mut guard = Withdraw {
            core: self,
            id: Some(id),
        };
        wake_all(ws);
        let mut me = me;
        loop {
            // A kill or a `Timeout` does not unwind out of the sleep: the
            // item may have been taken meanwhile, and then the put has
            // succeeded (the interrupt waits for the next switch point).
            let (timed_out, interrupted) = me.block_deferring(deadline);
            let next = (!interrupted).then(Waiter::current);
            let r = self.state.with(|s| {
                let Some(p) = s.offers.iter().position(|o| o.id == id) else {
                    return Settled::Put;
                };
                if s.closed {
                    let o = s.offers.remove(p).expect("found just above");
                    return Settled::Failed(Error::Closed, o.item);
                }
                if interrupted {
                    let o = s.offers.remove(p).expect("found just above");
                    return Settled::Interrupted(o.item);
                }
                if timed_out || expired() {
                    let o = s.offers.remove(p).expect("found just above");
                    return Settled::Failed(how.gave_up(Error::Full), o.item);
                }
                s.offers[p].waiter = next.clone();
                Settled::Again
            });
            guard.id = None;
            match r {
                Settled::Put => return Ok(()),
                Settled::Failed(error, item) => return Err(PutError { error, item }),
                Settled::Interrupted(item) => {
                    // Not delivered: the interrupt unwinds now, and the
                    // item goes with the unwind (the put never happened).
                    drop(item);
                    unwind_if_interrupted();
                    unreachable!("an interrupt was pending");
                }
                Settled::Again => {
                    guard.id = Some(id);
                    me = next.expect("not interrupted");
                }
            }
        }
    }

    pub(crate) fn get(&self, how: Wait) -> Result<T, Error> {
        let r = match how {
            Wait::No => self.state.with(|s| s.take().map(Ok)),
            _ => wait_until(
                &self.state,
                how.deadline(),
                |s| &mut s.getters,
                |s| match s.take() {
                    Some(t) => Some(Ok(t)),
                    None if s.closed => Some(Err(Error::Closed)),
                    None => None,
                },
            ),
        };
        match r {
            Some(Ok((v, putter))) => {
                if let Some(w) = putter {
                    w.wake();
                }
                Ok(v)
            }
            Some(Err(e)) => Err(e),
            None if self.is_closed() => Err(Error::Closed),
            None => Err(how.gave_up(Error::Empty)),
        }
    }

    pub(crate) fn peek(&self, how: Wait) -> Result<T, Error>
    where
        T: Clone,
    {
        let look = |s: &mut State<T, S>| match s.peek() {
            Some(v) => Some(Ok(v.clone())),
            None if s.closed => Some(Err(Error::Closed)),
            None => None,
        };
        let r = match how {
            Wait::No => self.state.with(look),
            _ => wait_until(&self.state, how.deadline(), |s| &mut s.peekers, look),
        };
        r.unwrap_or_else(|| Err(how.gave_up(Error::Empty)))
    }

    pub(crate) fn len(&self) -> usize {
        self.state.with(|s| s.store.len())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.state.with(|s| !s.has_room())
    }

    /// Blocked putters minus blocked getters (gevent's `Channel.balance`).
    pub(crate) fn balance(&self) -> isize {
        self.state
            .with(|s| s.offers.len() as isize - s.getters.len() as isize)
    }

    pub(crate) fn task_done(&self) -> Result<(), Error> {
        let ws = self.state.with(|s| {
            if s.unfinished == 0 {
                return Err(Error::TaskDone);
            }
            s.unfinished -= 1;
            Ok(if s.unfinished == 0 {
                s.joiners.take_all()
            } else {
                Vec::new()
            })
        })?;
        wake_all(ws);
        Ok(())
    }

    pub(crate) fn unfinished_tasks(&self) -> usize {
        self.state.with(|s| s.unfinished)
    }

    pub(crate) fn join(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        wait_until(
            &self.state,
            deadline,
            |s| &mut s.joiners,
            |s| (s.unfinished == 0).then_some(()),
        )
        .is_some()
    }

    pub(crate) fn close(&self) -> bool {
        let (first, ws) = self.state.with(|s| {
            if s.closed {
                return (false, Vec::new());
            }
            s.closed = true;
            let mut ws = s.getters.take_all();
            ws.extend(s.peekers.take_all());
            // Blocked putters wake, find the queue closed and take their
            // items back (a getter no longer takes an offer a putter
            // waits for).
            ws.extend(s.offers.iter().filter_map(|o| o.waiter.clone()));
            (true, ws)
        });
        wake_all(ws);
        first
    }

    pub(crate) fn close_immediate(&self) -> Vec<T> {
        self.close();
        let (items, ws) = self.state.with(|s| {
            let mut items = Vec::with_capacity(s.store.len());
            while let Some(v) = s.store.pop() {
                items.push(v);
            }
            s.unfinished = s.unfinished.saturating_sub(items.len());
            while let Some(o) = s.take_offer() {
                items.push(o.item);
            }
            let ws = if s.unfinished == 0 {
                s.joiners.take_all()
            } else {
                Vec::new()
            };
            (items, ws)
        });
        wake_all(ws);
        items
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.with(|s| s.closed)
    }
}
