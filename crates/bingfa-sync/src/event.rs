//! [`Event`]: Python's `threading.Event`, a flag that threads wait for.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::instrument::{self, Kind, Meta};
use crate::raw::atomic::{AtomicU8, Ordering};
use crate::raw::park::{self, FilterOp, ParkResult};
use crate::raw::Deadline;

const SET: u8 = 0b01;
const PARKED: u8 = 0b10;

/// Token given to the waiters that [`Event::set`] wakes.
const TOKEN_SET: usize = 1;

/// A flag, initially false: [`wait`](Self::wait) blocks until some thread
/// [`set`](Self::set)s it, and returns at once while it is set.
///
/// Python: `threading.Event`.
///
/// ```
/// use bingfa_sync::Event;
/// use std::time::Duration;
///
/// let ready = Event::new();
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         // ... prepare ...
///         ready.set();
///     });
///     ready.wait(); // returns once the other thread has set the flag
/// });
/// assert!(ready.is_set());
/// assert!(ready.wait_timeout(Duration::from_millis(1))); // set: returns at once
/// ```
///
/// `set` wakes every waiter. A waiter woken by `set` returns even if the
/// flag was cleared again before it ran, as in Python.
pub struct Event {
    state: AtomicU8,
    meta: Meta,
}

impl Event {
    /// A new event, not set.
    ///
    /// Python: `threading.Event()`.
    #[cfg(not(bingfa_loom))]
    pub const fn new() -> Self {
        Event {
            state: AtomicU8::new(0),
            meta: Meta::new(Kind::Event),
        }
    }

    /// A new event, not set.
    ///
    /// Python: `threading.Event()`.
    #[cfg(bingfa_loom)]
    pub fn new() -> Self {
        Event {
            state: AtomicU8::new(0),
            meta: Meta::new(Kind::Event),
        }
    }

    /// A new event, not set, with a name that the deadlock detector and the
    /// tracer show.
    pub fn named(name: impl Into<Cow<'static, str>>) -> Self {
        Event {
            state: AtomicU8::new(0),
            meta: Meta::named(Kind::Event, Some(name.into())),
        }
    }

    /// Whether the flag is set.
    ///
    /// Python: `threading.Event.is_set()`.
    #[doc(alias = "isSet")]
    #[inline]
    pub fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) & SET != 0
    }

    /// Sets the flag and wakes every thread waiting for it. Setting a set
    /// event does nothing.
    ///
    /// Python: `threading.Event.set()`.
    pub fn set(&self) {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & PARKED != 0 {
                return self.set_slow();
            }
            // Nobody parked: one CAS (from SET to SET when already set, so
            // that every `set` publishes the caller's earlier writes to the
            // threads that see the flag). A waiter that marks PARKED
            // meanwhile makes it fail, and we take the slow path.
            match self
                .state
                .compare_exchange_weak(state, SET, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(s) => state = s,
            }
        }
    }

    /// `set` with threads parked: the flag changes in the parking lot's
    /// callback, with the event's queue locked, so that setting it and
    /// choosing whom to wake are one step. A waiter validates its park with
    /// that same lock held, so it is either already queued (it waited
    /// before this set, which wakes it) or sees the flag set and does not
    /// sleep. Had the flag changed before the queue was locked, a setter
    /// preempted between the two steps could wake a `wait` that began
    /// after its set had been seen and consumed by `clear`.
    #[cold]
    fn set_slow(&self) {
        // SAFETY: our own key; the filter and the callback only do an atomic
        // operation: they neither panic nor park.
        unsafe {
            park::unpark_filter(
                self.key(),
                |_| FilterOp::Unpark,
                |_| {
                    // Clears PARKED too: every parked thread is woken, and one
                    // about to park fails its validation and sees the flag.
                    self.state.swap(SET, Ordering::Release);
                    TOKEN_SET
                },
            );
        }
    }

    /// Resets the flag to false; later waiters block until the next `set`.
    ///
    /// Python: `threading.Event.clear()`.
    pub fn clear(&self) {
        self.state.fetch_and(!SET, Ordering::Relaxed);
    }

    /// Blocks until the flag is set; returns at once if it is.
    ///
    /// Python: `threading.Event.wait()` (which then returns `True`).
    #[track_caller]
    pub fn wait(&self) {
        if self.is_set() {
            return;
        }
        let tracked = instrument::on();
        if tracked {
            instrument::blocking(&self.meta, Location::caller());
        }
        let set = self.wait_slow(None);
        debug_assert!(set);
        if tracked {
            instrument::unblocked(&self.meta);
        }
    }

    /// Blocks until the flag is set or `timeout` passes; returns whether it
    /// was set (so `false` means it timed out). A zero timeout only looks.
    ///
    /// Python: `threading.Event.wait(timeout)`, which returns the flag.
    #[doc(alias = "wait")]
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if self.is_set() {
            return true;
        }
        if timeout.is_zero() {
            return false;
        }
        let tracked = instrument::on();
        if tracked {
            instrument::blocking(&self.meta, Location::caller());
        }
        let set = self.wait_slow(Deadline::after(timeout));
        if tracked {
            instrument::unblocked(&self.meta);
        }
        set
    }

    /// The name given by [`named`](Self::named), if any.
    ///
    /// Names are kept for the detector's reports and the recorder's traces:
    /// without the `detect` and `trace` features (both off) this is `None`.
    pub fn name(&self) -> Option<&str> {
        self.meta.name()
    }

    fn key(&self) -> usize {
        &self.state as *const AtomicU8 as usize
    }

    #[cold]
    fn wait_slow(&self, deadline: Option<Deadline>) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & SET != 0 {
                return true;
            }
            if state & PARKED == 0 {
                if let Err(s) = self.state.compare_exchange_weak(
                    state,
                    state | PARKED,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    state = s;
                    continue;
                }
            }
            let validate = || self.state.load(Ordering::Relaxed) == PARKED;
            let timed_out = |_key, was_last_thread: bool| {
                if was_last_thread {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
            };
            // SAFETY: our own key; the closures only do atomic operations.
            let r = unsafe { park::park(self.key(), validate, || {}, timed_out, 0, deadline) };
            match r {
                // Woken by `set`: the flag was set after we parked, even if
                // it has been cleared since. The parking lot's queue lock,
                // under which `set` changed the flag and chose us, orders
                // the setter's earlier writes before this point.
                ParkResult::Unparked(TOKEN_SET) => return true,
                ParkResult::TimedOut => return self.is_set(),
                ParkResult::Unparked(_) | ParkResult::Invalid => {}
            }
            state = self.state.load(Ordering::Acquire);
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Event");
        if let Some(name) = self.name() {
            d.field("name", &name);
        }
        d.field("set", &self.is_set()).finish()
    }
}
