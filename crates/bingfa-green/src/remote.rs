//! The cross-thread wake-up queue of a hub.
//!
//! Any OS thread may [`push`](Remote::push) a message (wake green thread
//! `key`); the hub's thread [`drain`](Remote::drain)s them in its loop.
//! It is a Treiber stack of boxed nodes (producers CAS the head; the
//! consumer swaps the whole list out and reverses it) plus a `notified`
//! flag, so that a burst of pushes costs one `mio::Waker::wake` system call
//! (an `eventfd` write), not one each.
//!
//! No lost wake-up: the consumer clears `notified` before it swaps the list
//! out, and a producer sets it after its push lands, all `SeqCst`; so a
//! message pushed after the swap always finds `notified` clear and wakes
//! the poll. Between blocking polls the hub's busy loop drains only when
//! [`has_pending`](Remote::has_pending) sees a message, leaving `notified`
//! set (producers then skip the system call); the full drain before every
//! blocking poll clears it first. The loom models below check this on the
//! real code.

use bingfa_sync::raw::atomic::{AtomicBool, AtomicPtr, Ordering};

/// A wake-up for the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Msg {
    /// Wake green thread `key` if it still waits with `seq`.
    Wake { key: u64, seq: u64 },
    /// Unpark green thread `key` (`block_on`'s waker; sticky if it is not
    /// parked).
    Unpark { key: u64 },
}

struct Node {
    msg: Msg,
    next: *mut Node,
}

/// Wakes the hub's poll; `None` in loom models.
pub(crate) type PollWaker = Option<mio::Waker>;

/// The queue; shared as `Arc<Remote>` by the hub and by everything that
/// may wake its green threads from elsewhere.
pub(crate) struct Remote {
    head: AtomicPtr<Node>,
    notified: AtomicBool,
    waker: PollWaker,
}

// SAFETY: the raw node pointers are owned by the queue: a node is written
// only by its producer before the CAS that publishes it, and read and freed
// only by the single consumer after the swap that takes it out.
unsafe impl Send for Remote {}
// SAFETY: as above; every shared access goes through the atomics.
unsafe impl Sync for Remote {}

impl Remote {
    pub(crate) fn new(waker: PollWaker) -> Remote {
        Remote {
            head: AtomicPtr::new(std::ptr::null_mut()),
            notified: AtomicBool::new(false),
            waker,
        }
    }

    /// Queues `msg` and wakes the hub's poll unless a wake-up is pending.
    /// Returns whether this call issued the wake-up.
    pub(crate) fn push(&self, msg: Msg) -> bool {
        let node = Box::into_raw(Box::new(Node {
            msg,
            next: std::ptr::null_mut(),
        }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is ours alone until the CAS below succeeds.
            unsafe { (*node).next = head };
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        if !self.notified.swap(true, Ordering::SeqCst) {
            if let Some(w) = &self.waker {
                // A closed poll (hub gone) cannot be woken; nothing waits.
                let _ = w.wake();
            }
            true
        } else {
            false
        }
    }

    /// Whether a message may be queued: one load, for the hub's busy loop
    /// (a full [`drain`](Self::drain) before each blocking poll keeps
    /// wake-ups from being lost).
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        !self.head.load(Ordering::Acquire).is_null()
    }

    /// Takes every queued message, oldest first. Only the hub's thread
    /// calls it.
    pub(crate) fn drain(&self, mut f: impl FnMut(Msg)) {
        self.notified.store(false, Ordering::SeqCst);
        let mut p = self.head.swap(std::ptr::null_mut(), Ordering::SeqCst);
        // Reverse into push order.
        let mut rev: *mut Node = std::ptr::null_mut();
        while !p.is_null() {
            // SAFETY: the swap made this list ours; each node was fully
            // written before the CAS that published it (SeqCst pairs).
            let next = unsafe { (*p).next };
            // SAFETY: as above.
            unsafe { (*p).next = rev };
            rev = p;
            p = next;
        }
        while !rev.is_null() {
            // SAFETY: nodes came from `Box::into_raw` in `push` and are
            // freed exactly once, here.
            let node = unsafe { Box::from_raw(rev) };
            rev = node.next;
            f(node.msg);
        }
    }

    /// Whether a wake-up is pending (models check no-lost-wake-up with it).
    #[cfg(all(test, bingfa_loom))]
    fn notified(&self) -> bool {
        self.notified.load(Ordering::SeqCst)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.drain(|_| {});
    }
}

#[cfg(all(test, bingfa_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Two producers and the consumer race: every message is drained
    /// exactly once, and whatever the consumer missed is announced by a
    /// pending `notified` (the poll will wake and drain again).
    #[test]
    fn loom_remote_no_lost_wakeup() {
        loom::model(|| {
            let r = Arc::new(Remote::new(None));
            let hs: Vec<_> = (0..2u64)
                .map(|i| {
                    let r = r.clone();
                    loom::thread::spawn(move || {
                        r.push(Msg::Wake { key: i, seq: 0 });
                    })
                })
                .collect();
            let mut got = Vec::new();
            r.drain(|m| got.push(m));
            for h in hs {
                h.join().unwrap();
            }
            if got.len() < 2 {
                assert!(
                    r.notified(),
                    "a message is queued but no wake-up is pending"
                );
            }
            r.drain(|m| got.push(m));
            got.sort_by_key(|m| match m {
                Msg::Wake { key, .. } | Msg::Unpark { key } => *key,
            });
            assert_eq!(
                got,
                [Msg::Wake { key: 0, seq: 0 }, Msg::Wake { key: 1, seq: 0 }]
            );
        });
    }

    /// The hub's busy loop only drains when `has_pending` sees a message
    /// (leaving `notified` set, so producers skip the poll's wake-up), and
    /// does the full drain before a blocking poll: whatever that drain
    /// misses is still announced by `notified`, and nothing is lost or
    /// taken twice.
    #[test]
    fn loom_remote_busy_look_then_blocking_drain() {
        loom::model(|| {
            let r = Arc::new(Remote::new(None));
            let hs: Vec<_> = (0..2u64)
                .map(|i| {
                    let r = r.clone();
                    loom::thread::spawn(move || {
                        r.push(Msg::Wake { key: i, seq: 0 });
                    })
                })
                .collect();
            let mut got = Vec::new();
            // The busy loop's look, between two resumes.
            if r.has_pending() {
                r.drain(|m| got.push(m));
            }
            // Before the blocking poll.
            r.drain(|m| got.push(m));
            for h in hs {
                h.join().unwrap();
            }
            if got.len() < 2 {
                assert!(
                    r.notified(),
                    "a message is queued but the blocking poll would not wake"
                );
            }
            r.drain(|m| got.push(m));
            got.sort_by_key(|m| match m {
                Msg::Wake { key, .. } | Msg::Unpark { key } => *key,
            });
            assert_eq!(
                got,
                [Msg::Wake { key: 0, seq: 0 }, Msg::Wake { key: 1, seq: 0 }]
            );
        });
    }

    /// The hub's LoopExit check looks at `has_pending` after it has seen
    /// that no other thread is left: a message pushed by a thread that
    /// has ended (here: joined) is always seen then, so a wake-up sent
    /// just before a thread ends never turns into a LoopExit.
    #[test]
    fn loom_remote_push_of_an_ended_thread_is_pending() {
        loom::model(|| {
            let r = Arc::new(Remote::new(None));
            let r2 = r.clone();
            let h = loom::thread::spawn(move || {
                r2.push(Msg::Wake { key: 7, seq: 1 });
            });
            h.join().unwrap();
            assert!(r.has_pending(), "the ended thread's message is seen");
            let mut got = Vec::new();
            r.drain(|m| got.push(m));
            assert_eq!(got, [Msg::Wake { key: 7, seq: 1 }]);
            assert!(!r.has_pending());
        });
    }

    /// Pushes from one producer arrive in order.
    #[test]
    fn loom_remote_fifo_per_producer() {
        loom::model(|| {
            let r = Arc::new(Remote::new(None));
            let r2 = r.clone();
            let h = loom::thread::spawn(move || {
                r2.push(Msg::Unpark { key: 1 });
                r2.push(Msg::Unpark { key: 2 });
            });
            let mut got = Vec::new();
            r.drain(|m| got.push(m));
            h.join().unwrap();
            r.drain(|m| got.push(m));
            assert_eq!(got, [Msg::Unpark { key: 1 }, Msg::Unpark { key: 2 }]);
        });
    }
}
