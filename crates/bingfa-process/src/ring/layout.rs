//! What a ring looks like in memory: the shared [`Header`], the [`Slot`]s,
//! and where each part lies in a shared-memory segment.

use bingfa_sync::raw::atomic::{AtomicU32, AtomicU64, Ordering};
use bingfa_sync::raw::cell::UnsafeCell;

use super::word::{word, EMPTY, WRITING};
use crate::codec;

/// The unit a ring lays its parts out in: two cache lines, 128 bytes. CPUs
/// fetch lines in aligned pairs (Intel's adjacent-line prefetcher; AMD
/// Zen's L2 up/down prefetcher fetches the neighbouring line as well), so
/// two parts written by different processes must not even share a pair:
/// a read of one would pull in the other, and its writer would then wait
/// for that copy to be invalidated.
pub(crate) const PAIR: usize = 128;

/// A part of the header alone in its own [`PAIR`] of cache lines.
#[repr(C, align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// The ring's shared header: a read-mostly part (sizes, closed flag), then
/// one part per side for its ticket counter, then one part per futex word
/// with its waiter count, then the producer lease and its holder's mark,
/// each alone in its [`PAIR`] of lines.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) cap: u64,
    pub(crate) slot_bytes: u64,
    /// The largest encoded item the queue's maker allowed (at most
    /// `slot_bytes - codec::HEADER`: a slot is rounded up to 8 bytes).
    pub(crate) max_message: u64,
    pub(super) closed: AtomicU32,
    pub(super) tail: Padded<AtomicU64>,
    pub(super) head: Padded<AtomicU64>,
    pub(super) not_empty: Padded<Waiters>,
    pub(super) not_full: Padded<Waiters>,
    /// The producer lease (see `lease`): read by every put.
    pub(super) lease: Padded<AtomicU64>,
    /// The lease holder's mark of a claim in progress: written by the
    /// holder only, read by the producer that revokes its lease.
    pub(super) busy: Padded<AtomicU64>,
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
    pub(crate) fn new(cap: u64, slot_bytes: u64, max_message: u64) -> Header {
        Header {
            cap,
            slot_bytes,
            max_message,
            closed: AtomicU32::new(0),
            tail: Padded(AtomicU64::new(0)),
            head: Padded(AtomicU64::new(0)),
            not_empty: Padded(Waiters::new()),
            not_full: Padded(Waiters::new()),
            lease: Padded(AtomicU64::new(0)),
            busy: Padded(AtomicU64::new(0)),
        }
    }
}

/// One slot's state word, and its frame length (an `UnsafeCell`, so that
/// loom checks that no reader ever overlaps the writer). In shared memory each slot
/// heads its own cell (see [`cell`]): the state word, the length and the
/// frame's first bytes share one cache line, so a message moves between
/// two processes in as few lines as its size allows (two for a 64-byte
/// message), and no two slots share a line or a [`PAIR`] (a producer
/// publishing slot `i + 1` does not steal the line a consumer is reading
/// slot `i` from, nor one the hardware prefetcher fetched with it).
#[repr(C)]
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

    /// Claims the slot for ticket `pos`, moving it from the state word `w`
    /// that was read to `state` (`WRITING` or `READING`) by process `me`:
    /// the one locked instruction of a put or a get. `Acquire`, so that
    /// the claimer sees what the previous owner did to the slot. Whether
    /// the claim succeeded.
    #[inline]
    pub(super) fn claim(&self, w: u64, pos: u64, state: u64, me: u32) -> bool {
        self.word
            .compare_exchange(
                w,
                word(pos, state, me),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }
}

impl Slot {
    /// Claims the slot for ticket `pos` with a plain store: only for a
    /// producer holding the lease (see `lease`), which no other producer
    /// races, on a slot it saw `EMPTY` at this lap (no consumer changes an
    /// empty slot). The `Acquire` load that saw it `EMPTY` already orders
    /// the previous owner's accesses before this producer's.
    #[inline]
    pub(super) fn claim_alone(&self, pos: u64, me: u32) {
        self.word.store(word(pos, WRITING, me), Ordering::Relaxed);
    }
}

/// The bytes a cell gives its [`Slot`] before the frame.
pub(crate) const SLOT_HEAD: usize = 16;

// The shared-memory layout holds a `Slot` in `SLOT_HEAD` bytes at the start
// of each (64-aligned) cell. (Loom's atomics are larger: loom rings keep
// their slots in a separate array, and a `Queue` in shared memory is not
// usable under loom, whose atomics only work inside a model anyway.)
#[cfg(not(bingfa_loom))]
const _: () =
    assert!(std::mem::size_of::<Slot>() <= SLOT_HEAD && std::mem::align_of::<Slot>() <= SLOT_HEAD);

/// The bytes of one cell: a slot's head and its frame of `slot_bytes`,
/// rounded up to whole [`PAIR`]s of cache lines (so that neighbouring
/// cells never share a line, nor a pair the prefetcher fetches as one).
/// `None` on overflow.
#[inline]
pub(crate) fn cell(slot_bytes: usize) -> Option<usize> {
    SLOT_HEAD
        .checked_add(slot_bytes)?
        .checked_next_multiple_of(PAIR)
}

/// Where the cells start in a ring's shared memory: after the header, on
/// a [`PAIR`] boundary.
pub(crate) const CELLS_AT: usize = std::mem::size_of::<Header>().next_multiple_of(PAIR);

/// The bytes a ring over `cap` slots of `slot_bytes` needs in shared
/// memory: the header, then `cap` cells from [`CELLS_AT`]. `None` on
/// overflow.
#[inline]
pub(crate) fn layout(cap: usize, slot_bytes: usize) -> Option<usize> {
    CELLS_AT.checked_add(cap.checked_mul(cell(slot_bytes)?)?)
}

/// Rounds a maximum message size up to a slot size (frame header included,
/// a multiple of 8).
pub(crate) fn slot_bytes_for(max_message: usize) -> Option<usize> {
    max_message
        .checked_add(codec::HEADER)?
        .checked_next_multiple_of(8)
}
