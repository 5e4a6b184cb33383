//! The hub's scheduler: the task table, the ready queue, timers, the poll
//! and the loop that runs them, on one OS thread.
//!
//! A green thread blocks by [`park`](Sched::park): it records how it may be
//! woken (a [`Token`]: its key and its wait sequence number), gives the
//! token to whatever will wake it (a wait list, a timer, an IO
//! registration), and suspends to the loop. A wake with a stale sequence
//! number is ignored, so a green thread woken by one cause (say its timer)
//! is not woken again by another (the event it also waited for) in a
//! later, unrelated wait.
//!
//! The parts, each an `impl Sched` block over the one [`Sched`] defined
//! here:
//!
//! - this module: the [`Sched`] itself, the wake [`Token`], the unwind
//!   payloads, the thread-local that finds the hub ([`sched`],
//!   [`try_sched`]) and the running green thread;
//! - [`table`]: the task table (keys, slots, the boxed [`Task`])
//!   and the ready queue; spawning, waking, unparking, killing, freeing;
//! - [`timers`]: the timer heap and the [`Timeout`](crate::Timeout) scopes;
//! - [`switch`]: the switch path: parking, yielding, the resume of a green
//!   thread, and the kill/`Timeout` checks at each switch point;
//! - [`run`]: the loop: the ready queue's FIFO run, the poll cadence
//!   ([`POLL_EVERY`]), IO, cross-thread wake-ups and expired timers;
//! - [`stuck`]: what each wait can be woken by, and the LoopExit check
//!   when nothing can wake any green thread of the hub.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::error::{Error, PanicPayload};
use crate::fiber;
use crate::local::Locals;
use crate::net::IoTable;
use crate::overflow::{self, Running};
use crate::remote::Remote;
use crate::watchdog::WatchState;

use table::{ReadyQueue, Slot, Task};
use timers::Timer;

/// The mio token of the cross-thread waker.
pub(crate) const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// How a green thread can be woken: by key and wait sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) key: u64,
    pub(crate) seq: u64,
}

/// Panic payload that unwinds a killed green thread.
pub(crate) struct KillUnwind;

/// The error a `kill_with` raises in a green thread, and its type's name
/// (for the message of [`Error::Panicked`] when it is not caught).
pub(crate) struct KillError {
    pub(crate) payload: Box<dyn std::any::Any + Send>,
    pub(crate) type_name: &'static str,
}

/// A green thread's `kill_with`: pending, then raised.
pub(crate) enum KillState {
    /// Its error, to raise at the next switch point.
    Pending(KillError),
    /// The type (id and name) of the error raised, to name it if it ends
    /// the green thread.
    Raised(std::any::TypeId, &'static str),
}

/// What a green thread's body learns when it starts: `None` if it was not
/// killed before it started, else the kill's error (`None`: the default,
/// `GreenletExit`).
pub(crate) type Killed = Option<Option<KillError>>;

/// Panic payload that unwinds to the [`Timeout`](crate::Timeout) scope
/// with this id (of this duration).
pub(crate) struct TimeoutUnwind(pub(crate) u64, pub(crate) std::time::Duration);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woke {
    Normal,
    TimedOut,
    /// Every green thread of the hub waits and nothing can wake one: the
    /// wait would last for ever (Python: `gevent.exceptions.LoopExit`).
    /// Only a wait that can stand it gets this ([`Sched::park_on`] with a
    /// [`WaitKind::Local`] or [`WaitKind::Shared`] wait); see [`stuck`].
    LoopExit,
}

pub(crate) struct Sched {
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    ready: ReadyQueue,
    timers: RefCell<BinaryHeap<Reverse<Timer>>>,
    timer_n: Cell<u64>,
    pub(crate) remote: Arc<Remote>,
    pub(crate) poll: RefCell<mio::Poll>,
    pub(crate) io: IoTable,
    /// The running green thread's boxed task (null between switches).
    running: Cell<*const Task>,
    live: Cell<usize>,
    scope_ids: Cell<u64>,
    /// This OS thread's "running fiber" cell ([`overflow::running_cell`]),
    /// so the switch path can tell a nested generator or greenlet without
    /// a second thread-local lookup.
    fiber_cell: *const Cell<*const Running>,
    pub(crate) watch: Option<Arc<WatchState>>,
    pub(crate) default_stack: usize,
    /// Unique per hub in the process (sockets remember theirs).
    pub(crate) id: u64,
    /// What the LoopExit check counts ([`stuck`]).
    pub(super) waits: stuck::Counts,
    /// Green threads finished so far ([`next_finished`](Self::next_finished)).
    finished: Cell<u64>,
    /// The `kill_with` state of the few green threads that have one (kept
    /// here, not in every task).
    kills: RefCell<Vec<(u64, KillState)>>,
}

const NONE: u64 = u64::MAX;

/// At most this many green threads resume between two looks at IO, timers
/// and cross-thread wake-ups while some are ready (tokio's current_thread
/// `event_interval` is 61). This is the bound on starvation by yielders:
/// a socket that became ready, an expired timer or a wake-up from another
/// OS thread waits at most `POLL_EVERY` resumes (each as long as the green
/// thread resumed runs before it switches), however many green threads
/// are ready.
pub(crate) const POLL_EVERY: u32 = 61;

thread_local! {
    static SCHED: Cell<*const Sched> = const { Cell::new(std::ptr::null()) };
}

/// The hub running on this OS thread, if any.
#[inline]
pub(crate) fn try_sched() -> Option<&'static Sched> {
    let p = SCHED.with(|s| s.get());
    // SAFETY: the pointer is set by `Sched::run` to a `Sched` that lives on
    // its caller's frame for the whole loop and is cleared before that
    // frame ends; green code, the only caller, runs inside the loop. The
    // `'static` never escapes the crate's own short uses.
    unsafe { p.as_ref() }
}

/// The green-local values of the running green thread, if one runs.
pub(crate) fn running_locals() -> Option<&'static Locals> {
    let s = try_sched()?;
    let t = s.running.get();
    // SAFETY: as in `Sched::running`: a non-null `running` is the live
    // boxed task of the green thread running now (the caller).
    unsafe { t.as_ref() }.map(|t| &t.locals)
}

/// The hub of the calling green thread: one thread-local read.
///
/// # Panics
/// Outside a green thread (`what` names the call), or inside a generator
/// or greenlet.
#[inline(always)]
pub(crate) fn sched(what: &'static str) -> &'static Sched {
    match try_sched() {
        Some(s) if s.in_own_fiber() => s,
        _ => not_in_green_thread(what),
    }
}

#[cold]
#[inline(never)]
fn not_in_green_thread(what: &'static str) -> ! {
    if try_sched().is_some() && fiber::nested() {
        panic!(
            "{what}: hub calls that switch green threads cannot run inside a generator or greenlet"
        )
    }
    panic!("{}", Error::NotInHub(what))
}

impl Sched {
    pub(crate) fn new(
        watch: Option<Arc<WatchState>>,
        default_stack: usize,
    ) -> std::io::Result<Sched> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        Ok(Sched {
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            ready: ReadyQueue::new(),
            timers: RefCell::new(BinaryHeap::new()),
            timer_n: Cell::new(0),
            remote: Arc::new(Remote::new(Some(waker))),
            poll: RefCell::new(poll),
            io: IoTable::default(),
            running: Cell::new(std::ptr::null()),
            live: Cell::new(0),
            scope_ids: Cell::new(0),
            fiber_cell: overflow::running_cell(),
            watch,
            default_stack,
            id: {
                static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            waits: stuck::Counts::default(),
            finished: Cell::new(0),
            kills: RefCell::new(Vec::new()),
        })
    }

    /// Whether a green thread runs and the innermost fiber running now is
    /// its own (not a generator or greenlet it resumed).
    #[inline(always)]
    fn in_own_fiber(&self) -> bool {
        let t = self.running.get();
        // SAFETY: `fiber_cell` is this OS thread's cell: the hub was made
        // on the thread it runs on and never leaves it (`Sched` is !Send).
        let innermost = unsafe { (*self.fiber_cell).get() };
        // SAFETY: as in `running`: a non-null `running` is the live boxed
        // task of the green thread running now.
        !t.is_null() && innermost == unsafe { (*t).record }
    }

    /// The running green thread's task, without a table lookup.
    ///
    /// # Panics
    /// If no green thread of this hub is running (a crate bug: callers go
    /// through [`sched`], which checks).
    #[inline(always)]
    fn running(&self) -> &Task {
        let t = self.running.get();
        assert!(!t.is_null(), "no green thread is running");
        // SAFETY: `running` is set by `resume` to the boxed task it is
        // about to switch to, and cleared when the switch comes back; a
        // task's box is freed only by `resume` after its fiber returned,
        // so while it runs (and the caller is that green thread) the box
        // is alive. Tasks are only ever shared (`&Task`, fields in cells).
        unsafe { &*t }
    }

    /// Key of the running green thread; `u64::MAX` when none runs.
    #[inline]
    pub(crate) fn current(&self) -> u64 {
        let t = self.running.get();
        // SAFETY: as in `running`: a non-null `running` is the live boxed
        // task of the green thread running now.
        unsafe { t.as_ref() }.map_or(NONE, |t| t.key)
    }

    /// Green threads alive on this hub.
    pub(crate) fn live(&self) -> usize {
        self.live.get()
    }

    /// The next number in the order green threads of this hub finish.
    #[inline]
    pub(crate) fn next_finished(&self) -> u64 {
        let n = self.finished.get() + 1;
        self.finished.set(n);
        n
    }
}

/// Runs a green thread's function `f` (or not, if it was killed before it
/// started), turning what it ends with into its result.
#[inline]
pub(crate) fn run_body<T>(name: &str, killed: Killed, f: impl FnOnce() -> T) -> Result<T, Error> {
    match killed {
        None => catch(name, f),
        Some(None) => Err(Error::Killed),
        Some(Some(k)) => Err(Error::Panicked {
            name: name.to_owned(),
            message: format!("killed with {}", k.type_name),
            payload: PanicPayload::new(k.payload),
        }),
    }
}

/// Runs `f`, turning a kill into `Err(Killed)` and a panic into
/// `Err(Panicked)` with its message and payload.
pub(crate) fn catch<T>(name: &str, f: impl FnOnce() -> T) -> Result<T, Error> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(p) if p.is::<KillUnwind>() => Err(Error::Killed),
        Err(p) if p.is::<stuck::LoopExitUnwind>() => match p.downcast::<stuck::LoopExitUnwind>() {
            Ok(e) => Err(e.0),
            Err(_) => unreachable!("checked with `is` just above"),
        },
        // A started `Timeout` that nothing caught ended the green thread.
        Err(p) if p.is::<TimeoutUnwind>() => match p.downcast::<TimeoutUnwind>() {
            Ok(t) => Err(Error::Timeout(t.1)),
            Err(_) => unreachable!("checked with `is` just above"),
        },
        Err(p) => {
            // The error of a `kill_with` that was not caught: say so.
            let killed_with = try_sched()
                .and_then(|s| s.take_kill(s.current()))
                .and_then(|k| match k {
                    KillState::Raised(id, name) if id == std::any::Any::type_id(&*p) => Some(name),
                    _ => None,
                });
            let message = match killed_with {
                Some(type_name) => format!("killed with {type_name}"),
                None => panic_message(&*p),
            };
            Err(Error::Panicked {
                name: name.to_owned(),
                message,
                payload: PanicPayload::new(p),
            })
        }
    }
}

/// Whether `p`, caught by a `catch_unwind` in the running green thread,
/// is one of the hub's own interrupts (a kill, the error of a
/// `kill_with`, an expired `Timeout`, a `LoopExit`) rather than a panic
/// of user code. Code that turns panics into errors (a pool's `apply`,
/// `imap`) must let these go on unwinding.
pub(crate) fn is_interrupt(p: &(dyn std::any::Any + Send)) -> bool {
    if p.is::<KillUnwind>() || p.is::<TimeoutUnwind>() || p.is::<stuck::LoopExitUnwind>() {
        return true;
    }
    let Some(s) = try_sched() else {
        return false;
    };
    let key = s.current();
    match s.take_kill(key) {
        Some(k) => {
            let raised = matches!(&k, KillState::Raised(id, _) if *id == std::any::Any::type_id(p));
            s.put_kill(key, k);
            raised
        }
        None => false,
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if p.is::<TimeoutUnwind>() {
        "a Timeout scope's unwind escaped its scope".to_owned()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

mod run;
mod stuck;
mod switch;
mod table;
mod timers;

pub(crate) use stuck::Wait;

#[cfg(test)]
mod fairness_tests;
