//! A child's standard input: `/dev/null` unless it inherits the parent's
//! (Python replaces a child's `sys.stdin` with `os.devnull`). A test binary
//! of its own: these tests change this process's descriptors, which no
//! other test must see at the same time.

// Forking from a test: the harness runs tests on threads, so every `fork`
// here happens in a process with other threads (see the Safety section of
// `bingfa_process::fork`). Each closure makes a system call or two and
// `_exit`s: it takes no lock and allocates nothing.

use bingfa_process::{Builder, ExitStatus};

bingfa_process::enable_test_support!();

/// The tests of this file change descriptors of this process: one at a
/// time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// What reading descriptor 0 gives: 0 at end of file (`/dev/null`), 3 if
/// it read bytes, 4 on an error. A child's exit code.
fn stdin_verdict() -> i32 {
    let mut buf = [0u8; 32];
    // SAFETY: a read into a local buffer of its own length.
    match unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) } {
        0 => 0,
        n if n > 0 => 3,
        _ => 4,
    }
}

fn child_reads_stdin(_: ()) {
    std::process::exit(stdin_verdict());
}

/// Python replaces a child's `sys.stdin` with `os.devnull`: a child does not
/// take input meant for its parent. Here the parent's standard input is a
/// pipe holding a line; a forked and a spawned child read end of file, and
/// only a child started with `inherit_stdin(true)` reads the line.
#[test]
fn children_read_dev_null_unless_they_inherit_stdin() {
    let _alone = alone();
    /// Restores this process's descriptor 0 when dropped (also on panic).
    struct Restore(i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: `self.0` is our duplicate of the old descriptor 0.
            unsafe {
                libc::dup2(self.0, 0);
                libc::close(self.0);
            }
        }
    }
    let mut fds = [0i32; 2];
    // SAFETY: plain descriptor calls on descriptors this test owns, and on
    // 0, which it restores (no other test reads standard input).
    let _restore = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        let line = b"for the parent\n";
        assert_eq!(
            libc::write(fds[1], line.as_ptr().cast(), line.len()),
            line.len() as isize
        );
        libc::close(fds[1]);
        let saved = libc::dup(0);
        assert!(saved >= 0);
        assert_eq!(libc::dup2(fds[0], 0), 0);
        libc::close(fds[0]);
        Restore(saved)
    };
    // SAFETY: the closure makes one read and `_exit` (see the note at the
    // top of this file).
    let forked = unsafe { bingfa_process::fork(|| libc::_exit(stdin_verdict())) }.unwrap();
    assert_eq!(
        forked.join().unwrap(),
        ExitStatus::Code(0),
        "fork: end of file"
    );
    let spawned = bingfa_process::spawn(child_reads_stdin, ()).unwrap();
    assert_eq!(
        spawned.join().unwrap(),
        ExitStatus::Code(0),
        "spawn: end of file"
    );
    // The line is still there for a child that keeps the parent's stdin.
    // SAFETY: as above.
    let keeps = unsafe {
        Builder::new()
            .inherit_stdin(true)
            .fork(|| libc::_exit(stdin_verdict()))
    }
    .unwrap();
    assert_eq!(
        keeps.join().unwrap(),
        ExitStatus::Code(3),
        "inherited: the line"
    );
}

/// The children's `/dev/null` is opened once in the parent and `dup2`ed in
/// each child; if user code closes that descriptor and its number comes to
/// name another file, a child must not take that file as its stdin.
#[test]
fn a_reused_descriptor_number_is_not_taken_for_dev_null() {
    let _alone = alone();
    // A first child makes the parent open its /dev/null.
    // SAFETY: the closure only calls `_exit`.
    let first = unsafe { bingfa_process::fork(|| libc::_exit(0)) }.unwrap();
    assert_eq!(first.join().unwrap(), ExitStatus::Code(0));
    let fd = bingfa_process::__test_hooks::dev_null_fd().expect("opened by the fork");
    assert_eq!(
        std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap(),
        std::path::Path::new("/dev/null")
    );
    // Close it and put a pipe holding a line at its number.
    let mut fds = [0i32; 2];
    // SAFETY: plain descriptor calls on descriptors this test owns (the
    // crate's /dev/null is closed on purpose: the case under test).
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        let line = b"not /dev/null\n";
        assert_eq!(
            libc::write(fds[1], line.as_ptr().cast(), line.len()),
            line.len() as isize
        );
        libc::close(fds[1]);
        assert_eq!(libc::dup2(fds[0], fd), fd);
        libc::close(fds[0]);
    }
    // SAFETY: the closure makes one read and `_exit`.
    let child = unsafe { bingfa_process::fork(|| libc::_exit(stdin_verdict())) }.unwrap();
    assert_eq!(
        child.join().unwrap(),
        ExitStatus::Code(0),
        "the child read the pipe"
    );
    // The parent opened a fresh /dev/null for it, at another number, and
    // left ours alone.
    let fresh = bingfa_process::__test_hooks::dev_null_fd().unwrap();
    assert_ne!(fresh, fd);
    assert_eq!(
        std::fs::read_link(format!("/proc/self/fd/{fresh}")).unwrap(),
        std::path::Path::new("/dev/null")
    );
    // SAFETY: our pipe's read end, at the number we gave it.
    unsafe { libc::close(fd) };
}
