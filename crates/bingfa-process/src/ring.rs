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
//! the only locked instruction of a put or a get on its fast path), and
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
//! `READING` ([`Popped`]): no copy; the slot is given back when the
//! [`Popped`] drops, also when a decoder unwinds.
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

use std::time::Duration;

use bingfa_sync::raw::atomic::{AtomicU32, AtomicU64, Ordering};
use bingfa_sync::raw::cell::UnsafeCell;
use bingfa_sync::raw::Deadline;

use crate::codec;
use crate::sys;

const EMPTY: u64 = 0;
const WRITING: u64 = 1;
const FULL: u64 = 2;
const READING: u64 = 3;
const PID_MASK: u64 = (1 << 30) - 1;
/// `FULL` with this pid: a hole left by a producer that died mid-put.
const ABANDONED_PID: u32 = PID_MASK as u32;

/// How far ahead of its ticket a producer prefetches (see
/// `Ring::prefetch_ahead`): far enough for the lines to arrive before its
/// claim; the slots ahead of the tail are ones consumers are done with.
const PRODUCER_AHEAD: u64 = 8;
/// How far ahead a consumer prefetches: little, since the slots just ahead
/// of the head may be the ones a producer is writing right now (taking
/// their lines would stall it).
const CONSUMER_AHEAD: u64 = 2;

/// How long a wait caused by a slot in progress sleeps before it checks
/// whether the slot's owner is still alive.
const LIVENESS_PERIOD: Duration = Duration::from_millis(20);

#[inline]
fn word(pos: u64, state: u64, pid: u32) -> u64 {
    ((pos as u32 as u64) << 32) | (state << 30) | (pid as u64 & PID_MASK)
}

#[inline]
fn decode(w: u64) -> (u32, u64, u32) {
    ((w >> 32) as u32, (w >> 30) & 3, (w & PID_MASK) as u32)
}

/// Lap distance of a slot's `seq` from ticket `pos` (0: this lap).
#[inline]
fn lap(seq: u32, pos: u64) -> i32 {
    seq.wrapping_sub(pos as u32) as i32
}

/// One cache line.
#[repr(C, align(64))]
pub(crate) struct Padded<T>(pub(crate) T);

/// The ring's shared header: a read-mostly line (sizes, closed flag), then
/// one line per side for its ticket counter, then one line per futex word
/// with its waiter count.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) cap: u64,
    pub(crate) slot_bytes: u64,
    closed: AtomicU32,
    tail: Padded<AtomicU64>,
    head: Padded<AtomicU64>,
    not_empty: Padded<Waiters>,
    not_full: Padded<Waiters>,
}

/// A futex word and the number of processes sleeping on it.
#[repr(C)]
pub(crate) struct Waiters {
    word: AtomicU32,
    waiting: AtomicU32,
}

impl Waiters {
    fn new() -> Waiters {
        Waiters {
            word: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
        }
    }
}

impl Header {
    pub(crate) fn new(cap: u64, slot_bytes: u64) -> Header {
        Header {
            cap,
            slot_bytes,
            closed: AtomicU32::new(0),
            tail: Padded(AtomicU64::new(0)),
            head: Padded(AtomicU64::new(0)),
            not_empty: Padded(Waiters::new()),
            not_full: Padded(Waiters::new()),
        }
    }
}

/// One slot's state word, and its frame length (a cell, so that loom checks
/// that no reader ever overlaps the writer). One cache line each, so that a
/// producer publishing slot `i + 1` does not steal the line a consumer is
/// reading slot `i` from.
#[repr(C, align(64))]
pub(crate) struct Slot {
    word: AtomicU64,
    len: UnsafeCell<u32>,
}

impl Slot {
    pub(crate) fn new(i: u64) -> Slot {
        Slot {
            word: AtomicU64::new(word(i, EMPTY, 0)),
            len: UnsafeCell::new(0),
        }
    }
}

/// Why a push did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    Full,
    Closed,
    Timeout,
}

/// Why a pop did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopError {
    Empty,
    Closed,
    Timeout,
}

/// What blocked a try: plain full/empty, or a slot in progress.
enum Blocked {
    Plain,
    InProgress,
}

/// A view of a ring in memory: the header, the slots, and `cap *
/// stride(slot_bytes)` bytes of frames.
pub(crate) struct Ring<'a> {
    hdr: &'a Header,
    slots: &'a [Slot],
    data: *mut u8,
    slot_bytes: usize,
    stride: usize,
    alive: &'a dyn Fn(u32) -> bool,
}

impl<'a> Ring<'a> {
    /// # Safety
    /// `slots.len() == hdr.cap`, and `data` is valid for reads and writes of
    /// `cap * stride(slot_bytes)` bytes for `'a`, accessed only through rings over
    /// this same header.
    #[inline]
    pub(crate) unsafe fn new(
        hdr: &'a Header,
        slots: &'a [Slot],
        data: *mut u8,
        alive: &'a dyn Fn(u32) -> bool,
    ) -> Ring<'a> {
        debug_assert_eq!(slots.len() as u64, hdr.cap);
        Ring {
            hdr,
            slots,
            data,
            slot_bytes: hdr.slot_bytes as usize,
            stride: stride(hdr.slot_bytes as usize),
            alive,
        }
    }

    #[inline]
    fn cap(&self) -> u64 {
        self.hdr.cap
    }

    #[inline]
    fn slot(&self, pos: u64) -> (&Slot, *mut u8) {
        let i = (pos % self.cap()) as usize;
        // SAFETY: i < cap, so the frame lies inside the data area.
        (&self.slots[i], unsafe { self.data.add(i * self.stride) })
    }

    /// Hints the CPU to fetch, for writing, the state word and frame of the
    /// slot `ahead` tickets after `pos`: one this side is likely to claim
    /// soon. Its lines then move over while other messages are being
    /// handled, instead of in the middle of that claim (whose locked
    /// instruction cannot overlap a miss).
    #[inline(always)]
    fn prefetch_ahead(&self, pos: u64, ahead: u64) {
        let (slot, bytes) = self.slot(pos + ahead);
        prefetch_write((slot as *const Slot).cast(), 1);
        prefetch_write(bytes, self.slot_bytes);
    }

    /// Largest frame a slot holds.
    #[inline]
    pub(crate) fn max_frame(&self) -> usize {
        self.slot_bytes
    }

    /// Number of messages in the ring (a snapshot).
    pub(crate) fn len(&self) -> usize {
        let head = self.hdr.head.0.load(Ordering::SeqCst);
        let tail = self.hdr.tail.0.load(Ordering::SeqCst);
        tail.saturating_sub(head).min(self.cap()) as usize
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

    /// Puts one frame without blocking.
    #[cfg(bingfa_loom)]
    pub(crate) fn try_push(&self, frame: &[u8], me: u32) -> Result<(), PushError> {
        self.try_push_with(frame, me, plain_copy)
    }

    /// Puts one frame without blocking; `copy(frame, dst)` moves it into
    /// the slot (`dst` is the whole slot), once the slot is claimed.
    #[inline]
    pub(crate) fn try_push_with(
        &self,
        frame: &[u8],
        me: u32,
        copy: impl Fn(&[u8], &mut [u8]),
    ) -> Result<(), PushError> {
        self.try_push_inner(frame, me, &copy, true)
            .map_err(|(e, _)| e)
    }

    /// One try at a put. `check_owner`: whether a slot held `READING` by
    /// another process makes it look whether that process still exists (a
    /// `kill` and a read of `/proc`, microseconds): not on the first try of
    /// a blocking put, which would rather spin a little first.
    #[inline]
    fn try_push_inner(
        &self,
        frame: &[u8],
        me: u32,
        copy: &impl Fn(&[u8], &mut [u8]),
        check_owner: bool,
    ) -> Result<(), (PushError, Blocked)> {
        assert!(frame.len() <= self.slot_bytes, "frame larger than a slot");
        if self.is_closed() {
            return Err((PushError::Closed, Blocked::Plain));
        }
        let tail = &self.hdr.tail.0;
        loop {
            let pos = tail.load(Ordering::Relaxed);
            let (slot, bytes) = self.slot(pos);
            let w = slot.word.load(Ordering::Acquire);
            let (seq, state, pid) = decode(w);
            let d = lap(seq, pos);
            if d == 0 && state == EMPTY {
                // The frame's lines, for writing, alongside the claim.
                prefetch_write(bytes, self.slot_bytes);
                if slot
                    .word
                    .compare_exchange(
                        w,
                        word(pos, WRITING, me),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    continue;
                }
                // The tail is a hint (see "Tickets" in the module docs): a
                // plain store, no second locked instruction.
                tail.store(pos + 1, Ordering::Relaxed);
                self.prefetch_ahead(pos, PRODUCER_AHEAD);
                // SAFETY: the CAS gave this producer the slot: no consumer
                // reads it until the FULL store below, and the consumer of
                // the previous lap finished with it before storing the EMPTY
                // we acquired. `bytes` is valid for `slot_bytes` bytes.
                let dst = unsafe { std::slice::from_raw_parts_mut(bytes, self.slot_bytes) };
                copy(frame, dst);
                slot.len.with_mut(|l| {
                    // SAFETY: as above, this producer owns the slot.
                    unsafe { *l = frame.len() as u32 }
                });
                slot.word.store(word(pos, FULL, 0), Ordering::Release);
                self.notify(&self.hdr.not_empty.0);
                return Ok(());
            }
            if d >= 0 {
                // Claimed at this lap by another producer (help it move the
                // tail), or the tail we read is stale.
                let _ = tail.compare_exchange(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed);
                continue;
            }
            // The slot still holds the previous lap: full, unless the tail
            // moved meanwhile.
            if tail.load(Ordering::Relaxed) != pos {
                continue;
            }
            if state == READING && check_owner && !(self.alive)(pid) {
                // Its consumer died mid-get: free the slot for this lap.
                let _ = slot.word.compare_exchange(
                    w,
                    word(pos, EMPTY, 0),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                continue;
            }
            let why = if state == READING || state == WRITING {
                Blocked::InProgress
            } else {
                Blocked::Plain
            };
            return Err((PushError::Full, why));
        }
    }

    /// For crash tests: claims a slot and writes the first `upto` bytes of
    /// `frame`, then returns without publishing, as a producer killed in
    /// the middle of its put would leave it. Returns whether a slot was
    /// claimed.
    pub(crate) fn claim_and_stop(&self, frame: &[u8], me: u32, upto: usize) -> bool {
        let tail = &self.hdr.tail.0;
        loop {
            let pos = tail.load(Ordering::Relaxed);
            let (slot, bytes) = self.slot(pos);
            let w = slot.word.load(Ordering::Acquire);
            let (seq, state, _) = decode(w);
            let d = lap(seq, pos);
            if d < 0 {
                return false;
            }
            if d > 0 || state != EMPTY {
                let _ = tail.compare_exchange(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed);
                continue;
            }
            if slot
                .word
                .compare_exchange(
                    w,
                    word(pos, WRITING, me),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            tail.store(pos + 1, Ordering::Relaxed);
            let upto = upto.min(frame.len());
            // SAFETY: the slot is ours, as in `try_push`.
            unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), bytes, upto) };
            return true;
        }
    }

    /// For crash tests: claims the oldest full slot for reading, as a
    /// consumer killed in the middle of its get would leave it. Returns
    /// whether a slot was claimed.
    pub(crate) fn claim_read_and_stop(&self, me: u32) -> bool {
        let head = &self.hdr.head.0;
        let pos = head.load(Ordering::Relaxed);
        let (slot, _) = self.slot(pos);
        let w = slot.word.load(Ordering::Acquire);
        let (seq, state, pid) = decode(w);
        if lap(seq, pos) != 0 || state != FULL || pid == ABANDONED_PID {
            return false;
        }
        if slot
            .word
            .compare_exchange(
                w,
                word(pos, READING, me),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        head.store(pos + 1, Ordering::Relaxed);
        true
    }

    /// For fault tests: flips bits of byte `at` of the oldest published
    /// frame, as a stray write into the shared memory would. Returns whether
    /// there was one.
    pub(crate) fn damage_oldest(&self, at: usize) -> bool {
        let pos = self.hdr.head.0.load(Ordering::SeqCst);
        let (slot, bytes) = self.slot(pos);
        let (seq, state, _) = decode(slot.word.load(Ordering::SeqCst));
        if lap(seq, pos) != 0 || state != FULL || at >= self.slot_bytes {
            return false;
        }
        // SAFETY: inside the slot's frame area. The write races with
        // nothing in the tests that use it (no consumer runs meanwhile).
        unsafe { *bytes.add(at) ^= 0x5a };
        true
    }

    /// Takes one frame without blocking, into `out` (cleared first).
    #[cfg(bingfa_loom)]
    pub(crate) fn try_pop(&self, out: &mut Vec<u8>, me: u32) -> Result<(), PopError> {
        self.try_pop_slot(me).map(|f| copy_into(out, &f))
    }

    /// Takes one frame without blocking. The frame stays in its slot
    /// (no copy), held for this consumer until the returned [`Popped`]
    /// drops.
    #[inline]
    pub(crate) fn try_pop_slot(&self, me: u32) -> Result<Popped<'_, 'a>, PopError> {
        self.try_pop_inner(me, true).map_err(|(e, _)| e)
    }

    /// One try at a get; `check_owner` as for `try_push_inner`, for a slot
    /// held `WRITING`.
    #[inline]
    fn try_pop_inner(
        &self,
        me: u32,
        check_owner: bool,
    ) -> Result<Popped<'_, 'a>, (PopError, Blocked)> {
        let head = &self.hdr.head.0;
        loop {
            let pos = head.load(Ordering::Relaxed);
            let (slot, bytes) = self.slot(pos);
            let w = slot.word.load(Ordering::Acquire);
            let (seq, state, pid) = decode(w);
            let d = lap(seq, pos);
            if d > 0 || (d == 0 && state == READING) {
                // Taken at this lap (help move the head), or stale head.
                let _ = head.compare_exchange(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed);
                continue;
            }
            if d == 0 && state == FULL && pid == ABANDONED_PID {
                if slot
                    .word
                    .compare_exchange(
                        w,
                        word(pos + self.cap(), EMPTY, 0),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    let _ =
                        head.compare_exchange(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed);
                    self.notify(&self.hdr.not_full.0);
                }
                continue;
            }
            if d == 0 && state == FULL {
                // Start fetching the frame's lines now, so that their
                // misses overlap the claim's instead of following it.
                prefetch_read(bytes, self.slot_bytes);
                if slot
                    .word
                    .compare_exchange(
                        w,
                        word(pos, READING, me),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    continue;
                }
                // A hint, as the tail is for producers.
                head.store(pos + 1, Ordering::Relaxed);
                self.prefetch_ahead(pos, CONSUMER_AHEAD);
                // SAFETY: the CAS gave this consumer the slot, published by
                // the producer's Release store of FULL that we acquired.
                let len = slot.len.with(|l| unsafe { *l }) as usize;
                let len = len.min(self.slot_bytes);
                // SAFETY: `bytes` is valid for `slot_bytes` reads; `len` is
                // clamped to it (a corrupt length gives a corrupt frame,
                // which the codec rejects, never an out-of-bounds read).
                // The slot is ours until the `Popped` drops: no producer
                // writes it meanwhile.
                let frame = unsafe { std::slice::from_raw_parts(bytes, len) };
                return Ok(Popped {
                    ring: self,
                    slot,
                    pos,
                    frame,
                });
            }
            if head.load(Ordering::Relaxed) != pos {
                continue;
            }
            if d == 0 && state == WRITING {
                if check_owner && !(self.alive)(pid) {
                    // Its producer died mid-put: mark the hole, skip it.
                    let _ = slot.word.compare_exchange(
                        w,
                        word(pos, FULL, ABANDONED_PID),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                    continue;
                }
                return Err((PopError::Empty, Blocked::InProgress));
            }
            // EMPTY at this lap, or the previous lap's consumer still
            // reading: nothing to take.
            if self.is_closed() {
                // A put that finished before the close is visible now that
                // we saw the close: look again before reporting it.
                if slot.word.load(Ordering::Acquire) != w || head.load(Ordering::Relaxed) != pos {
                    continue;
                }
                return Err((PopError::Closed, Blocked::Plain));
            }
            return Err((PopError::Empty, Blocked::Plain));
        }
    }

    /// Wakes one waiter on `w` if any registered. Called right after a
    /// slot changed: the light barrier here pairs with the heavy one a
    /// sleeper issues between registering and re-reading the slots
    /// (Dekker), so either it sees the change or this load sees it
    /// registered. The barrier is asymmetric (see [`sys::light_barrier`]):
    /// on the hot path it costs no instruction; a sleeper pays a
    /// `membarrier` call instead. Under loom both sides are SeqCst fences,
    /// the symmetric protocol the model checks.
    #[inline]
    fn notify(&self, w: &Waiters) {
        sys::light_barrier();
        if w.waiting.load(Ordering::SeqCst) > 0 {
            w.word.fetch_add(1, Ordering::SeqCst);
            sys::wake(&w.word, 1);
        }
    }

    /// Puts one frame, waiting while the ring is full, until `deadline`.
    #[cfg(bingfa_loom)]
    pub(crate) fn push(
        &self,
        frame: &[u8],
        me: u32,
        deadline: Option<Deadline>,
    ) -> Result<(), PushError> {
        self.push_with(frame, me, deadline, plain_copy)
    }

    /// Puts one frame, waiting while the ring is full, until `deadline`;
    /// `copy` as for [`try_push_with`](Ring::try_push_with).
    #[inline]
    pub(crate) fn push_with(
        &self,
        frame: &[u8],
        me: u32,
        deadline: Option<Deadline>,
        copy: impl Fn(&[u8], &mut [u8]),
    ) -> Result<(), PushError> {
        match self.try_push_inner(frame, me, &copy, false) {
            Err((PushError::Full, _)) => self.push_slow(frame, me, deadline, &copy),
            other => other.map_err(|(e, _)| e),
        }
    }

    /// [`push_with`](Ring::push_with) once the first try found the ring
    /// full: spin, then sleep, and try again.
    #[cold]
    #[inline(never)]
    fn push_slow(
        &self,
        frame: &[u8],
        me: u32,
        deadline: Option<Deadline>,
        copy: &impl Fn(&[u8], &mut [u8]),
    ) -> Result<(), PushError> {
        let mut spin = Backoff::default();
        loop {
            // A full ring may turn into one with a slot to reclaim without
            // any wake-up: a consumer that claims the oldest message and
            // dies notifies nobody. So a blocked producer always re-checks
            // each LIVENESS_PERIOD (loom found the lost producer).
            let why = Blocked::InProgress;
            let spinning = spin.spin();
            if !spinning {
                let hdr = self.hdr;
                let r = self.sleep(&hdr.not_full.0, why, deadline, || {
                    !matches!(self.try_push_peek(), Some(PushError::Full))
                });
                if !r {
                    return Err(PushError::Timeout);
                }
            }
            // Owners are looked at once spinning is over.
            match self.try_push_inner(frame, me, copy, !spinning) {
                Err((PushError::Full, _)) => {}
                other => return other.map_err(|(e, _)| e),
            };
        }
    }

    /// Takes one frame into `out` (cleared first), waiting while the ring
    /// is empty, until `deadline`.
    #[cfg(bingfa_loom)]
    pub(crate) fn pop(
        &self,
        out: &mut Vec<u8>,
        me: u32,
        deadline: Option<Deadline>,
    ) -> Result<(), PopError> {
        self.pop_slot(me, deadline).map(|f| copy_into(out, &f))
    }

    /// Takes one frame, waiting while the ring is empty, until `deadline`;
    /// the frame stays in its slot, as for [`try_pop_slot`](Ring::try_pop_slot).
    #[inline]
    pub(crate) fn pop_slot(
        &self,
        me: u32,
        deadline: Option<Deadline>,
    ) -> Result<Popped<'_, 'a>, PopError> {
        match self.try_pop_inner(me, false) {
            Ok(p) => Ok(p),
            Err((PopError::Empty, why)) => self.pop_slow(me, deadline, why),
            Err((e, _)) => Err(e),
        }
    }

    /// [`pop_slot`](Ring::pop_slot) once the first try found the ring
    /// empty: spin, then sleep, and try again.
    #[cold]
    #[inline(never)]
    fn pop_slow(
        &self,
        me: u32,
        deadline: Option<Deadline>,
        mut why: Blocked,
    ) -> Result<Popped<'_, 'a>, PopError> {
        let mut spin = Backoff::default();
        loop {
            let spinning = spin.spin();
            if !spinning {
                let hdr = self.hdr;
                let r = self.sleep(&hdr.not_empty.0, why, deadline, || self.pop_ready());
                if !r {
                    return Err(PopError::Timeout);
                }
            }
            // Owners are looked at once spinning is over.
            why = match self.try_pop_inner(me, !spinning) {
                Err((PopError::Empty, why)) => why,
                other => return other.map_err(|(e, _)| e),
            };
        }
    }

    /// Whether a push might succeed now (without claiming anything).
    fn try_push_peek(&self) -> Option<PushError> {
        if self.is_closed() {
            return Some(PushError::Closed);
        }
        let pos = self.hdr.tail.0.load(Ordering::SeqCst);
        let (slot, _) = self.slot(pos);
        let (seq, state, pid) = decode(slot.word.load(Ordering::SeqCst));
        let dead_reader = state == READING && !(self.alive)(pid);
        if lap(seq, pos) < 0 && !dead_reader {
            Some(PushError::Full)
        } else {
            None
        }
    }

    /// Whether a pop might find something now (without claiming anything).
    fn pop_ready(&self) -> bool {
        if self.is_closed() {
            return true;
        }
        let pos = self.hdr.head.0.load(Ordering::SeqCst);
        let (slot, _) = self.slot(pos);
        let (seq, state, pid) = decode(slot.word.load(Ordering::SeqCst));
        let d = lap(seq, pos);
        d > 0 || (d == 0 && state != EMPTY && (state != WRITING || !(self.alive)(pid)))
    }

    /// Registers as a waiter, re-checks with `ready`, sleeps on `word`.
    /// Returns `false` when `deadline` passed.
    fn sleep(
        &self,
        w: &Waiters,
        why: Blocked,
        deadline: Option<Deadline>,
        ready: impl Fn() -> bool,
    ) -> bool {
        if deadline.is_some_and(|d| d.has_passed()) {
            return false;
        }
        w.waiting.fetch_add(1, Ordering::SeqCst);
        // If the barrier is not available, a waker's light barrier may not
        // order its publish before its look at `waiting`: never sleep long
        // without looking again.
        let why = if sys::heavy_barrier() {
            why
        } else {
            Blocked::InProgress
        };
        let seen = w.word.load(Ordering::SeqCst);
        let mut ok = true;
        if !ready() {
            // A slot in progress: sleep at most LIVENESS_PERIOD, then look
            // at its owner again.
            let capped = match why {
                Blocked::InProgress => {
                    let cap = Deadline::after(LIVENESS_PERIOD);
                    match (deadline, cap) {
                        (Some(d), Some(c)) if c.remaining() < d.remaining() => Some((c, true)),
                        (Some(d), _) => Some((d, false)),
                        (None, Some(c)) => Some((c, true)),
                        (None, None) => None,
                    }
                }
                Blocked::Plain => deadline.map(|d| (d, false)),
            };
            let woke = sys::wait(&w.word, seen, capped.map(|(d, _)| d));
            if !woke && !capped.is_some_and(|(_, is_cap)| is_cap) {
                ok = false;
            }
        }
        w.waiting.fetch_sub(1, Ordering::SeqCst);
        ok
    }
}

/// A frame taken from the ring, still in its slot: derefs to the frame's
/// bytes, and gives the slot back to the producers of its next lap when it
/// drops (so also when a reader unwinds: a panic in a user's `Deserialize`
/// must not keep the slot forever).
pub(crate) struct Popped<'r, 'a> {
    ring: &'r Ring<'a>,
    slot: &'r Slot,
    pos: u64,
    frame: &'r [u8],
}

impl std::ops::Deref for Popped<'_, '_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.frame
    }
}

impl Drop for Popped<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        let next = word(self.pos + self.ring.cap(), EMPTY, 0);
        self.slot.word.store(next, Ordering::Release);
        self.ring.notify(&self.ring.hdr.not_full.0);
    }
}

/// Copies a frame into a slot as it is.
#[cfg(bingfa_loom)]
fn plain_copy(frame: &[u8], dst: &mut [u8]) {
    dst[..frame.len()].copy_from_slice(frame);
}

#[cfg(bingfa_loom)]
fn copy_into(out: &mut Vec<u8>, frame: &[u8]) {
    out.clear();
    out.extend_from_slice(frame);
}

/// Hints the CPU to fetch the cache lines of `len` bytes at `p` for
/// reading. Only a hint: no memory is accessed as far as the program is
/// concerned (nothing under loom).
#[inline(always)]
fn prefetch_read(p: *const u8, len: usize) {
    #[cfg(all(target_arch = "x86_64", not(bingfa_loom)))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut off = 0;
        while off < len {
            // SAFETY: prefetch never faults and has no effect on the
            // program's memory, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off).cast()) };
            off += 64;
        }
    }
    let _ = (p, len);
}

/// As [`prefetch_read`], for lines about to be written (`prefetchw`, a
/// no-op on CPUs without it).
#[inline(always)]
fn prefetch_write(p: *const u8, len: usize) {
    #[cfg(all(target_arch = "x86_64", not(bingfa_loom)))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        let mut off = 0;
        while off < len {
            // SAFETY: as in `prefetch_read`.
            unsafe { _mm_prefetch::<_MM_HINT_ET0>(p.wrapping_add(off).cast()) };
            off += 64;
        }
    }
    let _ = (p, len);
}

/// How long a blocked put or get keeps trying before it sleeps: a first
/// wait of 2 µs, then a try every 1 µs for 5 µs (yielding the CPU in
/// between, not looking at the ring), then a try after each of 50 yields,
/// then sleep. (Waits that spun on `pause` made a ping-pong on a loaded
/// machine much slower: the spinner kept the CPU its peer needed to
/// answer.)
///
/// Why wait rather than re-check at once: a consumer that has caught up
/// with its producer would otherwise keep reading the very slot its
/// producer is about to write, and every read steals the cache line back,
/// so each message costs the producer a miss inside its claim (a locked
/// instruction, which cannot overlap it). The first wait lets messages
/// pile up, which the consumer then takes in a row, in the cheap regime
/// where the lines it touches are ones the producer is done with (on the
/// 2-core test machine, queue-spsc-64B went from about 0.3x to about 0.5x
/// of a bare ring's throughput). The
/// later tries come at a steady 1 µs rather than ever more spaced out, so
/// that in a ping-pong a reply is seen within a microsecond or two
/// (doubling waits made both sides of a ping-pong wait longer and longer
/// for each other). Sleeping costs the other side a `futex` wake-up
/// system call per message, so a side that keeps up should rather stay
/// awake a little. Under loom: never spins.
#[derive(Default)]
struct Backoff {
    #[cfg(not(bingfa_loom))]
    n: u32,
}

/// The first wait.
#[cfg(not(bingfa_loom))]
const FIRST_WAIT: Duration = Duration::from_micros(2);
/// The waits after it, each followed by a try.
#[cfg(not(bingfa_loom))]
const NEXT_WAIT: Duration = Duration::from_micros(1);
/// Waits (each followed by a try) before the yields.
#[cfg(not(bingfa_loom))]
const WAITS: u32 = 6;
/// Yields (each followed by a try) before sleeping.
#[cfg(not(bingfa_loom))]
const YIELDS: u32 = 50;

impl Backoff {
    #[inline]
    fn spin(&mut self) -> bool {
        #[cfg(not(bingfa_loom))]
        {
            self.n += 1;
            if self.n <= WAITS {
                let wait = if self.n == 1 { FIRST_WAIT } else { NEXT_WAIT };
                let start = std::time::Instant::now();
                // Yields rather than `pause`: when the peer shares this
                // CPU (a loaded machine), it runs meanwhile instead of
                // waiting for the spinner's time slice to end; otherwise
                // a yield returns at once.
                while start.elapsed() < wait {
                    std::thread::yield_now();
                }
                true
            } else if self.n <= WAITS + YIELDS {
                std::thread::yield_now();
                true
            } else {
                false
            }
        }
        #[cfg(bingfa_loom)]
        {
            false
        }
    }
}

/// The bytes a ring over `cap` slots of `slot_bytes` needs, and the offsets
/// of its slots and frames: `(total, slots_at, data_at)`.
#[inline]
pub(crate) fn layout(cap: usize, slot_bytes: usize) -> Option<(usize, usize, usize)> {
    let slots_at = std::mem::size_of::<Header>().next_multiple_of(64);
    let slots_len = cap.checked_mul(std::mem::size_of::<Slot>())?;
    let data_at = slots_at.checked_add(slots_len)?.next_multiple_of(64);
    let total = data_at.checked_add(cap.checked_mul(stride(slot_bytes))?)?;
    Some((total, slots_at, data_at))
}

/// The distance between two slots' frames: whole cache lines, so that
/// neighbouring frames never share one.
#[inline]
pub(crate) fn stride(slot_bytes: usize) -> usize {
    slot_bytes.next_multiple_of(64)
}

/// Rounds a maximum message size up to a slot size (frame header included,
/// a multiple of 8).
pub(crate) fn slot_bytes_for(max_message: usize) -> Option<usize> {
    max_message
        .checked_add(codec::HEADER)?
        .checked_next_multiple_of(8)
}
