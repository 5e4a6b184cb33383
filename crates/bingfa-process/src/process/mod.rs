//! [`Process`]: a child process started by `fork` or by `spawn`, its
//! [`ExitStatus`], and [`current_process`].

pub(crate) mod child;
pub(crate) mod exit;
pub(crate) mod info;
pub(crate) mod registry;
pub(crate) mod report;
pub(crate) mod spawn;
pub(crate) mod threads;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::process::Signal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sys;

pub use info::{current_process, parent_process, ParentProcess, ProcessInfo};

/// How a child process ended.
///
/// Python: `Process.exitcode`, where a signal is a negative number; see
/// [`python_exitcode`](ExitStatus::python_exitcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// It exited with this code (0: success; 1: its entry point panicked).
    Code(i32),
    /// A signal ended it (15: `SIGTERM` from [`Process::terminate`], 9:
    /// `SIGKILL` from [`Process::kill`]).
    Signal(i32),
}

impl ExitStatus {
    /// Whether it exited with code 0. Python: `p.exitcode == 0`.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Code(0)
    }

    /// The exit code, if it exited. Python: `p.exitcode` when `>= 0`.
    pub fn code(&self) -> Option<i32> {
        match *self {
            ExitStatus::Code(c) => Some(c),
            ExitStatus::Signal(_) => None,
        }
    }

    /// The signal that ended it, if one did. Python: `-p.exitcode` when
    /// negative.
    pub fn signal(&self) -> Option<i32> {
        match *self {
            ExitStatus::Signal(s) => Some(s),
            ExitStatus::Code(_) => None,
        }
    }

    /// Python's `exitcode`: the code, or minus the signal number (`-15`
    /// after [`Process::terminate`]).
    #[doc(alias = "exitcode")]
    pub fn python_exitcode(&self) -> i32 {
        match *self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => -s,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// What the parent knows of one child; shared by the [`Process`] handle and
/// the registry (its sweeps and its watcher), so that whoever sees the exit
/// first reaps it.
pub(crate) struct Child {
    pub(crate) pid: u32,
    pub(crate) daemon: bool,
    pub(crate) name: String,
    /// Started by spawn (so it must run `init`).
    spawned: bool,
    /// The [`Process`] handles of this child that exist now.
    handles: AtomicUsize,
    /// The registry's watcher reaps it (its last handle was dropped while
    /// it ran).
    pub(crate) watched: AtomicBool,
    state: Mutex<ChildState>,
}

#[derive(Default)]
struct ChildState {
    /// The child's pidfd, until it is reaped: then it is closed (a joined
    /// handle kept around, or one the registry has not pruned yet, holds no
    /// descriptor: every fork copies the descriptor table, and every
    /// child's exit closes its copy of each, so stale ones slow down every
    /// later start). Shared with a `wait` or the registry's `poll` in
    /// progress, which keep it open until they return.
    pidfd: Option<Arc<OwnedFd>>,
    status: Option<ExitStatus>,
    /// How the child reports (a panic message; a spawned child also that
    /// it started), until it is reaped.
    report: Option<Report>,
    /// The child ran its entry point (it wrote the start marker).
    started: bool,
    panic: Option<String>,
}

/// Where a child's report comes from.
pub(crate) enum Report {
    /// The read end of a spawned child's status pipe.
    Pipe(OwnedFd),
    /// A forked child's slot of shared memory.
    Slot(report::Slot),
}

impl Child {
    pub(crate) fn new(
        pid: u32,
        pidfd: OwnedFd,
        daemon: bool,
        spawned: bool,
        report: Report,
        name: String,
    ) -> Child {
        Child {
            pid,
            daemon,
            name,
            spawned,
            handles: AtomicUsize::new(0),
            watched: AtomicBool::new(false),
            state: Mutex::new(ChildState {
                pidfd: Some(Arc::new(pidfd)),
                report: Some(report),
                ..ChildState::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChildState> {
        // A panic while holding this lock leaves consistent data (every
        // field is written in one step), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The status if the child is already reaped.
    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.lock().status
    }

    /// The child's pidfd, unless it is already reaped (and the pidfd
    /// closed). Readable once the child has exited.
    pub(crate) fn pidfd(&self) -> Option<Arc<OwnedFd>> {
        self.lock().pidfd.clone()
    }

    /// Reaps the child if it has exited (never blocks). The status is kept,
    /// so every later call returns it again.
    pub(crate) fn try_reap(&self) -> io::Result<Option<ExitStatus>> {
        let mut st = self.lock();
        let pidfd = match (&st.status, &st.pidfd) {
            (Some(_), _) => return Ok(st.status),
            (None, Some(fd)) => fd.clone(),
            (None, None) => unreachable!("the pidfd is closed only once reaped"),
        };
        let Some(status) = sys::try_wait_pidfd(pidfd.as_fd())? else {
            return Ok(None);
        };
        st.status = Some(status);
        st.pidfd = None;
        match st.report.take() {
            Some(Report::Pipe(fd)) => {
                let (started, panic) = child::read_report(&fd);
                st.started = started;
                st.panic = panic;
            }
            Some(Report::Slot(slot)) => {
                let (panic, again) = slot.finish();
                st.panic = panic;
                if let Some(slot) = again {
                    registry::give_slot(slot);
                }
            }
            None => {}
        }
        Ok(Some(status))
    }

    /// Sends `sig` unless the child is already reaped.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        let st = self.lock();
        let Some(pidfd) = &st.pidfd else {
            // Reaped: nothing to signal.
            return Ok(());
        };
        match sys::pidfd_send_signal(pidfd.as_fd(), sig) {
            // Exited but not reaped yet: nothing to do (Python ignores it too).
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => Ok(()),
            other => other,
        }
    }

    /// Blocks until the child is reaped or `timeout` passes.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status() {
            return Ok(Some(s));
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        // Poll first, then reap: a child that is still running costs a
        // `poll` and a `waitid`, not a `waitid` that finds nothing first;
        // one that has ended, a `poll` that returns at once.
        let mut first = true;
        loop {
            if !first {
                if let Some(s) = self.try_reap()? {
                    return Ok(Some(s));
                }
            }
            first = false;
            let left = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        // Out of time: one last look (a zero timeout
                        // still reaps a child that has ended).
                        return self.try_reap();
                    }
                    Some(d - now)
                }
            };
            // The pidfd becomes readable when the child exits. Reaped
            // meanwhile (by the registry or another thread): the next
            // `try_reap` returns the status.
            if let Some(fd) = self.pidfd() {
                sys::poll_readable(fd.as_fd(), left)?;
            }
        }
    }
}

/// A child process. Python: `multiprocessing.Process`.
///
/// Start one with [`fork`](crate::fork) / [`spawn`](crate::spawn), or with a
/// [`Builder`] for a name and the daemon flag. The handle can be shared
/// between threads (`&self` methods). Dropping it never kills the child
/// and never leaves a zombie: when the last handle of a running child is
/// dropped, a thread of the crate reaps the child when it ends. A kept
/// handle's child that has ended is reaped when the handle is asked
/// ([`join`](Process::join), [`is_alive`](Process::is_alive), ...), or at
/// the next start or join of any child, as in Python (the crate's
/// [Lifecycle](crate#lifecycle) section has the whole rule).
pub struct Process {
    child: Arc<Child>,
    /// This handle's own descriptor for [`sentinel`](Process::sentinel),
    /// made on first use.
    sentinel: OnceLock<OwnedFd>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.child.pid)
            .field("name", &self.child.name)
            .field("daemon", &self.child.daemon)
            .field("status", &self.child.status())
            .finish()
    }
}

impl Process {
    pub(crate) fn from_child(child: Arc<Child>) -> Process {
        registry::register(child.clone());
        Process::handle(child)
    }

    /// One more handle to a child the registry already tracks.
    pub(crate) fn handle(child: Arc<Child>) -> Process {
        child.handles.fetch_add(1, Ordering::Relaxed);
        Process {
            child,
            sentinel: OnceLock::new(),
        }
    }

    /// A builder for a child with a name or the daemon flag. Python: the
    /// keyword arguments of `Process(...)`.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The child's process id. Python: `Process.pid`.
    #[doc(alias = "ident")]
    pub fn pid(&self) -> u32 {
        self.child.pid
    }

    /// The child's name (`Process-N` unless the builder set one). Python:
    /// `Process.name`.
    pub fn name(&self) -> &str {
        &self.child.name
    }

    /// Whether the child is a daemon: killed when this process ends.
    /// Python: `Process.daemon`.
    pub fn daemon(&self) -> bool {
        self.child.daemon
    }

    /// Whether the child is still running (it is reaped if it has ended).
    /// Python: `Process.is_alive`.
    ///
    /// # Errors
    /// [`Error::Os`] if `waitid` fails (e.g. `ECHILD` when the program set
    /// `SIGCHLD` to `SIG_IGN`, which makes the kernel reap children itself).
    pub fn is_alive(&self) -> Result<bool, Error> {
        Ok(self.child.try_reap()?.is_none())
    }

    /// Waits for the child to end and returns how it ended. Calling it again
    /// returns the same status. Python: `Process.join`.
    ///
    /// A panic in the child is `ExitStatus::Code(1)`, with the message in
    /// [`panic_message`](Process::panic_message).
    ///
    /// # Errors
    /// [`Error::Os`] as for [`is_alive`](Process::is_alive);
    /// [`Error::NotInitialized`] when a spawned child never ran its entry
    /// point (the program lacks [`init`](crate::init)).
    pub fn join(&self) -> Result<ExitStatus, Error> {
        let status = self.child.wait(None)?.expect("wait without timeout");
        registry::sweep();
        self.check_started(status)
    }

    /// Like [`join`](Process::join), but gives up after `timeout` with
    /// `Ok(None)` (the child keeps running). Python: `Process.join(timeout)`.
    ///
    /// # Errors
    /// As for [`join`](Process::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>, Error> {
        match self.child.wait(Some(timeout))? {
            Some(s) => {
                registry::sweep();
                self.check_started(s).map(Some)
            }
            None => Ok(None),
        }
    }

    fn check_started(&self, status: ExitStatus) -> Result<ExitStatus, Error> {
        let st = self.child.lock();
        // A spawned child that exited (rather than being killed) without
        // its start marker never reached `init`.
        if self.child.spawned && !st.started && status.code().is_some() {
            return Err(Error::NotInitialized {
                pid: self.child.pid,
                status,
            });
        }
        Ok(status)
    }

    /// How the child ended, or `None` while it runs (never blocks). Python:
    /// `Process.exitcode` (see [`ExitStatus::python_exitcode`]).
    ///
    /// # Errors
    /// As for [`is_alive`](Process::is_alive).
    #[doc(alias = "exitcode")]
    pub fn exit_status(&self) -> Result<Option<ExitStatus>, Error> {
        Ok(self.child.try_reap()?)
    }

    /// Python's `exitcode`: `None` while running, the exit code, or minus the
    /// signal that ended the child.
    ///
    /// # Errors
    /// As for [`is_alive`](Process::is_alive).
    pub fn exitcode(&self) -> Result<Option<i32>, Error> {
        Ok(self.exit_status()?.map(|s| s.python_exitcode()))
    }

    /// The message and source location of the panic that ended the child,
    /// once it is reaped (`None` if it did not panic, or is still running).
    /// Python prints the child's traceback; here the parent gets it too.
    /// A message longer than 4 088 bytes is cut there (it travels through
    /// a page of memory shared with a forked child, or a pipe from a
    /// spawned one, which the parent reads once the child has ended).
    pub fn panic_message(&self) -> Option<String> {
        self.child.lock().panic.clone()
    }

    /// Sends `SIGTERM`; the child ends with `ExitStatus::Signal(15)`
    /// (Python exit code -15) unless it handles the signal. Does nothing once
    /// the child has ended. Python: `Process.terminate`.
    ///
    /// # Errors
    /// [`Error::Os`] if the signal cannot be sent.
    pub fn terminate(&self) -> Result<(), Error> {
        Ok(self.child.signal(Signal::TERM.as_raw())?)
    }

    /// Sends `SIGINT`: the child ends with `ExitStatus::Signal(2)` unless
    /// it handles the signal (Python raises `KeyboardInterrupt` in the
    /// child, which then exits with code 1; Rust has no such exception).
    /// Python 3.14: `Process.interrupt`.
    ///
    /// # Errors
    /// [`Error::Os`] if the signal cannot be sent.
    pub fn interrupt(&self) -> Result<(), Error> {
        Ok(self.child.signal(Signal::INT.as_raw())?)
    }

    /// Sends `SIGKILL` (exit code -9). Python: `Process.kill`.
    ///
    /// # Errors
    /// [`Error::Os`] if the signal cannot be sent.
    pub fn kill(&self) -> Result<(), Error> {
        Ok(self.child.signal(Signal::KILL.as_raw())?)
    }

    /// Sends any signal (through a pidfd: never to a process that reused
    /// the pid). Python: `os.kill(p.pid, sig)`. Signal 0 sends nothing.
    ///
    /// # Errors
    /// [`Error::Os`] if the signal cannot be sent; `EINVAL` for a number
    /// that is no signal, and for the two real-time signals glibc keeps
    /// for itself (32 and 33, below `SIGRTMIN`).
    pub fn send_signal(&self, signal: i32) -> Result<(), Error> {
        Ok(self.child.signal(signal)?)
    }

    /// A descriptor that becomes readable when the child ends, to wait for
    /// it together with other descriptors (`poll`, `epoll`, an async
    /// reactor). Python: `Process.sentinel`, for
    /// `multiprocessing.connection.wait`. The descriptor belongs to this
    /// handle (made on first use: a duplicate of the child's pidfd, or,
    /// once the child has been reaped, a descriptor that is always
    /// readable) and stays valid as long as the handle; readiness says only
    /// that the child ended: [`join`](Process::join) collects the status.
    ///
    /// # Errors
    /// [`Error::Os`] if the descriptor cannot be made (the descriptor
    /// limit).
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>, Error> {
        if let Some(fd) = self.sentinel.get() {
            return Ok(fd.as_fd());
        }
        let fd = match self.child.pidfd() {
            Some(pidfd) => rustix::io::fcntl_dupfd_cloexec(&*pidfd, 0).map_err(io::Error::from)?,
            // Reaped: an eventfd whose counter is 1 is always readable.
            None => rustix::event::eventfd(1, rustix::event::EventfdFlags::CLOEXEC)
                .map_err(io::Error::from)?,
        };
        // Another thread may have made one meanwhile: keep the first.
        let _ = self.sentinel.set(fd);
        Ok(self
            .sentinel
            .get()
            .expect("the sentinel was just set")
            .as_fd())
    }
}

/// Dropping a handle never kills the child nor waits for it. When the
/// last handle of a running child goes, the child is handed to a thread
/// that reaps it when it ends (see [`Process`]).
impl Drop for Process {
    fn drop(&mut self) {
        if self.child.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            registry::released(&self.child);
        }
    }
}

/// The child's [`sentinel`](Process::sentinel): readable once it ended.
///
/// # Panics
/// If the descriptor cannot be made (the descriptor limit); call
/// [`Process::sentinel`] to get the error instead.
impl AsFd for Process {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sentinel()
            .expect("bingfa-process: cannot make the process sentinel descriptor")
    }
}

/// As [`AsFd`]. Python: `Process.sentinel` is this integer.
///
/// # Panics
/// As for the `AsFd` implementation.
impl AsRawFd for Process {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// Sets a child's name and daemon flag, then starts it with
/// [`fork`](Builder::fork) or [`spawn`](Builder::spawn). Python: the
/// keyword arguments of `multiprocessing.Process(...)` and
/// `set_start_method`.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until fork or spawn is called"]
pub struct Builder {
    pub(crate) name: Option<String>,
    pub(crate) daemon: bool,
    /// `join_threads(false)`: the child ends when its entry point returns.
    pub(crate) detach_threads: bool,
    /// `inherit_stdin(true)`: the child keeps this process's standard
    /// input instead of `/dev/null`.
    pub(crate) inherit_stdin: bool,
}

impl Builder {
    /// A builder with the defaults: name `Process-N`, not a daemon. Python:
    /// `Process()`.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The child's name. Python: `Process(name=...)`.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Whether the child is a daemon. A daemon child dies when this process
    /// ends, however it ends; a non-daemon child outlives it. Python:
    /// `Process(daemon=True)`.
    ///
    /// The kernel's half of this (`PR_SET_PDEATHSIG`) fires when the
    /// **thread** that started the child ends, not only the process: start
    /// daemon children from the main thread or from a thread that lives as
    /// long as they should. The other half is an `atexit` handler that
    /// terminates the remaining daemon children (`SIGTERM`, then `SIGKILL`
    /// after one second) when this process exits normally.
    pub fn daemon(mut self, daemon: bool) -> Builder {
        self.daemon = daemon;
        self
    }

    /// Whether the child, once its entry point has returned (or panicked),
    /// waits for the threads the entry point started before it exits
    /// (default: `true`). Python: a child process joins its non-daemon
    /// threads before it exits; `false` is Rust's rule for `main`, which
    /// ends the process and every thread in it.
    ///
    /// Every thread that did not exist when the entry point started is
    /// waited for, except this library family's service threads (named
    /// `bingfa-...`: the reaper (see [`Process`]), the deadlock and green-thread watchdogs,
    /// the green blocking pool). Rust threads have no daemon flag, so a
    /// thread that never ends (a global thread pool's, say) keeps the
    /// child alive: use `join_threads(false)` there, or stop such threads
    /// before the entry point returns.
    ///
    /// An entry point that leaves through `std::process::exit` ends the
    /// process at once, threads and all (Python's `sys.exit` in a child
    /// still joins them). The check costs one read of `/proc/self/task`
    /// (microseconds) when the entry point returns.
    pub fn join_threads(mut self, join: bool) -> Builder {
        self.detach_threads = !join;
        self
    }

    /// Whether the child keeps this process's standard input (default:
    /// `false`: the child's descriptor 0 reads `/dev/null`, so it sees end
    /// of file at once and never takes input meant for the parent, from a
    /// terminal or a pipe). Python: a child's `sys.stdin` is closed and
    /// replaced by `os.devnull`, whatever the start method (the
    /// multiprocessing guide, "Beware of replacing sys.stdin"); Python has
    /// no switch to keep it.
    ///
    /// Only descriptor 0 changes; the others are inherited as they are
    /// (all of them with `fork`, the standard streams and the ones the
    /// crate passes with `spawn`). If `/dev/null` cannot be opened, the
    /// child keeps its standard input, as Python's child does. For `fork`,
    /// this process opens `/dev/null` once (close-on-exec) and keeps that
    /// descriptor, so that a child needs one `dup2`; it checks the
    /// descriptor (device and inode) before each fork, so closing it does
    /// no harm: the next fork opens another, and never takes a reused
    /// number for it.
    pub fn inherit_stdin(mut self, inherit: bool) -> Builder {
        self.inherit_stdin = inherit;
        self
    }

    pub(crate) fn resolve_name(&self) -> (String, String) {
        let ident = registry::next_ident();
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| format!("Process-{ident}"));
        (name, ident)
    }
}
