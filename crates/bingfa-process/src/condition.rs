//! [`Condition`]: a condition variable shared by processes, over a
//! [`Lock`] or an [`RLock`] (Python's default), robust to the death of
//! waiters and of lock holders.
//!
//! # How it works
//!
//! The condition keeps a table of waiter slots in shared memory, guarded by
//! its lock: a waiter takes a slot (its process id, and a ticket that
//! orders waiters by arrival) while it holds the lock, lets go of the lock
//! (every level of an `RLock`) and sleeps on its slot's futex word.
//! `notify(n)`, also under the lock, marks the `n` oldest waiting slots
//! notified and wakes each. So `notify(n)` wakes at most `n` waiters, the
//! ones that were waiting when it was called (Python's guarantee), and a
//! waiter whose wait timed out while it was being notified still counts as
//! notified: nothing is lost.
//!
//! Robustness: a slot whose process has died is skipped (and freed) by
//! `notify`, so a notification never goes to a dead waiter; a waiter looks
//! at its slot again every tenth of a second even without a wake-up, so
//! a notifier killed between marking a slot and waking it delays that
//! waiter, never strands it. The lock itself is robust as [`Lock`] is.

use std::fmt;
use std::sync::atomic::{AtomicU32 as StdAtomicU32, AtomicU64, Ordering as StdOrdering};
use std::time::Duration;

use bingfa_sync::raw::atomic::{AtomicU32, Ordering};
use bingfa_sync::raw::Deadline;
use serde::{Deserialize, Serialize};

use crate::error::{Error, LockError};
use crate::lock::{Acquired, Lock, LockGuard, RawError, RawLock};
use crate::rlock::{RLock, RLockGuard};
use crate::shm::ShmBox;
use crate::sys;

/// How many threads (of all processes together) may wait on one condition
/// at once.
pub const MAX_CONDITION_WAITERS: usize = 256;

const FREE: u32 = 0;
const WAITING: u32 = 1;
const NOTIFIED: u32 = 2;

#[repr(C)]
struct Slot {
    /// FREE, WAITING or NOTIFIED; the futex word its waiter sleeps on.
    word: AtomicU32,
    pid: StdAtomicU32,
    ticket: AtomicU64,
}

#[repr(C)]
struct CondState {
    /// The identity of the lock this condition was made with.
    lock_id: u64,
    /// The next waiter's ticket (written under the lock).
    next: AtomicU64,
    slots: [Slot; MAX_CONDITION_WAITERS],
}

/// The lock of a condition: a [`Lock`] or an [`RLock`].
#[derive(Clone, Serialize, Deserialize)]
enum Inner {
    Lock(Lock),
    RLock(RLock),
}

impl Inner {
    fn raw(&self) -> &RawLock {
        match self {
            Inner::Lock(l) => l.raw(),
            Inner::RLock(r) => r.raw(),
        }
    }
}

mod sealed {
    pub trait Sealed {
        /// The identity of the lock the guard holds.
        fn lock_id(&self) -> u64;
    }
}

/// A guard that a [`Condition`] can wait with: a [`LockGuard`], an
/// [`RLockGuard`] or a [`ConditionGuard`] of the condition's lock. Sealed.
pub trait Held: sealed::Sealed {}

impl sealed::Sealed for LockGuard<'_> {
    fn lock_id(&self) -> u64 {
        self.lock().raw().id()
    }
}
impl Held for LockGuard<'_> {}

impl sealed::Sealed for RLockGuard<'_> {
    fn lock_id(&self) -> u64 {
        self.lock().raw().id()
    }
}
impl Held for RLockGuard<'_> {}

impl sealed::Sealed for ConditionGuard<'_> {
    fn lock_id(&self) -> u64 {
        match &self.inner {
            GuardInner::Lock(g) => g.lock_id(),
            GuardInner::RLock(g) => g.lock_id(),
        }
    }
}
impl Held for ConditionGuard<'_> {}

/// A condition variable shared by processes. Python:
/// `multiprocessing.Condition`.
///
/// Made over a new [`RLock`] ([`new`](Condition::new), Python's default)
/// or over a lock of the caller's ([`with_lock`](Condition::with_lock),
/// [`with_rlock`](Condition::with_rlock)); several conditions may share
/// one lock (clone the lock into each). Acquire it with
/// [`lock`](Condition::lock) (or through the lock itself), then
/// [`wait`](Condition::wait) with the guard: the wait lets go of the lock
/// (every level of an `RLock`), sleeps until notified, and takes the lock
/// back, at the same level, before it returns.
/// [`notify`](Condition::notify) wakes at most `n` of the threads waiting
/// at that moment, oldest first; the caller must hold the lock.
///
/// At most [`MAX_CONDITION_WAITERS`] threads wait on one condition at once
/// (Python has no limit).
///
/// How it works, and what it is robust to: waiters take a slot of a table
/// in shared memory while they hold the lock (their process id and an
/// arrival ticket), and sleep on that slot's futex word; `notify(n)`
/// marks the `n` oldest waiting slots and wakes each. So it wakes at most
/// `n` threads, those waiting at the call, and a wait that times out while
/// being notified still counts as notified. A waiter whose process died is
/// skipped (its slot freed) and never takes a notification; a waiter looks
/// at its slot again every tenth of a second, so a notifier killed
/// between marking a slot and waking it delays that waiter, never strands
/// it; a lock holder that dies while a thread waits gives that thread
/// [`Error::OwnerDied`] (it holds the lock again). A notification costs,
/// per waiter of another process woken, a check that the process is alive
/// (`kill(pid, 0)` and a read of `/proc`: microseconds).
///
/// ```
/// use bingfa_process::{Condition, Value};
///
/// let cond = Condition::new().unwrap();
/// let ready = Value::new(false).unwrap();
/// // SAFETY: a doctest is a program of its own, with no other thread.
/// let child = unsafe { bingfa_process::fork(|| {
///     let _g = cond.lock().unwrap();
///     ready.set(true);
///     cond.notify_all().unwrap();
/// }) }
/// .unwrap();
/// let mut g = cond.lock().unwrap();
/// cond.wait_for(&mut g, || ready.get()).unwrap();
/// drop(g);
/// child.join().unwrap();
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Condition {
    lock: Inner,
    state: ShmBox<CondState>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = self
            .state
            .slots
            .iter()
            .filter(|s| s.word.load(Ordering::Relaxed) == WAITING)
            .count();
        f.debug_struct("Condition")
            .field("locked", &self.lock.raw().locked())
            .field("waiting", &waiting)
            .finish()
    }
}

/// The lock of a [`Condition`], held: a [`LockGuard`] or an
/// [`RLockGuard`] inside, released when dropped. Python: the body of
/// `with cond:`.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    inner: GuardInner<'a>,
}

enum GuardInner<'a> {
    Lock(LockGuard<'a>),
    RLock(RLockGuard<'a>),
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConditionGuard { .. }")
    }
}

impl Condition {
    /// A condition over a new [`RLock`]. Python:
    /// `multiprocessing.Condition()`.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory or the lock cannot be made.
    pub fn new() -> Result<Condition, Error> {
        Condition::with_rlock(RLock::new()?)
    }

    /// A condition over `lock` (a clone of it: other conditions may use
    /// the same lock). Python: `multiprocessing.Condition(lock)`.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be made.
    pub fn with_lock(lock: Lock) -> Result<Condition, Error> {
        Condition::over(Inner::Lock(lock))
    }

    /// A condition over a re-entrant `lock`. Python:
    /// `multiprocessing.Condition(rlock)`.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be made.
    pub fn with_rlock(lock: RLock) -> Result<Condition, Error> {
        Condition::over(Inner::RLock(lock))
    }

    fn over(lock: Inner) -> Result<Condition, Error> {
        let state = ShmBox::new(CondState {
            lock_id: lock.raw().id(),
            next: AtomicU64::new(0),
            slots: std::array::from_fn(|_| Slot {
                word: AtomicU32::new(FREE),
                pid: StdAtomicU32::new(0),
                ticket: AtomicU64::new(0),
            }),
        })?;
        Ok(Condition { lock, state })
    }

    /// Acquires the condition's lock, waiting as long as it takes. Python:
    /// `Condition.acquire()`, `with cond:`.
    ///
    /// # Errors
    /// As for [`Lock::lock`] or [`RLock::lock`].
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> Result<ConditionGuard<'_>, LockError<ConditionGuard<'_>>> {
        self.acquire(None)
    }

    /// Acquires the condition's lock if it is free now. Python:
    /// `Condition.acquire(False)`.
    ///
    /// # Errors
    /// As for [`Lock::try_lock`] or [`RLock::try_lock`].
    pub fn try_lock(&self) -> Result<ConditionGuard<'_>, LockError<ConditionGuard<'_>>> {
        self.acquire(Some(Duration::ZERO))
    }

    /// Acquires the condition's lock, waiting at most `timeout`. Python:
    /// `Condition.acquire(timeout=t)`.
    ///
    /// # Errors
    /// As for [`Lock::lock_timeout`] or [`RLock::lock_timeout`].
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ConditionGuard<'_>, LockError<ConditionGuard<'_>>> {
        self.acquire(Some(timeout))
    }

    fn acquire(
        &self,
        timeout: Option<Duration>,
    ) -> Result<ConditionGuard<'_>, LockError<ConditionGuard<'_>>> {
        fn map<'a, G>(
            r: Result<G, LockError<G>>,
            f: impl Fn(G) -> GuardInner<'a>,
        ) -> Result<ConditionGuard<'a>, LockError<ConditionGuard<'a>>> {
            match r {
                Ok(g) => Ok(ConditionGuard { inner: f(g) }),
                Err(LockError::OwnerDied(g)) => {
                    Err(LockError::OwnerDied(ConditionGuard { inner: f(g) }))
                }
                Err(LockError::WouldBlock) => Err(LockError::WouldBlock),
                Err(LockError::Os(e)) => Err(LockError::Os(e)),
            }
        }
        match (&self.lock, timeout) {
            (Inner::Lock(l), None) => map(l.lock(), GuardInner::Lock),
            (Inner::Lock(l), Some(t)) => map(l.lock_timeout(t), GuardInner::Lock),
            (Inner::RLock(l), None) => map(l.lock(), GuardInner::RLock),
            (Inner::RLock(l), Some(t)) => map(l.lock_timeout(t), GuardInner::RLock),
        }
    }

    /// Waits until notified. Lets go of the lock (every level of an
    /// `RLock`) while it waits and holds it again, at the same level, when
    /// it returns, also on error. Python: `Condition.wait()`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `guard` is not a guard of this condition's
    /// lock (nothing happens); [`Error::OwnerDied`] if a thread that held
    /// the lock while this one waited died with it: the caller holds the
    /// lock again and should check the shared state it protects;
    /// [`Error::Invalid`] if [`MAX_CONDITION_WAITERS`] threads wait already.
    pub fn wait<G: Held>(&self, guard: &mut G) -> Result<(), Error> {
        self.wait_until(guard.lock_id(), None).map(|_| ())
    }

    /// Waits until notified or until `timeout` passes; returns whether it
    /// was notified. Python: `Condition.wait(timeout)`.
    ///
    /// # Errors
    /// As for [`wait`](Condition::wait).
    pub fn wait_timeout<G: Held>(&self, guard: &mut G, timeout: Duration) -> Result<bool, Error> {
        self.wait_until(guard.lock_id(), Deadline::after(timeout))
    }

    /// Waits until `condition` returns `true` (it is called with the lock
    /// held, first before any wait). Python: `Condition.wait_for(predicate)`.
    ///
    /// # Errors
    /// As for [`wait`](Condition::wait).
    pub fn wait_for<G: Held>(
        &self,
        guard: &mut G,
        mut condition: impl FnMut() -> bool,
    ) -> Result<(), Error> {
        while !condition() {
            self.wait(guard)?;
        }
        Ok(())
    }

    /// Waits until `condition` returns `true` or `timeout` passes (counted
    /// from the call); returns the last value of `condition`. Python:
    /// `Condition.wait_for(predicate, timeout)`.
    ///
    /// # Errors
    /// As for [`wait`](Condition::wait).
    pub fn wait_for_timeout<G: Held>(
        &self,
        guard: &mut G,
        mut condition: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool, Error> {
        let deadline = Deadline::after(timeout);
        loop {
            if condition() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| d.has_passed()) {
                return Ok(false);
            }
            self.wait_until(guard.lock_id(), deadline)?;
        }
    }

    fn wait_until(&self, lock_id: u64, deadline: Option<Deadline>) -> Result<bool, Error> {
        let st = &*self.state;
        if lock_id != st.lock_id {
            return Err(Error::Invalid(
                "Condition::wait: the guard is not of this condition's lock",
            ));
        }
        // The guard proves this thread holds the lock: the table is ours.
        let slot = self.take_slot()?;
        let ticket = st.next.load(StdOrdering::Relaxed);
        st.next.store(ticket + 1, StdOrdering::Relaxed);
        slot.pid.store(sys::getpid(), StdOrdering::Relaxed);
        slot.ticket.store(ticket, StdOrdering::Relaxed);
        slot.word.store(WAITING, Ordering::Release);
        let level = match &self.lock {
            // SAFETY: the caller holds the lock (its guard is borrowed
            // mutably for the whole wait, and the lock is taken back
            // before it is given back).
            Inner::Lock(l) => unsafe {
                l.raw().unlock();
                1
            },
            // SAFETY: as above.
            Inner::RLock(r) => unsafe { r.release_all() },
        };
        loop {
            if slot.word.load(Ordering::Acquire) != WAITING {
                break;
            }
            if deadline.is_some_and(|d| d.has_passed()) {
                break;
            }
            // Checked: a notifier killed between marking the slot and
            // waking it delays this waiter by one slice, never strands it.
            sys::wait_checked(&slot.word, WAITING, deadline);
        }
        let died = match &self.lock {
            Inner::Lock(l) => match l.raw().lock(None) {
                Ok(Acquired::Clean) => Ok(false),
                Ok(Acquired::OwnerDied) => Ok(true),
                Err(RawError::WouldBlock) => unreachable!("a lock without deadline"),
                Err(RawError::Os(e)) => Err(Error::Os(e)),
            },
            Inner::RLock(r) => r.restore(level),
        };
        // Held again (unless the lock failed outright, which a healthy
        // robust mutex never does): the slot is ours to free.
        let notified = slot.word.load(Ordering::Acquire) == NOTIFIED;
        slot.word.store(FREE, Ordering::Release);
        if died? {
            return Err(Error::OwnerDied);
        }
        Ok(notified)
    }

    /// A free slot (the caller holds the lock). When none is free, slots
    /// whose process has died are freed first.
    fn take_slot(&self) -> Result<&Slot, Error> {
        let slots = &self.state.slots;
        if let Some(s) = slots
            .iter()
            .find(|s| s.word.load(Ordering::Relaxed) == FREE)
        {
            return Ok(s);
        }
        let me = sys::getpid();
        for s in slots {
            let pid = s.pid.load(StdOrdering::Relaxed);
            if pid != me && !sys::pid_alive(pid) {
                s.word.store(FREE, Ordering::Release);
            }
        }
        slots
            .iter()
            .find(|s| s.word.load(Ordering::Relaxed) == FREE)
            .ok_or(Error::Invalid(
                "Condition::wait: too many waiters (MAX_CONDITION_WAITERS)",
            ))
    }

    /// Wakes at most `n` of the threads waiting now, oldest first. The
    /// calling thread must hold the condition's lock. Python:
    /// `Condition.notify(n)`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if the calling thread does not hold the lock
    /// (Python: `RuntimeError`); nothing is woken.
    pub fn notify(&self, n: usize) -> Result<(), Error> {
        if !self.lock.raw().held_by_me() {
            return Err(Error::Invalid(
                "Condition::notify: the calling thread does not hold the lock",
            ));
        }
        let me = sys::getpid();
        let slots = &self.state.slots;
        let mut woken = 0;
        while woken < n {
            let oldest = slots
                .iter()
                .filter(|s| s.word.load(Ordering::Acquire) == WAITING)
                .min_by_key(|s| s.ticket.load(StdOrdering::Relaxed));
            let Some(s) = oldest else { break };
            let pid = s.pid.load(StdOrdering::Relaxed);
            if pid != me && !sys::pid_alive(pid) {
                // Its process died waiting: no one to wake.
                s.word.store(FREE, Ordering::Release);
                continue;
            }
            s.word.store(NOTIFIED, Ordering::Release);
            sys::wake(&s.word, u32::MAX);
            woken += 1;
        }
        Ok(())
    }

    /// Wakes every thread waiting now. The calling thread must hold the
    /// condition's lock. Python: `Condition.notify_all()`.
    ///
    /// # Errors
    /// As for [`notify`](Condition::notify).
    #[doc(alias = "notifyAll")]
    pub fn notify_all(&self) -> Result<(), Error> {
        self.notify(usize::MAX)
    }
}

// SAFETY: the state is atomics only, shared by design; the table is only
// written under the condition's (process-shared) lock.
unsafe impl Sync for CondState {}
// SAFETY: as above.
unsafe impl Send for CondState {}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    use super::*;
    use crate::sys::lost_wake_up;

    /// A notification whose wake-up never comes (the notifier killed
    /// between marking the slot and waking it) costs the waiter a slice,
    /// not the rest of its life. The slot is marked by hand, under the
    /// lock, as `notify` marks it.
    #[test]
    fn wait_survives_a_lost_wake_up() {
        let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
        let c = cond.clone();
        let waiting = || {
            cond.state
                .slots
                .iter()
                .find(|s| s.word.load(Ordering::SeqCst) == WAITING)
        };
        lost_wake_up::check(
            move || {
                let mut g = c.lock().unwrap();
                c.wait_timeout(&mut g, Duration::from_secs(3600)).unwrap()
            },
            || waiting().is_some(),
            || {
                let _g = cond.lock().unwrap();
                waiting().unwrap().word.store(NOTIFIED, Ordering::SeqCst);
            },
        );
    }
}
