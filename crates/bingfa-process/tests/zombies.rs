//! No handle, joined, dropped or leaked, leaves a zombie.

// Forking from a test: the harness runs tests on threads, so every `fork`
// here happens in a process with other threads (see the Safety section of
// `bingfa_process::fork`). Each closure takes no lock those threads may
// hold: it uses its own data, this crate's shared-memory objects, the
// test's own output capture, and glibc's malloc, which glibc's `fork` keeps
// usable in the child.

use std::time::{Duration, Instant};

/// This process's children, zombies included, with their state letter
/// from `/proc/PID/stat`.
fn children_with_state() -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let rest: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split(' ').collect();
        if rest[1].parse::<u32>() == Ok(me) {
            out.push((pid, rest[0].to_string()));
        }
    }
    out
}

/// Our children that are zombies right now.
fn zombie_children() -> Vec<u32> {
    children_with_state()
        .into_iter()
        .filter(|(_, state)| state == "Z")
        .map(|(pid, _)| pid)
        .collect()
}

/// This process's children, zombies included.
fn children() -> Vec<u32> {
    children_with_state()
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

#[test]
fn no_zombies_after_1000_short_lived_children() {
    let mut kept = Vec::new();
    for i in 0..1000 {
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        let p = unsafe { bingfa_process::fork(|| {}) }.unwrap();
        match i % 4 {
            0 => assert!(p.join().unwrap().success()),
            1 => drop(p),
            2 => std::mem::forget(p),
            _ => kept.push(p),
        }
    }
    for p in &kept {
        assert!(p.join().unwrap().success());
    }
    // Every child has exited by now or will shortly. The dropped ones are
    // reaped by the watcher or a later start; the leaked ones by the
    // starts and joins after them, the last few by the next sweep
    // (active_children here).
    let t = Instant::now();
    loop {
        let _ = bingfa_process::active_children();
        let z = zombie_children();
        if z.is_empty() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "zombies left: {z:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The threads of this process now.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .map(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect()
}

/// Waits up to 20 s for `cond`.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `check` in a forked child, a process with one thread and a
/// registry of its own, and fails with its panic message if it fails.
fn in_a_fresh_process(check: fn()) {
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let tester = unsafe { bingfa_process::fork(check) }.unwrap();
    let status = tester.join_timeout(Duration::from_secs(60)).unwrap();
    if status.is_none() {
        tester.kill().unwrap();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {:?}",
        tester.panic_message()
    );
}

#[test]
fn starting_and_joining_children_starts_no_thread() {
    // The common case costs no thread: a single-threaded program stays
    // single-threaded (a second thread would make every fork slower).
    in_a_fresh_process(|| {
        assert_eq!(threads().len(), 1);
        for _ in 0..50 {
            // SAFETY: this runs in the forked tester, which has one thread.
            let p = unsafe { bingfa_process::fork(|| {}) }.unwrap();
            assert!(p.join().unwrap().success());
        }
        // A handle dropped once its child has ended, a kept one asked
        // with is_alive, a timed join: still no thread.
        // SAFETY: this runs in the forked tester, which has one thread.
        let p = unsafe { bingfa_process::fork(|| {}) }.unwrap();
        eventually("the child ends", || !p.is_alive().unwrap());
        drop(p);
        // SAFETY: this runs in the forked tester, which has one thread.
        let p = unsafe { bingfa_process::fork(|| {}) }.unwrap();
        assert!(p.join_timeout(Duration::from_secs(20)).unwrap().is_some());
        assert!(bingfa_process::active_children().is_empty());
        assert_eq!(threads().len(), 1, "threads: {:?}", threads());
        assert_eq!(zombie_children(), Vec::<u32>::new());
    });
}

#[test]
fn a_dropped_running_child_is_reaped_when_it_ends_with_no_further_call() {
    in_a_fresh_process(|| {
        let go = bingfa_process::Event::new().unwrap();
        let pids: Vec<u32> = (0..20)
            .map(|_| {
                let go = go.clone();
                let p =
                    // SAFETY: this runs in the forked tester, which has one thread.
                    unsafe { bingfa_process::fork(move || assert!(go.wait_timeout(Duration::from_secs(20)))) }
                        .unwrap();
                p.pid()
                // dropped here, running
            })
            .collect();
        // The watcher took them over.
        assert!(
            threads().iter().any(|t| t == "bingfa-reaper"),
            "threads: {:?}",
            threads()
        );
        go.set();
        // No call into the crate from here on: the watcher reaps them.
        eventually("every dropped child is reaped", || {
            let left = children();
            pids.iter().all(|p| !left.contains(p))
        });
        // And it ends once it has had nothing to watch for a while.
        eventually("the watcher ends", || threads().len() == 1);
    });
}

#[test]
fn a_leaked_or_kept_handles_child_is_reaped_at_the_next_start_join_or_sweep() {
    in_a_fresh_process(|| {
        let go = bingfa_process::Event::new().unwrap();
        let start = |go: &bingfa_process::Event| {
            let go = go.clone();
            // SAFETY: this runs in the forked tester, which has one thread.
            unsafe {
                bingfa_process::fork(move || assert!(go.wait_timeout(Duration::from_secs(20))))
            }
            .unwrap()
        };
        let leaked: Vec<u32> = (0..5)
            .map(|_| {
                let p = start(&go);
                let pid = p.pid();
                std::mem::forget(p);
                pid
            })
            .collect();
        let kept: Vec<_> = (0..5).map(|_| start(&go)).collect();
        go.set();
        // Ended, not reaped: nothing ran since (Python's rule too).
        eventually("all ten are zombies", || zombie_children().len() == 10);
        assert_eq!(threads().len(), 1, "no thread watches them");
        // The next start reaps them all.
        // SAFETY: this runs in the forked tester, which has one thread.
        let p = unsafe { bingfa_process::fork(|| {}) }.unwrap();
        let left = children();
        assert!(
            left.iter().all(|&c| c == p.pid()),
            "children left: {left:?}"
        );
        assert!(leaked.iter().all(|p| !left.contains(p)), "{left:?}");
        assert!(p.join().unwrap().success());
        assert_eq!(zombie_children(), Vec::<u32>::new());
        // A kept handle still reports its child's status.
        for p in &kept {
            assert_eq!(
                p.exit_status().unwrap(),
                Some(bingfa_process::ExitStatus::Code(0))
            );
            assert!(p.join().unwrap().success());
        }
        assert_eq!(threads().len(), 1);
    });
}

/// The pids this process holds a pidfd of (from `/proc/self/fdinfo`):
/// -1 for a process that no longer exists (reaped).
fn pidfd_pids() -> Vec<i64> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fdinfo").unwrap().flatten() {
        let fd = e.file_name().to_string_lossy().into_owned();
        let is_pidfd = std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .is_ok_and(|l| l.to_string_lossy().contains("pidfd"));
        let Ok(info) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        if !is_pidfd {
            continue;
        }
        let pid = info
            .lines()
            .find_map(|l| l.strip_prefix("Pid:"))
            .and_then(|p| p.trim().parse::<i64>().ok());
        out.extend(pid);
    }
    out
}

#[test]
fn reaped_children_hold_no_descriptor() {
    // A handle kept after its child was reaped holds no pidfd: every
    // fork copies the descriptor table and every child's exit closes its
    // copy, so stale pidfds made each later start slower (and enough of
    // them would run into the descriptor limit).
    // The children wait until the first look, so that none is reaped
    // (and its pidfd closed) before it (the reaper could otherwise get
    // them all while this thread is descheduled).
    let go = bingfa_process::Event::new().unwrap();
    let kept: Vec<_> = (0..40)
        .map(|_| {
            let go = go.clone();
            // SAFETY: the closure takes no lock the harness's other threads may hold
            // (see the note at the top of this file).
            unsafe {
                bingfa_process::fork(move || {
                    go.wait_timeout(Duration::from_secs(20));
                })
            }
            .unwrap()
        })
        .collect();
    let open = pidfd_pids();
    go.set();
    let ours = kept
        .iter()
        .filter(|p| open.contains(&(p.pid() as i64)))
        .count();
    assert_eq!(
        ours, 40,
        "running children have a pidfd open (this test sees them)"
    );
    for p in &kept {
        assert!(p.join().unwrap().success());
    }
    // A reaped child's pidfd shows pid -1. The other test in this binary
    // forks at the same time, so allow a few of its pidfds in flight
    // (held by a wait or the reaper's poll for a moment); kept handles
    // that still held theirs would be at least 40.
    let stale = pidfd_pids().iter().filter(|&&p| p == -1).count();
    assert!(stale < 40, "{stale} pidfds of reaped children still open");
    // The handles still answer.
    for p in &kept {
        assert!(!p.is_alive().unwrap());
        assert_eq!(p.exitcode().unwrap(), Some(0));
    }
}

/// Makes `pidfd_open` fail with `ENOSYS` in this process from now on
/// (a seccomp filter), as on a kernel older than 5.3.
fn refuse_pidfd_open() {
    let insn = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let mut prog = [
        // The system call number is the first field of seccomp_data.
        insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0),
        insn(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            0,
            1,
            libc::SYS_pidfd_open as u32,
        ),
        insn(
            libc::BPF_RET | libc::BPF_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
        insn(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: prctl with integer arguments, then with a valid filter
    // program that outlives the call (the kernel copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &fprog as *const libc::sock_fprog
            ),
            0
        );
    }
}

#[test]
fn a_child_that_cannot_be_tracked_is_killed_and_reaped() {
    // If pidfd_open fails after the fork, the child already runs: fork
    // reports the error, and the child must not be left behind (it would
    // run untracked, then stay a zombie). Checked in a child of the test,
    // so that the seccomp filter stays there.
    let tester_main = || {
        refuse_pidfd_open();
        // SAFETY: this process is a forked child: it has one thread.
        let r = unsafe { bingfa_process::fork(|| std::thread::sleep(Duration::from_secs(30))) };
        let e = r.expect_err("pidfd_open is refused");
        assert!(
            matches!(e, bingfa_process::Error::Os(ref io) if io.raw_os_error() == Some(libc::ENOSYS)),
            "{e:?}"
        );
        assert_eq!(children(), Vec::<u32>::new(), "the untracked child is gone");
    };
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let tester = unsafe { bingfa_process::fork(tester_main) }.unwrap();
    let status = tester.join_timeout(Duration::from_secs(20)).unwrap();
    if status.is_none() {
        tester.kill().unwrap();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {:?}",
        tester.panic_message()
    );
}
