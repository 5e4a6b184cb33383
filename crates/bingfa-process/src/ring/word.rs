//! A slot's state word, `[seq: 32 | state: 2 | pid: 30]` (see the
//! protocol in the parent module): its states, and its encoding.

pub(super) const EMPTY: u64 = 0;
pub(super) const WRITING: u64 = 1;
pub(super) const FULL: u64 = 2;
pub(super) const READING: u64 = 3;
const PID_MASK: u64 = (1 << 30) - 1;
/// `FULL` with this pid: a hole left by a producer that died mid-put.
pub(super) const ABANDONED_PID: u32 = PID_MASK as u32;

#[inline]
pub(super) fn word(pos: u64, state: u64, pid: u32) -> u64 {
    ((pos as u32 as u64) << 32) | (state << 30) | (pid as u64 & PID_MASK)
}

#[inline]
pub(super) fn decode(w: u64) -> (u32, u64, u32) {
    ((w >> 32) as u32, (w >> 30) & 3, (w & PID_MASK) as u32)
}

/// Lap distance of a slot's `seq` from ticket `pos` (0: this lap).
#[inline]
pub(super) fn lap(seq: u32, pos: u64) -> i32 {
    seq.wrapping_sub(pos as u32) as i32
}
