//! Cache-line prefetch hints: for the slot a side is likely to claim
//! next, and for the frame it is about to read or write. Only hints: they
//! change no memory (and do nothing under loom).

use super::layout::{Slot, SLOT_HEAD};
use super::Ring;

/// How far ahead of its ticket a producer prefetches (see
/// `Ring::prefetch_ahead`): far enough for the lines to arrive before its
/// claim; the slots ahead of the tail are ones consumers are done with.
pub(super) const PRODUCER_AHEAD: usize = 8;
/// How far ahead a consumer prefetches. The slots just ahead of the head
/// may be ones a producer is writing right now, and taking their lines
/// stalls it; measured anyway (queue-spsc-64B, a consumer faster than its
/// producer, so often caught up with it), 8 was clearly better than 0, 2
/// or 4, and no worse than 16 or 32: a consumer that owns the lines of
/// the slots it is about to take drains the backlog fast, and then leaves
/// the producer alone while it waits.
pub(super) const CONSUMER_AHEAD: usize = 8;

/// The most bytes of a cell prefetched at once: its first two cache lines
/// (the slot's head, then the start of the frame). A frame of unknown
/// length (one ahead, or one about to be read) may be much shorter than
/// its slot (1 KiB by default), and ownership prefetches of lines nobody
/// writes would only pull them back and forth between the two sides; the
/// CPU's own prefetcher follows a longer frame as it is read or written.
pub(super) const CELL_BYTES: usize = 128;
/// The most bytes of a frame prefetched at once: what of [`CELL_BYTES`]
/// follows the slot's head.
pub(super) const FRAME_BYTES: usize = CELL_BYTES - SLOT_HEAD;

impl Ring<'_> {
    /// Hints the CPU to fetch, for writing, the state word and frame of the
    /// slot `ahead` slots after slot `i`: one this side is likely to claim
    /// soon. Its lines then move over while other messages are being
    /// handled, instead of in the middle of that claim (whose locked
    /// instruction cannot overlap a miss).
    ///
    /// Nothing when the ring is too small for `ahead` to be another slot
    /// than those in use now.
    #[inline(always)]
    pub(super) fn prefetch_ahead(&self, i: usize, ahead: usize) {
        if ahead as u64 >= self.cap() {
            return;
        }
        let (slot, bytes) = self.at(self.index_after(i, ahead));
        let slot = (slot as *const Slot).cast::<u8>();
        let frame = self.slot_bytes.min(FRAME_BYTES);
        if bytes.cast_const() == slot.wrapping_add(SLOT_HEAD) {
            // Slot and frame share a cell (shared memory): one range, at
            // most the cell's first CELL_BYTES.
            prefetch_write(slot, SLOT_HEAD + frame);
        } else {
            prefetch_write(slot, 1);
            prefetch_write(bytes, frame);
        }
    }
}

/// Hints the CPU to fetch the cache lines of `len` bytes at `p` for
/// reading. Only a hint: no memory is accessed as far as the program is
/// concerned (nothing under loom).
#[inline(always)]
pub(super) fn prefetch_read(p: *const u8, len: usize) {
    #[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for line in lines(p, len) {
            // SAFETY: prefetch never faults and has no effect on the
            // program's memory, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
        }
    }
    let _ = (p, len);
}

/// As [`prefetch_read`], for lines about to be written: `prefetchw`, which
/// fetches each line for ownership, so that the locked claim and the
/// stores that follow find it writable (a read prefetch brings it shared,
/// and the claim then waits for the other copies to be invalidated). On
/// CPUs without `prefetchw` it falls back to a read prefetch.
///
/// (`_mm_prefetch::<_MM_HINT_ET0>` is no substitute: without the `prfchw`
/// target feature, which the default x86-64 target lacks, it compiles to a
/// read prefetch.)
#[inline(always)]
pub(super) fn prefetch_write(p: *const u8, len: usize) {
    #[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
    {
        if has_prefetchw() {
            for line in lines(p, len) {
                // SAFETY: `prefetchw` exists on this CPU (checked above);
                // like every prefetch it never faults and changes no
                // memory, whatever the address, and it touches no stack
                // or flags.
                unsafe {
                    std::arch::asm!(
                        "prefetchw byte ptr [{0}]",
                        in(reg) line,
                        options(nostack, preserves_flags, readonly)
                    )
                };
            }
        } else {
            prefetch_read(p, len);
        }
    }
    let _ = (p, len);
}

/// Whether the CPU has `prefetchw` (CPUID `0x8000_0001`, ECX bit 8),
/// asked once per process.
#[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
#[inline(always)]
fn has_prefetchw() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    /// 0: not asked yet; 1: yes; 2: no.
    static PREFETCHW: AtomicU8 = AtomicU8::new(0);
    match PREFETCHW.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            #[cold]
            // `__cpuid` is a safe function on recent compilers, an `unsafe
            // fn` on the workspace's oldest supported one.
            #[allow(unused_unsafe)]
            fn ask() -> bool {
                use std::arch::x86_64::__cpuid;
                // Leaf 0x8000_0000 says how far the extended leaves go.
                // SAFETY: `cpuid` exists on every x86-64 CPU.
                let top = unsafe { __cpuid(0x8000_0000) }.eax;
                // SAFETY: as above; this leaf exists when `top` reaches it.
                let yes = top >= 0x8000_0001 && unsafe { __cpuid(0x8000_0001) }.ecx & (1 << 8) != 0;
                PREFETCHW.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
                yes
            }
            ask()
        }
    }
}

/// The cache lines `len` bytes at `p` touch (at least the first): the
/// address of each line's first byte (never dereferenced).
#[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
#[inline(always)]
fn lines(p: *const u8, len: usize) -> impl Iterator<Item = *const i8> {
    let skip = p as usize & 63;
    let mut off = 0;
    let end = skip + len.max(1);
    std::iter::from_fn(move || {
        let line = (off < end).then(|| p.wrapping_add(off).wrapping_sub(skip).cast());
        off += 64;
        line
    })
}

#[cfg(all(test, target_arch = "x86_64", not(bingfa_loom), not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn lines_are_every_line_a_range_touches() {
        let base = 0x1000usize;
        let at = |off: usize, len: usize| -> Vec<usize> {
            lines((base + off) as *const u8, len)
                .map(|p| p as usize - base)
                .collect()
        };
        assert_eq!(at(0, 0), [0]);
        assert_eq!(at(0, 64), [0]);
        assert_eq!(at(0, 65), [0, 64]);
        // A frame 16 bytes into its cell: 80 bytes end in the second line,
        // 120 bytes in the third (which a walk from the unaligned start in
        // steps of 64 would miss).
        assert_eq!(at(16, 80), [0, 64]);
        assert_eq!(at(16, 120), [0, 64, 128]);
        assert_eq!(at(63, 2), [0, 64]);
    }

    #[test]
    fn prefetches_of_any_address_are_harmless() {
        // Hints only: never a fault, even for addresses nothing maps.
        let v = [0u8; 200];
        prefetch_write(v.as_ptr(), v.len());
        prefetch_read(v.as_ptr(), v.len());
        prefetch_write(std::ptr::null(), 4096);
        prefetch_read(64 as *const u8, 128);
        assert_eq!(v, [0u8; 200]);
    }
}
