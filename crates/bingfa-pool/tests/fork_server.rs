//! The fork-server start method (the default): workers are forked by one
//! fresh, single-threaded server process per program, so they inherit no
//! lock, thread or state of the program; exit statuses come back through
//! the server. (The server's death: tests/fork_server_killed.rs, a binary
//! of its own, since it would disturb these tests.)

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use bingfa_pool::{Error, ProcessPool, StartMethod};
use common::{exit_with, marker, my_pid, parent_pid, report_then_sleep, reported_pid};

bingfa_pool::enable_test_support!();

const PATIENCE: Duration = Duration::from_secs(30);

fn pool(workers: usize) -> ProcessPool {
    let p = ProcessPool::builder().max_workers(workers).build().unwrap();
    assert!(format!("{p:?}").contains("ForkServer"), "{p:?}");
    p
}

/// (pid, parent pid, bingfa-process's parent pid, name) of the worker.
fn who(_: ()) -> (u32, u32, Option<u32>, String) {
    let me = bingfa_process::current_process();
    (
        std::process::id(),
        std::os::unix::process::parent_id(),
        me.parent_pid(),
        me.name().to_owned(),
    )
}

#[test]
fn workers_are_forked_by_one_server_process() {
    let a = pool(2);
    let b = pool(1);
    let (pid, ppid, parent, name) = a.submit(who, ()).unwrap().result().unwrap();
    let me = std::process::id();
    assert_ne!(pid, me);
    assert_ne!(ppid, me, "a worker is the server's child, not ours");
    assert_eq!(parent, Some(me), "current_process() names us as its parent");
    assert_eq!(name, "ForkServerProcess");
    // Every worker of every pool has the same parent: the one server.
    let (_, ppid_b, _, _) = b.submit(who, ()).unwrap().result().unwrap();
    assert_eq!(ppid_b, ppid);
    let all: Vec<u32> = a
        .map(parent_pid, vec![(); 8])
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(all.iter().all(|&p| p == ppid), "{all:?} vs {ppid}");
}

static STATE: AtomicU32 = AtomicU32::new(0);

fn read_state(_: ()) -> u32 {
    STATE.load(Ordering::SeqCst)
}

#[test]
fn workers_start_from_the_programs_initial_state() {
    STATE.store(7, Ordering::SeqCst);
    let p = pool(1);
    // Not a copy of this process: the static is as at the start of main.
    assert_eq!(p.submit(read_state, ()).unwrap().result(), Ok(0));
}

static SHARED_LOCK: Mutex<u32> = Mutex::new(0);

fn take_the_lock(_: ()) -> u32 {
    *SHARED_LOCK.lock().unwrap() + 1
}

#[test]
fn a_lock_held_by_another_thread_does_not_reach_the_workers() {
    // Another thread holds the lock the whole time the workers start and
    // run: a forked copy of this process would inherit it held, and the
    // task would wait forever (tests/fork_start.rs shows it).
    let held = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let (h, r) = (held.clone(), release.clone());
    let holder = std::thread::spawn(move || {
        let _g = SHARED_LOCK.lock().unwrap();
        h.wait();
        r.wait();
    });
    held.wait();
    let p = pool(2);
    let f = p.submit(take_the_lock, ()).unwrap();
    assert_eq!(f.result_timeout(PATIENCE), Ok(1));
    release.wait();
    holder.join().unwrap();
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn exit_statuses_come_back_through_the_server() {
    let p = pool(1);
    let pid = p.submit(my_pid, ()).unwrap().result().unwrap();
    assert_eq!(
        p.submit(exit_with, 99).unwrap().result_timeout(PATIENCE),
        Err(Error::WorkerDied {
            pid,
            signal: None,
            exit_code: Some(99)
        })
    );
    let pid = p.submit(my_pid, ()).unwrap().result().unwrap();
    let f = p
        .submit(|(): ()| -> u32 { std::process::abort() }, ())
        .unwrap();
    assert_eq!(
        f.result_timeout(PATIENCE),
        Err(Error::WorkerDied {
            pid,
            signal: Some(libc::SIGABRT),
            exit_code: None
        })
    );
    // Killed from outside, mid-task.
    let path = marker("fs-victim");
    let f = p
        .submit(report_then_sleep, path.to_string_lossy().into_owned())
        .unwrap();
    let pid = reported_pid(&path, PATIENCE);
    // SAFETY: SIGKILL to our pool's worker.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    assert_eq!(
        f.result_timeout(PATIENCE),
        Err(Error::WorkerDied {
            pid,
            signal: Some(libc::SIGKILL),
            exit_code: None
        })
    );
    assert_eq!(p.submit(sleep_ms, 1).unwrap().result(), Ok(1));
    // Retired workers' statuses come back too (no zombie, no hang).
    let p = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..4)
        .map(|_| p.submit(my_pid, ()).unwrap().result().unwrap())
        .collect();
    let mut unique = pids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{pids:?}");
}

#[test]
fn pools_built_at_once_from_many_threads_share_one_server() {
    let start = Arc::new(Barrier::new(4));
    let servers: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let start = start.clone();
                s.spawn(move || {
                    start.wait();
                    let p = pool(2);
                    let got: Vec<u32> = p
                        .map(parent_pid, vec![(); 4])
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    assert!(got.windows(2).all(|w| w[0] == w[1]), "{got:?}");
                    got[0]
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(servers.windows(2).all(|w| w[0] == w[1]), "{servers:?}");
}

#[test]
fn an_explicit_start_method_is_kept() {
    let p = ProcessPool::builder()
        .max_workers(1)
        .start_method(StartMethod::ForkServer)
        .build()
        .unwrap();
    assert_eq!(p.submit(sleep_ms, 0).unwrap().result(), Ok(0));
    assert_eq!(StartMethod::default(), StartMethod::ForkServer);
}

/// In a child of this test that ignores SIGCHLD (which its fork server
/// inherits through exec): a worker's exit status still comes back.
fn ignore_sigchld_then_exit_a_worker(out: String) {
    // SAFETY: setting a signal disposition in this (child) process.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let p = pool(1);
    let r = p.submit(exit_with, 42).unwrap().result_timeout(PATIENCE);
    std::fs::write(out, format!("{r:?}")).unwrap();
}

#[test]
fn exit_statuses_survive_an_ignored_sigchld() {
    let out = std::env::temp_dir().join(format!("bingfa-fs-sigchld-{}", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let child = bingfa_process::spawn(
        ignore_sigchld_then_exit_a_worker as fn(String),
        out.to_string_lossy().into_owned(),
    )
    .unwrap();
    assert!(child.join().unwrap().success());
    let got = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(got.contains("exit_code: Some(42)"), "{got}");
}
