//! [`RLock`]: a re-entrant lock shared by processes, robust to the death
//! of its owner like [`Lock`](crate::Lock).
//!
//! It is the same robust, error-checking `pthread_mutex_t` in shared
//! memory, with a recursion count beside it. Whether the caller already
//! holds it is the mutex's own answer (`EDEADLK` to a thread that holds
//! it), not a comparison of thread ids: a thread id can be reused by a new
//! thread after its owner died, and the mutex tells that case apart (the
//! kernel marks a dead owner's mutex).

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, LockError};
use crate::lock::{wrap, Acquired, RawError, RawLock};
use crate::shm::ShmBox;

#[repr(C)]
pub(crate) struct RLockState {
    raw: RawLock,
    /// The recursion level: touched only by the thread that holds `raw`.
    count: AtomicU32,
}

/// A re-entrant lock shared by processes: the thread that holds it may
/// lock it again, and it is free once every guard is dropped. Python:
/// `multiprocessing.RLock`.
///
/// Robust to owner death like [`Lock`](crate::Lock): when the thread that
/// held it dies (its process killed, or the thread ended), the next
/// `lock` returns [`LockError::OwnerDied`] with the guard, at level 1, and
/// the lock stays usable. Guards are not `Send`: the thread that locked
/// unlocks.
///
/// ```
/// let r = bingfa_process::RLock::new().unwrap();
/// let outer = r.lock().unwrap();
/// let inner = r.lock().unwrap(); // the same thread: one level more
/// assert_eq!(r.level(), 2);
/// drop(inner);
/// assert!(r.locked());
/// drop(outer);
/// assert!(!r.locked());
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct RLock {
    state: ShmBox<RLockState>,
}

/// One level of an [`RLock`] held; dropping it releases that level (the
/// lock is free once the last guard drops). Python: `RLock.release`, or
/// the end of a `with rlock:` block. Not `Send`.
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RLockGuard { .. }")
    }
}

impl<'a> RLockGuard<'a> {
    /// The lock this guard holds.
    pub(crate) fn lock(&self) -> &'a RLock {
        self.lock
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let st = &*self.lock.state;
        let n = st.count.load(Ordering::Relaxed);
        st.count.store(n.saturating_sub(1), Ordering::Relaxed);
        if n <= 1 {
            // SAFETY: a guard exists only while this thread holds the lock;
            // this was its last level.
            unsafe { st.raw.unlock() }
        }
    }
}

/// `RLock(None, 0)` while free; else `RLock(OWNER, LEVEL)`, as Python's
/// `repr` says: the owner as for [`Lock`](crate::Lock)'s `Debug`, and the
/// level when the caller holds it, `nonzero` when another thread does.
impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state.raw.owner_name() {
            None => f.write_str("RLock(None, 0)"),
            Some(owner) if self.state.raw.held_by_me() => {
                write!(f, "RLock({owner}, {})", self.level())
            }
            Some(owner) => write!(f, "RLock({owner}, nonzero)"),
        }
    }
}

impl RLock {
    /// A new, free re-entrant lock in shared memory. Python:
    /// `multiprocessing.RLock()`.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory or the mutex cannot be made.
    pub fn new() -> Result<RLock, Error> {
        let state = ShmBox::new(RLockState {
            raw: RawLock::placeholder(),
            count: AtomicU32::new(0),
        })?;
        // SAFETY: the box is fresh and not shared yet.
        unsafe { RawLock::init(&state.raw as *const RawLock as *mut RawLock)? };
        Ok(RLock { state })
    }

    /// Acquires the lock (one level more if this thread holds it), waiting
    /// as long as it takes. Python: `RLock.acquire()`.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] (holding the guard, at level 1) when the
    /// previous owner died with the lock; [`LockError::Os`] if the level
    /// would overflow a `u32`.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> Result<RLockGuard<'_>, LockError<RLockGuard<'_>>> {
        self.acquire(None)
    }

    /// Acquires the lock if it is free or held by this thread. Python:
    /// `RLock.acquire(block=False)`.
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] if another thread holds it (nothing
    /// changes); otherwise as for [`lock`](RLock::lock).
    pub fn try_lock(&self) -> Result<RLockGuard<'_>, LockError<RLockGuard<'_>>> {
        self.acquire(Some(Duration::ZERO))
    }

    /// Acquires the lock, waiting at most `timeout`. Python:
    /// `RLock.acquire(timeout=t)`.
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] if another thread still holds it at the
    /// deadline (nothing changes); otherwise as for [`lock`](RLock::lock).
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<RLockGuard<'_>, LockError<RLockGuard<'_>>> {
        self.acquire(Some(timeout))
    }

    fn acquire(
        &self,
        timeout: Option<Duration>,
    ) -> Result<RLockGuard<'_>, LockError<RLockGuard<'_>>> {
        let st = &*self.state;
        match st.raw.lock(timeout) {
            Err(RawError::Os(e)) if e.raw_os_error() == Some(libc::EDEADLK) => {
                // The mutex says this thread holds it: one level more.
                let n = st.count.load(Ordering::Relaxed);
                match n.checked_add(1) {
                    Some(n) => {
                        st.count.store(n, Ordering::Relaxed);
                        Ok(self.guard())
                    }
                    None => Err(LockError::Os(io::Error::from_raw_os_error(libc::EAGAIN))),
                }
            }
            r => {
                if matches!(r, Ok(Acquired::Clean | Acquired::OwnerDied)) {
                    // Taken fresh (or over from a dead owner): level 1,
                    // whatever the dead owner's count said.
                    st.count.store(1, Ordering::Relaxed);
                }
                wrap(r, || self.guard())
            }
        }
    }

    /// Whether some thread holds the lock now (a snapshot). Python 3.14:
    /// `RLock.locked()`.
    pub fn locked(&self) -> bool {
        self.state.raw.locked()
    }

    /// How many levels the calling thread holds (0 if it does not hold the
    /// lock). Python: `RLock._recursion_count()`.
    #[doc(alias = "_recursion_count")]
    pub fn level(&self) -> u32 {
        if self.state.raw.held_by_me() {
            self.state.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    fn guard(&self) -> RLockGuard<'_> {
        RLockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    pub(crate) fn raw(&self) -> &RawLock {
        &self.state.raw
    }

    /// For a condition's wait, which holds the lock through a guard: lets
    /// go of every level at once and returns how many there were.
    ///
    /// # Safety
    /// The calling thread holds the lock.
    pub(crate) unsafe fn release_all(&self) -> u32 {
        let st = &*self.state;
        let n = st.count.swap(0, Ordering::Relaxed);
        // SAFETY: held by this thread (caller).
        unsafe { st.raw.unlock() };
        n
    }

    /// For a condition's wait: takes the lock again (waiting as long as it
    /// takes) at `level` levels. Returns whether the owner in between died
    /// holding it.
    pub(crate) fn restore(&self, level: u32) -> Result<bool, Error> {
        let st = &*self.state;
        let died = match st.raw.lock(None) {
            Ok(Acquired::Clean) => false,
            Ok(Acquired::OwnerDied) => true,
            Err(RawError::WouldBlock) => unreachable!("a lock without deadline never times out"),
            Err(RawError::Os(e)) => return Err(Error::Os(e)),
        };
        st.count.store(level.max(1), Ordering::Relaxed);
        Ok(died)
    }
}

// SAFETY: the count is only touched by the thread holding the robust,
// process-shared mutex; the mutex is used through pthread calls only.
unsafe impl Sync for RLockState {}
// SAFETY: as above.
unsafe impl Send for RLockState {}
