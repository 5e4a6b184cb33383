//! The producer side of the [`Ring`]: puts, without and with blocking,
//! and the crash-test hook that leaves a put half done.

use bingfa_sync::raw::atomic::Ordering;
use bingfa_sync::raw::Deadline;

use super::wait::{Backoff, Blocked};
use super::layout::Slot;
use super::word::{decode, lap, word, ABANDONED_PID, EMPTY, FULL, READING, WRITING};
use super::{PushError, Ring};

impl Ring<'_> {
    /// Puts one frame without blocking.
    #[cfg(all(test, bingfa_loom))]
    pub(crate) fn try_push(&self, frame: &[u8], me: u32) -> Result<(), PushError> {
        self.try_push_with(me, copy_of(frame))
    }

    /// Puts one frame without blocking. `write(dst)` writes the frame into
    /// the slot once the slot is claimed (`dst` is the whole slot) and
    /// returns its length, or `None` if it could not: the slot is then
    /// left as a hole that consumers skip, and the put fails with
    /// [`PushError::Unwritten`]. It is called at most once.
    #[inline(always)]
    pub(crate) fn try_push_with(
        &self,
        me: u32,
        mut write: impl FnMut(&mut [u8]) -> Option<usize>,
    ) -> Result<(), PushError> {
        self.try_push_inner(me, &mut write, true)
            .map_err(|(e, _)| e)
    }

    /// One try at a put. `check_owner`: whether a slot held `READING` by
    /// another process makes it look whether that process still exists (a
    /// `kill` and a read of `/proc`, microseconds): not on the first try of
    /// a blocking put, which would rather spin a little first.
    // Always: see "One body a put, one body a get" in `ring`.
    #[inline(always)]
    fn try_push_inner(
        &self,
        me: u32,
        write: &mut impl FnMut(&mut [u8]) -> Option<usize>,
        check_owner: bool,
    ) -> Result<(), (PushError, Blocked)> {
        if self.is_closed() {
            return Err((PushError::Closed, Blocked::Plain));
        }
        // A revoked lease's holder in the middle of a claim: like a slot
        // in progress (it ends within instructions unless the holder lost
        // its CPU).
        let Some(lease) = self.producer_claim(me) else {
            return Err((PushError::Full, Blocked::InProgress));
        };
        let tail = &self.hdr.tail.0;
        loop {
            let pos = tail.load(Ordering::Relaxed);
            let i = self.index(pos);
            let (slot, bytes) = self.at(i);
            let w = slot.word.load(Ordering::Acquire);
            let (seq, state, pid) = decode(w);
            let d = lap(seq, pos);
            if d == 0 && state == EMPTY {
                // The frame's lines, for writing, alongside the claim.
                self.prefetch_slot(i, true);
                if !lease.take(slot, w, pos, me) {
                    continue;
                }
                // Claimed: the lease holder's mark ends here.
                drop(lease);
                // The tail is a hint (see "Tickets" in the module docs): a
                // plain store, no second locked instruction.
                tail.store(pos + 1, Ordering::Relaxed);
                self.producer_prefetch_ahead(i);
                // SAFETY: the claim gave this producer the slot: no
                // consumer reads it until the FULL store below, and the
                // consumer of the previous lap finished with it before
                // storing the EMPTY we acquired. `bytes` is valid for
                // `slot_bytes` bytes.
                let dst = unsafe { std::slice::from_raw_parts_mut(bytes, self.slot_bytes) };
                // A writer that fails or unwinds leaves a hole, not a slot
                // held WRITING by a live process (which would hold up every
                // consumer for as long as this process lives).
                let hole = Hole {
                    ring: self,
                    slot,
                    pos,
                };
                let Some(len) = write(dst) else {
                    return Err((PushError::Unwritten, Blocked::Plain));
                };
                // (A panic here, too, leaves the hole.)
                assert!(len <= self.slot_bytes, "frame larger than a slot");
                std::mem::forget(hole);
                slot.len.with_mut(|l| {
                    // SAFETY: as above, this producer owns the slot.
                    unsafe { *l = len as u32 }
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
        let Some(lease) = self.producer_claim(me) else {
            return false;
        };
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
            if !lease.take(slot, w, pos, me) {
                continue;
            }
            tail.store(pos + 1, Ordering::Relaxed);
            let upto = upto.min(frame.len());
            // SAFETY: the slot is ours, as in `try_push`.
            unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), bytes, upto) };
            return true;
        }
    }

    /// Puts one frame, waiting while the ring is full, until `deadline`.
    #[cfg(all(test, bingfa_loom))]
    pub(crate) fn push(
        &self,
        frame: &[u8],
        me: u32,
        deadline: Option<Deadline>,
    ) -> Result<(), PushError> {
        self.push_with(me, deadline, copy_of(frame))
    }

    /// Puts one frame, waiting while the ring is full, until `deadline`;
    /// `write` as for [`try_push_with`](Ring::try_push_with).
    #[inline(always)]
    pub(crate) fn push_with(
        &self,
        me: u32,
        deadline: Option<Deadline>,
        mut write: impl FnMut(&mut [u8]) -> Option<usize>,
    ) -> Result<(), PushError> {
        match self.try_push_inner(me, &mut write, false) {
            Err((PushError::Full, _)) => self.push_slow(me, deadline, &mut write),
            other => other.map_err(|(e, _)| e),
        }
    }

    /// [`push_with`](Ring::push_with) once the first try found the ring
    /// full: spin, then sleep, and try again.
    #[cold]
    #[inline(never)]
    fn push_slow(
        &self,
        me: u32,
        deadline: Option<Deadline>,
        write: &mut impl FnMut(&mut [u8]) -> Option<usize>,
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
                    matches!(self.try_push_peek(), Some(PushError::Full)).then_some(why)
                });
                if !r {
                    return Err(PushError::Timeout);
                }
            }
            // Owners are looked at once spinning is over.
            match self.try_push_inner(me, write, !spinning) {
                // While spinning, a short timeout must not wait out the
                // whole backoff (its yields can take milliseconds on a
                // loaded machine).
                Err((PushError::Full, _))
                    if spinning && deadline.is_some_and(|d| d.has_passed()) =>
                {
                    return Err(PushError::Timeout)
                }
                Err((PushError::Full, _)) => {}
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
        if (lap(seq, pos) < 0 && !dead_reader) || self.lease_blocks() {
            Some(PushError::Full)
        } else {
            None
        }
    }
}

/// A writer that copies `frame` into the slot as it is.
#[cfg(test)]
pub(crate) fn copy_of(frame: &[u8]) -> impl FnMut(&mut [u8]) -> Option<usize> + '_ {
    move |dst| {
        dst[..frame.len()].copy_from_slice(frame);
        Some(frame.len())
    }
}

/// A claimed slot whose frame is not written yet. Dropped before it is
/// defused (`mem::forget`, once the frame is written), it publishes the
/// slot as a hole (`FULL` by [`ABANDONED_PID`], as a consumer marks the
/// slot of a producer that died mid-put), which consumers skip, so that a
/// put whose writer fails or panics loses no later message and holds up
/// no consumer.
struct Hole<'r, 'a> {
    ring: &'r Ring<'a>,
    slot: &'r Slot,
    pos: u64,
}

impl Drop for Hole<'_, '_> {
    fn drop(&mut self) {
        self.slot
            .word
            .store(word(self.pos, FULL, ABANDONED_PID), Ordering::Release);
        self.ring.notify(&self.ring.hdr.not_empty.0);
    }
}
