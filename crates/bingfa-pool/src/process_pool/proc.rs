//! [`Proc`]: a worker process, however it was started: a child of this
//! process (fork, spawn), tracked by `bingfa_process`, or a child of the
//! fork server, tracked through what the server sends.

use std::time::Duration;

use bingfa_process::{ExitStatus, Process};

use super::fork_server::Served;

/// A worker process.
#[derive(Debug)]
pub(crate) enum Proc {
    /// Started by fork or spawn: our own child.
    Child(Process),
    /// Started by the fork server: its child.
    Served(Served),
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        match self {
            Proc::Child(p) => p.pid(),
            Proc::Served(s) => s.pid(),
        }
    }

    pub(crate) fn is_alive(&self) -> Result<bool, bingfa_process::Error> {
        match self {
            Proc::Child(p) => p.is_alive(),
            Proc::Served(s) => s.is_alive(),
        }
    }

    /// Its exit status once it has ended; `None` if `timeout` passed first.
    /// A spawned child that never reached `init` is
    /// `Err(bingfa_process::Error::NotInitialized)`.
    pub(crate) fn join_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<ExitStatus>, bingfa_process::Error> {
        match self {
            Proc::Child(p) => p.join_timeout(timeout),
            Proc::Served(s) => s.join_timeout(Some(timeout)),
        }
    }

    /// Its exit status, waiting as long as it takes.
    pub(crate) fn join(&self) -> Result<ExitStatus, bingfa_process::Error> {
        match self {
            Proc::Child(p) => p.join(),
            Proc::Served(s) => s
                .join_timeout(None)
                .map(|s| s.expect("no timeout: a status")),
        }
    }

    /// Sends `signal` (never to a process that reused the pid; nothing once
    /// it has ended).
    pub(crate) fn send_signal(&self, signal: i32) -> Result<(), bingfa_process::Error> {
        match self {
            Proc::Child(p) => p.send_signal(signal),
            Proc::Served(s) => s.send_signal(signal),
        }
    }

    pub(crate) fn kill(&self) -> Result<(), bingfa_process::Error> {
        self.send_signal(libc::SIGKILL)
    }
}
