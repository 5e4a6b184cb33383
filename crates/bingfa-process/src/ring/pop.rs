//! The consumer side of the [`Ring`]: gets, without and with blocking,
//! the [`Popped`] frame they hand out in its slot, and the test hooks
//! that leave a get half done or damage a frame.

use bingfa_sync::raw::atomic::Ordering;
use bingfa_sync::raw::Deadline;

use super::layout::Slot;
use super::prefetch::CONSUMER_AHEAD;
use super::wait::{Backoff, Blocked};
use super::word::{decode, lap, word, ABANDONED_PID, EMPTY, FULL, READING, WRITING};
use super::{PopError, Ring};

impl<'a> Ring<'a> {
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
        if !slot.claim(w, pos, READING, me) {
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
    #[cfg(all(test, bingfa_loom))]
    pub(crate) fn try_pop(&self, out: &mut Vec<u8>, me: u32) -> Result<(), PopError> {
        self.try_pop_slot(me).map(|f| copy_into(out, &f))
    }

    /// Takes one frame without blocking. The frame stays in its slot
    /// (no copy), held for this consumer until the returned [`Popped`]
    /// drops.
    #[inline(always)]
    pub(crate) fn try_pop_slot(&self, me: u32) -> Result<Popped<'_, 'a>, PopError> {
        self.try_pop_inner(me, true).map_err(|(e, _)| e)
    }

    /// One try at a get; `check_owner` as for `try_push_inner`, for a slot
    /// held `WRITING`.
    // Always: see "One body a put, one body a get" in `ring`.
    #[inline(always)]
    fn try_pop_inner(
        &self,
        me: u32,
        check_owner: bool,
    ) -> Result<Popped<'_, 'a>, (PopError, Blocked)> {
        let head = &self.hdr.head.0;
        loop {
            let pos = head.load(Ordering::Relaxed);
            let i = self.index(pos);
            let (slot, bytes) = self.at(i);
            let w = slot.word.load(Ordering::Acquire);
            if w == word(pos, FULL, 0) {
                // The common case first, with one comparison: published
                // at this lap, not taken yet. Start fetching the frame's
                // lines now, so that their misses overlap the claim's
                // instead of following it.
                self.prefetch_slot(i, false);
                if !slot.claim(w, pos, READING, me) {
                    continue;
                }
                return Ok(self.took(pos, i, slot, bytes));
            }
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
                // Published, but with a pid no producer writes (a stray
                // write into the state word): take it anyway; the frame's
                // checksum judges what it holds.
                if !slot.claim(w, pos, READING, me) {
                    continue;
                }
                return Ok(self.took(pos, i, slot, bytes));
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

    /// The frame of ticket `pos` (in slot `i`, its frame at `bytes`), just
    /// claimed `READING` by this consumer.
    #[inline(always)]
    fn took<'r>(&'r self, pos: u64, i: usize, slot: &'r Slot, bytes: *mut u8) -> Popped<'r, 'a> {
        // A hint, as the tail is for producers.
        self.hdr.head.0.store(pos + 1, Ordering::Relaxed);
        self.prefetch_ahead(i, CONSUMER_AHEAD);
        // SAFETY: the CAS gave this consumer the slot, published by the
        // producer's Release store of FULL that we acquired.
        let len = slot.len.with(|l| unsafe { *l }) as usize;
        let len = len.min(self.slot_bytes);
        // SAFETY: `bytes` is valid for `slot_bytes` reads; `len` is clamped
        // to it (a corrupt length gives a corrupt frame, which the codec
        // rejects, never an out-of-bounds read). The slot is ours until the
        // `Popped` drops: no producer writes it meanwhile.
        let frame = unsafe { std::slice::from_raw_parts(bytes, len) };
        Popped {
            ring: self,
            slot,
            pos,
            frame,
            bytes,
        }
    }

    /// Takes one frame into `out` (cleared first), waiting while the ring
    /// is empty, until `deadline`.
    #[cfg(all(test, bingfa_loom))]
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
    #[inline(always)]
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
                let r = self.sleep(&hdr.not_empty.0, why, deadline, || self.pop_blocked());
                if !r {
                    return Err(PopError::Timeout);
                }
            }
            // Owners are looked at once spinning is over.
            why = match self.try_pop_inner(me, !spinning) {
                // As in `push_slow`: a timeout ends the backoff early.
                Err((PopError::Empty, _))
                    if spinning && deadline.is_some_and(|d| d.has_passed()) =>
                {
                    return Err(PopError::Timeout)
                }
                Err((PopError::Empty, why)) => why,
                other => return other.map_err(|(e, _)| e),
            };
        }
    }

    /// `None` if a pop might find something now (without claiming
    /// anything); else what blocks it: a slot a live producer is writing
    /// ([`Blocked::InProgress`]: it may die before it notifies), or an
    /// empty ring.
    ///
    /// A slot being written blocks even once the ring is closed: the put
    /// began before the close and its message will be there to take (a
    /// closed ring is otherwise always "ready", to report `Closed`, and a
    /// consumer would spin on a stopped producer's slot instead of
    /// sleeping).
    fn pop_blocked(&self) -> Option<Blocked> {
        let pos = self.hdr.head.0.load(Ordering::SeqCst);
        let (slot, _) = self.slot(pos);
        let (seq, state, pid) = decode(slot.word.load(Ordering::SeqCst));
        let d = lap(seq, pos);
        let writing = d == 0 && state == WRITING && (self.alive)(pid);
        if writing {
            Some(Blocked::InProgress)
        } else if self.is_closed() || d > 0 || (d == 0 && state != EMPTY) {
            None
        } else {
            Some(Blocked::Plain)
        }
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
    /// Where `frame` starts, with the provenance to write it (for
    /// [`Ring::write_back_lines`], once `frame` is no longer read).
    bytes: *mut u8,
}

impl std::ops::Deref for Popped<'_, '_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.frame
    }
}

impl Drop for Popped<'_, '_> {
    // Always: see "One body a put, one body a get" in `ring`.
    #[inline(always)]
    fn drop(&mut self) {
        let len = self.frame.len();
        // SAFETY: this consumer still holds the slot (READING): no
        // producer touches it until the EMPTY store below; `bytes` is
        // valid for writes of `len` bytes (`len` is clamped to the slot in
        // `took`), and `frame`, the only reference into it, is not read
        // again.
        unsafe { self.ring.write_back_lines(self.bytes, len) };
        let next = word(self.pos + self.ring.cap(), EMPTY, 0);
        self.slot.word.store(next, Ordering::Release);
        self.ring.notify(&self.ring.hdr.not_full.0);
    }
}

#[cfg(all(test, bingfa_loom))]
fn copy_into(out: &mut Vec<u8>, frame: &[u8]) {
    out.clear();
    out.extend_from_slice(frame);
}
