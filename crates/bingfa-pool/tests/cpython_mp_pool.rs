//! Port of the pool classes of CPython's `Lib/test/_test_multiprocessing.py`
//! (`_TestPool`, `_TestPoolWorkerErrors`, `_TestPoolWorkerLifetime`; main
//! branch, revision 00811485ee5ffa6d719cd4058ba3651ee9cd207b) onto the
//! executor API, one Rust test per upstream test, named after it;
//! `PARITY.md` lists every upstream test and how it maps.
//!
//! Copyright (c) 2001 Python Software Foundation; All Rights Reserved.
//! Licensed under the PSF License Agreement (PSF-2.0); adapted to Rust.
//!
//! `multiprocessing.Pool` maps onto [`ProcessPool`] (the default start
//! method): `apply` is `submit(..).result()`, `apply_async` is `submit`
//! with done-callbacks for `callback` / `error_callback`, `map_async` is
//! `map` (which submits everything at once), `imap` iterates `map`,
//! `imap_unordered` is `as_completed`, `starmap` maps over tuples,
//! `terminate` is `terminate_workers`, `close(); join()` is
//! `shutdown(true, false)`. Upstream also runs `_TestPool` on threads
//! (`multiprocessing.dummy`) and a manager; the thread pool's behaviour is
//! covered by the executor ports.

mod cpython;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bingfa_pool::{as_completed, Error, ProcessPool};
use cpython::{dummy_drops, fresh_token, task, FileEvent, Op, Val, SHORT_TIMEOUT};
use serde::{Deserialize, Serialize, Serializer};

bingfa_pool::enable_test_support!();

/// Upstream's `TIMEOUT1` and `TIMEOUT2`.
const TIMEOUT1: Duration = Duration::from_millis(100);
const TIMEOUT2: Duration = Duration::from_millis(200);

/// The pool `_TestPool` shares (upstream: `cls.pool = cls.Pool(4)`).
fn shared_pool() -> &'static ProcessPool {
    static POOL: OnceLock<ProcessPool> = OnceLock::new();
    POOL.get_or_init(|| ProcessPool::new(4))
}

fn sqr(x: i64) -> i64 {
    x * x
}

/// `sqr(x, wait)`.
fn sqr_wait((x, wait_ms): (i64, u64)) -> i64 {
    std::thread::sleep(Duration::from_millis(wait_ms));
    x * x
}

fn mul((x, y): (i64, i64)) -> i64 {
    x * y
}

fn int(s: String) -> i64 {
    s.parse().expect("invalid literal for int()")
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Items 0, 1, ... and a panic at `when` (upstream's
/// `exception_throwing_generator`, which raises `SayWhenError`).
fn exception_throwing_generator(total: i64, when: i64) -> impl Iterator<Item = i64> {
    (0..total).inspect(move |&i| {
        if i == when {
            panic!("Somebody said when");
        }
    })
}

#[test]
fn test_apply() {
    assert_eq!(shared_pool().submit(sqr, 5).unwrap().result(), Ok(sqr(5)));
    // Upstream also passes `x` as a keyword: one argument is one value here.
    assert_eq!(shared_pool().submit(sqr, 3).unwrap().result(), Ok(sqr(3)));
}

#[test]
fn test_map() {
    let pmap = |n: i64, chunk: usize| -> Vec<i64> {
        shared_pool()
            .map_chunked(sqr, 0..n, chunk)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(pmap(10, 1), (0..10).map(sqr).collect::<Vec<_>>());
    assert_eq!(pmap(100, 20), (0..100).map(sqr).collect::<Vec<_>>());
}

#[test]
fn test_starmap() {
    for (n, chunk) in [(10, 1), (100, 20)] {
        let tuples: Vec<(i64, i64)> = (0..n).zip((0..n).rev()).collect();
        let got: Vec<i64> = shared_pool()
            .map_chunked(mul, tuples.clone(), chunk)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, tuples.into_iter().map(mul).collect::<Vec<_>>());
    }
}

#[test]
fn test_starmap_async() {
    let tuples: Vec<(i64, i64)> = (0..100).zip((0..100).rev()).collect();
    let res = shared_pool().map(mul, tuples.clone()).unwrap();
    let got: Vec<i64> = res.map(Result::unwrap).collect();
    assert_eq!(got, tuples.into_iter().map(mul).collect::<Vec<_>>());
}

#[test]
fn test_map_async() {
    let res = shared_pool().map(sqr, 0..10).unwrap();
    let got: Vec<i64> = res.map(Result::unwrap).collect();
    assert_eq!(got, (0..10).map(sqr).collect::<Vec<_>>());
}

/// `callback` and `error_callback` are done-callbacks, which receive the
/// outcome. A done-callback runs on the completing thread after the
/// future's waiters are released (as in `concurrent.futures`; a
/// `multiprocessing.Pool` runs it before `get()` returns), so the test
/// waits for the callback itself.
#[test]
fn test_map_async_callbacks() {
    let (tx, rx) = std::sync::mpsc::channel();
    for arg in ["1", "a"] {
        let f = shared_pool().submit(int, arg.to_owned()).unwrap();
        let tx = tx.clone();
        f.add_done_callback(move |r| tx.send(r.clone()).unwrap());
        f.wait();
    }
    let got: Vec<_> = (0..2)
        .map(|_| rx.recv_timeout(SHORT_TIMEOUT).unwrap())
        .collect();
    assert!(got.contains(&Ok(1)), "{got:?}");
    assert!(got.iter().any(
        |r| matches!(r, Err(Error::Panicked { message }) if message.contains("invalid literal"))
    ));
}

/// Refuses to be serialized (upstream: a `__reduce__` that raises).
#[derive(Debug, Deserialize)]
struct Unpicklable;

impl Serialize for Unpicklable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("cannot pickle"))
    }
}

fn take_unpicklable(_: Unpicklable) -> i64 {
    0
}

/// Issue #19425: a failure to serialize does not hang; each item reports
/// it (upstream: `map` raises the error).
#[test]
fn test_map_unplicklable() {
    let results: Vec<_> = shared_pool()
        .map(take_unpicklable, (0..10).map(|_| Unpicklable))
        .unwrap()
        .collect();
    assert_eq!(results.len(), 10);
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(Error::Serialization { .. }))));
}

#[test]
fn test_map_chunksize() {
    let m = shared_pool().map_chunked(sqr, Vec::new(), 1).unwrap();
    assert_eq!(
        m.timeout(TIMEOUT1).count(),
        0,
        "map with chunksize stalled on an empty list"
    );
}

/// Upstream: an exception raised by the input iterable comes out of
/// `map`. A Rust iterator cannot fail; one that panics panics out of
/// `map` (the tasks submitted so far are cancelled), and the pool stays
/// usable ("make sure it's reentrant").
#[test]
fn test_map_handle_iterable_exception() {
    for (total, when) in [(1, 0), (1, 0), (10, 3)] {
        let r = std::panic::catch_unwind(|| {
            let _m = shared_pool().map(sqr, exception_throwing_generator(total, when));
        });
        assert!(r.is_err());
    }
    assert_eq!(shared_pool().submit(sqr, 4).unwrap().result(), Ok(16));
}

#[test]
fn test_async() {
    let t = Instant::now();
    let res = shared_pool()
        .submit(sqr_wait, (7, TIMEOUT1.as_millis() as u64))
        .unwrap();
    assert_eq!(res.result(), Ok(49));
    assert!(t.elapsed() >= TIMEOUT1);
}

#[test]
fn test_async_timeout() {
    let p = ProcessPool::new(3);
    let res = p
        .submit(sqr_wait, (6, (TIMEOUT2 + SHORT_TIMEOUT).as_millis() as u64))
        .unwrap();
    let t = Instant::now();
    assert_eq!(res.result_timeout(TIMEOUT2), Err(Error::Timeout(TIMEOUT2)));
    assert!(t.elapsed() >= TIMEOUT2);
    p.terminate_workers();
    assert!(p.shutdown_timeout(SHORT_TIMEOUT, false).is_ok());
}

#[test]
fn test_imap() {
    let it = shared_pool().map(sqr, 0..10).unwrap();
    assert_eq!(
        it.map(Result::unwrap).collect::<Vec<_>>(),
        (0..10).map(sqr).collect::<Vec<_>>()
    );

    let mut it = shared_pool().map(sqr, 0..10).unwrap();
    for i in 0..10 {
        assert_eq!(it.next(), Some(Ok(i * i)));
    }
    assert_eq!(it.next(), None);

    let mut it = shared_pool().map_chunked(sqr, 0..1000, 100).unwrap();
    for i in 0..1000 {
        assert_eq!(it.next(), Some(Ok(i * i)));
    }
    assert_eq!(it.next(), None);
}

/// As `test_map_handle_iterable_exception`, for `imap` (lazy upstream;
/// here `map` takes the whole input before returning).
#[test]
fn test_imap_handle_iterable_exception() {
    for (total, when, chunk) in [(1, 0, 1), (1, 0, 1), (10, 3, 1), (20, 7, 2), (20, 7, 4)] {
        let r = std::panic::catch_unwind(|| {
            let _m =
                shared_pool().map_chunked(sqr, exception_throwing_generator(total, when), chunk);
        });
        assert!(r.is_err());
    }
    assert_eq!(shared_pool().submit(sqr, 5).unwrap().result(), Ok(25));
}

/// `imap_unordered`: results as they complete (`as_completed`); chunks
/// are tasks over vectors.
#[test]
fn test_imap_unordered() {
    let it = as_completed((0..10).map(|i| shared_pool().submit(sqr, i).unwrap()));
    let mut got: Vec<i64> = it.map(|f| f.result().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..10).map(sqr).collect::<Vec<_>>());

    fn sqr_chunk(v: Vec<i64>) -> Vec<i64> {
        v.into_iter().map(sqr).collect()
    }
    let chunks: Vec<Vec<i64>> = (0..1000)
        .collect::<Vec<_>>()
        .chunks(100)
        .map(<[i64]>::to_vec)
        .collect();
    let it = as_completed(
        chunks
            .into_iter()
            .map(|c| shared_pool().submit(sqr_chunk, c).unwrap()),
    );
    let mut got: Vec<i64> = it.flat_map(|f| f.result().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..1000).map(sqr).collect::<Vec<_>>());
}

/// As `test_imap_handle_iterable_exception`, for `imap_unordered` (the
/// futures are submitted from the panicking iterator).
#[test]
fn test_imap_unordered_handle_iterable_exception() {
    for (total, when) in [(1, 0), (1, 0), (10, 3), (20, 7)] {
        let r = std::panic::catch_unwind(|| {
            let futures: Vec<_> = exception_throwing_generator(total, when)
                .map(|i| shared_pool().submit(sqr, i).unwrap())
                .collect();
            as_completed(futures).count()
        });
        assert!(r.is_err());
    }
}

#[test]
fn test_make_pool() {
    let e = ProcessPool::builder().max_workers(0).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let p = ProcessPool::new(3);
    assert_eq!(p.worker_pids().len(), 3);
    p.shutdown(true, false);
}

/// `terminate` while 10 000 long tasks are queued (a few running) does
/// not hang.
#[test]
fn test_terminate() {
    let p = ProcessPool::new(3);
    let _result = p.map(sleep_ms, vec![300_000; 10_000]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    p.terminate_workers();
    assert_eq!(p.shutdown_timeout(SHORT_TIMEOUT, false), Ok(()));
}

#[test]
fn test_empty_iterable() {
    let p = ProcessPool::new(1);
    assert_eq!(p.map(sqr, Vec::new()).unwrap().count(), 0);
    assert_eq!(p.map_chunked(sqr, Vec::new(), 1).unwrap().count(), 0);
    assert_eq!(
        as_completed(Vec::<bingfa_pool::Future<i64>>::new()).count(),
        0
    );
    p.shutdown(true, false);
}

/// `with Pool(2) as p:` is a scope; after the pool is shut down, new work
/// is refused (upstream: `ValueError`).
#[test]
fn test_context() {
    let expected: Vec<i64> = (0..10).map(sqr).collect();
    let p = ProcessPool::new(2);
    {
        let r = p.map(sqr, 0..10).unwrap();
        assert_eq!(r.map(Result::unwrap).collect::<Vec<_>>(), expected);
    }
    p.shutdown(true, false);
    assert_eq!(p.map(sqr, 0..10).unwrap_err(), Error::Shutdown);
}

/// Upstream: the worker's traceback comes back as the error's cause.
/// Here the error carries the panic's message (see `PARITY.md`).
#[test]
fn test_traceback() {
    fn raises(_: ()) -> u8 {
        panic!("RuntimeError(123)") // some comment
    }
    let p = ProcessPool::new(1);
    assert_eq!(
        p.submit(raises, ()).unwrap().result(),
        Err(Error::Panicked {
            message: "RuntimeError(123)".into()
        })
    );
}

/// Issue #20980: the error is not wrapped: its message is the task's.
#[test]
fn test_wrapped_exception() {
    let p = ProcessPool::new(1);
    let e = p
        .submit(task, Op::Panic("foo".into()))
        .unwrap()
        .result()
        .unwrap_err();
    assert_eq!(
        e,
        Error::Panicked {
            message: "foo".into()
        }
    );
}

/// Upstream raises a 1 MiB message; 128 KiB is already twice a pipe's
/// buffer (and keeps the worker's panic report on stderr shorter).
const LARGE: usize = 128 * 1024;

fn raise_large_valuerror(wait_ms: u64) -> i64 {
    std::thread::sleep(Duration::from_millis(wait_ms));
    panic!("{}", "x".repeat(LARGE))
}

/// Issue #23992: failing tasks with large errors do not make the pool's
/// shutdown deadlock; every task runs to its end.
#[test]
fn test_map_no_failfast() {
    let t = Instant::now();
    let p = ProcessPool::new(2);
    let results: Vec<_> = p.map(raise_large_valuerror, [0, 1]).unwrap().collect();
    std::thread::sleep(Duration::from_millis(500));
    p.shutdown(true, false);
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(Error::Panicked { message }) if message.len() == LARGE)));
    assert!(t.elapsed() > Duration::from_millis(500));
}

/// Issue #29861: arguments and results are not kept alive: every result
/// object is dropped once the caller drops it.
#[test]
fn test_release_task_refs() {
    let token = fresh_token();
    let objs: Vec<Op> = (0..10).map(|_| Op::MakeDummy(token)).collect();
    let results: Vec<_> = shared_pool().map(task, objs).unwrap().collect();
    assert!(results.iter().all(|r| matches!(r, Ok(Val::Dummy(_)))));
    drop(results);
    assert_eq!(dummy_drops(token), 10);
}

fn raising(_: ()) -> i64 {
    panic!("KeyError: 'key'")
}

/// The error callback is a done-callback: the test waits for it (see
/// `test_map_async_callbacks`).
#[test]
fn test_async_error_callback() {
    let p = ProcessPool::new(2);
    let (tx, rx) = std::sync::mpsc::channel();
    let res = p.submit(raising, ()).unwrap();
    res.add_done_callback(move |r| tx.send(r.as_ref().err().cloned()).unwrap());
    assert!(matches!(res.result(), Err(Error::Panicked { .. })));
    assert!(matches!(
        rx.recv_timeout(SHORT_TIMEOUT).unwrap(),
        Some(Error::Panicked { message }) if message.contains("KeyError")
    ));
    p.shutdown(true, false);
}

/// A result that will not serialize.
#[derive(Debug, Clone, Deserialize)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("cannot pickle a lambda"))
    }
}

fn unpickleable_result(_: ()) -> Unencodable {
    Unencodable
}

/// Encoding errors of results lose no worker process (upstream:
/// `MaybeEncodingError`).
#[test]
fn test_unpickleable_result() {
    let p = ProcessPool::new(2);
    let pids = p.worker_pids();
    for _ in 0..20 {
        let (tx, rx) = std::sync::mpsc::channel();
        let res = p.submit(unpickleable_result, ()).unwrap();
        res.add_done_callback(move |r| tx.send(r.as_ref().err().cloned()).unwrap());
        assert!(matches!(res.result(), Err(Error::Serialization { .. })));
        assert!(matches!(
            rx.recv_timeout(SHORT_TIMEOUT).unwrap(),
            Some(Error::Serialization { .. })
        ));
    }
    assert_eq!(p.worker_pids(), pids);
    p.shutdown(true, false);
}

#[test]
fn test_pool_worker_lifetime() {
    let p = ProcessPool::builder()
        .max_workers(3)
        .max_tasks_per_child(10)
        .build()
        .unwrap();
    let mut origworkerpids = p.worker_pids();
    assert_eq!(origworkerpids.len(), 3);
    let results: Vec<_> = (0..100).map(|i| p.submit(sqr, i).unwrap()).collect();
    for (j, res) in results.iter().enumerate() {
        assert_eq!(res.result(), Ok(sqr(j as i64)));
    }
    // The pool refills itself: wait until every slot has a worker.
    let deadline = Instant::now() + SHORT_TIMEOUT;
    while p.worker_pids().len() < 3 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut finalworkerpids = p.worker_pids();
    origworkerpids.sort_unstable();
    finalworkerpids.sort_unstable();
    assert_ne!(origworkerpids, finalworkerpids);
    p.shutdown(true, false);
}

/// Issue #10332: shutting down a pool whose workers have limited
/// lifetimes, before all the tasks completed, does not hang.
#[test]
fn test_pool_worker_lifetime_early_close() {
    let p = ProcessPool::builder()
        .max_workers(3)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let results: Vec<_> = (0..6)
        .map(|i| p.submit(sqr_wait, (i, 300)).unwrap())
        .collect();
    p.shutdown(true, false);
    for (j, res) in results.iter().enumerate() {
        assert_eq!(res.try_result(), Some(Ok(sqr(j as i64))));
    }
}

/// Upstream also refuses -1, 0.5 and "12", which do not type-check here.
#[test]
fn test_pool_maxtasksperchild_invalid() {
    let e = ProcessPool::builder()
        .max_workers(3)
        .max_tasks_per_child(0)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

/// A pool that is never dropped (upstream: held by an object at
/// interpreter exit, bpo-38744 and bpo-39360).
static KEPT: OnceLock<ProcessPool> = OnceLock::new();

fn keep_a_pool_and_exit(out: String) {
    let pool = KEPT.get_or_init(|| ProcessPool::new(1));
    let got: Vec<i64> = pool.map(sqr, 0..10).unwrap().map(Result::unwrap).collect();
    std::fs::write(out, format!("{}", got.len())).unwrap();
    // The process ends with the pool alive: its workers (daemons) die
    // with it, and nothing waits.
}

#[test]
fn test_worker_finalization_via_atexit_handler_of_multiprocessing() {
    let out = FileEvent::new();
    let t = Instant::now();
    let p = bingfa_process::spawn(keep_a_pool_and_exit as fn(String), out.path()).unwrap();
    let status = p.join().unwrap();
    assert_eq!(status.python_exitcode(), 0);
    assert_eq!(std::fs::read_to_string(out.path()).unwrap(), "10");
    assert!(t.elapsed() < SHORT_TIMEOUT);
}

/// Upstream: `with pool:` on a pool that was terminated raises
/// `ValueError` (bpo-35477). Here a pool cannot be entered twice; what
/// remains is that a terminated pool refuses work.
#[test]
fn test_enter() {
    let pool = ProcessPool::new(1);
    pool.terminate_workers();
    assert_eq!(pool.submit(sqr, 1).unwrap_err(), Error::Shutdown);
}
