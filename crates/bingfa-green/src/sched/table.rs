//! The task table and the ready queue.
//!
//! A green thread's key is its slot's index (low 32 bits) and the slot's
//! generation (high 32 bits), bumped when the slot is freed, so a stale key
//! finds nothing. Each slot holds the green thread's boxed [`Task`]; the
//! ready queue holds pointers to those boxes. Spawning fills a slot and
//! queues the task; waking, unparking and killing move a blocked task back
//! to the queue; [`finished`](Sched::finished) frees the slot of a green
//! thread whose fiber returned.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::Yielder;

use super::{try_sched, KillError, KillState, Killed, Sched, Token, Woke};
use crate::error::Error;
use crate::fiber::Fiber;
use crate::local::Locals;
use crate::overflow::Running;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Ready,
    Running,
    Blocked,
    /// Blocked in `park_permit` (block_on): woken by `Msg::Unpark`.
    BlockedPermit,
}

/// A green thread. Boxed in the task table and only ever shared (`&Task`):
/// what changes sits in cells, so the running green thread and the loop can
/// both hold it.
pub(super) struct Task {
    /// Only ever touched by the loop's `resume` (see there), and dropped
    /// first when the task is.
    pub(super) fiber: UnsafeCell<Fiber<(), (), ()>>,
    /// Its fiber's overflow record ([`Fiber::record`]), read by the switch
    /// path without touching the fiber.
    pub(super) record: *const Running,
    pub(super) yielder: Cell<*const Yielder<(), ()>>,
    pub(super) state: Cell<State>,
    pub(super) seq: Cell<u64>,
    pub(super) reason: Cell<Woke>,
    pub(super) kill: Cell<bool>,
    /// `!scopes.is_empty()`, kept beside it so that the switch path checks
    /// two flags and borrows nothing.
    pub(super) scoped: Cell<bool>,
    pub(super) early: Cell<bool>,
    pub(super) permit: Cell<bool>,
    /// Its open `Timeout` scopes: deadline, id, duration.
    pub(super) scopes: RefCell<Vec<(Instant, u64, Duration)>>,
    /// The call it waits in now (for the LoopExit report).
    pub(super) wait_what: Cell<&'static str>,
    /// Whether its wait has a timer that has not fired.
    pub(super) armed: Cell<bool>,
    /// Whether it is unwinding from an interrupt of ours (kill, expired
    /// scope, LoopExit): another one must wait until that is over.
    pub(super) unwinding: Cell<bool>,
    /// Its green-local values ([`GreenLocal`](crate::GreenLocal)).
    pub(super) locals: Locals,
    pub(crate) name: Arc<str>,
    /// Its key in the task table.
    pub(super) key: u64,
}

/// The ready queue: the green threads that will run, in order, as
/// pointers to their boxed tasks, so that the loop reaches the next one
/// without a table lookup.
///
/// Every pointer in it is to a live task: a task is pushed only by the
/// code that moves it to `State::Ready` (spawn, `wake`, `unpark`, `kill`,
/// `yield_now`), and only the loop pops it, moving it to `Running`; so a
/// task is in the queue at most once and only while `Ready`. A task's box
/// is freed only after its fiber returned, while it was `Running`: never
/// while it is queued.
pub(super) struct ReadyQueue(UnsafeCell<VecDeque<*const Task>>);

impl ReadyQueue {
    pub(super) fn new() -> ReadyQueue {
        ReadyQueue(UnsafeCell::new(VecDeque::new()))
    }

    #[inline(always)]
    pub(super) fn push(&self, t: &Task) {
        debug_assert_eq!(t.state.get(), State::Ready);
        // SAFETY: the queue is only used on the hub's thread (`Sched` is
        // !Sync), and this `&mut` lives only inside this call, which calls
        // nothing that could reach the queue again.
        unsafe { (*self.0.get()).push_back(t) }
    }

    #[inline(always)]
    pub(super) fn pop(&self) -> Option<*const Task> {
        // SAFETY: as in `push`.
        unsafe { (*self.0.get()).pop_front() }
    }

    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        // SAFETY: as in `push`.
        unsafe { (*self.0.get()).len() }
    }
}

/// A place in the task table: its generation and its green thread, if any.
pub(super) struct Slot {
    pub(super) gen: u32,
    pub(super) task: Option<Box<Task>>,
}

/// A key's slot index and generation.
pub(super) fn split(key: u64) -> (usize, u32) {
    ((key & 0xffff_ffff) as usize, (key >> 32) as u32)
}

impl Sched {
    /// Runs `f` on task `key` if it is alive.
    #[inline]
    pub(super) fn with_task<R>(&self, key: u64, f: impl FnOnce(&Task) -> R) -> Option<R> {
        let (idx, gen) = split(key);
        let slots = self.slots.borrow();
        match slots.get(idx) {
            Some(Slot {
                gen: g,
                task: Some(t),
            }) if *g == gen => Some(f(t)),
            _ => None,
        }
    }

    /// Adds a green thread that will run `f`, ready to run.
    ///
    /// `f` learns whether the green thread was killed before it started,
    /// and with what (it must then only record that and return).
    pub(crate) fn spawn(
        &self,
        name: Arc<str>,
        stack_size: usize,
        f: Box<dyn FnOnce(Killed) + 'static>,
    ) -> Result<u64, Error> {
        let idx = self.free.borrow_mut().pop();
        let idx = match idx {
            Some(i) => i as usize,
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(Slot { gen: 0, task: None });
                slots.len() - 1
            }
        };
        let gen = self.slots.borrow()[idx].gen;
        let key = ((gen as u64) << 32) | idx as u64;
        let fiber = Fiber::new(
            name.as_ref().into(),
            stack_size,
            false,
            move |y: &Yielder<(), ()>, ()| {
                let s = try_sched().expect("green threads run inside their hub's loop");
                let t = s.running();
                t.yielder.set(y);
                let killed = t.kill.replace(false).then(|| match s.take_kill(t.key) {
                    Some(KillState::Pending(e)) => Some(e),
                    _ => None,
                });
                f(killed);
                // Green-local values die with their green thread, dropped
                // on its own stack while it is still the running one.
                t.locals.drop_all();
            },
        );
        let fiber = match fiber {
            Ok(f) => f,
            Err(e) => {
                self.free.borrow_mut().push(idx as u32);
                return Err(e);
            }
        };
        let task = Box::new(Task {
            record: fiber.record(),
            fiber: UnsafeCell::new(fiber),
            yielder: Cell::new(std::ptr::null()),
            state: Cell::new(State::Ready),
            seq: Cell::new(0),
            reason: Cell::new(Woke::Normal),
            kill: Cell::new(false),
            scoped: Cell::new(false),
            early: Cell::new(false),
            permit: Cell::new(false),
            scopes: RefCell::new(Vec::new()),
            wait_what: Cell::new(""),
            armed: Cell::new(false),
            unwinding: Cell::new(false),
            locals: Locals::default(),
            name,
            key,
        });
        if let Some(w) = &self.watch {
            w.name(key, Some(task.name.clone()));
        }
        // The box's contents stay put when the box moves into the table.
        self.ready.push(&task);
        self.slots.borrow_mut()[idx].task = Some(task);
        self.live.set(self.live.get() + 1);
        Ok(key)
    }

    /// The running green thread's wake token for the wait it is about to
    /// make.
    #[inline]
    pub(crate) fn token(&self) -> Token {
        Token {
            key: self.running().key,
            seq: self.running().seq.get(),
        }
    }

    /// Name of green thread `key`.
    pub(crate) fn name_of(&self, key: u64) -> Option<Arc<str>> {
        self.with_task(key, |t| t.name.clone())
    }

    /// Wakes the green thread `tok` names if it still waits on that token.
    /// Only on the hub's thread.
    pub(crate) fn wake(&self, tok: Token, why: Woke) {
        self.with_task(tok.key, |t| {
            if t.seq.get() != tok.seq {
                return;
            }
            match t.state.get() {
                State::Blocked => {
                    t.state.set(State::Ready);
                    t.reason.set(why);
                    self.ready.push(t);
                }
                State::Running => t.early.set(true),
                _ => {}
            }
        });
    }

    /// Unparks green thread `key` from `park_permit`, or leaves it a permit.
    pub(crate) fn unpark(&self, key: u64) {
        self.with_task(key, |t| {
            if t.state.get() == State::BlockedPermit {
                t.state.set(State::Ready);
                t.reason.set(Woke::Normal);
                self.ready.push(t);
            } else {
                t.permit.set(true);
            }
        });
    }

    /// Asks green thread `key` to die at its next switch point; wakes it if
    /// it is blocked.
    pub(crate) fn kill(&self, key: u64) -> bool {
        self.kill_with(key, None)
    }

    /// As [`kill`](Self::kill), raising `error` in it instead of the
    /// default (`GreenletExit`) if given. A pending `kill_with` error is
    /// kept: the first one wins.
    ///
    /// Returns false, doing nothing, if the kill needs an unwind this
    /// build cannot do (`panic = "abort"` and the green thread started).
    pub(crate) fn kill_with(&self, key: u64, error: Option<KillError>) -> bool {
        self.with_task(key, |t| {
            if cfg!(panic = "abort") && !t.yielder.get().is_null() {
                return false;
            }
            t.kill.set(true);
            if let Some(e) = error {
                let state = match self.take_kill(key) {
                    Some(k @ KillState::Pending(_)) => k,
                    _ => KillState::Pending(e),
                };
                self.put_kill(key, state);
            }
            if matches!(t.state.get(), State::Blocked | State::BlockedPermit) {
                t.state.set(State::Ready);
                self.ready.push(t);
            }
            true
        })
        .unwrap_or(true)
    }

    /// Takes green thread `key`'s `kill_with` state, if it has one.
    pub(super) fn take_kill(&self, key: u64) -> Option<KillState> {
        let mut kills = self.kills.borrow_mut();
        let i = kills.iter().position(|k| k.0 == key)?;
        Some(kills.swap_remove(i).1)
    }

    /// Gives green thread `key` a `kill_with` state (it has none now).
    pub(super) fn put_kill(&self, key: u64, state: KillState) {
        self.kills.borrow_mut().push((key, state));
    }

    /// Frees the slot of a green thread whose fiber returned.
    #[cold]
    #[inline(never)]
    pub(super) fn finished(&self, idx: usize) {
        let task = {
            let mut slots = self.slots.borrow_mut();
            let s = &mut slots[idx];
            s.gen = s.gen.wrapping_add(1);
            s.task.take()
        };
        self.free.borrow_mut().push(idx as u32);
        self.live.set(self.live.get() - 1);
        if let Some(t) = &task {
            if !self.kills.borrow().is_empty() {
                self.take_kill(t.key);
            }
        }
        if let (Some(w), Some(t)) = (&self.watch, &task) {
            w.name(t.key, None);
        }
        // The fiber (first field) recycles its stack, then the rest goes.
        drop(task);
    }
}
