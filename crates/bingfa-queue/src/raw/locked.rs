//! A [`Store`] (stack or heap) behind a [`RawMutex`], with its length,
//! push count and closed flag mirrored in atomics so that `len`, the wait
//! conditions and the task counter never take the lock.

use core::marker::PhantomData;

use bingfa_sync::raw::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use bingfa_sync::raw::cell::UnsafeCell;

use super::{CachePadded, Flavor, PopFail, PushFail};
use bingfa_sync::raw::RawMutex;

/// The payload of a panic in user code (a priority queue's `Ord`).
pub(crate) type Panic = Box<dyn core::any::Any + Send + 'static>;

/// The order a locked queue hands items out in.
///
/// A store whose operations run user code (the heap's `Ord`) catches a
/// panic in it and leaves itself as it was before the call (every item
/// still in, the item of a failed push handed back), so that the lock can
/// be released, the counters stay right and the queue stays usable; the
/// blocking layer then continues the panic in the caller.
pub(crate) trait Store<T> {
    /// Adds `item`; on a panic, hands it back with the payload.
    fn push(&mut self, item: T) -> Result<(), (T, Panic)>;
    /// Takes the next item; on a panic, keeps it and returns the payload.
    fn pop(&mut self) -> Result<Option<T>, Panic>;
    fn len(&self) -> usize;
    /// Takes every item out, in the order `pop` would have; if a panic
    /// interrupts that order, the rest follow unordered and the first
    /// payload is returned beside them.
    fn drain(&mut self) -> (Vec<T>, Option<Panic>) {
        let mut out = Vec::with_capacity(self.len());
        loop {
            match self.pop() {
                Ok(Some(item)) => out.push(item),
                Ok(None) => return (out, None),
                Err(panic) => {
                    self.drain_unordered(&mut out);
                    return (out, Some(panic));
                }
            }
        }
    }
    /// Moves every item into `out` without running user code.
    fn drain_unordered(&mut self, out: &mut Vec<T>);
}

/// A store behind a lock. `cap == 0` means unbounded.
pub(crate) struct Locked<T, S> {
    lock: CachePadded<RawMutex>,
    store: UnsafeCell<S>,
    /// Written only with the lock held; read anywhere.
    len: AtomicUsize,
    /// Written only with the lock held; read anywhere.
    pushed: AtomicU64,
    /// Set with the lock held, so a push under the lock sees it.
    closed: AtomicBool,
    cap: usize,
    _items: PhantomData<T>,
}

// SAFETY: the store (which owns the `T`s) is only touched with the lock
// held, so moving the whole thing or sharing it between threads only ever
// moves `T`s across threads: `T: Send` and `S: Send` suffice.
unsafe impl<T: Send, S: Send> Send for Locked<T, S> {}
// SAFETY: as above; the lock serialises every access to `store`.
unsafe impl<T: Send, S: Send> Sync for Locked<T, S> {}

impl<T, S: Store<T>> Locked<T, S> {
    pub(crate) fn new(store: S, cap: usize) -> Self {
        Self {
            lock: CachePadded(RawMutex::new()),
            store: UnsafeCell::new(store),
            len: AtomicUsize::new(0),
            pushed: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            cap,
            _items: PhantomData,
        }
    }

    /// Runs `f` on the store with the lock held, then republishes `len`.
    #[inline]
    fn locked<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        /// On the way out, even if `f` (a user's `Ord`) panics: mirror the
        /// store's length, then unlock.
        struct Unlock<'a, T, S: Store<T>>(&'a Locked<T, S>);
        impl<T, S: Store<T>> Drop for Unlock<'_, T, S> {
            fn drop(&mut self) {
                // SAFETY: we still hold the lock, and `f`'s access ended.
                let len = self.0.store.with(|p| unsafe { (*p).len() });
                // `SeqCst`: pairs with a waiter's `SeqCst` read of `len`
                // (see `waiters`).
                self.0.len.store(len, Ordering::SeqCst);
                // SAFETY: `locked` took the lock just before making this
                // guard, and this drop is the one matching release.
                unsafe { self.0.lock.unlock() };
            }
        }
        self.lock.lock();
        let _unlock = Unlock(self);
        // SAFETY: we hold the lock, so this is the only access to the store
        // until `_unlock` drops.
        self.store.with_mut(|p| f(unsafe { &mut *p }))
    }
}

impl<T, S: Store<T>> Locked<T, S> {
    /// Takes every item out at once (for `close_immediately`).
    pub(crate) fn drain_all(&self) -> (Vec<T>, Option<Panic>) {
        self.locked(|store| store.drain())
    }
}

impl<T, S: Store<T>> Flavor<T> for Locked<T, S> {
    fn try_push(&self, item: T) -> Result<bool, PushFail<'_, T>> {
        self.locked(|store| {
            if self.closed.load(Ordering::Relaxed) {
                return Err(PushFail::Closed(item));
            }
            let len = self.len.load(Ordering::Relaxed);
            if self.cap != 0 && len >= self.cap {
                return Err(PushFail::Full(item));
            }
            match store.push(item) {
                Ok(()) => {
                    // Counted once the item is in: a push whose `Ord`
                    // panicked left the store as it was and is no task.
                    let pushed = self.pushed.load(Ordering::Relaxed);
                    self.pushed.store(pushed + 1, Ordering::Release);
                    Ok(false)
                }
                Err((item, panic)) => Err(PushFail::Panicked(item, panic)),
            }
        })
    }

    fn try_pop(&self) -> Result<(T, bool), PopFail<'_>> {
        self.locked(|store| match store.pop() {
            Ok(Some(item)) => Ok((item, false)),
            Ok(None) if self.closed.load(Ordering::Relaxed) => Err(PopFail::Closed),
            Ok(None) => Err(PopFail::Empty),
            Err(panic) => Err(PopFail::Panicked(panic)),
        })
    }

    #[inline]
    fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.cap
    }

    #[inline]
    fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::SeqCst)
    }

    fn close(&self) -> bool {
        self.locked(|_| !self.closed.swap(true, Ordering::SeqCst))
    }

    #[inline]
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn drain(&self) -> Option<(Vec<T>, Option<Panic>)> {
        Some(self.drain_all())
    }
}

/// Last in, first out.
impl<T> Store<T> for Vec<T> {
    #[inline]
    fn push(&mut self, item: T) -> Result<(), (T, Panic)> {
        Vec::push(self, item);
        Ok(())
    }
    #[inline]
    fn pop(&mut self) -> Result<Option<T>, Panic> {
        Ok(Vec::pop(self))
    }
    #[inline]
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn drain(&mut self) -> (Vec<T>, Option<Panic>) {
        let mut out = std::mem::take(self);
        out.reverse();
        (out, None)
    }
    fn drain_unordered(&mut self, out: &mut Vec<T>) {
        out.append(self);
    }
}

/// Smallest first; equal items in the order they were put.
///
/// A binary min-heap in a `Vec`, ordered by (item, arrival number). It
/// moves entries only by swapping them, so at every point the `Vec` holds
/// each item exactly once: when the user's `Ord` panics in the middle of a
/// sift, the panic is caught, the heap is rebuilt (with any comparison
/// that panics again decided by arrival order) and the operation is undone.
pub(crate) struct Heap<T> {
    data: Vec<Entry<T>>,
    seq: u64,
}

/// An item with its arrival number.
struct Entry<T> {
    item: T,
    seq: u64,
}

impl<T: Ord> Heap<T> {
    pub(crate) fn new() -> Self {
        Self {
            data: Vec::new(),
            seq: 0,
        }
    }
}

/// Whether `a` comes out before `b`: the smaller item, or among equal items
/// the one put first. Runs the user's `Ord`, which may panic.
#[inline]
fn before<T: Ord>(a: &Entry<T>, b: &Entry<T>) -> bool {
    match a.item.cmp(&b.item) {
        core::cmp::Ordering::Less => true,
        core::cmp::Ordering::Greater => false,
        core::cmp::Ordering::Equal => a.seq < b.seq,
    }
}

/// [`before`] for the rebuild after a panic: a comparison that panics again
/// is decided by arrival order, and its payload dropped.
fn before_or_by_arrival<T: Ord>(a: &Entry<T>, b: &Entry<T>) -> bool {
    let cmp = std::panic::AssertUnwindSafe(|| before(a, b));
    std::panic::catch_unwind(cmp).unwrap_or(a.seq < b.seq)
}

fn sift_up<T>(data: &mut [Entry<T>], mut i: usize, before: impl Fn(&Entry<T>, &Entry<T>) -> bool) {
    while i > 0 {
        let parent = (i - 1) / 2;
        if !before(&data[i], &data[parent]) {
            break;
        }
        data.swap(i, parent);
        i = parent;
    }
}

fn sift_down<T>(
    data: &mut [Entry<T>],
    mut i: usize,
    before: impl Fn(&Entry<T>, &Entry<T>) -> bool,
) {
    loop {
        let left = 2 * i + 1;
        if left >= data.len() {
            break;
        }
        let right = left + 1;
        let child = if right < data.len() && before(&data[right], &data[left]) {
            right
        } else {
            left
        };
        if !before(&data[child], &data[i]) {
            break;
        }
        data.swap(i, child);
        i = child;
    }
}

impl<T: Ord> Heap<T> {
    /// Makes `data` a heap again after a panic left a sift half done.
    fn rebuild(&mut self) {
        for i in (0..self.data.len() / 2).rev() {
            sift_down(&mut self.data, i, before_or_by_arrival);
        }
    }
}

impl<T: Ord> Store<T> for Heap<T> {
    #[inline]
    fn push(&mut self, item: T) -> Result<(), (T, Panic)> {
        let seq = self.seq;
        self.seq += 1;
        self.data.push(Entry { item, seq });
        let last = self.data.len() - 1;
        let sift = std::panic::AssertUnwindSafe(|| sift_up(&mut self.data, last, before));
        match std::panic::catch_unwind(sift) {
            Ok(()) => Ok(()),
            Err(panic) => {
                // Swaps only: the entry is still in, somewhere. Take it out
                // (no comparison needed) and rebuild.
                let at = self
                    .data
                    .iter()
                    .position(|e| e.seq == seq)
                    .expect("the entry of a failed push is still in the heap");
                let entry = self.data.swap_remove(at);
                self.rebuild();
                Err((entry.item, panic))
            }
        }
    }

    #[inline]
    fn pop(&mut self) -> Result<Option<T>, Panic> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let top = self.data.swap_remove(0);
        let sift = std::panic::AssertUnwindSafe(|| sift_down(&mut self.data, 0, before));
        match std::panic::catch_unwind(sift) {
            Ok(()) => Ok(Some(top.item)),
            Err(panic) => {
                // Put the entry back: the get did not happen.
                self.data.push(top);
                self.rebuild();
                Err(panic)
            }
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.data.len()
    }

    fn drain_unordered(&mut self, out: &mut Vec<T>) {
        out.extend(self.data.drain(..).map(|e| e.item));
    }
}
