//! Thin, checked wrappers over the Linux system calls the crate needs:
//! futex wait/wake (the process-shared blocking under every primitive),
//! pidfds, pipes, memfd and the cached process id.
//!
//! The futex pair is the one place that differs under loom: there, `wait`
//! and `wake` park on the atomic's address in bingfa-sync's parking lot, so
//! that the ring's protocol runs in a loom model with threads standing in
//! for processes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering as StdOrdering};
use std::sync::Once;
use std::time::Duration;

use bingfa_sync::raw::atomic::AtomicU32;
use bingfa_sync::raw::Deadline;

/// The last OS error as an `io::Error`.
pub(crate) fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// Turns a `-1` return into the errno as an error.
pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(last_error())
    } else {
        Ok(r)
    }
}

/// Retries `f` while it fails with `EINTR`.
pub(crate) fn cvt_retry(mut f: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

// ---------------------------------------------------------------------------
// futex facade
// ---------------------------------------------------------------------------

/// Sleeps while `*atom == expected`, until [`wake`] is called on the same
/// address (from any process that maps it) or `deadline` passes. Returns
/// `false` only when the deadline passed. Spurious returns are allowed: the
/// caller re-checks its condition in a loop.
#[cfg(not(bingfa_loom))]
pub(crate) fn wait(atom: &AtomicU32, expected: u32, deadline: Option<Deadline>) -> bool {
    let ts;
    let tsp = match deadline {
        None => std::ptr::null(),
        Some(d) => {
            let left = d.remaining();
            if left.is_zero() {
                return false;
            }
            ts = timespec(left);
            &ts as *const libc::timespec
        }
    };
    // SAFETY: FUTEX_WAIT (shared: no FUTEX_PRIVATE_FLAG, since the word may
    // live in memory mapped by several processes) reads the aligned u32 at
    // `atom`, which is valid for the duration of the call; `tsp` is null or
    // points to a live timespec.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            atom as *const AtomicU32,
            libc::FUTEX_WAIT,
            expected,
            tsp,
        )
    };
    if r == -1 && last_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        return false;
    }
    true
}

/// Wakes up to `n` waiters sleeping in [`wait`] on `atom`.
#[cfg(not(bingfa_loom))]
pub(crate) fn wake(atom: &AtomicU32, n: u32) {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: FUTEX_WAKE only uses the address as a key; it never
    // dereferences it beyond checking it is mapped.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            atom as *const AtomicU32,
            libc::FUTEX_WAKE,
            n,
        );
    }
}

/// Loom: parks on the atomic's address; the compare runs under the parking
/// lot's queue lock, as the kernel's compare runs under the futex hash
/// bucket lock.
#[cfg(bingfa_loom)]
pub(crate) fn wait(atom: &AtomicU32, expected: u32, deadline: Option<Deadline>) -> bool {
    use bingfa_sync::raw::atomic::Ordering;
    use bingfa_sync::raw::park;
    let key = atom as *const AtomicU32 as usize;
    // SAFETY: the key is the address of a word owned by the ring; validate
    // and timed_out neither panic nor park.
    let r = unsafe {
        park::park(
            key,
            || atom.load(Ordering::SeqCst) == expected,
            || {},
            |_, _| {},
            0,
            deadline,
        )
    };
    !matches!(r, park::ParkResult::TimedOut)
}

/// Loom: unparks up to `n` threads parked on the atomic's address.
#[cfg(bingfa_loom)]
pub(crate) fn wake(atom: &AtomicU32, n: u32) {
    use bingfa_sync::raw::park;
    let key = atom as *const AtomicU32 as usize;
    if n == u32::MAX {
        // SAFETY: key owned by the ring.
        unsafe { park::unpark_all(key, 0) };
    } else {
        for _ in 0..n {
            // SAFETY: key owned by the ring; the callback neither panics nor parks.
            let r = unsafe { park::unpark_one(key, |_| 0) };
            if r.unparked_threads == 0 {
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// asymmetric Dekker barrier
// ---------------------------------------------------------------------------

/// `membarrier(2)` commands (linux/membarrier.h).
#[cfg(not(bingfa_loom))]
const MEMBARRIER_CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
#[cfg(not(bingfa_loom))]
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

/// This process's `membarrier` registration: 0 not tried yet, 1
/// registered, 2 refused by the kernel. Reset in a forked child.
static MEMBARRIER: AtomicU8 = AtomicU8::new(0);

/// The cheap side of a Dekker handshake between processes: the caller
/// stored something (a published slot) and is about to load a waiter
/// count. Pairs with [`heavy_barrier`] in the waiter, which registered
/// before re-checking the slot: either the waiter sees the store or the
/// caller sees the registration.
///
/// Once this process is registered for `membarrier`'s global expedited
/// command, this is only a compiler fence: a waiter's `heavy_barrier`
/// makes every running thread of every registered process execute a full
/// barrier (an IPI) before it returns, so a load of the caller cannot have
/// passed its earlier store unseen (the asymmetric fence of liburcu and
/// folly's `asymmetricLightBarrier`). Until then (the first call of each
/// process), or when the kernel refuses `membarrier`, it is a SeqCst fence.
#[cfg(not(bingfa_loom))]
#[inline]
pub(crate) fn light_barrier() {
    if MEMBARRIER.load(StdOrdering::Relaxed) == 1 {
        std::sync::atomic::compiler_fence(StdOrdering::SeqCst);
    } else {
        light_barrier_slow();
    }
}

#[cfg(not(bingfa_loom))]
#[cold]
fn light_barrier_slow() {
    if MEMBARRIER.load(StdOrdering::Relaxed) == 0 {
        // SAFETY: membarrier with integer arguments; registering has no
        // effect other than enrolling this process in expedited barriers.
        let r = unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
                0,
                0,
            )
        };
        let state = if r == 0 { 1 } else { 2 };
        MEMBARRIER.store(state, StdOrdering::Relaxed);
    }
    // This call (and every call while refused) is a real fence: a waiter's
    // membarrier that ran before the registration did not reach us.
    std::sync::atomic::fence(StdOrdering::SeqCst);
}

/// The expensive side of the handshake of [`light_barrier`]: a SeqCst
/// fence here, then `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, a full
/// barrier on every running thread of every registered process. Called by
/// a waiter between registering and re-checking, just before it sleeps in
/// a system call anyway. Returns `false` if the kernel refused the
/// membarrier: then a registered waker's light barrier may not be ordered
/// against this waiter, and the caller must not sleep without a time
/// limit.
#[cfg(not(bingfa_loom))]
pub(crate) fn heavy_barrier() -> bool {
    std::sync::atomic::fence(StdOrdering::SeqCst);
    // SAFETY: membarrier with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) };
    r == 0
}

/// Loom: the symmetric protocol, a SeqCst fence on each side.
#[cfg(bingfa_loom)]
#[inline]
pub(crate) fn light_barrier() {
    bingfa_sync::raw::atomic::fence(bingfa_sync::raw::atomic::Ordering::SeqCst);
}

/// Loom: the symmetric protocol, a SeqCst fence on each side.
#[cfg(bingfa_loom)]
pub(crate) fn heavy_barrier() -> bool {
    bingfa_sync::raw::atomic::fence(bingfa_sync::raw::atomic::Ordering::SeqCst);
    let _ = &MEMBARRIER;
    true
}

/// A `Duration` as a `timespec`.
#[cfg_attr(bingfa_loom, allow(dead_code))]
pub(crate) fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

// ---------------------------------------------------------------------------
// process ids
// ---------------------------------------------------------------------------

static MY_PID: AtomicI32 = AtomicI32::new(0);
static ATFORK: Once = Once::new();

extern "C" fn atfork_child() {
    // Async-signal-safe: one atomic store.
    MY_PID.store(0, StdOrdering::Relaxed);
    MEMBARRIER.store(0, StdOrdering::Relaxed);
    crate::process::registry::forget_after_fork();
    crate::process::threads::forget_after_fork();
}

/// Registers the fork handler that keeps the caches of this crate right in
/// a child made by any `fork` (ours or the user's own `libc::fork`).
pub(crate) fn ensure_atfork() {
    ATFORK.call_once(|| {
        // SAFETY: registering a handler; the handler is async-signal-safe.
        unsafe { libc::pthread_atfork(None, None, Some(atfork_child)) };
    });
}

/// This process's id, cached (glibc no longer caches `getpid`). The cache
/// is cleared in every forked child by a `pthread_atfork` handler.
#[inline]
pub(crate) fn getpid() -> u32 {
    let p = MY_PID.load(StdOrdering::Relaxed);
    if p != 0 {
        return p as u32;
    }
    ensure_atfork();
    // SAFETY: getpid has no preconditions.
    let p = unsafe { libc::getpid() };
    MY_PID.store(p, StdOrdering::Relaxed);
    p as u32
}

thread_local! {
    /// This thread's id, and the process id it was read in (a forked
    /// child's thread has a new id: the cache is read again there).
    static TID: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// The calling thread's id (`gettid`), cached per thread.
#[inline]
pub(crate) fn gettid() -> u32 {
    let pid = getpid();
    let read = || {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() as u32 }
    };
    TID.try_with(|c| {
        let (p, t) = c.get();
        if p == pid {
            t
        } else {
            let t = read();
            c.set((pid, t));
            t
        }
    })
    .unwrap_or_else(|_| read())
}

/// Whether the process `pid` still exists (a zombie counts as dead: it
/// will never run another instruction). `EPERM` means it exists. A process
/// whose main thread has ended while other threads run on (the main thread
/// called `pthread_exit`) shows as a zombie in `/proc/PID/stat` but is
/// alive: its threads are looked at too.
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if r == -1 && last_error().raw_os_error() == Some(libc::ESRCH) {
        return false;
    }
    // A zombie still answers kill(0): look at its state in /proc.
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(bytes) => {
            // "pid (comm) S ...": the state follows the last ')'.
            !stat_says_dead(&bytes) || other_thread_alive(pid)
        }
        // kill did not say ESRCH, so it exists (or EPERM: exists, not ours);
        // /proc may hide it (hidepid, another pid namespace). When in
        // doubt, alive: judging a live process dead would let another
        // process take over the slot it is still working on.
        Err(_) => true,
    }
}

/// Whether a `/proc/.../stat` line shows a zombie or a dead task.
fn stat_says_dead(stat: &[u8]) -> bool {
    // "pid (comm) S ...": the state follows the last ')'.
    match stat.iter().rposition(|&b| b == b')') {
        Some(i) => matches!(stat.get(i + 2), Some(b'Z') | Some(b'X')),
        None => false,
    }
}

/// Whether a thread of process `pid` other than its main thread still
/// runs (the main thread having ended first). Only a task that is not
/// there (`ENOENT`, `ESRCH`) counts as gone: any other failure to read
/// `/proc` (out of descriptors or memory, a security module) counts as
/// alive, since judging a live process dead would let another process take
/// over the slot it is still working on.
fn other_thread_alive(pid: u32) -> bool {
    let gone = |e: &io::Error| matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH));
    let tasks = match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(tasks) => tasks,
        Err(e) => return !gone(&e),
    };
    let me = pid.to_string();
    tasks.into_iter().any(|t| match t {
        Err(e) => !gone(&e),
        Ok(t) if t.file_name().to_str() == Some(&me) => false,
        Ok(t) => match std::fs::read(t.path().join("stat")) {
            Ok(b) => !stat_says_dead(&b),
            Err(e) => !gone(&e),
        },
    })
}

// ---------------------------------------------------------------------------
// file descriptors
// ---------------------------------------------------------------------------

/// A pipe, both ends close-on-exec: `(read, write)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pipe for a child's status report, both ends close-on-exec and
/// non-blocking: `(read, write)`. The parent reads it only after the child
/// ended, so its end never waits (no `fcntl` needed then); the child's
/// writes are a byte or a message far below the pipe's capacity, and a
/// longer message makes its end blocking first (see
/// `child::report_failure`).
pub(crate) fn report_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    // SAFETY: pipe2 returned two fresh descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets or clears `O_NONBLOCK`.
pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) })?;
    Ok(())
}

/// Writes all of `buf` (retrying short writes and `EINTR`).
pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = last_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Reads into `buf`; `Ok(0)` at end of file.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = last_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(n as usize);
    }
}

/// Waits until `fd` is readable (or hung up) or `timeout` passes (`None`:
/// forever). Returns whether it became ready.
pub(crate) fn poll_readable(fd: RawFd, timeout: Option<Duration>) -> io::Result<bool> {
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                // Round up so that a short wait is not a busy loop.
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
            }
        };
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = last_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r > 0 {
            return Ok(true);
        }
        if ms == 0 {
            return Ok(false);
        }
        if let Some(d) = deadline {
            if std::time::Instant::now() >= d {
                return Ok(false);
            }
        }
    }
}

/// `pidfd_open(pid)`: a descriptor that refers to exactly this process,
/// immune to pid reuse, readable once it has exited.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(last_error());
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    // pidfd_open sets O_CLOEXEC itself.
    Ok(fd)
}

/// [`pidfd_open`] for a child this process has just started. If it fails
/// (the descriptor limit, a kernel older than 5.3), the child is killed
/// and reaped before the error is returned: nothing would track it, and it
/// would run on untracked, then stay a zombie once it ended.
///
/// `ESRCH` means the child is already gone, reaped by someone else (a
/// program that reaps with `waitpid(-1)`, or ignores `SIGCHLD` so that the
/// kernel reaps): its pid may already be another process's, so it is not
/// signalled. Otherwise the pid is still the child's: it is ours and not
/// reaped, except in a program that ignores `SIGCHLD`, where it could end,
/// be reaped and its pid be taken by a new process between `fork` and this
/// `kill`, a window of microseconds that pid numbers would have to wrap
/// around within.
pub(crate) fn pidfd_open_child(pid: libc::pid_t) -> io::Result<OwnedFd> {
    let e = match pidfd_open(pid) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    if e.raw_os_error() != Some(libc::ESRCH) {
        // SAFETY: signalling our own child (see above).
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let mut status = 0;
        // Ends with its status, or ECHILD where the kernel reaps.
        // SAFETY: waiting for our own child; `status` is a valid out
        // pointer.
        while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
            && last_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
    Err(e)
}

/// `pidfd_send_signal`: signals exactly the process the pidfd refers to.
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall; a null siginfo is allowed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(last_error());
    }
    Ok(())
}
