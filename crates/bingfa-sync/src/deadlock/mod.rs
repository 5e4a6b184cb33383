//! Deadlock detection: the wait-for graph, its watchdog, and lock order
//! checking (lockdep).
//!
//! Off by default. Turn it on with [`enable`] (or `BINGFA_DEADLOCK=1` in the
//! environment, see below). From then on every Mutex, Lock, RLock,
//! Semaphore, Condition and Condvar of this crate tells the detector what
//! each thread holds and what it waits for, with the source line of the
//! call (`#[track_caller]`):
//!
//! - **Real deadlocks.** A watchdog thread looks every
//!   [interval](set_watchdog_interval) (100 ms by default) for threads that
//!   can never go on: threads that wait for each other in a cycle, or for a
//!   lock whose owner exited. It reports each one once, with every thread of
//!   the cycle by name, what it holds and what it waits for, by name, and
//!   where. [`check_now`] runs the same search at once.
//! - **Lock order (lockdep).** Taking lock B while holding lock A records
//!   "A before B". The first time some thread takes them the other way
//!   round, that is reported as a potential deadlock with both paths, even
//!   if this run was lucky and did not hang, as the Linux kernel's lockdep
//!   does.
//!
//! Reports go to a handler ([`set_handler`]; the default prints them to
//! stderr) and to a log that [`reports`] and [`take_reports`] return.
//!
//! ```
//! use bingfa_sync::deadlock::{self, Report};
//!
//! deadlock::enable();
//! // Collect reports instead of printing them.
//! let (tx, rx) = std::sync::mpsc::channel::<Report>();
//! let tx = std::sync::Mutex::new(tx);
//! deadlock::set_handler(move |r: &Report| {
//!     let _ = tx.lock().unwrap().send(r.clone());
//! });
//! // ... run threads that use bingfa's locks ...
//! assert!(deadlock::check_now().is_empty()); // nobody is stuck
//! assert!(rx.try_recv().is_err()); // nothing was reported
//! deadlock::disable();
//! deadlock::reset_handler();
//! ```
//!
//! # What is and is not a deadlock here
//!
//! - A thread blocked on a Mutex or RLock waits for its holder. A thread
//!   blocked on a Semaphore waits for all of its current holders (anyone of
//!   them could release a permit); it is stuck only when all of them are.
//!   A semaphore that nobody holds but that has no permit left (its counter
//!   started at 0) is not counted: the detector only sees acquire and
//!   release. A cycle through a semaphore is reported when two searches in
//!   a row find it with the same waits (a permit released by a thread that
//!   held none can make a wait look stuck for a moment); [`check_now`]
//!   returns it from the first. Once some thread releases a semaphore
//!   without holding a permit of it, the semaphore is a signal (anyone may
//!   give it), and waiting on it is no longer a wait-for edge, as for an
//!   Event.
//! - A [`Lock`](crate::Lock) may be released by any thread (Python's
//!   `Lock`), so it is treated like a one-permit semaphore: a thread blocked
//!   on it waits for its holder, a cycle through it is reported when two
//!   searches in a row find it, it becomes a signal once a thread that does
//!   not hold it releases it, and its order is not recorded (a `Lock` is
//!   often a signal rather than a guard; use a [`Mutex`](crate::Mutex) to
//!   have the order checked).
//! - Waiting on a Condition, an Event or a Barrier is never a wait-for edge:
//!   any thread may notify, set or arrive. Those waits still show in the
//!   trace ([`bingfa_trace`]).
//! - Re-entering an RLock is not an acquisition: only the outermost level
//!   counts.
//!
//! # Lock order and its limits
//!
//! Order is recorded per lock instance, for Mutexes and RLocks (a
//! Condition's lock is a Mutex). Counting semaphores are left out: taking
//! permits of two semaphores in both orders is often correct, so they would
//! give false reports. `try_lock` acquisitions count like blocking ones (the
//! detector cannot tell a `try_lock` from an uncontended `lock`), so a
//! "take A, then try B and back off" pattern may be reported. A dropped
//! primitive's order is forgotten.
//!
//! # The environment variable
//!
//! `BINGFA_DEADLOCK=1` (or `true`, `on`, `yes`) turns detection on. The
//! primitives cannot read it without a cost on their fast path, so it is read
//! by [`enable_from_env`], and, once per process, by the first call of any
//! function of this module. A program (a demo, a test) that wants the
//! variable honoured calls [`enable_from_env`] at its start.
//!
//! # Cost
//!
//! Off: the primitives do one relaxed atomic load per operation and nothing
//! else. On: each acquire, release and blocking wait takes one global lock
//! for a few map updates; lock order checks add a graph walk the first time
//! a new pair of locks is seen.

mod graph;
mod lockdep;
mod report;
mod search;
#[cfg(not(bingfa_loom))]
mod watchdog;

#[cfg(all(test, bingfa_loom))]
mod loom_tests;
#[cfg(all(test, not(bingfa_loom)))]
mod tests;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::panic::Location;
use std::sync::{Arc, Once};
use std::time::Duration;

use bingfa_trace::flags;

pub use report::{
    AbandonedReport, DeadlockReport, InversionReport, LockAt, LockRef, OrderEdge, PrimitiveKind,
    Report, StuckThread,
};

use crate::instrument::Meta;

/// A report handler, as stored.
type Handler = Arc<dyn Fn(&Report) + Send + Sync + 'static>;

/// Reads `BINGFA_DEADLOCK` once per process (see the module docs).
fn env_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if env_says_on() {
            enable_inner();
        }
    });
}

fn env_says_on() -> bool {
    std::env::var("BINGFA_DEADLOCK").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "on" | "yes"
        )
    })
}

/// Turns deadlock detection on and starts the watchdog thread (once per
/// process). Idempotent.
///
/// Only what happens after this call is seen: locks already held when it
/// is called are unknown to the detector.
///
/// Python: no equivalent (Python has no deadlock detector; `faulthandler`
/// dumps stacks, this names the cycle).
///
/// # Panics
/// If the watchdog thread cannot be spawned (the OS refused a thread).
#[doc(alias = "lockdep")]
pub fn enable() {
    env_once();
    enable_inner();
}

fn enable_inner() {
    // State first, flag second: a hook that sees the flag finds the state on.
    graph::with(|s| s.enabled = true);
    flags::set(flags::DEADLOCK, true);
    #[cfg(not(bingfa_loom))]
    watchdog::start();
}

/// Turns deadlock detection off. What threads hold and wait for is
/// forgotten (it would go stale while nobody watches); the recorded lock
/// order, the handler and the report log are kept.
///
/// Python: no equivalent.
pub fn disable() {
    env_once();
    flags::set(flags::DEADLOCK, false);
    graph::with(|s| {
        s.enabled = false;
        s.clear_threads();
    });
}

/// Whether detection is on.
///
/// Python: no equivalent.
pub fn is_enabled() -> bool {
    env_once();
    flags::is_on(flags::DEADLOCK)
}

/// Turns detection on if the environment variable `BINGFA_DEADLOCK` is `1`
/// (or `true`, `on`, `yes`); returns whether detection is on afterwards.
/// A value of `0` or no variable leaves the current state alone.
///
/// Python: like `PYTHONFAULTHANDLER=1`, an opt-in by the environment.
///
/// # Panics
/// As [`enable`].
#[doc(alias = "BINGFA_DEADLOCK")]
pub fn enable_from_env() -> bool {
    env_once();
    if env_says_on() {
        enable_inner();
    }
    flags::is_on(flags::DEADLOCK)
}

/// Sets the function that receives each report (a deadlock once, when the
/// watchdog or [`check_now`] first finds it; an inversion once per pair of
/// locks, when a thread closes the circle). It replaces the default, which
/// prints the report to stderr.
///
/// An inversion is handed to the handler by the thread whose lock call
/// found it, before that call returns. A deadlock found by the watchdog
/// or [`check_now`] while such a call is still handing over its report
/// waits for it, and goes to the handler on that call's thread right
/// after: an inversion always reaches the handler before the deadlock it
/// led to. Each report goes to the handler in force when it was found. So
/// a handler that never returns also holds back the deadlocks found after
/// the report it was given ([`check_now`] and [`reports`] still have them).
///
/// The handler runs with no detector lock held; it may use bingfa's
/// primitives, and own some (the handler it replaces is dropped with no
/// detector lock held too). A panic in it is caught and printed, so that
/// it never unwinds out of a lock call.
///
/// Python: no equivalent.
pub fn set_handler(handler: impl Fn(&Report) + Send + Sync + 'static) {
    env_once();
    let h: Handler = Arc::new(handler);
    drop_outside(graph::with(|s| s.handler.replace(h)));
}

/// Goes back to the default handler, which prints each report to stderr.
///
/// Python: no equivalent.
pub fn reset_handler() {
    env_once();
    drop_outside(graph::with(|s| s.handler.take()));
}

/// Drops a handler taken out of the detector's state, after its lock is
/// released: a handler may own the last reference to one of bingfa's
/// primitives, whose drop tells the detector (and would otherwise wait
/// forever for the lock its own thread holds).
fn drop_outside(old: Option<Handler>) {
    drop(old);
}

/// Runs the deadlock search now, on the calling thread, and returns every
/// deadlock present (new or already reported). New ones also go to the
/// handler and the log, as when the watchdog finds them.
///
/// Inversions are not returned here: they are reported when they happen
/// (see [`reports`]).
///
/// Python: no equivalent.
#[doc(alias = "detect")]
pub fn check_now() -> Vec<Report> {
    env_once();
    scan()
}

/// How often the watchdog looks for deadlocks (default 100 ms; at least
/// 1 ms). A deadlock is reported at most about one interval after it forms.
///
/// Python: no equivalent.
pub fn set_watchdog_interval(interval: Duration) {
    env_once();
    #[cfg(not(bingfa_loom))]
    watchdog::set_interval(interval);
    #[cfg(bingfa_loom)]
    let _ = interval;
}

/// A copy of every report made so far (the last 1024), oldest first.
///
/// Python: no equivalent.
pub fn reports() -> Vec<Report> {
    env_once();
    graph::with(|s| s.log.iter().cloned().collect())
}

/// Like [`reports`], and empties the log.
///
/// Python: no equivalent.
pub fn take_reports() -> Vec<Report> {
    env_once();
    graph::with(|s| s.log.drain(..).collect())
}

/// Forgets everything the detector learned: holdings, waits, recorded lock
/// order, which deadlocks and inversions were reported, and the log. The
/// switch and the handler stay as they are. Meant for tests and demos that
/// run several scenarios in one process.
///
/// Python: no equivalent.
pub fn reset() {
    env_once();
    graph::with(|s| s.clear_all());
}

/// Runs the search, logs the new deadlocks, hands them to the handler and
/// returns all deadlocks present.
///
/// A deadlock found while a lock call is still handing over a report it
/// found before (an inversion, in the moment between the detector's lock
/// and its handler) is held back, and that call hands it over after its
/// own: so an inversion always reaches the handler before the deadlock
/// it led to. Nothing waits for that.
fn scan() -> Vec<Report> {
    let (all, now) = graph::with(|s| {
        let found = s.search();
        let new: Vec<Report> = found
            .iter()
            .filter(|(_, new)| *new)
            .map(|(r, _)| r.clone())
            .collect();
        s.log_all(&new);
        let handler = s.handler.clone();
        let now: Vec<(Report, Option<Handler>)> =
            new.into_iter().map(|r| (r, handler.clone())).collect();
        let now = if s.in_flight == 0 {
            now
        } else {
            s.held_back.extend(now);
            Vec::new()
        };
        (found.into_iter().map(|(r, _)| r).collect::<Vec<_>>(), now)
    });
    deliver(now);
    all
}

/// Calls each report's handler (or the default printer), with no lock
/// held.
fn deliver(reports: impl IntoIterator<Item = (Report, Option<Handler>)>) {
    for (r, handler) in reports {
        match &handler {
            Some(h) => {
                let run = std::panic::AssertUnwindSafe(|| h(&r));
                if std::panic::catch_unwind(run).is_err() {
                    default_print(&format!(
                        "bingfa: the deadlock report handler panicked; the report was:\n{r}"
                    ));
                }
            }
            None => default_print(&r.to_string()),
        }
    }
}

/// The default printer: a `tracing` event (target `bingfa_sync::deadlock`,
/// WARN) with the `tracing` feature, standard error without it.
fn default_print(text: &str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "bingfa_sync::deadlock", "{text}");
    #[cfg(not(feature = "tracing"))]
    eprintln!("{text}\n");
}

// ---- hooks, called by `crate::instrument` when the DEADLOCK flag is on ----

fn label(meta: &Meta) -> impl FnOnce() -> Arc<str> + '_ {
    move || match meta.label() {
        Cow::Borrowed(s) => Arc::from(s),
        Cow::Owned(s) => Arc::from(s),
    }
}

/// Runs an update that may report inversions, then delivers them.
fn update(f: impl FnOnce(&mut graph::State, u64, &Arc<str>) -> Vec<Report>) {
    let Some((key, name)) = graph::current() else {
        return;
    };
    let (reports, handler) = graph::with(|s| {
        if !s.enabled {
            return (Vec::new(), None);
        }
        let reports = f(s, key, &name);
        s.log_all(&reports);
        s.in_flight += reports.len();
        (reports, s.handler.clone())
    });
    if reports.is_empty() {
        return;
    }
    // Counts the reports as handed over even if a panic escapes (the
    // default printer's, when stderr is gone), so that held-back
    // deadlocks are not held for good.
    struct InFlight(usize);
    impl Drop for InFlight {
        fn drop(&mut self) {
            let unwinding = std::thread::panicking();
            let held = graph::with(|s| {
                s.in_flight -= self.0;
                if s.in_flight == 0 && !unwinding {
                    std::mem::take(&mut s.held_back)
                } else {
                    VecDeque::new()
                }
            });
            deliver(held);
        }
    }
    let _in_flight = InFlight(reports.len());
    deliver(reports.into_iter().map(|r| (r, handler.clone())));
}

pub(crate) fn on_blocking(meta: &Meta, loc: &'static Location<'static>) {
    let id = meta.id();
    update(|s, key, name| s.blocking(key, name, id, meta.kind(), label(meta), loc));
}

pub(crate) fn on_acquired(meta: &Meta, loc: &'static Location<'static>) {
    let id = meta.id();
    update(|s, key, name| s.acquired(key, name, id, meta.kind(), label(meta), loc));
}

pub(crate) fn on_unblocked(meta: &Meta) {
    let id = meta.id();
    update(|s, key, _| {
        s.unblocked(key, id);
        Vec::new()
    });
}

pub(crate) fn on_released(meta: &Meta) {
    let id = meta.id();
    let key = graph::current().map(|(k, _)| k);
    graph::with(|s| {
        if s.enabled {
            // Known from now on even if this release is its first use seen
            // (a semaphore released by a worker before anyone waited on it
            // is a signal, and that must not be missed).
            s.resource(id, meta.kind(), label(meta));
            s.released(key, id);
        }
    });
}

/// A primitive that the detector may know was dropped.
pub(crate) fn forget(id: u64) {
    graph::with(|s| s.forget(id));
}
