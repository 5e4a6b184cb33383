//! Where a forked child leaves the message of the panic that ended it, for
//! the parent to read once it has reaped the child: a **slot** of memory
//! the two share, one page of a slab mapped `MAP_SHARED | MAP_ANONYMOUS`
//! by the parent (every child inherits the mapping). A pipe per child did
//! the same at the cost of a `pipe2`, two `close`s and a `read` for each
//! start, about 5 us of a 70-100 us fork+join on the machines measured
//! (benches/fork.rs). A spawned child still reports through a pipe: it
//! inherits no memory.
//!
//! A slot's state word holds a generation and a phase (empty, writing,
//! done). The parent hands a child the slot and its generation; the child
//! claims the slot with one compare-and-swap from (generation, empty) to
//! (generation, writing), writes, and publishes (generation, done). Once
//! the child is reaped, the parent reads a message published under the
//! child's generation and moves the slot to the next generation before
//! reusing it, so that a late writer holding the old generation (a process
//! the child forked without this crate, which inherited its slot) can
//! never write into the next child's message: its claim fails. A slot
//! found in the middle of a write when its child is reaped (such a late
//! writer, or a child killed while it wrote) is never reused.
//!
//! Reading the message is bounded and total: the length is clamped to the
//! slot, and the bytes are decoded lossily.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// The size of a slot: one page, so that a child's write touches only its
/// own.
const SLOT: usize = 4096;
/// Slots per slab.
const PER_SLAB: usize = 32;
/// The longest message a slot holds (a longer one is cut there).
pub(crate) const MAX_MESSAGE: usize = SLOT - std::mem::size_of::<Header>();

const EMPTY: u32 = 0;
const WRITING: u32 = 1;
const DONE: u32 = 2;
const PHASE: u32 = 3;

/// The start of a slot; the message bytes follow it.
#[repr(C)]
struct Header {
    /// `generation << 2 | phase`.
    state: AtomicU32,
    /// The message's length, written before `state` says done.
    len: AtomicU32,
}

/// A free slot of this process's pool: its address in a live slab, and the
/// generation its state word is at (phase empty).
#[derive(Debug)]
pub(crate) struct Slot {
    header: NonNull<Header>,
    generation: u32,
}

// SAFETY: a slot is an address in a shared mapping that is never unmapped;
// every access to its header is atomic, and its bytes are written only by
// the claimant of the state word (see the module docs).
unsafe impl Send for Slot {}
// SAFETY: as above.
unsafe impl Sync for Slot {}

impl Slot {
    /// The slot's address and generation, for the child (which keeps them
    /// in `sys::FORKED` until it reports).
    pub(crate) fn for_child(&self) -> (*mut u8, u32) {
        (self.header.as_ptr().cast(), self.generation)
    }

    fn header(&self) -> &Header {
        // SAFETY: the slab is never unmapped; the header is aligned (slots
        // start on page boundaries) and only accessed atomically.
        unsafe { self.header.as_ref() }
    }

    /// In the parent, once the child is reaped: the message it published,
    /// if any, and the slot again if it can be reused (moved to the next
    /// generation).
    pub(crate) fn finish(self) -> (Option<String>, Option<Slot>) {
        let h = self.header();
        let mine = self.generation << 2;
        let mut state = h.state.load(Ordering::Acquire);
        let message = (state == mine | DONE).then(|| {
            let len = (h.len.load(Ordering::Relaxed) as usize).min(MAX_MESSAGE);
            // SAFETY: the bytes after the header are inside the slot; the
            // child published them (Release, paired with the Acquire load
            // above) and nothing can write them while the state is done.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    self.header
                        .as_ptr()
                        .cast::<u8>()
                        .add(std::mem::size_of::<Header>()),
                    len,
                )
            };
            String::from_utf8_lossy(bytes).into_owned()
        });
        let next = self.generation.wrapping_add(1) & (u32::MAX >> 2);
        loop {
            if state & PHASE == WRITING {
                // Someone is (or died) in the middle of a write: retire
                // the slot.
                return (message, None);
            }
            match h
                .state
                .compare_exchange(state, next << 2, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    let slot = Slot {
                        header: self.header,
                        generation: next,
                    };
                    return (message, Some(slot));
                }
                Err(now) => state = now,
            }
        }
    }
}

/// A new slab's slots (none if the mapping fails).
pub(crate) fn new_slab() -> io::Result<Vec<Slot>> {
    use rustix::mm::{MapFlags, ProtFlags};
    // SAFETY: a new anonymous shared mapping at an address the kernel
    // picks: it overlaps nothing. It is never unmapped (slots refer into
    // it for the life of the process).
    let base = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            SLOT * PER_SLAB,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
        )
    }
    .map_err(io::Error::from)?;
    Ok((0..PER_SLAB)
        .map(|i| Slot {
            // SAFETY: inside the mapping, page-aligned, and not null.
            header: unsafe { NonNull::new_unchecked(base.cast::<u8>().add(i * SLOT).cast()) },
            // A fresh mapping is zero-filled: generation 0, empty.
            generation: 0,
        })
        .collect())
}

/// In the child: writes `text` (cut to [`MAX_MESSAGE`] at a character
/// boundary) into the slot at `slot` if it still belongs to `generation`.
/// Returns whether it did.
///
/// # Safety
/// `slot` is the address [`Slot::for_child`] gave, in a slab this process
/// inherited (or mapped), so it is mapped for [`SLOT`] bytes.
pub(crate) unsafe fn write(slot: *mut u8, generation: u32, text: &str) -> bool {
    // SAFETY: the caller's promise: a mapped, page-aligned slot.
    let h = unsafe { &*slot.cast::<Header>() };
    let mine = generation << 2;
    if h.state
        .compare_exchange(
            mine | EMPTY,
            mine | WRITING,
            Ordering::Acquire,
            Ordering::Relaxed,
        )
        .is_err()
    {
        return false;
    }
    let mut end = text.len().min(MAX_MESSAGE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // SAFETY: the claim above makes this writer the only one of the bytes
    // after the header, which fit in the slot (`end <= MAX_MESSAGE`).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), slot.add(std::mem::size_of::<Header>()), end);
    }
    h.len.store(end as u32, Ordering::Relaxed);
    h.state.store(mine | DONE, Ordering::Release);
    true
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    fn take() -> Slot {
        new_slab().unwrap().pop().unwrap()
    }

    #[test]
    fn a_message_written_under_the_slots_generation_is_read_once() {
        let slot = take();
        let (ptr, generation) = slot.for_child();
        // SAFETY: a slot of a live slab.
        assert!(unsafe { write(ptr, generation, "boom (at x.rs:1:2)") });
        // A second writer of the same generation (a process the child
        // forked) cannot claim it again.
        // SAFETY: as above.
        assert!(!unsafe { write(ptr, generation, "other") });
        let (msg, again) = slot.finish();
        assert_eq!(msg.as_deref(), Some("boom (at x.rs:1:2)"));
        let again = again.expect("reusable");
        assert_eq!(again.for_child().0, ptr);
        assert_ne!(again.for_child().1, generation);
        // The next child starts with nothing to read.
        let (msg, again) = again.finish();
        assert_eq!(msg, None);
        assert!(again.is_some());
    }

    #[test]
    fn a_late_writer_of_an_old_generation_cannot_write_into_the_next_child() {
        let slot = take();
        let (ptr, old) = slot.for_child();
        let (_, again) = slot.finish();
        let again = again.unwrap();
        // SAFETY: a slot of a live slab.
        assert!(!unsafe { write(ptr, old, "stale") });
        let (msg, _) = again.finish();
        assert_eq!(msg, None);
    }

    #[test]
    fn a_slot_left_in_the_middle_of_a_write_is_retired() {
        let slot = take();
        let (ptr, generation) = slot.for_child();
        // A writer that claimed the slot and died (or still writes).
        // SAFETY: the header of a slot of a live slab, accessed atomically.
        let h = unsafe { &*ptr.cast::<Header>() };
        h.state.store(generation << 2 | WRITING, Ordering::Relaxed);
        let (msg, again) = slot.finish();
        assert_eq!(msg, None);
        assert!(
            again.is_none(),
            "a slot someone may still write to is never reused"
        );
    }

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary_and_a_forged_length_is_clamped() {
        let slot = take();
        let (ptr, generation) = slot.for_child();
        let text = "é".repeat(MAX_MESSAGE); // 2 bytes each
                                            // SAFETY: a slot of a live slab.
        assert!(unsafe { write(ptr, generation, &text) });
        // SAFETY: as above.
        let h = unsafe { &*ptr.cast::<Header>() };
        assert_eq!(h.len.load(Ordering::Relaxed) as usize, MAX_MESSAGE);
        h.len.store(u32::MAX, Ordering::Relaxed);
        let (msg, _) = slot.finish();
        let msg = msg.unwrap();
        assert_eq!(msg.len(), MAX_MESSAGE);
        assert!(msg.chars().all(|c| c == 'é'));
    }
}
