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
//! A ticket is claimed on the **slot** (one CAS that also records the pid),
//! and `tail`/`head` are advanced afterwards by the claimer or by any other
//! party that finds the slot claimed ("helping"). So a process killed at any
//! point leaves either an unclaimed slot, or a claimed one whose state word
//! names it: a consumer that finds `WRITING` by a process that no longer
//! exists marks it `ABANDONED` and skips it; a producer that finds `READING`
//! by a dead consumer frees it (that one message died with its consumer).
//! The payload is written before the `Release` store that publishes `FULL`,
//! and read after the `Acquire` that sees it, so no consumer ever reads a
//! torn or partial message; the frame's checksum catches anything else.
//!
//! Blocking uses two 32-bit futex words (`not_empty`, `not_full`) with
//! waiter counts, in the same shared memory: a waiter registers, re-checks,
//! and sleeps on the word; a waker publishes, fences, and wakes only if
//! someone registered. Waits caused by a slot in progress (`WRITING`,
//! `READING`) are capped so that the liveness of its owner is re-checked.
//!
//! The same code runs on shared memory (real) and on heap memory with
//! loom's atomics and parking lot (`--cfg bingfa_loom`), threads standing in
//! for processes.

use std::time::Duration;

use bingfa_sync::raw::atomic::{fence, AtomicU32, AtomicU64, Ordering};
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

    fn cap(&self) -> u64 {
        self.hdr.cap
    }

    fn slot(&self, pos: u64) -> (&Slot, *mut u8) {
        let i = (pos % self.cap()) as usize;
        // SAFETY: i < cap, so the frame lies inside the data area.
        (&self.slots[i], unsafe { self.data.add(i * self.stride) })
    }

    /// Largest frame a slot holds.
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
    pub(crate) fn try_push(&self, frame: &[u8], me: u32) -> Result<(), PushError> {
        self.try_push_inner(frame, me).map_err(|(e, _)| e)
    }

    fn try_push_inner(&self, frame: &[u8], me: u32) -> Result<(), (PushError, Blocked)> {
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
                let _ = tail.compare_exchange(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed);
                // SAFETY: the CAS gave this producer the slot: no consumer
                // reads it until the FULL store below, and the consumer of
                // the previous lap finished with it before storing the EMPTY
                // we acquired.
                unsafe {
                    std::ptr::copy_nonoverlapping(frame.as_ptr(), bytes, frame.len());
                }
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
            if state == READING && !(self.alive)(pid) {
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
            let _ = tail.compare_exchange(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed);
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
        let _ = head.compare_exchange(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed);
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
    pub(crate) fn try_pop(&self, out: &mut Vec<u8>, me: u32) -> Result<(), PopError> {
        self.try_pop_inner(out, me).map_err(|(e, _)| e)
    }

    fn try_pop_inner(&self, out: &mut Vec<u8>, me: u32) -> Result<(), (PopError, Blocked)> {
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
                let _ = head.compare_exchange(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed);
                // SAFETY: the CAS gave this consumer the slot, published by
                // the producer's Release store of FULL that we acquired.
                let len = slot.len.with(|l| unsafe { *l }) as usize;
                let len = len.min(self.slot_bytes);
                out.clear();
                // SAFETY: `bytes` is valid for `slot_bytes` reads; `len` is
                // clamped to it (a corrupt length gives a corrupt frame,
                // which the codec rejects, never an out-of-bounds read).
                out.extend_from_slice(unsafe { std::slice::from_raw_parts(bytes, len) });
                slot.word
                    .store(word(pos + self.cap(), EMPTY, 0), Ordering::Release);
                self.notify(&self.hdr.not_full.0);
                return Ok(());
            }
            if head.load(Ordering::Relaxed) != pos {
                continue;
            }
            if d == 0 && state == WRITING {
                if !(self.alive)(pid) {
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
    /// slot changed: the SeqCst fence here pairs with the one a sleeper
    /// issues between registering and re-reading the slots (Dekker), so
    /// either it sees the change or this load sees it registered. (A
    /// SeqCst RMW on the slot would do on x86, but loom models SeqCst
    /// accesses as AcqRel and only fences as SeqCst, and the fence is what
    /// the model can check.)
    #[inline]
    fn notify(&self, w: &Waiters) {
        fence(Ordering::SeqCst);
        if w.waiting.load(Ordering::SeqCst) > 0 {
            w.word.fetch_add(1, Ordering::SeqCst);
            sys::wake(&w.word, 1);
        }
    }

    /// Puts one frame, waiting while the ring is full, until `deadline`.
    pub(crate) fn push(
        &self,
        frame: &[u8],
        me: u32,
        deadline: Option<Deadline>,
    ) -> Result<(), PushError> {
        let mut spin = Backoff::default();
        loop {
            match self.try_push_inner(frame, me) {
                Err((PushError::Full, _)) => {}
                other => return other.map_err(|(e, _)| e),
            };
            // A full ring may turn into one with a slot to reclaim without
            // any wake-up: a consumer that claims the oldest message and
            // dies notifies nobody. So a blocked producer always re-checks
            // each LIVENESS_PERIOD (loom found the lost producer).
            let why = Blocked::InProgress;
            if spin.spin() {
                continue;
            }
            let hdr = self.hdr;
            let r = self.sleep(&hdr.not_full.0, why, deadline, || {
                !matches!(self.try_push_peek(), Some(PushError::Full))
            });
            if !r {
                return Err(PushError::Timeout);
            }
        }
    }

    /// Takes one frame, waiting while the ring is empty, until `deadline`.
    pub(crate) fn pop(
        &self,
        out: &mut Vec<u8>,
        me: u32,
        deadline: Option<Deadline>,
    ) -> Result<(), PopError> {
        let mut spin = Backoff::default();
        loop {
            let why = match self.try_pop_inner(out, me) {
                Err((PopError::Empty, why)) => why,
                other => return other.map_err(|(e, _)| e),
            };
            if spin.spin() {
                continue;
            }
            let hdr = self.hdr;
            let r = self.sleep(&hdr.not_empty.0, why, deadline, || self.pop_ready());
            if !r {
                return Err(PopError::Timeout);
            }
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
        fence(Ordering::SeqCst);
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

/// How long a blocked put or get keeps trying before it sleeps: a short
/// spin, then yields. Sleeping costs the other side a `futex` wake-up
/// system call per message, so a consumer that keeps up with its producer
/// should rather stay awake a little. Under loom: never spins.
#[derive(Default)]
struct Backoff {
    #[cfg(not(bingfa_loom))]
    n: u32,
}

impl Backoff {
    #[inline]
    fn spin(&mut self) -> bool {
        #[cfg(not(bingfa_loom))]
        {
            self.n += 1;
            if self.n <= 64 {
                std::hint::spin_loop();
                true
            } else if self.n <= 64 + 50 {
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
pub(crate) fn layout(cap: usize, slot_bytes: usize) -> Option<(usize, usize, usize)> {
    let slots_at = std::mem::size_of::<Header>().next_multiple_of(64);
    let slots_len = cap.checked_mul(std::mem::size_of::<Slot>())?;
    let data_at = slots_at.checked_add(slots_len)?.next_multiple_of(64);
    let total = data_at.checked_add(cap.checked_mul(stride(slot_bytes))?)?;
    Some((total, slots_at, data_at))
}

/// The distance between two slots' frames: whole cache lines, so that
/// neighbouring frames never share one.
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
