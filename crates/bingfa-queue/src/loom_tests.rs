//! Loom models of the real queue code (`--cfg bingfa_loom`). Each model is
//! small (two or three threads, capacity 1 or 2, two or three items) so
//! that loom can explore every interleaving with `LOOM_MAX_PREEMPTIONS=2`.

use crate::{GetError, GetTimeoutError, LifoQueue, PriorityQueue, PutError, Queue, TryGetError};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// Two producers put one item each through a ring of capacity 1 (so one
/// of them has to wait); the consumer gets both: nothing lost, nothing
/// duplicated, and the capacity is never exceeded.
#[test]
fn loom_ring_no_loss_no_dup_capacity_one() {
    loom::model(|| {
        let q = Queue::new(1);
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|i| {
                let q = q.clone();
                thread::spawn(move || q.put(i).unwrap())
            })
            .collect();
        let mut got = Vec::new();
        for _ in 0..2 {
            assert!(q.len() <= 1, "capacity exceeded: {}", q.len());
            got.push(q.get().unwrap());
        }
        for p in producers {
            p.join().unwrap();
        }
        got.sort();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    });
}

/// One producer puts three items through a ring of capacity 2; the
/// consumer sees them in order (FIFO per producer), across a lap.
#[test]
fn loom_ring_fifo_per_producer() {
    loom::model(|| {
        let q = Queue::new(2);
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    q.put(i).unwrap();
                }
            })
        };
        let got: Vec<_> = (0..3).map(|_| q.get().unwrap()).collect();
        producer.join().unwrap();
        assert_eq!(got, vec![0, 1, 2]);
    });
}

/// Two consumers race for two items from one producer through a ring of
/// capacity 1: each consumer can find the slot reserved but not yet
/// written, or claimed by the other consumer but not yet read out. Each
/// gets exactly one item, and both items arrive.
#[test]
fn loom_ring_two_consumers_capacity_one() {
    loom::model(|| {
        let q = Queue::new(1);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.get().unwrap())
            })
            .collect();
        q.put(1).unwrap();
        q.put(2).unwrap();
        let mut got: Vec<_> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    });
}

/// Two producers and two consumers, one item each, at capacity `cap`:
/// nothing lost, nothing duplicated, and the queue is empty at the end.
fn two_by_two(cap: usize) {
    let q = Queue::new(cap);
    let producers: Vec<_> = [1, 2]
        .into_iter()
        .map(|i| {
            let q = q.clone();
            thread::spawn(move || q.put(i).unwrap())
        })
        .collect();
    let other = {
        let q = q.clone();
        thread::spawn(move || q.get().unwrap())
    };
    let mine = q.get().unwrap();
    let mut got = vec![mine, other.join().unwrap()];
    for p in producers {
        p.join().unwrap();
    }
    got.sort();
    assert_eq!(got, vec![1, 2]);
    assert_eq!(q.len(), 0);
}

/// Four threads make many more interleavings than the other models: with
/// two preemptions they take minutes, so the four-thread models allow one
/// (every schedule that switches threads only where one blocks, yields or
/// ends, plus one preemption anywhere).
fn four_threads() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(1);
    builder
}

/// Two producers and two consumers racing on a ring of capacity 1.
#[test]
fn loom_ring_two_producers_two_consumers_capacity_one() {
    four_threads().check(|| two_by_two(1));
}

/// Two producers and two consumers racing on a ring of capacity 2.
#[test]
fn loom_ring_two_producers_two_consumers_capacity_two() {
    four_threads().check(|| two_by_two(2));
}

/// The unbounded FIFO (a list of blocks of two slots under loom): two
/// producers, one consumer, three items across a block boundary; FIFO per
/// producer, nothing lost.
#[test]
fn loom_list_two_producers() {
    loom::model(|| {
        let q = Queue::unbounded();
        let producers: Vec<_> = [0, 10]
            .into_iter()
            .map(|base| {
                let q = q.clone();
                thread::spawn(move || {
                    q.put(base).unwrap();
                    if base == 0 {
                        q.put(base + 1).unwrap();
                    }
                })
            })
            .collect();
        let got: Vec<_> = (0..3).map(|_| q.get().unwrap()).collect();
        for p in producers {
            p.join().unwrap();
        }
        let from = |base| {
            got.iter()
                .filter(|&&x| x / 10 == base / 10)
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(from(0), vec![0, 1]);
        assert_eq!(from(10), vec![10]);
        assert_eq!(q.len(), 0);
    });
}

/// The unbounded FIFO with two consumers racing for three items across a
/// block boundary (a consumer may claim a slot before it is written, or
/// find `head` at the gate while the other moves it to the next block):
/// every item once, each consumer's items in order, and the blocks are
/// freed by whoever read their last slot.
#[test]
fn loom_list_two_consumers() {
    loom::model(|| {
        let q = Queue::unbounded();
        let other = {
            let q = q.clone();
            thread::spawn(move || q.get().unwrap())
        };
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    q.put(i).unwrap();
                }
            })
        };
        let a = q.get().unwrap();
        let b = q.get().unwrap();
        assert!(a < b, "one consumer got {a} before {b}");
        let c = other.join().unwrap();
        producer.join().unwrap();
        let mut got = vec![a, b, c];
        got.sort();
        assert_eq!(got, vec![0, 1, 2]);
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    });
}

/// Two producers and two consumers on the unbounded FIFO, two items each
/// way across a block boundary.
#[test]
fn loom_list_two_producers_two_consumers() {
    four_threads().check(|| {
        let q = Queue::unbounded();
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|i| {
                let q = q.clone();
                thread::spawn(move || q.put(i).unwrap())
            })
            .collect();
        let other = {
            let q = q.clone();
            thread::spawn(move || q.get().unwrap())
        };
        let mine = q.get().unwrap();
        let mut got = vec![mine, other.join().unwrap()];
        for p in producers {
            p.join().unwrap();
        }
        got.sort();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(q.len(), 0);
    });
}

/// `close` on the unbounded FIFO racing with a consumer: the items put
/// before it drain in order (across a block boundary), then `Closed`;
/// a put after it is refused; items left in a dropped queue are dropped.
#[test]
fn loom_list_close_drains_first() {
    loom::model(|| {
        let q = Queue::unbounded();
        let consumer = {
            let q = q.clone();
            thread::spawn(move || (q.get(), q.get(), q.get()))
        };
        q.put(1).unwrap();
        q.put(2).unwrap();
        q.close();
        assert_eq!(q.put(3), Err(PutError(3)));
        assert_eq!(consumer.join().unwrap(), (Ok(1), Ok(2), Err(GetError)));

        let left = Arc::new(());
        let q = Queue::unbounded();
        for _ in 0..3 {
            q.put(left.clone()).unwrap();
        }
        drop(q.get().unwrap());
        drop(q);
        assert_eq!(Arc::strong_count(&left), 1);
    });
}

/// LIFO and priority order in one thread, then the locked stores under a
/// concurrent producer at capacity 1.
#[test]
fn loom_lifo_and_priority_order() {
    loom::model(|| {
        let lifo = LifoQueue::new(0);
        let prio = PriorityQueue::new(0);
        for x in [2, 3, 1] {
            lifo.put(x).unwrap();
            prio.put(x).unwrap();
        }
        assert_eq!(
            (0..3).map(|_| lifo.get().unwrap()).collect::<Vec<_>>(),
            vec![1, 3, 2]
        );
        assert_eq!(
            (0..3).map(|_| prio.get().unwrap()).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );

        let q = LifoQueue::new(1);
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                q.put(1).unwrap();
                q.put(2).unwrap();
            })
        };
        assert!(q.len() <= 1);
        let a = q.get().unwrap();
        assert!(q.len() <= 1);
        let b = q.get().unwrap();
        producer.join().unwrap();
        // Capacity 1: the first item was taken before the second went in.
        assert_eq!((a, b), (1, 2));
    });
}

/// The priority queue with two producers at capacity 1.
#[test]
fn loom_priority_two_producers() {
    loom::model(|| {
        let q = PriorityQueue::new(1);
        let producers: Vec<_> = [5, 3]
            .into_iter()
            .map(|x| {
                let q = q.clone();
                thread::spawn(move || q.put(x).unwrap())
            })
            .collect();
        let mut got = vec![q.get().unwrap(), q.get().unwrap()];
        for p in producers {
            p.join().unwrap();
        }
        got.sort();
        assert_eq!(got, vec![3, 5]);
    });
}

/// `close` wakes a getter blocked on an empty ring and a putter blocked on
/// a full one (two different queues, so both block for sure).
#[test]
fn loom_close_wakes_blocked_threads_ring() {
    loom::model(|| {
        let empty = Queue::<u8>::new(1);
        let full = Queue::new(1);
        full.put(0u8).unwrap();
        let getter = {
            let q = empty.clone();
            thread::spawn(move || q.get())
        };
        let putter = {
            let q = full.clone();
            thread::spawn(move || q.put(7))
        };
        empty.close();
        full.close();
        assert_eq!(getter.join().unwrap(), Err(GetError));
        assert_eq!(putter.join().unwrap(), Err(PutError(7)));
        // The item put before close is still there to drain.
        assert_eq!(full.get(), Ok(0));
        assert_eq!(full.get(), Err(GetError));
    });
}

/// The same with the locked store: two getters blocked on an empty stack.
#[test]
fn loom_close_wakes_blocked_threads_locked() {
    loom::model(|| {
        let q = LifoQueue::<u8>::new(1);
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.get())
            })
            .collect();
        q.close();
        for g in getters {
            assert_eq!(g.join().unwrap(), Err(GetError));
        }
    });
}

/// A consumer racing with `close`: it gets the item put before close, then
/// `Closed`, whatever the interleaving.
#[test]
fn loom_close_drains_first() {
    loom::model(|| {
        let q = Queue::new(2);
        let consumer = {
            let q = q.clone();
            thread::spawn(move || (q.get(), q.get()))
        };
        q.put(1).unwrap();
        q.close();
        assert_eq!(consumer.join().unwrap(), (Ok(1), Err(GetError)));
    });
}

/// `join` returns exactly when the last `task_done` lands: never before the
/// worker processed both items, and it does return (loom reports a
/// deadlock otherwise).
#[test]
fn loom_join_returns_after_last_task_done() {
    loom::model(|| {
        let q = Queue::new(2);
        q.put(1).unwrap();
        q.put(2).unwrap();
        let processed = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (q, processed) = (q.clone(), processed.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    q.get().unwrap();
                    processed.fetch_add(1, Ordering::Relaxed);
                    q.task_done().unwrap();
                }
            })
        };
        q.join();
        assert_eq!(processed.load(Ordering::Relaxed), 2);
        assert_eq!(q.unfinished_tasks(), 0);
        worker.join().unwrap();
        assert!(q.task_done().is_err());
    });
}

/// Two workers call `task_done` at once while a producer still puts (each
/// may act on a stale reading of the push count): `join` returns only when
/// both items are processed, and one `task_done` too many fails.
#[test]
fn loom_join_with_two_workers() {
    loom::model(|| {
        let q = Queue::new(2);
        q.put(1).unwrap();
        let processed = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (q, processed) = (q.clone(), processed.clone());
                thread::spawn(move || {
                    q.get().unwrap();
                    processed.fetch_add(1, Ordering::Relaxed);
                    q.task_done().unwrap();
                })
            })
            .collect();
        q.put(2).unwrap();
        q.join();
        assert_eq!(processed.load(Ordering::Relaxed), 2);
        for w in workers {
            w.join().unwrap();
        }
        assert!(q.task_done().is_err());
        assert_eq!(q.unfinished_tasks(), 0);
    });
}

/// A timed get racing with a put and with the clock: it either gets the
/// item or times out, and on a timeout the item is still in the queue.
#[test]
fn loom_get_timeout_loses_nothing() {
    loom::model(|| {
        let q = Queue::new(1);
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get_timeout(std::time::Duration::from_secs(1)))
        };
        let clock = thread::spawn(bingfa_sync::raw::clock::advance);
        q.put(5).unwrap();
        clock.join().unwrap();
        match getter.join().unwrap() {
            Ok(x) => assert_eq!(x, 5),
            Err(GetTimeoutError::Timeout) => assert_eq!(q.try_get(), Ok(5)),
            Err(e) => panic!("unexpected {e:?}"),
        }
    });
}

/// `close_immediately` (Python's `shutdown(immediate=True)`) racing with a
/// producer of two items and a consumer that gets and marks done: every
/// item put is got by the consumer or returned by the close, exactly once;
/// a put refused by the close hands its item back; afterwards the queue is
/// closed and empty, and the task count is exactly the items got and not
/// yet done (none). `store` picks the flavour: 0 the ring (capacity 1), 1
/// the unbounded list, 2 the priority heap.
fn close_immediately_model(store: usize) {
    loom::model(move || {
        fn run<Q: Clone + Send + 'static>(
            q: Q,
            put: fn(&Q, usize) -> Result<(), PutError<usize>>,
            get: fn(&Q) -> Result<usize, GetError>,
            task_done: fn(&Q),
            close_immediately: fn(&Q) -> Vec<usize>,
            unfinished: fn(&Q) -> u64,
        ) {
            let producer = {
                let q = q.clone();
                thread::spawn(move || {
                    let mut refused = Vec::new();
                    for i in 1..=2 {
                        if let Err(PutError(item)) = put(&q, i) {
                            refused.push(item);
                        }
                    }
                    refused
                })
            };
            let consumer = {
                let q = q.clone();
                thread::spawn(move || match get(&q) {
                    Ok(item) => {
                        task_done(&q);
                        vec![item]
                    }
                    Err(GetError) => Vec::new(),
                })
            };
            let mut seen = close_immediately(&q);
            seen.extend(producer.join().unwrap());
            seen.extend(consumer.join().unwrap());
            seen.sort();
            assert_eq!(seen, vec![1, 2], "every item exactly once");
            assert_eq!(get(&q), Err(GetError), "closed and empty");
            assert_eq!(unfinished(&q), 0);
        }
        match store {
            0 => run(
                Queue::new(1),
                |q, i| q.put(i),
                |q| q.get(),
                |q| q.task_done().unwrap(),
                |q| q.close_immediately(),
                |q| q.unfinished_tasks(),
            ),
            1 => run(
                Queue::unbounded(),
                |q, i| q.put(i),
                |q| q.get(),
                |q| q.task_done().unwrap(),
                |q| q.close_immediately(),
                |q| q.unfinished_tasks(),
            ),
            _ => run(
                PriorityQueue::new(1),
                |q, i| q.put(i),
                |q| q.get(),
                |q| q.task_done().unwrap(),
                |q| q.close_immediately(),
                |q| q.unfinished_tasks(),
            ),
        }
    });
}

#[test]
fn loom_close_immediately_ring() {
    close_immediately_model(0);
}

#[test]
fn loom_close_immediately_list() {
    close_immediately_model(1);
}

#[test]
fn loom_close_immediately_priority() {
    close_immediately_model(2);
}

/// A joiner waits for one item put before `close_immediately`: the close
/// counts the item it takes out as done and wakes the joiner (Python:
/// `all_tasks_done.notify_all()`), unless a consumer got the item first,
/// in which case its `task_done` does.
#[test]
fn loom_close_immediately_wakes_joiners() {
    loom::model(|| {
        let q = Queue::new(1);
        q.put(7).unwrap();
        let joiner = {
            let q = q.clone();
            thread::spawn(move || q.join())
        };
        let consumer = {
            let q = q.clone();
            thread::spawn(move || {
                if q.try_get().is_ok() {
                    q.task_done().unwrap();
                }
            })
        };
        let _ = q.close_immediately();
        consumer.join().unwrap();
        joiner.join().unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
    });
}

/// `task_done` from a consumer after its `get`, racing with another thread
/// that calls `task_done` without getting (Python allows it while tasks are
/// unfinished) and with the producer: the done count never passes the put
/// count, and what is left unfinished is exact (`task_done` checks its
/// cached reading of the put count first, then the store's own).
#[test]
fn loom_task_done_never_overshoots() {
    loom::model(|| {
        let q = Queue::new(2);
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                q.put(1).unwrap();
                q.put(2).unwrap();
            })
        };
        let eager = {
            let q = q.clone();
            thread::spawn(move || (0..2).filter(|_| q.task_done().is_ok()).count())
        };
        q.get().unwrap();
        let mine = q.task_done().is_ok() as usize;
        producer.join().unwrap();
        let theirs = eager.join().unwrap();
        let done = mine + theirs;
        assert!(done <= 2, "more tasks done than items put");
        assert_eq!(q.unfinished_tasks(), 2 - done as u64);
        // A call was refused only when no task was unfinished at that
        // moment (Python's `ValueError`); the tasks it left are still owed.
        if done < 2 {
            assert!(q.task_done().is_ok());
        }
    });
}
