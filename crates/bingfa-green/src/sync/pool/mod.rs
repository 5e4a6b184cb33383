//! `Group` and `Pool`: sets of green threads joined or killed together, a
//! pool bounding how many run at once. The mapping helpers on both
//! (`apply`, `apply_async`, `map`, `imap`, `imap_unordered`) are in
//! [`apply`].

mod apply;
mod kill;

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::handle::{Handle, Watch};
use crate::hub::Builder;
use crate::sched::{self, Token, Woke};

/// A green thread the group tracks.
struct Member {
    id: u64,
    watch: Watch,
    /// Killed by the group already: never killed twice (a second kill
    /// would land in its unwind).
    dying: Cell<bool>,
    /// Spawned by the group: its end removes it and wakes the group's
    /// waiters. A member added from elsewhere is found dead by looking,
    /// and waiters register on its end.
    notifies: bool,
}

impl Member {
    fn is_done(&self) -> bool {
        self.watch.end.is_done()
    }
}

struct Inner {
    size: Option<usize>,
    members: RefCell<Vec<Rc<Member>>>,
    /// Green threads waiting for a member to leave (a free slot, an empty
    /// group); woken all at once, each looks again.
    waiters: RefCell<Vec<Token>>,
    next_id: Cell<u64>,
}

impl Inner {
    fn new(size: Option<usize>) -> Rc<Inner> {
        Rc::new(Inner {
            size,
            members: RefCell::new(Vec::new()),
            waiters: RefCell::new(Vec::new()),
            next_id: Cell::new(0),
        })
    }

    fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Drops members found dead (those added from elsewhere); the members
    /// left.
    fn live(&self) -> Vec<Rc<Member>> {
        let mut ms = self.members.borrow_mut();
        ms.retain(|m| !m.is_done());
        ms.clone()
    }

    fn len(&self) -> usize {
        let mut ms = self.members.borrow_mut();
        ms.retain(|m| !m.is_done());
        ms.len()
    }

    fn has_slot(&self) -> bool {
        self.size.is_none_or(|n| self.len() < n)
    }

    /// Wakes every waiter: a member left.
    fn changed(&self) {
        let ws = std::mem::take(&mut *self.waiters.borrow_mut());
        if let Some(s) = sched::try_sched() {
            for w in ws {
                s.wake(w, Woke::Normal);
            }
        }
    }

    fn leave(&self, id: u64) {
        self.members.borrow_mut().retain(|m| m.id != id);
        self.changed();
    }

    /// Sleeps until a member may have left, or `deadline`; whether the
    /// deadline ended it.
    fn wait_change(&self, deadline: Option<Instant>, what: &'static str) -> bool {
        let s = sched::sched(what);
        let tok = s.token();
        self.waiters.borrow_mut().push(tok);
        for m in self.live() {
            if !m.notifies {
                m.watch.end.wake_on_finish(tok);
            }
        }
        s.park(deadline) == Woke::TimedOut
    }

    /// Waits until `ok` holds (looked at after every change), or
    /// `deadline`; whether it holds.
    fn wait_for(
        &self,
        deadline: Option<Instant>,
        what: &'static str,
        ok: impl Fn(&Inner) -> bool,
    ) -> bool {
        loop {
            if ok(self) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            self.wait_change(deadline, what);
        }
    }

    fn contains_key(&self, key: u64) -> bool {
        self.live().iter().any(|m| m.watch.key == key)
    }

    fn push(&self, m: Member) {
        self.members.borrow_mut().push(Rc::new(m));
    }
}

/// Removes a spawned member from its group when its green thread ends,
/// however it ends (returned, panicked, killed, or killed before it
/// started: the closure that holds this is dropped then).
struct Leave {
    group: Weak<Inner>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        if let Some(g) = self.group.upgrade() {
            g.leave(self.id);
        }
    }
}

fn deadline_of(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// A green thread of a [`Group`], as [`Group::members`] shows it.
pub struct GroupMember {
    m: Rc<Member>,
}

impl GroupMember {
    /// The green thread's name.
    pub fn name(&self) -> &str {
        &self.m.watch.name
    }

    /// Whether it has finished.
    ///
    /// Python: `g.dead`.
    pub fn is_dead(&self) -> bool {
        self.m.is_done()
    }

    /// Whether it is the green thread of `handle`.
    pub fn is<T: 'static>(&self, handle: &Handle<T>) -> bool {
        handle.watch().key == self.m.watch.key
    }
}

impl std::fmt::Debug for GroupMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupMember")
            .field("name", &self.name())
            .field("dead", &self.is_dead())
            .finish()
    }
}

/// A set of running green threads, joined or killed together. A green
/// thread leaves the group when it ends. Cloning gives another handle to
/// the same group.
///
/// Every method also serves [`Pool`] (which derefs to its group): there
/// [`spawn`](Self::spawn) and [`add`](Self::add) wait for a free slot.
///
/// Python: `gevent.pool.Group`.
///
/// ```
/// use std::time::Duration;
/// use bingfa_green::{run, sleep, sync::Group};
///
/// run(|| {
///     let group = Group::new();
///     let a = group.spawn(|| { sleep(Duration::from_millis(5)); "a" });
///     let b = group.spawn(|| sleep(Duration::from_secs(60)));
///     assert_eq!(group.len(), 2);
///     assert!(!group.join_timeout(Duration::from_millis(20)));
///     assert_eq!(group.len(), 1, "a finished and left");
///     group.kill();
///     assert!(group.is_empty());
///     assert_eq!(a.join().unwrap(), "a");
///     assert!(b.join().is_err());
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct Group {
    inner: Rc<Inner>,
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

impl Group {
    /// An empty group.
    ///
    /// Python: `Group()`.
    pub fn new() -> Group {
        Group {
            inner: Inner::new(None),
        }
    }

    /// Spawns `f` as a green thread of the group and returns its handle.
    /// In a [`Pool`], waits (switching away) for a free slot first.
    ///
    /// Python: `group.spawn(f)`.
    ///
    /// # Panics
    /// Outside a green thread, or when no stack can be mapped (use
    /// [`try_spawn`](Self::try_spawn) or [`Builder::spawn`] for errors).
    pub fn spawn<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> Handle<T> {
        self.spawn_until(f, None, "Group::spawn")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Spawns `f` if there is a free slot now (always, in a plain group).
    ///
    /// Python: `pool.spawn` after `pool.full()` said no.
    ///
    /// # Errors
    /// [`Error::Full`] if no slot is free; [`Error::OutOfStacks`] if no
    /// stack can be mapped.
    pub fn try_spawn<T: 'static>(
        &self,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<Handle<T>, Error> {
        if !self.inner.has_slot() {
            return Err(Error::Full);
        }
        self.spawn_until(f, None, "Group::try_spawn")
    }

    /// As [`spawn`](Self::spawn), waiting at most `timeout` for a slot.
    ///
    /// # Errors
    /// [`Error::Timeout`] if no slot came free in time;
    /// [`Error::OutOfStacks`].
    pub fn spawn_timeout<T: 'static>(
        &self,
        f: impl FnOnce() -> T + 'static,
        timeout: Duration,
    ) -> Result<Handle<T>, Error> {
        self.spawn_until(f, Some(deadline_of(timeout)), "Group::spawn_timeout")
            .map_err(|e| match e {
                Error::Full => Error::Timeout(timeout),
                e => e,
            })
    }

    /// `deadline`: `Some(None)` for one too far to represent.
    fn spawn_until<T: 'static>(
        &self,
        f: impl FnOnce() -> T + 'static,
        deadline: Option<Option<Instant>>,
        what: &'static str,
    ) -> Result<Handle<T>, Error> {
        let limit = deadline.flatten();
        if !self.inner.wait_for(limit, what, Inner::has_slot) {
            return Err(Error::Full);
        }
        let id = self.inner.next_id();
        let leave = Leave {
            group: Rc::downgrade(&self.inner),
            id,
        };
        let h = Builder::new().spawn(move || {
            let _leave = leave;
            f()
        })?;
        self.inner.push(Member {
            id,
            watch: h.watch(),
            dying: Cell::new(false),
            notifies: true,
        });
        Ok(h)
    }

    /// Starts tracking a green thread spawned elsewhere (nothing if it is
    /// tracked already or has finished). In a [`Pool`], waits for a free
    /// slot first: the green thread may run meanwhile.
    ///
    /// Python: `group.add(greenlet)`.
    ///
    /// # Panics
    /// In a full pool, outside a green thread.
    pub fn add<T: 'static>(&self, handle: &Handle<T>) {
        self.add_until(handle, None);
    }

    /// As [`add`](Self::add), only if a slot is free now.
    ///
    /// Python: `pool.add(greenlet, blocking=False)`.
    ///
    /// # Errors
    /// [`Error::Full`] if no slot is free (Python: `PoolFull`).
    pub fn try_add<T: 'static>(&self, handle: &Handle<T>) -> Result<(), Error> {
        if !self.inner.has_slot() && !self.contains(handle) {
            return Err(Error::Full);
        }
        self.add_until(handle, None);
        Ok(())
    }

    /// As [`add`](Self::add), waiting at most `timeout` for a slot.
    ///
    /// Python: `pool.add(greenlet, timeout=t)`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if no slot came free in time (Python:
    /// `PoolFull`).
    pub fn add_timeout<T: 'static>(
        &self,
        handle: &Handle<T>,
        timeout: Duration,
    ) -> Result<(), Error> {
        if self.add_until(handle, Some(deadline_of(timeout))) {
            Ok(())
        } else {
            Err(Error::Timeout(timeout))
        }
    }

    fn add_until<T: 'static>(&self, handle: &Handle<T>, deadline: Option<Option<Instant>>) -> bool {
        let watch = handle.watch();
        if watch.end.is_done() || self.inner.contains_key(watch.key) {
            return true;
        }
        if !self
            .inner
            .wait_for(deadline.flatten(), "Group::add", Inner::has_slot)
        {
            return false;
        }
        if !self.inner.contains_key(watch.key) && !watch.end.is_done() {
            self.inner.push(Member {
                id: self.inner.next_id(),
                watch,
                dying: Cell::new(false),
                notifies: false,
            });
        }
        true
    }

    /// Stops tracking the green thread of `handle` (in a pool, its slot
    /// is free again). It runs on.
    ///
    /// Python: `group.discard(greenlet)`.
    pub fn discard<T: 'static>(&self, handle: &Handle<T>) {
        let key = handle.watch().key;
        self.inner
            .members
            .borrow_mut()
            .retain(|m| m.watch.key != key);
        self.inner.changed();
    }

    /// Whether the group tracks the green thread of `handle` (one that
    /// has finished has left).
    ///
    /// Python: `greenlet in group`.
    pub fn contains<T: 'static>(&self, handle: &Handle<T>) -> bool {
        self.inner.contains_key(handle.watch().key)
    }

    /// How many green threads the group tracks (running ones: a green
    /// thread leaves when it ends).
    ///
    /// Python: `len(group)`.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether it tracks none.
    ///
    /// Python: `not group`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The green threads the group tracks now, in the order they joined.
    ///
    /// Python: `list(group)` / `group.greenlets`.
    #[doc(alias = "greenlets")]
    pub fn members(&self) -> Vec<GroupMember> {
        self.inner
            .live()
            .into_iter()
            .map(|m| GroupMember { m })
            .collect()
    }

    /// Waits until the group is empty (at once if it is). Green threads
    /// that join it meanwhile are waited for too; one that joins after
    /// the group was empty for a moment may be missed, as in gevent.
    ///
    /// Python: `group.join()`.
    ///
    /// # Panics
    /// Outside a green thread, unless the group is empty.
    pub fn join(&self) {
        self.inner.wait_for(None, "Group::join", |g| g.len() == 0);
    }

    /// As [`join`](Self::join), waiting at most `timeout`; whether the
    /// group became empty.
    ///
    /// Python: `group.join(timeout)`.
    #[doc(alias = "join")]
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.inner
            .wait_for(deadline_of(timeout), "Group::join_timeout", |g| {
                g.len() == 0
            })
    }

    /// Whether a spawn would wait now (never, in a plain group).
    ///
    /// Python: `group.full()`.
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        !self.inner.has_slot()
    }

    /// Free slots now (`usize::MAX` without a bound).
    ///
    /// Python: `pool.free_count()` (which says 1 without a bound).
    pub fn free_count(&self) -> usize {
        match self.inner.size {
            Some(n) => n.saturating_sub(self.len()),
            None => usize::MAX,
        }
    }

    /// Waits until a spawn would not wait; the free slots then.
    ///
    /// Python: `pool.wait_available()`.
    pub fn wait_available(&self) -> usize {
        self.inner
            .wait_for(None, "Group::wait_available", Inner::has_slot);
        self.free_count()
    }

    /// As [`wait_available`](Self::wait_available), waiting at most
    /// `timeout`; the free slots then (0 if none came free).
    ///
    /// Python: `pool.wait_available(timeout=t)`.
    #[doc(alias = "wait_available")]
    pub fn wait_available_timeout(&self, timeout: Duration) -> usize {
        self.inner.wait_for(
            deadline_of(timeout),
            "Group::wait_available",
            Inner::has_slot,
        );
        self.free_count()
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("len", &self.len())
            .field("size", &self.inner.size)
            .finish()
    }
}

/// A [`Group`] that runs at most `size` green threads at once:
/// [`spawn`](Group::spawn) and [`add`](Group::add) wait (switching away)
/// for a free slot, [`try_spawn`](Group::try_spawn) and
/// [`try_add`](Group::try_add) refuse with [`Error::Full`]. Every method
/// of [`Group`] works on a pool (it derefs to its group). Cloning gives
/// another handle to the same pool.
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
///     let results = pool
///         .map(0..10, move |i| {
///             now.set(now.get() + 1);
///             max.set(max.get().max(now.get()));
///             sleep(Duration::from_millis(2));
///             now.set(now.get() - 1);
///             i * i
///         })
///         .unwrap();
///     assert_eq!(results, (0..10).map(|i| i * i).collect::<Vec<_>>());
///     // The pool's results come in order; at most 3 ran at once.
///     let inline = pool.apply(|| "a call from outside the pool: in a green thread of it");
///     assert!(inline.is_ok());
///     assert_eq!(pool.free_count(), 3);
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct Pool {
    group: Group,
}

impl Pool {
    /// A pool of `size` slots. A pool of 0 is always full: a spawn waits
    /// forever (use [`wait_available_timeout`](Group::wait_available_timeout)
    /// and [`try_spawn`](Group::try_spawn) with it), as in gevent.
    ///
    /// Python: `Pool(size)`.
    pub fn new(size: usize) -> Pool {
        Pool {
            group: Group {
                inner: Inner::new(Some(size)),
            },
        }
    }

    /// A pool without a bound: a [`Group`] that can be passed where a
    /// pool is expected.
    ///
    /// Python: `Pool(None)`.
    pub fn unbounded() -> Pool {
        Pool {
            group: Group::new(),
        }
    }

    /// The pool's size, `None` without a bound.
    ///
    /// Python: `pool.size`.
    pub fn size(&self) -> Option<usize> {
        self.group.inner.size
    }

    /// The pool's group.
    pub fn group(&self) -> &Group {
        &self.group
    }
}

impl Deref for Pool {
    type Target = Group;
    fn deref(&self) -> &Group {
        &self.group
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size())
            .field("len", &self.len())
            .finish()
    }
}
