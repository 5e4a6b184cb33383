//! `ProcessPool::terminate_workers` and `kill_workers` (Python 3.14's
//! `ProcessPoolExecutor.terminate_workers` / `kill_workers`), and
//! `shutdown_timeout`: a wedged worker never makes shutdown or drop hang.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bingfa_pool::{Error, ProcessPool, StartMethod};

bingfa_pool::enable_test_support!();

const PATIENCE: Duration = Duration::from_secs(30);

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .start_method(StartMethod::Spawn)
        .build()
        .unwrap()
}

/// A fresh path for a file a task writes.
fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("bingfa-ppk-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Waits for the pid a task wrote to `path`.
fn wait_started(path: &Path) -> u32 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Ok(pid) = s.parse() {
                let _ = std::fs::remove_file(path);
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn write_pid(path: &str) {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, std::process::id().to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Says it started, then never ends by itself.
fn wedge(path: String) -> u32 {
    write_pid(&path);
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// As `wedge`, ignoring SIGTERM first.
fn wedge_ignoring_sigterm(path: String) -> u32 {
    // SAFETY: SIG_IGN for SIGTERM, in this worker process only.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    wedge(path)
}

fn square(x: u64) -> u64 {
    x * x
}

fn exit_with(code: i32) -> u32 {
    std::process::exit(code)
}

fn is_gone(pid: u32) -> bool {
    // /proc/PID is gone once the process was reaped.
    !Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn test_force_shutdown_workers_terminate() {
    let pool = pool(1);
    let path = scratch("terminate");
    let f = pool
        .submit(wedge, path.to_string_lossy().into_owned())
        .unwrap();
    let queued: Vec<_> = (0..3).map(|i| pool.submit(square, i).unwrap()).collect();
    let pid = wait_started(&path);
    pool.terminate_workers();
    assert_eq!(
        f.result_timeout(PATIENCE),
        Err(Error::WorkerDied {
            pid,
            signal: Some(libc::SIGTERM),
            exit_code: None
        })
    );
    for q in &queued {
        assert_eq!(q.result_timeout(PATIENCE), Err(Error::Cancelled));
    }
    assert_eq!(pool.submit(square, 1).unwrap_err(), Error::Shutdown);
    let t = Instant::now();
    drop(pool);
    assert!(t.elapsed() < PATIENCE);
    assert!(is_gone(pid));
}

#[test]
fn test_force_shutdown_workers_kill() {
    let pool = pool(2);
    let a = scratch("kill-a");
    let b = scratch("kill-b");
    let fa = pool
        .submit(wedge, a.to_string_lossy().into_owned())
        .unwrap();
    let fb = pool
        .submit(wedge_ignoring_sigterm, b.to_string_lossy().into_owned())
        .unwrap();
    let (pa, pb) = (wait_started(&a), wait_started(&b));
    pool.kill_workers();
    for (f, pid) in [(fa, pa), (fb, pb)] {
        assert_eq!(
            f.result_timeout(PATIENCE),
            Err(Error::WorkerDied {
                pid,
                signal: Some(libc::SIGKILL),
                exit_code: None
            })
        );
    }
    assert_eq!(pool.shutdown_timeout(PATIENCE, false), Ok(()));
    assert!(pool.worker_pids().is_empty());
    assert!(is_gone(pa) && is_gone(pb));
}

#[test]
fn a_worker_that_ignores_sigterm_is_ended_by_kill_workers() {
    let pool = pool(1);
    let path = scratch("ignores-term");
    let f = pool
        .submit(wedge_ignoring_sigterm, path.to_string_lossy().into_owned())
        .unwrap();
    let pid = wait_started(&path);
    pool.terminate_workers();
    // SIGTERM is ignored: the task goes on, and a bounded shutdown says so.
    let short = Duration::from_millis(300);
    assert_eq!(
        pool.shutdown_timeout(short, false),
        Err(Error::Timeout(short))
    );
    assert!(!f.is_done());
    assert_eq!(pool.worker_pids(), [pid]);
    pool.kill_workers();
    assert_eq!(
        f.result_timeout(PATIENCE),
        Err(Error::WorkerDied {
            pid,
            signal: Some(libc::SIGKILL),
            exit_code: None
        })
    );
    assert_eq!(pool.shutdown_timeout(PATIENCE, false), Ok(()));
}

#[test]
fn kill_workers_from_another_thread_ends_a_waiting_shutdown() {
    let pool = pool(1);
    let path = scratch("waiting-shutdown");
    let f = pool
        .submit(wedge, path.to_string_lossy().into_owned())
        .unwrap();
    let pid = wait_started(&path);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let t = Instant::now();
            pool.shutdown(true, false);
            t.elapsed()
        });
        // The waiter is blocked on the wedged task (if it has not started
        // waiting yet, it finds the task already failed: same outcome).
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished());
        pool.kill_workers();
        assert!(waiter.join().unwrap() < PATIENCE);
    });
    assert!(matches!(
        f.try_result(),
        Some(Err(Error::WorkerDied {
            signal: Some(9),
            ..
        }))
    ));
    assert!(is_gone(pid));
}

#[test]
fn test_force_shutdown_workers_dead_workers() {
    for kill in [false, true] {
        let pool = pool(1);
        let f = pool.submit(exit_with, 1).unwrap();
        assert!(matches!(
            f.result_timeout(PATIENCE),
            Err(Error::WorkerDied {
                exit_code: Some(1),
                ..
            })
        ));
        // Even with its worker dead (and being replaced), this is fine.
        if kill {
            pool.kill_workers();
        } else {
            pool.terminate_workers();
        }
        assert_eq!(pool.shutdown_timeout(PATIENCE, false), Ok(()));
        // And again, on a pool that is shut down.
        pool.terminate_workers();
        pool.kill_workers();
    }
}

#[test]
fn test_force_shutdown_workers_stops_pool() {
    for kill in [false, true] {
        let pool = pool(1);
        assert_eq!(pool.submit(square, 0).unwrap().result(), Ok(0));
        let pid = pool.worker_pids()[0];
        if kill {
            pool.kill_workers();
        } else {
            pool.terminate_workers();
        }
        assert_eq!(pool.submit(square, 0).unwrap_err(), Error::Shutdown);
        assert!(pool.is_shutdown());
        assert_eq!(pool.shutdown_timeout(PATIENCE, false), Ok(()));
        assert!(is_gone(pid), "{pid} is still there");
        // No replacement was started.
        assert!(pool.worker_pids().is_empty());
    }
}
