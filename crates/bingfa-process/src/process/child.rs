//! The child's side: the `fork` start method, how a child reports the
//! message and location of a panic that ended it (a forked child through
//! a slot of shared memory, see `report`; a spawned child through its
//! status pipe, which also says that its entry point ran), and the current
//! process's identity.
//!
//! # What runs between `fork` and the closure
//!
//! Only async-signal-safe steps touching no lock: `prctl` and `getppid`
//! (daemons only), and stores to atomics that hold pointers prepared
//! by the parent before the fork. The crate's own fork handler (registered
//! with `pthread_atfork`) only stores to a few atomics. The panic hook that
//! records a panic's location is installed by the parent, before the fork.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Once};

use super::{registry, report, Builder, Child, Process, ProcessInfo, Report};
use crate::error::Error;
use crate::sys;

// The current process's identity and the write end of its status pipe
// are `sys::FORKED.current` and `.report_fd`.

/// The marker a child writes once its entry point is about to run.
const STARTED: u8 = b'S';
/// The marker that precedes a panic message.
const PANICKED: u8 = b'P';
/// A panic message is cut to this size: what a forked child's report slot
/// holds, and, through a spawned child's pipe, short enough that the write
/// never blocks on a full pipe (the parent reads it only after the child
/// ended): a pipe holds at least one page (4 KiB) even when its user is
/// over `pipe-user-pages-soft`, and the message shares it with the two
/// markers.
const MAX_MESSAGE: usize = report::MAX_MESSAGE;

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

pub(crate) fn current() -> Option<&'static ProcessInfo> {
    let p = sys::FORKED.current.load(Ordering::Acquire);
    // SAFETY: the pointer is null or a leaked box that is never freed.
    unsafe { p.as_ref() }
}

pub(crate) fn set_current(info: ProcessInfo) {
    sys::FORKED
        .current
        .store(Box::into_raw(Box::new(info)), Ordering::Release);
}

/// Installs (once per process) a panic hook that, in a child of this
/// crate, records the panic's message and location for the parent, then
/// calls the previous hook.
pub(crate) fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if is_reporting_child() {
                let msg = payload_message(info.payload());
                let text = match info.location() {
                    Some(l) => format!("{msg} (at {}:{}:{})", l.file(), l.line(), l.column()),
                    None => msg,
                };
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
            }
            prev(info);
        }));
    });
}

fn payload_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// In the child: remembers the status pipe and tells the parent the entry
/// point is about to run (what the parent of a spawned child checks: the
/// program reached `init`). Async-signal-safe.
pub(crate) fn report_started(fd: RawFd) {
    sys::FORKED.report_fd.store(fd, Ordering::Relaxed);
    if let Some(fd) = report_fd() {
        let _ = sys::write_all(fd, &[STARTED]);
    }
}

/// The write end of this child's status pipe, if it is a child of this
/// crate.
fn report_fd() -> Option<BorrowedFd<'static>> {
    let fd = sys::FORKED.report_fd.load(Ordering::Relaxed);
    // SAFETY: the descriptor is -1 or the write end of the status pipe, which
    // this process never closes (its owner was forgotten), so it stays
    // open as long as the process.
    (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
}

/// In a forked child: remembers its report slot, for a panic message.
/// There is nothing to confirm (the entry point is a closure of this very
/// program), so nothing is written. Async-signal-safe.
fn remember_report_slot((slot, generation): (*mut u8, u32)) {
    sys::FORKED
        .report_generation
        .store(generation, Ordering::Relaxed);
    sys::FORKED.report_slot.store(slot, Ordering::Relaxed);
}

/// Whether this process is a child of this crate with somewhere to report
/// a panic.
fn is_reporting_child() -> bool {
    !sys::FORKED.report_slot.load(Ordering::Relaxed).is_null()
        || sys::FORKED.report_fd.load(Ordering::Relaxed) >= 0
}

/// How a child ends once its entry point has returned.
#[derive(Clone, Copy)]
pub(crate) struct Ending {
    /// Leave with `_exit` (a forked child must not run the parent's
    /// `atexit` handlers) rather than `exit`.
    pub(crate) fast: bool,
    /// Flush stdout first: not in the child of a process that had other
    /// threads when it forked, where the lock of stdout may be held
    /// forever.
    pub(crate) flush: bool,
}

/// In the child: runs the entry point, reports a panic, waits for the
/// threads the entry point started (unless `join_threads` is `None`; else
/// the threads that existed before it), flushes stdout and ends the
/// process, as `ending` says.
pub(crate) fn run_entry(f: impl FnOnce(), ending: Ending, join_threads: Option<&[u32]>) -> ! {
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    if let Some(initial) = join_threads {
        // As Python's child joins its non-daemon threads, also after an
        // exception in its target.
        super::threads::wait_for_new(initial);
    }
    let code = match result {
        Ok(()) => 0,
        Err(payload) => {
            let text = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| payload_message(&*payload));
            report_failure(&text);
            // Python's exit code for an uncaught exception.
            1
        }
    };
    finish(code, ending)
}

/// In the child: sends a failure message to the parent (shown by
/// `Process::panic_message`).
pub(crate) fn report_failure(text: &str) {
    let slot = sys::FORKED.report_slot.load(Ordering::Relaxed);
    if !slot.is_null() {
        let generation = sys::FORKED.report_generation.load(Ordering::Relaxed);
        // SAFETY: the slot's address was given by the parent that forked
        // this process, in a slab it inherited.
        unsafe { report::write(slot, generation, text) };
    } else if let Some(fd) = report_fd() {
        let mut bytes = Vec::with_capacity(text.len().min(MAX_MESSAGE) + 1);
        bytes.push(PANICKED);
        let mut end = text.len().min(MAX_MESSAGE);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        bytes.extend_from_slice(&text.as_bytes()[..end]);
        // The pipe was made non-blocking (`sys::report_pipe`); the message
        // fits in the smallest pipe (see `MAX_MESSAGE`), so a blocking
        // write returns at once, and it is never cut short by a signal.
        let _ = sys::set_nonblocking(fd, false);
        let _ = sys::write_all(fd, &bytes);
    }
}

/// Flushes stdout (if `ending` says so; stderr is not buffered: nothing to
/// flush) and ends the process with `code`.
pub(crate) fn finish(code: i32, ending: Ending) -> ! {
    if ending.flush {
        let _ = std::io::stdout().flush();
    }
    if ending.fast {
        // `libc`: rustix has `_exit` only in its unstable `runtime` API.
        // SAFETY: _exit ends the process at once; nothing runs after it.
        unsafe { libc::_exit(code) }
    }
    std::process::exit(code)
}

/// In a new child (between `fork` and `exec`, or before a forked
/// closure): asks the kernel to `SIGKILL` this process when the thread
/// that started it ends (`PR_SET_PDEATHSIG`), then checks that the parent
/// is still `parent`. Returns `false` if the parent is already gone (the
/// signal will never come). Async-signal-safe: two system calls.
pub(crate) fn die_with_parent(parent: u32) -> bool {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) == Some(parent)
}

/// In the parent, after the child ended: what the child reported (the
/// start marker, which only a spawned child writes, then a panic message
/// if any). The pipe is read without blocking, as `sys::report_pipe` made
/// it (a grandchild may still hold its write end).
pub(crate) fn read_report(fd: &OwnedFd) -> (bool, Option<String>) {
    let mut all = Vec::new();
    // Small: the common report is nothing, or a byte (a larger buffer
    // would touch a fresh stack page, a copy-on-write fault while the
    // child's copy of this process is still around).
    let mut buf = [0u8; 256];
    while let Ok(n) = sys::read(fd.as_fd(), &mut buf) {
        if n == 0 || all.len() > MAX_MESSAGE * 2 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    let started = all.first() == Some(&STARTED);
    let rest = if started { &all[1..] } else { &all[..] };
    let panic = match rest.first() {
        Some(&PANICKED) => Some(String::from_utf8_lossy(&rest[1..]).into_owned()),
        _ => None,
    };
    (started, panic)
}

impl Builder {
    /// Starts a child with the **fork** start method: the child is a copy of
    /// this process and runs `f`, then exits with code 0 (or 1 if `f`
    /// panics). Python: `Process(target=f).start()` under
    /// `set_start_method("fork")`.
    ///
    /// The closure may borrow from the caller: the child has its own copy of
    /// the whole address space, and it never returns from this call.
    ///
    /// The child leaves with `_exit` once `f` has returned and the threads
    /// it started have ended ([`join_threads`](Builder::join_threads)):
    /// no `atexit` handler runs in it, neither the parent's (which must
    /// not run twice) nor one registered in `f` (Python runs the latter;
    /// call such clean-up at the end of `f` instead).
    ///
    /// # Safety
    ///
    /// The child has one thread: the one that called `fork`. The parent's
    /// other threads do not exist in it, frozen wherever they were, and
    /// whatever they held at that moment stays held forever. So **if this
    /// process may have other threads when it forks** (a thread pool, an
    /// async runtime, a logger, a library that starts threads of its own,
    /// the test harness that runs `#[test]`s in threads), `f` must do only
    /// what is safe in the child of a multi-threaded process, which POSIX
    /// limits to async-signal-safe functions (`signal-safety(7)`):
    ///
    /// - **No lock another thread may have held**: `Mutex`, `RwLock`, a
    ///   `OnceLock` or `LazyLock` being initialized, parking_lot's and
    ///   bingfa-sync's locks, the locks of stdout and stderr (`print!`,
    ///   `println!`, `eprintln!`), of a logger, a channel, a thread pool's
    ///   queue. Taking one that was held deadlocks the child.
    /// - **No allocation, in principle**: the allocator has locks too.
    ///   glibc's `fork` makes its own `malloc` usable in the child, which
    ///   programs on `*-linux-gnu` with the default allocator rely on in
    ///   practice; another global allocator (jemalloc, mimalloc) may not.
    ///   Formatting, `String`, `Vec` and `Box` allocate, and so do this
    ///   crate's `Queue` and `Pipe` (serde encoding).
    /// - **No panic**: unwinding is caught, but the panic machinery
    ///   allocates, takes its hook's lock and prints to stderr under its
    ///   lock.
    /// - What is fine: async-signal-safe calls (`read`, `write`, `open`,
    ///   `close`, `dup2`, `execve`, `kill`, `_exit`, ..., directly or
    ///   through rustix or nix), computing on memory no lock guards, and
    ///   using this crate's [`Lock`](crate::Lock),
    ///   [`Semaphore`](crate::Semaphore), [`Event`](crate::Event),
    ///   [`Value`](crate::Value) and [`Array`](crate::Array) made before the
    ///   fork: their state lives in shared memory, they take no lock of the
    ///   process and allocate nothing, and a lock of theirs that a parent
    ///   thread held is released by that thread, in the parent, as usual.
    ///
    /// If the process is single-threaded when it forks (no other thread
    /// was started, or all that were have ended), none of this applies: the
    /// child may do anything the parent could, as after a plain `fork` in
    /// C. Memory stays sound either way (to the child, the other threads
    /// look stopped forever); what is at stake is a child that hangs.
    ///
    /// This crate's own watcher thread (`bingfa-reaper`, started only when
    /// the last handle of a running child is dropped, and gone a second
    /// after it has nothing to watch) does not count as another thread
    /// here: it takes no lock the closure can reach (the child forgets the
    /// parent's registry, whose lock it takes, and builds its own) and
    /// allocates only through glibc's `malloc`.
    ///
    /// What this crate does around the fork, so that only `f` is in
    /// question:
    ///
    /// - Before the fork, in the parent: everything the child needs is
    ///   prepared (its identity, where it reports a panic, the panic hook,
    ///   this crate's fork handler), and stdout is flushed, so that buffered
    ///   output is not printed twice.
    /// - Between the fork and `f`, in the child: only async-signal-safe
    ///   steps that take no lock and allocate nothing. This crate's
    ///   `pthread_atfork` handler makes a few atomic stores; a daemon calls
    ///   `prctl(PR_SET_PDEATHSIG)` and `getppid` (and `_exit` if its parent
    ///   is already gone); standard input becomes `/dev/null` (a `dup2` of
    ///   a descriptor the parent opened and checked before the fork, or
    ///   `open`, `dup2` and `close`; see
    ///   [`inherit_stdin`](Builder::inherit_stdin)); the child's identity
    ///   is stored in atomics.
    ///   (Other libraries' `pthread_atfork` handlers and the C library's
    ///   own resets run inside `fork` itself.)
    /// - After `f`, in the child: the check that no thread `f` started
    ///   still runs ([`join_threads`](Builder::join_threads)) reads glibc's
    ///   `__libc_single_threaded` or `/proc/self/stat` into a buffer on the
    ///   stack, and lists `/proc/self/task` (which allocates) only if `f`
    ///   did start threads; stdout is flushed only if this process had no
    ///   other thread when it forked (otherwise its lock may be held
    ///   forever, and what `f` left in its buffer is lost: end output with
    ///   a newline); then `_exit`. A panic's message reaches the parent
    ///   through memory shared with it, with atomic stores.
    ///
    /// What a program that has threads should use instead:
    /// [`spawn`](Builder::spawn), safe whatever threads the parent has (it
    /// executes the program again); or a **fork server**, a process
    /// started while the program is still single-threaded (or spawned)
    /// that forks the children on request, as Python 3.14 does by default
    /// (`forkserver`) and as bingfa-pool's `ProcessPool` does for its
    /// workers (`StartMethod::ForkServer`, its default); or forking every
    /// child early in `main`, before any thread starts.
    ///
    /// # Errors
    /// [`Error::Os`] if `fork` or `pidfd_open` fails, or if the memory a
    /// child reports through cannot be mapped. When `pidfd_open` fails (the
    /// descriptor limit), the child has already been started: it is killed
    /// and reaped before the error returns (it may have begun to run `f`),
    /// so that no zombie is left.
    ///
    /// ```
    /// use bingfa_process::{Builder, ExitStatus};
    ///
    /// // SAFETY: this program has no other thread: the child may do
    /// // anything (allocate, print, panic).
    /// let p = unsafe { Builder::new().name("worker").fork(|| println!("hello")) }.unwrap();
    /// assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
    /// ```
    pub unsafe fn fork<F: FnOnce()>(self, f: F) -> Result<Process, Error> {
        sys::ensure_atfork();
        install_panic_hook();
        super::threads::prepare();
        let (name, ident) = self.resolve_name();
        let parent_pid = sys::getpid();
        let info = Box::into_raw(Box::new(ProcessInfo {
            pid: 0,
            parent_pid: Some(parent_pid),
            parent_name: Some(super::current_process().name),
            name: name.clone(),
            ident,
            daemon: self.daemon,
        }));
        // Reclaimed in the parent; leaked on purpose in the child.
        struct Reclaim(*mut ProcessInfo);
        impl Drop for Reclaim {
            fn drop(&mut self) {
                // SAFETY: the pointer came from Box::into_raw just above and
                // is freed only here, in the parent.
                drop(unsafe { Box::from_raw(self.0) });
            }
        }
        let reclaim = Reclaim(info);
        let slot = registry::take_slot()?;
        let for_child = slot.for_child();
        if !self.inherit_stdin {
            sys::prepare_dev_null();
        }
        // Buffered output would be printed twice, by both processes
        // (stderr is not buffered).
        let _ = std::io::stdout().flush();
        // Whether the child may flush stdout when `f` returns: only if no
        // other thread exists now that could hold its lock at the fork.
        let ending = Ending {
            fast: true,
            flush: super::threads::alone(),
        };
        if self.daemon {
            registry::ensure_daemon_cleanup();
        }
        // `libc`: the C library's `fork` runs the `pthread_atfork` handlers
        // and resets its own locks (malloc's, stdio's) in the child; rustix
        // has only the raw system call, in its unstable `runtime` API.
        // SAFETY: fork has no preconditions; what the child may do after it
        // is the subject of this function's docs, and the code below runs
        // only async-signal-safe steps before `f`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(Error::os());
        }
        if pid == 0 {
            // The child. From here on: no return, no unwinding out, no drop
            // of the parent's objects.
            std::mem::forget(reclaim);
            if self.daemon && !die_with_parent(parent_pid) {
                // The parent died before the prctl: we are an orphan whose
                // death signal will never come.
                // SAFETY: ends the process at once.
                unsafe { libc::_exit(1) };
            }
            if !self.inherit_stdin {
                sys::stdin_from_dev_null();
            }
            sys::FORKED.current.store(info, Ordering::Release);
            remember_report_slot(for_child);
            // Only this thread exists in the child; its id is the pid.
            let me = [rustix::process::getpid().as_raw_nonzero().get() as u32];
            run_entry(f, ending, (!self.detach_threads).then_some(&me[..]));
        }
        drop(reclaim);
        let pidfd = match sys::pidfd_open_child(pid as u32) {
            Ok(fd) => fd,
            Err(e) => {
                // The child is gone (killed and reaped): its slot can be
                // used again once it is moved to the next generation.
                if let (_, Some(slot)) = slot.finish() {
                    registry::give_slot(slot);
                }
                return Err(e.into());
            }
        };
        let child = Arc::new(Child::new(
            pid as u32,
            pidfd,
            self.daemon,
            false,
            Report::Slot(slot),
            name,
        ));
        Ok(Process::from_child(child))
    }
}

/// Starts a child with the fork start method, with the default name and not
/// a daemon: `Builder::new().fork(f)`. Python: `Process(target=f).start()`
/// under `set_start_method("fork")`.
///
/// ```
/// use bingfa_process::{ExitStatus, Value};
///
/// let v = Value::new(0u64).unwrap();
/// // SAFETY: this program has no other thread.
/// let p = unsafe { bingfa_process::fork(|| v.set(42)) }.unwrap();
/// assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
/// assert_eq!(v.get(), 42);
/// ```
///
/// Calling it without `unsafe` does not compile: the caller vouches for
/// what the child does (see the Safety section):
///
/// ```compile_fail,E0133
/// let p = bingfa_process::fork(|| {});
/// ```
///
/// # Safety
/// As for [`Builder::fork`]: if this process may have other threads when
/// it forks, `f` may only do what is async-signal-safe (no lock another
/// thread may have held, no allocation in principle, no panic).
///
/// # Errors
/// As for [`Builder::fork`].
#[doc(alias = "Process.start")]
pub unsafe fn fork<F: FnOnce()>(f: F) -> Result<Process, Error> {
    // SAFETY: the caller's promise, passed on.
    unsafe { Builder::new().fork(f) }
}
