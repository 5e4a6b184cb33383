//! Helpers shared by this crate's integration tests (each test file that
//! needs them says `mod common;`).

use std::sync::atomic::{AtomicU8, Ordering};

/// One delivery counter per message, in anonymous shared memory: forked
/// children count into it, and the parent reads the counts after joining
/// them. Unmapped on drop.
pub struct SharedCounts {
    ptr: *mut AtomicU8,
    len: usize,
}

impl SharedCounts {
    /// `len` zeroed counters.
    ///
    /// # Panics
    /// If the mapping cannot be made.
    pub fn new(len: usize) -> SharedCounts {
        // SAFETY: an anonymous shared mapping of `len` bytes; no address
        // hint, no file.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap of {len} bytes");
        SharedCounts { ptr: p.cast(), len }
    }

    /// The first (at most 10) indices whose counter is not exactly 1:
    /// messages lost or delivered more than once.
    pub fn not_exactly_once(&self) -> Vec<usize> {
        let counts = self.counts();
        (0..counts.len())
            .filter(|&k| counts[k].load(Ordering::Relaxed) != 1)
            .take(10)
            .collect()
    }

    /// The counters.
    pub fn counts(&self) -> &[AtomicU8] {
        // SAFETY: the mapping is `len` bytes, zeroed by the kernel, alive
        // until `self` drops (the borrow ends before); AtomicU8 has the
        // layout of u8, and every access goes through it.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for SharedCounts {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no reference into it outlives `self`
        // (`counts` borrows it).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}
