//! The `Raw` codec: plain-data items copied into the queue as their own
//! bytes. Across fork and spawn, many producers and consumers, crash and
//! damage, a payload of the wrong size, and a codec of one's own that
//! misbehaves.

// Forking from a test: the harness runs tests on threads, so every `fork`
// here happens in a process with other threads (see the Safety section of
// `bingfa_process::fork`). Each closure takes no lock those threads may
// hold: it uses its own data, this crate's shared-memory objects, the
// test's own output capture, and glibc's malloc, which glibc's `fork` keeps
// usable in the child.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bingfa_process::__test_hooks::QueueTestHooks;
use bingfa_process::bytemuck::{Pod, Zeroable};
use bingfa_process::{Codec, Error, ExitStatus, JoinableQueue, Queue, Raw};

use common::SharedCounts;

bingfa_process::enable_test_support!();

/// A reading as a sensor process might send it: 48 bytes, no padding.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Reading {
    producer: u32,
    seq: u32,
    at: u64,
    values: [f64; 4],
}

fn reading(producer: u32, seq: u32) -> Reading {
    let x = f64::from(producer) * 1e6 + f64::from(seq);
    Reading {
        producer,
        seq,
        at: u64::from(seq).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        values: [x, -x, x * 0.5, f64::from(seq).sqrt()],
    }
}

fn ok(status: ExitStatus) {
    assert_eq!(status, ExitStatus::Code(0));
}

#[test]
fn raw_items_cross_fork_in_order() {
    let q = Queue::<Reading, Raw>::raw(64).unwrap();
    assert_eq!(q.max_message_size(), std::mem::size_of::<Reading>());
    let n = 20_000;
    let child = {
        let q = q.clone();
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe {
            bingfa_process::fork(move || {
                for i in 0..n {
                    q.put(reading(7, i)).unwrap();
                }
            })
        }
        .unwrap()
    };
    for i in 0..n {
        assert_eq!(
            q.get_timeout(Duration::from_secs(20)).unwrap(),
            reading(7, i)
        );
    }
    ok(child.join().unwrap());
    assert!(matches!(q.try_get(), Err(Error::Empty)));
}

fn spawned_doubler(args: (Queue<[u64; 3], Raw>, Queue<[u64; 3], Raw>)) {
    let (inbox, outbox) = args;
    while let Ok(v) = inbox.get() {
        outbox.put(v.map(|x| x * 2)).unwrap();
    }
}

#[test]
fn raw_queues_pass_to_spawned_children() {
    let inbox = Queue::<[u64; 3], Raw>::raw(4).unwrap();
    let outbox = Queue::<[u64; 3], Raw>::raw(4).unwrap();
    let child = bingfa_process::spawn(spawned_doubler, (inbox.clone(), outbox.clone())).unwrap();
    for k in 1..=3u64 {
        inbox.put([k, k + 1, u64::MAX / 4]).unwrap();
        assert_eq!(
            outbox.get_timeout(Duration::from_secs(20)).unwrap(),
            [2 * k, 2 * k + 2, u64::MAX / 2 - 1]
        );
    }
    inbox.close();
    ok(child.join().unwrap());
}

#[test]
fn four_producers_four_consumers_every_raw_item_once() {
    const P: u32 = 4;
    const C: u32 = 4;
    let n: u32 = if cfg!(debug_assertions) {
        10_000
    } else {
        50_000
    };
    let total = (P * n) as usize;
    // One delivery counter per item, in memory shared by every process.
    let shared = SharedCounts::new(total);
    let counts = shared.counts();
    let q = Queue::<Reading, Raw>::raw(256).unwrap();
    let consumers: Vec<_> = (0..C)
        .map(|_| {
            let q = q.clone();
            // SAFETY: as above (the note at the top of this file).
            unsafe {
                bingfa_process::fork(move || {
                    let mut last = [None::<u32>; P as usize];
                    while let Ok(r) = q.get() {
                        assert_eq!(r, reading(r.producer, r.seq), "item damaged");
                        // One producer's items reach one consumer in order.
                        let l = &mut last[r.producer as usize];
                        assert!(l.is_none_or(|l| l < r.seq), "{r:?} after {l:?}");
                        *l = Some(r.seq);
                        counts[(r.producer * n + r.seq) as usize].fetch_add(1, Ordering::Relaxed);
                    }
                })
            }
            .unwrap()
        })
        .collect();
    let producers: Vec<_> = (0..P)
        .map(|p| {
            let q = q.clone();
            // SAFETY: as above.
            unsafe {
                bingfa_process::fork(move || {
                    for i in 0..n {
                        q.put(reading(p, i)).unwrap();
                    }
                })
            }
            .unwrap()
        })
        .collect();
    for p in &producers {
        ok(p.join().unwrap());
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
    let bad: Vec<usize> = shared.not_exactly_once();
    assert!(bad.is_empty(), "items not delivered exactly once: {bad:?}");
}

#[test]
fn a_producer_killed_mid_raw_put_leaks_nothing() {
    let q = Queue::<Reading, Raw>::raw(4).unwrap();
    for upto in [0usize, 4, 8, 30, 55] {
        let dying = {
            let q = q.clone();
            // SAFETY: as above.
            unsafe {
                bingfa_process::fork(move || {
                    q.__crash_test_partial_put(&reading(99, upto as u32), upto);
                    std::process::exit(3); // not claimed: the test fails below
                })
            }
            .unwrap()
        };
        let t = Instant::now();
        while q.is_empty() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "partial put never claimed"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        dying.kill().unwrap();
        assert_eq!(dying.join().unwrap(), ExitStatus::Signal(libc::SIGKILL));
        q.put(reading(1, upto as u32)).unwrap();
        assert_eq!(
            q.get_timeout(Duration::from_secs(20)).unwrap(),
            reading(1, upto as u32)
        );
        assert!(matches!(q.try_get(), Err(Error::Empty)));
    }
}

#[test]
fn damaged_raw_bytes_are_corrupt_and_the_queue_goes_on() {
    let q = Queue::<Reading, Raw>::raw(4).unwrap();
    // The length, the checksum, and bytes of the item itself.
    for at in [0usize, 5, 8, 20, 55] {
        q.put(reading(3, at as u32)).unwrap();
        q.put(reading(4, at as u32)).unwrap();
        assert!(q.__fault_test_damage_oldest(at));
        assert!(matches!(q.get(), Err(Error::Corrupt(_))), "byte {at}");
        assert_eq!(q.get().unwrap(), reading(4, at as u32));
    }
}

#[test]
fn zero_sized_raw_items_are_counted() {
    let q = Queue::<(), Raw>::raw(2).unwrap();
    q.put(()).unwrap();
    q.put(()).unwrap();
    assert!(q.try_put(()).unwrap_err().is_full());
    assert_eq!(q.len(), 2);
    q.get().unwrap();
    q.get().unwrap();
    assert!(matches!(q.try_get(), Err(Error::Empty)));
}

#[test]
fn a_raw_item_larger_than_the_slot_is_handed_back() {
    // A queue made for 4-byte payloads, given 8-byte items.
    let q = Queue::<u64, Raw>::with_codec(2, 4).unwrap();
    let e = q.put(42).unwrap_err();
    assert!(
        matches!(e.error, Error::TooLarge { size: 8, max: 4 }),
        "{:?}",
        e.error
    );
    assert_eq!(e.item, 42);
    assert!(q.is_empty());
}

#[test]
fn a_payload_of_another_size_is_corrupt() {
    // What a process that names the wrong item type would read: 8 bytes
    // for a 4-byte item, or 3.
    for payload in [&[1u8, 2, 3, 4, 5, 6, 7, 8][..], &[1, 2, 3]] {
        let r = <Raw as Codec<u32>>::decode(payload);
        assert!(matches!(r, Err(Error::Corrupt(_))), "{r:?}");
    }
    assert_eq!(<Raw as Codec<u32>>::decode(&7u32.to_ne_bytes()).unwrap(), 7);
    // Any alignment: the payload follows an 8-byte header in its slot.
    let bytes = [0u8, 1, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        <Raw as Codec<u64>>::decode(&bytes[1..]).unwrap(),
        u64::from_ne_bytes([1, 0, 0, 0, 0, 0, 0, 0])
    );
}

/// A codec of one's own that says it wrote more than the room it was
/// given: the put fails with `Error::Encode`, its slot becomes a hole
/// gets skip, and the queue goes on.
struct Liar;

impl Codec<u32> for Liar {
    fn size(_: &u32) -> Result<usize, Error> {
        Ok(4)
    }
    fn encode(item: &u32, out: &mut [u8]) -> Result<usize, Error> {
        out[..4].copy_from_slice(&item.to_le_bytes());
        Ok(if *item == 13 { out.len() + 1 } else { 4 })
    }
    fn decode(payload: &[u8]) -> Result<u32, Error> {
        let b: [u8; 4] = payload
            .try_into()
            .map_err(|_| Error::Corrupt("not 4 bytes".into()))?;
        Ok(u32::from_le_bytes(b))
    }
}

#[test]
fn a_codec_that_lies_about_its_length_leaves_a_hole_gets_skip() {
    let q = Queue::<u32, Liar>::with_codec(4, 8).unwrap();
    q.put(12).unwrap();
    let e = q.put(13).unwrap_err();
    assert!(matches!(e.error, Error::Encode(_)), "{:?}", e.error);
    assert_eq!(e.item, 13);
    q.put(14).unwrap();
    assert_eq!(q.get().unwrap(), 12);
    assert_eq!(q.get().unwrap(), 14);
    assert!(matches!(q.try_get(), Err(Error::Empty)));
}

#[test]
fn a_raw_joinable_queue_joins_on_a_forked_worker() {
    let q = JoinableQueue::<Reading, Raw>::raw(8).unwrap();
    let worker = {
        let q = q.clone();
        // SAFETY: as above.
        unsafe {
            bingfa_process::fork(move || {
                while let Ok(r) = q.get() {
                    assert_eq!(r, reading(r.producer, r.seq));
                    q.task_done().unwrap();
                }
            })
        }
        .unwrap()
    };
    for i in 0..100 {
        q.put(reading(5, i)).unwrap();
    }
    q.join_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(q.unfinished_tasks(), 0);
    q.close();
    ok(worker.join().unwrap());
}
