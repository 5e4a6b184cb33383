//! Stacks for green threads, generators and greenlets.
//!
//! Each stack is its own anonymous mapping, `MAP_NORESERVE` so only the pages
//! a green thread touches are ever committed, with a guard page at its low
//! end: a stack that overflows faults on its guard page and the
//! [`overflow`](crate::overflow) handler stops the process with a message
//! naming the green thread, instead of writing over its neighbour.
//!
//! Freed stacks go back to a per-OS-thread pool (up to [`POOL_CAP`] per
//! size) and are handed out again without a system call, so spawning and
//! joining a green thread in a loop costs no `mmap`.
//!
//! # Guard pages and `vm.max_map_count`
//!
//! Linux limits a process to `vm.max_map_count` entries in its memory map
//! (65 530 by default). A guard page made with `mprotect(PROT_NONE)` splits
//! its mapping in two, so each stack would cost two entries and the limit
//! would cap live stacks near 32 000. On Linux 6.13 and later the guard page
//! is installed with `madvise(MADV_GUARD_INSTALL)` instead: a marker in the
//! page table that faults like `PROT_NONE` but leaves the mapping whole.
//! The kernel then merges the stacks it places side by side into a few
//! entries, and 100 000 or more green threads fit on a default kernel, each
//! still with its guard page. Older kernels fall back to `mprotect` (and the
//! 32 000 ceiling). Running out, either way, is [`Error::OutOfStacks`],
//! never a crash.
//!
//! Why not fewer mappings on old kernels: any two stacks with a fault
//! between them need a change of protection or a hole between them, and
//! each is a mapping boundary; stacks with no fault between them (one big
//! mapping) let an overflow write silently into the neighbour; moving
//! stacks (copying them) breaks pointers into a switched-out stack.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use corosensei::stack::{Stack, StackPointer};

use crate::error::Error;

/// How many freed stacks of one size an OS thread keeps for reuse.
pub(crate) const POOL_CAP: usize = 1024;

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

/// Makes `ptr..ptr+page` a guard page of the mapping it starts.
///
/// # Safety
/// `ptr..ptr+page` must be the first page of a fresh anonymous mapping the
/// caller owns.
unsafe fn install_guard(ptr: *mut libc::c_void, page: usize) -> io::Result<()> {
    if GUARD_MODE.load(Ordering::Relaxed) != GUARD_MPROTECT {
        // SAFETY: the caller owns the range; guard markers only make it
        // fault, like PROT_NONE.
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

/// Stacks mapped and not yet unmapped, in the whole process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Stacks currently mapped by this process (in use or pooled).
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

/// One mapped stack: `[guard page][size bytes of stack]`, growing down from
/// `top`.
#[derive(Debug)]
pub(crate) struct GreenStack {
    /// Lowest address of the mapping (the guard page).
    low: usize,
    /// Usable bytes above the guard page.
    size: usize,
    /// `low + page + size`: the highest address, kept because corosensei
    /// asks for it ([`Stack::base`]) at every resume.
    top: usize,
}

impl GreenStack {
    /// Takes a pooled stack of `size` usable bytes (rounded up to pages) or
    /// maps a new one.
    pub(crate) fn get(size: usize) -> Result<GreenStack, Error> {
        let size = round_size(size);
        let pooled = POOL.with(|p| {
            let mut p = p.borrow_mut();
            p.iter_mut()
                .find(|(s, _)| *s == size)
                .and_then(|(_, v)| v.pop())
        });
        match pooled {
            Some(s) => Ok(s),
            None => Self::map(size),
        }
    }

    fn map(size: usize) -> Result<GreenStack, Error> {
        let page = page_size();
        let len = size + page;
        // SAFETY: an anonymous private mapping at an address the kernel
        // picks; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(out_of_stacks(size, io::Error::last_os_error()));
        }
        // SAFETY: `ptr..ptr+page` is the first page of the mapping we just
        // made and nobody else knows of.
        if let Err(err) = unsafe { install_guard(ptr, page) } {
            // SAFETY: unmapping the mapping we just made.
            unsafe { libc::munmap(ptr, len) };
            return Err(out_of_stacks(size, err));
        }
        LIVE.fetch_add(1, Ordering::Relaxed);
        Ok(GreenStack {
            low: ptr as usize,
            size,
            top: ptr as usize + len,
        })
    }

    /// Usable bytes (without the guard page).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The guard page's address range `[lo, hi)`.
    pub(crate) fn guard(&self) -> (usize, usize) {
        (self.low, self.low + page_size())
    }

    /// Unmaps the stack; gives it back if the kernel refused. (Unmapping
    /// a stack from the middle of a merged mapping splits it, which needs
    /// one more map entry: at the `vm.max_map_count` limit that fails.)
    fn unmap(self) -> Result<(), GreenStack> {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `low..low+page+size` is the mapping made in `map`, owned
        // by this value alone, and no coroutine runs on it any more.
        let r = unsafe { libc::munmap(me.low as *mut libc::c_void, me.size + page_size()) };
        if r == 0 {
            LIVE.fetch_sub(1, Ordering::Relaxed);
            Ok(())
        } else {
            Err(std::mem::ManuallyDrop::into_inner(me))
        }
    }

    /// Gives the stack back to this OS thread's pool, or unmaps it when the
    /// pool for its size is full.
    pub(crate) fn recycle(self) {
        let size = self.size;
        // During thread teardown the pool is gone: the closure, and `self`
        // in it, is dropped uncalled, which unmaps the stack.
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            let idx = match p.iter().position(|(s, _)| *s == size) {
                Some(i) => i,
                None => {
                    p.push((size, Vec::new()));
                    p.len() - 1
                }
            };
            let v = &mut p[idx].1;
            if v.len() < POOL_CAP {
                v.push(self);
                return;
            }
            if let Err(me) = self.unmap() {
                // The kernel could not split the mapping: free the pages
                // and keep the stack pooled past the cap instead.
                // SAFETY: the stack's usable range, owned by `me`; no
                // coroutine runs on it; its contents are garbage now.
                unsafe {
                    libc::madvise(
                        (me.low + page_size()) as *mut libc::c_void,
                        me.size,
                        libc::MADV_DONTNEED,
                    )
                };
                v.push(me);
            }
        });
    }
}

impl Drop for GreenStack {
    fn drop(&mut self) {
        // SAFETY: `low..low+page+size` is the mapping made in `map`, owned
        // by this value alone; no coroutine runs on it any more (a stack is
        // dropped only after its coroutine finished or was unwound).
        unsafe { libc::munmap(self.low as *mut libc::c_void, self.size + page_size()) };
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

// SAFETY: the stack has a guard page at its low end (mprotect'ed PROT_NONE
// in `map`) and at least MIN_STACK_SIZE (16 KiB >= corosensei's 4 KiB)
// usable bytes; `base` and `limit` are page-aligned, so 16-byte aligned.
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

thread_local! {
    /// Freed stacks by usable size.
    static POOL: RefCell<Vec<(usize, Vec<GreenStack>)>> = const { RefCell::new(Vec::new()) };
}

/// Unmaps the stacks this OS thread keeps pooled for reuse; returns how
/// many. Useful after a burst of green threads, to give the memory back.
pub fn trim_stack_pool() -> usize {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let n = p.iter().map(|(_, v)| v.len()).sum();
        p.clear();
        n
    })
}
