//! LoopExit for waits that another OS thread could end (`Shared` waits:
//! a future whose waker was kept, the `Send + Sync` green primitives):
//! the hub raises it only once no other OS thread is left in the process
//! that could end them. This binary runs without libtest (`harness =
//! false`), whose own threads would always count as such.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bingfa_green::{block_on, run, Error};

/// A future that keeps its waker where `keep` puts it and never completes
/// unless `done` is set.
fn waiting(
    done: Arc<Mutex<bool>>,
    keep: impl Fn(Waker),
) -> impl std::future::Future<Output = &'static str> {
    std::future::poll_fn(move |cx| {
        if *done.lock().unwrap() {
            Poll::Ready("done")
        } else {
            keep(cx.waker().clone());
            Poll::Pending
        }
    })
}

/// The waker is kept, but only on this thread: nothing can ever use it.
fn a_shared_wait_alone_gets_loop_exit() {
    let r = run(|| {
        let kept: Rc<RefCell<Option<Waker>>> = Rc::default();
        let k = kept.clone();
        block_on(waiting(Arc::default(), move |w| *k.borrow_mut() = Some(w)))
    });
    assert!(
        matches!(
            r,
            Err(Error::LoopExit {
                waited_on: "block_on",
                ..
            })
        ),
        "{r:?}"
    );
}

/// Another OS thread holds the waker and completes the future: no
/// LoopExit while it lives.
fn a_shared_wait_is_ended_by_the_other_thread() {
    let r = run(|| {
        let done: Arc<Mutex<bool>> = Arc::default();
        let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
        let (d, s) = (done.clone(), slot.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            *d.lock().unwrap() = true;
            if let Some(w) = s.lock().unwrap().take() {
                w.wake();
            }
        });
        let v = block_on(waiting(done, move |w| *slot.lock().unwrap() = Some(w)));
        t.join().unwrap();
        v
    });
    assert_eq!(r.unwrap(), "done");
}

/// Another OS thread holds the waker, then ends without using it: the
/// hub raises LoopExit once it is gone (it looks again, backing off to
/// once a second).
fn a_shared_wait_gets_loop_exit_once_the_other_thread_is_gone() {
    let start = Instant::now();
    let r = run(|| {
        let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
        let s = slot.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            // Drops the waker it held: nobody can wake the future now.
            drop(s);
        });
        block_on(waiting(Arc::default(), move |w| {
            *slot.lock().unwrap() = Some(w)
        }))
    });
    assert!(
        matches!(
            r,
            Err(Error::LoopExit {
                waited_on: "block_on",
                ..
            })
        ),
        "{r:?}"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(100),
        "raised too early: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "raised too late: {took:?}");
}

/// Runs the tests whose names contain the filter given (the first
/// argument that is not a flag, as libtest takes it; `cargo xtask loom`
/// passes `loom`, which none matches), and prints libtest's summary line.
fn main() {
    let tests: [(&str, fn()); 3] = [
        (
            "a_shared_wait_alone_gets_loop_exit",
            a_shared_wait_alone_gets_loop_exit,
        ),
        (
            "a_shared_wait_is_ended_by_the_other_thread",
            a_shared_wait_is_ended_by_the_other_thread,
        ),
        (
            "a_shared_wait_gets_loop_exit_once_the_other_thread_is_gone",
            a_shared_wait_gets_loop_exit_once_the_other_thread_is_gone,
        ),
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
