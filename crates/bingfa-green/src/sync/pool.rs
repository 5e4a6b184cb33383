//! `Group` and `Pool`: sets of green threads joined or killed together, a
//! pool bounding how many run at once.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::semaphore::Semaphore;
use crate::error::Error;
use crate::handle::{joinall, joinall_timeout, Handle};
use crate::hub::Builder;

/// A set of green threads, to join or kill together.
///
/// Python: `gevent.pool.Group`.
pub struct Group<T> {
    handles: RefCell<Vec<Member<T>>>,
}

impl<T: 'static> Default for Group<T> {
    fn default() -> Self {
        Group::new()
    }
}

impl<T: 'static> Group<T> {
    /// An empty group.
    pub fn new() -> Group<T> {
        Group {
            handles: RefCell::new(Vec::new()),
        }
    }

    /// Spawns `f` into the group.
    ///
    /// Python: `group.spawn(f)`.
    ///
    /// # Panics
    /// Outside a hub, or when no stack can be mapped (see
    /// [`Builder::spawn`] for the error instead).
    pub fn spawn(&self, f: impl FnOnce() -> T + 'static) {
        self.add(crate::spawn(f));
    }

    /// Adds a green thread spawned elsewhere.
    ///
    /// Python: `group.add(g)`.
    pub fn add(&self, h: Handle<T>) {
        self.handles.borrow_mut().push(Member {
            handle: h,
            dying: false,
        });
    }

    /// Green threads in the group that are still running.
    ///
    /// Python: `len(group)`.
    pub fn len(&self) -> usize {
        self.handles
            .borrow()
            .iter()
            .filter(|m| !m.handle.is_dead())
            .count()
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for all of them (including any spawned meanwhile) and returns
    /// their results in spawn order; the group is empty afterwards.
    ///
    /// Python: `group.join()`.
    ///
    /// # Panics
    /// Outside a green thread.
    pub fn join(&self) -> Vec<Result<T, Error>> {
        let mut out = Vec::new();
        loop {
            let hs = std::mem::take(&mut *self.handles.borrow_mut());
            if hs.is_empty() {
                return out;
            }
            out.extend(hs.into_iter().map(|m| m.handle.join()));
        }
    }

    /// Waits at most `timeout` for all of them; true if all finished.
    ///
    /// Python: `group.join(timeout)`.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let hs = self.handles.borrow();
        joinall_timeout(hs.iter().map(|m| &m.handle), timeout) == hs.len()
    }

    /// Kills every green thread of the group and waits until they are dead.
    ///
    /// Each member is asked to die once: a member still dying from an
    /// earlier kill (its destructors may switch while it unwinds) is only
    /// waited for, never killed again (a second kill would land inside
    /// that unwind).
    ///
    /// If the wait is cut short (a [`Timeout`](crate::Timeout) around it, or
    /// the caller is killed), the group keeps every member: they still
    /// count in [`len`](Self::len) until dead, and a later `kill` or `join`
    /// waits for them.
    ///
    /// Python: `group.kill()`.
    pub fn kill(&self) {
        // The handles leave the cell while this waits (a spawn into the
        // group meanwhile must not find it borrowed), and go back on every
        // way out, the unwind of an interrupted wait included, ahead of any
        // spawned meanwhile.
        struct Restore<'a, T> {
            cell: &'a RefCell<Vec<Member<T>>>,
            hs: Vec<Member<T>>,
        }
        impl<T> Drop for Restore<'_, T> {
            fn drop(&mut self) {
                let mut cur = self.cell.borrow_mut();
                let mut hs = std::mem::take(&mut self.hs);
                hs.append(&mut cur);
                *cur = hs;
            }
        }
        let mut r = Restore {
            hs: std::mem::take(&mut *self.handles.borrow_mut()),
            cell: &self.handles,
        };
        for m in &mut r.hs {
            if !m.dying {
                m.handle.kill_nowait();
                m.dying = true;
            }
        }
        joinall(r.hs.iter().map(|m| &m.handle));
    }
}

/// A member of a [`Group`]: its handle, and whether it was asked to die.
struct Member<T> {
    handle: Handle<T>,
    dying: bool,
}

impl<T> std::fmt::Debug for Group<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("spawned", &self.handles.borrow().len())
            .finish()
    }
}

/// A [`Group`] that runs at most `size` green threads at once:
/// [`spawn`](Self::spawn) waits (switching away) while the pool is full.
///
/// Python: `gevent.pool.Pool(size)`.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use bingfa_green::{run, sleep, sync::Pool};
///
/// run(|| {
///     let pool = Pool::new(3);
///     let (now, max) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     for i in 0..10 {
///         let (now, max) = (now.clone(), max.clone());
///         pool.spawn(move || {
///             now.set(now.get() + 1);
///             max.set(max.get().max(now.get()));
///             sleep(Duration::from_millis(2));
///             now.set(now.get() - 1);
///             i
///         });
///     }
///     let results: Vec<i32> = pool.join().into_iter().map(|r| r.unwrap()).collect();
///     assert_eq!(results, (0..10).collect::<Vec<_>>());
///     assert_eq!(max.get(), 3);
/// })
/// .unwrap();
/// ```
pub struct Pool<T> {
    group: Group<T>,
    slots: Rc<Semaphore>,
    size: usize,
}

impl<T: 'static> Pool<T> {
    /// A pool of `size` (at least 1).
    ///
    /// Python: `Pool(size)`.
    pub fn new(size: usize) -> Pool<T> {
        let size = size.max(1);
        Pool {
            group: Group::new(),
            slots: Rc::new(Semaphore::new(size)),
            size,
        }
    }

    /// Waits for a free slot, then spawns `f` in it.
    ///
    /// Python: `pool.spawn(f)`.
    ///
    /// # Panics
    /// Outside a green thread, or when no stack can be mapped.
    pub fn spawn(&self, f: impl FnOnce() -> T + 'static) {
        self.slots.acquire_forget();
        let slots = self.slots.clone();
        let h = Builder::new().spawn(move || {
            struct Release(Rc<Semaphore>);
            impl Drop for Release {
                fn drop(&mut self) {
                    // Cannot fail: it gives back the slot taken for this
                    // green thread, so the count stays within the size.
                    let _ = self.0.release();
                }
            }
            let _r = Release(slots);
            f()
        });
        match h {
            Ok(h) => self.group.add(h),
            Err(e) => {
                let _ = self.slots.release();
                panic!("{e}");
            }
        }
    }

    /// Runs `f` on every item, at most `size` at once, and returns the
    /// results in order.
    ///
    /// Python: `pool.map(f, items)`.
    ///
    /// # Panics
    /// Outside a green thread; if one of the calls panicked or was killed
    /// (with its message).
    pub fn map<I, F>(&self, items: I, f: F) -> Vec<T>
    where
        I: IntoIterator,
        I::Item: 'static,
        F: Fn(I::Item) -> T + 'static,
    {
        let f = Rc::new(f);
        let before = std::mem::take(&mut *self.group.handles.borrow_mut());
        for item in items {
            let f = f.clone();
            self.spawn(move || f(item));
        }
        let out = self.group.join();
        *self.group.handles.borrow_mut() = before;
        out.into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    /// Free slots now.
    ///
    /// Python: `pool.free_count()`.
    pub fn free_count(&self) -> usize {
        self.slots.available()
    }

    /// The pool's size.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Green threads running now.
    pub fn len(&self) -> usize {
        self.group.len()
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }

    /// As [`Group::join`].
    ///
    /// Python: `pool.join()`.
    pub fn join(&self) -> Vec<Result<T, Error>> {
        self.group.join()
    }

    /// As [`Group::kill`].
    ///
    /// Python: `pool.kill()`.
    pub fn kill(&self) {
        self.group.kill()
    }
}

impl<T> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("size", &self.size).finish()
    }
}
