//! The shared API on every queue type: capacity, try/timeout forms, len.

mod common;

use bingfa_queue::{GetTimeoutError, PutTimeoutError, TryGetError, TryPutError};
use std::time::{Duration, Instant};

#[test]
fn capacity_and_full() {
    for_each_queue!(|make| {
        let q = make(2);
        assert_eq!(q.capacity(), Some(2));
        assert!(q.is_empty() && !q.is_full());
        q.try_put(1).unwrap();
        q.try_put(2).unwrap();
        assert_eq!(q.len(), 2);
        assert!(q.is_full());
        match q.try_put(3) {
            Err(TryPutError::Full(3)) => {}
            other => panic!("expected Full(3), got {other:?}"),
        }
        assert_eq!(q.len(), 2);
        q.try_get().unwrap();
        assert!(!q.is_full());
        q.try_put(3).unwrap();
        assert_eq!(q.len(), 2);
    });
}

#[test]
fn unbounded_never_full() {
    for_each_queue!(|make| {
        let q = make(0);
        assert_eq!(q.capacity(), None);
        // Many blocks of the unbounded list (fewer under Miri, still > 3).
        let n = if cfg!(miri) { 100 } else { 10_000 };
        for i in 0..n {
            q.try_put(i).unwrap();
        }
        assert_eq!(q.len(), n);
        assert!(!q.is_full());
        let mut got = Vec::new();
        while let Ok(x) = q.try_get() {
            got.push(x);
        }
        got.sort();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
    });
}

#[test]
fn try_get_empty() {
    for_each_queue!(|make| {
        let q = make::<u8>(3);
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
        assert!(q.try_get().unwrap_err().is_empty());
    });
}

#[test]
fn zero_timeouts_are_tries() {
    for_each_queue!(|make| {
        let q = make(1);
        assert_eq!(q.get_timeout(Duration::ZERO), Err(GetTimeoutError::Timeout));
        q.put_timeout(1, Duration::ZERO).unwrap();
        match q.put_timeout(2, Duration::ZERO) {
            Err(PutTimeoutError::Timeout(2)) => {}
            other => panic!("expected Timeout(2), got {other:?}"),
        }
        assert_eq!(q.get_timeout(Duration::ZERO), Ok(1));
    });
}

#[test]
fn timeouts_wait_then_give_up() {
    for_each_queue!(|make| {
        let q = make(1);
        let start = Instant::now();
        assert_eq!(
            q.get_timeout(Duration::from_millis(30)),
            Err(GetTimeoutError::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
        q.put(1).unwrap();
        let start = Instant::now();
        let err = q.put_timeout(2, Duration::from_millis(30)).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(err.is_timeout());
        assert_eq!(err.into_inner(), 2);
    });
}

#[test]
fn huge_timeout_means_forever() {
    for_each_queue!(|make| {
        let q = make(1);
        let putter = {
            let q = q.clone();
            std::thread::spawn(move || q.put_timeout(9, Duration::MAX))
        };
        assert_eq!(q.get_timeout(Duration::MAX), Ok(9));
        putter.join().unwrap().unwrap();
    });
}

#[test]
fn blocked_get_wakes_on_put() {
    for_each_queue!(|make| {
        let q = make(1);
        let getter = {
            let q = q.clone();
            std::thread::spawn(move || q.get())
        };
        // Whether or not the getter is parked yet, the put must reach it.
        std::thread::sleep(Duration::from_millis(20));
        q.put(42).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(42));
    });
}

#[test]
fn blocked_put_wakes_on_get() {
    for_each_queue!(|make| {
        let q = make(1);
        q.put(1).unwrap();
        let putter = {
            let q = q.clone();
            std::thread::spawn(move || q.put(2))
        };
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(q.get(), Ok(1));
        putter.join().unwrap().unwrap();
        assert_eq!(q.get(), Ok(2));
    });
}

#[test]
fn handles_share_one_queue() {
    for_each_queue!(|make| {
        let a = make(0);
        let b = a.clone();
        assert!(a.same_queue(&b));
        assert!(!a.same_queue(&make(0)));
        a.put(5).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b.get(), Ok(5));
        let dbg = format!("{a:?}");
        assert!(dbg.contains("len: 0"), "{dbg}");
    });
}

#[test]
fn default_is_unbounded() {
    assert_eq!(bingfa_queue::Queue::<u8>::default().capacity(), None);
    assert_eq!(bingfa_queue::LifoQueue::<u8>::default().capacity(), None);
    assert_eq!(
        bingfa_queue::PriorityQueue::<u8>::default().capacity(),
        None
    );
}

#[test]
fn items_left_are_dropped_with_the_queue() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counted(u32, Arc<AtomicUsize>);
    impl PartialEq for Counted {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for Counted {}
    impl PartialOrd for Counted {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Counted {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.cmp(&other.0)
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    for_each_queue!(|make| {
        for cap in [0, 3, 8] {
            let drops = Arc::new(AtomicUsize::new(0));
            let q = make(cap);
            // Wrap around the ring at least once before leaving items in.
            for round in 0..2 {
                for i in 0..3 {
                    q.put(Counted(i, drops.clone())).unwrap();
                }
                if round == 0 {
                    for _ in 0..3 {
                        drop(q.get().unwrap());
                    }
                }
            }
            assert_eq!(drops.load(Ordering::SeqCst), 3);
            let twin = q.clone();
            drop(q);
            assert_eq!(drops.load(Ordering::SeqCst), 3, "a handle is still alive");
            drop(twin);
            assert_eq!(drops.load(Ordering::SeqCst), 6);
        }
    });
}

/// A full queue of many slots: a producer that spins for a batch of room
/// before it tries again (a bounded `Queue` does, see `Core::spin_for_room`)
/// still gets in when a slow consumer frees one slot at a time, and its
/// last `put` gets in after a single `get`. Nothing is lost or doubled.
#[test]
fn full_large_queue_lets_a_producer_in_after_each_get() {
    let (cap, extra) = if cfg!(miri) { (64, 4) } else { (1024, 200) };
    for_each_queue!(|make| {
        let q = make(cap);
        for i in 0..cap {
            q.put(i).unwrap();
        }
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in cap..cap + extra {
                    q.put_timeout(i, Duration::from_secs(60)).unwrap();
                }
            })
        };
        let mut got = Vec::new();
        for _ in 0..extra {
            std::thread::sleep(Duration::from_micros(100));
            got.push(q.get().unwrap());
        }
        producer.join().unwrap();
        assert_eq!(q.len(), cap);
        while let Ok(x) = q.try_get() {
            got.push(x);
        }
        got.sort_unstable();
        assert_eq!(got, (0..cap + extra).collect::<Vec<_>>());
    });
}
