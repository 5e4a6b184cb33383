//! A `PriorityQueue` whose items' `Ord` panics: every put or get that
//! panics leaves the queue exactly as it was (the put's item is not in it,
//! the get's item still is), `unfinished_tasks` stays right, and the queue
//! keeps its order afterwards.

use bingfa_queue::PriorityQueue;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local!(static ARMED: Cell<bool> = const { Cell::new(false) });

/// An item whose next comparison on this thread panics once armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    key: u8,
    id: u32,
}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Item {
    /// By `key` only: items with equal keys come out in put order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if ARMED.with(|a| a.replace(false)) {
            std::panic::panic_any("Ord panicked");
        }
        self.key.cmp(&other.key)
    }
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn quiet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"Ord panicked") {
            default(info);
        }
    }));
}

#[test]
fn a_panicking_ord_changes_nothing() {
    quiet_panics();
    let ops = if cfg!(miri) { 300 } else { 20_000 };
    for seed in 1..=if cfg!(miri) { 1u64 } else { 5 } {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let q = PriorityQueue::unbounded();
        // What the queue must hold, in put order.
        let mut model: Vec<Item> = Vec::new();
        let mut next_id = 0;
        let mut got_not_done = 0u64;
        for _ in 0..ops {
            let arm = rng.next().is_multiple_of(4);
            if rng.next().is_multiple_of(2) || model.is_empty() {
                let item = Item {
                    key: (rng.next() % 8) as u8,
                    id: next_id,
                };
                next_id += 1;
                ARMED.with(|a| a.set(arm));
                match catch_unwind(AssertUnwindSafe(|| q.put(item))) {
                    Ok(r) => {
                        r.unwrap();
                        model.push(item);
                    }
                    Err(_) => assert!(arm, "panicked without being armed"),
                }
            } else {
                ARMED.with(|a| a.set(arm));
                match catch_unwind(AssertUnwindSafe(|| q.try_get())) {
                    Ok(r) => {
                        let got = r.unwrap();
                        // The smallest key, and of those the first put.
                        let min = model.iter().map(|i| i.key).min().unwrap();
                        let at = model.iter().position(|i| i.key == min).unwrap();
                        assert_eq!(got, model.remove(at), "seed {seed}");
                        got_not_done += 1;
                    }
                    Err(_) => assert!(arm, "panicked without being armed"),
                }
            }
            ARMED.with(|a| a.set(false));
            assert_eq!(q.len(), model.len(), "seed {seed}");
            assert_eq!(q.unfinished_tasks(), model.len() as u64 + got_not_done);
            if rng.next().is_multiple_of(3) && got_not_done > 0 {
                q.task_done().unwrap();
                got_not_done -= 1;
            }
        }
        // Disarmed: everything left comes out in order.
        model.sort_by_key(|i| (i.key, i.id));
        let rest: Vec<Item> = q.try_iter().collect();
        assert_eq!(rest, model, "seed {seed}");
    }
}

#[test]
fn a_put_that_panics_is_no_task_and_join_still_returns() {
    quiet_panics();
    let q = PriorityQueue::unbounded();
    q.put(Item { key: 1, id: 0 }).unwrap();
    ARMED.with(|a| a.set(true));
    assert!(catch_unwind(AssertUnwindSafe(|| q.put(Item { key: 0, id: 1 }))).is_err());
    assert_eq!(q.len(), 1);
    assert_eq!(q.unfinished_tasks(), 1);
    q.get().unwrap();
    q.task_done().unwrap();
    // Python's PriorityQueue would count the failed put, and join would
    // wait for it forever.
    assert!(q.join_timeout(std::time::Duration::ZERO));
}

#[test]
fn a_get_that_panics_keeps_its_item_for_the_next_get() {
    quiet_panics();
    let q = PriorityQueue::unbounded();
    for (key, id) in [(2, 0), (1, 1), (3, 2)] {
        q.put(Item { key, id }).unwrap();
    }
    ARMED.with(|a| a.set(true));
    assert!(catch_unwind(AssertUnwindSafe(|| q.get())).is_err());
    assert_eq!(q.len(), 3);
    // Python's PriorityQueue loses the smallest item here.
    assert_eq!(q.get().unwrap().key, 1);
    assert_eq!(q.get().unwrap().key, 2);
    assert_eq!(q.get().unwrap().key, 3);
}

#[test]
fn close_immediately_with_a_panicking_ord_still_empties_and_counts() {
    quiet_panics();
    let q = PriorityQueue::unbounded();
    for (key, id) in [(2, 0), (1, 1), (3, 2), (0, 3)] {
        q.put(Item { key, id }).unwrap();
    }
    ARMED.with(|a| a.set(true));
    assert!(catch_unwind(AssertUnwindSafe(|| q.close_immediately())).is_err());
    assert!(q.is_closed());
    assert!(q.is_empty());
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.get().is_err());
}
