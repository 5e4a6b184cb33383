//! The bounded lock-free FIFO: Dmitry Vyukov's bounded MPMC queue, with
//! per-slot stamps, in the shape crossbeam-channel's array flavour gave it.
//!
//! `head` and `tail` are stamps `{ lap, mark, index }` packed in a `u64`:
//! the low bits index the buffer, the next bit (`mark_bit`, only ever set
//! in `tail`) means closed, and the high bits count laps. Each slot's stamp
//! says whose turn it is: `tail` when a producer may write it, `head + 1`
//! when a consumer may read it. A producer reserves a slot by a CAS on
//! `tail`, writes, then publishes by storing the next stamp (`Release`);
//! consumers mirror that on `head`. So producers contend only with
//! producers, consumers only with consumers, and a `put` or `get` that
//! does not wait is a load, a CAS and a store.
//!
//! Where a push or pop depends on another thread's operation in progress
//! (a consumer finds its slot reserved but not yet written, a producer
//! finds its slot claimed but not yet read out), it waits with a
//! [`Backoff`]: spins, then yields the thread until the other one finishes
//! (as crossbeam-channel does). It never parks there: the other thread is
//! between two of its own steps, and to wake a parked thread it would have
//! to look for one after its stamp store, which needs a store-load fence
//! on every put and get. The blocking layer parks only on "full" and
//! "empty", which `head` and `tail` decide: the CAS on them is `SeqCst`,
//! which is what the wake-up protocol (`waiters`) pairs with.
//!
//! Because laps are counted, `tail` also tells how many pushes ever
//! reserved a slot ([`Ring::pushed`]), which the task counter uses.

use core::mem::MaybeUninit;

use bingfa_sync::raw::atomic::{fence, AtomicU64, Ordering};
use bingfa_sync::raw::cell::UnsafeCell;

use super::{seq_cst_atomic_u64, Backoff, CachePadded, Flavor, PopFail, PushFail};

struct Slot<T> {
    stamp: AtomicU64,
    item: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded FIFO of fixed capacity (at least 1).
pub(crate) struct Ring<T> {
    head: CachePadded<AtomicU64>,
    tail: CachePadded<AtomicU64>,
    slots: Box<[Slot<T>]>,
    cap: usize,
    /// `{ lap: 1, mark: 0, index: 0 }`.
    one_lap: u64,
    /// The "closed" bit of `tail`; `mark_bit - 1` masks the index.
    mark_bit: u64,
    /// `log2(one_lap)`.
    lap_shift: u32,
}

// SAFETY: the ring moves `T`s between threads (so `T: Send` is needed) and
// never hands out references to them; every access to a slot's item is
// ordered by the slot's stamp (the writer owns the slot between its `tail`
// CAS and its stamp store, the reader between its `head` CAS and its store).
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; shared access only moves items in and out.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of `cap` slots.
    ///
    /// # Panics
    /// If `cap` is 0 or too large for the stamp encoding.
    pub(crate) fn new(cap: usize) -> Self {
        assert!(cap > 0, "a ring needs at least one slot");
        let mark_bit = (cap as u64)
            .checked_add(1)
            .and_then(u64::checked_next_power_of_two)
            .expect("queue capacity too large");
        let one_lap = mark_bit.checked_mul(2).expect("queue capacity too large");
        let slots = (0..cap)
            .map(|i| Slot {
                stamp: AtomicU64::new(i as u64),
                item: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: CachePadded(seq_cst_atomic_u64(0)),
            tail: CachePadded(seq_cst_atomic_u64(0)),
            slots,
            cap,
            one_lap,
            mark_bit,
            lap_shift: one_lap.trailing_zeros(),
        }
    }

    /// How many slots a stamp has passed since the start.
    #[inline]
    fn count(&self, stamp: u64) -> u64 {
        let stamp = stamp & !self.mark_bit;
        (stamp >> self.lap_shift) * self.cap as u64 + (stamp & (self.mark_bit - 1))
    }

    #[inline]
    fn next(&self, stamp: u64, index: usize) -> u64 {
        if index + 1 < self.cap {
            // Same lap, next index.
            stamp + 1
        } else {
            // Next lap, index 0.
            (stamp & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }
}

impl<T> Flavor<T> for Ring<T> {
    fn try_push(&self, item: T) -> Result<bool, PushFail<'_, T>> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & self.mark_bit != 0 {
                return Err(PushFail::Closed(item));
            }
            let index = (tail & (self.mark_bit - 1)) as usize;
            let slot = &self.slots[index];
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // Our turn on this slot: reserve it. `SeqCst`: the
                // consumers' "empty" wait pairs with it (`waiters`).
                match self.tail.compare_exchange_weak(
                    tail,
                    self.next(tail, index),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the CAS gave us this slot for this lap:
                        // no consumer reads it until we store the stamp
                        // below, no other producer writes it until a
                        // consumer has read it a lap later. The slot holds
                        // no live item (its last one was read out, or it is
                        // fresh), so overwriting leaks nothing.
                        slot.item
                            .with_mut(|p| unsafe { p.write(MaybeUninit::new(item)) });
                        slot.stamp.store(tail + 1, Ordering::Release);
                        return Ok(false);
                    }
                    Err(t) => {
                        tail = t;
                        backoff.spin();
                    }
                }
                continue;
            }
            // Not our turn. Full if the head is a whole lap behind us (the
            // slot holds last lap's item, or last lap's producer is still
            // writing it).
            fence(Ordering::SeqCst);
            let head = self.head.load(Ordering::Relaxed);
            if head.wrapping_add(self.one_lap) == tail {
                return Err(PushFail::Full(item));
            }
            // Not full: a consumer has claimed this slot and is reading
            // last lap's item out, or our `tail` is stale (other producers
            // moved on). Either way another thread is running: give it a
            // moment and look again.
            backoff.snooze();
            tail = self.tail.load(Ordering::Relaxed);
        }
    }

    fn try_pop(&self) -> Result<(T, bool), PopFail<'_>> {
        let mut backoff = Backoff::new();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let index = (head & (self.mark_bit - 1)) as usize;
            let slot = &self.slots[index];
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head + 1 {
                // An item is published here: claim it. `SeqCst`: the
                // producers' "full" wait pairs with it (`waiters`).
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head, index),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the stamp (acquired above) says a producer
                        // wrote this slot and published it, and the CAS made
                        // us its only reader; we move the item out and hand
                        // the slot back with the next lap's stamp, so it is
                        // never read twice.
                        let item = slot.item.with_mut(|p| unsafe { p.read().assume_init() });
                        slot.stamp
                            .store(head.wrapping_add(self.one_lap), Ordering::Release);
                        return Ok((item, false));
                    }
                    Err(h) => {
                        head = h;
                        backoff.spin();
                    }
                }
                continue;
            }
            // Nothing to take here. Empty if the tail is at our head (the
            // slot is unwritten, or last lap's item is still being read out
            // by the consumer that claimed it).
            fence(Ordering::SeqCst);
            let tail = self.tail.load(Ordering::Relaxed);
            if tail & !self.mark_bit == head {
                return Err(if tail & self.mark_bit != 0 {
                    PopFail::Closed
                } else {
                    PopFail::Empty
                });
            }
            // Not empty: a producer has reserved this slot and is writing
            // it, or our `head` is stale (other consumers moved on). Either
            // way another thread is running: give it a moment.
            backoff.snooze();
            head = self.head.load(Ordering::Relaxed);
        }
    }

    fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            // A consistent pair: `tail` did not move while we read `head`.
            if self.tail.load(Ordering::SeqCst) == tail {
                let n = self.count(tail).saturating_sub(self.count(head));
                return n as usize;
            }
        }
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.cap
    }

    #[inline]
    fn pushed(&self) -> u64 {
        self.count(self.tail.load(Ordering::SeqCst))
    }

    fn close(&self) -> bool {
        self.tail.fetch_or(self.mark_bit, Ordering::SeqCst) & self.mark_bit == 0
    }

    #[inline]
    fn is_closed(&self) -> bool {
        self.tail.load(Ordering::SeqCst) & self.mark_bit != 0
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed) & !self.mark_bit;
        let n = self.count(tail) - self.count(head);
        let first = (head & (self.mark_bit - 1)) as usize;
        for i in 0..n as usize {
            let index = (first + i) % self.cap;
            // SAFETY: `&mut self`: no other thread is left, so every push
            // finished writing and every pop finished reading; the slots
            // from `head` to `tail` hold live items, each dropped once.
            self.slots[index]
                .item
                .with_mut(|p| unsafe { (*p).assume_init_drop() });
        }
    }
}
