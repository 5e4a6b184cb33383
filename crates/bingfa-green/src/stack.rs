//! Stacks for green threads, generators and greenlets.
//!
//! # Layout
//!
//! Stacks are carved from large anonymous regions, `MAP_NORESERVE` (only
//! the pages a green thread touches are ever committed), one region per
//! stack size at a time, each slot `[guard page][size bytes of stack]`:
//!
//! ```text
//! region: | guard | stack 0 ... | guard | stack 1 ... | guard | stack 2 ... |
//!          low                   ^ top of stack 0 = guard of stack 1
//! ```
//!
//! A stack grows down from its top; one that overflows faults on its own
//! guard page and the [`overflow`](crate::overflow) handler stops the
//! process with a message naming the green thread, instead of writing over
//! the stack below it.
//!
//! # No system call per spawn
//!
//! Each OS thread keeps a pool per size: warm stacks (used before, their
//! touched pages still resident: reusing one costs no page fault) and cold
//! slots (never used, or given back without their pages). A spawn only
//! *claims* a stack ([`Claim`]): a count checked against the slots the
//! pool holds, which maps a new region when they are all claimed, so that
//! running out is still an error from `spawn`. The green thread takes its
//! stack when it first runs ([`Claim::take`]), the most recently freed one
//! first, and gives it back when it ends. So a loop that spawns and joins,
//! or spawns 100 000 short green threads and then joins them, runs them all
//! on a few warm stacks: no `mmap`, no page fault, no `munmap` per green
//! thread. A region's size doubles from one to the next (8 slots, then 16,
//! ... up to [`MAX_REGION_SLOTS`] or [`MAX_REGION_BYTES`]): one `mmap` per
//! thousand stacks at most.
//!
//! # Guard pages and `vm.max_map_count`
//!
//! Linux limits a process to `vm.max_map_count` entries in its memory map
//! (65 530 by default). A guard page made with `mprotect(PROT_NONE)` splits
//! its mapping, so each stack costs two entries and the limit caps live
//! stacks near 32 000. On Linux 6.13 and later the guard page is installed
//! with `madvise(MADV_GUARD_INSTALL)` instead: a marker in the page table
//! that faults like `PROT_NONE` but leaves the region one mapping, so
//! 100 000 or more green threads fit on a default kernel, each still with
//! its guard page. Older kernels fall back to `mprotect` (and the 32 000
//! ceiling). Running out, either way, is [`Error::OutOfStacks`] from the
//! spawn, never a crash.
//!
//! With guard markers a slot gets its guard when it is first taken (one
//! `madvise`, once in the slot's life), so claims that never need their
//! own slot (the 100 000 short green threads above) cost none. Installing
//! a marker can only fail when the kernel has no memory for a page table:
//! then the process aborts with a message, as Rust does when an allocation
//! fails. With `mprotect` guards, which can fail for want of map entries,
//! every slot gets its guard when its region is carved, so that the limit
//! shows as an error from the spawn that asked for the region.
//!
//! Why not fewer mappings on old kernels: any two stacks with a fault
//! between them need a change of protection or a hole between them, and
//! each is a mapping boundary; stacks with no fault between them (one big
//! mapping) let an overflow write silently into the neighbour; moving
//! stacks (copying them) breaks pointers into a switched-out stack.
//!
//! # Giving memory back
//!
//! Up to [`POOL_CAP`] freed stacks per size stay warm; past that a freed
//! stack's pages are given back (`MADV_DONTNEED`, its guard stays) and its
//! slot goes cold. [`trim_stack_pool`] gives back the pages of every warm
//! stack and unmaps the regions none of whose slots is in use or claimed.
//! When the OS thread ends, its regions are unmapped, but for the slots of
//! stacks still in use (a leaked generator), which stay mapped.

use std::cell::RefCell;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use corosensei::stack::{Stack, StackPointer};

use crate::error::Error;

/// How many freed stacks of one size an OS thread keeps warm for reuse.
pub(crate) const POOL_CAP: usize = 1024;

/// The most slots one region holds.
pub(crate) const MAX_REGION_SLOTS: usize = 1024;

/// The most address space one region takes (a region of big stacks holds
/// fewer slots), unless a single stack needs more.
pub(crate) const MAX_REGION_BYTES: usize = 256 << 20;

/// Slots of the first region of a size.
const FIRST_REGION_SLOTS: usize = 8;

/// The default usable stack size of a green thread: 256 KiB, of which only
/// the touched pages cost memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// The smallest usable stack size a green thread can ask for: 16 KiB.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// `madvise` advice of Linux 6.13+: install guard markers on a range (not
/// yet in every libc crate release).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// How guard pages are made: not known yet, `madvise` guard markers, or
/// `mprotect` (kernels before 6.13).
static GUARD_MODE: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);
const GUARD_UNKNOWN: u8 = 0;
const GUARD_MARKER: u8 = 1;
const GUARD_MPROTECT: u8 = 2;

/// Makes every stack carved from now on use `mprotect(PROT_NONE)` guard
/// pages, as on a kernel before 6.13, so that tests can check that path
/// on any kernel. Stacks carved before keep their guards.
#[doc(hidden)]
pub fn __force_mprotect_guards() {
    GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
}

/// Whether guards are `mprotect`ed pages (known only once a first guard
/// was installed; before that, not).
fn mprotect_mode() -> bool {
    GUARD_MODE.load(Ordering::Relaxed) == GUARD_MPROTECT
}

/// Makes the page at `low` a guard page.
///
/// # Safety
/// `low..low+page` must be the guard page of a slot of a region the
/// calling thread's pool mapped, whose stack nobody uses.
unsafe fn install_guard(low: usize) -> io::Result<()> {
    let ptr = low as *mut libc::c_void;
    let page = page_size();
    if !mprotect_mode() {
        // SAFETY: the caller owns the page and nothing runs on it; guard
        // markers only make it fault, like PROT_NONE.
        if unsafe { libc::madvise(ptr, page, MADV_GUARD_INSTALL) } == 0 {
            GUARD_MODE.store(GUARD_MARKER, Ordering::Relaxed);
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err);
        }
        // EINVAL: a kernel before 6.13, which does not know the advice.
        GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
    }
    // SAFETY: as above.
    if unsafe { libc::mprotect(ptr, page, libc::PROT_NONE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Stacks in use or kept warm for reuse, in the whole process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Green stacks of this process that hold memory: in use, or kept warm
/// (with their touched pages) for reuse. Address space reserved for
/// stacks to come, which holds no memory, is not counted.
pub fn live_stacks() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The page size, asked of the system once (`sysconf` is a libc call, too
/// slow for code that runs at every switch).
pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let p = PAGE.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if p <= 0 { 4096 } else { p as usize };
    PAGE.store(p, Ordering::Relaxed);
    p
}

/// Rounds a requested usable size up to whole pages, at least
/// [`MIN_STACK_SIZE`].
pub(crate) fn round_size(size: usize) -> usize {
    let page = page_size();
    let size = size.max(MIN_STACK_SIZE);
    size.div_ceil(page) * page
}

/// One stack: a slot of a region, `[guard page][size bytes of stack]`,
/// growing down from `top`.
#[derive(Debug)]
pub(crate) struct GreenStack {
    /// Lowest address of the slot (the guard page).
    low: usize,
    /// Usable bytes above the guard page.
    size: usize,
    /// `low + page + size`: the highest address, kept because corosensei
    /// asks for it ([`Stack::base`]) at every resume.
    top: usize,
    /// Whether its guard page is installed (always, once handed out).
    guarded: bool,
}

impl GreenStack {
    /// A stack of `size` usable bytes (rounded up to pages) now: a claim
    /// taken at once.
    pub(crate) fn get(size: usize) -> Result<GreenStack, Error> {
        Ok(Claim::new(size)?.take())
    }

    /// Usable bytes (without the guard page).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The guard page's address range `[lo, hi)`.
    pub(crate) fn guard(&self) -> (usize, usize) {
        (self.low, self.low + page_size())
    }

    /// Gives the stack back to this OS thread's pool: warm, or without
    /// its pages when the pool already keeps [`POOL_CAP`] warm ones.
    pub(crate) fn recycle(self) {
        // During thread teardown the pool is gone: the closure, and `self`
        // in it, is dropped uncalled, which unmaps the stack's slot.
        let _ = POOL.try_with(|p| {
            let mut classes = p.classes.borrow_mut();
            let c = class_of(&mut classes, self.size);
            if c.warm.len() < POOL_CAP {
                c.warm.push(self);
            } else {
                c.cold.push(self.release());
            }
        });
    }

    /// Gives the stack's pages back to the system (its contents are
    /// garbage now; its guard page stays) and returns it as a cold slot.
    fn release(self) -> GreenStack {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: the stack's usable range, owned by `me` alone; no
        // coroutine runs on it. MADV_DONTNEED keeps guard markers (and
        // never touches the PROT_NONE guard page, which is outside the
        // range).
        unsafe {
            libc::madvise(
                (me.low + page_size()) as *mut libc::c_void,
                me.size,
                libc::MADV_DONTNEED,
            )
        };
        LIVE.fetch_sub(1, Ordering::Relaxed);
        GreenStack { ..*me }
    }
}

impl Drop for GreenStack {
    /// Only a stack that cannot go back to a pool is dropped (its thread
    /// is ending): it unmaps its own slot (which, if that splits a region
    /// the kernel can no longer split, stays mapped).
    fn drop(&mut self) {
        // SAFETY: `low..top` is this stack's slot, owned by this value
        // alone; no coroutine runs on it any more (a stack is dropped only
        // after its coroutine finished or was unwound); its pool no longer
        // exists, so its region is never unmapped as a whole.
        unsafe { libc::munmap(self.low as *mut libc::c_void, self.top - self.low) };
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

// SAFETY: a handed-out stack has its guard page at its low end (installed
// by `Claim::take` before the stack leaves the pool, or at carve time) and
// at least MIN_STACK_SIZE (16 KiB >= corosensei's 4 KiB) usable bytes;
// `base` and `limit` are page-aligned, so 16-byte aligned.
unsafe impl Stack for GreenStack {
    #[inline]
    fn base(&self) -> StackPointer {
        // SAFETY: `top` is the end of a successful mapping, never 0.
        unsafe { StackPointer::new_unchecked(self.top) }
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.low).expect("stack low is not null")
    }
}

fn out_of_stacks(size: usize, source: io::Error) -> Error {
    Error::OutOfStacks {
        live: live_stacks(),
        size,
        source,
    }
}

/// A promise of one stack of a size from this OS thread's pool, made by
/// a spawn and kept when the green thread first runs ([`take`](Self::take)).
/// Dropping it gives the promise back.
#[derive(Debug)]
pub(crate) struct Claim {
    size: usize,
    /// The pool is per OS thread.
    _not_send: PhantomData<*const ()>,
}

impl Claim {
    /// Claims a stack of `size` usable bytes (rounded up to pages, at least
    /// [`MIN_STACK_SIZE`]); maps a new region if every slot is claimed.
    ///
    /// # Errors
    /// [`Error::OutOfStacks`] when no region can be mapped (or, with
    /// `mprotect` guards, no guard installed).
    pub(crate) fn new(size: usize) -> Result<Claim, Error> {
        let size = round_size(size);
        POOL.try_with(|p| {
            let mut classes = p.classes.borrow_mut();
            let c = class_of(&mut classes, size);
            if c.claims == c.free() {
                c.grow()?;
            }
            c.claims += 1;
            Ok(Claim {
                size,
                _not_send: PhantomData,
            })
        })
        .unwrap_or_else(|_| {
            Err(out_of_stacks(
                size,
                io::Error::other("this OS thread is ending"),
            ))
        })
    }

    /// The stack claimed: the warm one freed last, or a cold slot (which
    /// gets its guard page now, if it has none yet).
    pub(crate) fn take(self) -> GreenStack {
        let me = std::mem::ManuallyDrop::new(self);
        let stack = POOL.with(|p| {
            let mut classes = p.classes.borrow_mut();
            let c = class_of(&mut classes, me.size);
            c.claims -= 1;
            let mut s = c.pop();
            if !s.guarded {
                // SAFETY: the guard page of a slot of our region, handed
                // out to nobody.
                if let Err(e) = unsafe { install_guard(s.low) } {
                    guard_failed(e);
                }
                s.guarded = true;
            }
            s
        });
        debug_assert!(stack.guarded);
        stack
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = POOL.try_with(|p| {
            class_of(&mut p.classes.borrow_mut(), self.size).claims -= 1;
        });
    }
}

/// A guard marker could not be installed on a slot that was promised: the
/// kernel had no memory for a page table. Running on without the guard
/// could let an overflow corrupt memory, so stop, as Rust does when an
/// allocation fails.
#[cold]
fn guard_failed(e: io::Error) -> ! {
    eprintln!("bingfa-green: could not install the guard page of a green stack ({e}): out of memory, aborting");
    std::process::abort()
}

/// A region: `n` slots from `base`; the first `carved` have been handed
/// out at least once (they are in use, warm or cold), the others never
/// were. The first `guarded` slots had their guard installed when the
/// region was mapped.
struct Region {
    base: usize,
    n: usize,
    carved: usize,
    guarded: usize,
}

/// The stacks of one size an OS thread holds.
struct Class {
    size: usize,
    /// Freed stacks with their pages, the most recently freed last.
    warm: Vec<GreenStack>,
    /// Freed stacks without their pages.
    cold: Vec<GreenStack>,
    /// The regions mapped, in the order they were.
    regions: Vec<Region>,
    /// Slots of the regions never carved (handed out).
    uncarved: usize,
    /// No region before this one has a slot never carved.
    carve_from: usize,
    /// Stacks promised and not yet taken: never more than
    /// [`free`](Self::free).
    claims: usize,
    /// Slots of the next region to map.
    next_slots: usize,
}

impl Class {
    fn new(size: usize) -> Class {
        Class {
            size,
            warm: Vec::new(),
            cold: Vec::new(),
            regions: Vec::new(),
            uncarved: 0,
            carve_from: 0,
            claims: 0,
            next_slots: FIRST_REGION_SLOTS,
        }
    }

    /// Bytes of one slot: guard page and stack.
    fn slot_len(&self) -> usize {
        self.size + page_size()
    }

    /// Slots not in use: warm, cold and never carved.
    #[inline]
    fn free(&self) -> usize {
        self.warm.len() + self.cold.len() + self.uncarved
    }

    /// A free stack, for a claim just given up: the warm one freed last,
    /// else a cold one, else the next slot never carved (which may have
    /// no guard page yet).
    #[inline]
    fn pop(&mut self) -> GreenStack {
        if let Some(s) = self.warm.pop() {
            return s;
        }
        LIVE.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = self.cold.pop() {
            return s;
        }
        let slot = self.slot_len();
        while self.regions[self.carve_from].carved == self.regions[self.carve_from].n {
            self.carve_from += 1;
        }
        let r = &mut self.regions[self.carve_from];
        let low = r.base + r.carved * slot;
        let guarded = r.carved < r.guarded;
        r.carved += 1;
        self.uncarved -= 1;
        GreenStack {
            low,
            size: self.size,
            top: low + slot,
            guarded,
        }
    }

    /// Maps a new region of never carved slots: as many as the region size
    /// in force, or fewer if the system refuses that many (down to one).
    fn grow(&mut self) -> Result<(), Error> {
        let slot = self.slot_len();
        let mut n = self
            .next_slots
            .min(MAX_REGION_BYTES / slot)
            .clamp(1, MAX_REGION_SLOTS);
        let base = loop {
            // SAFETY: an anonymous private mapping at an address the
            // kernel picks; no existing memory is affected.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    n * slot,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                    -1,
                    0,
                )
            };
            if ptr != libc::MAP_FAILED {
                break ptr as usize;
            }
            let err = io::Error::last_os_error();
            if n == 1 {
                return Err(out_of_stacks(self.size, err));
            }
            n /= 2;
        };
        // With guard markers (or not knowing yet), the first slot's guard
        // is installed now: that tells which kind this kernel has. With
        // `mprotect` guards, every slot's is: each is a new map entry,
        // which may be refused, and must be now rather than when the slot
        // is first taken.
        let mut guarded = 0;
        while guarded < n && (guarded == 0 || mprotect_mode()) {
            // SAFETY: the guard page of slot `guarded` of the region just
            // mapped, which nobody else knows of.
            match unsafe { install_guard(base + guarded * slot) } {
                Ok(()) => guarded += 1,
                Err(e) if guarded == 0 => {
                    // SAFETY: unmapping the region just mapped.
                    unsafe { libc::munmap(base as *mut libc::c_void, n * slot) };
                    return Err(out_of_stacks(self.size, e));
                }
                Err(_) => {
                    // Out of map entries: keep the slots guarded so far
                    // and give the rest back (shrinking a mapping from its
                    // end needs no new entry).
                    // SAFETY: the unguarded tail of the region just mapped.
                    unsafe {
                        libc::munmap(
                            (base + guarded * slot) as *mut libc::c_void,
                            (n - guarded) * slot,
                        )
                    };
                    n = guarded;
                }
            }
        }
        self.regions.push(Region {
            base,
            n,
            carved: 0,
            guarded,
        });
        self.uncarved += n;
        self.next_slots = (n * 2).min(MAX_REGION_SLOTS);
        Ok(())
    }

    /// Gives back the pages of every warm stack, and unmaps the regions
    /// none of whose slots is in use, as long as the claims still have
    /// slots. Returns how many warm stacks gave their pages back.
    fn trim(&mut self) -> usize {
        let released = self.warm.len();
        let warm = std::mem::take(&mut self.warm);
        self.cold.extend(warm.into_iter().map(GreenStack::release));
        self.unmap_free_regions();
        released
    }

    /// Unmaps the regions none of whose slots is in use (each carved one
    /// is in `cold`), as long as the claims still have slots.
    fn unmap_free_regions(&mut self) {
        self.cold.sort_unstable_by_key(|s| s.low);
        let slot = self.slot_len();
        let regions = std::mem::take(&mut self.regions);
        self.carve_from = 0;
        for r in regions {
            let end = r.base + r.n * slot;
            let from = self.cold.partition_point(|s| s.low < r.base);
            let to = self.cold.partition_point(|s| s.low < end);
            if to - from == r.carved && self.free() - r.n >= self.claims {
                // SAFETY: the whole region, none of whose slots is handed
                // out (the carved ones are all in `cold`); they leave the
                // pool just below.
                unsafe { libc::munmap(r.base as *mut libc::c_void, r.n * slot) };
                for s in self.cold.drain(from..to) {
                    std::mem::forget(s);
                }
                self.uncarved -= r.n - r.carved;
            } else {
                self.regions.push(r);
            }
        }
    }
}

impl Drop for Class {
    /// The OS thread ends: unmap each region none of whose slots is in
    /// use; of the others, unmap the free slots one by one and leave the
    /// slots in use mapped (a leaked generator may still point into one).
    fn drop(&mut self) {
        LIVE.fetch_sub(self.warm.len(), Ordering::Relaxed);
        let warm = std::mem::take(&mut self.warm);
        self.cold.extend(warm);
        self.claims = 0;
        self.unmap_free_regions();
        let slot = self.slot_len();
        let never: Vec<(usize, usize)> = self
            .regions
            .iter()
            .map(|r| (r.base + r.carved * slot, (r.n - r.carved) * slot))
            .collect();
        let cold = self.cold.drain(..).map(|s| {
            let s = std::mem::ManuallyDrop::new(s);
            (s.low, s.top - s.low)
        });
        for (at, len) in cold.chain(never).filter(|&(_, len)| len > 0) {
            // SAFETY: free slots (freed or never carved) of a region that
            // stays mapped for the slots in use beside them; nothing runs
            // on them.
            unsafe { libc::munmap(at as *mut libc::c_void, len) };
        }
    }
}

/// An OS thread's stacks, by usable size.
struct Pool {
    classes: RefCell<Vec<Class>>,
}

thread_local! {
    static POOL: Pool = const {
        Pool {
            classes: RefCell::new(Vec::new()),
        }
    };
}

/// The class of stacks of `size` (rounded) usable bytes, made if new.
#[inline]
fn class_of(classes: &mut Vec<Class>, size: usize) -> &mut Class {
    let i = match classes.iter().position(|c| c.size == size) {
        Some(i) => i,
        None => {
            classes.push(Class::new(size));
            classes.len() - 1
        }
    };
    &mut classes[i]
}

/// Gives back the memory of the stacks this OS thread keeps warm for
/// reuse (their pages; the address space stays reserved for later green
/// threads, and whole regions with no stack in use are unmapped); returns
/// how many stacks gave their pages back. Useful after a burst of green
/// threads.
pub fn trim_stack_pool() -> usize {
    POOL.with(|p| p.classes.borrow_mut().iter_mut().map(Class::trim).sum())
}
