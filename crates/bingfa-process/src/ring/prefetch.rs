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

impl Ring<'_> {
    /// Hints the CPU to fetch the lines of slot `i`'s cell a put or get
    /// touches first: for writing (`prefetchw`) if `write`, else for
    /// reading. One or two hints, no loop: this runs on every put and get.
    ///
    /// At most the cell's first two lines, one `PAIR` (cells start on a
    /// pair): the slot's head and the start of the frame. A frame of
    /// unknown length (one ahead, or one about to be read) may be much
    /// shorter than its slot (1 KiB by default), and ownership prefetches
    /// of lines nobody writes would only pull them back and forth between
    /// the two sides; the CPU's own prefetcher follows a longer frame as it
    /// is read or written.
    #[inline(always)]
    pub(super) fn prefetch_slot(&self, i: usize, write: bool) {
        let (slot, _bytes) = self.at(i);
        let cell = (slot as *const Slot).cast::<u8>();
        // Slot and frame share a cell in shared memory (loom's rings,
        // where they do not, prefetch nothing).
        #[cfg(not(bingfa_loom))]
        debug_assert_eq!(_bytes.cast_const(), cell.wrapping_add(SLOT_HEAD));
        let second = SLOT_HEAD + self.slot_bytes > 64;
        if write && has_prefetchw() {
            prefetch_line_write(cell);
            if second {
                prefetch_line_write(cell.wrapping_add(64));
            }
        } else {
            prefetch_line_read(cell);
            if second {
                prefetch_line_read(cell.wrapping_add(64));
            }
        }
    }

    /// Hints the CPU to fetch, for writing, the cell of the slot `ahead`
    /// slots after slot `i`: one this side is likely to claim soon. Its
    /// lines then move over while other messages are being handled,
    /// instead of in the middle of that claim (whose locked instruction
    /// cannot overlap a miss).
    ///
    /// Nothing when the ring is too small for `ahead` to be another slot
    /// than those in use now.
    #[inline(always)]
    pub(super) fn prefetch_ahead(&self, i: usize, ahead: usize) {
        if (ahead as u64) < self.cap() {
            self.prefetch_slot(self.index_after(i, ahead), true);
        }
    }
}

/// Hints the CPU to fetch the cache line at `p` for reading. Only a hint:
/// no memory is accessed as far as the program is concerned (nothing under
/// loom).
#[inline(always)]
fn prefetch_line_read(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetch never faults and has no effect on the program's
        // memory, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
    }
    let _ = p;
}

/// As [`prefetch_line_read`], for a line about to be written: `prefetchw`,
/// which fetches the line for ownership, so that the locked claim and the
/// stores that follow find it writable (a read prefetch brings it shared,
/// and the claim then waits for the other copies to be invalidated). Only
/// on CPUs that have it: the caller checks [`has_prefetchw`] (once for the
/// lines of a cell).
///
/// (`_mm_prefetch::<_MM_HINT_ET0>` is no substitute: without the `prfchw`
/// target feature, which the default x86-64 target lacks, it compiles to a
/// read prefetch.)
#[inline(always)]
fn prefetch_line_write(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
    {
        debug_assert!(has_prefetchw());
        // SAFETY: `prefetchw` exists on this CPU (the caller checked);
        // like every prefetch it never faults and changes no memory,
        // whatever the address, and it touches no stack or flags.
        unsafe {
            std::arch::asm!(
                "prefetchw byte ptr [{0}]",
                in(reg) p,
                options(nostack, preserves_flags, readonly)
            )
        };
    }
    let _ = p;
}

/// Whether the CPU has `prefetchw` (CPUID `0x8000_0001`, ECX bit 8),
/// asked once per process.
#[cfg(not(all(target_arch = "x86_64", not(bingfa_loom), not(miri))))]
#[inline(always)]
fn has_prefetchw() -> bool {
    false
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

#[cfg(all(test, target_arch = "x86_64", not(bingfa_loom), not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn prefetches_of_any_address_are_harmless() {
        // Hints only: never a fault, even for addresses nothing maps.
        let v = [0u8; 200];
        for p in [
            v.as_ptr(),
            std::ptr::null(),
            64 as *const u8,
            usize::MAX as *const u8,
        ] {
            if has_prefetchw() {
                prefetch_line_write(p);
            }
            prefetch_line_read(p);
        }
        assert_eq!(v, [0u8; 200]);
    }
}
