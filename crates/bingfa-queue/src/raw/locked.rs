//! A [`Store`] (stack or heap) behind a [`RawMutex`], with its length,
//! push count and closed flag mirrored in atomics so that `len`, the wait
//! conditions and the task counter never take the lock.

use core::marker::PhantomData;

use bingfa_sync::raw::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use bingfa_sync::raw::cell::UnsafeCell;

use super::{CachePadded, Flavor, PopFail, PushFail};
use bingfa_sync::raw::RawMutex;

/// The order a locked queue hands items out in.
pub(crate) trait Store<T> {
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
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
            // Counted first: a panicking `Ord` in a heap push still leaves
            // the item in the heap (BinaryHeap restores itself), so it must
            // count as put.
            let pushed = self.pushed.load(Ordering::Relaxed);
            self.pushed.store(pushed + 1, Ordering::Release);
            store.push(item);
            Ok(false)
        })
    }

    fn try_pop(&self) -> Result<(T, bool), PopFail<'_>> {
        self.locked(|store| match store.pop() {
            Some(item) => Ok((item, false)),
            None if self.closed.load(Ordering::Relaxed) => Err(PopFail::Closed),
            None => Err(PopFail::Empty),
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
}

/// Last in, first out.
impl<T> Store<T> for Vec<T> {
    #[inline]
    fn push(&mut self, item: T) {
        Vec::push(self, item);
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        Vec::pop(self)
    }
    #[inline]
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// Smallest first; equal items in the order they were put.
pub(crate) struct Heap<T> {
    heap: std::collections::BinaryHeap<Entry<T>>,
    seq: u64,
}

impl<T: Ord> Heap<T> {
    pub(crate) fn new() -> Self {
        Self {
            heap: std::collections::BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T: Ord> Store<T> for Heap<T> {
    #[inline]
    fn push(&mut self, item: T) {
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Entry { item, seq });
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|e| e.item)
    }
    #[inline]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

/// An item with its arrival number. `BinaryHeap` pops its greatest
/// element, so the order is reversed: the greatest entry is the smallest
/// item, and among equal items the earliest put.
struct Entry<T> {
    item: T,
    seq: u64,
}

impl<T: Ord> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == core::cmp::Ordering::Equal
    }
}
impl<T: Ord> Eq for Entry<T> {}
impl<T: Ord> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ord> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        other
            .item
            .cmp(&self.item)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}
