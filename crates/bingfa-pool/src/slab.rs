//! Where the thread pool's task cells live: a per-thread bump allocator
//! over 32 KiB pages, each page freed (or kept for reuse) once every cell
//! in it is gone.
//!
//! Submitting a task allocates its cell on the submitting thread, and the
//! cell is freed wherever its last owner lets go: often the submitter
//! again, after waiting on the future, sometimes a worker. With the global
//! allocator (glibc here) each of those was a trip through the allocator's
//! shared bins, with an atomic compare-and-swap on each side once the small
//! per-thread cache (seven chunks) ran dry, which it does at once when a
//! program submits many tasks before waiting on them. Here a cell is a bump
//! of an offset in the thread's current page, and a free is counted on the
//! freeing thread: a run of frees in one page (a program waiting on its
//! futures in order frees them so) becomes one atomic subtraction from the
//! page's count of live cells, when the thread frees a cell of another page
//! or exits. No read-modify-write per free lets the processor overlap the
//! cache misses of consecutive futures' cells (a locked instruction would
//! wait for each).
//!
//! The count starts at a large bias while the page is a thread's current
//! page, so frees cannot bring it to zero then; the thread adds the number
//! of cells it carved minus the bias when it moves to a new page (or
//! exits), and whoever brings the count to zero frees the page. The freeing
//! thread keeps a few empty pages for its own next allocations.
//!
//! The price is memory: a page stays allocated while any of its cells
//! lives, so a program that keeps one future of every few hundred for a
//! long time keeps whole pages for them; and each thread may hold back one
//! page whose last cells it freed until it frees a cell elsewhere or exits
//! (at most 32 KiB per thread, plus its current page and its stash). Cells over [`MAX_CELL`] bytes (a
//! closure that captures a lot) go to the global allocator, as do cells
//! made while the thread is being torn down.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::{Cell, RefCell};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicIsize, Ordering};

/// Bytes per page, its header included.
const PAGE_BYTES: usize = 32 * 1024;
/// The largest cell carved from a page.
pub(crate) const MAX_CELL: usize = 1024;
/// The largest alignment a page honours (the header's own).
const MAX_ALIGN: usize = 64;
/// Added to a page's count while a thread carves it: more than any page can
/// hold, so frees alone cannot reach zero.
const BIAS: isize = 1 << 30;
/// Empty pages a thread keeps for reuse.
const STASH: usize = 4;

/// The start of a page; cells follow it.
#[repr(C, align(64))]
pub(crate) struct Page {
    /// Cells not yet freed, plus [`BIAS`] while a thread carves the page.
    live: AtomicIsize,
}

fn page_layout() -> Layout {
    // Constant arguments: a power-of-two alignment and a size far below
    // `isize::MAX`.
    Layout::from_size_align(PAGE_BYTES, MAX_ALIGN).expect("a valid page layout")
}

/// The rounded-up offset of the first cell (right after the header).
const FIRST: usize = std::mem::size_of::<Page>();

/// A thread's current page and its stash of empty ones.
struct Local {
    /// The page being carved (null: none yet).
    page: Cell<*mut Page>,
    /// Offset of the next free byte in `page`.
    next: Cell<usize>,
    /// Cells carved from `page` so far.
    carved: Cell<isize>,
    /// The page of the cells this thread freed last (null: none), and how
    /// many of them, not yet taken off its count.
    freed_page: Cell<*mut Page>,
    freed: Cell<isize>,
    stash: RefCell<Vec<NonNull<Page>>>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            page: Cell::new(std::ptr::null_mut()),
            next: Cell::new(0),
            carved: Cell::new(0),
            freed_page: Cell::new(std::ptr::null_mut()),
            freed: Cell::new(0),
            stash: RefCell::new(Vec::new()),
        }
    };
}

impl Local {
    /// Carves a cell of `layout` (at most [`MAX_CELL`] bytes, aligned to at
    /// most [`MAX_ALIGN`]).
    fn carve(&self, layout: Layout) -> (NonNull<u8>, NonNull<Page>) {
        let mut page = self.page.get();
        let mut offset = self.next.get().next_multiple_of(layout.align());
        if page.is_null() || offset + layout.size() > PAGE_BYTES {
            self.retire();
            page = self.fresh_page().as_ptr();
            self.page.set(page);
            offset = FIRST.next_multiple_of(layout.align());
        }
        self.next.set(offset + layout.size());
        self.carved.set(self.carved.get() + 1);
        // SAFETY: `offset + size <= PAGE_BYTES`, inside the page's
        // allocation, and the page pointer is non-null.
        let cell = unsafe { NonNull::new_unchecked(page.cast::<u8>().add(offset)) };
        // SAFETY: non-null, checked or set above.
        (cell, unsafe { NonNull::new_unchecked(page) })
    }

    /// A page with its count at [`BIAS`]: from the stash, or new.
    fn fresh_page(&self) -> NonNull<Page> {
        let page = self.stash.borrow_mut().pop().unwrap_or_else(|| {
            // SAFETY: the layout's size is not zero.
            let p = unsafe { alloc(page_layout()) }.cast::<Page>();
            NonNull::new(p).unwrap_or_else(|| handle_alloc_error(page_layout()))
        });
        // SAFETY: the page is ours alone (new, or emptied and stashed by this
        // thread); writing its header initializes it.
        unsafe {
            page.as_ptr().write(Page {
                live: AtomicIsize::new(BIAS),
            })
        };
        page
    }

    /// Stops carving the current page: settles its count, freeing it if
    /// every cell is gone already.
    fn retire(&self) {
        let page = self.page.replace(std::ptr::null_mut());
        let Some(page) = NonNull::new(page) else {
            return;
        };
        let carved = self.carved.replace(0);
        let settle = carved - BIAS;
        // SAFETY: the bias keeps the page alive until this settles it.
        let before = unsafe { page.as_ref() }
            .live
            .fetch_add(settle, Ordering::AcqRel);
        if before + settle == 0 {
            // SAFETY: the count reached zero here: no cell and no carver left.
            unsafe { free_page(page) };
        }
    }
}

impl Local {
    /// Counts a freed cell of `page`, taking the count off the page later,
    /// in one step for a run of cells of one page.
    fn defer_free(&self, page: NonNull<Page>) {
        if self.freed_page.get() == page.as_ptr() {
            self.freed.set(self.freed.get() + 1);
        } else {
            self.flush();
            self.freed_page.set(page.as_ptr());
            self.freed.set(1);
        }
    }

    /// Takes the deferred frees off their page's count.
    fn flush(&self) {
        let page = self.freed_page.replace(std::ptr::null_mut());
        if let Some(page) = NonNull::new(page) {
            // SAFETY: the deferred frees keep the page alive until here.
            unsafe { release_cells(page, self.freed.replace(0)) };
        }
    }
}

/// Takes `n` freed cells off the count of `page`, freeing it if that was
/// the last of it.
///
/// # Safety
/// `n` cells of the page were freed and not yet counted.
unsafe fn release_cells(page: NonNull<Page>, n: isize) {
    // SAFETY: the uncounted cells keep the page alive until the decrement.
    let live = &unsafe { page.as_ref() }.live;
    if live.fetch_sub(n, Ordering::Release) == n {
        // Every other free (and the settling) came before ours.
        fence(Ordering::Acquire);
        // SAFETY: the count reached zero: nothing refers to the page.
        unsafe { free_page(page) };
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.flush();
        self.retire();
        for page in self.stash.get_mut().drain(..) {
            // SAFETY: stashed pages are empty and owned by the stash.
            unsafe { dealloc(page.as_ptr().cast(), page_layout()) };
        }
    }
}

/// Frees or stashes an empty page.
///
/// # Safety
/// The page's count reached zero (with acquire ordering): nothing else
/// refers to it.
unsafe fn free_page(page: NonNull<Page>) {
    let page = LOCAL
        .try_with(|l| {
            let mut stash = l.stash.borrow_mut();
            if stash.len() < STASH {
                stash.push(page);
                None
            } else {
                Some(page)
            }
        })
        .unwrap_or(Some(page));
    if let Some(page) = page {
        // SAFETY: allocated with `page_layout`; the caller says it is unused.
        unsafe { dealloc(page.as_ptr().cast(), page_layout()) };
    }
}

/// Memory for a cell of `layout`, and its page (`None`: from the global
/// allocator).
pub(crate) fn alloc_cell(layout: Layout) -> (NonNull<u8>, Option<NonNull<Page>>) {
    if layout.size() <= MAX_CELL && layout.align() <= MAX_ALIGN && layout.size() > 0 {
        if let Ok((cell, page)) = LOCAL.try_with(|l| l.carve(layout)) {
            return (cell, Some(page));
        }
    }
    // Zero-sized layouts cannot occur (a cell has a header); the thread is
    // exiting, or the cell is large: the global allocator.
    // SAFETY: a cell's layout has a non-zero size.
    let p = unsafe { alloc(layout) };
    (
        NonNull::new(p).unwrap_or_else(|| handle_alloc_error(layout)),
        None,
    )
}

/// Frees a cell from [`alloc_cell`].
///
/// # Safety
/// `cell`, `layout` and `page` are what `alloc_cell` returned; the cell's
/// contents are dropped and nothing refers to it any more.
pub(crate) unsafe fn free_cell(cell: NonNull<u8>, layout: Layout, page: Option<NonNull<Page>>) {
    match page {
        None => {
            // SAFETY: from the global allocator with this layout.
            unsafe { dealloc(cell.as_ptr(), layout) }
        }
        Some(page) => {
            if LOCAL.try_with(|l| l.defer_free(page)).is_err() {
                // The thread is exiting: count it at once.
                // SAFETY: this cell was freed and is not counted elsewhere.
                unsafe { release_cells(page, 1) };
            }
        }
    }
}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    use super::*;

    #[test]
    fn pages_are_carved_settled_and_freed_across_threads() {
        let layout = Layout::from_size_align(72, 8).unwrap();
        let mut cells: Vec<_> = (0..1000)
            .map(|i| {
                let (c, page) = alloc_cell(layout);
                // SAFETY: fresh memory of at least 8 bytes, aligned to 8.
                unsafe { c.cast::<usize>().as_ptr().write(i) };
                (c, page)
            })
            .collect();
        // Several pages, no overlap, nothing overwritten.
        let mut addrs: Vec<usize> = cells.iter().map(|c| c.0.as_ptr() as usize).collect();
        addrs.sort_unstable();
        assert!(addrs.windows(2).all(|w| w[1] - w[0] >= 72));
        assert!(cells.iter().all(|c| c.1.is_some()));
        for (i, (c, _)) in cells.iter().enumerate() {
            // SAFETY: written above.
            assert_eq!(unsafe { c.cast::<usize>().as_ptr().read() }, i);
        }
        // Free half on another thread, half here: every page gets freed
        // (Miri reports a leak or a double free otherwise).
        let there = SendCells(cells.split_off(500));
        std::thread::spawn(move || {
            let there = there;
            for &(c, p) in &there.0 {
                // SAFETY: from alloc_cell with this layout, freed once.
                unsafe { free_cell(c, layout, p) };
            }
        })
        .join()
        .unwrap();
        for (c, p) in cells {
            // SAFETY: as above.
            unsafe { free_cell(c, layout, p) };
        }
        // Big cells come from the global allocator.
        let big = Layout::from_size_align(MAX_CELL + 1, 8).unwrap();
        let (c, page) = alloc_cell(big);
        assert!(page.is_none());
        // SAFETY: as above.
        unsafe { free_cell(c, big, page) };
    }

    struct SendCells(Vec<(NonNull<u8>, Option<NonNull<Page>>)>);
    // SAFETY: the cells are plain memory handed to one other thread.
    unsafe impl Send for SendCells {}
}
