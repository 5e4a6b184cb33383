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
//!   RLock only at its outermost level). A semaphore permit released by a
//!   thread that did not acquire it is taken from whichever thread holds one.
//!
//! `Condition::wait` does `released(lock)`, `blocking(cond)`, then
//! `unblocked(cond)` and `blocking(lock)`/`acquired(lock)`. Waiting on a
//! Condition, an Event or a Barrier is not a wait-for edge (anyone may wake
//! it) but shows in the trace.
//!
//! Each hook does two things, each behind its own flag: with
//! `flags::DEADLOCK`, it updates the detector; with `flags::TRACE`, it records
//! a `bingfa_trace` event named after the primitive (its name, or
//! `"Mutex#<id>"` etc. when unnamed). Hooks are `#[cold]`: the primitives'
//! fast paths stay small.
//!
//! Each half exists only with its Cargo feature (`detect`, `trace`). With
//! neither, [`Meta`] is a zero-sized type, [`on`] is a constant `false` and
//! the hooks are empty: the primitives are as small and as fast as their
//! raw locks.

use std::borrow::Cow;
#[cfg(any(feature = "detect", feature = "trace"))]
use std::panic::Location;
#[cfg(any(feature = "detect", feature = "trace"))]
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(any(feature = "detect", feature = "trace"))]
use bingfa_trace::flags;
#[cfg(feature = "trace")]
use bingfa_trace::EventKind;

/// What kind of primitive a [`Meta`] describes (the detector's public
/// [`PrimitiveKind`](crate::deadlock::PrimitiveKind)).
#[cfg(feature = "detect")]
#[allow(unused_imports)]
pub(crate) use crate::deadlock::PrimitiveKind as Kind;

/// What kind of primitive a [`Meta`] describes (the detector, which has the
/// public `PrimitiveKind`, is compiled out).
#[cfg(not(feature = "detect"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub(crate) enum Kind {
    Mutex,
    RLock,
    Semaphore,
    Lock,
    Event,
    Condition,
    Barrier,
}

/// The flags of `bingfa_trace::active()` that this build acts on.
#[cfg(any(feature = "detect", feature = "trace"))]
const FLAGS: u32 = {
    let mut f = 0;
    if cfg!(feature = "detect") {
        f |= flags::DEADLOCK;
    }
    if cfg!(feature = "trace") {
        f |= flags::TRACE;
    }
    f
};

/// The identity of one primitive for the detector and the recorder: its kind,
/// its optional name and a process-unique id assigned on first instrumented use.
///
/// Dropping a `Meta` that the detector has seen removes the primitive from
/// the wait-for graph and from the lock order graph.
#[cfg(any(feature = "detect", feature = "trace"))]
#[derive(Debug)]
#[allow(dead_code)]
pub(crate) struct Meta {
    kind: Kind,
    name: Option<Cow<'static, str>>,
    /// 0 until the detector or the recorder first sees this primitive.
    id: AtomicU64,
}

#[cfg(any(feature = "detect", feature = "trace"))]
#[allow(dead_code)]
impl Meta {
    /// An unnamed primitive.
    pub(crate) const fn new(kind: Kind) -> Self {
        Meta {
            kind,
            name: None,
            id: AtomicU64::new(0),
        }
    }

    /// A primitive with an optional name.
    pub(crate) fn named(kind: Kind, name: Option<Cow<'static, str>>) -> Self {
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

    /// The process-unique id, assigned on first call (never 0, never reused).
    pub(crate) fn id(&self) -> u64 {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(other) => other,
        }
    }

    /// The name reports and traces use: the given name, or `"Mutex#3"`.
    pub(crate) fn label(&self) -> Cow<'_, str> {
        match &self.name {
            Some(n) => Cow::Borrowed(n),
            None => Cow::Owned(format!("{:?}#{}", self.kind, self.id())),
        }
    }
}

#[cfg(feature = "detect")]
impl Drop for Meta {
    fn drop(&mut self) {
        let id = *self.id.get_mut();
        if id != 0 {
            crate::deadlock::forget(id);
        }
    }
}

/// Without `detect` and `trace` nothing reads a primitive's identity: it
/// takes no room, and names are not kept.
#[cfg(not(any(feature = "detect", feature = "trace")))]
#[derive(Debug)]
pub(crate) struct Meta;

#[cfg(not(any(feature = "detect", feature = "trace")))]
impl Meta {
    #[inline(always)]
    pub(crate) const fn new(_kind: Kind) -> Self {
        Meta
    }

    #[inline(always)]
    pub(crate) fn named(_kind: Kind, _name: Option<Cow<'static, str>>) -> Self {
        Meta
    }

    /// Always `None`: names are kept for reports and traces only.
    #[inline(always)]
    pub(crate) fn name(&self) -> Option<&str> {
        None
    }
}

/// Whether the instrumented path must be taken: one relaxed load.
#[cfg(any(feature = "detect", feature = "trace"))]
#[inline(always)]
#[allow(dead_code)]
pub(crate) fn on() -> bool {
    bingfa_trace::active() & FLAGS != 0
}

/// Whether the instrumented path must be taken: never, both halves are
/// compiled out.
#[cfg(not(any(feature = "detect", feature = "trace")))]
#[inline(always)]
#[allow(dead_code)]
pub(crate) fn on() -> bool {
    false
}

#[cfg(any(feature = "detect", feature = "trace"))]
mod hooks {
    use super::*;

    /// The thread is about to block on `meta`.
    #[cold]
    #[inline(never)]
    #[allow(dead_code)]
    pub(crate) fn blocking(meta: &Meta, loc: &'static Location<'static>) {
        let _f = bingfa_trace::active();
        #[cfg(feature = "trace")]
        if _f & flags::TRACE != 0 {
            bingfa_trace::record(EventKind::Blocked, &meta.label());
        }
        #[cfg(feature = "detect")]
        if _f & flags::DEADLOCK != 0 {
            crate::deadlock::on_blocking(meta, loc);
        }
        let _ = (meta, loc);
    }

    /// The thread now holds `meta`.
    #[cold]
    #[inline(never)]
    #[allow(dead_code)]
    pub(crate) fn acquired(meta: &Meta, loc: &'static Location<'static>) {
        let _f = bingfa_trace::active();
        #[cfg(feature = "trace")]
        if _f & flags::TRACE != 0 {
            bingfa_trace::record(EventKind::Acquired, &meta.label());
        }
        #[cfg(feature = "detect")]
        if _f & flags::DEADLOCK != 0 {
            crate::deadlock::on_acquired(meta, loc);
        }
        let _ = (meta, loc);
    }

    /// The thread stopped waiting on `meta` without acquiring it.
    #[cold]
    #[inline(never)]
    #[allow(dead_code)]
    pub(crate) fn unblocked(meta: &Meta) {
        let _f = bingfa_trace::active();
        #[cfg(feature = "trace")]
        if _f & flags::TRACE != 0 {
            bingfa_trace::record(EventKind::Unblocked, &meta.label());
        }
        #[cfg(feature = "detect")]
        if _f & flags::DEADLOCK != 0 {
            crate::deadlock::on_unblocked(meta);
        }
        let _ = meta;
    }

    /// The thread released `meta`.
    #[cold]
    #[inline(never)]
    #[allow(dead_code)]
    pub(crate) fn released(meta: &Meta) {
        let _f = bingfa_trace::active();
        #[cfg(feature = "trace")]
        if _f & flags::TRACE != 0 {
            bingfa_trace::record(EventKind::Released, &meta.label());
        }
        #[cfg(feature = "detect")]
        if _f & flags::DEADLOCK != 0 {
            crate::deadlock::on_released(meta);
        }
        let _ = meta;
    }
}

/// Empty hooks: [`on`] is `false`, so the primitives never call them; they
/// exist so that the instrumented paths still compile.
#[cfg(not(any(feature = "detect", feature = "trace")))]
#[allow(dead_code)]
mod hooks {
    use std::panic::Location;

    use super::Meta;

    #[inline(always)]
    pub(crate) fn blocking(_meta: &Meta, _loc: &'static Location<'static>) {}
    #[inline(always)]
    pub(crate) fn acquired(_meta: &Meta, _loc: &'static Location<'static>) {}
    #[inline(always)]
    pub(crate) fn unblocked(_meta: &Meta) {}
    #[inline(always)]
    pub(crate) fn released(_meta: &Meta) {}
}

#[allow(unused_imports)]
pub(crate) use hooks::{acquired, blocking, released, unblocked};
