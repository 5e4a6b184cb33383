//! Green `RLock<T>`: a lock its holder may take again.

use std::marker::PhantomData;
use std::ops::Deref;
use std::time::{Duration, Instant};

use bingfa_sync::raw::cell::UnsafeCell;

use super::waiter::{wait_until, Locked, WaitList};
use crate::sched;

/// Who holds an [`RLock`]: a green thread (of some hub), or a plain OS
/// thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Owner {
    Green { hub: u64, key: u64 },
    Thread(usize),
}

/// A process-unique, non-zero id of the current OS thread (loom's model
/// thread under `bingfa_loom`, whose threads share one OS thread).
fn current_thread_id() -> usize {
    use std::cell::Cell;
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    #[cfg(not(bingfa_loom))]
    std::thread_local!(static ID: Cell<usize> = const { Cell::new(0) });
    #[cfg(bingfa_loom)]
    loom::thread_local!(static ID: Cell<usize> = Cell::new(0));
    ID.with(|id| match id.get() {
        0 => {
            let new = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            id.set(new);
            new
        }
        n => n,
    })
}

impl Owner {
    fn current() -> Owner {
        match sched::try_sched() {
            Some(s) if crate::hub::in_green_thread() => Owner::Green {
                hub: s.id,
                key: s.current(),
            },
            _ => Owner::Thread(current_thread_id()),
        }
    }
}

struct State {
    owner: Option<Owner>,
    count: usize,
    waiters: WaitList,
}

impl State {
    fn take(&mut self, me: Owner) -> Option<()> {
        match self.owner {
            None => {
                self.owner = Some(me);
                self.count = 1;
                Some(())
            }
            Some(o) if o == me => {
                self.count = self
                    .count
                    .checked_add(1)
                    .expect("RLock: acquired usize::MAX times by one holder");
                Some(())
            }
            Some(_) => None,
        }
    }
}

/// A re-entrant green lock around a `T`: the green thread (or plain OS
/// thread) that holds it may lock it again without waiting, and it is
/// free once every guard of the holder is dropped. Others wait, switching
/// away. Guards give shared access (`&T`), since one holder may have
/// several at once; put a `Cell` or `RefCell` inside to change the data.
///
/// Ownership is per green thread, not per OS thread: two green threads of
/// one hub exclude each other. `Send + Sync` for `T: Send`.
///
/// Python: `gevent.lock.RLock`.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use bingfa_green::{run, spawn, sync::RLock};
///
/// run(|| {
///     let lock = Rc::new(RLock::new(Cell::new(0)));
///     let outer = lock.lock();
///     let inner = lock.lock(); // the holder again: no wait
///     inner.set(inner.get() + 1);
///     let l = lock.clone();
///     let other = spawn(move || l.try_lock().is_some());
///     drop(inner);
///     assert!(!other.join().unwrap(), "still held by the outer guard");
///     drop(outer);
///     assert!(!lock.is_locked());
/// })
/// .unwrap();
/// ```
pub struct RLock<T = ()> {
    state: Locked<State>,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through guards, and guards exist only
// for one holder (one green thread or one OS thread) at a time; a holder
// only ever gets `&T`.
unsafe impl<T: Send> Send for RLock<T> {}
// SAFETY: as above: `&RLock` hands `&T` to one holder at a time, so `T`
// need not be `Sync`; it moves between holders, so it must be `Send`.
unsafe impl<T: Send> Sync for RLock<T> {}

/// Holds one level of an [`RLock`]; releases it when dropped. Not `Send`:
/// a level is released where it was taken.
#[must_use = "the lock is released at once if the guard is dropped"]
pub struct RLockGuard<'a, T> {
    lock: &'a RLock<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: Default> Default for RLock<T> {
    fn default() -> Self {
        RLock::new(T::default())
    }
}

impl<T> RLock<T> {
    /// An unlocked lock around `value`.
    ///
    /// Python: `RLock()`.
    pub fn new(value: T) -> RLock<T> {
        RLock {
            state: Locked::new(State {
                owner: None,
                count: 0,
                waiters: WaitList::default(),
            }),
            data: UnsafeCell::new(value),
        }
    }

    fn guard(&self) -> RLockGuard<'_, T> {
        RLockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Locks: at once if free or held by the caller, else waiting for it.
    ///
    /// Python: `rlock.acquire()` / `with rlock:`.
    ///
    /// # Panics
    /// If one holder locked it `usize::MAX` times.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> RLockGuard<'_, T> {
        let me = Owner::current();
        wait_until(&self.state, None, |s| &mut s.waiters, |s| s.take(me));
        self.guard()
    }

    /// Locks if free or held by the caller now.
    ///
    /// Python: `rlock.acquire(blocking=False)`.
    pub fn try_lock(&self) -> Option<RLockGuard<'_, T>> {
        let me = Owner::current();
        self.state.with(|s| s.take(me)).map(|()| self.guard())
    }

    /// Locks, waiting at most `timeout`.
    ///
    /// Python: `rlock.acquire(timeout=t)`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        let me = Owner::current();
        wait_until(
            &self.state,
            Instant::now().checked_add(timeout),
            |s| &mut s.waiters,
            |s| s.take(me),
        )
        .map(|()| self.guard())
    }

    /// Whether someone holds it.
    ///
    /// Python: `rlock.locked()`.
    pub fn is_locked(&self) -> bool {
        self.state.with(|s| s.owner.is_some())
    }

    /// Whether the caller holds it.
    ///
    /// Python: `rlock._is_owned()`.
    pub fn is_owned(&self) -> bool {
        let me = Owner::current();
        self.state.with(|s| s.owner == Some(me))
    }

    /// The data, without locking (the `&mut` proves no guard exists).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Unwraps the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T> Deref for RLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a guard exists only while its holder holds the lock; the
        // holder's guards only share the data, and no other holder's
        // guard exists meanwhile.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T> Drop for RLockGuard<'_, T> {
    fn drop(&mut self) {
        let w = self.lock.state.with(|s| {
            s.count -= 1;
            if s.count == 0 {
                s.owner = None;
                s.waiters.pop()
            } else {
                None
            }
        });
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl<T> std::fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (locked, count) = self.state.with(|s| (s.owner.is_some(), s.count));
        f.debug_struct("RLock")
            .field("locked", &locked)
            .field("count", &count)
            .finish()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(all(test, bingfa_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Two threads each lock twice (re-entrantly) and bump a counter under
    /// the lock: the lock excludes the other thread, admits its holder
    /// again, and is free at the end.
    #[test]
    fn loom_rlock_reentrant_and_exclusive() {
        loom::model(|| {
            let lock = Arc::new(RLock::new(loom::sync::atomic::AtomicUsize::new(0)));
            let l2 = lock.clone();
            let bump = move |l: &RLock<loom::sync::atomic::AtomicUsize>| {
                let outer = l.lock();
                let inner = l.lock();
                let v = inner.load(loom::sync::atomic::Ordering::Relaxed);
                drop(inner);
                outer.store(v + 1, loom::sync::atomic::Ordering::Relaxed);
            };
            let t = loom::thread::spawn(move || bump(&l2));
            bump(&lock);
            t.join().unwrap();
            assert_eq!(lock.lock().load(loom::sync::atomic::Ordering::Relaxed), 2);
            assert!(!lock.is_locked());
        });
    }
}
