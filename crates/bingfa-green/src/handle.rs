//! `Handle<T>`: what `spawn` gives back, to join a green thread, read its
//! value or kill it; and `joinall`.

use std::cell::{Cell, OnceCell, Ref, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::link::Links;
use crate::overflow::Name;
use crate::sched::{self, Token, Wait, Woke};

/// The wake tokens of the green threads waiting for one to finish, oldest
/// first: the first inline (most green threads have one joiner at most,
/// which then costs no allocation), the others in a vector.
#[derive(Default)]
pub(crate) struct Joiners {
    first: Option<Token>,
    more: Vec<Token>,
}

impl Joiners {
    /// Adds `tok`, after the others.
    #[inline]
    pub(crate) fn push(&mut self, tok: Token) {
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(tok);
        } else {
            self.more.push(tok);
        }
    }

    /// Keeps the tokens for which `keep` holds, in their order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Token) -> bool) {
        if self.first.as_ref().is_some_and(|t| !keep(t)) {
            self.first = None;
        }
        self.more.retain(keep);
    }
}

impl IntoIterator for Joiners {
    type Item = Token;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Token>, std::vec::IntoIter<Token>>;

    /// Oldest first.
    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.more)
    }
}

/// Where a green thread leaves its result, shared with its handle.
pub(crate) struct ResultSlot<T> {
    /// `ManuallyDrop`, dropped by hand in `Drop`: the usual slot is empty
    /// by then (its `join` took the result), and a branch here is cheaper
    /// than the whole `Error`'s drop glue on every spawn.
    result: RefCell<ManuallyDrop<Option<Result<T, Error>>>>,
    pub(crate) done: Cell<bool>,
    /// When it finished, in the order green threads of its hub finish
    /// (for `joinall`'s "first failure").
    pub(crate) finished: Cell<u64>,
    pub(crate) joiners: RefCell<Joiners>,
    /// Callbacks to run when it ends ([`Handle::link`]).
    pub(crate) links: Links<T>,
}

impl<T> ResultSlot<T> {
    pub(crate) fn new() -> Rc<Self> {
        Rc::new(ResultSlot {
            result: RefCell::new(ManuallyDrop::new(None)),
            done: Cell::new(false),
            finished: Cell::new(0),
            joiners: RefCell::new(Joiners::default()),
            links: Links::default(),
        })
    }

    /// Stores the result, runs the link callbacks (in this green thread,
    /// which has just finished, before it counts as dead) and wakes every
    /// green thread joining.
    pub(crate) fn finish(&self, name: &Name, r: Result<T, Error>) {
        let empty = self.result.borrow_mut().replace(r);
        debug_assert!(empty.is_none());
        std::mem::forget(empty);
        if self.links.len() > 0 {
            name.with_str(|n| self.notify(n));
        }
        self.done.set(true);
        let joiners = std::mem::take(&mut *self.joiners.borrow_mut());
        if let Some(s) = sched::try_sched() {
            self.finished.set(s.next_finished());
            for j in joiners {
                s.wake(j, sched::Woke::Normal);
            }
        }
    }

    /// The result, once stored.
    pub(crate) fn result(&self) -> Ref<'_, Option<Result<T, Error>>> {
        Ref::map(self.result.borrow(), |r| &**r)
    }

    /// Takes the result out.
    pub(crate) fn take_result(&self) -> Option<Result<T, Error>> {
        self.result.borrow_mut().take()
    }

    /// Waits (switching away) until done or `deadline`: `Ok(true)` when
    /// done, `Ok(false)` at the deadline, [`Error::LoopExit`] when nothing
    /// could ever finish it (only the hub's green threads can).
    pub(crate) fn wait(
        &self,
        deadline: Option<Instant>,
        what: &'static str,
    ) -> Result<bool, Error> {
        while !self.done.get() {
            let s = sched::sched(what);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            let tok = s.token();
            self.joiners.borrow_mut().push(tok);
            if s.park_on(deadline, Wait::local(what)) == Woke::LoopExit {
                self.joiners.borrow_mut().retain(|t| *t != tok);
                return Err(s.loop_exit_error(what));
            }
        }
        Ok(true)
    }
}

impl<T> Drop for ResultSlot<T> {
    fn drop(&mut self) {
        // A result nobody took (its handle was dropped, or never joined).
        if let Some(r) = self.result.get_mut().take() {
            drop(r);
        }
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
    /// The name, written out when first asked for if it is the default
    /// `green-N` (`number`).
    name: OnceCell<Arc<str>>,
    number: usize,
    _not_send: PhantomData<*const ()>,
}

impl<T> Handle<T> {
    pub(crate) fn new(slot: Rc<ResultSlot<T>>, key: u64, name: Name) -> Self {
        let (name, number) = match name {
            Name::Numbered(n) => (OnceCell::new(), n),
            other => (OnceCell::from(other.to_arc()), 0),
        };
        Handle {
            slot,
            key,
            name,
            number,
            _not_send: PhantomData,
        }
    }

    /// Where it leaves its result.
    pub(crate) fn slot(&self) -> &ResultSlot<T> {
        &self.slot
    }

    /// The result of a finished green thread.
    pub(crate) fn into_result(self) -> Result<T, Error> {
        self.slot
            .take_result()
            .expect("a finished green thread has a result")
    }

    /// Waits for the green thread to finish (switching to others
    /// meanwhile) and returns what its function returned.
    ///
    /// Python: `g.join()` then `g.get()`.
    ///
    /// # Errors
    /// [`Error::Panicked`] with the panic's message and payload (downcastable)
    /// if it panicked,
    /// [`Error::Killed`] if it was killed; [`Error::LoopExit`] if it can
    /// never finish: every green thread of the hub waits and nothing can
    /// wake one (Python: `LoopExit`).
    ///
    /// # Panics
    /// Outside a green thread of this hub.
    #[doc(alias = "get")]
    pub fn join(self) -> Result<T, Error> {
        self.slot.wait(None, "Handle::join")?;
        self.slot
            .take_result()
            .expect("a finished green thread has a result")
    }

    /// Waits at most `timeout` for the green thread to finish. `Ok(())`
    /// when it has (then [`join`](Self::join) returns at once).
    ///
    /// Python: `g.join(timeout)`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if it is still running after `timeout`;
    /// [`Error::LoopExit`] as [`join`](Self::join) (only for a `timeout`
    /// too long to have a deadline).
    ///
    /// # Panics
    /// Outside a green thread of this hub.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now().checked_add(timeout);
        if self.slot.wait(deadline, "Handle::join_timeout")? {
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
        match &*self.slot.result() {
            Some(Ok(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Whether it finished successfully.
    ///
    /// Python: `g.successful()`.
    pub fn successful(&self) -> bool {
        matches!(&*self.slot.result(), Some(Ok(_)))
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
        self.shared_name()
    }

    /// The name as a shared string.
    fn shared_name(&self) -> &Arc<str> {
        self.name
            .get_or_init(|| Name::Numbered(self.number).to_arc())
    }

    /// Kills the green thread and waits until it is dead: it unwinds from
    /// its current (or next) switch point, running its destructors; one not
    /// yet started never runs. Its `join` then gives [`Error::Killed`]
    /// (unless it had finished before). Killing a dead green thread does
    /// nothing.
    ///
    /// A green thread that does not switch (a busy loop) cannot be killed
    /// until it does. If its unwinding waits for something that can never
    /// come (the hub finds every green thread waiting, Python's
    /// `LoopExit`), this call stops waiting and returns with it not yet
    /// dead ([`is_dead`](Self::is_dead) says so).
    ///
    /// Python: `g.kill()` (`GreenletExit`; `block=True`).
    ///
    /// # Panics
    /// Outside a green thread of this hub, or called by the green thread on
    /// itself. In a build with `panic = "abort"`, if the green thread has
    /// started (unwinding it would abort the process; this panic does, with
    /// a message that says so): use [`try_kill`](Self::try_kill) there.
    pub fn kill(&self) {
        // It could also fail to die if its unwinding waits for something
        // that can never come (LoopExit): then stop waiting.
        if let Err(e @ Error::NeedsUnwind(_)) = self.try_kill() {
            panic!("{e}")
        }
    }

    /// As [`kill`](Self::kill), reporting what keeps it from killing the
    /// green thread instead of panicking or giving up quietly.
    ///
    /// # Errors
    /// [`Error::NeedsUnwind`] in a build with `panic = "abort"` if the
    /// green thread has started (it is left running);
    /// [`Error::LoopExit`] if its unwinding waits for something that can
    /// never come (it is not dead yet).
    ///
    /// # Panics
    /// Outside a green thread of this hub, or called by the green thread on
    /// itself.
    #[doc(alias = "kill")]
    pub fn try_kill(&self) -> Result<(), Error> {
        if self.slot.done.get() {
            return Ok(());
        }
        let s = sched::sched("Handle::kill");
        assert!(
            s.current() != self.key,
            "a green thread cannot kill itself through its handle"
        );
        if !s.kill(self.key) {
            return Err(Error::NeedsUnwind("Handle::kill"));
        }
        self.slot.wait(None, "Handle::kill").map(|_| ())
    }

    /// As [`kill`](Self::kill), raising `error` in the green thread
    /// instead of the default: it unwinds from its switch point with
    /// `error` as the panic payload, which it can catch
    /// (`catch_unwind`, `payload.downcast::<E>()`) and go on. Uncaught, it
    /// ends the green thread, whose `join` gives [`Error::Panicked`] with
    /// that payload (downcastable) and the message `killed with <type>`;
    /// one not yet started never runs and ends the same way. If several
    /// kills come before the green thread's next switch point, the first
    /// `kill_with` error is raised.
    ///
    /// Python: `g.kill(exception)` (`block=True`).
    ///
    /// # Panics
    /// As [`kill`](Self::kill) (`panic = "abort"` included).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bingfa_green::{run, sleep, spawn, Error};
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct Shutdown(u32);
    ///
    /// run(|| {
    ///     let h = spawn(|| sleep(Duration::from_secs(3600)));
    ///     sleep(Duration::from_millis(1));
    ///     h.kill_with(Shutdown(3));
    ///     match h.join() {
    ///         Err(Error::Panicked { payload, message, .. }) => {
    ///             assert!(message.starts_with("killed with"));
    ///             assert_eq!(payload.downcast::<Shutdown>().unwrap(), Shutdown(3));
    ///         }
    ///         other => panic!("{other:?}"),
    ///     }
    /// })
    /// .unwrap();
    /// ```
    #[doc(alias = "kill")]
    pub fn kill_with<E: std::any::Any + Send>(&self, error: E) {
        if self.slot.done.get() {
            return;
        }
        let s = sched::sched("Handle::kill_with");
        assert!(
            s.current() != self.key,
            "a green thread cannot kill itself through its handle"
        );
        if !s.kill_with(self.key, Some(kill_error(error))) {
            panic!("{}", Error::NeedsUnwind("Handle::kill_with"));
        }
        let _ = self.slot.wait(None, "Handle::kill_with");
    }

    /// As [`kill_with`](Self::kill_with), without waiting for it to die.
    ///
    /// Python: `g.kill(exception, block=False)`.
    ///
    /// # Panics
    /// Outside the hub the green thread belongs to; as
    /// [`kill`](Self::kill) with `panic = "abort"`.
    pub fn kill_nowait_with<E: std::any::Any + Send>(&self, error: E) {
        if self.slot.done.get() {
            return;
        }
        let s = sched::try_sched().expect("Handle::kill_nowait_with outside the hub");
        if !s.kill_with(self.key, Some(kill_error(error))) {
            panic!("{}", Error::NeedsUnwind("Handle::kill_nowait_with"));
        }
    }

    /// Asks the green thread to die at its next switch point without
    /// waiting for it.
    ///
    /// Python: `g.kill(block=False)`.
    ///
    /// # Panics
    /// Outside the hub the green thread belongs to; as
    /// [`kill`](Self::kill) with `panic = "abort"`.
    pub fn kill_nowait(&self) {
        if self.slot.done.get() {
            return;
        }
        let s = sched::try_sched().expect("Handle::kill_nowait outside the hub");
        if !s.kill(self.key) {
            panic!("{}", Error::NeedsUnwind("Handle::kill_nowait"));
        }
    }
}

fn kill_error<E: std::any::Any + Send>(error: E) -> sched::KillError {
    sched::KillError {
        payload: Box::new(error),
        type_name: std::any::type_name::<E>(),
    }
}

impl<T: 'static> Handle<T> {
    /// A view of this green thread for `sync`, sharing its end.
    pub(crate) fn watch(&self) -> Watch {
        Watch {
            key: self.key,
            name: self.shared_name().clone(),
            end: self.slot.clone(),
        }
    }
}

impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.name())
            .field("dead", &self.is_dead())
            .finish()
    }
}

/// Waits until every green thread in `handles` has finished (whatever the
/// outcome); read each one's [`value`](Handle::value) afterwards.
///
/// Python: `gevent.joinall(greenlets)`.
///
/// When nothing can ever finish them (every green thread left is blocked
/// and nothing outside the hub can wake one), the calling green thread
/// unwinds with [`Error::LoopExit`] (`waited_on: "joinall"`), which its
/// `join` (or [`run`](crate::run)) returns, as gevent's `joinall` raises
/// `LoopExit`; [`JoinAll::wait`](crate::JoinAll::wait) returns it instead.
/// A `joinall` in a destructor that runs during an unwind returns instead
/// (a second unwind would abort).
///
/// # Panics
/// Outside a green thread.
pub fn joinall<'a, T: 'a>(handles: impl IntoIterator<Item = &'a Handle<T>>) {
    for h in handles {
        if h.slot.wait(None, "joinall").is_err() && !std::thread::panicking() {
            sched::sched("joinall").raise_loop_exit("joinall");
        }
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
        if matches!(h.slot.wait(deadline, "joinall_timeout"), Ok(true)) {
            n += 1;
        }
    }
    n
}
