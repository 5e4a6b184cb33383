//! 4 producers x 4 consumers x 100 000 items: every item seen exactly once.

use bingfa_queue::{LifoQueue, PriorityQueue, Queue};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
const ITEMS: usize = if cfg!(miri) { 64 } else { 100_000 };

/// Runs the 4 x 4 load through `put`/`get`, then checks the seen-bitmap.
fn stress<Q: Clone + Send + 'static>(
    q: Q,
    put: fn(&Q, usize),
    get: fn(&Q) -> Option<usize>,
    close: fn(&Q),
) {
    let seen: Arc<Vec<AtomicBool>> = Arc::new((0..ITEMS).map(|_| AtomicBool::new(false)).collect());
    let count = Arc::new(AtomicUsize::new(0));
    let per = ITEMS / PRODUCERS;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in p * per..(p + 1) * per {
                    put(&q, i);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (q, seen, count) = (q.clone(), seen.clone(), count.clone());
            std::thread::spawn(move || {
                while let Some(i) = get(&q) {
                    assert!(
                        !seen[i].swap(true, Ordering::Relaxed),
                        "item {i} seen twice"
                    );
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    close(&q);
    for c in consumers {
        c.join().unwrap();
    }
    assert_eq!(count.load(Ordering::Relaxed), ITEMS);
    let missing: Vec<_> = (0..ITEMS)
        .filter(|&i| !seen[i].load(Ordering::Relaxed))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "items never seen: {missing:?}...");
}

#[test]
fn stress_fifo_bounded() {
    stress(
        Queue::new(64),
        |q, i| q.put(i).unwrap(),
        |q| q.get().ok(),
        |q| {
            q.close();
        },
    );
}

#[test]
fn stress_fifo_bounded_capacity_one() {
    stress(
        Queue::new(1),
        |q, i| q.put(i).unwrap(),
        |q| q.get().ok(),
        |q| {
            q.close();
        },
    );
}

#[test]
fn stress_fifo_unbounded() {
    stress(
        Queue::unbounded(),
        |q, i| q.put(i).unwrap(),
        |q| q.get().ok(),
        |q| {
            q.close();
        },
    );
}

#[test]
fn stress_fifo_try_forms() {
    // Spinning on try_put / try_get: the non-blocking paths alone.
    stress(
        Queue::new(8),
        |q, mut i| loop {
            match q.try_put(i) {
                Ok(()) => return,
                Err(e) => {
                    i = e.into_inner();
                    std::thread::yield_now();
                }
            }
        },
        |q| loop {
            match q.try_get() {
                Ok(i) => return Some(i),
                Err(e) if e.is_closed() => return None,
                Err(_) => std::thread::yield_now(),
            }
        },
        |q| {
            q.close();
        },
    );
}

#[test]
fn stress_lifo() {
    stress(
        LifoQueue::new(64),
        |q, i| q.put(i).unwrap(),
        |q| q.get().ok(),
        |q| {
            q.close();
        },
    );
}

#[test]
fn stress_priority() {
    stress(
        PriorityQueue::new(64),
        |q, i| q.put(i).unwrap(),
        |q| q.get().ok(),
        |q| {
            q.close();
        },
    );
}
