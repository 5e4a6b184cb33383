//! The event recorder: a global, append-only log of what every thread did,
//! fed by the primitives when [`crate::flags::TRACE`] is on.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::flags;

/// What happened, from the point of view of one lane (thread, process or
/// green thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// Started waiting for `object` (a lock, a permit, an event...).
    Blocked,
    /// Now holds `object`.
    Acquired,
    /// Stopped waiting for `object` without holding it (timeout, event set,
    /// notified, barrier passed).
    Unblocked,
    /// Gave `object` back.
    Released,
    /// A span named `object` begins on this lane ("running", "sleep", ...).
    Begin,
    /// The innermost span named `object` ends on this lane.
    End,
    /// An instant worth showing, `object` is its text.
    Mark,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time since [`start`].
    pub t: Duration,
    /// The lane it happened on: a thread's name, or a name given with
    /// [`record_in`].
    pub lane: Arc<str>,
    /// What happened.
    pub kind: EventKind,
    /// The object it happened to (a primitive's name), or a span's label or a
    /// mark's text.
    pub object: Arc<str>,
}

struct Log {
    t0: Instant,
    events: Vec<Event>,
}

fn log() -> &'static Mutex<Log> {
    static LOG: OnceLock<Mutex<Log>> = OnceLock::new();
    LOG.get_or_init(|| {
        Mutex::new(Log {
            t0: Instant::now(),
            events: Vec::new(),
        })
    })
}

fn lock() -> std::sync::MutexGuard<'static, Log> {
    log().lock().unwrap_or_else(|e| e.into_inner())
}

/// Clears the log, sets time zero to now and turns [`flags::TRACE`] on.
///
/// Python: `sys.settrace(...)` / `viztracer.VizTracer.start`.
#[doc(alias = "settrace")]
pub fn start() {
    {
        let mut l = lock();
        l.t0 = Instant::now();
        l.events.clear();
    }
    flags::set(flags::TRACE, true);
}

/// Turns [`flags::TRACE`] off and takes every event recorded since [`start`],
/// in the order they were recorded (which is time order).
///
/// Python: `viztracer.VizTracer.stop`.
pub fn stop() -> Vec<Event> {
    flags::set(flags::TRACE, false);
    std::mem::take(&mut lock().events)
}

/// A copy of the events recorded so far, recording going on.
///
/// Python: no standard equivalent.
pub fn snapshot() -> Vec<Event> {
    lock().events.clone()
}

/// The current thread's lane name: its name, or `thread-N` from its id.
///
/// Python: `threading.current_thread().name`.
#[doc(alias = "current_thread")]
pub fn current_lane() -> Arc<str> {
    thread_local! {
        static LANE: Arc<str> = {
            let t = std::thread::current();
            match t.name() {
                Some(n) => Arc::from(n),
                None => Arc::from(format!("{:?}", t.id()).replace("ThreadId(", "thread-").replace(')', "")),
            }
        };
    }
    LANE.with(|l| l.clone())
}

/// Records `kind` on `object` for the current thread, if recording is on
/// (one relaxed atomic load when it is off).
///
/// Python: no standard equivalent.
#[inline]
pub fn record(kind: EventKind, object: &str) {
    if flags::is_on(flags::TRACE) {
        record_in(&current_lane(), kind, object);
    }
}

/// Records `kind` on `object` in the lane named `lane` (a green thread, a
/// process...), if recording is on.
///
/// Python: no standard equivalent.
pub fn record_in(lane: &str, kind: EventKind, object: &str) {
    if !flags::is_on(flags::TRACE) {
        return;
    }
    let mut l = lock();
    let t = l.t0.elapsed();
    l.events.push(Event {
        t,
        lane: Arc::from(lane),
        kind,
        object: Arc::from(object),
    });
}
