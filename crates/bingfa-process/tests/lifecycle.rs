//! Daemon children die with their parent, however it ends; non-daemon
//! children outlive it.

// Forking from a test: the harness runs tests on threads, so every `fork`
// here happens in a process with other threads (see the Safety section of
// `bingfa_process::fork`). Each closure takes no lock those threads may
// hold: it uses its own data, this crate's shared-memory objects, the
// test's own output capture, and glibc's malloc, which glibc's `fork` keeps
// usable in the child.

use std::time::{Duration, Instant};

use bingfa_process::{Builder, ExitStatus, Queue};

bingfa_process::enable_test_support!();

/// Whether `pid` is gone (no such process, or a zombie that will never run
/// again), waiting up to `within`.
fn gone_within(pid: u32, within: Duration) -> bool {
    let t = Instant::now();
    loop {
        let gone = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(s) => {
                let after = &s[s.rfind(')').unwrap() + 2..];
                after.starts_with('Z') || after.starts_with('X')
            }
        };
        if gone {
            return true;
        }
        if t.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How the middle process ends.
#[derive(Clone, Copy, Debug)]
enum End {
    /// Returns from its closure (`_exit(0)`, no atexit handlers).
    Return,
    /// `std::process::exit`: the atexit clean-up runs.
    Exit,
    /// Killed by SIGKILL: only the kernel's death signal can help.
    Killed,
}

/// The test process forks a middle process, which starts a child (daemon or
/// not) and reports its pid, then ends as told. Returns the grandchild pid.
fn grandchild_after_parent_ends(daemon: bool, end: End) -> (u32, ExitStatus) {
    let q = Queue::<u32>::new(4).unwrap();
    let middle = {
        let q = q.clone();
        let middle_main = move || {
            // SAFETY: this process is a forked child: it has one thread.
            let g = unsafe {
                Builder::new()
                    .daemon(daemon)
                    .fork(|| std::thread::sleep(Duration::from_secs(30)))
            }
            .unwrap();
            q.put(g.pid()).unwrap();
            match end {
                End::Return => {}
                End::Exit => std::process::exit(0),
                End::Killed => std::thread::sleep(Duration::from_secs(30)),
            }
        };
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe { bingfa_process::fork(middle_main) }.unwrap()
    };
    let g = q.get_timeout(Duration::from_secs(10)).unwrap();
    if let End::Killed = end {
        middle.kill().unwrap();
    }
    (g, middle.join().unwrap())
}

#[test]
fn daemon_dies_when_parent_returns() {
    let (g, st) = grandchild_after_parent_ends(true, End::Return);
    assert_eq!(st, ExitStatus::Code(0));
    assert!(
        gone_within(g, Duration::from_secs(10)),
        "daemon {g} outlived its parent"
    );
}

#[test]
fn daemon_dies_when_parent_exits() {
    let (g, st) = grandchild_after_parent_ends(true, End::Exit);
    assert_eq!(st, ExitStatus::Code(0));
    assert!(
        gone_within(g, Duration::from_secs(10)),
        "daemon {g} outlived its parent"
    );
}

#[test]
fn daemon_dies_when_parent_is_killed() {
    let (g, st) = grandchild_after_parent_ends(true, End::Killed);
    assert_eq!(st, ExitStatus::Signal(9));
    assert!(
        gone_within(g, Duration::from_secs(10)),
        "daemon {g} outlived its parent"
    );
}

#[test]
fn non_daemon_outlives_parent() {
    let (g, _) = grandchild_after_parent_ends(false, End::Return);
    // Give a death signal (if one were wrongly set) time to act.
    assert!(
        !gone_within(g, Duration::from_millis(300)),
        "non-daemon {g} died with its parent"
    );
    // SAFETY: signalling our own grandchild to clean up.
    unsafe { libc::kill(g as i32, libc::SIGKILL) };
    assert!(gone_within(g, Duration::from_secs(10)));
}

fn spawned_middle(q: Queue<u32>) {
    let g = Builder::new().daemon(true).spawn(sleeper, 30).unwrap();
    q.put(g.pid()).unwrap();
}

fn sleeper(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

#[test]
fn spawned_daemon_dies_with_spawned_parent() {
    let q = Queue::<u32>::new(4).unwrap();
    let middle = bingfa_process::spawn(spawned_middle, q.clone()).unwrap();
    let g = q.get_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(
        middle.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        middle.panic_message()
    );
    assert!(
        gone_within(g, Duration::from_secs(10)),
        "daemon {g} outlived its parent"
    );
}
