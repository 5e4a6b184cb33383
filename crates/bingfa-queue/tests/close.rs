//! `close`: puts fail with the item, gets drain then fail, blocked threads wake.

mod common;

use bingfa_queue::{
    GetError, GetTimeoutError, PutError, PutTimeoutError, TryGetError, TryPutError,
};
use std::time::Duration;

#[test]
fn close_refuses_puts_and_drains_gets() {
    for_each_queue!(|make| {
        for cap in [0, 2] {
            let q = make(cap);
            q.put(1).unwrap();
            q.put(2).unwrap();
            assert!(!q.is_closed());
            assert!(q.close());
            assert!(!q.close(), "second close reports it was closed already");
            assert!(q.is_closed());
            assert_eq!(q.put(3), Err(PutError(3)));
            assert!(matches!(q.try_put(4), Err(TryPutError::Closed(4))));
            assert!(matches!(
                q.put_timeout(5, Duration::from_millis(1)),
                Err(PutTimeoutError::Closed(5))
            ));
            assert_eq!(q.len(), 2);
            let mut got = vec![q.get().unwrap(), q.try_get().unwrap()];
            got.sort();
            assert_eq!(got, vec![1, 2]);
            assert_eq!(q.get(), Err(GetError));
            assert_eq!(q.try_get(), Err(TryGetError::Closed));
            assert_eq!(
                q.get_timeout(Duration::from_millis(1)),
                Err(GetTimeoutError::Closed)
            );
        }
    });
}

#[test]
fn close_wakes_every_blocked_getter() {
    for_each_queue!(|make| {
        let q = make::<u32>(1);
        let getters: Vec<_> = (0..3)
            .map(|i| {
                let q = q.clone();
                std::thread::spawn(move || {
                    if i == 0 {
                        q.get().map_err(|_| ())
                    } else {
                        q.get_timeout(Duration::from_secs(3600)).map_err(|_| ())
                    }
                })
            })
            .collect();
        // Give them time to park (the outcome holds whether they did or not).
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        for g in getters {
            assert_eq!(g.join().unwrap(), Err(()));
        }
    });
}

#[test]
fn close_wakes_every_blocked_putter_and_returns_its_item() {
    for_each_queue!(|make| {
        let q = make::<u32>(1);
        q.put(0).unwrap();
        let putters: Vec<_> = (1..=3)
            .map(|i| {
                let q = q.clone();
                std::thread::spawn(move || {
                    if i == 1 {
                        q.put(i).map_err(PutError::into_inner)
                    } else {
                        q.put_timeout(i, Duration::from_secs(3600))
                            .map_err(PutTimeoutError::into_inner)
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        let mut back: Vec<_> = putters
            .into_iter()
            .map(|p| p.join().unwrap().unwrap_err())
            .collect();
        back.sort();
        assert_eq!(back, vec![1, 2, 3]);
        assert_eq!(q.get(), Ok(0));
        assert_eq!(q.get(), Err(GetError));
    });
}

#[test]
fn consumers_drain_everything_before_closed() {
    for_each_queue!(|make| {
        let q = make(8);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(x) = q.get() {
                        got.push(x);
                    }
                    got
                })
            })
            .collect();
        let n = if cfg!(miri) { 60 } else { 1000u32 };
        for i in 0..n {
            q.put(i).unwrap();
        }
        q.close();
        let mut all: Vec<_> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    });
}

#[test]
fn close_immediately_returns_the_items_in_get_order_and_counts_them_done() {
    let q = bingfa_queue::Queue::new(0);
    let l = bingfa_queue::LifoQueue::new(0);
    let p = bingfa_queue::PriorityQueue::new(0);
    for x in [2, 3, 1] {
        q.put(x).unwrap();
        l.put(x).unwrap();
        p.put(x).unwrap();
    }
    assert_eq!(q.close_immediately(), [2, 3, 1]);
    assert_eq!(l.close_immediately(), [1, 3, 2]);
    assert_eq!(p.close_immediately(), [1, 2, 3]);
    for_each_queue!(|make| {
        for cap in [0, 4] {
            let q = make(cap);
            q.put(1).unwrap();
            q.put(2).unwrap();
            q.put(3).unwrap();
            // One item got and not yet done: it stays unfinished.
            let got = q.get().unwrap();
            assert_eq!(q.close_immediately().len(), 2);
            assert!(q.is_closed());
            assert!(q.is_empty());
            assert_eq!(q.unfinished_tasks(), 1);
            assert!(!q.join_timeout(Duration::from_millis(10)));
            let _ = got;
            q.task_done().unwrap();
            assert_eq!(q.task_done(), Err(bingfa_queue::TaskDoneError));
            q.join();
            assert_eq!(q.put(9), Err(PutError(9)));
            assert_eq!(q.get(), Err(GetError));
            assert!(
                q.close_immediately().is_empty(),
                "a second call drains nothing"
            );
        }
    });
}

#[test]
fn close_immediately_wakes_every_blocked_getter_putter_and_joiner() {
    for_each_queue!(|make| {
        // A full queue of capacity 1 with a blocked putter, and an empty
        // one with blocked getters; a joiner on the full one.
        let full = make(1);
        full.put(1).unwrap();
        let empty = make::<i32>(1);
        std::thread::scope(|s| {
            let putter = s.spawn(|| full.put(2));
            let getters: Vec<_> = (0..2).map(|_| s.spawn(|| empty.get())).collect();
            let joiner = s.spawn(|| full.join());
            // Give them a moment to block. The outcomes below are the same
            // whether they blocked before the close or came after it.
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(full.close_immediately(), [1]);
            assert_eq!(empty.close_immediately(), Vec::<i32>::new());
            // The queue was full until the close: the putter is refused.
            assert_eq!(putter.join().unwrap(), Err(PutError(2)));
            for g in getters {
                assert_eq!(g.join().unwrap(), Err(GetError));
            }
            joiner.join().unwrap();
        });
        assert_eq!(full.unfinished_tasks(), 0);
    });
}

#[test]
fn iteration_gets_until_closed_and_drained() {
    for_each_queue!(|make| {
        for cap in [0, 2] {
            let q = make(cap);
            let got = std::thread::scope(|s| {
                let consumer = s.spawn(|| {
                    let mut v: Vec<u32> = Vec::new();
                    for x in &q {
                        v.push(x);
                    }
                    v
                });
                for i in 0..20 {
                    q.put(i).unwrap();
                }
                q.close();
                consumer.join().unwrap()
            });
            let mut got = got;
            got.sort_unstable();
            assert_eq!(got, (0..20).collect::<Vec<_>>());
            // An owned handle iterates too, and ends at once now.
            assert_eq!(q.clone().into_iter().count(), 0);
            assert_eq!(q.try_iter().count(), 0);
        }
    });
}

#[test]
fn try_iter_takes_what_is_there_without_waiting() {
    for_each_queue!(|make| {
        let q = make(0);
        q.put(1).unwrap();
        q.put(2).unwrap();
        let mut got: Vec<i32> = q.try_iter().collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        // Open and empty: the iteration ends instead of waiting.
        assert_eq!(q.try_iter().next(), None);
        assert!(!q.is_closed());
        let it = q.iter();
        assert!(format!("{it:?}").starts_with("Iter { queue: "));
    });
}
