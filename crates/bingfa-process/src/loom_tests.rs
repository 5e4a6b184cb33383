//! Loom models of the ring's protocol: threads stand in for processes (each
//! with its own fake pid), on the same `Ring` code the shared-memory queue
//! runs; the futex is bingfa-sync's parking lot on the word's address.

use loom::sync::atomic::AtomicBool;
use loom::sync::Arc;
use loom::thread;

use bingfa_sync::raw::atomic::Ordering;

use crate::ring::{Header, PopError, PushError, Ring, Slot};

/// A ring in heap memory, with a "process is dead" flag per fake pid.
struct Mem {
    hdr: Header,
    slots: Vec<Slot>,
    data: Box<[u8]>,
    dead: [AtomicBool; 4],
}

// SAFETY: `data` is only accessed through the ring protocol, which hands
// each slot to one thread at a time.
unsafe impl Sync for Mem {}
// SAFETY: as above.
unsafe impl Send for Mem {}

const SLOT: usize = 16;

impl Mem {
    fn new(cap: u64) -> Arc<Mem> {
        Arc::new(Mem {
            hdr: Header::new(cap, SLOT as u64, (SLOT - crate::codec::HEADER) as u64),
            slots: (0..cap).map(Slot::new).collect(),
            data: vec![0u8; cap as usize * SLOT.next_multiple_of(64)].into_boxed_slice(),
            dead: [(); 4].map(|_| AtomicBool::new(false)),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&Ring<'_>) -> R) -> R {
        let alive = |pid: u32| !self.dead[pid as usize].load(Ordering::SeqCst);
        // SAFETY: slots.len() == cap; data is cap * stride bytes, alive as
        // long as self. The pointer is only written through the protocol.
        let ring = unsafe {
            Ring::new(
                &self.hdr,
                &self.slots,
                self.data.as_ptr() as *mut u8,
                &alive,
            )
        };
        f(&ring)
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

#[test]
fn loom_spsc_in_order_with_wraparound() {
    model(|| {
        let m = Mem::new(1);
        let p = {
            let m = m.clone();
            thread::spawn(move || {
                for i in 0..2u8 {
                    m.with(|r| r.push(&[i, i, i], 1, None)).unwrap();
                }
            })
        };
        let mut out = Vec::new();
        for i in 0..2u8 {
            m.with(|r| r.pop(&mut out, 2, None)).unwrap();
            assert_eq!(out, [i, i, i]);
        }
        p.join().unwrap();
    });
}

#[test]
fn loom_mpmc_each_message_once() {
    // Two producers (main and one thread) and two consumers (main and one
    // thread) on a ring of one slot.
    model(|| {
        let m = Mem::new(1);
        let producer = {
            let m = m.clone();
            thread::spawn(move || m.with(|r| r.push(&[1], 1, None)).unwrap())
        };
        let consumer = {
            let m = m.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                m.with(|r| r.pop(&mut out, 2, None)).unwrap();
                out[0]
            })
        };
        m.with(|r| r.push(&[0], 3, None)).unwrap();
        let mut out = Vec::new();
        m.with(|r| r.pop(&mut out, 3, None)).unwrap();
        let a = out[0];
        let b = consumer.join().unwrap();
        producer.join().unwrap();
        let mut got = [a, b];
        got.sort();
        assert_eq!(got, [0, 1]);
    });
}

#[test]
fn loom_lease_holder_and_revoker_each_message_once() {
    // Pid 1 takes the producer lease with its first put; its second put,
    // a plain-store claim, races with pid 2's, which revokes the lease.
    // No slot may be claimed twice: each message comes out once, and pid
    // 1's in order.
    model(|| {
        let m = Mem::new(2);
        m.with(|r| r.push(&[1], 1, None)).unwrap();
        let holder = {
            let m = m.clone();
            thread::spawn(move || m.with(|r| r.push(&[2], 1, None)).unwrap())
        };
        let revoker = {
            let m = m.clone();
            thread::spawn(move || m.with(|r| r.push(&[9], 2, None)).unwrap())
        };
        let mut got = Vec::new();
        let mut out = Vec::new();
        for _ in 0..3 {
            m.with(|r| r.pop(&mut out, 3, None)).unwrap();
            got.push(out[0]);
        }
        holder.join().unwrap();
        revoker.join().unwrap();
        let ones: Vec<u8> = got.iter().copied().filter(|&x| x != 9).collect();
        assert_eq!(ones, [1, 2]);
        assert_eq!(got.iter().filter(|&&x| x == 9).count(), 1);
        assert_eq!(m.with(|r| r.try_pop(&mut out, 3)), Err(PopError::Empty));
    });
}

#[test]
fn loom_lease_holder_dead_mid_claim_is_revoked() {
    // Pid 1 holds the lease and dies inside a claim, its mark left on.
    // Pid 2's put waits for it, sees it dead, and goes on.
    model(|| {
        let m = Mem::new(2);
        m.with(|r| r.push(&[1], 1, None)).unwrap();
        let dying = {
            let m = m.clone();
            thread::spawn(move || {
                // (Pid 2 may have revoked the lease already: then this
                // stops nothing, and pid 1 simply dies.)
                m.with(|r| r.stop_mid_claim(1));
                m.dead[1].store(true, Ordering::SeqCst);
            })
        };
        let live = {
            let m = m.clone();
            thread::spawn(move || m.with(|r| r.push(&[2], 2, None)).unwrap())
        };
        let mut out = Vec::new();
        m.with(|r| r.pop(&mut out, 3, None)).unwrap();
        assert_eq!(out, [1]);
        m.with(|r| r.pop(&mut out, 3, None)).unwrap();
        assert_eq!(out, [2]);
        dying.join().unwrap();
        live.join().unwrap();
    });
}

#[test]
fn loom_dead_producer_is_skipped() {
    model(|| {
        let m = Mem::new(2);
        // Pid 1 claims a slot, writes half a frame and "dies".
        let dying = {
            let m = m.clone();
            thread::spawn(move || {
                let claimed = m.with(|r| r.claim_and_stop(&[9, 9, 9, 9], 1, 2));
                m.dead[1].store(true, Ordering::SeqCst);
                claimed
            })
        };
        // Pid 2 puts a whole frame.
        let live = {
            let m = m.clone();
            thread::spawn(move || m.with(|r| r.push(&[7, 7], 2, None)).unwrap())
        };
        assert!(dying.join().unwrap());
        // Pid 3 consumes while pid 2 may still be putting: it must get
        // [7, 7] and never the partial frame.
        let mut out = Vec::new();
        m.with(|r| r.pop(&mut out, 3, None)).unwrap();
        assert_eq!(out, [7, 7]);
        live.join().unwrap();
        let mut out = Vec::new();
        assert_eq!(m.with(|r| r.try_pop(&mut out, 3)), Err(PopError::Empty));
    });
}

#[test]
fn loom_unwritten_slot_is_a_hole_the_consumer_skips() {
    // Pid 1's put claims a slot and its writer gives up (an item whose
    // encoding failed in the slot); pid 2 puts a whole frame meanwhile.
    // The consumer gets pid 2's frame, waits for nothing else, and the
    // hole's slot is free again.
    model(|| {
        let m = Mem::new(2);
        let failing = {
            let m = m.clone();
            thread::spawn(move || m.with(|r| r.try_push_with(1, |_dst: &mut [u8]| None)))
        };
        let live = {
            let m = m.clone();
            thread::spawn(move || m.with(|r| r.push(&[7, 7], 2, None)).unwrap())
        };
        let mut out = Vec::new();
        m.with(|r| r.pop(&mut out, 3, None)).unwrap();
        assert_eq!(out, [7, 7]);
        live.join().unwrap();
        assert_eq!(failing.join().unwrap(), Err(PushError::Unwritten));
        assert_eq!(m.with(|r| r.try_pop(&mut out, 3)), Err(PopError::Empty));
        // Both slots take a message again.
        for x in [1u8, 2] {
            m.with(|r| r.try_push(&[x], 2)).unwrap();
        }
    });
}

#[test]
fn loom_close_wakes_blocked_consumer() {
    model(|| {
        let m = Mem::new(1);
        let c = {
            let m = m.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                m.with(|r| r.pop(&mut out, 2, None))
            })
        };
        m.with(|r| r.push(&[1], 1, None)).unwrap();
        m.with(|r| r.close());
        // Either it got the message before the close, or it drained it
        // after; never a hang, never a loss.
        assert_eq!(c.join().unwrap(), Ok(()));
        let mut out = Vec::new();
        assert_eq!(m.with(|r| r.try_pop(&mut out, 3)), Err(PopError::Closed));
    });
}

#[test]
fn loom_dead_consumer_slot_is_reclaimed() {
    model(|| {
        let m = Mem::new(1);
        m.with(|r| r.push(&[1], 3, None)).unwrap();
        // Pid 1 claims the message for reading and "dies" there.
        let dying = {
            let m = m.clone();
            thread::spawn(move || {
                let claimed = m.with(|r| r.claim_read_and_stop(1));
                m.dead[1].store(true, Ordering::SeqCst);
                claimed
            })
        };
        // Pid 2 puts into the (full) ring: it must get the dead reader's
        // slot back.
        let producer = {
            let m = m.clone();
            thread::spawn(move || {
                m.with(|r| r.push(&[2], 2, None)).unwrap();
                m.dead[2].store(true, Ordering::SeqCst);
            })
        };
        assert!(dying.join().unwrap());
        // The producer may sleep on the slot in progress: its liveness
        // timer fires until it is done.
        while !m.dead[2].load(Ordering::SeqCst) {
            bingfa_sync::raw::clock::advance();
            thread::yield_now();
        }
        producer.join().unwrap();
        let mut out = Vec::new();
        m.with(|r| r.try_pop(&mut out, 3)).unwrap();
        assert_eq!(out, [2]);
    });
}

#[test]
fn loom_tail_hint_behind_after_racing_producers() {
    // The tail is a hint that the claimer moves with a plain store, so it
    // may go back when two producers race (one helps the other past its
    // slot, claims the next, and the slower one's store lands last). A
    // later put must still find the right slot, in order, and nothing may
    // be delivered twice or lost.
    model(|| {
        let m = Mem::new(2);
        let a = {
            let m = m.clone();
            thread::spawn(move || m.with(|r| r.push(&[1], 1, None)).unwrap())
        };
        let b = {
            let m = m.clone();
            thread::spawn(move || m.with(|r| r.push(&[2], 2, None)).unwrap())
        };
        a.join().unwrap();
        b.join().unwrap();
        // `len` walks a hint left behind forward.
        assert_eq!(m.with(|r| r.len()), 2, "a full ring reports fewer items");
        let mut out = Vec::new();
        let mut got = Vec::new();
        m.with(|r| r.try_pop(&mut out, 3)).unwrap();
        got.push(out[0]);
        m.with(|r| r.try_push(&[3], 3)).unwrap();
        m.with(|r| r.try_pop(&mut out, 3)).unwrap();
        got.push(out[0]);
        m.with(|r| r.try_pop(&mut out, 3)).unwrap();
        assert_eq!(out, [3], "the last put comes out last");
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_eq!(m.with(|r| r.try_pop(&mut out, 3)), Err(PopError::Empty));
    });
}

#[test]
fn loom_head_hint_behind_after_racing_consumers() {
    // The same for the head: two consumers race for two messages, then the
    // ring must still hand out the next put exactly once, at the right
    // slot.
    model(|| {
        let m = Mem::new(2);
        m.with(|r| r.try_push(&[1], 3)).unwrap();
        m.with(|r| r.try_push(&[2], 3)).unwrap();
        let consumer = |pid: u32| {
            let m = m.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                m.with(|r| r.pop(&mut out, pid, None)).unwrap();
                out[0]
            })
        };
        let (a, b) = (consumer(1), consumer(2));
        let mut got = [a.join().unwrap(), b.join().unwrap()];
        // `len` walks a hint left behind forward.
        assert_eq!(m.with(|r| r.len()), 0, "an empty ring reports items");
        got.sort();
        assert_eq!(got, [1, 2]);
        m.with(|r| r.try_push(&[3], 3)).unwrap();
        let mut out = Vec::new();
        m.with(|r| r.try_pop(&mut out, 3)).unwrap();
        assert_eq!(out, [3]);
        assert_eq!(m.with(|r| r.try_pop(&mut out, 3)), Err(PopError::Empty));
    });
}

/// The unfinished-task count of `JoinableQueue`: a joiner never sleeps
/// through the last `task_done`, nor through a failed put taking its task
/// back (the Dekker pair between the count and the joiner registration).
mod tasks {
    use super::*;
    use crate::joinable::Tasks;

    #[test]
    fn loom_join_wakes_for_the_last_task_done() {
        model(|| {
            let t = Arc::new(Tasks::new());
            assert!(t.add());
            assert!(t.add());
            let a = {
                let t = t.clone();
                thread::spawn(move || assert!(t.done()))
            };
            let b = {
                let t = t.clone();
                thread::spawn(move || assert!(t.done()))
            };
            assert!(t.wait(None));
            assert_eq!(t.unfinished(), 0);
            a.join().unwrap();
            b.join().unwrap();
            // One done too many: refused, nothing changes.
            assert!(!t.done());
            assert_eq!(t.unfinished(), 0);
        });
    }

    #[test]
    fn loom_join_wakes_when_a_failed_put_takes_its_task_back() {
        model(|| {
            let t = Arc::new(Tasks::new());
            assert!(t.add());
            let putter = {
                let t = t.clone();
                // Added, then its put failed.
                thread::spawn(move || t.take_back(1))
            };
            let worker = {
                let t = t.clone();
                thread::spawn(move || {
                    // A put and its task_done, racing the failed one.
                    assert!(t.add());
                    assert!(t.done());
                })
            };
            assert!(t.wait(None));
            putter.join().unwrap();
            worker.join().unwrap();
            assert_eq!(t.unfinished(), 0);
        });
    }
}
