//! Cache-line policy. Prefetch hints: for the slot a side is likely to
//! claim next, and for the frame it is about to read or write (only
//! hints: they change no memory, and do nothing under loom). And, on AMD,
//! the consumer's write-back of the lines of a frame it has read
//! ([`Ring::write_back_lines`]), so that they move back to the producer
//! in one transfer.

use super::layout::{Slot, SLOT_HEAD};
use super::Ring;

/// How far ahead of its ticket a producer prefetches (see
/// [`Ring::producer_prefetch_ahead`]): far enough for the lines to arrive
/// before its claim; the slots ahead of the tail are ones consumers are
/// done with, unless the ring is nearly full.
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

impl Ring<'_> {
    /// After a producer's claim of slot `i`: prefetches the cell
    /// [`PRODUCER_AHEAD`] slots ahead, for writing, on the CPUs where
    /// that pays ([`producer_prefetch_pays`]).
    #[inline(always)]
    pub(super) fn producer_prefetch_ahead(&self, i: usize) {
        if producer_prefetch_pays() {
            self.prefetch_ahead(i, PRODUCER_AHEAD);
        }
    }

    /// Before a consumer gives a slot back, on the CPUs where it pays
    /// ([`write_back_pays`]): writes a zero byte into each cache line of
    /// the frame after the line the frame starts in (that one holds the
    /// slot's state word, which the consumer writes anyway).
    ///
    /// Why: a line the producer wrote and the consumer only read is, on
    /// an AMD EPYC (Zen 4, measured), slow for the producer to write
    /// again a lap later: with the consumer on another CPU, a put of a
    /// 64-byte item (a frame over two lines) cost 41-46 ns against 22-25
    /// with both sides on one CPU, while one whose frame fits the first
    /// line cost the same on both; with the consumer writing the second
    /// line back, 23.6-24.9 ns (`benches/NOTES.md`, "a fifth session").
    /// A line the other CPU has written moves over in one transfer; one
    /// the producer still holds a copy of, shared with the consumer,
    /// apparently does not. The bytes written are garbage the producer
    /// overwrites: the frame has been read.
    ///
    /// Off on other CPUs, under loom (whose rings keep frames apart from
    /// their slots) and under Miri. On an Intel Xeon (Emerald Rapids
    /// class, 2026-12-08) it made no difference: `ipc_rounds spsc`, four
    /// alternations with `BINGFA_WRITE_BACK=1`, 20.4-24.4 M items a second
    /// against 19.9-25.1 M without; a put against lines the consumer read
    /// on the other CPU cost 36-41 ns either way (`ipc_cost`).
    ///
    /// # Safety
    /// `frame` is valid for writes of `len` bytes, held by this consumer
    /// (its slot `READING`), and no reference into those bytes is read
    /// afterwards.
    #[inline(always)]
    pub(super) unsafe fn write_back_lines(&self, frame: *mut u8, len: usize) {
        if !write_back_pays() {
            return;
        }
        let start = frame as usize;
        // The first line boundary after the frame's first byte.
        let mut at = (start | 63) + 1 - start;
        while at < len {
            // SAFETY: `at < len`: inside the frame (the caller's
            // contract), which no one else reads or writes meanwhile.
            unsafe { frame.add(at).write_volatile(0) };
            at += 64;
        }
    }
}

/// Whether a consumer should write back the lines it read
/// ([`Ring::write_back_lines`]): on AMD CPUs (CPUID vendor
/// `AuthenticAMD`), asked once per process. For measuring it on other
/// machines, the environment variable `BINGFA_WRITE_BACK` overrides the
/// vendor rule: `1` on, `0` off (read once, at the first get; the
/// benches' floors follow it too).
#[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
#[inline(always)]
fn write_back_pays() -> bool {
    use std::sync::atomic::AtomicU8;
    static ON: AtomicU8 = AtomicU8::new(0);
    #[cold]
    fn ask() -> bool {
        overridden("BINGFA_WRITE_BACK").unwrap_or_else(is_amd)
    }
    asked_once(&ON, ask)
}

/// See the x86-64 version: off on other CPUs, under loom and under Miri.
#[cfg(not(all(target_arch = "x86_64", not(bingfa_loom), not(miri))))]
#[inline(always)]
fn write_back_pays() -> bool {
    false
}

/// Whether a producer should prefetch the cell [`PRODUCER_AHEAD`] slots
/// ahead of the one it claimed ([`Ring::producer_prefetch_ahead`]): not
/// on AMD CPUs (CPUID vendor `AuthenticAMD`), elsewhere yes; asked once
/// per process.
///
/// Why not on AMD: measured on an AMD EPYC (Zen 4), 2026-12-07, in the
/// 1 -> 1 stream of 64-byte items (`ipc_rounds`, alternated builds):
/// with the host's cache-line round trip at its slow 310-350 ns, 17.7-37.1
/// M items a second without it against 7.5-21.1 M with it (the `Raw`
/// queue 12.1-14.3 against 6.7-7.8 M); at the usual 68-70 ns, no
/// difference (35.7-36.9 against 35.7-38.1 M); 2x2, 4x4 and ping-pong
/// unchanged. A prefetch for ownership of a cell a consumer has not
/// given back yet (a nearly full ring) takes its lines from under it.
/// On an Intel Xeon it was part of the `prefetchw` win (`benches/NOTES.md`),
/// so it stays there; measured alone on one (Emerald Rapids class,
/// 2026-12-08, four alternations), the 1 -> 1 stream ran at 18.2-22.3 M
/// items a second without it against 19.9-25.1 M with it, lower in each
/// pair. The environment variable `BINGFA_PRODUCER_PREFETCH`
/// overrides the vendor rule: `1` on, `0` off (read once, at the first
/// put).
#[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
#[inline(always)]
fn producer_prefetch_pays() -> bool {
    use std::sync::atomic::AtomicU8;
    static ON: AtomicU8 = AtomicU8::new(0);
    #[cold]
    fn ask() -> bool {
        overridden("BINGFA_PRODUCER_PREFETCH").unwrap_or_else(|| !is_amd())
    }
    asked_once(&ON, ask)
}

/// Elsewhere the prefetch is a no-op anyway (no `prefetchw`, or loom and
/// Miri, where hints do nothing): keep the call, as before.
#[cfg(not(all(target_arch = "x86_64", not(bingfa_loom), not(miri))))]
#[inline(always)]
fn producer_prefetch_pays() -> bool {
    true
}

/// `Some(true)` or `Some(false)` when the environment variable `name` is
/// `1` or `0`, else `None` (the vendor rule decides).
#[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
#[cold]
fn overridden(name: &str) -> Option<bool> {
    match std::env::var_os(name) {
        Some(v) if v == "1" => Some(true),
        Some(v) if v == "0" => Some(false),
        _ => None,
    }
}

/// Whether this is an AMD CPU: CPUID leaf 0's vendor is `AuthenticAMD`.
#[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
#[cold]
// `__cpuid` is a safe function on recent compilers, an `unsafe fn` on the
// workspace's oldest supported one.
#[allow(unused_unsafe)]
fn is_amd() -> bool {
    // SAFETY: `cpuid` exists on every x86-64 CPU, and leaf 0 on every one.
    let r = unsafe { std::arch::x86_64::__cpuid(0) };
    // "AuthenticAMD", in EBX, EDX, ECX.
    (r.ebx, r.edx, r.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163)
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
    use std::sync::atomic::AtomicU8;
    static PREFETCHW: AtomicU8 = AtomicU8::new(0);
    #[cold]
    // As in `is_amd`.
    #[allow(unused_unsafe)]
    fn ask() -> bool {
        use std::arch::x86_64::__cpuid;
        // Leaf 0x8000_0000 says how far the extended leaves go.
        // SAFETY: `cpuid` exists on every x86-64 CPU.
        let top = unsafe { __cpuid(0x8000_0000) }.eax;
        // SAFETY: as above; this leaf exists when `top` reaches it.
        top >= 0x8000_0001 && unsafe { __cpuid(0x8000_0001) }.ecx & (1 << 8) != 0
    }
    asked_once(&PREFETCHW, ask)
}

/// The answer of `ask`, asked once per process and kept in `answer` (0:
/// not asked yet; 1: yes; 2: no). Two threads asking at once both ask,
/// and store the same answer.
#[cfg(all(target_arch = "x86_64", not(bingfa_loom), not(miri)))]
#[inline(always)]
fn asked_once(answer: &std::sync::atomic::AtomicU8, ask: fn() -> bool) -> bool {
    use std::sync::atomic::Ordering;
    match answer.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let yes = ask();
            answer.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
            yes
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

/// The consumer's write-back, on a ring in heap memory laid out as in
/// shared memory.
#[cfg(all(test, not(bingfa_loom)))]
mod write_back_tests {
    use super::super::layout::{cell, CELLS_AT};
    use super::super::{push::copy_of, test_ring, Modulus};
    use super::*;

    const CAP: usize = 4;
    /// Cells of 256 bytes: a frame area of 240 bytes from cell offset 16.
    const SLOT_BYTES: usize = 240;

    /// A get's write-back stays inside the frame it read: the frame's
    /// first line, the bytes after the frame and the next cell are as the
    /// producer left them; inside the frame, only the first byte of each
    /// later line changes, and only where the write-back is on.
    #[test]
    fn the_write_back_stays_inside_the_frame() {
        let base = test_ring::leaked(CAP, SLOT_BYTES);
        // SAFETY: laid out and initialized by `leaked` for these sizes,
        // never freed.
        let ring = unsafe {
            Ring::in_cells(base as *mut u8, Modulus::new(CAP as u64), SLOT_BYTES, &|_| true)
        };
        let cells = base + CELLS_AT;
        let size = cell(SLOT_BYTES).unwrap();
        // Fill both cells' frame areas first, so that bytes beyond a frame
        // are not zero either.
        assert!(ring.try_push_with(1, copy_of(&[0x11; SLOT_BYTES])).is_ok());
        assert!(ring.try_push_with(1, copy_of(&[0x22; SLOT_BYTES])).is_ok());
        drop(ring.try_pop_slot(2).unwrap());
        drop(ring.try_pop_slot(2).unwrap());
        // Around the ring once more, to cell 0 again: a 200-byte frame,
        // and a full one in cell 1.
        for _ in 0..CAP - 2 {
            assert!(ring.try_push_with(1, copy_of(&[0x33; 8])).is_ok());
            drop(ring.try_pop_slot(2).unwrap());
        }
        let frame = [0xab; 200];
        assert!(ring.try_push_with(1, copy_of(&frame)).is_ok());
        assert!(ring.try_push_with(1, copy_of(&[0xcd; SLOT_BYTES])).is_ok());
        let bytes = |from: usize, n: usize| -> Vec<u8> {
            // SAFETY: inside the leaked ring, which lives for the test
            // process; no other thread touches it.
            unsafe { std::slice::from_raw_parts((cells + from) as *const u8, n) }.to_vec()
        };
        let before = bytes(SLOT_HEAD, size - SLOT_HEAD);
        let next_before = bytes(size, size);
        {
            let got = ring.try_pop_slot(2).unwrap();
            assert_eq!(&got[..], &frame[..]);
        }
        let after = bytes(SLOT_HEAD, size - SLOT_HEAD);
        let mut changed = 0;
        for (off, (&b, &a)) in before.iter().zip(&after).enumerate() {
            let line_start = (cells + SLOT_HEAD + off).is_multiple_of(64);
            if write_back_pays() && off < frame.len() && off > 0 && line_start {
                assert_eq!(a, 0, "frame byte {off}: written back");
                changed += 1;
            } else {
                assert_eq!(a, b, "frame area byte {off}: untouched");
            }
        }
        // Lines start at frame offsets 48, 112 and 176, all inside the
        // 200-byte frame.
        assert_eq!(changed, if write_back_pays() { 3 } else { 0 });
        assert_eq!(bytes(size, size), next_before, "the next cell: untouched");
        // The next get still finds its frame whole.
        let next = ring.try_pop_slot(2).unwrap();
        assert_eq!(&next[..], &[0xcd; SLOT_BYTES][..]);
    }
}
