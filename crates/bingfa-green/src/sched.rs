//! The hub's scheduler: the task table, the ready queue, timers, the poll
//! and the loop that runs them, on one OS thread.
//!
//! A green thread blocks by [`park`]: it records how it may be woken (a
//! [`Token`]: its key and its wait sequence number), gives the token to
//! whatever will wake it (a wait list, a timer, an IO registration), and
//! suspends to the loop. A wake with a stale sequence number is ignored, so
//! a green thread woken by one cause (say its timer) is not woken again by
//! another (the event it also waited for) in a later, unrelated wait.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use corosensei::{CoroutineResult, Yielder};

use crate::error::Error;
use crate::fiber::{self, Fiber};
use crate::local::Locals;
use crate::net::IoTable;
use crate::overflow::{self, Running};
use crate::remote::{Msg, Remote};
use crate::watchdog::WatchState;

/// The mio token of the cross-thread waker.
pub(crate) const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// How a green thread can be woken: by key and wait sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) key: u64,
    pub(crate) seq: u64,
}

/// Panic payload that unwinds a killed green thread.
pub(crate) struct KillUnwind;

/// Panic payload that unwinds to the [`Timeout`](crate::Timeout) scope
/// with this id.
pub(crate) struct TimeoutUnwind(pub(crate) u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Running,
    Blocked,
    /// Blocked in `park_permit` (block_on): woken by `Msg::Unpark`.
    BlockedPermit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woke {
    Normal,
    TimedOut,
}

/// A green thread. Boxed in the task table and only ever shared (`&Task`):
/// what changes sits in cells, so the running green thread and the loop can
/// both hold it.
pub(crate) struct Task {
    /// Only ever touched by the loop's `resume` (see there), and dropped
    /// first when the task is.
    fiber: UnsafeCell<Fiber<(), (), ()>>,
    /// Its fiber's overflow record ([`Fiber::record`]), read by the switch
    /// path without touching the fiber.
    record: *const Running,
    yielder: Cell<*const Yielder<(), ()>>,
    state: Cell<State>,
    seq: Cell<u64>,
    reason: Cell<Woke>,
    kill: Cell<bool>,
    /// `!scopes.is_empty()`, kept beside it so that the switch path checks
    /// two flags and borrows nothing.
    scoped: Cell<bool>,
    early: Cell<bool>,
    permit: Cell<bool>,
    scopes: RefCell<Vec<(Instant, u64)>>,
    /// Its green-local values ([`GreenLocal`](crate::GreenLocal)).
    locals: Locals,
    pub(crate) name: Arc<str>,
    /// Its key in the task table.
    key: u64,
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
struct ReadyQueue(UnsafeCell<VecDeque<*const Task>>);

impl ReadyQueue {
    #[inline(always)]
    fn push(&self, t: &Task) {
        debug_assert_eq!(t.state.get(), State::Ready);
        // SAFETY: the queue is only used on the hub's thread (`Sched` is
        // !Sync), and this `&mut` lives only inside this call, which calls
        // nothing that could reach the queue again.
        unsafe { (*self.0.get()).push_back(t) }
    }

    #[inline(always)]
    fn pop(&self) -> Option<*const Task> {
        // SAFETY: as in `push`.
        unsafe { (*self.0.get()).pop_front() }
    }

    #[inline(always)]
    fn len(&self) -> usize {
        // SAFETY: as in `push`.
        unsafe { (*self.0.get()).len() }
    }
}

struct Slot {
    gen: u32,
    task: Option<Box<Task>>,
}

enum Target {
    Task(Token),
    Waker(Waker),
}

struct Timer {
    at: Instant,
    n: u64,
    target: Target,
}

impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.n) == (o.at, o.n)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.n).cmp(&(o.at, o.n))
    }
}

pub(crate) struct Sched {
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    ready: ReadyQueue,
    timers: RefCell<BinaryHeap<Reverse<Timer>>>,
    timer_n: Cell<u64>,
    pub(crate) remote: Arc<Remote>,
    pub(crate) poll: RefCell<mio::Poll>,
    pub(crate) io: IoTable,
    /// The running green thread's boxed task (null between switches).
    running: Cell<*const Task>,
    live: Cell<usize>,
    scope_ids: Cell<u64>,
    /// This OS thread's "running fiber" cell ([`overflow::running_cell`]),
    /// so the switch path can tell a nested generator or greenlet without
    /// a second thread-local lookup.
    fiber_cell: *const Cell<*const Running>,
    pub(crate) watch: Option<Arc<WatchState>>,
    pub(crate) default_stack: usize,
    /// Unique per hub in the process (sockets remember theirs).
    pub(crate) id: u64,
}

const NONE: u64 = u64::MAX;

/// At most this many green threads resume between two looks at IO, timers
/// and cross-thread wake-ups while some are ready (tokio's current_thread
/// `event_interval` is 61). This is the bound on starvation by yielders:
/// a socket that became ready, an expired timer or a wake-up from another
/// OS thread waits at most `POLL_EVERY` resumes (each as long as the green
/// thread resumed runs before it switches), however many green threads
/// are ready.
pub(crate) const POLL_EVERY: u32 = 61;

thread_local! {
    static SCHED: Cell<*const Sched> = const { Cell::new(std::ptr::null()) };
}

/// The hub running on this OS thread, if any.
#[inline]
pub(crate) fn try_sched() -> Option<&'static Sched> {
    let p = SCHED.with(|s| s.get());
    // SAFETY: the pointer is set by `Sched::run` to a `Sched` that lives on
    // its caller's frame for the whole loop and is cleared before that
    // frame ends; green code, the only caller, runs inside the loop. The
    // `'static` never escapes the crate's own short uses.
    unsafe { p.as_ref() }
}

/// The green-local values of the running green thread, if one runs.
pub(crate) fn running_locals() -> Option<&'static Locals> {
    let s = try_sched()?;
    let t = s.running.get();
    // SAFETY: as in `Sched::running`: a non-null `running` is the live
    // boxed task of the green thread running now (the caller).
    unsafe { t.as_ref() }.map(|t| &t.locals)
}

/// The hub of the calling green thread: one thread-local read.
///
/// # Panics
/// Outside a green thread (`what` names the call), or inside a generator
/// or greenlet.
#[inline(always)]
pub(crate) fn sched(what: &'static str) -> &'static Sched {
    match try_sched() {
        Some(s) if s.in_own_fiber() => s,
        _ => not_in_green_thread(what),
    }
}

#[cold]
#[inline(never)]
fn not_in_green_thread(what: &'static str) -> ! {
    if try_sched().is_some() && fiber::nested() {
        panic!(
            "{what}: hub calls that switch green threads cannot run inside a generator or greenlet"
        )
    }
    panic!("{}", Error::NotInHub(what))
}

fn split(key: u64) -> (usize, u32) {
    ((key & 0xffff_ffff) as usize, (key >> 32) as u32)
}

impl Sched {
    pub(crate) fn new(
        watch: Option<Arc<WatchState>>,
        default_stack: usize,
    ) -> std::io::Result<Sched> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        Ok(Sched {
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            ready: ReadyQueue(UnsafeCell::new(VecDeque::new())),
            timers: RefCell::new(BinaryHeap::new()),
            timer_n: Cell::new(0),
            remote: Arc::new(Remote::new(Some(waker))),
            poll: RefCell::new(poll),
            io: IoTable::default(),
            running: Cell::new(std::ptr::null()),
            live: Cell::new(0),
            scope_ids: Cell::new(0),
            fiber_cell: overflow::running_cell(),
            watch,
            default_stack,
            id: {
                static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
        })
    }

    /// Whether a green thread runs and the innermost fiber running now is
    /// its own (not a generator or greenlet it resumed).
    #[inline(always)]
    fn in_own_fiber(&self) -> bool {
        let t = self.running.get();
        // SAFETY: `fiber_cell` is this OS thread's cell: the hub was made
        // on the thread it runs on and never leaves it (`Sched` is !Send).
        let innermost = unsafe { (*self.fiber_cell).get() };
        // SAFETY: as in `running`: a non-null `running` is the live boxed
        // task of the green thread running now.
        !t.is_null() && innermost == unsafe { (*t).record }
    }

    /// Runs `f` on task `key` if it is alive.
    #[inline]
    fn with_task<R>(&self, key: u64, f: impl FnOnce(&Task) -> R) -> Option<R> {
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

    /// The running green thread's task, without a table lookup.
    ///
    /// # Panics
    /// If no green thread of this hub is running (a crate bug: callers go
    /// through [`sched`], which checks).
    #[inline(always)]
    fn running(&self) -> &Task {
        let t = self.running.get();
        assert!(!t.is_null(), "no green thread is running");
        // SAFETY: `running` is set by `resume` to the boxed task it is
        // about to switch to, and cleared when the switch comes back; a
        // task's box is freed only by `resume` after its fiber returned,
        // so while it runs (and the caller is that green thread) the box
        // is alive. Tasks are only ever shared (`&Task`, fields in cells).
        unsafe { &*t }
    }

    /// Key of the running green thread; `u64::MAX` when none runs.
    #[inline]
    pub(crate) fn current(&self) -> u64 {
        let t = self.running.get();
        // SAFETY: as in `running`: a non-null `running` is the live boxed
        // task of the green thread running now.
        unsafe { t.as_ref() }.map_or(NONE, |t| t.key)
    }

    /// Green threads alive on this hub.
    pub(crate) fn live(&self) -> usize {
        self.live.get()
    }

    /// Adds a green thread that will run `f`, ready to run.
    ///
    /// `f` gets `true` if the green thread was killed before it started
    /// (it must then only record that and return).
    pub(crate) fn spawn(
        &self,
        name: Arc<str>,
        stack_size: usize,
        f: Box<dyn FnOnce(bool) + 'static>,
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
                f(t.kill.replace(false));
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
    pub(crate) fn kill(&self, key: u64) {
        self.with_task(key, |t| {
            t.kill.set(true);
            if matches!(t.state.get(), State::Blocked | State::BlockedPermit) {
                t.state.set(State::Ready);
                self.ready.push(t);
            }
        });
    }

    pub(crate) fn add_timer(&self, at: Instant, target: Token) {
        self.push_timer(at, Target::Task(target));
    }

    pub(crate) fn add_waker_timer(&self, at: Instant, w: Waker) {
        self.push_timer(at, Target::Waker(w));
    }

    fn push_timer(&self, at: Instant, target: Target) {
        let n = self.timer_n.get();
        self.timer_n.set(n + 1);
        let mut timers = self.timers.borrow_mut();
        // Lazily deleted timers (their green thread was woken otherwise)
        // pile up under long timeouts; sweep them when they outnumber the
        // live green threads.
        if timers.len() > 4096 && timers.len() > 4 * self.live.get() {
            let slots = self.slots.borrow();
            timers.retain(|Reverse(t)| match &t.target {
                Target::Waker(_) => true,
                Target::Task(tok) => {
                    let (idx, gen) = split(tok.key);
                    matches!(slots.get(idx), Some(Slot { gen: g, task: Some(task) })
                        if *g == gen && task.seq.get() == tok.seq)
                }
            });
        }
        timers.push(Reverse(Timer { at, n, target }));
    }

    /// Opens a [`Timeout`](crate::Timeout) scope in the running green
    /// thread; returns its id.
    pub(crate) fn push_scope(&self, at: Instant) -> u64 {
        let id = self.scope_ids.get() + 1;
        self.scope_ids.set(id);
        let t = self.running();
        t.scopes.borrow_mut().push((at, id));
        t.scoped.set(true);
        id
    }

    pub(crate) fn pop_scope(&self, id: u64) {
        let t = self.running();
        let mut scopes = t.scopes.borrow_mut();
        scopes.retain(|s| s.1 != id);
        t.scoped.set(!scopes.is_empty());
    }

    /// Before a switch point: unwinds if the green thread was killed or
    /// one of its timeout scopes expired. Two flag loads when neither.
    #[inline(always)]
    fn check_interrupts(&self, t: &Task) {
        if t.kill.get() | t.scoped.get() {
            self.interrupt(t);
        }
    }

    #[cold]
    #[inline(never)]
    fn interrupt(&self, t: &Task) {
        if t.kill.replace(false) {
            panic::resume_unwind(Box::new(KillUnwind));
        }
        let now = Instant::now();
        let expired = t.scopes.borrow().iter().find(|s| s.0 <= now).map(|s| s.1);
        if let Some(id) = expired {
            self.pop_scope(id);
            panic::resume_unwind(Box::new(TimeoutUnwind(id)))
        }
    }

    /// Switches from the running green thread `t` back to the loop.
    #[inline(always)]
    fn suspend(&self, t: &Task) {
        let y = t.yielder.get();
        // SAFETY: `yielder` was stored by this green thread's own body when
        // it started; it points into its stack and is used only from that
        // stack, while the body runs: we are that green thread right now.
        unsafe { (*y).suspend(()) };
    }

    /// Blocks the running green thread until a wake with the current token
    /// or `deadline`. Returns whether it timed out.
    ///
    /// Unwinds the green thread if it is killed or one of its timeout
    /// scopes expires, before or while it waits.
    pub(crate) fn park(&self, deadline: Option<Instant>) -> Woke {
        let key = self.running().key;
        let t = self.running();
        self.check_interrupts(t);
        if t.early.replace(false) {
            t.seq.set(t.seq.get() + 1);
            return Woke::Normal;
        }
        t.state.set(State::Blocked);
        let scope = t.scopes.borrow().iter().map(|s| s.0).min();
        let at = match (deadline, scope) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = at {
            self.add_timer(
                at,
                Token {
                    key,
                    seq: t.seq.get(),
                },
            );
        }
        self.suspend(t);
        t.seq.set(t.seq.get() + 1);
        let why = t.reason.replace(Woke::Normal);
        self.check_interrupts(t);
        why
    }

    /// Blocks until [`unpark`](Self::unpark) (or returns at once if a
    /// permit is pending). Unwinds on kill or an expired scope.
    pub(crate) fn park_permit(&self) {
        let key = self.running().key;
        let t = self.running();
        self.check_interrupts(t);
        if !t.permit.replace(false) {
            t.state.set(State::BlockedPermit);
            let scope = t.scopes.borrow().iter().map(|s| s.0).min();
            if let Some(at) = scope {
                // A scope deadline must interrupt this wait too: a timer
                // that wakes it through the permit path.
                self.add_timer(
                    at,
                    Token {
                        key,
                        seq: t.seq.get(),
                    },
                );
            }
            self.suspend(t);
            t.seq.set(t.seq.get() + 1);
        }
        self.check_interrupts(t);
    }

    /// Puts the running green thread at the back of the ready queue.
    ///
    /// Kill and `Timeout` are checked when it is resumed, so a kill or an
    /// expired scope unwinds it at this switch point, whether it was set
    /// before the yield (by itself) or meanwhile (by another green thread
    /// or the clock).
    ///
    /// Inlined whole into the caller: a call that returns after the stack
    /// switch would find the CPU's return-address predictor filled by the
    /// loop's side and mispredict.
    #[inline(always)]
    pub(crate) fn yield_now(&self) {
        let t = self.running();
        t.state.set(State::Ready);
        self.ready.push(t);
        self.suspend(t);
        self.check_interrupts(t);
    }

    /// Resumes green thread `task` (popped from the ready queue) until it
    /// switches back; returns whether it finished (then its slot is freed).
    #[inline(always)]
    fn resume(&self, task: *const Task) -> bool {
        // SAFETY: every pointer in the ready queue is to a live task (see
        // `ReadyQueue`), and the box stays alive until `finished` below
        // frees it, after its fiber returned; the green thread itself only
        // shares it.
        let t = unsafe { &*task };
        debug_assert_eq!(
            t.state.get(),
            State::Ready,
            "a queued green thread is not ready"
        );
        t.state.set(State::Running);
        self.running.set(task);
        // SAFETY: only this function touches `fiber`, and only from the
        // loop, on the hub's own stack: the loop cannot run inside a green
        // thread (`Hub::run` refuses to nest), so no other `&mut` to it
        // exists while this one lives, and the green thread that runs on
        // the fiber never reaches its own `fiber` field.
        let fiber = unsafe { &mut *t.fiber.get() };
        // One test of the watchdog when it is off.
        let r = match &self.watch {
            None => fiber.resume(()),
            Some(w) => {
                w.enter(t.key);
                let r = fiber.resume(());
                w.leave();
                r
            }
        };
        self.running.set(std::ptr::null());
        match r {
            CoroutineResult::Yield(()) => false,
            CoroutineResult::Return(()) => {
                self.finished(split(t.key).0);
                true
            }
        }
    }

    /// Frees the slot of a green thread whose fiber returned.
    #[cold]
    #[inline(never)]
    fn finished(&self, idx: usize) {
        let task = {
            let mut slots = self.slots.borrow_mut();
            let s = &mut slots[idx];
            s.gen = s.gen.wrapping_add(1);
            s.task.take()
        };
        self.free.borrow_mut().push(idx as u32);
        self.live.set(self.live.get() - 1);
        if let (Some(w), Some(t)) = (&self.watch, &task) {
            w.name(t.key, None);
        }
        // The fiber (first field) recycles its stack, then the rest goes.
        drop(task);
    }

    fn next_timeout(&self) -> Option<Duration> {
        if self.ready.len() != 0 {
            return Some(Duration::ZERO);
        }
        let timers = self.timers.borrow();
        timers
            .peek()
            .map(|Reverse(t)| t.at.saturating_duration_since(Instant::now()))
    }

    fn fire_timers(&self) {
        let now = Instant::now();
        loop {
            let t = {
                let mut timers = self.timers.borrow_mut();
                match timers.peek() {
                    Some(Reverse(t)) if t.at <= now => timers.pop().map(|r| r.0),
                    _ => None,
                }
            };
            let Some(t) = t else { break };
            match t.target {
                Target::Task(tok) => {
                    // A permit wait is interrupted by its scope timer.
                    let permit = self
                        .with_task(tok.key, |task| {
                            task.seq.get() == tok.seq && task.state.get() == State::BlockedPermit
                        })
                        .unwrap_or(false);
                    if permit {
                        self.unpark(tok.key);
                    } else {
                        self.wake(tok, Woke::TimedOut);
                    }
                }
                Target::Waker(w) => w.wake(),
            }
        }
    }

    fn drain_remote(&self) {
        self.remote.drain(|m| match m {
            Msg::Wake { key, seq } => self.wake(Token { key, seq }, Woke::Normal),
            Msg::Unpark { key } => self.unpark(key),
        });
    }

    /// Runs green threads until `done()` holds.
    ///
    /// Ready green threads run in FIFO order (a `yield_now` puts its
    /// caller behind every green thread ready then). Every [`POLL_EVERY`]
    /// resumes the loop looks at IO (a zero-timeout poll, skipped while no
    /// socket is registered), cross-thread wake-ups and expired timers;
    /// when nothing is ready it blocks in the poll until the next timer.
    /// `done()` can only change when a green thread finishes (its result
    /// is set on its way out), so it is asked at the start and after each
    /// green thread that finished, never on a yield.
    pub(crate) fn run_until(&self, done: &dyn Fn() -> bool) -> std::io::Result<()> {
        let prev = SCHED.with(|s| s.replace(self));
        struct Reset(*const Sched);
        impl Drop for Reset {
            fn drop(&mut self) {
                SCHED.with(|s| s.set(self.0));
            }
        }
        let _reset = Reset(prev);
        let mut events = mio::Events::with_capacity(1024);
        if done() {
            return Ok(());
        }
        // Resumes left before IO, timers and wake-ups are looked at again.
        let mut budget = POLL_EVERY;
        loop {
            if budget == 0 {
                self.poll_io(&mut events, false)?;
                budget = POLL_EVERY;
            }
            let Some(task) = self.ready.pop() else {
                self.poll_io(&mut events, true)?;
                budget = POLL_EVERY;
                continue;
            };
            budget -= 1;
            if self.resume(task) && done() {
                return Ok(());
            }
        }
    }

    /// Polls IO (blocking until the next timer if `may_block`, else with
    /// a zero timeout), then takes cross-thread wake-ups and fires expired
    /// timers.
    #[cold]
    #[inline(never)]
    fn poll_io(&self, events: &mut mio::Events, may_block: bool) -> std::io::Result<()> {
        let timeout = if may_block {
            // Clears the remote's `notified` flag before a possibly
            // blocking poll, so a push from now on writes the poll's
            // waker (and moves what is queued to the ready queue, in which
            // case the poll does not block).
            self.drain_remote();
            self.next_timeout()
        } else {
            Some(Duration::ZERO)
        };
        // Without a registered socket a zero-timeout poll could only
        // report the waker, whose messages `has_pending` below sees: skip
        // the system call. (Epoll is edge-triggered here: readiness that
        // arrives meanwhile stays queued in the kernel for the next poll.)
        if may_block || !self.io.is_empty() {
            match self.poll.borrow_mut().poll(events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                if ev.token() == WAKER_TOKEN {
                    continue;
                }
                self.io.ready(self, ev);
            }
        }
        // Between blocking polls one load tells whether a drain (two
        // atomic swaps) is needed; `notified` may stay set meanwhile,
        // which only spares producers the poll's wake-up system call
        // until the next blocking poll clears it first.
        if may_block || self.remote.has_pending() {
            self.drain_remote();
        }
        if !self.timers.borrow().is_empty() {
            self.fire_timers();
        }
        Ok(())
    }

    /// Kills every green thread left and runs them until they are gone.
    pub(crate) fn kill_all(&self) -> std::io::Result<()> {
        let keys: Vec<u64> = {
            let slots = self.slots.borrow();
            slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.task.is_some())
                .map(|(i, s)| ((s.gen as u64) << 32) | i as u64)
                .collect()
        };
        for k in keys {
            self.kill(k);
        }
        self.run_until(&|| self.live.get() == 0)
    }
}

/// Runs `f`, turning a kill into `Err(Killed)` and a panic into
/// `Err(Panicked)` with its message.
pub(crate) fn catch<T>(name: &str, f: impl FnOnce() -> T) -> Result<T, Error> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(p) if p.is::<KillUnwind>() => Err(Error::Killed),
        Err(p) => Err(Error::Panicked {
            name: name.to_owned(),
            message: panic_message(&*p),
        }),
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if p.is::<TimeoutUnwind>() {
        "a Timeout scope's unwind escaped its scope".to_owned()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

#[cfg(test)]
#[path = "sched_fairness_tests.rs"]
mod fairness_tests;
