//! What Python does at the end of a process, on request here:
//! [`active_children`], and the [`ExitGuard`] that ends daemon children and
//! joins the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{registry, Child, Process};

/// The children of this process that are still running (started by this
/// crate, from any thread, whether or not their handles were kept). Those
/// that have ended are reaped on the way, and left out. Python:
/// `multiprocessing.active_children()`.
///
/// ```
/// let ev = bingfa_process::Event::new().unwrap();
/// let p = bingfa_process::fork(|| ev.wait()).unwrap();
/// assert!(bingfa_process::active_children().iter().any(|c| c.pid() == p.pid()));
/// ev.set();
/// p.join().unwrap();
/// assert!(!bingfa_process::active_children().iter().any(|c| c.pid() == p.pid()));
/// ```
pub fn active_children() -> Vec<Process> {
    running().into_iter().map(Process::handle).collect()
}

fn running() -> Vec<Arc<Child>> {
    registry::children()
        .into_iter()
        .filter(|c| matches!(c.try_reap(), Ok(None)))
        .collect()
}

/// Ends this process's children the way Python does at the end of every
/// process, when dropped (or by [`finish`](ExitGuard::finish)): daemon
/// children are sent `SIGTERM` (and `SIGKILL` if they have not ended a
/// second later), then every child still running is joined. Python:
/// `multiprocessing.util._exit_function`, which runs at interpreter exit
/// and at the end of each child process.
///
/// A Rust program ends when `main` returns, and its non-daemon children
/// run on, adopted by init (a daemon child dies with its parent in any
/// case). Make one at the start of `main`, or of a child's entry point,
/// to wait for the children instead:
///
/// ```
/// use std::time::Duration;
///
/// // First thing in main:
/// bingfa_process::init();
/// let children = bingfa_process::exit_guard();
///
/// let p = bingfa_process::fork(|| std::thread::sleep(Duration::from_millis(50))).unwrap();
/// drop(p); // the handle may go: the guard still waits for the child
/// drop(children); // (at the end of main) waits here, as Python would
/// assert!(bingfa_process::active_children().is_empty());
/// ```
///
/// It runs when the guard is dropped: at the end of the scope, also when
/// a panic unwinds through it; not when the process ends through
/// `std::process::exit` or a signal.
#[must_use = "the children are joined when the guard is dropped: keep it (`let _children = ...`)"]
#[derive(Debug)]
pub struct ExitGuard {
    done: bool,
}

/// The guard that joins this process's children when dropped; see
/// [`ExitGuard`]. Python: what `multiprocessing` does at interpreter exit.
#[doc(alias = "_exit_function")]
pub fn exit_guard() -> ExitGuard {
    ExitGuard { done: false }
}

impl ExitGuard {
    /// Ends the children now (see [`ExitGuard`]) rather than at the drop.
    pub fn finish(mut self) {
        self.done = true;
        end_children();
    }
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if !self.done {
            end_children();
        }
    }
}

fn end_children() {
    let children = running();
    let daemons: Vec<&Arc<Child>> = children.iter().filter(|c| c.daemon).collect();
    for c in &daemons {
        let _ = c.signal(libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    for c in &daemons {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(None) = c.wait(Some(left)) {
            let _ = c.signal(libc::SIGKILL);
        }
    }
    for c in &children {
        let _ = c.wait(None);
    }
}
