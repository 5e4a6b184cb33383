//! The producer side of the [`Ring`]: puts, without and with blocking,
//! and the crash-test hook that leaves a put half done.

use bingfa_sync::raw::atomic::Ordering;
use bingfa_sync::raw::Deadline;

use super::prefetch::PRODUCER_AHEAD;
use super::wait::{Backoff, Blocked};
use super::word::{decode, lap, word, EMPTY, FULL, READING, WRITING};
use super::{PushError, Ring};

impl Ring<'_> {
    /// Puts one frame without blocking.
    #[cfg(all(test, bingfa_loom))]
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
                self.prefetch_ahead(i, PRODUCER_AHEAD);
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
                    matches!(self.try_push_peek(), Some(PushError::Full)).then_some(why)
                });
                if !r {
                    return Err(PushError::Timeout);
                }
            }
            // Owners are looked at once spinning is over.
            match self.try_push_inner(frame, me, copy, !spinning) {
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

/// Copies a frame into a slot as it is.
#[cfg(all(test, bingfa_loom))]
fn plain_copy(frame: &[u8], dst: &mut [u8]) {
    dst[..frame.len()].copy_from_slice(frame);
}
