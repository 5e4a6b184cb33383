//! [`Barrier`]: Python's `threading.Barrier`, a meeting point for a fixed
//! number of threads, which breaks if one of them gives up.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::error::{BrokenBarrier, Error};
use crate::instrument::{self, Kind, Meta};
use crate::raw::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::raw::park::{self, FilterOp, ParkResult};
use crate::raw::Deadline;

/// Token for waiters released because the last party arrived.
const TOKEN_TRIPPED: usize = 0;
/// Token for waiters released because the barrier broke or was reset.
const TOKEN_BROKEN: usize = 1;

/// A meeting point: each of `parties` threads calls [`wait`](Self::wait),
/// and all of them are let through together once the last one arrives. The
/// barrier then starts over for the next round.
///
/// Python: `threading.Barrier`.
///
/// ```
/// use bingfa_sync::Barrier;
///
/// let barrier = Barrier::new(3)?;
/// let leaders = std::sync::atomic::AtomicUsize::new(0);
/// std::thread::scope(|s| {
///     for _ in 0..3 {
///         s.spawn(|| {
///             let r = barrier.wait().expect("nobody gave up");
///             if r.is_leader() {
///                 leaders.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///             }
///         });
///     }
/// });
/// assert_eq!(leaders.into_inner(), 1); // exactly one per round
/// # Ok::<(), bingfa_sync::Error>(())
/// ```
///
/// **Action.** [`with_action`](Self::with_action) gives the barrier a
/// function that the last thread to arrive runs before any thread of the
/// round is let through (Python's `action`). If it panics, the barrier
/// breaks and the panic goes on in that thread.
///
/// **Broken state.** If a waiting party times out
/// ([`wait_timeout`](Self::wait_timeout), or [`wait`](Self::wait) with a
/// default timeout from [`with_timeout`](Self::with_timeout)), the action
/// panics, or some thread calls [`abort`](Self::abort), the barrier breaks:
/// every thread waiting in that round, and every later caller, gets
/// [`BrokenBarrier`], until [`reset`](Self::reset). A reset while threads
/// wait also sends them `BrokenBarrier`, as in Python.
pub struct Barrier {
    parties: usize,
    /// Threads waiting in the current round. All four fields below change
    /// only with the parking lot's queue for `key()` locked (in `validate`,
    /// `timed_out` and `unpark_filter` callbacks), which makes each change
    /// atomic with the queueing and waking of threads.
    count: AtomicUsize,
    /// Round number; a waiter parks with it as its park token.
    generation: AtomicUsize,
    broken: AtomicBool,
    meta: Meta,
    /// Run by the last party of each round before the others go.
    action: Option<Box<dyn Fn() + Send + Sync>>,
    /// The timeout of [`Barrier::wait`].
    timeout: Option<Duration>,
}

/// What [`Barrier::wait`] returns to each thread of a round that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    index: usize,
    is_leader: bool,
}

impl BarrierWaitResult {
    /// The order in which this thread arrived: `0` for the first, up to
    /// `parties - 1` for the last. Python: the value `Barrier.wait()`
    /// returns.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether this thread was the last to arrive, the one that let the
    /// others through. Exactly one thread per round is the leader (Python
    /// runs its `action` there).
    pub fn is_leader(&self) -> bool {
        self.is_leader
    }
}

/// What one arrival found, decided under the queue lock.
#[derive(Clone, Copy)]
enum Arrival {
    /// The round ended between reading the generation and arriving: try
    /// again in the new one.
    Retry,
    /// The barrier was broken already.
    Broken,
    /// This thread was the last party.
    Leader(usize),
    /// A zero timeout and not the last: this thread broke the barrier.
    BrokeIt,
    /// Queued as party `index`.
    Waiting(usize),
}

/// How a timed-out waiter left, decided under the queue lock.
#[derive(Clone, Copy)]
enum Left {
    Passed,
    AlreadyBroken,
    BrokeIt,
}

impl Barrier {
    /// A barrier for `parties` threads.
    ///
    /// Python: `threading.Barrier(parties)`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `parties` is 0 (Python raises
    /// `ValueError`).
    pub fn new(parties: usize) -> Result<Self, Error> {
        Self::build(parties, None)
    }

    /// A barrier with a name that the deadlock detector and the tracer show.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `parties` is 0.
    pub fn named(name: impl Into<Cow<'static, str>>, parties: usize) -> Result<Self, Error> {
        Self::build(parties, Some(name.into()))
    }

    fn build(parties: usize, name: Option<Cow<'static, str>>) -> Result<Self, Error> {
        if parties == 0 {
            return Err(Error::InvalidArgument("a barrier needs at least one party"));
        }
        Ok(Barrier {
            parties,
            count: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
            meta: Meta::named(Kind::Barrier, name),
            action: None,
            timeout: None,
        })
    }

    /// Gives the barrier an action: in every round, the last thread to
    /// arrive runs it before any thread of the round is let through.
    ///
    /// Python: `threading.Barrier(parties, action=...)`.
    ///
    /// If the action panics, the barrier breaks (the other threads of the
    /// round, and later callers, get [`BrokenBarrier`]) and the panic goes
    /// on in the thread that ran it, as Python re-raises the action's
    /// exception there.
    ///
    /// ```
    /// use bingfa_sync::Barrier;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let rounds = Arc::new(AtomicUsize::new(0));
    /// let r = rounds.clone();
    /// let barrier = Barrier::new(3)?.with_action(move || {
    ///     r.fetch_add(1, Ordering::SeqCst);
    /// });
    /// std::thread::scope(|s| {
    ///     for _ in 0..3 {
    ///         s.spawn(|| {
    ///             barrier.wait().unwrap();
    ///             // The action ran before anyone got here.
    ///             assert_eq!(rounds.load(Ordering::SeqCst), 1);
    ///         });
    ///     }
    /// });
    /// # Ok::<(), bingfa_sync::Error>(())
    /// ```
    pub fn with_action(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// Gives [`wait`](Self::wait) a default timeout: a party that waits
    /// longer breaks the barrier, as with [`wait_timeout`](Self::wait_timeout).
    /// A timeout too large to represent waits forever.
    ///
    /// Python: `threading.Barrier(parties, timeout=...)`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The default timeout of [`wait`](Self::wait), if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Waits until all parties have arrived (or, with a default timeout
    /// from [`with_timeout`](Self::with_timeout), at most that long, as
    /// [`wait_timeout`](Self::wait_timeout)).
    ///
    /// Python: `threading.Barrier.wait()`.
    ///
    /// # Errors
    /// [`BrokenBarrier`] if the barrier is broken when called, or breaks
    /// (timeout, a panicking action, [`abort`](Self::abort),
    /// [`reset`](Self::reset)) while this thread waits.
    ///
    /// # Panics
    /// If this thread is the last to arrive and the barrier's action panics
    /// (the barrier is broken first).
    #[track_caller]
    pub fn wait(&self) -> Result<BarrierWaitResult, BrokenBarrier> {
        self.wait_internal(self.timeout, Location::caller())
    }

    /// Waits at most `timeout` for all parties. If the timeout passes first,
    /// this thread breaks the barrier for every party, as in Python. A zero
    /// timeout succeeds only for the last party to arrive.
    ///
    /// Python: `threading.Barrier.wait(timeout)`.
    ///
    /// # Errors
    /// [`BrokenBarrier`] if the barrier is or becomes broken, including by
    /// this call's own timeout.
    ///
    /// # Panics
    /// If this thread is the last to arrive and the barrier's action panics
    /// (the barrier is broken first).
    #[doc(alias = "wait")]
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<BarrierWaitResult, BrokenBarrier> {
        self.wait_internal(Some(timeout), Location::caller())
    }

    /// Breaks the barrier: current waiters and later callers get
    /// [`BrokenBarrier`] until [`reset`](Self::reset).
    ///
    /// Python: `threading.Barrier.abort()`.
    pub fn abort(&self) {
        self.wake_current(TOKEN_BROKEN, |b| {
            b.broken.store(true, Ordering::Relaxed);
            b.count.store(0, Ordering::Relaxed);
        });
    }

    /// Returns the barrier to its empty, unbroken state. Threads waiting in
    /// the current round get [`BrokenBarrier`].
    ///
    /// Python: `threading.Barrier.reset()`.
    pub fn reset(&self) {
        self.wake_current(TOKEN_BROKEN, |b| {
            b.generation.fetch_add(1, Ordering::Relaxed);
            b.broken.store(false, Ordering::Relaxed);
            b.count.store(0, Ordering::Relaxed);
        });
    }

    /// Whether the barrier is broken.
    ///
    /// Python: `threading.Barrier.broken`.
    #[doc(alias = "broken")]
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// How many threads the barrier lets through at once.
    ///
    /// Python: `threading.Barrier.parties`.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many threads wait in the current round (a snapshot).
    ///
    /// Python: `threading.Barrier.n_waiting`.
    pub fn n_waiting(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// The name given by [`named`](Self::named), if any.
    ///
    /// Names are kept for the detector's reports and the recorder's traces:
    /// without the `detect` and `trace` features (both off) this is `None`.
    pub fn name(&self) -> Option<&str> {
        self.meta.name()
    }

    fn key(&self) -> usize {
        &self.count as *const AtomicUsize as usize
    }

    /// Under the queue lock: wakes every waiter of the current round with
    /// `token` and runs `change`.
    fn wake_current(&self, token: usize, change: impl FnOnce(&Self)) {
        // The filter and the callback run under the queue lock, where the
        // generation cannot change: "current" is exact. Waiters of a round
        // that just tripped have an older token and are being released by
        // that round's leader.
        let filter = |t: usize| {
            if t == self.generation.load(Ordering::Relaxed) {
                FilterOp::Unpark
            } else {
                FilterOp::Skip
            }
        };
        let callback = |_r| {
            change(self);
            token
        };
        // SAFETY: our own key; filter and callback only do atomic operations.
        unsafe {
            park::unpark_filter(self.key(), filter, callback);
        }
    }

    fn wait_internal(
        &self,
        timeout: Option<Duration>,
        loc: &'static Location<'static>,
    ) -> Result<BarrierWaitResult, BrokenBarrier> {
        let zero = timeout.is_some_and(|t| t.is_zero());
        let deadline = match timeout {
            Some(t) if !t.is_zero() => Deadline::after(t),
            _ => None,
        };
        let tracked = instrument::on()
            && !zero
            && !self.is_broken()
            && self.count.load(Ordering::Relaxed) + 1 < self.parties;
        if tracked {
            instrument::blocking(&self.meta, loc);
        }
        let result = self.arrive(zero, deadline);
        if tracked {
            instrument::unblocked(&self.meta);
        }
        result
    }

    fn arrive(
        &self,
        zero: bool,
        deadline: Option<Deadline>,
    ) -> Result<BarrierWaitResult, BrokenBarrier> {
        loop {
            let generation = self.generation.load(Ordering::Relaxed);
            let mut arrival = Arrival::Retry;
            let mut left = Left::Passed;
            let validate = || {
                arrival = if self.generation.load(Ordering::Relaxed) != generation {
                    Arrival::Retry
                } else if self.broken.load(Ordering::Relaxed) {
                    Arrival::Broken
                } else {
                    let index = self.count.load(Ordering::Relaxed);
                    if index + 1 == self.parties {
                        self.count.store(0, Ordering::Relaxed);
                        self.generation.fetch_add(1, Ordering::Relaxed);
                        Arrival::Leader(index)
                    } else if zero {
                        self.broken.store(true, Ordering::Relaxed);
                        self.count.store(0, Ordering::Relaxed);
                        Arrival::BrokeIt
                    } else {
                        self.count.store(index + 1, Ordering::Relaxed);
                        Arrival::Waiting(index)
                    }
                };
                matches!(arrival, Arrival::Waiting(_))
            };
            let timed_out = |_key, _was_last| {
                // Removed from the queue by the timeout, under its lock. A
                // round that tripped since we queued has a new generation;
                // abort and reset wake their round's waiters under this same
                // lock, so they cannot be pending here.
                left = if self.generation.load(Ordering::Relaxed) != generation {
                    Left::Passed
                } else if self.broken.load(Ordering::Relaxed) {
                    Left::AlreadyBroken
                } else {
                    self.broken.store(true, Ordering::Relaxed);
                    self.count.store(0, Ordering::Relaxed);
                    Left::BrokeIt
                };
            };
            // SAFETY: our own key; `validate` and `timed_out` only do atomic
            // operations and write locals: they neither panic nor park.
            let r =
                unsafe { park::park(self.key(), validate, || {}, timed_out, generation, deadline) };
            let index = match arrival {
                Arrival::Waiting(index) => index,
                Arrival::Retry => continue,
                Arrival::Broken => return Err(BrokenBarrier),
                Arrival::Leader(index) => {
                    if let Some(action) = &self.action {
                        // The round is closed (new arrivals join the next
                        // one) but nobody of it goes before the action ran.
                        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(action));
                        if let Err(panic) = ran {
                            self.break_after_action(generation);
                            std::panic::resume_unwind(panic);
                        }
                    }
                    self.wake_round(generation, TOKEN_TRIPPED);
                    return Ok(BarrierWaitResult {
                        index,
                        is_leader: true,
                    });
                }
                Arrival::BrokeIt => {
                    self.wake_round(generation, TOKEN_BROKEN);
                    return Err(BrokenBarrier);
                }
            };
            let passed = BarrierWaitResult {
                index,
                is_leader: false,
            };
            return match r {
                ParkResult::Unparked(TOKEN_TRIPPED) => Ok(passed),
                ParkResult::Unparked(_) => Err(BrokenBarrier),
                ParkResult::Invalid => unreachable!("validate accepted the arrival"),
                ParkResult::TimedOut => match left {
                    Left::Passed => Ok(passed),
                    Left::AlreadyBroken => Err(BrokenBarrier),
                    Left::BrokeIt => {
                        self.wake_round(generation, TOKEN_BROKEN);
                        Err(BrokenBarrier)
                    }
                },
            };
        }
    }

    /// The action of round `generation` panicked: breaks the barrier and
    /// wakes that round's waiters and those who arrived for the next round
    /// while the action ran, all with `TOKEN_BROKEN`.
    fn break_after_action(&self, generation: usize) {
        let filter = |t: usize| {
            if t == generation || t == self.generation.load(Ordering::Relaxed) {
                FilterOp::Unpark
            } else {
                FilterOp::Skip
            }
        };
        let callback = |_r| {
            self.broken.store(true, Ordering::Relaxed);
            self.count.store(0, Ordering::Relaxed);
            TOKEN_BROKEN
        };
        // SAFETY: our own key; filter and callback only do atomic operations.
        unsafe {
            park::unpark_filter(self.key(), filter, callback);
        }
    }

    /// Wakes every waiter queued in round `generation` with `token`.
    fn wake_round(&self, generation: usize, token: usize) {
        let filter = |t: usize| {
            if t == generation {
                FilterOp::Unpark
            } else {
                FilterOp::Skip
            }
        };
        // SAFETY: our own key; filter and callback neither panic nor park.
        unsafe {
            park::unpark_filter(self.key(), filter, |_| token);
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Barrier");
        if let Some(name) = self.name() {
            d.field("name", &name);
        }
        d.field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}
