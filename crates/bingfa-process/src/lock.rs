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
use crate::sys::{self, WAKE_CHECK};

/// `PTHREAD_MUTEX_ROBUST` (glibc).
const ROBUST: libc::c_int = 1;

// `libc` for the whole mutex: a robust, process-shared mutex is the C
// library's (the kernel only walks the robust list the C library keeps for
// each thread), and neither rustix nor nix wraps it. These three are not
// in the libc crate for every target yet, hence the declarations.
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
    ///
    /// A blocking wait is a series of timed waits of [`WAKE_CHECK`] each,
    /// never one unbounded `pthread_mutex_lock`: when a process is killed
    /// while it holds the mutex, or while it is being handed the mutex, the
    /// wake-up that the kernel's robust-list walk or the unlocking thread
    /// sends can be lost, and the waiters then sleep on a mutex that is
    /// free (or marked owner-died) until something interrupts them. Seen in
    /// bingfa-tickets' `buyers_killed_at_random_break_nothing` (20
    /// processes, 5 killed at random), about once in 40 runs pinned to one
    /// CPU: every buyer asleep in the futex wait, and attaching a debugger
    /// (which interrupts the wait) let all of them finish. Each slice ends
    /// with a fresh attempt, so such a loss costs at most one slice.
    pub(crate) fn lock(&self, timeout: Option<Duration>) -> Result<Acquired, RawError> {
        let r = match timeout {
            None => {
                // SAFETY: an initialized mutex in live shared memory.
                let mut r = unsafe { libc::pthread_mutex_trylock(self.m.get()) };
                while r == libc::EBUSY || r == libc::ETIMEDOUT {
                    r = self.lock_until(WAKE_CHECK);
                }
                r
            }
            Some(t) if t.is_zero() => {
                // SAFETY: as above.
                unsafe { libc::pthread_mutex_trylock(self.m.get()) }
            }
            Some(t) => {
                let deadline = sys::monotonic_now().saturating_add(t);
                loop {
                    let left = deadline.saturating_sub(sys::monotonic_now());
                    let r = self.lock_until(left.min(WAKE_CHECK));
                    if r != libc::ETIMEDOUT || left <= WAKE_CHECK {
                        break r;
                    }
                }
            }
        };
        self.finish(r)
    }

    /// One `pthread_mutex_clocklock` of at most `t`: its raw result.
    fn lock_until(&self, t: Duration) -> libc::c_int {
        let abs = sys::libc_timespec(sys::monotonic_now().saturating_add(t));
        // SAFETY: an initialized mutex in live shared memory; a valid
        // absolute time.
        unsafe { pthread_mutex_clocklock(self.m.get(), libc::CLOCK_MONOTONIC, &abs) }
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
    let mut bytes = [0u8; 8];
    let n = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::NONBLOCK);
    let id = u64::from_ne_bytes(bytes);
    if matches!(n, Ok(8)) && id != 0 {
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
///     let child_main = move || {
///         let _held = lock.lock().unwrap();
///         // Killed while holding the lock.
///         // SAFETY: raise has no preconditions; the process ends here.
///         unsafe { libc::raise(libc::SIGKILL) };
///     };
///     // SAFETY: a doctest is a program of its own, with no other thread.
///     unsafe { bingfa_process::fork(child_main) }.unwrap()
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

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI32;
    use std::sync::mpsc;
    use std::time::Instant;

    /// A wake-up that never comes (as when the process that should send it
    /// is killed at the wrong moment) costs a blocked `lock` one
    /// [`WAKE_CHECK`] slice, not the rest of its life. The loss is made by
    /// hand: the holder's thread clears the futex word (glibc keeps it
    /// first in `pthread_mutex_t`) without the wake an unlock would send.
    #[test]
    fn a_lost_wake_up_costs_one_slice_not_forever() {
        let b = RawLock::boxed().unwrap();
        let lock: &'static RawLock = Box::leak(Box::new(b));
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            assert!(matches!(lock.lock(None), Ok(Acquired::Clean)));
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            // SAFETY: the word is an aligned i32 inside the live mutex; the
            // test wants it cleared with no futex wake (a lost wake-up).
            let word = unsafe { &*(lock.m.get() as *const AtomicI32) };
            word.store(0, Ordering::Release);
            // This thread ends holding nothing the kernel would recognise:
            // its robust-list walk at exit matches no owner and changes
            // nothing.
        });
        held_rx.recv().unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let r = lock.lock(None);
            let ok = r.is_ok();
            if ok {
                // SAFETY: acquired just above by this thread.
                unsafe { lock.unlock() };
            }
            done_tx.send(ok).unwrap();
        });
        // Let the waiter block in the futex wait, then lose its wake-up.
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        go_tx.send(()).unwrap();
        holder.join().unwrap();
        let got = done_rx.recv_timeout(Duration::from_secs(30));
        assert_eq!(got, Ok(true), "the waiter never took the freed lock");
        assert!(start.elapsed() < Duration::from_secs(30));
        waiter.join().unwrap();
    }
}
