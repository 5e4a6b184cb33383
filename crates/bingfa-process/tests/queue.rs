//! The process-shared `Queue`: Python's API across processes, closing,
//! timeouts, and 8 producers x 8 consumers in separate processes.

// Forking from a test: the harness runs tests on threads, so every `fork`
// here happens in a process with other threads (see the Safety section of
// `bingfa_process::fork`). Each closure takes no lock those threads may
// hold: it uses its own data, this crate's shared-memory objects, the
// test's own output capture, and glibc's malloc, which glibc's `fork` keeps
// usable in the child.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bingfa_process::{Error, ExitStatus, Queue};

use common::SharedCounts;

bingfa_process::enable_test_support!();

#[test]
fn put_get_nowait_full_empty_across_fork() {
    let q = Queue::<(u32, String)>::new(2).unwrap();
    assert!(q.is_empty());
    assert!(!q.is_full());
    assert_eq!(q.capacity(), 2);
    let child = {
        let q = q.clone();
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe {
            bingfa_process::fork(move || {
                q.put((1, "one".into())).unwrap();
                q.try_put((2, "two".into())).unwrap();
                // Full now: put_nowait hands the item back.
                let e = q.try_put((3, "three".into())).unwrap_err();
                assert!(e.is_full());
                assert_eq!(e.into_inner(), (3, "three".into()));
            })
        }
        .unwrap()
    };
    assert_eq!(
        child.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        child.panic_message()
    );
    assert!(q.is_full());
    assert_eq!(q.len(), 2);
    assert_eq!(q.get().unwrap(), (1, "one".into()));
    assert_eq!(q.try_get().unwrap(), (2, "two".into()));
    assert!(matches!(q.try_get(), Err(Error::Empty)));
    assert!(q.is_empty());
}

fn spawned_echo(args: (Queue<String>, Queue<String>)) {
    let (inbox, outbox) = args;
    while let Ok(s) = inbox.get() {
        outbox.put(s.to_uppercase()).unwrap();
    }
}

#[test]
fn queues_pass_to_spawned_children() {
    let inbox = Queue::<String>::new(4).unwrap();
    let outbox = Queue::<String>::new(4).unwrap();
    let child = bingfa_process::spawn(spawned_echo, (inbox.clone(), outbox.clone())).unwrap();
    for w in ["a", "bc", "def"] {
        inbox.put(w.to_string()).unwrap();
        assert_eq!(
            outbox.get_timeout(Duration::from_secs(20)).unwrap(),
            w.to_uppercase()
        );
    }
    inbox.close();
    assert_eq!(
        child.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        child.panic_message()
    );
}

#[test]
fn serializing_a_queue_outside_spawn_fails() {
    let q = Queue::<u8>::new(1).unwrap();
    let outer = Queue::<Queue<u8>>::new(1).unwrap();
    let e = outer.try_put(q).unwrap_err();
    assert!(matches!(e.error, Error::Encode(_)), "{:?}", e.error);
}

#[test]
fn timeouts() {
    let q = Queue::<u8>::new(1).unwrap();
    let t = Instant::now();
    assert!(matches!(
        q.get_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    assert!(t.elapsed() >= Duration::from_millis(50));
    q.put(1).unwrap();
    let e = q.put_timeout(2, Duration::from_millis(50)).unwrap_err();
    assert!(e.is_timeout());
    assert_eq!(e.item, 2);
}

#[test]
fn blocked_get_wakes_on_put_from_other_process() {
    let q = Queue::<u64>::new(1).unwrap();
    let child = {
        let q = q.clone();
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe {
            bingfa_process::fork(move || {
                std::thread::sleep(Duration::from_millis(100));
                q.put(42).unwrap();
                // Blocks until the parent takes the first one.
                q.put(43).unwrap();
            })
        }
        .unwrap()
    };
    assert_eq!(q.get().unwrap(), 42);
    assert_eq!(q.get().unwrap(), 43);
    assert!(child.join().unwrap().success());
}

#[test]
fn close_drains_then_reports_closed() {
    let q = Queue::<u8>::new(4).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.close();
    assert!(q.is_closed());
    let e = q.put(3).unwrap_err();
    assert!(e.is_closed());
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.get().unwrap(), 2);
    assert!(matches!(q.get(), Err(Error::Closed)));
    assert!(matches!(q.try_get(), Err(Error::Closed)));
}

#[test]
fn close_wakes_blocked_consumer_in_other_process() {
    let q = Queue::<u8>::new(4).unwrap();
    let child = {
        let q = q.clone();
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe {
            bingfa_process::fork(move || {
                assert!(matches!(q.get(), Err(Error::Closed)));
            })
        }
        .unwrap()
    };
    std::thread::sleep(Duration::from_millis(50));
    q.close();
    assert_eq!(
        child.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        child.panic_message()
    );
}

#[test]
fn too_large_hands_item_back() {
    let q = Queue::<Vec<u8>>::with_max_message(2, 16).unwrap();
    assert_eq!(q.max_message_size(), 16);
    q.put(vec![1; 10]).unwrap();
    let e = q.put(vec![7; 100]).unwrap_err();
    // The item's own size (a length byte and 100 bytes) and the limit the
    // queue was made with, not frame sizes.
    assert!(
        matches!(e.error, Error::TooLarge { size: 101, max: 16 }),
        "{:?}",
        e.error
    );
    assert_eq!(e.item, vec![7; 100]);
    assert_eq!(q.get().unwrap(), vec![1; 10]);
    assert!(matches!(Queue::<u8>::new(0), Err(Error::Invalid(_))));
}

#[test]
fn too_large_names_the_item_size_and_the_limit_set() {
    // The case of issue 11: with_max_message(4, 64), a 1 002-byte item
    // (a Vec of 1 000 bytes: a 2-byte length, then the bytes). The message
    // used to speak of frames: "73 bytes is larger than the maximum of 72".
    let q = Queue::<Vec<u8>>::with_max_message(4, 64).unwrap();
    let e = q.try_put(vec![0; 1000]).unwrap_err();
    assert!(
        matches!(
            e.error,
            Error::TooLarge {
                size: 1002,
                max: 64
            }
        ),
        "{:?}",
        e.error
    );
    let text = e.to_string();
    assert!(text.contains("1002") && text.contains("64"), "{text}");
    assert!(!text.contains("72") && !text.contains("73"), "{text}");
    // The limit is the one set, not the slot it rounds up to: 61 bytes
    // take an item of 61 encoded bytes and refuse one of 62.
    let q = Queue::<Vec<u8>>::with_max_message(2, 61).unwrap();
    assert_eq!(q.max_message_size(), 61);
    q.try_put(vec![1; 60]).unwrap();
    let e = q.try_put(vec![1; 61]).unwrap_err();
    assert!(
        matches!(e.error, Error::TooLarge { size: 62, max: 61 }),
        "{:?}",
        e.error
    );
    assert_eq!(q.try_get().unwrap(), vec![1; 60]);
    // A pipe names its own limit the same way.
    let (a, _b) = bingfa_process::Pipe::<Vec<u8>>::new().unwrap();
    let limit = bingfa_process::MAX_PIPE_MESSAGE - bingfa_process::codec::HEADER;
    let e = a.send_bytes(&vec![0; limit + 1]).unwrap_err();
    assert!(
        matches!(e, Error::TooLarge { size, max } if size == limit + 1 && max == limit),
        "{e:?}"
    );
}

/// An item whose `Serialize` behaves the first time it runs and fails, or
/// panics, the second: a put measures an item before it claims a slot and
/// encodes it into the slot after, so this fails in between, the one place
/// where a claimed slot is at stake.
struct Fickle {
    value: u32,
    second: Second,
    calls: std::cell::Cell<u32>,
}

#[derive(Clone, Copy)]
enum Second {
    Same,
    Fails,
    Panics,
}

impl Fickle {
    fn new(value: u32, second: Second) -> Fickle {
        Fickle {
            value,
            second,
            calls: std::cell::Cell::new(0),
        }
    }
}

impl serde::Serialize for Fickle {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.calls.set(self.calls.get() + 1);
        if self.calls.get() == 2 {
            match self.second {
                Second::Same => {}
                Second::Fails => return Err(serde::ser::Error::custom("fickle, second time")),
                Second::Panics => panic!("fickle, second time"),
            }
        }
        s.serialize_u32(self.value)
    }
}

impl<'de> serde::Deserialize<'de> for Fickle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u32::deserialize(d).map(|v| Fickle::new(v, Second::Same))
    }
}

/// A put whose item fails to encode, or panics, once its slot is claimed
/// leaves a hole that gets skip: no message is lost or reordered, no get
/// waits for the hole, and the failing put reports the error with the
/// item handed back.
#[test]
fn an_item_that_fails_in_its_slot_leaves_a_hole_gets_skip() {
    let q = Queue::<Fickle>::new(4).unwrap();
    q.put(Fickle::new(1, Second::Same)).unwrap();
    let e = q.put(Fickle::new(2, Second::Fails)).unwrap_err();
    assert!(matches!(e.error, Error::Encode(_)), "{:?}", e.error);
    assert_eq!(e.item.value, 2);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        q.try_put(Fickle::new(3, Second::Panics))
    }));
    assert!(panicked.is_err());
    q.put(Fickle::new(4, Second::Same)).unwrap();
    // Two holes and two messages: the gets see only the messages, in order.
    assert_eq!(q.get().unwrap().value, 1);
    assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap().value, 4);
    assert!(matches!(q.try_get(), Err(Error::Empty)));
    assert_eq!(q.len(), 0);
    // The holes' slots are free again: the queue fills to its capacity.
    for v in 0..4 {
        q.try_put(Fickle::new(v, Second::Same)).unwrap();
    }
    assert!(
        matches!(q.try_put(Fickle::new(9, Second::Same)), Err(e) if matches!(e.error, Error::Full))
    );
    for v in 0..4 {
        assert_eq!(q.try_get().unwrap().value, v);
    }
}

/// A 64-byte message: producer, sequence number, and padding whose bytes
/// depend on both (checked by the consumer).
fn message(p: u32, i: u32) -> (u32, u32, Vec<u8>) {
    let pad = (0..52)
        .map(|k| (p as u8) ^ (i as u8).wrapping_add(k))
        .collect();
    (p, i, pad)
}

#[test]
fn eight_producers_eight_consumers_every_message_once() {
    const P: u32 = 8;
    const C: u32 = 8;
    // 100 000 per producer in release; debug builds (20x slower
    // serialization) use 10 000.
    let n: u32 = if cfg!(debug_assertions) {
        10_000
    } else {
        100_000
    };
    let total = (P * n) as usize;
    // One delivery counter per message, in memory shared by every process.
    let shared = SharedCounts::new(total);
    let counts = shared.counts();
    let q = Queue::<(u32, u32, Vec<u8>)>::with_max_message(1024, 80).unwrap();
    let t = Instant::now();
    let consumers: Vec<_> = (0..C)
        .map(|_| {
            let q = q.clone();
            // SAFETY: the closure takes no lock the harness's other threads may hold
            // (see the note at the top of this file).
            unsafe {
                bingfa_process::fork(move || {
                    while let Ok((p, i, pad)) = q.get() {
                        assert_eq!(pad, message(p, i).2, "payload of ({p}, {i}) damaged");
                        counts[(p * n + i) as usize].fetch_add(1, Ordering::Relaxed);
                    }
                })
            }
            .unwrap()
        })
        .collect();
    let producers: Vec<_> = (0..P)
        .map(|p| {
            let q = q.clone();
            // SAFETY: the closure takes no lock the harness's other threads may hold
            // (see the note at the top of this file).
            unsafe {
                bingfa_process::fork(move || {
                    for i in 0..n {
                        q.put(message(p, i)).unwrap();
                    }
                })
            }
            .unwrap()
        })
        .collect();
    for p in &producers {
        assert_eq!(
            p.join().unwrap(),
            ExitStatus::Code(0),
            "{:?}",
            p.panic_message()
        );
    }
    q.close();
    for c in &consumers {
        assert_eq!(
            c.join().unwrap(),
            ExitStatus::Code(0),
            "{:?}",
            c.panic_message()
        );
    }
    let elapsed = t.elapsed();
    let bad: Vec<usize> = shared.not_exactly_once();
    assert!(
        bad.is_empty(),
        "messages not delivered exactly once: {bad:?}"
    );
    eprintln!("{total} messages through 8x8 processes in {elapsed:?}");
}

/// A producer that puts alone claims its slots under the producer lease
/// (a plain store instead of a compare-and-swap). A second producer that
/// joins it mid-stream revokes the lease: a thread of the same process,
/// or a thread of another process. Nothing may be lost, doubled or
/// reordered within a producer on the way.
#[test]
fn a_producer_that_joins_a_lone_producer_mid_stream_loses_nothing() {
    let n: u32 = if cfg!(debug_assertions) {
        5_000
    } else {
        50_000
    };
    for same_process in [true, false] {
        let q = Queue::<(u32, u32)>::new(64).unwrap();
        let alone = {
            let q = q.clone();
            // SAFETY: the closure takes no lock the harness's other threads may hold
            // (see the note at the top of this file).
            unsafe {
                bingfa_process::fork(move || {
                    let mut sibling = None;
                    for i in 0..n {
                        if same_process && i == n / 4 {
                            let q = q.clone();
                            sibling = Some(std::thread::spawn(move || {
                                for i in 0..n {
                                    q.put((1, i)).unwrap();
                                }
                            }));
                        }
                        q.put((0, i)).unwrap();
                    }
                    if let Some(s) = sibling {
                        s.join().unwrap();
                    }
                })
            }
            .unwrap()
        };
        // A lost message would leave it blocked on a full queue: never
        // leave it behind when an assertion below fails.
        struct KillOnDrop<'a>(&'a bingfa_process::Process);
        impl Drop for KillOnDrop<'_> {
            fn drop(&mut self) {
                let _ = self.0.kill();
            }
        }
        let _guard = KillOnDrop(&alone);
        let mut next = [0u32; 2];
        let mut other = None;
        for _ in 0..2 * n {
            let (p, i) = q.get_timeout(Duration::from_secs(60)).unwrap();
            assert_eq!(
                i, next[p as usize],
                "producer {p} (same process: {same_process}): out of order or doubled"
            );
            next[p as usize] += 1;
            if !same_process && p == 0 && i == n / 4 {
                let q = q.clone();
                other = Some(std::thread::spawn(move || {
                    for i in 0..n {
                        q.put((1, i)).unwrap();
                    }
                }));
            }
        }
        assert_eq!(next, [n; 2]);
        assert!(matches!(q.try_get(), Err(Error::Empty)));
        if let Some(o) = other {
            o.join().unwrap();
        }
        assert_eq!(
            alone.join().unwrap(),
            ExitStatus::Code(0),
            "{:?}",
            alone.panic_message()
        );
    }
}

/// A value whose `Deserialize` panics on 13: a user's decoder failing
/// while its frame is still held in its slot.
#[derive(Debug, PartialEq, serde::Serialize)]
struct Touchy(u32);

impl<'de> serde::Deserialize<'de> for Touchy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        assert_ne!(v, 13, "unlucky number");
        Ok(Touchy(v))
    }
}

#[test]
fn panic_while_decoding_gives_the_slot_back() {
    // Items are decoded in place, in their slot: a panicking decoder must
    // still hand the slot back, or the queue would lose a slot for good.
    let q = Queue::<Touchy>::new(2).unwrap();
    q.put(Touchy(13)).unwrap();
    q.put(Touchy(1)).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.get()));
    assert!(r.is_err(), "the decoder's panic goes to the caller");
    assert_eq!(q.get().unwrap(), Touchy(1));
    // Both slots usable again, from this process and from another one.
    let child = {
        let q = q.clone();
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe {
            bingfa_process::fork(move || {
                q.try_put(Touchy(2)).unwrap();
                q.try_put(Touchy(3)).unwrap();
            })
        }
        .unwrap()
    };
    assert!(child.join().unwrap().success());
    assert!(q.is_full());
    assert_eq!(q.try_get().unwrap(), Touchy(2));
    assert_eq!(q.try_get().unwrap(), Touchy(3));
    assert!(matches!(q.try_get(), Err(Error::Empty)));
}

#[test]
fn largest_items_fill_their_slots_without_touching_the_neighbours() {
    // Each slot shares its cache lines with its frame: state word and
    // length first, the frame right after, the cell rounded up to whole
    // lines. Items of the largest size, at sizes whose frames end exactly
    // at a cell's end and one past it, go around the ring twice across
    // processes and come back intact (a frame that ran into the next cell
    // would damage that slot's state word and its item).
    for max in [1usize, 7, 8, 39, 40, 41, 47, 48, 103, 104, 105, 1016] {
        // (A limit that is a multiple of 8 fills its slot exactly: the
        // others round their slot up, and their largest frame ends short
        // of it.)
        let q = Queue::<Vec<u8>>::with_max_message(3, max).unwrap();
        let m = q.max_message_size();
        assert_eq!(m, max);
        // A Vec<u8> of n bytes encodes as its length (a varint) and the bytes.
        let biggest = if m < 128 { m - 1 } else { m - 2 };
        let item = |i: usize| -> Vec<u8> {
            (0..biggest)
                .map(|k| (k as u8).wrapping_mul(31) ^ (i as u8))
                .collect()
        };
        let child = {
            let q = q.clone();
            // SAFETY: the closure takes no lock the harness's other threads may hold
            // (see the note at the top of this file).
            unsafe {
                bingfa_process::fork(move || {
                    for i in 0..7 {
                        q.put_timeout(item(i), Duration::from_secs(10)).unwrap();
                    }
                })
            }
            .unwrap()
        };
        // Bounded: a damaged slot must fail the test, not hang it.
        let got: Vec<_> = (0..7)
            .map(|_| q.get_timeout(Duration::from_secs(10)))
            .collect();
        let status = child.join_timeout(Duration::from_secs(10)).unwrap();
        if status.is_none() {
            child.kill().unwrap();
        }
        for (i, got) in got.into_iter().enumerate() {
            assert_eq!(got.ok(), Some(item(i)), "max {max}, item {i}");
        }
        assert!(status.is_some_and(|s| s.success()), "max {max}: {status:?}");
        assert!(q.is_empty());
        let e = q.try_put(vec![0; biggest + 1]).unwrap_err();
        assert!(matches!(e.error, Error::TooLarge { .. }), "max {max}");
    }
}
