//! Port of CPython's `Lib/test/test_concurrent_futures/test_deadlock.py`
//! (main branch, revision 1b2e7aadfd0bc7915beaef4afbd4a36e0cea38e8), one
//! Rust test per upstream test and start method (`fork_server::NAME`,
//! `spawn::NAME`); `PARITY.md` lists every upstream test and how it maps.
//!
//! Copyright (c) 2001 Python Software Foundation; All Rights Reserved.
//! Licensed under the PSF License Agreement (PSF-2.0); adapted to Rust.
//!
//! Upstream's objects that crash, exit or fail while being pickled or
//! unpickled are serde types whose `Serialize` / `Deserialize` do the
//! same. What upstream checks first holds for every case: no deadlock, an
//! error on the future. Which error differs by design: a worker that died
//! fails its own task with `WorkerDied` (signal or exit code) where
//! upstream breaks the pool (`BrokenProcessPool`); a failed (de)coding in
//! a worker is `Serialization` and the worker lives on; `exit()` in a
//! task ends its worker (`WorkerDied`), where Python's `SystemExit` is an
//! exception that comes back as the result.

mod cpython;

use std::time::Duration;

use bingfa_pool::{Error, ProcessPool, StartMethod};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

bingfa_pool::enable_test_support!();

/// Upstream's `support.LONG_TIMEOUT`.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Induces a segfault (upstream `_crash`).
fn crash() -> ! {
    // std handles SIGSEGV (to report stack overflows) and returns for a
    // raised one: restore the default action first, as a real crash gets.
    // SAFETY: signal dispositions and a signal of this (worker) process,
    // on purpose.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::raise(libc::SIGSEGV);
    }
    unreachable!("SIGSEGV ends the process")
}

/// What a bad object does while it is (de)serialized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Bad {
    Crash,
    Exit,
    Error,
    Panic,
}

impl Bad {
    fn act<E>(self, error: impl FnOnce(&'static str) -> E) -> E {
        match self {
            Bad::Crash => crash(),
            Bad::Exit => std::process::exit(1),
            Bad::Panic => panic!("panic while (de)serializing"),
            Bad::Error => error("Error in (de)serialization"),
        }
    }
}

/// Misbehaves while being serialized (upstream `*AtPickle`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
struct AtPickle(Bad);

impl Serialize for AtPickle {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(self.0.act(serde::ser::Error::custom))
    }
}

/// Misbehaves while being deserialized (upstream `*AtUnpickle`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct AtUnpickle(Bad);

impl<'de> Deserialize<'de> for AtUnpickle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = Bad::deserialize(d)?;
        Err(bad.act(serde::de::Error::custom))
    }
}

// Upstream's task functions.

/// `id(obj)`: takes an argument, ignores it.
fn id_pickle(_: AtPickle) -> u32 {
    0
}

fn id_unpickle(_: AtUnpickle) -> u32 {
    0
}

fn crash_after(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    crash()
}

fn crash_with_data(_data: String) -> u32 {
    crash()
}

fn exit_one(_: ()) -> u32 {
    std::process::exit(1)
}

fn raise_error(_: ()) -> u32 {
    panic!("RuntimeError")
}

/// `_return_instance(cls)`: the result misbehaves when serialized.
fn return_at_pickle(bad: Bad) -> AtPickle {
    AtPickle(bad)
}

/// The result misbehaves when deserialized (in the parent).
fn return_at_unpickle(bad: Bad) -> AtUnpickle {
    AtUnpickle(bad)
}

fn int(x: u64) -> u64 {
    x
}

macro_rules! deadlock_tests {
    ($module:ident, $method:expr) => {
        mod $module {
            use super::*;

            fn pool(workers: usize) -> ProcessPool {
                ProcessPool::builder()
                    .max_workers(workers)
                    .start_method($method)
                    .build()
                    .unwrap()
            }

            /// Upstream's `_check_error`: a fresh pool of two, one task,
            /// its outcome within `TIMEOUT` (else: a deadlock).
            fn check<A, R>(f: fn(A) -> R, arg: A) -> Error
            where
                A: Serialize + for<'de> Deserialize<'de>,
                R: Serialize
                    + for<'de> Deserialize<'de>
                    + Send
                    + Sync
                    + Clone
                    + std::fmt::Debug
                    + 'static,
            {
                let executor = pool(2);
                let res = executor.submit(f, arg).unwrap();
                let e = match res.result_timeout(TIMEOUT) {
                    Err(Error::Timeout(_)) => {
                        executor.kill_workers();
                        panic!("Executor deadlock");
                    }
                    Ok(v) => panic!("expected an error, got {v:?}"),
                    Err(e) => e,
                };
                executor.shutdown(true, false);
                e
            }

            fn died_of(e: &Error, want_signal: Option<i32>, want_code: Option<i32>) {
                match e {
                    Error::WorkerDied {
                        signal, exit_code, ..
                    } => assert_eq!((*signal, *exit_code), (want_signal, want_code), "{e}"),
                    other => panic!("expected WorkerDied, got {other:?}"),
                }
            }

            fn serialization(e: &Error) {
                assert!(matches!(e, Error::Serialization { .. }), "{e:?}");
            }

            #[test]
            fn test_error_at_task_pickle() {
                serialization(&check(id_pickle, AtPickle(Bad::Error)));
            }

            #[test]
            fn test_exit_at_task_unpickle() {
                died_of(&check(id_unpickle, AtUnpickle(Bad::Exit)), None, Some(1));
            }

            #[test]
            fn test_error_at_task_unpickle() {
                serialization(&check(id_unpickle, AtUnpickle(Bad::Error)));
            }

            #[test]
            fn test_crash_at_task_unpickle() {
                died_of(
                    &check(id_unpickle, AtUnpickle(Bad::Crash)),
                    Some(libc::SIGSEGV),
                    None,
                );
            }

            #[test]
            fn test_crash_during_func_exec_on_worker() {
                died_of(&check(crash_after, 0), Some(libc::SIGSEGV), None);
            }

            #[test]
            fn test_exit_during_func_exec_on_worker() {
                died_of(&check(exit_one, ()), None, Some(1));
            }

            #[test]
            fn test_error_during_func_exec_on_worker() {
                assert_eq!(
                    check(raise_error, ()),
                    Error::Panicked {
                        message: "RuntimeError".into()
                    }
                );
            }

            #[test]
            fn test_crash_during_result_pickle_on_worker() {
                died_of(
                    &check(return_at_pickle, Bad::Crash),
                    Some(libc::SIGSEGV),
                    None,
                );
            }

            #[test]
            fn test_exit_during_result_pickle_on_worker() {
                died_of(&check(return_at_pickle, Bad::Exit), None, Some(1));
            }

            #[test]
            fn test_error_during_result_pickle_on_worker() {
                serialization(&check(return_at_pickle, Bad::Error));
            }

            #[test]
            fn test_error_during_result_unpickle_in_result_handler() {
                serialization(&check(return_at_unpickle, Bad::Error));
            }

            /// Upstream: `sys.exit()` while the parent's result handler
            /// unpickles, which Python catches (`SystemExit`) and turns
            /// into `BrokenProcessPool`. In Rust, `exit()` in the parent
            /// ends the parent: the closest case is a deserializer that
            /// panics there, which fails the task and leaves the pool
            /// working.
            #[test]
            fn test_exit_during_result_unpickle_in_result_handler() {
                match check(return_at_unpickle, Bad::Panic) {
                    Error::Serialization { message } => {
                        assert!(message.contains("panicked"), "{message}")
                    }
                    other => panic!("{other:?}"),
                }
            }

            /// A worker that crashes after `shutdown` was called: the
            /// shutdown does not hang and the task reports the crash.
            #[test]
            fn test_shutdown_deadlock() {
                let executor = pool(2);
                let f = executor.submit(crash_after, 100).unwrap();
                executor.shutdown(true, false);
                assert!(matches!(
                    f.try_result(),
                    Some(Err(Error::WorkerDied {
                        signal: Some(libc::SIGSEGV),
                        ..
                    }))
                ));
            }

            /// bpo-39104: a task that fails to serialize, then
            /// `shutdown(wait = false)`: no deadlock.
            #[test]
            fn test_shutdown_deadlock_pickle() {
                let executor = pool(2);
                assert_eq!(executor.submit(int, 42).unwrap().result(), Ok(42));
                let f = executor.submit(id_pickle, AtPickle(Bad::Error)).unwrap();
                executor.shutdown(false, false);
                assert!(matches!(f.result(), Err(Error::Serialization { .. })));
                assert!(executor.shutdown_timeout(TIMEOUT, false).is_ok());
            }

            /// gh-94777: workers that crash while a large argument is on
            /// its way: every task fails cleanly, nothing hangs.
            #[test]
            fn test_crash_big_data() {
                // Upstream: `support.PIPE_MAX_SIZE` (4 MiB + 1).
                let data = "a".repeat(4 * 1024 * 1024 + 1);
                let executor = pool(2);
                let results: Vec<_> = executor
                    .map(crash_with_data, vec![data; 10])
                    .unwrap()
                    .collect();
                assert_eq!(results.len(), 10);
                for r in results {
                    assert!(
                        matches!(
                            r,
                            Err(Error::WorkerDied {
                                signal: Some(libc::SIGSEGV),
                                ..
                            })
                        ),
                        "{r:?}"
                    );
                }
                executor.shutdown(true, false);
            }

            fn slow_start() {
                std::thread::sleep(Duration::from_millis(500));
            }

            /// gh-105829: upstream's submit could block on a full wakeup
            /// pipe while the manager thread was slow to start. Here
            /// `submit` never blocks (an unbounded queue): 100 tasks are
            /// queued while the workers are still starting, then all run.
            #[test]
            fn test_gh105829_should_not_deadlock_if_wakeup_pipe_full() {
                let executor = ProcessPool::builder()
                    .max_workers(2)
                    .start_method($method)
                    .initializer(slow_start)
                    .build()
                    .unwrap();
                let job_num = 100;
                let t = std::time::Instant::now();
                let m = executor.map(int, 0..job_num).unwrap();
                assert!(
                    t.elapsed() < Duration::from_millis(500),
                    "submitting blocked"
                );
                assert_eq!(m.filter(Result::is_ok).count(), job_num as usize);
            }
        }
    };
}

deadlock_tests!(fork_server, StartMethod::ForkServer);
deadlock_tests!(spawn, StartMethod::Spawn);
