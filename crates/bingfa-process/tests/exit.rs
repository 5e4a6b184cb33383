//! The end of a process: a child waits for the threads its entry point
//! started (or not, when told), `active_children`, the `sentinel`
//! descriptor, and the `ExitGuard` that joins children as Python does at
//! exit.

use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use bingfa_process::{active_children, Builder, Event, ExitStatus, Process, Value};

bingfa_process::enable_test_support!();

const LONG: Duration = Duration::from_secs(30);

fn ok(p: &Process) {
    let st = p.join().unwrap();
    assert_eq!(st, ExitStatus::Code(0), "{:?}", p.panic_message());
}

/// Starts a thread that sets `v` to 7 after 100 ms, and returns at once.
fn start_late_writer(v: &Value<u32>) {
    let v = v.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        v.set(7);
    });
}

#[test]
fn a_forked_child_waits_for_the_threads_its_closure_started() {
    let v = Value::new(0u32).unwrap();
    let p = bingfa_process::fork(|| start_late_writer(&v)).unwrap();
    ok(&p);
    // Its work was not cut off when the closure returned.
    assert_eq!(v.get(), 7);

    // Also when the closure panics (Python joins in a finally).
    let v = Value::new(0u32).unwrap();
    let p = bingfa_process::fork(|| {
        start_late_writer(&v);
        panic!("after starting a thread");
    })
    .unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Code(1));
    assert_eq!(v.get(), 7);
}

#[test]
fn join_threads_false_ends_the_child_with_its_closure() {
    let v = Value::new(0u32).unwrap();
    let t = Instant::now();
    let p = Builder::new()
        .join_threads(false)
        .fork(|| {
            let v = v.clone();
            std::thread::spawn(move || {
                std::thread::sleep(LONG);
                v.set(7);
            });
        })
        .unwrap();
    ok(&p);
    assert!(t.elapsed() < LONG, "the child waited for its thread");
    assert_eq!(v.get(), 0);
}

fn spawned_starts_a_thread(v: Value<u32>) {
    start_late_writer(&v);
}

#[test]
fn a_spawned_child_waits_for_its_threads_too() {
    let v = Value::new(0u32).unwrap();
    let p = bingfa_process::spawn(spawned_starts_a_thread, v.clone()).unwrap();
    ok(&p);
    assert_eq!(v.get(), 7);
}

#[test]
fn a_child_with_children_of_its_own_does_not_wait_for_the_reaper() {
    // The child's own reaper thread (started by its first fork) is a
    // service thread: the child must end without waiting for it.
    let p = bingfa_process::fork(|| {
        let g = bingfa_process::fork(|| {}).unwrap();
        drop(g); // the reaper collects it
    })
    .unwrap();
    assert!(
        p.join_timeout(LONG).unwrap().is_some(),
        "the child waited for its reaper"
    );
}

#[test]
fn active_children_lists_running_children_only() {
    let go = Event::new().unwrap();
    let a = bingfa_process::fork(|| assert!(go.wait_timeout(LONG))).unwrap();
    let b = bingfa_process::fork(|| assert!(go.wait_timeout(LONG))).unwrap();
    let b_pid = b.pid();
    drop(b); // a dropped handle: still a running child
    let pids: Vec<u32> = active_children().iter().map(|p| p.pid()).collect();
    assert!(pids.contains(&a.pid()) && pids.contains(&b_pid), "{pids:?}");
    let mine = active_children()
        .into_iter()
        .find(|p| p.pid() == b_pid)
        .unwrap();
    assert!(mine.is_alive().unwrap());
    go.set();
    ok(&a);
    ok(&mine);
    let pids: Vec<u32> = active_children().iter().map(|p| p.pid()).collect();
    assert!(
        !pids.contains(&a.pid()) && !pids.contains(&b_pid),
        "{pids:?}"
    );
}

/// Polls `fds` for reading; returns which are ready.
fn ready(fds: &[i32], timeout_ms: i32) -> Vec<bool> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: a valid array of pollfds.
    let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
    assert!(n >= 0);
    p.iter().map(|p| p.revents != 0).collect()
}

#[test]
fn the_sentinel_becomes_readable_when_the_child_ends() {
    let go = Event::new().unwrap();
    let a = bingfa_process::fork(|| assert!(go.wait_timeout(LONG))).unwrap();
    let b = bingfa_process::fork(|| {}).unwrap();
    let fds = [a.as_raw_fd(), b.sentinel().unwrap().as_raw_fd()];
    // The same descriptor every time.
    assert_eq!(a.as_fd().as_raw_fd(), fds[0]);
    let t = Instant::now();
    loop {
        let r = ready(&fds, 1000);
        assert!(!r[0], "a is still running");
        if r[1] {
            break;
        }
        assert!(t.elapsed() < LONG);
    }
    ok(&b);
    // Still readable once reaped; a sentinel made after the reaping too.
    assert!(ready(&fds[1..], 0)[0]);
    let late = bingfa_process::fork(|| {}).unwrap();
    ok(&late);
    assert!(ready(&[late.as_raw_fd()], 0)[0]);
    go.set();
    assert!(ready(&fds[..1], 30_000)[0]);
    ok(&a);
}

#[test]
fn the_exit_guard_joins_children_and_ends_daemons() {
    let v = Value::new(0u32).unwrap();
    let daemon_pid = Value::new(0u32).unwrap();
    let t = Instant::now();
    let middle = bingfa_process::fork(|| {
        let _children = bingfa_process::exit_guard();
        // A non-daemon child whose handle is dropped at once: joined.
        let v2 = v.clone();
        drop(
            bingfa_process::fork(move || {
                std::thread::sleep(Duration::from_millis(200));
                v2.set(1);
            })
            .unwrap(),
        );
        // A daemon child that would run for a long time: terminated.
        let d = Builder::new()
            .daemon(true)
            .fork(|| std::thread::sleep(LONG))
            .unwrap();
        daemon_pid.set(d.pid());
    })
    .unwrap();
    ok(&middle);
    // The guard waited for the non-daemon child before the middle ended.
    assert_eq!(v.get(), 1);
    assert!(t.elapsed() < LONG / 2, "the daemon was waited for");
    let d = daemon_pid.get();
    let gone = std::fs::read_to_string(format!("/proc/{d}/stat"))
        .map_or(true, |s| s.contains(") Z") || s.contains(") X"));
    assert!(gone, "daemon {d} outlived the guard");

    // In this process, at the end of a scope.
    let p = {
        let guard = bingfa_process::exit_guard();
        let p = bingfa_process::fork(|| std::thread::sleep(Duration::from_millis(50))).unwrap();
        drop(guard);
        p
    };
    assert!(p.exit_status().unwrap().is_some(), "the guard did not join");
    let guard = bingfa_process::exit_guard();
    let q = bingfa_process::fork(|| {}).unwrap();
    guard.finish();
    assert_eq!(q.exit_status().unwrap(), Some(ExitStatus::Code(0)));
}
