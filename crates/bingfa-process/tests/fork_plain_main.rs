//! What a forked child does with stdout when its closure returns, in a
//! program with its own `main` (no libtest harness, no output capture, so
//! that this process really is single-threaded and its stdout is fd 1):
//!
//! - single-threaded parent: what the closure left in stdout's buffer (a
//!   `print!` without a newline) is flushed when it returns, and what the
//!   parent had buffered before the fork is printed once, by the parent;
//! - parent with another thread, which holds stdout's lock at the fork:
//!   the child still ends (it must not flush: that lock is held forever in
//!   it).

#[cfg(not(bingfa_loom))]
use std::io::{Read, Seek, Write};
#[cfg(not(bingfa_loom))]
use std::os::fd::AsRawFd;
#[cfg(not(bingfa_loom))]
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
#[cfg(not(bingfa_loom))]
use std::time::Duration;

#[cfg(not(bingfa_loom))]
use bingfa_process::ExitStatus;

/// Under loom (`cargo xtask loom` runs every test binary with the filter
/// `loom`), the crate's atomics are loom's, usable only inside a model:
/// nothing to run here.
#[cfg(bingfa_loom)]
fn main() {}

#[cfg(not(bingfa_loom))]
fn main() {
    assert_eq!(threads(), 1, "this program starts single-threaded");
    // fd 1 becomes a file, so that what reaches it can be read back.
    let mut out = tempfile();
    let saved = dup(1);
    dup2(out.as_raw_fd(), 1);

    print!("parent before the fork; ");
    // SAFETY: this program has no other thread (checked above).
    let p = unsafe { bingfa_process::fork(|| print!("child, no newline")) }.unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
    std::io::stdout().flush().unwrap();

    // A thread holds stdout's lock while the parent forks. `fork` flushes
    // stdout (taking its lock) before it forks, so the thread must take the
    // lock after that flush and before the fork: a `pthread_atfork` prepare
    // handler, which runs in between, tells it to and waits until it has.
    let holder = std::thread::spawn(|| {
        while HOLD.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        let guard = std::io::stdout().lock();
        HOLD.store(2, Ordering::Release);
        while HOLD.load(Ordering::Acquire) != 3 {
            std::thread::yield_now();
        }
        drop(guard);
    });
    // SAFETY: registering a handler; it only touches an atomic.
    assert_eq!(
        unsafe { libc::pthread_atfork(Some(prepare), None, None) },
        0
    );
    ARMED.store(true, Ordering::Release);
    // SAFETY: the closure does nothing: it takes no lock and allocates
    // nothing, so the other thread (which holds stdout's lock) cannot
    // block it.
    let p = unsafe { bingfa_process::fork(|| {}) }.unwrap();
    ARMED.store(false, Ordering::Release);
    assert_eq!(
        HOLD.load(Ordering::Acquire),
        2,
        "the thread held the lock at the fork"
    );
    let ended = p.join_timeout(Duration::from_secs(30)).unwrap();
    if ended.is_none() {
        p.kill().unwrap();
    }
    HOLD.store(3, Ordering::Release);
    holder.join().unwrap();

    std::io::stdout().flush().unwrap();
    dup2(saved, 1);
    let mut text = String::new();
    out.rewind().unwrap();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(
        text, "parent before the fork; child, no newline",
        "stdout as the file saw it"
    );
    assert_eq!(
        ended,
        Some(ExitStatus::Code(0)),
        "the child of a parent whose other thread held stdout's lock hung"
    );
    println!("fork_plain_main: ok");
}

/// Armed around the one fork the prepare handler acts on.
#[cfg(not(bingfa_loom))]
static ARMED: AtomicBool = AtomicBool::new(false);
/// 0: wait; 1: take stdout's lock; 2: held; 3: release it.
#[cfg(not(bingfa_loom))]
static HOLD: AtomicU32 = AtomicU32::new(0);

/// Runs in the parent inside `fork`, after the crate's flush of stdout:
/// has the thread take stdout's lock, and waits until it holds it.
#[cfg(not(bingfa_loom))]
extern "C" fn prepare() {
    if ARMED.load(Ordering::Acquire) {
        HOLD.store(1, Ordering::Release);
        while HOLD.load(Ordering::Acquire) != 2 {
            std::hint::spin_loop();
        }
    }
}

#[cfg(not(bingfa_loom))]
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[cfg(not(bingfa_loom))]
fn tempfile() -> std::fs::File {
    let path = std::env::temp_dir().join(format!("bingfa-fork-stdout-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    f
}

#[cfg(not(bingfa_loom))]
fn dup(fd: i32) -> i32 {
    // SAFETY: dup of an open descriptor.
    let r = unsafe { libc::dup(fd) };
    assert!(r >= 0);
    r
}

#[cfg(not(bingfa_loom))]
fn dup2(from: i32, to: i32) {
    // SAFETY: dup2 between open descriptors.
    assert!(unsafe { libc::dup2(from, to) } >= 0);
}
