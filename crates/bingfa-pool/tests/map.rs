//! `map` and `map_chunked`: results in input order, per-item failures,
//! cancellation on drop.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bingfa_pool::{Error, ThreadPool};
use common::Gate;

#[test]
fn map_yields_results_in_input_order() {
    let pool = ThreadPool::new(4);
    // Early items take longest, so they finish last.
    let out: Vec<u64> = pool
        .map(
            |i: u64| {
                let mut x = 0u64;
                for k in 0..(200 - i) * 2000 {
                    x = x.wrapping_add(k ^ i);
                }
                std::hint::black_box(x);
                i * i
            },
            0..200,
        )
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..200).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn map_order_holds_when_later_items_finish_first() {
    let pool = ThreadPool::new(2);
    let gate = Arc::new(Gate::new());
    let g = gate.clone();
    // Item 0 blocks until item 1 has finished.
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut it = pool
        .map(
            move |i: usize| {
                if i == 0 {
                    g.pass();
                } else {
                    tx.send(i).unwrap();
                }
                i
            },
            0..2,
        )
        .unwrap();
    assert_eq!(rx.recv_timeout(common::PATIENCE), Ok(1));
    gate.open();
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), Some(Ok(1)));
    assert_eq!(it.next(), None);
}

#[test]
fn a_panicking_item_fails_only_itself() {
    let pool = ThreadPool::new(2);
    let out: Vec<_> = pool
        .map(
            |i: i32| {
                if i == 2 {
                    panic!("item {i} failed");
                }
                i
            },
            0..5,
        )
        .unwrap()
        .collect();
    assert_eq!(out[..2], [Ok(0), Ok(1)]);
    assert_eq!(
        out[2],
        Err(Error::Panicked {
            message: "item 2 failed".into()
        })
    );
    assert_eq!(out[3..], [Ok(3), Ok(4)]);
}

#[test]
fn map_chunked_keeps_order_and_per_item_errors() {
    let pool = ThreadPool::new(3);
    for chunk in [1, 3, 7, 100] {
        let it = pool
            .map_chunked(
                |i: usize| {
                    assert_ne!(i % 10, 9, "nine");
                    i + 1
                },
                0..50,
                chunk,
            )
            .unwrap();
        assert_eq!(it.len(), 50);
        let out: Vec<_> = it.collect();
        for (i, r) in out.into_iter().enumerate() {
            if i % 10 == 9 {
                assert!(
                    matches!(r, Err(Error::Panicked { ref message }) if message.contains("nine"))
                );
            } else {
                assert_eq!(r, Ok(i + 1), "chunk size {chunk}");
            }
        }
    }
}

#[test]
fn map_of_nothing_is_empty() {
    let pool = ThreadPool::new(1);
    assert_eq!(pool.map(|x: u8| x, []).unwrap().count(), 0);
    assert_eq!(pool.map_chunked(|x: u8| x, [], 4).unwrap().count(), 0);
}

#[test]
fn dropping_the_iterator_cancels_unstarted_items() {
    let pool = ThreadPool::new(1);
    let gate = Arc::new(Gate::new());
    let ran = Arc::new(AtomicUsize::new(0));
    let (g, r) = (gate.clone(), ran.clone());
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let it = pool
        .map(
            move |i: usize| {
                if i == 0 {
                    started_tx.send(()).unwrap();
                    g.pass();
                }
                r.fetch_add(1, Ordering::SeqCst);
            },
            0..10,
        )
        .unwrap();
    started_rx.recv_timeout(common::PATIENCE).unwrap();
    drop(it); // items 1..10 are queued behind item 0: cancelled
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn map_after_shutdown_is_an_error() {
    let pool = ThreadPool::new(1);
    pool.shutdown(false, false);
    assert_eq!(pool.map(|x: u8| x, [1]).unwrap_err(), Error::Shutdown);
    assert_eq!(
        pool.map_chunked(|x: u8| x, [1], 1).unwrap_err(),
        Error::Shutdown
    );
}

#[test]
fn map_timeout_counts_from_the_map_call_and_cancels_the_rest() {
    let pool = ThreadPool::new(1);
    let gate = Arc::new(Gate::new());
    let ran = Arc::new(AtomicUsize::new(0));
    let (g, r) = (gate.clone(), ran.clone());
    let timeout = std::time::Duration::from_secs(3);
    let t0 = std::time::Instant::now();
    let m = pool
        .map(
            move |i: usize| {
                r.fetch_add(1, Ordering::SeqCst);
                if i == 1 {
                    g.pass();
                }
                i
            },
            0..4,
        )
        .unwrap();
    let mut m = m.timeout(timeout);
    assert_eq!(m.size_hint(), (0, Some(4)));
    assert_eq!(m.next(), Some(Ok(0)));
    // Item 1 waits on the gate. Let the deadline (3 s after the map call)
    // pass before asking: the timeout is then immediate, where a deadline
    // counted from `timeout()` or from this `next` would wait 3 s more.
    std::thread::sleep(
        (t0 + timeout + std::time::Duration::from_millis(200)) - std::time::Instant::now(),
    );
    let asked = std::time::Instant::now();
    assert_eq!(m.next(), Some(Err(Error::Timeout(timeout))));
    assert!(asked.elapsed() < timeout, "{:?}", asked.elapsed());
    // The iteration is over; the tasks that had not started are cancelled.
    assert_eq!(m.remaining(), 0);
    assert_eq!(m.next(), None);
    assert_eq!(m.next(), None);
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        2,
        "items 2 and 3 were cancelled"
    );
}

#[test]
fn map_timeout_yields_ready_results_after_the_deadline() {
    let pool = ThreadPool::new(2);
    let m = pool.map(|i: u32| i * 2, 0..6).unwrap();
    // Wait until every task is done, then give a deadline that has passed.
    pool.shutdown(true, false);
    let got: Vec<_> = m.timeout(std::time::Duration::ZERO).collect();
    assert_eq!(got, (0..6).map(|i| Ok(i * 2)).collect::<Vec<_>>());
    // Chunked too.
    let pool = ThreadPool::new(2);
    let m = pool.map_chunked(|i: u32| i + 1, 0..7, 3).unwrap();
    pool.shutdown(true, false);
    let got: Vec<_> = m.timeout(std::time::Duration::ZERO).collect();
    assert_eq!(got, (1..8).map(Ok).collect::<Vec<_>>());
}

#[test]
fn map_chunked_timeout_cancels_the_chunks_that_have_not_started() {
    let pool = ThreadPool::new(1);
    let gate = Arc::new(Gate::new());
    let ran = Arc::new(AtomicUsize::new(0));
    let (g, r) = (gate.clone(), ran.clone());
    let timeout = std::time::Duration::from_millis(100);
    let mut m = pool
        .map_chunked(
            move |i: usize| {
                r.fetch_add(1, Ordering::SeqCst);
                if i == 0 {
                    g.pass();
                }
                i
            },
            0..6,
            2,
        )
        .unwrap()
        .timeout(timeout);
    // The first chunk is held by the gate until after the deadline.
    assert_eq!(m.next(), Some(Err(Error::Timeout(timeout))));
    assert_eq!(m.next(), None);
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 2, "only the first chunk ran");
}

#[test]
fn map_buffered_reads_lazily_and_reports_a_refusal_last() {
    let pool = ThreadPool::new(2);
    let taken = Arc::new(AtomicUsize::new(0));
    let t = taken.clone();
    let items = (0..).inspect(move |_| {
        t.fetch_add(1, Ordering::SeqCst);
    });
    let mut m = pool.map_buffered(|i: u64| i * 10, items, 3).unwrap();
    assert_eq!(
        taken.load(Ordering::SeqCst),
        3,
        "the first buffersize items"
    );
    assert_eq!(m.next(), Some(Ok(0)));
    assert_eq!(taken.load(Ordering::SeqCst), 4, "one more per result");
    assert_eq!(m.buffered(), 3);
    // The pool shuts down: the buffered results still come, then the
    // refusal, then the end.
    pool.shutdown(false, false);
    let rest: Vec<_> = m.collect();
    assert_eq!(rest, [Ok(10), Ok(20), Ok(30), Err(Error::Shutdown)]);
}

#[test]
fn dropping_map_buffered_cancels_what_has_not_started() {
    let pool = ThreadPool::new(1);
    let gate = Arc::new(Gate::new());
    let ran = Arc::new(AtomicUsize::new(0));
    let (g, r) = (gate.clone(), ran.clone());
    let m = pool
        .map_buffered(
            move |i: usize| {
                r.fetch_add(1, Ordering::SeqCst);
                if i == 0 {
                    g.pass();
                }
            },
            0..100,
            4,
        )
        .unwrap();
    drop(m);
    gate.open();
    pool.shutdown(true, false);
    // Item 0 may have started (it waits on the gate); 1..4 were cancelled.
    assert!(ran.load(Ordering::SeqCst) <= 1);
}
