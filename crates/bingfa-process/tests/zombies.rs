//! No handle, joined, dropped or leaked, leaves a zombie.

use std::time::{Duration, Instant};

/// Our children that are zombies right now.
fn zombie_children() -> Vec<u32> {
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
        if rest[0] == "Z" && rest[1].parse::<u32>() == Ok(me) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn no_zombies_after_1000_short_lived_children() {
    let mut kept = Vec::new();
    for i in 0..1000 {
        let p = bingfa_process::fork(|| {}).unwrap();
        match i % 4 {
            0 => assert!(p.join().unwrap().success()),
            1 => drop(p),
            2 => std::mem::forget(p),
            _ => kept.push(p),
        }
    }
    // Every child has exited by now or will shortly; the reaper collects
    // the dropped and leaked ones, the kept ones too.
    let t = Instant::now();
    loop {
        let z = zombie_children();
        if z.is_empty() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "zombies left: {z:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in &kept {
        assert!(p.join().unwrap().success());
    }
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
    let kept: Vec<_> = (0..40)
        .map(|_| bingfa_process::fork(|| {}).unwrap())
        .collect();
    let open = pidfd_pids();
    let ours = kept
        .iter()
        .filter(|p| open.contains(&(p.pid() as i64)))
        .count();
    assert!(
        ours > 0,
        "unreaped children have a pidfd open (this test sees them)"
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
