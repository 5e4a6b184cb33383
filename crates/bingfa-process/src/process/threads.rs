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

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;
use std::time::Duration;

use crate::sys;

/// Called by the reaper thread as it starts.
pub(crate) fn mark_reaper() {
    sys::FORKED
        .reaper_tid
        .store(sys::gettid(), Ordering::Relaxed);
}

/// Called by the reaper thread as it ends.
pub(crate) fn unmark_reaper() {
    sys::FORKED.reaper_tid.store(0, Ordering::Relaxed);
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
    if tid == sys::FORKED.reaper_tid.load(Ordering::Relaxed) {
        return true;
    }
    std::fs::read(format!("/proc/self/task/{tid}/comm")).is_ok_and(|n| n.starts_with(b"bingfa-"))
}

/// glibc's `__libc_single_threaded` (2.32+), or null: a flag that stays
/// non-zero as long as this process has never had a second thread. Looked
/// up by [`prepare`].
static SINGLE_THREADED: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// Looks up glibc's single-threaded flag (once), so that a forked child can
/// tell that its entry point started no thread without reading `/proc`.
/// Called in the parent before `fork` (the lookup is not async-signal-safe).
pub(crate) fn prepare() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // `libc`: a symbol lookup in the C library. Null where there is no
        // such symbol (glibc before 2.32, musl, a static binary): the
        // child then reads `/proc`.
        // SAFETY: dlsym with the default handle and a NUL-terminated name.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__libc_single_threaded".as_ptr()) };
        SINGLE_THREADED.store(p.cast(), Ordering::Relaxed);
    });
}

/// Whether the calling thread is this process's only thread now: glibc's
/// flag says it never had another, or `/proc/self/stat` counts one.
/// Async-signal-safe: no lock, no allocation (the count is read into a
/// buffer on the stack). `false` when it cannot tell.
pub(crate) fn alone() -> bool {
    never_threaded() || thread_count() == Some(1)
}

/// The number of threads of this process (`num_threads` in
/// `/proc/self/stat`), read with three system calls into a buffer on the
/// stack: async-signal-safe.
fn thread_count() -> Option<u64> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        c"/proc/self/stat",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 1024];
    let n = sys::read(std::os::fd::AsFd::as_fd(&fd), &mut buf).ok()?;
    num_threads(&buf[..n])
}

/// `num_threads` of a `/proc/PID/stat` line: the 18th field after the
/// command name's closing parenthesis (the 20th of the line).
fn num_threads(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let field = stat[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .nth(17)?;
    field.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}

/// Whether this process has certainly never had a thread other than the
/// caller (glibc's flag says so). `false` means "maybe".
fn never_threaded() -> bool {
    let p = SINGLE_THREADED.load(Ordering::Relaxed);
    // SAFETY: null, or glibc's `char __libc_single_threaded`, a static of
    // the C library that lives as long as the process. glibc writes it
    // only in `pthread_create`, so while it reads non-zero no other
    // thread exists that could write it concurrently (the first thread
    // any thread creates is preceded by that write in the caller's own
    // program order).
    !p.is_null() && unsafe { std::ptr::read_volatile(p) } != 0
}

/// Waits until every thread of this process that is not in `initial` (nor
/// a service thread) has ended. Returns at once when `/proc` cannot be
/// read: it would rather not wait than wait forever. Returns at once,
/// without reading `/proc`, when glibc says that the process never had a
/// second thread (the common fork of a single-threaded program, whose
/// child would otherwise pay an `open` and a directory read).
///
/// When `initial` is only the caller (a forked child), the check is
/// async-signal-safe until it finds another thread: glibc's flag, then the
/// count in `/proc/self/stat`; only then is `/proc/self/task` listed
/// (which allocates).
pub(crate) fn wait_for_new(initial: &[u32]) {
    if never_threaded() || (initial.len() == 1 && thread_count() == Some(1)) {
        return;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_threads_is_read_from_a_stat_line_whatever_the_command_name() {
        let line = b"4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 12345 1000 10";
        assert_eq!(num_threads(line), Some(7));
        assert_eq!(num_threads(b"4242 (x) S 1 2 3"), None);
        assert_eq!(num_threads(b"no parenthesis"), None);
        let bad = b"1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 7x 0";
        assert_eq!(num_threads(bad), None);
    }

    #[test]
    fn the_thread_count_of_this_process_is_read() {
        let n = thread_count().expect("/proc/self/stat");
        assert!(n >= 1);
        let t = std::thread::spawn(move || thread_count().unwrap());
        assert!(t.join().unwrap() > 1);
    }
}
