//! What a ring looks like in memory: the shared [`Header`], the [`Slot`]s,
//! and where each part lies in a shared-memory segment.

use bingfa_sync::raw::atomic::{AtomicU32, AtomicU64};
use bingfa_sync::raw::cell::UnsafeCell;

use super::word::{word, EMPTY};
use crate::codec;

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
    pub(super) closed: AtomicU32,
    pub(super) tail: Padded<AtomicU64>,
    pub(super) head: Padded<AtomicU64>,
    pub(super) not_empty: Padded<Waiters>,
    pub(super) not_full: Padded<Waiters>,
}

/// A futex word and the number of processes sleeping on it.
#[repr(C)]
pub(crate) struct Waiters {
    pub(super) word: AtomicU32,
    pub(super) waiting: AtomicU32,
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
    pub(super) word: AtomicU64,
    pub(super) len: UnsafeCell<u32>,
}

impl Slot {
    pub(crate) fn new(i: u64) -> Slot {
        Slot {
            word: AtomicU64::new(word(i, EMPTY, 0)),
            len: UnsafeCell::new(0),
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
