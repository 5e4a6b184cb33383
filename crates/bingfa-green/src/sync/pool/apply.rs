//! The mapping helpers of [`Group`] (and so of [`Pool`](super::Pool)):
//! `apply`, `apply_async`, `map`, `map_async`, `imap`, `imap_unordered`.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use super::{Group, Inner, Leave, Member};
use crate::error::Error;
use crate::handle::{Handle, Watch};
use crate::sched;
use crate::sync::imap::{IMap, IMapUnordered};

impl Group {
    /// Whether the caller is one of the group's green threads.
    fn current_is_member(&self) -> bool {
        sched::try_sched().is_some_and(|s| self.inner.contains_key(s.current()))
    }

    /// Runs `f` in a green thread of the group and waits for its result.
    /// Called from a green thread of this group, it runs `f` at once in
    /// the caller instead: in a full pool, waiting for a slot the caller
    /// holds would wait forever.
    ///
    /// Python: `group.apply(f)`.
    ///
    /// # Errors
    /// [`Error::Panicked`] if `f` panicked, [`Error::Killed`] if its green
    /// thread was killed.
    ///
    /// # Panics
    /// Outside a green thread.
    pub fn apply<R: 'static>(&self, f: impl FnOnce() -> R + 'static) -> Result<R, Error> {
        if self.current_is_member() {
            return catch_inline(f);
        }
        self.spawn(f).join()
    }

    /// Starts `f` in a green thread without waiting, even when the pool is
    /// full: the green thread then waits for a slot itself and joins the
    /// group once it has one. Returns its handle.
    ///
    /// Python: `group.apply_async(f)`.
    ///
    /// # Panics
    /// Outside a green thread, or when no stack can be mapped.
    pub fn apply_async<R: 'static>(&self, f: impl FnOnce() -> R + 'static) -> Handle<R> {
        if self.inner.has_slot() {
            return self.spawn(f);
        }
        let id = self.inner.next_id();
        let leave = Leave {
            group: Rc::downgrade(&self.inner),
            id,
        };
        let me: Rc<RefCell<Option<Watch>>> = Rc::new(RefCell::new(None));
        let (inner, me2) = (self.inner.clone(), me.clone());
        let h = crate::spawn(move || {
            let _leave = leave;
            inner.wait_for(None, "Group::apply_async", Inner::has_slot);
            if let Some(watch) = me2.borrow_mut().take() {
                inner.push(Member {
                    id,
                    watch,
                    dying: Cell::new(false),
                    notifies: true,
                });
            }
            drop(inner);
            f()
        });
        *me.borrow_mut() = Some(h.watch());
        h
    }

    /// As [`apply_async`](Self::apply_async), then `callback` on the
    /// result (in the same green thread, right after `f` returns; not if
    /// `f` panicked).
    ///
    /// Python: `group.apply_async(f, callback=cb)`. gevent runs the
    /// callback in a green thread of its own; here a panic of the callback
    /// is the green thread's (its handle reports it).
    pub fn apply_async_with<R: 'static>(
        &self,
        f: impl FnOnce() -> R + 'static,
        callback: impl FnOnce(&R) + 'static,
    ) -> Handle<R> {
        self.apply_async(move || {
            let r = f();
            callback(&r);
            r
        })
    }

    /// Runs `f` on every item, each in a green thread of the group (at
    /// most the pool's size at once), and returns the results in order.
    ///
    /// Python: `group.map(f, items)`.
    ///
    /// # Errors
    /// The first failure in item order ([`Error::Panicked`],
    /// [`Error::Killed`]); the other calls run on.
    ///
    /// # Panics
    /// Outside a green thread; a panic of the items' iterator goes on.
    pub fn map<I, F, R>(&self, items: I, f: F) -> Result<Vec<R>, Error>
    where
        I: IntoIterator,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        let f = Rc::new(f);
        let hs: Vec<Handle<R>> = items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                self.spawn(move || f(item))
            })
            .collect();
        hs.into_iter().map(Handle::join).collect()
    }

    /// [`map`](Self::map) in a green thread of its own (not a member);
    /// its handle gives the results.
    ///
    /// Python: `group.map_async(f, items)`.
    pub fn map_async<I, F, R>(&self, items: I, f: F) -> Handle<Result<Vec<R>, Error>>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        let g = self.clone();
        crate::spawn(move || g.map(items, f))
    }

    /// Runs `f` on every item in green threads of the group (at most the
    /// pool's size at once) and yields each result in item order as soon
    /// as it and those before it are ready. Items are drawn from `items`
    /// by a green thread of its own as slots come free.
    ///
    /// Python: `group.imap(f, items)`.
    ///
    /// # Panics
    /// Outside a green thread. A panic of the items' iterator comes out of
    /// the [`IMap`]'s `next`.
    pub fn imap<I, F, R>(&self, items: I, f: F) -> IMap<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        IMap::start(self.clone(), items, f, None)
    }

    /// As [`imap`](Self::imap), with at most `maxsize` results finished
    /// and not yet read: workers beyond that wait to start until the
    /// reader catches up.
    ///
    /// Python: `group.imap(f, items, maxsize=n)`.
    ///
    /// # Panics
    /// If `maxsize` is 0; as [`imap`](Self::imap).
    pub fn imap_bounded<I, F, R>(&self, items: I, f: F, maxsize: usize) -> IMap<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        assert!(maxsize > 0, "imap_bounded: maxsize must be at least 1");
        IMap::start(self.clone(), items, f, Some(maxsize))
    }

    /// As [`imap`](Self::imap), yielding results as they finish.
    ///
    /// Python: `group.imap_unordered(f, items)`.
    pub fn imap_unordered<I, F, R>(&self, items: I, f: F) -> IMapUnordered<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        IMapUnordered::start(self.clone(), items, f, None)
    }

    /// As [`imap_unordered`](Self::imap_unordered), with at most `maxsize`
    /// results finished and not yet read.
    ///
    /// Python: `group.imap_unordered(f, items, maxsize=n)`.
    ///
    /// # Panics
    /// If `maxsize` is 0; as [`imap`](Self::imap).
    pub fn imap_unordered_bounded<I, F, R>(
        &self,
        items: I,
        f: F,
        maxsize: usize,
    ) -> IMapUnordered<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        assert!(
            maxsize > 0,
            "imap_unordered_bounded: maxsize must be at least 1"
        );
        IMapUnordered::start(self.clone(), items, f, Some(maxsize))
    }
}

/// Runs `f` in the caller, a panic of it becoming `Err(Panicked)`; a kill
/// or a `Timeout` goes on unwinding.
fn catch_inline<R>(f: impl FnOnce() -> R) -> Result<R, Error> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(p) if sched::is_interrupt(&*p) => panic::resume_unwind(p),
        Err(p) => Err(Error::Panicked {
            name: crate::current_name().unwrap_or_default(),
            message: sched::panic_message(&*p),
            payload: crate::error::PanicPayload::new(p),
        }),
    }
}
