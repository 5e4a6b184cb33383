//! Port of CPython's `Lib/test/test_concurrent_futures/test_init.py`
//! (main branch, revision 047ff92462f8c40c2a2c8971b4e36498d0a76da8), one
//! Rust test per upstream test and executor type:
//! `initializer::{thread_pool,fork_server,spawn}::test_initializer`
//! (`InitializerMixin`), `failing_initializer::...::test_initializer`
//! (`FailingInitializerMixin`) and `FailingInitializerResourcesTest`'s
//! `test_spawn` / `test_forkserver`; `PARITY.md` lists them.
//!
//! Copyright (c) 2001 Python Software Foundation; All Rights Reserved.
//! Licensed under the PSF License Agreement (PSF-2.0); adapted to Rust.
//!
//! An initializer is a `fn()` for process pools (no `initargs`: a
//! function of this program, run in each worker) and any closure for the
//! thread pool. Upstream checks that the failure is logged; here the
//! initializer's panic message is in the `BrokenPool` error.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bingfa_pool::{Error, ProcessPool, StartMethod, ThreadPool};

bingfa_pool::enable_test_support!();

const SHORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Upstream's `InitializerMixin.worker_count`.
const WORKER_COUNT: usize = 2;

static INITIALIZER_STATUS: Mutex<&str> = Mutex::new("uninitialized");

/// Upstream's `init('initialized')`.
fn init() {
    *INITIALIZER_STATUS.lock().unwrap() = "initialized";
}

fn get_init_status(_: ()) -> String {
    INITIALIZER_STATUS.lock().unwrap().to_string()
}

/// Upstream's `init_fail`.
fn init_fail() {
    // Let some futures be submitted.
    std::thread::sleep(Duration::from_millis(100));
    panic!("ValueError: error in initializer");
}

fn process_pool(method: StartMethod, initializer: fn()) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(WORKER_COUNT)
        .start_method(method)
        .initializer(initializer)
        .build()
        .unwrap()
}

mod initializer {
    use super::*;

    fn check(submit: impl Fn() -> bingfa_pool::Future<String>) {
        let futures: Vec<_> = (0..WORKER_COUNT).map(|_| submit()).collect();
        for f in futures {
            assert_eq!(f.result().as_deref(), Ok("initialized"));
        }
    }

    pub mod thread_pool {
        use super::*;

        #[test]
        fn test_initializer() {
            let executor = ThreadPool::builder()
                .max_workers(WORKER_COUNT)
                .initializer(init)
                .build()
                .unwrap();
            check(|| executor.submit(|| get_init_status(())).unwrap());
        }
    }

    pub mod fork_server {
        use super::*;

        #[test]
        fn test_initializer() {
            let executor = process_pool(StartMethod::ForkServer, init);
            check(|| executor.submit(get_init_status, ()).unwrap());
        }
    }

    pub mod spawn {
        use super::*;

        #[test]
        fn test_initializer() {
            let executor = process_pool(StartMethod::Spawn, init);
            check(|| executor.submit(get_init_status, ()).unwrap());
        }
    }
}

/// Upstream's `FailingInitializerMixin.test_initializer`: a submission
/// fails with `BrokenPool` (or is refused with it), the pool breaks, and
/// from then on `submit` is refused.
fn check_failing(submit: impl Fn() -> Result<bingfa_pool::Future<String>, Error>) {
    let broken = |e: &Error| match e {
        Error::BrokenPool { message } => {
            assert!(
                message.contains("ValueError: error in initializer"),
                "{message}"
            );
            true
        }
        _ => false,
    };
    match submit() {
        // Perhaps the executor is already broken.
        Err(e) => assert!(broken(&e), "{e:?}"),
        Ok(future) => {
            let e = future.result().unwrap_err();
            assert!(broken(&e), "{e:?}");
        }
    }
    // At some point the executor breaks, and from then on `submit` fails.
    let deadline = Instant::now() + SHORT_TIMEOUT;
    loop {
        match submit() {
            Err(e) => {
                assert!(broken(&e), "{e:?}");
                break;
            }
            Ok(f) => assert!(broken(&f.result().unwrap_err())),
        }
        assert!(Instant::now() < deadline, "executor not broken");
        std::thread::sleep(Duration::from_millis(10));
    }
}

mod failing_initializer {
    use super::*;

    pub mod thread_pool {
        use super::*;

        #[test]
        fn test_initializer() {
            let executor = ThreadPool::builder()
                .max_workers(WORKER_COUNT)
                .initializer(init_fail)
                .build()
                .unwrap();
            check_failing(|| executor.submit(|| get_init_status(())));
        }
    }

    pub mod fork_server {
        use super::*;

        #[test]
        fn test_initializer() {
            let executor = process_pool(StartMethod::ForkServer, init_fail);
            check_failing(|| executor.submit(get_init_status, ()));
        }
    }

    pub mod spawn {
        use super::*;

        #[test]
        fn test_initializer() {
            let executor = process_pool(StartMethod::Spawn, init_fail);
            check_failing(|| executor.submit(get_init_status, ()));
        }
    }
}

/// GH-104090 upstream checks that the resource tracker saw no leak after
/// a failing initializer. There is no resource tracker here; what can
/// leak is processes: after the broken pool is dropped, none of its
/// workers is left.
fn no_leak(method: StartMethod) {
    let executor = process_pool(method, init_fail);
    let mut seen: Vec<u32> = executor.worker_pids();
    check_failing(|| executor.submit(get_init_status, ()));
    seen.extend(executor.worker_pids());
    drop(executor);
    for pid in seen {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} leaked"
        );
    }
}

#[test]
fn test_spawn() {
    no_leak(StartMethod::Spawn);
}

#[test]
fn test_forkserver() {
    no_leak(StartMethod::ForkServer);
}
