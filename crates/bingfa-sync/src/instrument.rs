//! Hooks that the primitives call on their instrumented path, that is only
//! when `bingfa_trace::active() != 0` (one relaxed load otherwise). They feed
//! the deadlock detector (`crate::deadlock`) and the event recorder
//! (`bingfa_trace`).
//!
//! Protocol, for every primitive (`loc` is the `#[track_caller]` location of
//! the user's call):
//! - `blocking(meta, loc)`: the thread is about to block on `meta`.
//! - `acquired(meta, loc)`: the thread now holds `meta` (a Mutex, an RLock at
//!   its outermost level, a Semaphore permit). Called on every path that
//!   acquires, fast, slow or `try_`; it also ends a `blocking`.
//! - `unblocked(meta)`: the thread stopped waiting without acquiring
//!   (timeout, event set, notify, barrier tripped or broken).
//! - `released(meta)`: the thread gave back what `acquired` recorded (an
//!   RLock only at its outermost level).

use std::borrow::Cow;
use std::panic::Location;
use std::sync::atomic::AtomicU64;

/// What kind of primitive a [`Meta`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(dead_code)]
pub(crate) enum Kind {
    Mutex,
    RLock,
    Semaphore,
    Event,
    Condition,
    Barrier,
}

/// The identity of one primitive for the detector and the recorder: its kind,
/// its optional name and a process-unique id assigned on first instrumented use.
#[derive(Debug)]
#[allow(dead_code)]
pub(crate) struct Meta {
    kind: Kind,
    name: Option<Cow<'static, str>>,
    /// 0 until the detector or the recorder first sees this primitive.
    id: AtomicU64,
}

#[allow(dead_code)]
impl Meta {
    pub(crate) const fn new(kind: Kind, name: Option<Cow<'static, str>>) -> Self {
        Meta {
            kind,
            name,
            id: AtomicU64::new(0),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// Whether the instrumented path must be taken: one relaxed load.
#[inline(always)]
pub(crate) fn on() -> bool {
    bingfa_trace::active() != 0
}

/// The thread is about to block on `meta`.
#[cold]
#[allow(dead_code)]
pub(crate) fn blocking(meta: &Meta, loc: &'static Location<'static>) {
    let _ = (meta, loc);
}

/// The thread now holds `meta`.
#[cold]
#[allow(dead_code)]
pub(crate) fn acquired(meta: &Meta, loc: &'static Location<'static>) {
    let _ = (meta, loc);
}

/// The thread stopped waiting on `meta` without acquiring it.
#[cold]
#[allow(dead_code)]
pub(crate) fn unblocked(meta: &Meta) {
    let _ = meta;
}

/// The thread released `meta`.
#[cold]
#[allow(dead_code)]
pub(crate) fn released(meta: &Meta) {
    let _ = meta;
}
