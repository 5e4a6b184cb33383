//! Thin, checked wrappers over the Linux system calls the crate needs:
//! futex wait/wake (the process-shared blocking under every primitive),
//! membarrier, pidfds, pipes, poll and the cached process id.
//!
//! The system calls go through `rustix` (its `linux_raw` backend: each is
//! an inline `syscall` instruction, with no `errno` and no libc wrapper in
//! between); see the crate docs for why rustix rather than nix. The few
//! calls that stay on `libc` say why where they are made.
//!
//! The futex pair is the one place that differs under loom: there, `wait`
//! and `wake` park on the atomic's address in bingfa-sync's parking lot, so
//! that the ring's protocol runs in a loom model with threads standing in
//! for processes.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, Ordering as StdOrdering};
use std::sync::Once;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal};

use bingfa_sync::raw::atomic::AtomicU32;
use bingfa_sync::raw::Deadline;
use std::sync::atomic::AtomicU32 as StdAtomicU32;

/// Retries `f` while it fails with `EINTR`.
pub(crate) fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// A process id as rustix takes it (`None` for 0 or a number no process
/// can have).
pub(crate) fn pid(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().and_then(Pid::from_raw)
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
    use rustix::thread::futex;
    let ts;
    let timeout = match deadline {
        None => None,
        Some(d) => {
            let left = d.remaining();
            if left.is_zero() {
                return false;
            }
            ts = timespec(left);
            Some(&ts)
        }
    };
    // Shared (no `futex::Flags::PRIVATE`): the word may live in memory
    // mapped by several processes. Any other failure (EAGAIN: the word
    // changed; EINTR) is a spurious return the caller handles.
    !matches!(
        futex::wait(atom, futex::Flags::empty(), expected, timeout),
        Err(Errno::TIMEDOUT)
    )
}

/// Wakes up to `n` waiters sleeping in [`wait`] on `atom`.
#[cfg(not(bingfa_loom))]
pub(crate) fn wake(atom: &AtomicU32, n: u32) {
    use rustix::thread::futex;
    // The kernel takes the count as an int: more than i32::MAX is all.
    let n = n.min(i32::MAX as u32);
    // FUTEX_WAKE only uses the address as a key; it cannot fail on a
    // valid, aligned word.
    let _ = futex::wake(atom, futex::Flags::empty(), n);
}

/// The longest a wait for another process sleeps before it looks again by
/// itself: a bound on what a lost wake-up costs. A process can be killed
/// between changing what a waiter waits for and waking it (a release, a
/// set, a put, a last `task_done`), or right after a wake-up was handed to
/// it and before it acted on it; then nothing else wakes the sleepers. A
/// blocked [`Lock`](crate::Lock) sleeps in slices of this length, and so
/// does every [`wait_checked`].
pub(crate) const WAKE_CHECK: Duration = Duration::from_millis(100);

/// [`wait`] for at most `slice` at a time: returns `false` only when
/// `deadline` passed; a slice that ends first is a spurious return
/// (`true`), after which the caller re-checks its condition as after any
/// wake-up. Under loom too (a slice there ends when the model calls
/// `advance`).
pub(crate) fn wait_sliced(
    atom: &AtomicU32,
    expected: u32,
    deadline: Option<Deadline>,
    slice: Duration,
) -> bool {
    let (until, sliced) = match (deadline, Deadline::after(slice)) {
        (Some(d), Some(s)) if s.remaining() < d.remaining() => (Some(s), true),
        (Some(d), _) => (Some(d), false),
        (None, s) => (s, s.is_some()),
    };
    wait(atom, expected, until) || sliced
}

/// [`wait`] where the waker is another process that may die before it
/// wakes: sleeps at most [`WAKE_CHECK`] at a time (see
/// [`wait_sliced`]), so a lost wake-up costs one slice, not forever.
#[cfg(not(bingfa_loom))]
pub(crate) fn wait_checked(atom: &AtomicU32, expected: u32, deadline: Option<Deadline>) -> bool {
    wait_sliced(atom, expected, deadline, WAKE_CHECK)
}

/// Loom: a plain [`wait`]. No process dies in a model, and a slice that
/// `advance` ended would re-check as after a wake-up, hiding a wake-up the
/// protocol itself lost: the models must see those.
#[cfg(bingfa_loom)]
pub(crate) fn wait_checked(atom: &AtomicU32, expected: u32, deadline: Option<Deadline>) -> bool {
    wait(atom, expected, deadline)
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
    if FORKED.membarrier.load(StdOrdering::Relaxed) == 1 {
        std::sync::atomic::compiler_fence(StdOrdering::SeqCst);
    } else {
        light_barrier_slow();
    }
}

#[cfg(not(bingfa_loom))]
#[cold]
fn light_barrier_slow() {
    if FORKED.membarrier.load(StdOrdering::Relaxed) == 0 {
        // Registering has no effect other than enrolling this process in
        // expedited barriers.
        let r =
            rustix::thread::membarrier(rustix::thread::MembarrierCommand::RegisterGlobalExpedited);
        let state = if r.is_ok() { 1 } else { 2 };
        FORKED.membarrier.store(state, StdOrdering::Relaxed);
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
    rustix::thread::membarrier(rustix::thread::MembarrierCommand::GlobalExpedited).is_ok()
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
    let _ = &FORKED.membarrier;
    true
}

/// A `Duration` as a `Timespec`.
#[cfg_attr(bingfa_loom, allow(dead_code))]
pub(crate) fn timespec(d: Duration) -> rustix::time::Timespec {
    rustix::time::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos().into(),
    }
}

/// A `Duration` as the C library's `timespec`, for libc calls
/// (`pthread_mutex_clocklock`); [`timespec`] gives rustix's, for its futex
/// and poll calls.
pub(crate) fn libc_timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// `CLOCK_MONOTONIC` now, as a `Duration` since its origin: the clock
/// `pthread_mutex_clocklock` deadlines are measured on.
pub(crate) fn monotonic_now() -> Duration {
    // `libc`, not rustix: rustix reads the clock through its own vDSO
    // parser, which crashes under valgrind (rustix#1559).
    // SAFETY: a valid out pointer; CLOCK_MONOTONIC always exists on Linux.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

// ---------------------------------------------------------------------------
// process ids
// ---------------------------------------------------------------------------

/// The statics a forked child writes on its way to its entry point (the
/// fork handler's resets, then its identity and status pipe), together on
/// one cache line: the first write to a page after `fork` is a
/// copy-on-write fault, a microsecond or two of every start.
#[repr(C, align(64))]
pub(crate) struct Forked {
    /// This process's id, cached (0: not read yet).
    pub(crate) pid: AtomicI32,
    /// The write end of this child's status pipe (-1 in the main process).
    pub(crate) report_fd: AtomicI32,
    /// The reaper thread of this process (0: none).
    pub(crate) reaper_tid: StdAtomicU32,
    /// This process's `membarrier` registration: 0 not tried yet, 1
    /// registered, 2 refused by the kernel.
    pub(crate) membarrier: AtomicU8,
    /// The registry of this process's children (see `process::registry`).
    pub(crate) registry: AtomicPtr<crate::process::registry::Registry>,
    /// The current process's identity when it is a child started by this
    /// crate (null in the main process). Points to a leaked box.
    pub(crate) current: AtomicPtr<crate::ProcessInfo>,
    /// A forked child's report slot (null elsewhere) and its generation
    /// (see `process::report`).
    pub(crate) report_slot: AtomicPtr<u8>,
    pub(crate) report_generation: StdAtomicU32,
}

/// See [`Forked`].
pub(crate) static FORKED: Forked = Forked {
    pid: AtomicI32::new(0),
    report_fd: AtomicI32::new(-1),
    reaper_tid: StdAtomicU32::new(0),
    membarrier: AtomicU8::new(0),
    registry: AtomicPtr::new(std::ptr::null_mut()),
    current: AtomicPtr::new(std::ptr::null_mut()),
    report_slot: AtomicPtr::new(std::ptr::null_mut()),
    report_generation: StdAtomicU32::new(0),
};

static ATFORK: Once = Once::new();

extern "C" fn atfork_child() {
    // Async-signal-safe: atomic stores. The parent's registry is
    // forgotten (leaked in the child, never locked: another thread may
    // have held its lock); the child builds its own on first use.
    FORKED.pid.store(0, StdOrdering::Relaxed);
    FORKED.membarrier.store(0, StdOrdering::Relaxed);
    FORKED
        .registry
        .store(std::ptr::null_mut(), StdOrdering::Relaxed);
    FORKED.reaper_tid.store(0, StdOrdering::Relaxed);
}

/// Registers the fork handler that keeps the caches of this crate right in
/// a child made by any `fork` (ours or the user's own `libc::fork`).
/// `libc`: `pthread_atfork` belongs to the C library's `fork`, which rustix
/// does not wrap.
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
    let p = FORKED.pid.load(StdOrdering::Relaxed);
    if p != 0 {
        return p as u32;
    }
    ensure_atfork();
    let p = rustix::process::getpid().as_raw_nonzero().get();
    FORKED.pid.store(p, StdOrdering::Relaxed);
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
    let read = || rustix::thread::gettid().as_raw_nonzero().get() as u32;
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
    let Some(p) = self::pid(pid) else {
        return false;
    };
    // Signal 0 only checks for existence and permission.
    if rustix::process::test_kill_process(p) == Err(Errno::SRCH) {
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
    let gone = |e: &io::Error| {
        matches!(
            e.raw_os_error().map(Errno::from_raw_os_error),
            Some(Errno::NOENT | Errno::SRCH)
        )
    };
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

/// `/dev/null`, opened for reading once per process (close-on-exec), for
/// [`stdin_from_dev_null`]; -1 until then, or if it could not be opened.
static DEV_NULL: AtomicI32 = AtomicI32::new(-1);
/// The device and inode of that `/dev/null`, to recognize the descriptor
/// (user code may have closed it and reused its number).
static DEV_NULL_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A descriptor's device and inode, folded into one word (0 if `fstat`
/// fails).
fn file_id(fd: i32) -> u64 {
    // SAFETY: `fstat` into a zeroed local `stat`.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return 0;
        }
        (st.st_rdev as u64).rotate_left(32) ^ (st.st_ino as u64) ^ (st.st_dev as u64).rotate_left(16)
    }
}

/// In the parent, before a fork: opens `/dev/null` once for the children's
/// standard input (a child then needs only a `dup2`: opening the file in
/// each child cost about 10 us of a 120 us fork and join, measured). Best
/// effort: on failure the child opens it itself. Opens it again if the
/// descriptor is no longer that file (user code closed it; its number is
/// not ours any more and is left alone).
pub(crate) fn prepare_dev_null() {
    let cached = DEV_NULL.load(StdOrdering::Relaxed);
    if cached >= 0 && file_id(cached) == DEV_NULL_ID.load(StdOrdering::Relaxed) {
        return;
    }
    // SAFETY: opens a literal path; the descriptor is owned by `DEV_NULL`
    // for the rest of the process (or closed right away if another thread
    // stored one first).
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return;
        }
        // The id first: a child that sees the descriptor sees its id.
        DEV_NULL_ID.store(file_id(fd), StdOrdering::Relaxed);
        if DEV_NULL
            .compare_exchange(cached, fd, StdOrdering::Release, StdOrdering::Relaxed)
            .is_err()
        {
            // Another thread stored a fresh one first.
            libc::close(fd);
        }
    }
}

/// The descriptor [`prepare_dev_null`] opened, if it did (for tests).
#[cfg(feature = "__test-hooks")]
pub(crate) fn dev_null_fd() -> Option<i32> {
    let fd = DEV_NULL.load(StdOrdering::Relaxed);
    (fd >= 0).then_some(fd)
}

/// Makes descriptor 0 read `/dev/null`, in a child (Python's
/// `_close_stdin`): a `dup2` of the descriptor [`prepare_dev_null`] opened
/// and checked in the parent just before the fork, or, if there is none,
/// an `open` of its own. Async-signal-safe: `dup2`, `open`, `close` and
/// `fcntl`, no allocation, no lock. If `/dev/null` cannot be opened,
/// descriptor 0 stays as it was.
///
/// The child does not check the descriptor again: only another thread of
/// the parent closing a descriptor it does not own (which I/O safety
/// forbids) between that check and the fork could change it, and a check
/// here (an `fstat` into a buffer on the child's stack, one more
/// copy-on-write page) cost ~5% of a fork and join, measured.
pub(crate) fn stdin_from_dev_null() {
    let cached = DEV_NULL.load(StdOrdering::Acquire);
    // SAFETY: plain system calls on a literal path, on descriptors this
    // crate opened (and on 0, which it means to replace). dup2 clears
    // close-on-exec on the copy.
    unsafe {
        if cached > 0 && libc::dup2(cached, 0) == 0 {
            return;
        }
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return;
        }
        if fd == 0 {
            // Descriptor 0 was closed, and the open took it: keep it, and
            // let programs this child executes inherit it.
            libc::fcntl(0, libc::F_SETFD, 0);
        } else {
            libc::dup2(fd, 0);
            libc::close(fd);
        }
    }
}

/// A pipe, both ends close-on-exec: `(read, write)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// A pipe for a child's status report, both ends close-on-exec and
/// non-blocking: `(read, write)`. The parent reads it only after the child
/// ended, so its end never waits (no `fcntl` needed then); the child's
/// writes are a byte or a message far below the pipe's capacity, and a
/// longer message makes its end blocking first (see
/// `child::report_failure`).
pub(crate) fn report_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::pipe::PipeFlags;
    Ok(rustix::pipe::pipe_with(
        PipeFlags::CLOEXEC | PipeFlags::NONBLOCK,
    )?)
}

/// Sets or clears `O_NONBLOCK`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    use rustix::fs::OFlags;
    let mut flags = rustix::fs::fcntl_getfl(fd)?;
    flags.set(OFlags::NONBLOCK, on);
    Ok(rustix::fs::fcntl_setfl(fd, flags)?)
}

/// Writes all of `buf` (retrying short writes and `EINTR`).
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = retry(|| rustix::io::write(fd, buf))?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}

/// Reads into `buf`; `Ok(0)` at end of file.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    retry(|| rustix::io::read(fd, &mut *buf))
}

/// Waits until `fd` is readable (or hung up) or `timeout` passes (`None`:
/// forever). Returns whether it became ready.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags};
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    loop {
        let left =
            deadline.map(|d| timespec(d.saturating_duration_since(std::time::Instant::now())));
        let mut p = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut p, left.as_ref()) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(n) if n > 0 => return Ok(true),
            Ok(_) => {}
        }
        match deadline {
            // A spurious zero without a time limit: poll again.
            None => {}
            Some(d) if std::time::Instant::now() >= d => return Ok(false),
            Some(_) => {}
        }
    }
}

/// `pidfd_open(pid)`: a descriptor that refers to exactly this process,
/// immune to pid reuse, readable once it has exited (close-on-exec).
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let p = self::pid(pid).ok_or_else(|| io::Error::from(Errno::SRCH))?;
    Ok(rustix::process::pidfd_open(
        p,
        rustix::process::PidfdFlags::empty(),
    )?)
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
pub(crate) fn pidfd_open_child(pid: u32) -> io::Result<OwnedFd> {
    let e = match pidfd_open(pid) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    if let (Some(p), false) = (
        self::pid(pid),
        e.raw_os_error() == Some(Errno::SRCH.raw_os_error()),
    ) {
        use rustix::process::WaitOptions;
        let _ = rustix::process::kill_process(p, Signal::KILL);
        // Ends with its status, or ECHILD where the kernel reaps.
        let _ = retry(|| rustix::process::waitpid(Some(p), WaitOptions::empty()));
    }
    Err(e)
}

/// `pidfd_send_signal`: signals exactly the process the pidfd refers to.
/// Signal 0 sends nothing (as `kill(pid, 0)`, it would only check that the
/// process exists). A number that is neither a signal the kernel names
/// nor a real-time signal the C library leaves to programs
/// (`SIGRTMIN..=SIGRTMAX`) is `EINVAL`: the two below `SIGRTMIN` are the C
/// library's own (thread cancellation, `setxid`).
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    if sig == 0 {
        return Ok(());
    }
    let sig = match Signal::from_named_raw(sig) {
        Some(s) => s,
        // `libc`: SIGRTMIN and SIGRTMAX are the C library's choice, read
        // from it at run time (rustix leaves them to rustix-libc-wrappers).
        None if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig) => {
            // SAFETY: a real-time signal the C library leaves to programs
            // (not one of its reserved ones), sent to another process.
            unsafe { Signal::from_raw_unchecked(sig) }
        }
        None => return Err(Errno::INVAL.into()),
    };
    Ok(rustix::process::pidfd_send_signal(pidfd, sig)?)
}

/// Reaps the child `pidfd` refers to if it has exited (never blocks):
/// `Ok(None)` while it runs.
pub(crate) fn try_wait_pidfd(pidfd: BorrowedFd<'_>) -> io::Result<Option<crate::ExitStatus>> {
    use rustix::process::{WaitId, WaitIdOptions};
    // P_PIDFD refers to exactly this child, whatever happened to its pid.
    let status = retry(|| {
        rustix::process::waitid(
            WaitId::PidFd(pidfd.as_fd()),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        )
    })?;
    Ok(
        status.map(|s| match (s.exit_status(), s.terminating_signal()) {
            (Some(code), _) => crate::ExitStatus::Code(code),
            (None, Some(sig)) => crate::ExitStatus::Signal(sig),
            (None, None) => unreachable!("waitid(WEXITED) reports only ended children"),
        }),
    )
}

/// The test of a bounded wait: a wake-up lost by hand.
#[cfg(all(test, not(bingfa_loom)))]
pub(crate) mod lost_wake_up {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// Runs `wait` (which blocks until the change `lose` makes, then
    /// returns `true`) on a thread of its own; once `asleep` says it
    /// registered to sleep, gives it 50 ms to reach the futex wait, then
    /// runs `lose`: the change without its wake-up, as a waker killed
    /// between the two leaves it. Checks that `wait` returns anyway, in a
    /// few [`WAKE_CHECK`](super::WAKE_CHECK) slices (30 s allowed, for a
    /// loaded machine), where an unbounded sleep would never end.
    pub(crate) fn check(
        wait: impl FnOnce() -> bool + Send + 'static,
        asleep: impl Fn() -> bool,
        lose: impl FnOnce(),
    ) {
        let (done_tx, done_rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = done_tx.send(wait());
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while !asleep() {
            assert!(Instant::now() < deadline, "the waiter never went to sleep");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        lose();
        let got = done_rx.recv_timeout(Duration::from_secs(30));
        assert_eq!(got, Ok(true), "the waiter slept through the change");
        waiter.join().unwrap();
    }
}
