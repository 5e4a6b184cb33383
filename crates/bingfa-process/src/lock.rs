//! [`Lock`]: a mutual-exclusion lock shared by processes, robust to the
//! death of its owner.
//!
//! It is a `pthread_mutex_t` in shared memory, made process-shared and
//! robust: the kernel walks a dying thread's list of robust mutexes and
//! marks each one it held, and the next `pthread_mutex_lock` returns
//! `EOWNERDEAD`. This crate then calls `pthread_mutex_consistent` and hands
//! the caller the guard inside [`LockError::OwnerDied`], so the lock stays
//! usable. Note that the robust list is per thread: a thread that exits
//! while holding the lock also counts as a dead owner.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, LockError};
use crate::shm::ShmBox;
use crate::sys;

/// `PTHREAD_MUTEX_ROBUST` (glibc).
const ROBUST: libc::c_int = 1;

extern "C" {
    fn pthread_mutexattr_setrobust(
        attr: *mut libc::pthread_mutexattr_t,
        r: libc::c_int,
    ) -> libc::c_int;
    fn pthread_mutex_consistent(m: *mut libc::pthread_mutex_t) -> libc::c_int;
    fn pthread_mutex_clocklock(
        m: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

/// The raw robust mutex, placed in shared memory, with who holds it.
#[repr(C)]
pub(crate) struct RawLock {
    m: std::cell::UnsafeCell<libc::pthread_mutex_t>,
    /// The holder's process and thread ids (0 while free): written by the
    /// holder once it has the mutex, cleared just before it lets go. They
    /// stay set when the holder dies with the mutex (it is held until the
    /// next owner takes it over). Read by `locked` and `Debug` only: the
    /// mutex itself decides who owns it.
    owner_pid: AtomicU32,
    owner_tid: AtomicU32,
    /// A number that tells this lock from every other (random), so that a
    /// condition can check that a guard is its lock's whatever mapping of
    /// it the guard came through.
    id: u64,
}

/// How an acquisition ended.
pub(crate) enum Acquired {
    Clean,
    OwnerDied,
}

impl RawLock {
    /// Initializes a robust, process-shared, error-checking mutex in place.
    ///
    /// # Safety
    /// `this` is valid for writes, and not in use.
    pub(crate) unsafe fn init(this: *mut RawLock) -> io::Result<()> {
        // SAFETY: a zeroed attr is initialized by pthread_mutexattr_init
        // before use; `this` is valid for writes (caller).
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            let m = (*this).m.get();
            let mut r = libc::pthread_mutexattr_init(&mut attr);
            if r == 0 {
                r = libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            }
            if r == 0 {
                r = pthread_mutexattr_setrobust(&mut attr, ROBUST);
            }
            if r == 0 {
                r = libc::pthread_mutexattr_settype(&mut attr, libc::PTHREAD_MUTEX_ERRORCHECK);
            }
            if r == 0 {
                r = libc::pthread_mutex_init(m, &attr);
            }
            libc::pthread_mutexattr_destroy(&mut attr);
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
            (*this).id = new_id();
        }
        Ok(())
    }

    /// An all-zero mutex, to be overwritten by [`RawLock::init`] before
    /// any use.
    pub(crate) fn placeholder() -> RawLock {
        RawLock {
            // SAFETY: pthread_mutex_t is plain bytes; all-zero is a valid
            // value to store (and `init` replaces it).
            m: std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }),
            owner_pid: AtomicU32::new(0),
            owner_tid: AtomicU32::new(0),
            id: 0,
        }
    }

    /// A fresh lock in its own shared memory.
    pub(crate) fn boxed() -> Result<ShmBox<RawLock>, Error> {
        let b = ShmBox::new(RawLock::placeholder())?;
        // SAFETY: the box is fresh and not shared yet.
        unsafe { RawLock::init(&*b as *const RawLock as *mut RawLock)? };
        Ok(b)
    }

    fn finish(&self, r: libc::c_int) -> Result<Acquired, RawError> {
        match r {
            0 => {
                self.set_owner();
                Ok(Acquired::Clean)
            }
            libc::EOWNERDEAD => {
                // SAFETY: we hold the mutex (EOWNERDEAD means acquired).
                unsafe { pthread_mutex_consistent(self.m.get()) };
                self.set_owner();
                Ok(Acquired::OwnerDied)
            }
            libc::EBUSY | libc::ETIMEDOUT => Err(RawError::WouldBlock),
            e => Err(RawError::Os(io::Error::from_raw_os_error(e))),
        }
    }

    /// Blocks until acquired (`timeout: None`), or tries until `timeout`.
    pub(crate) fn lock(&self, timeout: Option<Duration>) -> Result<Acquired, RawError> {
        let r = match timeout {
            // SAFETY: an initialized mutex in live shared memory.
            None => unsafe { libc::pthread_mutex_lock(self.m.get()) },
            Some(t) if t.is_zero() => {
                // SAFETY: as above.
                unsafe { libc::pthread_mutex_trylock(self.m.get()) }
            }
            Some(t) => {
                // SAFETY: a valid out pointer.
                let mut now: libc::timespec = unsafe { std::mem::zeroed() };
                // SAFETY: as above.
                unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
                let d = Duration::new(now.tv_sec as u64, now.tv_nsec as u32).saturating_add(t);
                let abs = sys::timespec(d);
                // SAFETY: an initialized mutex; a valid absolute time.
                unsafe { pthread_mutex_clocklock(self.m.get(), libc::CLOCK_MONOTONIC, &abs) }
            }
        };
        self.finish(r)
    }

    /// A non-blocking (`timeout` zero) or timed acquisition, for the
    /// non-recursive users (Lock, Value, Array): a lock this very thread
    /// holds is busy like any other held lock (`WouldBlock`, Python's
    /// `acquire(False)` returning `False`), where the blocking form
    /// reports `EDEADLK` rather than wait forever.
    pub(crate) fn try_lock_for(&self, timeout: Duration) -> Result<Acquired, RawError> {
        match self.lock(Some(timeout)) {
            Err(RawError::Os(e)) if e.raw_os_error() == Some(libc::EDEADLK) => {
                Err(RawError::WouldBlock)
            }
            r => r,
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The calling thread holds it.
    pub(crate) unsafe fn unlock(&self) {
        self.owner_tid.store(0, Ordering::Relaxed);
        self.owner_pid.store(0, Ordering::Release);
        // SAFETY: held by this thread (caller).
        unsafe { libc::pthread_mutex_unlock(self.m.get()) };
    }

    fn set_owner(&self) {
        self.owner_tid.store(sys::gettid(), Ordering::Relaxed);
        self.owner_pid.store(sys::getpid(), Ordering::Release);
    }

    /// Whether some thread holds the lock now (a snapshot): one of this
    /// process, of another, or a dead one whose hold the next owner will
    /// take over.
    pub(crate) fn locked(&self) -> bool {
        self.owner_pid.load(Ordering::Acquire) != 0
    }

    /// Whether the calling thread holds the lock. Exact for the caller's
    /// own thread: only it writes its ids there, and clears them before
    /// it lets go.
    pub(crate) fn held_by_me(&self) -> bool {
        self.owner_pid.load(Ordering::Acquire) == sys::getpid()
            && self.owner_tid.load(Ordering::Relaxed) == sys::gettid()
    }

    /// This lock's identity (see the field).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Who holds the lock, as Python's `repr` says it (`None` while free):
    /// this process's name, followed by `|` and the thread's name when the
    /// caller holds it from a thread other than the main one;
    /// `SomeOtherThread` (a thread of this process other than the caller)
    /// or `SomeOtherProcess`.
    pub(crate) fn owner_name(&self) -> Option<String> {
        let pid = self.owner_pid.load(Ordering::Acquire);
        let tid = self.owner_tid.load(Ordering::Relaxed);
        if pid == 0 {
            return None;
        }
        if pid != sys::getpid() {
            return Some("SomeOtherProcess".to_owned());
        }
        if tid != sys::gettid() {
            return Some("SomeOtherThread".to_owned());
        }
        let me = crate::current_process();
        if tid == pid {
            return Some(me.name().to_owned());
        }
        let thread = std::thread::current();
        let thread = thread.name().map_or_else(|| tid.to_string(), str::to_owned);
        Some(format!("{}|{thread}", me.name()))
    }
}

/// A random lock identity (`getrandom`; a mix of the time, the process id
/// and a counter if the kernel has no entropy to give).
fn new_id() -> u64 {
    let mut id = 0u64;
    // SAFETY: writing at most 8 bytes into a u64 we own.
    let n = unsafe {
        libc::getrandom(
            (&mut id as *mut u64).cast(),
            std::mem::size_of::<u64>(),
            libc::GRND_NONBLOCK,
        )
    };
    if n == 8 && id != 0 {
        return id;
    }
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(sys::getpid()) << 40) ^ COUNT.fetch_add(1, Ordering::Relaxed).rotate_left(20)
}

pub(crate) enum RawError {
    WouldBlock,
    Os(io::Error),
}

/// Turns a raw acquisition into the public result, with `guard` made only
/// once the lock is held.
pub(crate) fn wrap<G>(
    r: Result<Acquired, RawError>,
    guard: impl FnOnce() -> G,
) -> Result<G, LockError<G>> {
    match r {
        Ok(Acquired::Clean) => Ok(guard()),
        Ok(Acquired::OwnerDied) => Err(LockError::OwnerDied(guard())),
        Err(RawError::WouldBlock) => Err(LockError::WouldBlock),
        Err(RawError::Os(e)) => Err(LockError::Os(e)),
    }
}

/// A lock shared by processes. Python: `multiprocessing.Lock`.
///
/// `lock` returns a guard that releases the lock when dropped. When the
/// previous owner died holding it (killed, or its thread ended), `lock`
/// returns [`LockError::OwnerDied`] **with the guard**: the caller holds the
/// lock, can repair what the dead owner left half-done, and the lock works
/// normally afterwards. In Python the lock would stay held forever.
///
/// A forked child inherits the lock (clone it into the closure); a spawned
/// child receives it as an argument. Locking it twice from the same thread
/// is an error (`EDEADLK`), not a deadlock.
///
/// ```
/// use bingfa_process::{Lock, LockError};
/// let lock = Lock::new().unwrap();
/// let child = {
///     let lock = lock.clone();
///     bingfa_process::fork(move || {
///         let _held = lock.lock().unwrap();
///         // Killed while holding the lock.
///         unsafe { libc::raise(libc::SIGKILL) };
///     }).unwrap()
/// };
/// child.join().unwrap();
/// let guard = match lock.lock() {
///     Err(LockError::OwnerDied(g)) => g, // we hold it; repair shared state here
///     other => panic!("expected OwnerDied, got {other:?}"),
/// };
/// drop(guard);
/// assert!(lock.lock().is_ok()); // usable again
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Lock {
    raw: ShmBox<RawLock>,
}

/// `Lock(owner=None)` while free, else who holds it, as Python's `repr`
/// says: `Lock(owner=MainProcess)` (this process's name, and `|` and the
/// thread's name when held from a thread other than the main one),
/// `Lock(owner=SomeOtherThread)`, `Lock(owner=SomeOtherProcess)` (also a
/// dead one, whose hold the next `lock` takes over).
impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.raw.owner_name() {
            Some(owner) => write!(f, "Lock(owner={owner})"),
            None => f.write_str("Lock(owner=None)"),
        }
    }
}

/// Holds a [`Lock`]; releases it when dropped (Python: `Lock.release`, or
/// the end of a `with lock:` block). Not `Send`: the thread that locked
/// must unlock.
///
/// A guard cannot move to another thread (a robust mutex belongs to the
/// thread that locked it):
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let lock = bingfa_process::Lock::new().unwrap();
/// send(lock.lock().unwrap());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard { .. }")
    }
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds.
    pub(crate) fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: a guard exists only while this thread holds the lock.
        unsafe { self.lock.raw.unlock() }
    }
}

impl Lock {
    /// A new, unlocked lock in shared memory. Python:
    /// `multiprocessing.Lock()`.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory or the mutex cannot be made.
    pub fn new() -> Result<Lock, Error> {
        Ok(Lock {
            raw: RawLock::boxed()?,
        })
    }

    /// Acquires the lock, waiting as long as it takes. Python:
    /// `Lock.acquire()`.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] (holding the guard) when the previous owner
    /// died with the lock; [`LockError::Os`] with `EDEADLK` if this thread
    /// already holds it.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> Result<LockGuard<'_>, LockError<LockGuard<'_>>> {
        wrap(self.raw.lock(None), || self.guard())
    }

    /// Acquires the lock if it is free now. Python:
    /// `Lock.acquire(block=False)`.
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] if it is held (also by the calling
    /// thread: Python's `False`); [`LockError::OwnerDied`] as for
    /// [`lock`](Lock::lock).
    pub fn try_lock(&self) -> Result<LockGuard<'_>, LockError<LockGuard<'_>>> {
        wrap(self.raw.try_lock_for(Duration::ZERO), || self.guard())
    }

    /// Acquires the lock, waiting at most `timeout`. Python:
    /// `Lock.acquire(timeout=t)`.
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] if it is still held at the deadline (at
    /// once if the calling thread holds it: no wait could end that);
    /// [`LockError::OwnerDied`] as for [`lock`](Lock::lock).
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<LockGuard<'_>, LockError<LockGuard<'_>>> {
        wrap(self.raw.try_lock_for(timeout), || self.guard())
    }

    /// Whether the lock is held now, by any thread of any process (a
    /// snapshot; a dead owner's hold counts until the next `lock` takes it
    /// over). Python 3.14: `Lock.locked()`.
    pub fn locked(&self) -> bool {
        self.raw.locked()
    }

    fn guard(&self) -> LockGuard<'_> {
        LockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }
}

// SAFETY: a process-shared pthread mutex is made to be used from any
// thread of any process; every access goes through pthread calls.
unsafe impl Sync for RawLock {}
// SAFETY: as above.
unsafe impl Send for RawLock {}
