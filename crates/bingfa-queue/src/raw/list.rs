//! The unbounded lock-free FIFO: a linked list of blocks of slots, in the
//! shape of crossbeam-channel's list flavour.
//!
//! `head` and `tail` are positions: an index and the block it falls in.
//! Indices count in steps of `1 << SHIFT`; the low bit is a flag (in
//! `tail`: closed; in `head`: "this is not the last block", so a consumer
//! need not read `tail` to know an item is there). Each block covers one
//! lap of `LAP` indices but holds `BLOCK_CAP = LAP - 1` slots: offset
//! `BLOCK_CAP` is a gate, where an index rests while the thread that moved
//! it there links the next block.
//!
//! A producer reserves an index by a CAS on `tail`, writes the item, then
//! sets the slot's `WRITE` bit. The producer that reserves a block's last
//! slot allocates the next block, moves `tail` past the gate and links the
//! block before it writes. A consumer first checks that the queue is not
//! empty (`head` behind `tail`), claims an index by a CAS on `head`, then
//! reads the slot once its `WRITE` bit is set, waiting for the producer
//! that reserved it if need be. The consumer that claims a block's last
//! slot moves `head` to the next block.
//!
//! Memory: a block is freed by the last consumer to leave it. The consumer
//! of the last slot starts the destruction, walking the other slots; a
//! slot whose consumer is still reading (no `READ` bit) gets `DESTROY`,
//! and that consumer, when it sets `READ` and sees `DESTROY`, continues
//! from the next slot. Nothing else holds a block pointer past its claim:
//! producers only touch the block of the index they reserved, which no
//! consumer can finish before that producer writes.
//!
//! Waits, none of them a spin that loom cannot end:
//! - a consumer whose claimed slot is not written yet sets the slot's
//!   `WAITING` bit and parks on the slot's address; the producer's
//!   `fetch_or(WRITE)` returns that bit and it unparks (one read-modify-
//!   write on the same word on both sides, so no wake-up is lost);
//! - a thread that finds `tail` or `head` resting at a gate hands a
//!   [`Pending`] on that index to the blocking layer, and the thread that
//!   moves the index on (with a `SeqCst` write, which the wake-up pairs
//!   with) reports it (`wake_peers`) so that its side is notified.
//!
//! The CAS on `tail` and on `head` is `SeqCst`: the blocking layer's
//! "empty" wait pairs with the one on `tail` (see `waiters`).

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr;

use bingfa_sync::raw::atomic::{fence, AtomicPtr, AtomicU64, Ordering};
use bingfa_sync::raw::cell::UnsafeCell;
use bingfa_sync::raw::park;

use super::{seq_cst_atomic_u64, Backoff, CachePadded, Flavor, Pending, PopFail, PushFail};

/// The item is written.
const WRITE: u64 = 1;
/// The item is read out.
const READ: u64 = 2;
/// The block is being destroyed: the slot's reader continues it.
const DESTROY: u64 = 4;
/// The slot's consumer sleeps until `WRITE`, parked on the slot's address.
const WAITING: u64 = 8;

/// Indices per block. Tiny under loom, so that two or three items cross a
/// block boundary (and the models check linking and freeing blocks).
#[cfg(not(bingfa_loom))]
const LAP: u64 = 32;
#[cfg(bingfa_loom)]
const LAP: u64 = 3;
/// Slots per block: the last index of a lap is the gate.
const BLOCK_CAP: usize = LAP as usize - 1;
/// Low bits of an index that are flags.
const SHIFT: u32 = 1;
/// In `tail`: closed. In `head`: the head block is not the last one.
const MARK_BIT: u64 = 1;

struct Slot<T> {
    item: UnsafeCell<MaybeUninit<T>>,
    state: AtomicU64,
}

struct Block<T> {
    next: AtomicPtr<Block<T>>,
    slots: [Slot<T>; BLOCK_CAP],
    /// Under loom: every user of the block reads this cell last thing
    /// before letting go of the block, and freeing writes it, so loom
    /// reports a block freed while some thread may still use it.
    #[cfg(bingfa_loom)]
    alive: UnsafeCell<()>,
}

impl<T> Block<T> {
    /// Marks the end of this thread's use of the block (loom checks that
    /// it happens before the block is freed); nothing outside loom.
    #[inline(always)]
    fn release(&self) {
        #[cfg(bingfa_loom)]
        self.alive.with(|_| ());
    }

    /// A fresh block, all slots empty.
    #[cfg(not(bingfa_loom))]
    fn new() -> *mut Self {
        use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};
        let layout = Layout::new::<Self>();
        // SAFETY: the layout is not zero-sized (a block holds a pointer).
        // All zeroes is a valid block: a null `next`, every state 0, and
        // `MaybeUninit` items, which may hold anything. (`raw::atomic` and
        // `raw::cell` are std's types outside loom.)
        let p = unsafe { alloc_zeroed(layout) }.cast::<Self>();
        if p.is_null() {
            handle_alloc_error(layout);
        }
        p
    }

    /// A fresh block, all slots empty (loom's atomics cannot be zeroed).
    #[cfg(bingfa_loom)]
    fn new() -> *mut Self {
        Box::into_raw(Box::new(Block {
            next: AtomicPtr::new(ptr::null_mut()),
            slots: core::array::from_fn(|_| Slot {
                item: UnsafeCell::new(MaybeUninit::uninit()),
                state: AtomicU64::new(0),
            }),
            alive: UnsafeCell::new(()),
        }))
    }

    /// Frees a block made by [`Block::new`].
    ///
    /// # Safety
    /// `this` came from `Block::new`, is freed once, and no thread uses it
    /// afterwards. Its items are already read out or dropped.
    unsafe fn free(this: *mut Self) {
        // SAFETY: both constructors produce what `Box<Self>` allocates
        // (the global allocator, `Layout::new::<Self>()`); the caller
        // promises it is the last use.
        let block = unsafe { Box::from_raw(this) };
        #[cfg(bingfa_loom)]
        block.alive.with_mut(|_| ());
        drop(block);
    }

    /// Frees the block once every slot from `start` on has been read,
    /// handing the job to a slot's reader that has not finished yet.
    ///
    /// # Safety
    /// The caller is the reader of slot `start - 1` (or of the last slot,
    /// `start == 0`) and is done with the block; the last slot's reader
    /// has finished with it (it is the caller, or it started the
    /// destruction that reached us).
    unsafe fn destroy(this: *mut Self, start: usize) {
        // The last slot is not looked at: its reader is the one that
        // starts the destruction.
        for i in start..BLOCK_CAP - 1 {
            // SAFETY: the block is alive until this loop decides otherwise:
            // slot `i`'s reader has not finished (no READ seen), or we see
            // READ and the reader is done.
            let slot = unsafe { &(*this).slots[i] };
            if slot.state.load(Ordering::Acquire) & READ == 0
                && slot.state.fetch_or(DESTROY, Ordering::AcqRel) & READ == 0
            {
                // That slot's reader will see DESTROY and continue.
                return;
            }
        }
        // SAFETY: every slot was read and no reader is left in the block;
        // producers are done with it (every slot was written before read).
        unsafe { Block::free(this) };
    }
}

struct Position<T> {
    index: AtomicU64,
    block: AtomicPtr<Block<T>>,
}

/// An unbounded FIFO.
pub(crate) struct List<T> {
    head: CachePadded<Position<T>>,
    tail: CachePadded<Position<T>>,
    _items: PhantomData<T>,
}

// SAFETY: the list moves `T`s between threads and never hands out
// references to them; every slot is written by the one producer that
// reserved its index and read by the one consumer that claimed it, ordered
// by the slot's `WRITE` bit (Release/Acquire). Blocks are freed once.
unsafe impl<T: Send> Send for List<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for List<T> {}

/// How many items the indices before `index` stand for (gates excluded).
#[inline]
fn count(index: u64) -> u64 {
    let i = index >> SHIFT;
    i - i / LAP
}

impl<T> List<T> {
    /// An empty list with its first block.
    pub(crate) fn new() -> Self {
        let block = Block::new();
        List {
            head: CachePadded(Position {
                index: seq_cst_atomic_u64(0),
                block: AtomicPtr::new(block),
            }),
            tail: CachePadded(Position {
                index: seq_cst_atomic_u64(0),
                block: AtomicPtr::new(block),
            }),
            _items: PhantomData,
        }
    }

    /// Waits until the producer of `slot` has written it (we claimed it).
    fn wait_write(slot: &Slot<T>) {
        let mut backoff = Backoff::new();
        while slot.state.load(Ordering::Acquire) & WRITE == 0 {
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            // Ask the producer to wake us. The RMW orders us against its
            // `fetch_or(WRITE)`: it either sees WAITING, or we see WRITE.
            if slot.state.fetch_or(WAITING, Ordering::AcqRel) & WRITE != 0 {
                return;
            }
            let key = slot as *const Slot<T> as usize;
            // SAFETY: the key is this slot's address, which no other
            // primitive parks on; the block outlives the wait (it is freed
            // only after we read this slot). `validate` only loads an
            // atomic; the other closures do nothing.
            unsafe {
                park::park(
                    key,
                    || slot.state.load(Ordering::Acquire) & WRITE == 0,
                    || {},
                    |_, _| {},
                    0,
                    None,
                );
            }
        }
    }
}

impl<T> Flavor<T> for List<T> {
    fn try_push(&self, item: T) -> Result<bool, PushFail<'_, T>> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.index.load(Ordering::Acquire);
        let mut block = self.tail.block.load(Ordering::Acquire);
        /// Frees an unused spare block on every way out.
        struct Spare<T>(*mut Block<T>);
        impl<T> Drop for Spare<T> {
            fn drop(&mut self) {
                if !self.0.is_null() {
                    // SAFETY: the block was never published: ours alone.
                    unsafe { Block::free(self.0) };
                }
            }
        }
        let mut spare = Spare(ptr::null_mut());
        loop {
            if tail & MARK_BIT != 0 {
                return Err(PushFail::Closed(item));
            }
            let offset = ((tail >> SHIFT) % LAP) as usize;
            if offset == BLOCK_CAP {
                // Another producer is linking the next block. It reports
                // `wake_peers` once `tail` moves on; the blocking layer
                // spins, then parks.
                return Err(PushFail::Pending(
                    item,
                    Pending::new(&self.tail.index, tail),
                ));
            }
            // We may have to link the next block: allocate it before the
            // CAS, so that the others wait at the gate as briefly as
            // possible.
            if offset + 1 == BLOCK_CAP && spare.0.is_null() {
                spare.0 = Block::new();
            }
            let new_tail = tail + (1 << SHIFT);
            match self.tail.index.compare_exchange_weak(
                tail,
                new_tail,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let linked = offset + 1 == BLOCK_CAP;
                    if linked {
                        // We took the block's last slot and put `tail` on
                        // the gate: move it to the next block.
                        let next_block = core::mem::replace(&mut spare.0, ptr::null_mut());
                        self.tail.block.store(next_block, Ordering::Release);
                        // `SeqCst`: producers parked on the gate pair with
                        // it (`Pending`).
                        self.tail.index.fetch_add(1 << SHIFT, Ordering::SeqCst);
                        // SAFETY: `block` is the block of the index we
                        // reserved (the CAS saw `tail` unchanged, and the
                        // block is stored before the index moves past the
                        // gate); no consumer frees it before our slot is
                        // read, which needs our write below.
                        unsafe { (*block).next.store(next_block, Ordering::Release) };
                    }
                    // SAFETY: as above, the block is alive and the slot is
                    // ours to write: no one else reserved this index, and
                    // its consumer waits for WRITE.
                    let slot = unsafe { &(*block).slots[offset] };
                    // SAFETY: we are the slot's only writer, and no reader
                    // looks before WRITE.
                    slot.item
                        .with_mut(|p| unsafe { p.write(MaybeUninit::new(item)) });
                    // SAFETY: as above, alive until our WRITE.
                    unsafe { (*block).release() };
                    let state = slot.state.fetch_or(WRITE, Ordering::AcqRel);
                    if state & WAITING != 0 {
                        // SAFETY: the slot's address is its consumer's
                        // parking key; unparking only uses the number.
                        unsafe { park::unpark_all(slot as *const Slot<T> as usize, 0) };
                    }
                    return Ok(linked);
                }
                Err(t) => {
                    tail = t;
                    block = self.tail.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    fn try_pop(&self) -> Result<(T, bool), PopFail<'_>> {
        let mut backoff = Backoff::new();
        let mut head = self.head.index.load(Ordering::Acquire);
        let mut block = self.head.block.load(Ordering::Acquire);
        loop {
            let offset = ((head >> SHIFT) % LAP) as usize;
            if offset == BLOCK_CAP {
                // Another consumer is moving `head` to the next block. It
                // reports `wake_peers` once `head` moves on; the blocking
                // layer spins, then parks.
                return Err(PopFail::Pending(Pending::new(&self.head.index, head)));
            }
            let mut new_head = head + (1 << SHIFT);
            if new_head & MARK_BIT == 0 {
                // Maybe the last block: look at `tail` for emptiness.
                fence(Ordering::SeqCst);
                let tail = self.tail.index.load(Ordering::Relaxed);
                if head >> SHIFT == tail >> SHIFT {
                    return Err(if tail & MARK_BIT != 0 {
                        PopFail::Closed
                    } else {
                        PopFail::Empty
                    });
                }
                if (head >> SHIFT) / LAP != (tail >> SHIFT) / LAP {
                    new_head |= MARK_BIT;
                }
            }
            match self.head.index.compare_exchange_weak(
                head,
                new_head,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: the CAS saw `head` unchanged, so `block` is
                    // the block of the index we claimed (it is stored
                    // before the index moves past the gate). It stays
                    // alive until we mark our slot read.
                    let slot = unsafe { &(*block).slots[offset] };
                    Self::wait_write(slot);
                    let last = offset + 1 == BLOCK_CAP;
                    if last {
                        // Our slot is written, so its producer linked the
                        // next block before (Release on `next`, then on the
                        // slot's WRITE, which we acquired).
                        // SAFETY: the block is alive (our slot is unread).
                        let next = unsafe { (*block).next.load(Ordering::Acquire) };
                        debug_assert!(!next.is_null());
                        let mut next_index = (new_head & !MARK_BIT).wrapping_add(1 << SHIFT);
                        // SAFETY: `next` is linked and alive: its slots
                        // are unread, as `head` has not reached it.
                        if !unsafe { (*next).next.load(Ordering::Relaxed) }.is_null() {
                            next_index |= MARK_BIT;
                        }
                        self.head.block.store(next, Ordering::Release);
                        // `SeqCst`: consumers parked on the gate pair with
                        // it (`Pending`).
                        self.head.index.store(next_index, Ordering::SeqCst);
                    }
                    // SAFETY: WRITE (acquired) says the item is there, and
                    // the CAS made us the slot's only reader.
                    let item = slot.item.with_mut(|p| unsafe { p.read().assume_init() });
                    // SAFETY: alive until our READ (or our destroy).
                    unsafe { (*block).release() };
                    if last {
                        // SAFETY: we read the last slot: start freeing.
                        unsafe { Block::destroy(block, 0) };
                    } else if slot.state.fetch_or(READ, Ordering::AcqRel) & DESTROY != 0 {
                        // SAFETY: the destruction waited for us: continue.
                        unsafe { Block::destroy(block, offset + 1) };
                    }
                    return Ok((item, last));
                }
                Err(h) => {
                    head = h;
                    block = self.head.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    fn len(&self) -> usize {
        loop {
            let tail = self.tail.index.load(Ordering::SeqCst);
            let head = self.head.index.load(Ordering::SeqCst);
            // A consistent pair: `tail` did not move while we read `head`.
            if self.tail.index.load(Ordering::SeqCst) == tail {
                return count(tail).saturating_sub(count(head)) as usize;
            }
        }
    }

    #[inline]
    fn capacity(&self) -> usize {
        0
    }

    #[inline]
    fn pushed(&self) -> u64 {
        count(self.tail.index.load(Ordering::SeqCst))
    }

    fn close(&self) -> bool {
        self.tail.index.fetch_or(MARK_BIT, Ordering::SeqCst) & MARK_BIT == 0
    }

    #[inline]
    fn is_closed(&self) -> bool {
        self.tail.index.load(Ordering::SeqCst) & MARK_BIT != 0
    }
}

impl<T> Drop for List<T> {
    fn drop(&mut self) {
        // `&mut self`: every push wrote its slot and every pop finished.
        let mut head = self.head.index.load(Ordering::Relaxed) & !MARK_BIT;
        let tail = self.tail.index.load(Ordering::Relaxed) & !MARK_BIT;
        let mut block = self.head.block.load(Ordering::Relaxed);
        while head != tail {
            let offset = ((head >> SHIFT) % LAP) as usize;
            if offset < BLOCK_CAP {
                // SAFETY: indices from `head` to `tail` hold written,
                // unread items, each dropped once; the block is alive
                // (blocks from `head`'s on are freed only here).
                unsafe {
                    let slot = &(*block).slots[offset];
                    slot.item.with_mut(|p| (*p).assume_init_drop());
                }
            } else {
                // SAFETY: past the gate: the next block is linked (its
                // producer linked it before any later index was used).
                unsafe {
                    let next = (*block).next.load(Ordering::Relaxed);
                    Block::free(block);
                    block = next;
                }
            }
            head += 1 << SHIFT;
        }
        // SAFETY: the last block, not freed by any consumer (its last
        // slot was not read), nor above.
        unsafe { Block::free(block) };
    }
}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    //! The list on its own, and under threads. Small counts under Miri,
    //! which checks every block is freed once, after its last reader.

    use super::*;
    use crate::Queue;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Counts its drops.
    struct Tracked(u64, Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn pop<T>(list: &List<T>) -> Option<T> {
        match list.try_pop() {
            Ok((item, _)) => Some(item),
            Err(PopFail::Empty) => None,
            Err(_) => panic!("closed or pending with one thread"),
        }
    }

    fn push<T>(list: &List<T>, item: T) {
        assert!(list.try_push(item).is_ok());
    }

    #[test]
    fn fifo_across_blocks_with_len_and_count() {
        let list = List::new();
        let n = 3 * BLOCK_CAP as u64 + 5;
        for i in 0..n {
            push(&list, i);
            assert_eq!(list.len() as u64, i + 1);
        }
        assert_eq!(list.pushed(), n);
        for i in 0..n {
            assert_eq!(pop(&list), Some(i));
        }
        assert_eq!(list.len(), 0);
        assert_eq!(pop(&list), None);
        // Interleaved, so head and tail share blocks and gates.
        for i in 0..n {
            push(&list, i);
            push(&list, i + 1000);
            assert_eq!(pop(&list), Some(i));
            assert_eq!(pop(&list), Some(i + 1000));
        }
        assert_eq!(list.pushed(), 3 * n);
    }

    #[test]
    fn close_refuses_pushes_and_drains() {
        let list = List::new();
        for i in 0..BLOCK_CAP as u64 + 1 {
            push(&list, i);
        }
        assert!(list.close());
        assert!(!list.close());
        assert!(list.is_closed());
        assert!(matches!(list.try_push(99), Err(PushFail::Closed(99))));
        for i in 0..BLOCK_CAP as u64 + 1 {
            assert_eq!(pop(&list).unwrap_or(u64::MAX), i);
        }
        assert!(matches!(list.try_pop(), Err(PopFail::Closed)));
    }

    /// Items left in a dropped list are dropped once, partly read blocks
    /// included; read items are not dropped twice.
    #[test]
    fn drop_frees_what_is_left() {
        for left in [
            0,
            1,
            BLOCK_CAP - 1,
            BLOCK_CAP,
            BLOCK_CAP + 1,
            2 * BLOCK_CAP + 3,
        ] {
            let drops = Arc::new(AtomicUsize::new(0));
            let list = List::new();
            let taken = BLOCK_CAP + 2;
            for i in 0..(taken + left) as u64 {
                push(&list, Tracked(i, drops.clone()));
            }
            for i in 0..taken as u64 {
                assert_eq!(pop(&list).map(|t| t.0), Some(i));
            }
            assert_eq!(drops.load(Ordering::Relaxed), taken);
            drop(list);
            assert_eq!(drops.load(Ordering::Relaxed), taken + left, "left {left}");
        }
    }

    /// Two producers and two consumers through the public queue: every
    /// item once, each producer's items in order, every item dropped once.
    #[test]
    fn threads_lose_nothing() {
        let per: u64 = if cfg!(miri) {
            3 * BLOCK_CAP as u64
        } else {
            20_000
        };
        let drops = Arc::new(AtomicUsize::new(0));
        let q = Queue::unbounded();
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let (q, drops) = (q.clone(), drops.clone());
                std::thread::spawn(move || {
                    for i in 0..per {
                        q.put(Tracked(p << 32 | i, drops.clone())).unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(t) = q.get() {
                        got.push(t.0);
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        q.close();
        let mut all = Vec::new();
        for c in consumers {
            let got = c.join().unwrap();
            for p in 0..2u64 {
                let mine: Vec<_> = got.iter().filter(|&&x| x >> 32 == p).collect();
                assert!(
                    mine.windows(2).all(|w| w[0] < w[1]),
                    "producer {p} reordered"
                );
            }
            all.extend(got);
        }
        all.sort_unstable();
        let want: Vec<_> = (0..2u64)
            .flat_map(|p| (0..per).map(move |i| p << 32 | i))
            .collect();
        assert_eq!(all, want);
        assert_eq!(drops.load(Ordering::Relaxed), 2 * per as usize);
    }
}
