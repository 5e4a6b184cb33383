//! Who the current process is ([`current_process`]) and who started it
//! ([`parent_process`]).

use std::os::fd::AsRawFd;
use std::time::Duration;

use super::child;
use crate::sys;

/// Who the current process is. Python: `multiprocessing.current_process()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub(crate) pid: u32,
    pub(crate) parent_pid: Option<u32>,
    pub(crate) parent_name: Option<String>,
    pub(crate) name: String,
    pub(crate) ident: String,
    pub(crate) daemon: bool,
}

impl ProcessInfo {
    /// This process's id. Python: `current_process().pid`.
    #[doc(alias = "ident")]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The pid of the process that started this one with this crate;
    /// `None` in the main process. Python: `parent_process().pid`.
    pub fn parent_pid(&self) -> Option<u32> {
        self.parent_pid
    }

    /// The name of the process that started this one with this crate;
    /// `None` in the main process. Python: `parent_process().name`.
    pub fn parent_name(&self) -> Option<&str> {
        self.parent_name.as_deref()
    }

    /// `"MainProcess"`, or the name the parent gave this child. Python:
    /// `current_process().name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this process is a daemon child. Python:
    /// `current_process().daemon`.
    pub fn daemon(&self) -> bool {
        self.daemon
    }
}

/// Who the current process is: pid, parent pid and name, name, daemon
/// flag. Python: `multiprocessing.current_process()`.
pub fn current_process() -> ProcessInfo {
    match child::current() {
        Some(info) => ProcessInfo {
            pid: sys::getpid(),
            ..info.clone()
        },
        None => ProcessInfo {
            pid: sys::getpid(),
            parent_pid: None,
            parent_name: None,
            name: "MainProcess".to_owned(),
            ident: String::new(),
            daemon: false,
        },
    }
}

/// The process that started this one (with this crate's fork or spawn), or
/// `None` in a process this crate did not start. Python:
/// `multiprocessing.parent_process()`.
///
/// ```
/// assert!(bingfa_process::parent_process().is_none());
/// let p = bingfa_process::fork(|| {
///     let parent = bingfa_process::parent_process().unwrap();
///     assert_eq!(parent.name(), "MainProcess");
///     assert!(parent.is_alive());
/// })
/// .unwrap();
/// assert!(p.join().unwrap().success());
/// ```
pub fn parent_process() -> Option<ParentProcess> {
    let me = child::current()?;
    Some(ParentProcess {
        pid: me.parent_pid?,
        name: me.parent_name.clone().unwrap_or_default(),
    })
}

/// The process that started this one; see [`parent_process`]. Python: the
/// object `multiprocessing.parent_process()` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentProcess {
    pid: u32,
    name: String,
}

impl ParentProcess {
    /// The parent's process id. Python: `parent_process().pid`.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The parent's name. Python: `parent_process().name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the parent still runs. Exact: a process is the parent of
    /// the children it started until it dies, when they are adopted by
    /// another (which never has the dead parent's pid). Python:
    /// `parent_process().is_alive()`.
    pub fn is_alive(&self) -> bool {
        // SAFETY: getppid has no preconditions.
        (unsafe { libc::getppid() }) as u32 == self.pid
    }

    /// Waits until the parent has ended. Python: `parent_process().join()`.
    pub fn join(&self) {
        self.wait(None);
    }

    /// Waits at most `timeout` for the parent to end; returns whether it
    /// has. Python: `parent_process().join(timeout)`.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.wait(Some(timeout))
    }

    fn wait(&self, timeout: Option<Duration>) -> bool {
        // A pidfd opened while the parent is still our parent refers to
        // it, whatever happens to its pid later.
        let Ok(fd) = sys::pidfd_open(self.pid as libc::pid_t) else {
            return !self.is_alive();
        };
        if !self.is_alive() {
            return true;
        }
        match sys::poll_readable(fd.as_raw_fd(), timeout) {
            Ok(ended) => ended,
            // Cannot poll: look again (and again) instead.
            Err(_) => {
                let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
                while self.is_alive() {
                    if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                true
            }
        }
    }
}
