//! `Group` and `Pool`: sets of green threads joined or killed together, a
//! pool bounding how many run at once, and the mapping helpers on both
//! (`apply`, `apply_async`, `map`, `imap`, `imap_unordered`).

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::imap::{IMap, IMapUnordered};
use crate::error::Error;
use crate::handle::{Handle, Watch};
use crate::hub::Builder;
use crate::sched::{self, KillUnwind, TimeoutUnwind, Token, Woke};

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

    fn kill_members(&self) {
        let s = sched::sched("Group::kill");
        let me = s.current();
        for m in self.inner.live() {
            if !m.dying.get() && m.watch.key != me {
                m.dying.set(true);
                s.kill(m.watch.key);
            }
        }
    }

    /// Kills every green thread of the group (each once: one still dying
    /// from an earlier kill is only waited for), and those that join it
    /// meanwhile, and waits until they are dead. If the wait is cut short (a [`Timeout`](crate::Timeout), or
    /// the caller is killed), the members stay tracked until they end: a
    /// later `kill` or `join` waits for them. A member that is the caller
    /// itself is not killed.
    ///
    /// Python: `group.kill()`.
    ///
    /// # Panics
    /// Outside a green thread.
    pub fn kill(&self) {
        self.kill_until(None, "Group::kill");
    }

    /// Kills the members (and those that join meanwhile, as a pool's
    /// blocked spawners get slots) until none is left but the caller, or
    /// `deadline`; whether none is left.
    fn kill_until(&self, deadline: Option<Instant>, what: &'static str) -> bool {
        let me = sched::sched(what).current();
        self.inner.wait_for(deadline, what, |g| {
            self.kill_members();
            g.live().iter().all(|m| m.watch.key == me)
        })
    }

    /// Asks every green thread of the group to die at its next switch
    /// point, without waiting; they leave the group as they end.
    ///
    /// Python: `group.kill(block=False)`.
    ///
    /// # Panics
    /// Outside a green thread.
    pub fn kill_nowait(&self) {
        self.kill_members();
    }

    /// As [`kill`](Self::kill), waiting at most `timeout`; whether they
    /// all ended.
    ///
    /// Python: `group.kill(timeout=t)`.
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.kill_until(deadline_of(timeout), "Group::kill_timeout")
    }

    /// Kills the green thread of `handle` if the group tracks it and has
    /// not killed it yet, and waits until it is dead.
    ///
    /// Python: `group.killone(greenlet)`.
    pub fn killone<T: 'static>(&self, handle: &Handle<T>) {
        if self.killone_nowait(handle) {
            while !handle.is_dead() {
                let _ = handle.join_timeout(Duration::from_secs(3600));
            }
        }
    }

    /// As [`killone`](Self::killone), without waiting. Whether a kill was
    /// sent.
    ///
    /// Python: `group.killone(greenlet, block=False)`.
    pub fn killone_nowait<T: 'static>(&self, handle: &Handle<T>) -> bool {
        let key = handle.watch().key;
        let Some(m) = self.inner.live().into_iter().find(|m| m.watch.key == key) else {
            return false;
        };
        if m.dying.replace(true) {
            return false;
        }
        handle.kill_nowait();
        true
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
        Err(p) if p.is::<KillUnwind>() || p.is::<TimeoutUnwind>() => panic::resume_unwind(p),
        Err(p) => Err(Error::Panicked {
            name: crate::current_name().unwrap_or_default(),
            message: sched::panic_message(&*p),
        }),
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
