//! The ring under [`Queue`](crate::Queue): a bounded multi-producer
//! multi-consumer ring of fixed-size slots, safe against a process killed at
//! any point of a put or a get.
//!
//! # Protocol
//!
//! Producers and consumers take tickets from two counters, `tail` and
//! `head`; ticket `pos` uses slot `pos % cap`. Each slot has one 64-bit
//! state word: `[seq: 32 | state: 2 | pid: 30]`, where `seq` is the low 32
//! bits of the ticket the slot is at, and `pid` the process working on it.
//!
//! ```text
//!   EMPTY(pos) --producer CAS--> WRITING(pos, pid) --store--> FULL(pos)
//!   FULL(pos)  --consumer CAS--> READING(pos, pid) --store--> EMPTY(pos + cap)
//!   WRITING(pos, dead pid) --consumer CAS--> ABANDONED(pos) --CAS--> EMPTY(pos + cap)
//!   READING(pos, dead pid) --producer CAS--> EMPTY(pos + cap)
//! ```
//!
//! A ticket is claimed on the **slot** (one CAS that also records the pid:
//! the only locked instruction of a put or a get on its fast path; a lone
//! producer holding the lease in `lease` claims with a plain store), and
//! `tail`/`head` are advanced afterwards by the claimer with a plain store,
//! or by any other party that finds the slot claimed ("helping", with a
//! CAS). So a process killed at any point leaves either an unclaimed slot,
//! or a claimed one whose state word names it: a consumer that finds
//! `WRITING` by a process that no longer exists marks it `ABANDONED` and
//! skips it; a producer that finds `READING` by a dead consumer frees it
//! (that one message died with its consumer). The payload is written
//! before the `Release` store that publishes `FULL`, and read after the
//! `Acquire` that sees it, so no consumer ever reads a torn or partial
//! message; the frame's checksum is only there for foreign damage (a stray
//! write into the shared memory), which it turns into `Error::Corrupt`.
//!
//! # Tickets are hints
//!
//! `tail` and `head` only say where to look: the slot's `seq` decides. A
//! hint is only ever stored as `pos + 1` by someone who saw ticket `pos`
//! claimed, so it never runs ahead of the real next ticket, but it may lag
//! or even go back (a slow claimer's store landing after a helper's): a
//! party that reads a lagging hint finds its slot claimed at this lap and
//! walks forward. A slot still at the previous lap therefore means a truly
//! full (or empty) ring. The loom models include racing claimers that
//! leave the hint behind.
//!
//! A consumer reads the frame in place, in its slot, while it holds it
//! `READING` ([`Popped`](pop::Popped)): no copy; the slot is given back
//! when the [`Popped`](pop::Popped) drops, also when a decoder unwinds.
//!
//! # Blocking
//!
//! Blocking uses two 32-bit futex words (`not_empty`, `not_full`) with
//! waiter counts, in the same shared memory: a waiter registers, re-checks,
//! and sleeps on the word; a waker publishes, and wakes only if someone
//! registered. The two sides are ordered by an asymmetric Dekker barrier
//! ([`sys::light_barrier`] / [`sys::heavy_barrier`]): the waker's side,
//! paid per message, is a compiler fence; the waiter's side, paid only on
//! the way to a futex sleep, is `membarrier(2)`. Under loom both are
//! SeqCst fences, the symmetric protocol the models check. Waits caused by
//! a slot in progress (`WRITING`, `READING`) are capped so that the
//! liveness of its owner is re-checked.
//!
//! The same code runs on shared memory (real) and on heap memory with
//! loom's atomics and parking lot (`--cfg bingfa_loom`), threads standing in
//! for processes.
//!
//! # One body a put, one body a get
//!
//! The fast path of a get (`try_pop_inner`, the frame check, the
//! checksum, [`Popped`](pop::Popped)'s drop) and of a put
//! (`try_push_inner`, the frame's encoding) are `#[inline(always)]`, so
//! that each compiles into the caller's `Queue::get_with` /
//! `Queue::put_with` as one function, whatever codegen unit that lands
//! in. Measured on an AMD EPYC (Zen 4), 2026-12-07: the same bench
//! binary held two copies of a `Raw` queue's get, one where LLVM had
//! inlined these and one where it called them (three calls a get), and
//! the 1 -> 1 stream of 64-byte items ran at 36-47 M items a second
//! through the first and 19-20 M through the second; forcing the
//! inlining gave 38-54 M through both. No one function was enough: the
//! three calls had to go together. The cause looks like a regime more
//! than the calls' own nanoseconds: a consumer a little slower falls
//! behind until the ring is nearly full, and there a get costs more. Two
//! runs of one program: with the ring 640 of 1024 full at the median,
//! 54 M; at 980, 34 M. About 4 ns of busy work a get kept the ring at
//! 950-1000 for good and cost 9 ns a message (36 M). In one process the
//! calls cost too: a get of a `u64` took 23 ns through them, 12.7
//! inlined. See the crate's
//! `benches/NOTES.md`, "a sixth session".
//!
//! # Where things are
//!
//! - `layout`: the shared header, the slots, and where they lie in memory;
//! - `word`: a slot's state word and its encoding;
//! - `lease`: the producer lease, under which a lone producer claims with
//!   a plain store;
//! - `push`: the producer side;
//! - `pop`: the consumer side, and the [`Popped`](pop::Popped) it hands out;
//! - `wait`: spinning, sleeping on a futex word, and waking;
//! - `prefetch`: the cache-line hints, and the consumer's write-back of
//!   the lines it has read (on AMD).

use std::marker::PhantomData;

use bingfa_sync::raw::atomic::Ordering;

use crate::sys;

mod layout;
mod lease;
mod modulus;
mod pop;
mod prefetch;
mod push;
mod wait;
mod word;

use layout::SLOT_HEAD;
pub(crate) use layout::{cell, layout, slot_bytes_for, Header, Slot, CELLS_AT};
pub(crate) use modulus::Modulus;
use word::{decode, lap, ABANDONED_PID, EMPTY, FULL, READING};

/// Why a push did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    Full,
    Closed,
    Timeout,
    /// The writer gave up after the slot was claimed (the slot is left as
    /// a hole that consumers skip).
    Unwritten,
}

/// Why a pop did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopError {
    Empty,
    Closed,
    Timeout,
}

/// A view of a ring in memory: the header, `cap` slots and `cap` frames of
/// `slot_bytes`, each slot `slot_stride` bytes after the one before it,
/// each frame `data_stride` bytes after the one before it. In shared
/// memory slot and frame share a cell ([`Ring::in_cells`]); loom rings
/// keep them in two arrays ([`Ring::new`]).
pub(crate) struct Ring<'a> {
    hdr: &'a Header,
    cap: Modulus,
    slots: *const Slot,
    slot_stride: usize,
    data: *mut u8,
    data_stride: usize,
    slot_bytes: usize,
    alive: &'a dyn Fn(u32) -> bool,
    _slots: PhantomData<&'a Slot>,
}

impl<'a> Ring<'a> {
    /// A ring whose slots and frames lie in two arrays (loom's heap rings).
    ///
    /// # Safety
    /// `slots.len() == hdr.cap`, and `data` is valid for reads and writes of
    /// `cap * slot_bytes.next_multiple_of(64)` bytes for `'a`, accessed only
    /// through rings over this same header.
    #[cfg(all(test, bingfa_loom))]
    pub(crate) unsafe fn new(
        hdr: &'a Header,
        slots: &'a [Slot],
        data: *mut u8,
        alive: &'a dyn Fn(u32) -> bool,
    ) -> Ring<'a> {
        debug_assert_eq!(slots.len() as u64, hdr.cap);
        Ring {
            hdr,
            cap: Modulus::new(hdr.cap),
            slots: slots.as_ptr(),
            slot_stride: std::mem::size_of::<Slot>(),
            data,
            data_stride: (hdr.slot_bytes as usize).next_multiple_of(64),
            slot_bytes: hdr.slot_bytes as usize,
            alive,
            _slots: PhantomData,
        }
    }

    /// A ring in the cells of a shared mapping laid out by [`layout`]: its
    /// [`Header`] at `base`, then `cap` cells of [`cell`]`(slot_bytes)`
    /// bytes from [`CELLS_AT`], each a [`Slot`] followed, [`SLOT_HEAD`]
    /// bytes in, by its frame.
    ///
    /// `cap` and `slot_bytes` are the caller's own validated copies, never
    /// the header's fields read again: any process that maps the memory
    /// can write those, and a stray write must not turn into an access out
    /// of the mapping. (`cap` comes with its reciprocal, computed once by
    /// the caller: a ring is made for every put and get.)
    ///
    /// # Safety
    /// `base` is 128-aligned and valid for reads and writes of
    /// `layout(cap, slot_bytes)` bytes (which is `Some`) for `'a`, with an
    /// initialized header and slots, accessed only through rings over this
    /// same memory.
    #[inline]
    pub(crate) unsafe fn in_cells(
        base: *mut u8,
        cap: Modulus,
        slot_bytes: usize,
        alive: &'a dyn Fn(u32) -> bool,
    ) -> Ring<'a> {
        // SAFETY: the caller's contract: an initialized header at `base`.
        let hdr = unsafe { &*base.cast::<Header>() };
        // No overflow: `layout(cap, slot_bytes)` is Some (the contract).
        let cell = (slot_bytes + SLOT_HEAD).next_multiple_of(layout::PAIR);
        // SAFETY: the cells lie inside the mapping (caller's contract).
        let cells = unsafe { base.add(CELLS_AT) };
        Ring {
            hdr,
            cap,
            slots: cells.cast::<Slot>(),
            slot_stride: cell,
            data: cells.wrapping_add(SLOT_HEAD),
            data_stride: cell,
            slot_bytes,
            alive,
            _slots: PhantomData,
        }
    }

    #[inline]
    fn cap(&self) -> u64 {
        self.cap.get()
    }

    /// The slot of ticket `pos`: an index below `cap` (no division, see
    /// [`Modulus`]).
    #[inline]
    fn index(&self, pos: u64) -> usize {
        self.cap.rem(pos) as usize
    }

    /// The index `ahead` slots after index `i`, for `ahead < cap`.
    #[inline]
    fn index_after(&self, i: usize, ahead: usize) -> usize {
        debug_assert!((ahead as u64) < self.cap());
        let j = i + ahead;
        if j as u64 >= self.cap() {
            j - self.cap() as usize
        } else {
            j
        }
    }

    /// Slot `i` (below `cap`) and the address of its frame.
    #[inline]
    fn at(&self, i: usize) -> (&Slot, *mut u8) {
        debug_assert!((i as u64) < self.cap());
        // SAFETY: i < cap: the slot lies inside the slots' memory (see the
        // constructors), initialized, and lives for 'a; the frame address
        // lies inside the frames' memory.
        unsafe {
            (
                &*self.slots.byte_add(i * self.slot_stride),
                self.data.add(i * self.data_stride),
            )
        }
    }

    /// The slot of ticket `pos`, and the address of its frame.
    #[inline]
    fn slot(&self, pos: u64) -> (&Slot, *mut u8) {
        self.at(self.index(pos))
    }

    /// Number of messages in the ring (a snapshot).
    ///
    /// `head` and `tail` are hints that may lag behind (a slow claimer's
    /// store landing after a helper's), also once everything has gone
    /// quiet, so each is first walked forward over the tickets its slots
    /// show as taken: read-only, and only here, so puts and gets pay
    /// nothing for it.
    pub(crate) fn len(&self) -> usize {
        let head = self.walk(self.hdr.head.0.load(Ordering::SeqCst), |d, state, pid| {
            // Consumed (the slot moved on a lap), being read, or a dead
            // producer's hole that is being skipped.
            d > 0 || (d == 0 && (state == READING || (state == FULL && pid == ABANDONED_PID)))
        });
        let tail = self.walk(self.hdr.tail.0.load(Ordering::SeqCst), |d, state, _| {
            // Claimed by a producer at this lap, or already past it.
            d > 0 || (d == 0 && state != EMPTY)
        });
        tail.saturating_sub(head).min(self.cap()) as usize
    }

    /// The first ticket from `pos` on (at most one lap) whose slot does not
    /// show it `taken` (given its lap distance, state and pid).
    fn walk(&self, mut pos: u64, taken: impl Fn(i32, u64, u32) -> bool) -> u64 {
        for _ in 0..self.cap() {
            let (seq, state, pid) = decode(self.slot(pos).0.word.load(Ordering::SeqCst));
            if !taken(lap(seq, pos), state, pid) {
                break;
            }
            pos += 1;
        }
        pos
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap() as usize
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.hdr.closed.load(Ordering::SeqCst) != 0
    }

    /// Closes the ring: puts fail from now on, gets drain what is left.
    pub(crate) fn close(&self) {
        self.hdr.closed.store(1, Ordering::SeqCst);
        self.hdr.not_empty.0.word.fetch_add(1, Ordering::SeqCst);
        self.hdr.not_full.0.word.fetch_add(1, Ordering::SeqCst);
        sys::wake(&self.hdr.not_empty.0.word, u32::MAX);
        sys::wake(&self.hdr.not_full.0.word, u32::MAX);
    }
}

/// Rings in plain heap memory, laid out as in shared memory, for unit
/// tests of the real (not loom) code.
#[cfg(all(test, not(bingfa_loom)))]
pub(crate) mod test_ring {
    use super::{cell, layout, Header, Slot, CELLS_AT};

    /// A ring of `cap` slots of `slot_bytes` laid out as in shared memory,
    /// in heap memory leaked for the life of the test process (its
    /// address, to cross threads).
    pub(crate) fn leaked(cap: usize, slot_bytes: usize) -> usize {
        let total = layout(cap, slot_bytes).unwrap();
        let l = std::alloc::Layout::from_size_align(total, 128).unwrap();
        // SAFETY: a non-zero size.
        let base = unsafe { std::alloc::alloc_zeroed(l) };
        assert!(!base.is_null());
        let hdr = Header::new(cap as u64, slot_bytes as u64, 8);
        // SAFETY: `total` fresh bytes, 128-aligned: the header at the
        // start, each slot at the start of its cell, as `Queue` lays them.
        unsafe {
            base.cast::<Header>().write(hdr);
            for i in 0..cap {
                base.add(CELLS_AT + i * cell(slot_bytes).unwrap())
                    .cast::<Slot>()
                    .write(Slot::new(i as u64));
            }
        }
        base as usize
    }
}
