//! Links: callbacks that run when a green thread ends.
//!
//! Python: `Greenlet.link`, `link_value`, `link_exception`, `rawlink`,
//! `unlink`.

use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use crate::error::Error;
use crate::handle::{Handle, ResultSlot};

/// Names a link, to [`unlink`](Handle::unlink) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId(u64);

/// Which ends a link is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Any,
    Value,
    Error,
}

type Callback<T> = Box<dyn FnOnce(&Finished<'_, T>)>;

struct Link<T> {
    id: u64,
    kind: Kind,
    f: Callback<T>,
}

/// A green thread's pending links, in the order they were made, and the
/// next link's id. Boxed on the first link: most green threads have none,
/// and their result slot stays one pointer bigger.
pub(crate) struct Links<T> {
    inner: RefCell<Option<Box<LinkList<T>>>>,
}

/// The links, and the next one's id.
type LinkList<T> = (Vec<Link<T>>, u64);

impl<T> Default for Links<T> {
    fn default() -> Self {
        Links {
            inner: RefCell::new(None),
        }
    }
}

/// What a link callback gets: the green thread that ended and how.
///
/// Python: the greenlet passed to a link callback (`g.value`,
/// `g.exception`, `g.successful()`, `g.unlink`).
pub struct Finished<'a, T> {
    name: &'a str,
    result: &'a Result<T, Error>,
    slot: &'a ResultSlot<T>,
}

impl<T> Finished<'_, T> {
    /// The green thread's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// How it ended: its value, or its error ([`Error::Panicked`],
    /// [`Error::Killed`], ...).
    pub fn result(&self) -> &Result<T, Error> {
        self.result
    }

    /// Its value, if it returned one.
    ///
    /// Python: `g.value`.
    pub fn value(&self) -> Option<&T> {
        self.result.as_ref().ok()
    }

    /// Its error, if it failed.
    ///
    /// Python: `g.exception`.
    pub fn error(&self) -> Option<&Error> {
        self.result.as_ref().err()
    }

    /// Whether it returned a value.
    ///
    /// Python: `g.successful()`.
    pub fn successful(&self) -> bool {
        self.result.is_ok()
    }

    /// Removes link `id` of this green thread, if it has not run yet
    /// (so a callback can keep a later one from running); returns whether
    /// it was still pending.
    ///
    /// Python: `g.unlink(callback)` from inside a callback.
    pub fn unlink(&self, id: LinkId) -> bool {
        self.slot.links.remove(id)
    }
}

impl<T> fmt::Debug for Finished<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finished")
            .field("name", &self.name)
            .field("successful", &self.successful())
            .finish()
    }
}

impl<T> Links<T> {
    fn add(&self, kind: Kind, f: Callback<T>) -> LinkId {
        let mut inner = self.inner.borrow_mut();
        let (list, next) = &mut **inner.get_or_insert_with(|| Box::new((Vec::new(), 0)));
        let id = *next;
        *next += 1;
        list.push(Link { id, kind, f });
        LinkId(id)
    }

    fn remove(&self, id: LinkId) -> bool {
        let mut inner = self.inner.borrow_mut();
        let Some((list, _)) = inner.as_deref_mut() else {
            return false;
        };
        match list.iter().position(|l| l.id == id.0) {
            Some(i) => {
                list.remove(i);
                true
            }
            None => false,
        }
    }

    fn len(&self) -> usize {
        self.inner.borrow().as_ref().map_or(0, |l| l.0.len())
    }

    /// The oldest pending link.
    #[inline]
    fn pop(&self) -> Option<Link<T>> {
        let mut inner = self.inner.borrow_mut();
        let (list, _) = inner.as_deref_mut()?;
        (!list.is_empty()).then(|| list.remove(0))
    }
}

/// Runs `link` on `result` if it is for that kind of end; a panic in it
/// (or a kill that interrupts it) stops only it.
fn call<T>(link: Link<T>, name: &str, result: &Result<T, Error>, slot: &ResultSlot<T>) {
    let wanted = match link.kind {
        Kind::Any => true,
        Kind::Value => result.is_ok(),
        Kind::Error => result.is_err(),
    };
    if wanted {
        let fin = Finished { name, result, slot };
        let f = link.f;
        // Isolated: a failing callback does not keep the others from
        // running, nor change the green thread's result. (Its panic
        // message was printed by the panic hook, if any, as it began.)
        let _ = panic::catch_unwind(AssertUnwindSafe(|| f(&fin)));
    }
}

impl<T> ResultSlot<T> {
    /// Runs the pending links one by one, oldest first, until none is
    /// left (a callback may unlink later ones, or, while it waits, other
    /// green threads may add more).
    pub(crate) fn notify(&self, name: &str) {
        while let Some(link) = self.links.pop() {
            let result = self.result();
            let result = result.as_ref().expect("the result is stored first");
            call(link, name, result, self);
        }
    }
}

impl<T> Handle<T> {
    fn add_link(&self, kind: Kind, f: Callback<T>) -> LinkId {
        let id = self.slot().links.add(kind, f);
        if self.slot().done.get() {
            // Already dead: run it now, here.
            self.slot().notify(self.name());
        }
        id
    }

    /// Calls `f` when the green thread ends, however it ends (at once if
    /// it has ended), with how it ended ([`Finished`]).
    ///
    /// Callbacks run in the green thread that ended, after its function,
    /// one after the other in the order they were linked, before it counts
    /// as dead and its joiners wake; each is isolated: a panic in one
    /// stops only that one. A callback may switch (put into a queue, wait
    /// for a lock): that delays the joiners. One linked after the green
    /// thread ended runs at once, in the caller.
    ///
    /// Python: `g.link(callback)`. gevent runs each callback in a new
    /// greenlet, so `link(q.put)` style callbacks that block work the
    /// same here.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use bingfa_green::{run, spawn};
    ///
    /// run(|| {
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     let h = spawn(|| 6 * 7);
    ///     let l = log.clone();
    ///     h.link(move |end| l.borrow_mut().push(format!("{} -> {:?}", end.name(), end.value())));
    ///     h.join().unwrap();
    ///     assert_eq!(*log.borrow(), ["green-2 -> Some(42)"]);
    /// })
    /// .unwrap();
    /// ```
    pub fn link(&self, f: impl FnOnce(&Finished<'_, T>) + 'static) -> LinkId {
        self.add_link(Kind::Any, Box::new(f))
    }

    /// As [`link`](Self::link), only if the green thread returns a value.
    ///
    /// Python: `g.link_value(callback)`.
    pub fn link_value(&self, f: impl FnOnce(&Finished<'_, T>) + 'static) -> LinkId {
        self.add_link(Kind::Value, Box::new(f))
    }

    /// As [`link`](Self::link), only if the green thread fails (panics, is
    /// killed...).
    ///
    /// Python: `g.link_exception(callback)`.
    pub fn link_exception(&self, f: impl FnOnce(&Finished<'_, T>) + 'static) -> LinkId {
        self.add_link(Kind::Error, Box::new(f))
    }

    /// As [`link`](Self::link).
    ///
    /// Python: `g.rawlink(callback)`, which runs the callback in the hub
    /// instead of in a new greenlet; here every link runs in the green
    /// thread that ended, so the two are the same.
    pub fn rawlink(&self, f: impl FnOnce(&Finished<'_, T>) + 'static) -> LinkId {
        self.link(f)
    }

    /// Removes link `id` if it has not run yet; returns whether it was
    /// pending.
    ///
    /// Python: `g.unlink(callback)`.
    pub fn unlink(&self, id: LinkId) -> bool {
        self.slot().links.remove(id)
    }

    /// Whether any link is pending.
    ///
    /// Python: `g.has_links()`.
    pub fn has_links(&self) -> bool {
        self.slot().links.len() > 0
    }
}
