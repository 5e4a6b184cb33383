//! The threads of a child process: a child whose entry point has returned
//! waits for the threads that entry point started (Python joins a child's
//! non-daemon threads before it exits), unless its [`Builder`] said
//! `join_threads(false)`.
//!
//! Rust threads have no handle the crate could join, nor a daemon flag:
//! the threads are found in `/proc/self/task` (those that did not exist
//! when the entry point started), and waited for until they are gone. The
//! library family's own service threads are not waited for: the reaper
//! (by thread id) and every thread named `bingfa-...` (watchdogs, the
//! green blocking pool).
//!
//! [`Builder`]: crate::Builder

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::sys;

/// The reaper thread of this process (0: none). Reset in a forked child.
static REAPER_TID: AtomicU32 = AtomicU32::new(0);

/// Called by the reaper thread as it starts.
pub(crate) fn mark_reaper() {
    REAPER_TID.store(sys::gettid(), Ordering::Relaxed);
}

/// Called by the fork handler in every child. Async-signal-safe.
pub(crate) fn forget_after_fork() {
    REAPER_TID.store(0, Ordering::Relaxed);
}

/// The ids of this process's threads now (empty if `/proc` cannot be
/// read).
pub(crate) fn current() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Whether thread `tid` of this process is a service thread of this
/// library family.
fn is_service(tid: u32) -> bool {
    if tid == REAPER_TID.load(Ordering::Relaxed) {
        return true;
    }
    std::fs::read(format!("/proc/self/task/{tid}/comm")).is_ok_and(|n| n.starts_with(b"bingfa-"))
}

/// Waits until every thread of this process that is not in `initial` (nor
/// a service thread) has ended. Returns at once when `/proc` cannot be
/// read: it would rather not wait than wait forever.
pub(crate) fn wait_for_new(initial: &[u32]) {
    let mut pause = Duration::from_micros(100);
    loop {
        let now = current();
        let mut waiting = now
            .iter()
            .filter(|t| !initial.contains(t))
            .filter(|&&t| !is_service(t));
        if waiting.next().is_none() {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
