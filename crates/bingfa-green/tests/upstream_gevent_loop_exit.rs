//! The tests of gevent's suites that expect `LoopExit` from a wait on a
//! sync primitive, ported one test per upstream test and named after it
//! (with the upstream class as a prefix where one name is in several
//! classes).
//!
//! Upstream: repository gevent/gevent, read at revision
//! 04752c48d92ffadb100fe3e8fac7d6e7a9524616 (gevent 26.5.0+), files
//! `src/gevent/tests/test__queue.py` (`test_peek_empty`) and
//! `src/gevent/tests/test__semaphore.py` (`TestSemaphoreFair`). Licence:
//! MIT, Copyright (c) 2009-2015 Denis Bilenko and the gevent contributors.
//! `PARITY-sync.md` lists every upstream test.
//!
//! The green primitives are `Send + Sync`, so the hub raises LoopExit on
//! them only once no other OS thread is left that could end the wait:
//! this binary runs without libtest (`harness = false`), whose own threads
//! would always count as such.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bingfa_green::sync::{Queue, Semaphore};
use bingfa_green::{run, sleep, spawn, yield_now, Error, Handle, JoinAll};

const SMALL_TICK: Duration = Duration::from_millis(10);

fn peek_empty() {
    run(|| {
        let q: Rc<Queue<i32>> = Rc::new(Queue::new());
        // No putters waiting, in the main green thread: LoopExit.
        match q.peek() {
            Err(Error::LoopExit { waited_on, waiting }) => {
                assert_eq!(waited_on, "Queue::peek");
                assert_eq!(waiting, "'main' in Queue::peek");
            }
            other => panic!("expected LoopExit, got {other:?}"),
        }
        let q2 = q.clone();
        let g = spawn(move || {
            assert!(matches!(
                q2.peek_timeout(SMALL_TICK),
                Err(Error::Timeout(t)) if t == SMALL_TICK
            ));
        });
        sleep(Duration::from_millis(100));
        g.join().unwrap();
    })
    .unwrap();
}

/// `TestSimpleQueue.test_peek_empty`.
fn simple_queue_test_peek_empty() {
    peek_empty();
}

/// `TestQueue.test_peek_empty` (inherited from `TestSimpleQueue`).
fn queue_test_peek_empty() {
    peek_empty();
}

/// `TestSemaphoreFair.test_fair_or_hangs` (gevent issue 1487): a green
/// thread that waits to acquire and then exit gets its turn between two
/// green threads that keep handing the permit around; then everything
/// left is blocked, and the `joinall` gets LoopExit.
fn test_fair_or_hangs() {
    run(|| {
        fn acquire_then_spawn(sem: Rc<Semaphore>, should_quit: Rc<Cell<bool>>) {
            if should_quit.get() {
                return;
            }
            sem.acquire().forget();
            let g = spawn(move || release_then_spawn(sem, should_quit));
            let _ = g.join();
        }
        fn release_then_spawn(sem: Rc<Semaphore>, should_quit: Rc<Cell<bool>>) {
            sem.release().unwrap();
            if should_quit.get() {
                return;
            }
            let g = spawn(move || acquire_then_spawn(sem, should_quit));
            let _ = g.join();
        }
        let sem = Rc::new(Semaphore::new(1));
        let should_quit = Rc::new(Cell::new(false));
        let (s, q) = (sem.clone(), should_quit.clone());
        let keep_going1 = spawn(move || acquire_then_spawn(s, q));
        let (s, q) = (sem.clone(), should_quit.clone());
        let keep_going2 = spawn(move || acquire_then_spawn(s, q));
        let (s, q) = (sem.clone(), should_quit.clone());
        let exiting = spawn(move || {
            s.acquire().forget();
            q.set(true);
        });
        let all: [Handle<()>; 3] = [keep_going1, keep_going2, exiting];
        match JoinAll::new().wait(&all) {
            Err(Error::LoopExit { waited_on, .. }) => assert_eq!(waited_on, "JoinAll::wait"),
            other => panic!("expected LoopExit, got {other:?}"),
        }
        let [keep_going1, keep_going2, exiting] = all;
        assert!(exiting.is_dead());
        assert!(keep_going2.is_dead());
        assert!(!keep_going1.is_dead());
        sem.release().unwrap();
        keep_going1.kill();
        keep_going2.kill();
        exiting.kill();
        yield_now();
    })
    .unwrap();
}

/// Runs the tests whose names contain the filter given (the first
/// argument that is not a flag, as libtest takes it; `cargo xtask loom`
/// passes `loom`, which none matches), and prints libtest's summary line.
fn main() {
    let tests: [(&str, fn()); 3] = [
        ("simple_queue_test_peek_empty", simple_queue_test_peek_empty),
        ("queue_test_peek_empty", queue_test_peek_empty),
        ("test_fair_or_hangs", test_fair_or_hangs),
    ];
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut passed = 0;
    for (name, test) in tests {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        test();
        println!("test {name} ... ok");
        passed += 1;
    }
    println!(
        "test result: ok. {passed} passed; 0 failed; 0 ignored; 0 measured; {} filtered out",
        tests.len() - passed
    );
}
