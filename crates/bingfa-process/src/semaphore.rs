//! [`Semaphore`] and [`Event`]: counting semaphore and one-shot flag shared
//! by processes, each one futex word (plus a waiter count) in shared memory.

use std::fmt;
use std::time::Duration;

use bingfa_sync::raw::atomic::{fence, AtomicU32, Ordering};
use bingfa_sync::raw::Deadline;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::shm::ShmBox;
use crate::sys;

#[repr(C)]
struct SemState {
    value: AtomicU32,
    waiters: AtomicU32,
    /// `u32::MAX` for an unbounded semaphore.
    max: u32,
}

/// A counting semaphore shared by processes. Python:
/// `multiprocessing.Semaphore` and `BoundedSemaphore`.
///
/// [`acquire`](Semaphore::acquire) returns a permit that releases itself
/// when dropped; [`SemaphorePermit::forget`] keeps it taken, for the
/// Python style where another process calls [`release`](Semaphore::release).
/// A permit held by a process that dies is lost (Python: the same).
///
/// ```
/// let s = bingfa_process::Semaphore::new(1).unwrap();
/// let p = s.acquire();
/// assert!(s.try_acquire().is_none());
/// drop(p);
/// assert!(s.try_acquire().is_some());
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Semaphore {
    state: ShmBox<SemState>,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

/// One taken permit of a [`Semaphore`]; released when dropped (Python:
/// `Semaphore.release`, or the end of a `with sem:` block).
#[must_use = "the permit is released as soon as it is dropped"]
#[derive(Debug)]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken (someone will call
    /// [`Semaphore::release`]): Python's `acquire()` without a `with`.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        // A bounded semaphore cannot overflow here: this permit was taken.
        let _ = self.sem.release();
    }
}

impl Semaphore {
    /// A semaphore with `value` permits. Python:
    /// `multiprocessing.Semaphore(value)`.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be made.
    pub fn new(value: u32) -> Result<Semaphore, Error> {
        Self::with_max(value, u32::MAX)
    }

    /// A bounded semaphore: releasing beyond `value` permits is an error.
    /// Python: `multiprocessing.BoundedSemaphore(value)`.
    ///
    /// # Errors
    /// As for [`new`](Semaphore::new).
    pub fn bounded(value: u32) -> Result<Semaphore, Error> {
        Self::with_max(value, value)
    }

    fn with_max(value: u32, max: u32) -> Result<Semaphore, Error> {
        Ok(Semaphore {
            state: ShmBox::new(SemState {
                value: AtomicU32::new(value),
                waiters: AtomicU32::new(0),
                max,
            })?,
        })
    }

    /// The permits available now. Python: `Semaphore.get_value`.
    #[doc(alias = "get_value")]
    pub fn value(&self) -> u32 {
        self.state.value.load(Ordering::SeqCst)
    }

    /// Takes a permit, waiting as long as it takes. Python:
    /// `Semaphore.acquire()`.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.acquire_until(None)
            .expect("an acquire without deadline always ends with a permit")
    }

    /// Takes a permit if one is available now. Python:
    /// `Semaphore.acquire(block=False)`.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        // `then`, not `then_some`: a permit built eagerly and dropped on
        // failure would release a permit this call never took.
        self.try_take().then(|| SemaphorePermit { sem: self })
    }

    /// Takes a permit, waiting at most `timeout`. Python:
    /// `Semaphore.acquire(timeout=t)`.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no permit came in time.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphorePermit<'_>, Error> {
        self.acquire_until(Deadline::after(timeout))
    }

    fn try_take(&self) -> bool {
        let v = &self.state.value;
        let mut cur = v.load(Ordering::Relaxed);
        while cur > 0 {
            match v.compare_exchange_weak(cur, cur - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
        false
    }

    fn acquire_until(&self, deadline: Option<Deadline>) -> Result<SemaphorePermit<'_>, Error> {
        loop {
            if self.try_take() {
                return Ok(SemaphorePermit { sem: self });
            }
            if deadline.is_some_and(|d| d.has_passed()) {
                return Err(Error::Timeout);
            }
            let st = &*self.state;
            st.waiters.fetch_add(1, Ordering::SeqCst);
            // Checked: a releaser killed between its increment and its
            // wake, or a waiter killed after taking the wake-up and before
            // the permit, would leave this sleeper asleep with a permit
            // free; a slice ends the wait and the loop tries again.
            let woke = sys::wait_checked(&st.value, 0, deadline);
            st.waiters.fetch_sub(1, Ordering::SeqCst);
            if !woke && !self.try_take() {
                return Err(Error::Timeout);
            } else if !woke {
                return Ok(SemaphorePermit { sem: self });
            }
        }
    }

    /// Gives a permit back, waking one waiter. Python: `Semaphore.release`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when a bounded semaphore would go above its
    /// initial value (Python: `ValueError`).
    pub fn release(&self) -> Result<(), Error> {
        let st = &*self.state;
        let mut cur = st.value.load(Ordering::Relaxed);
        loop {
            if cur >= st.max {
                return Err(Error::Invalid("semaphore released too many times"));
            }
            match st
                .value
                .compare_exchange_weak(cur, cur + 1, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        fence(Ordering::SeqCst);
        if st.waiters.load(Ordering::Relaxed) > 0 {
            sys::wake(&st.value, 1);
        }
        Ok(())
    }
}

#[repr(C)]
struct EventState {
    /// Bit 0: the flag. Bits 1..: how many times `set` raised it (mod
    /// 2^31), so that a waiter can tell a set that `clear` already undid
    /// from a spurious or sliced wake-up. The futex word.
    flag: AtomicU32,
    waiters: AtomicU32,
}

/// The flag bit of [`EventState::flag`].
const SET: u32 = 1;
/// One `set` in the count above the flag bit.
const RAISED: u32 = 2;

/// A flag that processes wait for. Python: `multiprocessing.Event`.
///
/// ```
/// let ev = bingfa_process::Event::new().unwrap();
/// let child = {
///     let ev = ev.clone();
///     // SAFETY: a doctest is a program of its own, with no other thread.
///     unsafe { bingfa_process::fork(move || ev.set()) }.unwrap()
/// };
/// ev.wait();
/// assert!(ev.is_set());
/// child.join().unwrap();
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Event {
    state: ShmBox<EventState>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

impl Event {
    /// A new, clear event. Python: `multiprocessing.Event()`.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be made.
    pub fn new() -> Result<Event, Error> {
        Ok(Event {
            state: ShmBox::new(EventState {
                flag: AtomicU32::new(0),
                waiters: AtomicU32::new(0),
            })?,
        })
    }

    /// Sets the flag and wakes every waiter. Python: `Event.set`.
    pub fn set(&self) {
        self.raise();
        let st = &*self.state;
        if st.waiters.load(Ordering::SeqCst) > 0 {
            sys::wake(&st.flag, u32::MAX);
        }
    }

    /// Sets the flag (counting the set when it was clear), without a
    /// wake-up.
    fn raise(&self) {
        let _ = self
            .state
            .flag
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                (w & SET == 0).then(|| w.wrapping_add(RAISED) | SET)
            });
    }

    /// Clears the flag. Python: `Event.clear`.
    pub fn clear(&self) {
        self.state.flag.fetch_and(!SET, Ordering::SeqCst);
    }

    /// Whether the flag is set. Python: `Event.is_set`.
    pub fn is_set(&self) -> bool {
        self.state.flag.load(Ordering::SeqCst) & SET != 0
    }

    /// Waits until the flag is set, or until a [`set`](Self::set) that
    /// came after this call began, even if a [`clear`](Self::clear) undid
    /// it before this waiter ran again: a `set()` then `clear()` wakes
    /// every waiter, as in Python. Python: `Event.wait()`, which returns
    /// the flag (`False` after such a pulse); call [`is_set`](Self::is_set)
    /// or use [`wait_timeout`](Self::wait_timeout) to see it.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout`, or until the flag is set, or until a `set`
    /// after this call began (see [`wait`](Self::wait)); returns whether
    /// the flag is set when it returns: `false` after a timeout, and after
    /// a `set()` that a `clear()` already undid, as Python's
    /// `multiprocessing.Event.wait(timeout)` does. Python:
    /// `Event.wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after(timeout))
    }

    fn wait_until(&self, deadline: Option<Deadline>) -> bool {
        let st = &*self.state;
        let start = st.flag.load(Ordering::SeqCst);
        if start & SET != 0 {
            return true;
        }
        loop {
            if deadline.is_some_and(|d| d.has_passed()) {
                return self.is_set();
            }
            st.waiters.fetch_add(1, Ordering::SeqCst);
            // Checked: a `set` killed between its store and its wake would
            // leave this sleeper asleep with the flag set.
            let woke = sys::wait_checked(&st.flag, start, deadline);
            st.waiters.fetch_sub(1, Ordering::SeqCst);
            let now = st.flag.load(Ordering::SeqCst);
            if now & SET != 0 {
                return true;
            }
            if now != start {
                // Raised and cleared again since we began: the pulse
                // ends the wait, the flag is what we return.
                return false;
            }
            if !woke {
                return false;
            }
            // A spurious or sliced wake-up: the word is as we left it.
        }
    }
}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    use super::*;
    use crate::sys::lost_wake_up;

    /// A release whose wake-up never comes (its process killed between
    /// the increment and the wake) costs a blocked `acquire` a slice, not
    /// the rest of its life.
    #[test]
    fn acquire_survives_a_lost_wake_up() {
        let sem = Semaphore::new(0).unwrap();
        let s = sem.clone();
        lost_wake_up::check(
            move || {
                s.acquire().forget();
                true
            },
            || sem.state.waiters.load(Ordering::SeqCst) > 0,
            || {
                sem.state.value.fetch_add(1, Ordering::SeqCst);
            },
        );
        assert_eq!(sem.value(), 0, "the waiter took the permit");
    }

    /// The same for `Event::wait` and a `set` killed between its store and
    /// its wake.
    #[test]
    fn event_wait_survives_a_lost_wake_up() {
        let ev = Event::new().unwrap();
        let e = ev.clone();
        lost_wake_up::check(
            move || {
                e.wait();
                e.is_set()
            },
            || ev.state.waiters.load(Ordering::SeqCst) > 0,
            || ev.raise(),
        );
    }

    /// A `set()` then `clear()` while a process waits: the waiter wakes
    /// (it does not sleep on until the next set), and `wait_timeout`
    /// returns the flag as it finds it, as `multiprocessing.Event.wait`
    /// does: `true` if it ran between the two, else `false`.
    #[test]
    fn a_set_then_clear_pulse_ends_every_wait() {
        let ev = Event::new().unwrap();
        let waiters = |n: u32| {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while ev.state.waiters.load(Ordering::SeqCst) < n {
                assert!(std::time::Instant::now() < deadline, "the waiters never slept");
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let spawn_two = || {
            let (timed, untimed) = (ev.clone(), ev.clone());
            (
                std::thread::spawn(move || timed.wait_timeout(Duration::from_secs(60))),
                std::thread::spawn(move || untimed.wait()),
            )
        };
        // Woken by the set: either value.
        let (t, u) = spawn_two();
        waiters(2);
        ev.set();
        ev.clear();
        let _either = t.join().unwrap();
        u.join().unwrap();
        // The set's wake-up hidden from them, so that they only look once
        // the clear is done (at the end of a slice): `false`.
        let (t, u) = spawn_two();
        waiters(2);
        let hidden = ev.state.waiters.swap(0, Ordering::SeqCst);
        ev.set();
        ev.clear();
        ev.state.waiters.fetch_add(hidden, Ordering::SeqCst);
        assert!(!t.join().unwrap(), "the flag was clear again when it looked");
        u.join().unwrap();
        // A wait that begins after a pulse still waits for a set.
        assert!(!ev.wait_timeout(Duration::from_millis(50)));
        ev.set();
        assert!(ev.wait_timeout(Duration::ZERO));
        ev.set(); // already set: no change
        ev.clear();
        assert!(!ev.is_set());
    }
}
