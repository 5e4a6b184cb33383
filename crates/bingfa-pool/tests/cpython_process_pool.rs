//! Port of CPython's `Lib/test/test_concurrent_futures/test_process_pool.py`
//! (`ProcessPoolExecutorTest`'s own tests; main branch, revision
//! 05a627cc4fb8e6bd610220f466b8b699712307c8, with `terminate_workers`,
//! `kill_workers` and gh-152967), one Rust test per upstream test and start
//! method (`fork_server::NAME`, `spawn::NAME`); the `ExecutorTest` tests it
//! inherits are in `cpython_executor.rs`. `PARITY.md` lists every upstream
//! test and how it maps.
//!
//! Copyright (c) 2001 Python Software Foundation; All Rights Reserved.
//! Licensed under the PSF License Agreement (PSF-2.0); adapted to Rust.
//!
//! The main difference by design: a dead worker fails only the task it
//! ran (`Error::WorkerDied`) and is replaced; upstream's pool breaks
//! (`BrokenProcessPool`) and fails every pending future. Workers also all
//! start when the pool is built (upstream starts them on demand, except
//! with fork).

mod common;
mod cpython;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bingfa_pool::{Error, ProcessPool, StartMethod};
use common::{exit_with, my_pid};
use cpython::{FileEvent, ScratchDir, SHORT_TIMEOUT};
use serde::{Deserialize, Serialize};

bingfa_pool::enable_test_support!();

// ---- task functions (they run in the workers) ----

fn mul((x, y): (i64, i64)) -> i64 {
    x * y
}

/// `pow(x, y)`, wrapping (upstream's integers have no limit).
fn pow((x, y): (i64, u32)) -> i64 {
    x.wrapping_pow(y)
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Waits for the event file.
fn wait_event(path: String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Path::new(&path).exists() {
        assert!(Instant::now() < deadline, "event never set");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Upstream's `_report_wait_return(queue, event, value)`: reports
/// `value` and this worker's pid (a file `{dir}/{value}`), waits for the
/// event, returns `value`.
fn report_wait_return((dir, event, value): (String, String, i64)) -> i64 {
    let tmp = format!("{dir}/{value}.tmp");
    std::fs::write(&tmp, std::process::id().to_string()).unwrap();
    std::fs::rename(&tmp, format!("{dir}/{value}")).unwrap();
    wait_event(event);
    value
}

/// Waits for `report_wait_return` number `value` to start; its pid.
fn started(dir: &Path, value: i64) -> u32 {
    let p = dir.join(value.to_string());
    let deadline = Instant::now() + SHORT_TIMEOUT;
    loop {
        if let Ok(s) = std::fs::read_to_string(&p) {
            return s.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "task {value} never started");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A fresh directory for reports, removed at the end of the test.
fn scratch() -> ScratchDir {
    ScratchDir::new()
}

/// Writes "dropped" to its path when it is dropped (in the worker).
#[derive(Serialize, Deserialize)]
struct DropWriter(String);

impl Drop for DropWriter {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, "dropped");
    }
}

fn take_and_return_nothing(_arg: DropWriter) {}

fn is_gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

macro_rules! process_pool_tests {
    ($module:ident, $method:expr) => {
        mod $module {
            use super::*;

            fn pool(workers: usize) -> ProcessPool {
                builder(workers).build().unwrap()
            }

            fn builder(workers: usize) -> bingfa_pool::ProcessPoolBuilder {
                ProcessPool::builder()
                    .max_workers(workers)
                    .start_method($method)
            }

            /// Differs by design: upstream breaks the whole pool; here
            /// the killed worker's task fails and the pool goes on.
            #[test]
            fn test_killed_child() {
                let executor = pool(cpython::WORKER_COUNT);
                let dir = scratch();
                let event = FileEvent::new();
                let fut = executor
                    .submit(
                        report_wait_return,
                        (dir.to_string_lossy().into_owned(), event.path(), 0),
                    )
                    .unwrap();
                let pid = started(&dir, 0);
                // SAFETY: SIGTERM to our pool's worker (upstream:
                // `p.terminate()`).
                assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
                assert_eq!(
                    fut.result_timeout(SHORT_TIMEOUT),
                    Err(Error::WorkerDied {
                        pid,
                        signal: Some(libc::SIGTERM),
                        exit_code: None
                    })
                );
                // Submitting other jobs works.
                assert_eq!(executor.submit(pow, (2, 8)).unwrap().result(), Ok(256));
            }

            /// Differs by design: upstream fails all three futures, each
            /// with its own `BrokenProcessPool`; here only the one whose
            /// worker was killed fails (every error is a value of its
            /// own), and the others complete.
            #[test]
            fn test_broken_process_pool_traceback() {
                let executor = pool(cpython::WORKER_COUNT);
                let dir = scratch();
                let event = FileEvent::new();
                let futures: Vec<_> = (0..3)
                    .map(|i| {
                        executor
                            .submit(
                                report_wait_return,
                                (dir.to_string_lossy().into_owned(), event.path(), i),
                            )
                            .unwrap()
                    })
                    .collect();
                let pid = started(&dir, 0);
                // SAFETY: SIGTERM to our pool's worker.
                assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
                assert!(matches!(
                    futures[0].result_timeout(SHORT_TIMEOUT),
                    Err(Error::WorkerDied { .. })
                ));
                event.set();
                assert_eq!(futures[1].result_timeout(SHORT_TIMEOUT), Ok(1));
                assert_eq!(futures[2].result_timeout(SHORT_TIMEOUT), Ok(2));
            }

            /// Upstream: `chunksize=-1` raises `ValueError`; here a chunk
            /// size of 0 panics, naming it.
            #[test]
            fn test_map_chunksize() {
                let executor = pool(cpython::WORKER_COUNT);
                let args = || (0..40).map(|i| (i, i as u32));
                let reference: Vec<i64> = args().map(pow).collect();
                for chunk in [6, 50, 40] {
                    let got: Vec<i64> = executor
                        .map_chunked(pow, args(), chunk)
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    assert_eq!(got, reference, "chunk size {chunk}");
                }
                let bad = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _m = executor.map_chunked(pow, args(), 0);
                }));
                let payload = bad.unwrap_err();
                let msg = payload.downcast_ref::<&str>().unwrap();
                assert!(msg.contains("chunk_size must be at least 1"), "{msg}");
            }

            /// Upstream: the worker's traceback (with the failing source
            /// line) comes back as the error's cause. Here the error is
            /// `Panicked` with the panic's message; the worker's panic hook
            /// prints the location on its stderr.
            #[test]
            fn test_traceback() {
                let executor = pool(1);
                fn raises(_: ()) -> u8 {
                    panic!("RuntimeError(123)") // some comment
                }
                assert_eq!(
                    executor.submit(raises, ()).unwrap().result(),
                    Err(Error::Panicked {
                        message: "RuntimeError(123)".into()
                    })
                );
            }

            /// gh-139462: the error says how the worker ended.
            #[test]
            fn test_traceback_when_child_process_terminates_abruptly() {
                let exit_code = 99;
                let executor = pool(1);
                let pid = executor.submit(my_pid, ()).unwrap().result().unwrap();
                let e = executor
                    .submit(exit_with, exit_code)
                    .unwrap()
                    .result()
                    .unwrap_err();
                assert_eq!(
                    e,
                    Error::WorkerDied {
                        pid,
                        signal: None,
                        exit_code: Some(exit_code)
                    }
                );
                assert!(e.to_string().contains("exit code 99"), "{e}");
            }

            /// Upstream checks that a task's argument is garbage
            /// collected in the worker once the task is done; here the
            /// argument moves into the function and is dropped there.
            #[test]
            fn test_ressources_gced_in_workers() {
                let executor = pool(1);
                let marker = FileEvent::new();
                executor
                    .submit(take_and_return_nothing, DropWriter(marker.path()))
                    .unwrap()
                    .result()
                    .unwrap();
                assert!(marker.is_set(), "the argument was dropped in the worker");
            }

            #[test]
            fn test_saturation() {
                let executor = pool(cpython::WORKER_COUNT);
                let sem = FileEvent::new();
                let job_count = 15 * executor.max_workers();
                let fs: Vec<_> = (0..job_count)
                    .map(|_| executor.submit(wait_event, sem.path()).unwrap())
                    .collect();
                assert_eq!(executor.worker_pids().len(), executor.max_workers());
                sem.set();
                for f in fs {
                    assert_eq!(f.result_timeout(SHORT_TIMEOUT), Ok(()));
                }
            }

            /// Differs by design: upstream starts processes on demand and
            /// reuses an idle one (one process for three tasks in a row);
            /// here every worker starts with the pool, and no other.
            #[test]
            fn test_idle_process_reuse_one() {
                let executor = pool(cpython::WORKER_COUNT);
                assert_eq!(executor.submit(mul, (21, 2)).unwrap().result(), Ok(42));
                assert_eq!(executor.submit(mul, (6, 7)).unwrap().result(), Ok(42));
                assert_eq!(executor.submit(mul, (3, 14)).unwrap().result(), Ok(42));
                assert_eq!(executor.worker_pids().len(), executor.max_workers());
            }

            /// As `test_idle_process_reuse_one` (upstream: at most three
            /// processes).
            #[test]
            fn test_idle_process_reuse_multiple() {
                let executor = pool(cpython::WORKER_COUNT);
                assert_eq!(executor.submit(mul, (12, 7)).unwrap().result(), Ok(84));
                let _a = executor.submit(mul, (33, 25)).unwrap();
                assert_eq!(executor.submit(mul, (25, 26)).unwrap().result(), Ok(650));
                let _b = executor.submit(mul, (18, 29)).unwrap();
                assert_eq!(executor.submit(mul, (1, 2)).unwrap().result(), Ok(2));
                let _c = executor.submit(mul, (0, 9)).unwrap();
                assert!(executor.worker_pids().len() <= executor.max_workers());
                executor.shutdown(true, false);
            }

            #[test]
            fn test_max_tasks_per_child() {
                let executor = builder(1).max_tasks_per_child(3).build().unwrap();
                let original_pid = executor.submit(my_pid, ()).unwrap().result().unwrap();
                // The worker is reused...
                assert_eq!(
                    executor.submit(my_pid, ()).unwrap().result(),
                    Ok(original_pid)
                );
                assert_eq!(executor.worker_pids().len(), 1);
                assert_eq!(
                    executor.submit(my_pid, ()).unwrap().result(),
                    Ok(original_pid)
                );
                // ...then replaced, and the old one reaped.
                let new_pid = executor.submit(my_pid, ()).unwrap().result().unwrap();
                assert_ne!(original_pid, new_pid);
                assert_eq!(executor.worker_pids().len(), 1);
                assert!(is_gone(original_pid));
                executor.shutdown(true, false);
            }

            /// Upstream: `max_tasks_per_child` switches the default start
            /// method to spawn (fork cannot do it there). Here every start
            /// method supports it; the pool keeps the one asked for.
            #[test]
            fn test_max_tasks_per_child_defaults_to_spawn_context() {
                let executor = builder(1).max_tasks_per_child(3).build().unwrap();
                assert!(format!("{executor:?}").contains(&format!("{:?}", $method)));
            }

            /// gh-115634: workers exiting at their task limit while work
            /// is queued are replaced; nothing deadlocks.
            #[test]
            fn test_max_tasks_per_child_pending_tasks_gh115634() {
                for (max_workers, max_tasks, num_tasks) in [(1, 2, 6), (2, 2, 8)] {
                    let executor = builder(max_workers)
                        .max_tasks_per_child(max_tasks)
                        .build()
                        .unwrap();
                    let futures: Vec<_> = (0..num_tasks)
                        .map(|i| executor.submit(mul, (i, 2)).unwrap())
                        .collect();
                    let results: Vec<i64> = futures
                        .iter()
                        .map(|f| f.result_timeout(SHORT_TIMEOUT).unwrap())
                        .collect();
                    assert_eq!(results, (0..num_tasks).map(|i| i * 2).collect::<Vec<_>>());
                    executor.shutdown(true, true);
                }
            }

            /// Upstream's `_run_stranded_worker_exit_test`: a worker exits
            /// at its task limit while work is queued, after `shutdown(wait
            /// = false)` and/or while the executor is being dropped.
            /// Upstream fails the queued futures once the executor is
            /// garbage collected; here dropping the pool waits for them,
            /// so they always run.
            fn run_stranded_worker_exit_test(shutdown: bool, drop_reference: bool) {
                let executor = builder(1).max_tasks_per_child(1).build().unwrap();
                let dir = scratch();
                let gate = FileEvent::new();
                let d = dir.to_string_lossy().into_owned();
                let futs: Vec<_> = (0..3)
                    .map(|i| {
                        executor
                            .submit(report_wait_return, (d.clone(), gate.path(), i))
                            .unwrap()
                    })
                    .collect();
                // The worker is inside the first task.
                started(&dir, 0);
                if shutdown {
                    executor.shutdown(false, false);
                }
                // Dropping waits for the queued work: from another thread.
                let dropper = if drop_reference {
                    Some(std::thread::spawn(move || drop(executor)))
                } else {
                    None
                };
                gate.set();
                assert_eq!(futs[0].result_timeout(SHORT_TIMEOUT), Ok(0));
                let rest: Vec<_> = futs[1..]
                    .iter()
                    .map(|f| f.result_timeout(SHORT_TIMEOUT))
                    .collect();
                assert_eq!(rest, [Ok(1), Ok(2)]);
                if let Some(d) = dropper {
                    d.join().unwrap();
                }
            }

            /// gh-119592.
            #[test]
            fn test_shutdown_no_wait_max_tasks_gh119592() {
                for drop_reference in [false, true] {
                    run_stranded_worker_exit_test(true, drop_reference);
                }
            }

            /// gh-152967 (differs by design: the drop waits, the work runs).
            #[test]
            fn test_gc_during_max_tasks_worker_exit_gh152967() {
                run_stranded_worker_exit_test(false, true);
            }

            /// A forced stop while the worker would be replaced: nothing
            /// is replaced, the running task fails with the signal and the
            /// queued ones are cancelled (upstream: the running task ends
            /// normally and the queued ones fail with `BrokenProcessPool`
            /// "forcefully shut down").
            #[test]
            fn test_force_shutdown_during_max_tasks_worker_exit() {
                let executor = builder(1).max_tasks_per_child(1).build().unwrap();
                let dir = scratch();
                let gate = FileEvent::new();
                let d = dir.to_string_lossy().into_owned();
                let futs: Vec<_> = (0..3)
                    .map(|i| {
                        executor
                            .submit(report_wait_return, (d.clone(), gate.path(), i))
                            .unwrap()
                    })
                    .collect();
                let pid = started(&dir, 0);
                executor.terminate_workers();
                assert_eq!(
                    futs[0].result_timeout(SHORT_TIMEOUT),
                    Err(Error::WorkerDied {
                        pid,
                        signal: Some(libc::SIGTERM),
                        exit_code: None
                    })
                );
                for f in &futs[1..] {
                    assert_eq!(f.result_timeout(SHORT_TIMEOUT), Err(Error::Cancelled));
                }
                assert_eq!(executor.shutdown_timeout(SHORT_TIMEOUT, false), Ok(()));
                assert!(executor.worker_pids().is_empty(), "nothing was replaced");
            }

            /// The marker that makes `init_fails_when_marked` fail.
            fn marker(parent: u32) -> PathBuf {
                std::env::temp_dir().join(format!(
                    "bingfa-cpy-{parent}-{}-no-replacement",
                    stringify!($module)
                ))
            }

            /// An initializer that exits (code 3) once the marker exists.
            fn init_fails_when_marked() {
                let parent = bingfa_process::current_process().parent_pid().unwrap();
                if marker(parent).exists() {
                    std::process::exit(3);
                }
            }

            /// If no replacement worker can start, the pool breaks rather
            /// than strand the queued futures (after five tries with
            /// back-off here, see "Worker starts" on `ProcessPool`).
            #[test]
            fn test_failed_worker_replacement_breaks_pool() {
                let m = marker(std::process::id());
                let _ = std::fs::remove_file(&m);
                let executor = builder(1)
                    .max_tasks_per_child(1)
                    .initializer(init_fails_when_marked)
                    .build()
                    .unwrap();
                let dir = scratch();
                let gate = FileEvent::new();
                let d = dir.to_string_lossy().into_owned();
                let futs: Vec<_> = (0..3)
                    .map(|i| {
                        executor
                            .submit(report_wait_return, (d.clone(), gate.path(), i))
                            .unwrap()
                    })
                    .collect();
                started(&dir, 0);
                std::fs::write(&m, "").unwrap();
                gate.set();
                assert_eq!(futs[0].result_timeout(SHORT_TIMEOUT), Ok(0));
                for f in &futs[1..] {
                    match f.result_timeout(SHORT_TIMEOUT) {
                        Err(Error::BrokenPool { message }) => {
                            assert!(
                                message.contains("no worker process could start"),
                                "{message}"
                            );
                            assert!(message.contains("exit code 3"), "{message}");
                        }
                        other => panic!("{other:?}"),
                    }
                }
                let _ = std::fs::remove_file(&m);
            }

            #[test]
            fn test_max_tasks_early_shutdown() {
                let executor = builder(3).max_tasks_per_child(1).build().unwrap();
                let futures: Vec<_> = (0..6)
                    .map(|i| executor.submit(mul, (i, i)).unwrap())
                    .collect();
                executor.shutdown(true, false);
                for (i, future) in futures.iter().enumerate() {
                    let i = i as i64;
                    assert_eq!(future.result(), Ok(i * i));
                }
            }

            /// Upstream mocks `_force_shutdown` to see it called with
            /// TERMINATE; here the real thing: every worker ends with
            /// SIGTERM and the pool is shut down.
            #[test]
            fn test_terminate_workers() {
                let executor = pool(1);
                let pid = executor.worker_pids()[0];
                executor.terminate_workers();
                assert!(executor.is_shutdown());
                assert_eq!(executor.shutdown_timeout(SHORT_TIMEOUT, false), Ok(()));
                assert!(is_gone(pid));
            }

            /// As `test_terminate_workers`, with SIGKILL.
            #[test]
            fn test_kill_workers() {
                let executor = pool(1);
                let pid = executor.worker_pids()[0];
                executor.kill_workers();
                assert!(executor.is_shutdown());
                assert_eq!(executor.shutdown_timeout(SHORT_TIMEOUT, false), Ok(()));
                assert!(is_gone(pid));
            }

            /// Upstream's parameterized test, for both operations: the
            /// running task is stopped before it can report finishing.
            #[test]
            fn test_force_shutdown_workers() {
                for kill in [false, true] {
                    let executor = pool(1);
                    let dir = scratch();
                    let event = FileEvent::new();
                    let f = executor
                        .submit(
                            report_wait_return,
                            (dir.to_string_lossy().into_owned(), event.path(), 0),
                        )
                        .unwrap();
                    let pid = started(&dir, 0);
                    if kill {
                        executor.kill_workers();
                    } else {
                        executor.terminate_workers();
                    }
                    let signal = if kill { libc::SIGKILL } else { libc::SIGTERM };
                    assert_eq!(
                        f.result_timeout(SHORT_TIMEOUT),
                        Err(Error::WorkerDied {
                            pid,
                            signal: Some(signal),
                            exit_code: None
                        })
                    );
                    // It never got to "finished".
                    event.set();
                    assert_eq!(executor.shutdown_timeout(SHORT_TIMEOUT, false), Ok(()));
                }
            }

            #[test]
            fn test_force_shutdown_workers_dead_workers() {
                for kill in [false, true] {
                    let executor = pool(1);
                    assert!(matches!(
                        executor.submit(exit_with, 1).unwrap().result(),
                        Err(Error::WorkerDied { .. })
                    ));
                    // Even with its worker dead, this does not fail.
                    if kill {
                        executor.kill_workers();
                    } else {
                        executor.terminate_workers();
                    }
                }
            }

            /// Upstream: before any worker started, nothing is signalled.
            /// Here workers start with the pool: one still in its
            /// initializer is stopped, and none is started after.
            #[test]
            fn test_force_shutdown_workers_not_started_yet() {
                fn slow_init() {
                    std::thread::sleep(Duration::from_millis(300));
                }
                for kill in [false, true] {
                    let executor = builder(1).initializer(slow_init).build().unwrap();
                    if kill {
                        executor.kill_workers();
                    } else {
                        executor.terminate_workers();
                    }
                    assert_eq!(executor.shutdown_timeout(SHORT_TIMEOUT, false), Ok(()));
                    assert!(executor.worker_pids().is_empty());
                }
            }

            #[test]
            fn test_force_shutdown_workers_stops_pool() {
                for kill in [false, true] {
                    let executor = pool(1);
                    executor.submit(sleep_ms, 0).unwrap().result().unwrap();
                    let worker = executor.worker_pids()[0];
                    if kill {
                        executor.kill_workers();
                    } else {
                        executor.terminate_workers();
                    }
                    assert_eq!(executor.submit(sleep_ms, 0).unwrap_err(), Error::Shutdown);
                    // A signal sent is not a signal reacted to: wait for
                    // the worker to be gone.
                    assert_eq!(executor.shutdown_timeout(SHORT_TIMEOUT, false), Ok(()));
                    assert!(is_gone(worker));
                }
            }
        }
    };
}

process_pool_tests!(fork_server, StartMethod::ForkServer);
process_pool_tests!(spawn, StartMethod::Spawn);
