//! Cache-line prefetch hints: for the slot a side is likely to claim
//! next, and for the frame it is about to read or write. Only hints: they
//! change no memory (and do nothing under loom).

use super::layout::Slot;
use super::Ring;

/// How far ahead of its ticket a producer prefetches (see
/// `Ring::prefetch_ahead`): far enough for the lines to arrive before its
/// claim; the slots ahead of the tail are ones consumers are done with.
pub(super) const PRODUCER_AHEAD: u64 = 8;
/// How far ahead a consumer prefetches: little, since the slots just ahead
/// of the head may be the ones a producer is writing right now (taking
/// their lines would stall it).
pub(super) const CONSUMER_AHEAD: u64 = 2;

impl Ring<'_> {
    /// Hints the CPU to fetch, for writing, the state word and frame of the
    /// slot `ahead` tickets after `pos`: one this side is likely to claim
    /// soon. Its lines then move over while other messages are being
    /// handled, instead of in the middle of that claim (whose locked
    /// instruction cannot overlap a miss).
    #[inline(always)]
    pub(super) fn prefetch_ahead(&self, pos: u64, ahead: u64) {
        let (slot, bytes) = self.slot(pos + ahead);
        prefetch_write((slot as *const Slot).cast(), 1);
        prefetch_write(bytes, self.slot_bytes);
    }
}

/// Hints the CPU to fetch the cache lines of `len` bytes at `p` for
/// reading. Only a hint: no memory is accessed as far as the program is
/// concerned (nothing under loom).
#[inline(always)]
pub(super) fn prefetch_read(p: *const u8, len: usize) {
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
pub(super) fn prefetch_write(p: *const u8, len: usize) {
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
