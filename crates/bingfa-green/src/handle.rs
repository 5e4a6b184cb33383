//! `Handle<T>`: what `spawn` gives back, to join a green thread, read its
//! value or kill it; and `joinall`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sched::{self, Token};

/// Where a green thread leaves its result, shared with its handle.
pub(crate) struct ResultSlot<T> {
    result: RefCell<Option<Result<T, Error>>>,
    done: Cell<bool>,
    joiners: RefCell<Vec<Token>>,
}

impl<T> ResultSlot<T> {
    pub(crate) fn new() -> Rc<Self> {
        Rc::new(ResultSlot {
            result: RefCell::new(None),
            done: Cell::new(false),
            joiners: RefCell::new(Vec::new()),
        })
    }

    /// Stores the result and wakes every green thread joining.
    pub(crate) fn finish(&self, r: Result<T, Error>) {
        *self.result.borrow_mut() = Some(r);
        self.done.set(true);
        let joiners = std::mem::take(&mut *self.joiners.borrow_mut());
        if let Some(s) = sched::try_sched() {
            for j in joiners {
                s.wake(j, sched::Woke::Normal);
            }
        }
    }

    /// Waits (switching away) until done or `deadline`; true when done.
    fn wait(&self, deadline: Option<Instant>, what: &'static str) -> bool {
        while !self.done.get() {
            let s = sched::sched(what);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            self.joiners.borrow_mut().push(s.token());
            s.park(deadline);
        }
        true
    }
}

/// A green thread's end as `sync` sees it, without its result's type:
/// whether it finished, and a way to be woken when it does.
pub(crate) trait Finish {
    /// Whether the green thread has finished.
    fn is_done(&self) -> bool;
    /// Wakes `tok` when the green thread finishes (a stale token is
    /// ignored then, so it needs no withdrawal).
    fn wake_on_finish(&self, tok: Token);
}

impl<T> Finish for ResultSlot<T> {
    fn is_done(&self) -> bool {
        self.done.get()
    }

    fn wake_on_finish(&self, tok: Token) {
        self.joiners.borrow_mut().push(tok);
    }
}

/// What `sync`'s `Group`, `Pool` and `wait` keep of a handle they do not
/// own: the green thread's key, name and end.
pub(crate) struct Watch {
    pub(crate) key: u64,
    pub(crate) name: Arc<str>,
    pub(crate) end: Rc<dyn Finish>,
}

/// A spawned green thread: join it, read its value, kill it.
///
/// Dropping the handle detaches the green thread: it runs on.
///
/// Python: `gevent.Greenlet` (what `gevent.spawn` returns).
///
/// A handle is `!Send`: green threads never leave their hub's OS thread,
/// and neither do their handles.
///
/// ```compile_fail
/// fn must_be_send<T: Send>(_: T) {}
/// bingfa_green::run(|| {
///     let h = bingfa_green::spawn(|| 1);
///     must_be_send(h);
/// });
/// ```
pub struct Handle<T> {
    slot: Rc<ResultSlot<T>>,
    key: u64,
    name: Arc<str>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Handle<T> {
    pub(crate) fn new(slot: Rc<ResultSlot<T>>, key: u64, name: Arc<str>) -> Self {
        Handle {
            slot,
            key,
            name,
            _not_send: PhantomData,
        }
    }

    /// The result of a finished green thread.
    pub(crate) fn into_result(self) -> Result<T, Error> {
        self.slot
            .result
            .borrow_mut()
            .take()
            .expect("a finished green thread has a result")
    }

    /// Waits for the green thread to finish (switching to others
    /// meanwhile) and returns what its function returned.
    ///
    /// Python: `g.join()` then `g.get()`.
    ///
    /// # Errors
    /// [`Error::Panicked`] with the panic's message if it panicked,
    /// [`Error::Killed`] if it was killed. Taking the result a second time
    /// (after [`join`](Self::join) on a clone is impossible: handles are
    /// not `Clone`) cannot happen.
    ///
    /// # Panics
    /// Outside a green thread of this hub.
    #[doc(alias = "get")]
    pub fn join(self) -> Result<T, Error> {
        self.slot.wait(None, "Handle::join");
        self.slot
            .result
            .borrow_mut()
            .take()
            .expect("a finished green thread has a result")
    }

    /// Waits at most `timeout` for the green thread to finish. `Ok(())`
    /// when it has (then [`join`](Self::join) returns at once).
    ///
    /// Python: `g.join(timeout)`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if it is still running after `timeout`.
    ///
    /// # Panics
    /// Outside a green thread of this hub.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now().checked_add(timeout);
        if self.slot.wait(deadline, "Handle::join_timeout") {
            Ok(())
        } else {
            Err(Error::Timeout(timeout))
        }
    }

    /// The value the green thread returned, once it finished successfully;
    /// `None` while it runs, or if it panicked or was killed.
    ///
    /// Python: `g.value`.
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        match &*self.slot.result.borrow() {
            Some(Ok(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Whether it finished successfully.
    ///
    /// Python: `g.successful()`.
    pub fn successful(&self) -> bool {
        matches!(&*self.slot.result.borrow(), Some(Ok(_)))
    }

    /// Whether it has finished (returned, panicked or was killed).
    ///
    /// Python: `g.dead` / `g.ready()`.
    #[doc(alias = "dead")]
    #[doc(alias = "ready")]
    pub fn is_dead(&self) -> bool {
        self.slot.done.get()
    }

    /// The green thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Kills the green thread and waits until it is dead: it unwinds from
    /// its current (or next) switch point, running its destructors; one not
    /// yet started never runs. Its `join` then gives [`Error::Killed`]
    /// (unless it had finished before). Killing a dead green thread does
    /// nothing.
    ///
    /// A green thread that does not switch (a busy loop) cannot be killed
    /// until it does.
    ///
    /// Python: `g.kill()` (`GreenletExit`; `block=True`).
    ///
    /// # Panics
    /// Outside a green thread of this hub, or called by the green thread on
    /// itself.
    pub fn kill(&self) {
        if self.slot.done.get() {
            return;
        }
        let s = sched::sched("Handle::kill");
        assert!(
            s.current() != self.key,
            "a green thread cannot kill itself through its handle"
        );
        s.kill(self.key);
        self.slot.wait(None, "Handle::kill");
    }

    /// Asks the green thread to die at its next switch point without
    /// waiting for it.
    ///
    /// Python: `g.kill(block=False)`.
    ///
    /// # Panics
    /// Outside the hub the green thread belongs to.
    pub fn kill_nowait(&self) {
        if self.slot.done.get() {
            return;
        }
        let s = sched::try_sched().expect("Handle::kill_nowait outside the hub");
        s.kill(self.key);
    }
}

impl<T: 'static> Handle<T> {
    /// A view of this green thread for `sync`, sharing its end.
    pub(crate) fn watch(&self) -> Watch {
        Watch {
            key: self.key,
            name: self.name.clone(),
            end: self.slot.clone(),
        }
    }
}

impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.name)
            .field("dead", &self.is_dead())
            .finish()
    }
}

/// Waits until every green thread in `handles` has finished (whatever the
/// outcome); read each one's [`value`](Handle::value) afterwards.
///
/// Python: `gevent.joinall(greenlets)`.
///
/// # Panics
/// Outside a green thread.
pub fn joinall<'a, T: 'a>(handles: impl IntoIterator<Item = &'a Handle<T>>) {
    for h in handles {
        h.slot.wait(None, "joinall");
    }
}

/// As [`joinall`], giving up at `timeout`. Returns how many had finished.
///
/// Python: `gevent.joinall(greenlets, timeout=t)`.
///
/// # Panics
/// Outside a green thread.
pub fn joinall_timeout<'a, T: 'a>(
    handles: impl IntoIterator<Item = &'a Handle<T>>,
    timeout: Duration,
) -> usize {
    let deadline = Instant::now().checked_add(timeout);
    let mut n = 0;
    for h in handles {
        if h.slot.wait(deadline, "joinall_timeout") {
            n += 1;
        }
    }
    n
}
