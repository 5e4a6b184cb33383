//! `IntoFuture` for `Future<R>` and `&Future<R>`: awaiting a pool future
//! from async code, on a tiny parking executor (which notices a lost
//! wake-up instead of hiding it) and on tokio.

mod common;

use std::future::Future as _;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use bingfa_pool::{Error, Future, ThreadPool};
use common::{Gate, PATIENCE};

/// Wakes the executor's thread and records that it was woken.
struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs `f` to completion on this thread, polling it again only when it
/// was woken; a future that stays pending without a wake-up for
/// `PATIENCE` fails the test (a lost wake-up).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let w = Arc::new(ThreadWaker {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(w.clone());
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        let deadline = Instant::now() + PATIENCE;
        while !w.woken.swap(false, Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "pending and never woken: a lost wake-up");
            std::thread::park_timeout(left);
        }
    }
}

#[test]
fn await_a_future_completed_later_by_a_worker() {
    let pool = ThreadPool::new(2);
    for _ in 0..200 {
        let gate = Arc::new(Gate::new());
        let g = gate.clone();
        let f = pool
            .submit(move || {
                g.pass();
                7u32
            })
            .unwrap();
        // Opens the gate while the executor is (probably) parked; a
        // completion racing with the poll is fine too.
        let opener = std::thread::spawn(move || gate.open());
        assert_eq!(block_on(async { f.await }), Ok(7));
        opener.join().unwrap();
    }
}

#[test]
fn await_many_futures_in_one_task() {
    let pool = ThreadPool::new(3);
    let futures: Vec<_> = (0..50u64)
        .map(|i| {
            pool.submit(move || {
                std::thread::sleep(Duration::from_micros(50 * (i % 7)));
                i * i
            })
            .unwrap()
        })
        .collect();
    let sum = block_on(async move {
        let mut sum = 0;
        for f in futures {
            sum += f.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..50u64).map(|i| i * i).sum::<u64>());
}

#[test]
fn await_reports_panics_and_cancellation() {
    let pool = ThreadPool::new(1);
    let bad = pool.submit(|| -> u8 { panic!("async boom") }).unwrap();
    assert_eq!(
        block_on(async { bad.await }),
        Err(Error::Panicked {
            message: "async boom".into()
        })
    );
    let (f, completer) = Future::<u8>::pending();
    let g = f.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        assert!(g.cancel());
        drop(completer);
    });
    assert_eq!(block_on(async { f.await }), Err(Error::Cancelled));
    canceller.join().unwrap();
}

/// Counts its clones.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        Counted(self.0.clone())
    }
}

#[test]
fn await_moves_the_value_out_of_the_last_handle_and_clones_otherwise() {
    let clones = Arc::new(AtomicUsize::new(0));
    let (f, c) = Future::pending();
    c.set_result(Counted(clones.clone()));
    // The last handle, done and released: moved.
    assert!(block_on(async { f.await }).is_ok());
    assert_eq!(clones.load(Ordering::SeqCst), 0);
    // Another handle exists: cloned, and the other keeps its value.
    let (f, c) = Future::pending();
    c.set_result(Counted(clones.clone()));
    let other = f.clone();
    assert!(block_on(async { f.await }).is_ok());
    assert_eq!(clones.load(Ordering::SeqCst), 1);
    assert!(other.result_ref().is_ok());
}

/// Not `Clone`: only borrowable.
#[derive(Debug, PartialEq)]
struct Unique(String);

#[test]
fn await_by_reference_needs_no_clone() {
    let pool = ThreadPool::new(1);
    let f = pool.submit(|| Unique("mine".into())).unwrap();
    let r = block_on(async { (&f).await.map(|u| u.0.len()) });
    assert_eq!(r, Ok(4));
    assert_eq!(f.result_ref(), Ok(&Unique("mine".into())));
}

#[test]
fn a_dropped_await_leaves_the_task_running() {
    let pool = ThreadPool::new(1);
    let gate = Arc::new(Gate::new());
    let g = gate.clone();
    let f = pool
        .submit(move || {
            g.pass();
            5
        })
        .unwrap();
    let keep = f.clone();
    {
        // Polled once (pending: registers a wake-up), then dropped.
        let mut aw = pin!(std::future::IntoFuture::into_future(f));
        let waker = Waker::noop();
        assert!(aw
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
    }
    gate.open();
    assert_eq!(keep.result_timeout(PATIENCE), Ok(5));
}

#[tokio::test(flavor = "current_thread")]
async fn await_on_tokio() {
    let pool = ThreadPool::new(2);
    let a = pool.submit(|| 20).unwrap();
    let b = pool.submit(|| 22).unwrap();
    let (a, b) = tokio::join!(a, b);
    assert_eq!(a.unwrap() + b.unwrap(), 42);

    // A timeout around an await: the future is not cancelled by it.
    let gate = Arc::new(Gate::new());
    let g = gate.clone();
    let slow = pool
        .submit(move || {
            g.pass();
            "late"
        })
        .unwrap();
    let r = tokio::time::timeout(Duration::from_millis(50), slow.clone()).await;
    assert!(r.is_err(), "timed out");
    gate.open();
    assert_eq!(slow.await, Ok("late"));
}
