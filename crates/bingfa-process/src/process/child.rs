//! The child's side: the `fork` start method, the status pipe through which
//! a spawned child reports that its entry point ran and any child, if it
//! panicked, the message and location, and the current process's identity.
//!
//! # What runs between `fork` and the closure
//!
//! Only async-signal-safe steps touching no lock: `prctl` and `getppid`
//! (daemons only), and stores to atomics that hold pointers prepared
//! by the parent before the fork. The crate's own fork handler (registered
//! with `pthread_atfork`) only stores to a few atomics. The panic hook that
//! records a panic's location is installed by the parent, before the fork.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};
use std::sync::{Arc, Once};

use super::{registry, Builder, Child, Process, ProcessInfo};
use crate::error::Error;
use crate::sys;

/// The current process's identity when it is a child started by this crate
/// (null in the main process). Points to a leaked box.
static CURRENT: AtomicPtr<ProcessInfo> = AtomicPtr::new(std::ptr::null_mut());

/// The write end of this child's status pipe (-1 in the main process).
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

/// The marker a child writes once its entry point is about to run.
const STARTED: u8 = b'S';
/// The marker that precedes a panic message.
const PANICKED: u8 = b'P';
/// A panic message is cut to this size, so that the write never blocks on
/// a full pipe (the parent reads the pipe only after the child ended): a
/// pipe holds at least one page (4 KiB) even when its user is over
/// `pipe-user-pages-soft`, and the message shares it with the two markers.
const MAX_MESSAGE: usize = 4096 - 2;

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

pub(crate) fn current() -> Option<&'static ProcessInfo> {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: CURRENT is null or a leaked box that is never freed.
    unsafe { p.as_ref() }
}

pub(crate) fn set_current(info: ProcessInfo) {
    CURRENT.store(Box::into_raw(Box::new(info)), Ordering::Release);
}

/// Installs (once per process) a panic hook that, in a child of this
/// crate, records the panic's message and location for the parent, then
/// calls the previous hook.
pub(crate) fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if REPORT_FD.load(Ordering::Relaxed) >= 0 {
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
    REPORT_FD.store(fd, Ordering::Relaxed);
    let _ = sys::write_all(fd, &[STARTED]);
}

/// In a forked child: remembers the status pipe, for a panic report.
/// There is nothing to confirm (the entry point is a closure of this
/// very program), so nothing is written: one system call less per start.
/// Async-signal-safe.
fn remember_report_fd(fd: RawFd) {
    REPORT_FD.store(fd, Ordering::Relaxed);
}

/// In the child: runs the entry point, reports a panic, waits for the
/// threads the entry point started (unless `join_threads` is `None`; else
/// the threads that existed before it), flushes the standard streams and
/// ends the process. `fast_exit`: leave with `_exit` (a forked child must
/// not run the parent's `atexit` handlers) rather than `exit`.
pub(crate) fn run_entry(f: impl FnOnce(), fast_exit: bool, join_threads: Option<&[u32]>) -> ! {
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
    finish(code, fast_exit)
}

/// In the child: sends a failure message to the parent (shown by
/// `Process::panic_message`).
pub(crate) fn report_failure(text: &str) {
    let fd = REPORT_FD.load(Ordering::Relaxed);
    if fd >= 0 {
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

/// Flushes stdout and ends the process with `code` (stderr is not
/// buffered: nothing to flush).
pub(crate) fn finish(code: i32, fast_exit: bool) -> ! {
    let _ = std::io::stdout().flush();
    if fast_exit {
        // SAFETY: _exit ends the process at once; nothing runs after it.
        unsafe { libc::_exit(code) }
    }
    std::process::exit(code)
}

/// In the parent, after the child ended: what the child reported (the
/// start marker, which only a spawned child writes, then a panic message
/// if any). The pipe is read without blocking, as `sys::report_pipe` made
/// it (a grandchild may still hold its write end).
pub(crate) fn read_report(fd: &OwnedFd) -> (bool, Option<String>) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sys::read(fd.as_raw_fd(), &mut buf) {
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
    /// # When fork is unsafe to use
    ///
    /// Only the calling thread exists in the child. A lock that another
    /// thread of the parent held at the moment of the fork (a `Mutex`, the
    /// lock inside `println!`'s stdout, a parking_lot lock, a logger's) stays
    /// held forever in the child, and the closure deadlocks if it takes it.
    /// Memory stays sound (to the child, the other threads look stopped
    /// forever), but the program may hang. So, when the parent has other
    /// threads that may hold locks the closure uses (thread pools, async
    /// runtimes, loggers), use [`spawn`](Builder::spawn) instead; fork is
    /// safe when the parent is single-threaded, or when the closure touches
    /// only data of its own plus this crate's IPC objects (whose locks live
    /// in shared memory and are robust). glibc's `malloc` stays usable
    /// after a fork.
    ///
    /// This crate runs only async-signal-safe code between the fork and `f`,
    /// and flushes stdout (stderr is not buffered) before forking, so that buffered output
    /// is not printed twice.
    ///
    /// The child leaves with `_exit` once `f` has returned and the threads
    /// it started have ended ([`join_threads`](Builder::join_threads)):
    /// no `atexit` handler runs in it, neither the parent's (which must
    /// not run twice) nor one registered in `f` (Python runs the latter;
    /// call such clean-up at the end of `f` instead).
    ///
    /// # Errors
    /// [`Error::Os`] if `fork`, `pipe` or `pidfd_open` fails. When
    /// `pidfd_open` fails (the descriptor limit), the child has already
    /// been started: it is killed and reaped before the error returns
    /// (it may have begun to run `f`), so that no zombie is left.
    pub fn fork<F: FnOnce()>(self, f: F) -> Result<Process, Error> {
        sys::ensure_atfork();
        install_panic_hook();
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
        let (report_r, report_w) = sys::report_pipe()?;
        // Buffered output would be printed twice, by both processes
        // (stderr is not buffered).
        let _ = std::io::stdout().flush();
        if self.daemon {
            registry::ensure_daemon_cleanup();
        }
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
            // The read end of the status pipe stays open here (it is
            // close-on-exec, and only the write ends decide when the
            // parent's read ends): one system call less before `f`.
            std::mem::forget(report_r);
            if self.daemon {
                // SAFETY: prctl with integer arguments.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
                // The parent may have died before the prctl: then we are
                // an orphan whose death signal will never come.
                // SAFETY: getppid has no preconditions.
                if unsafe { libc::getppid() } as u32 != parent_pid {
                    // SAFETY: ends the process at once.
                    unsafe { libc::_exit(1) };
                }
            }
            CURRENT.store(info, Ordering::Release);
            remember_report_fd(report_w.as_raw_fd());
            // Only this thread exists in the child; its id is the pid.
            // SAFETY: getpid has no preconditions.
            let me = [unsafe { libc::getpid() } as u32];
            run_entry(f, true, (!self.detach_threads).then_some(&me[..]));
        }
        drop(report_w);
        drop(reclaim);
        let pidfd = sys::pidfd_open_child(pid)?;
        let child = Arc::new(Child::new(
            pid as u32,
            pidfd,
            self.daemon,
            false,
            report_r,
            name,
        ));
        Ok(Process::from_child(child))
    }
}

/// Starts a child with the fork start method, with the default name and not
/// a daemon: `Builder::new().fork(f)`. See [`Builder::fork`], including when
/// fork is unsafe to use. Python: `Process(target=f).start()`.
///
/// # Errors
/// As for [`Builder::fork`].
pub fn fork<F: FnOnce()>(f: F) -> Result<Process, Error> {
    Builder::new().fork(f)
}
