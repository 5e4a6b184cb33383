//! The order each queue hands items out in.

mod common;

use bingfa_queue::{LifoQueue, PriorityQueue, Queue};
use std::cmp::{Ordering, Reverse};

#[test]
fn fifo_order_bounded_and_unbounded() {
    for cap in [0, 1, 3, 64] {
        let q = Queue::new(cap);
        // Several laps around the ring with the queue partly full.
        let mut next_out = 0;
        // Past a lap of the largest ring (fewer items under Miri).
        let n = if cfg!(miri) { 70 } else { 200 };
        for i in 0..n {
            if q.is_full() {
                assert_eq!(q.get(), Ok(next_out));
                next_out += 1;
            }
            q.put(i).unwrap();
        }
        while let Ok(x) = q.try_get() {
            assert_eq!(x, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, n, "capacity {cap}");
    }
}

#[test]
fn lifo_order() {
    let q = LifoQueue::new(0);
    for i in 0..5 {
        q.put(i).unwrap();
    }
    assert_eq!(q.get(), Ok(4));
    q.put(10).unwrap();
    let rest: Vec<_> = std::iter::from_fn(|| q.try_get().ok()).collect();
    assert_eq!(rest, vec![10, 3, 2, 1, 0]);
}

#[test]
fn priority_smallest_first() {
    let q = PriorityQueue::new(0);
    for x in [5, 1, 4, 1, 5, 9, 2, 6, 5, 3] {
        q.put(x).unwrap();
    }
    let out: Vec<_> = std::iter::from_fn(|| q.try_get().ok()).collect();
    assert_eq!(out, vec![1, 1, 2, 3, 4, 5, 5, 5, 6, 9]);

    let q = PriorityQueue::new(0);
    for x in [3, 7, 1] {
        q.put(Reverse(x)).unwrap();
    }
    assert_eq!(q.get(), Ok(Reverse(7)));
}

/// Ordered by `priority` only, so equal priorities are "equal" items.
#[derive(Debug)]
struct Job {
    priority: u8,
    name: &'static str,
}
impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority.cmp(&other.priority)
    }
}

#[test]
fn priority_is_stable_for_equal_items() {
    let q = PriorityQueue::new(0);
    let jobs = [
        (2, "a"),
        (1, "b"),
        (2, "c"),
        (1, "d"),
        (2, "e"),
        (1, "f"),
        (3, "g"),
        (2, "h"),
    ];
    for (priority, name) in jobs {
        q.put(Job { priority, name }).unwrap();
    }
    // Interleave gets and puts: stability must hold across both.
    assert_eq!(q.get().unwrap().name, "b");
    q.put(Job {
        priority: 1,
        name: "i",
    })
    .unwrap();
    let names: Vec<_> = std::iter::from_fn(|| q.try_get().ok())
        .map(|j| j.name)
        .collect();
    assert_eq!(names, vec!["d", "f", "i", "a", "c", "e", "h", "g"]);
}

#[test]
fn fifo_per_producer_with_many_threads() {
    const PRODUCERS: usize = 3;
    const PER: usize = if cfg!(miri) { 16 } else { 20_000 };
    for cap in [0, 4] {
        let q = Queue::new(cap);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        q.put((p, i)).unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    // Each consumer sees each producer's items in order.
                    let mut last = [None::<usize>; PRODUCERS];
                    let mut n = 0;
                    while let Ok((p, i)) = q.get() {
                        assert!(
                            last[p].is_none_or(|l| l < i),
                            "producer {p}: {i} after {last:?}"
                        );
                        last[p] = Some(i);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        q.close();
        let total: usize = consumers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(total, PRODUCERS * PER);
    }
}
