//! The switch path: how the running green thread suspends to the loop
//! (parking or yielding) and how the loop resumes one.
//!
//! This is the hot path of every switch, tuned with care: one thread-local
//! read per switch (in [`sched`](super::sched)), the yield path inlined
//! whole (`#[inline(always)]`), and the kill/`Timeout` check two flag
//! loads, its unwind out of line (`#[cold]`).

use std::panic;
use std::time::Instant;

use corosensei::CoroutineResult;

use super::table::{split, State, Task};
use super::{KillError, KillState, KillUnwind, Sched, TimeoutUnwind, Token, Wait, Woke};

impl Sched {
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
        if Self::held(t) {
            // Already unwinding from one: a second unwind here (inside a
            // destructor that switches) would abort the process. The kill
            // or the expired scope stays pending; the first unwind ends
            // the green thread, or its catcher (`Timeout::run`) gets it
            // back, and the next switch point sees them.
            return;
        }
        t.unwinding.set(false);
        if t.kill.replace(false) {
            t.unwinding.set(true);
            match self.take_kill(t.key) {
                Some(KillState::Pending(KillError { payload, type_name })) => {
                    let raised = KillState::Raised(std::any::Any::type_id(&*payload), type_name);
                    self.put_kill(t.key, raised);
                    panic::resume_unwind(payload)
                }
                Some(raised) => {
                    self.put_kill(t.key, raised);
                    panic::resume_unwind(Box::new(KillUnwind))
                }
                None => panic::resume_unwind(Box::new(KillUnwind)),
            }
        }
        let now = Instant::now();
        // The first open scope that expired: an outer one before an inner
        // one, so the inner never swallows the outer's expiry.
        let expired = t
            .scopes
            .borrow()
            .iter()
            .find(|s| s.0 <= now)
            .map(|s| (s.1, s.2));
        if let Some((id, duration)) = expired {
            self.pop_scope(id);
            t.unwinding.set(true);
            panic::resume_unwind(Box::new(TimeoutUnwind(id, duration)))
        }
    }

    /// Whether `t` is unwinding from an interrupt of ours (a kill, an
    /// expired scope, a LoopExit) and must not be interrupted again
    /// meanwhile. `std::thread::panicking()` is per OS thread, true while
    /// any green thread of the hub is suspended mid-unwind; with our own
    /// per-task mark it tells that the mark is still current (one caught
    /// and swallowed by user code no longer is).
    #[inline]
    fn held(t: &Task) -> bool {
        t.unwinding.get() && std::thread::panicking()
    }

    /// The running green thread's unwind from an interrupt was caught
    /// (by `Timeout::run`): it may be interrupted again.
    pub(crate) fn unwound(&self) {
        self.running().unwinding.set(false);
    }

    /// Marks the running green thread as unwinding from an interrupt of
    /// ours that is not raised by [`interrupt`](Self::interrupt).
    pub(crate) fn unwinding(&self) {
        self.running().unwinding.set(true);
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

    /// Suspends the running green thread `t` until a wake with
    /// its current token, arming a timer for `at` first if given; then
    /// moves the token on, so that wakes meant for this wait (a late timer
    /// among them) no longer match.
    fn suspend_until(&self, t: &Task, at: Option<Instant>) {
        if let Some(at) = at {
            self.add_timer(
                at,
                Token {
                    key: t.key,
                    seq: t.seq.get(),
                },
            );
            t.armed.set(true);
            self.waits.armed.set(self.waits.armed.get() + 1);
        }
        self.suspend(t);
        if t.armed.replace(false) {
            self.waits.armed.set(self.waits.armed.get() - 1);
        }
        t.seq.set(t.seq.get() + 1);
    }

    /// Blocks the running green thread until a wake with the current token
    /// or `deadline`. Returns why it woke: never [`Woke::LoopExit`], the
    /// wait counts as one the hub cannot see the end of (see [`park_on`]).
    ///
    /// Unwinds the green thread if it is killed or one of its timeout
    /// scopes expires, before or while it waits.
    ///
    /// [`park_on`]: Self::park_on
    pub(crate) fn park(&self, deadline: Option<Instant>) -> Woke {
        self.park_on(deadline, Wait::external("a green wait"))
    }

    /// Blocks the running green thread in `wait` until a wake with the
    /// current token or `deadline`. Returns why it woke:
    /// [`Woke::LoopExit`] when nothing could ever wake it (for a `Local`
    /// or `Shared` wait only; see [`stuck`](super::stuck)).
    ///
    /// Unwinds the green thread if it is killed or one of its timeout
    /// scopes expires, before or while it waits.
    pub(crate) fn park_on(&self, deadline: Option<Instant>, wait: Wait) -> Woke {
        let t = self.running();
        self.check_interrupts(t);
        if t.early.replace(false) {
            t.seq.set(t.seq.get() + 1);
            return Woke::Normal;
        }
        t.state.set(State::Blocked);
        // While an unwind holds interrupts, an expired scope must not
        // wake this wait at once, again and again.
        let scope = if Self::held(t) {
            None
        } else {
            t.scopes.borrow().iter().map(|s| s.0).min()
        };
        let at = match (deadline, scope) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.enter_wait(t, wait);
        self.suspend_until(t, at);
        self.leave_wait(wait);
        let why = t.reason.replace(Woke::Normal);
        self.check_interrupts(t);
        why
    }

    /// As [`park`](Self::park), for a wait whose outcome its caller must
    /// settle first (sync's put, whose item may have been taken while it
    /// slept): a kill or an expired `Timeout` scope does not unwind here.
    /// It ends the wait (at once if already pending), the second value
    /// reports it, and it stays pending: [`check_interrupts_now`] or the
    /// next switch point unwinds. While an unwind of ours holds
    /// interrupts (see [`held`](Self::held)) none is reported: the next
    /// switch point after that unwind sees it.
    ///
    /// Counts as an external wait (never [`Woke::LoopExit`]).
    ///
    /// [`check_interrupts_now`]: Self::check_interrupts_now
    pub(crate) fn park_deferring(&self, deadline: Option<Instant>) -> (Woke, bool) {
        let t = self.running();
        if self.interrupt_pending(t) {
            // Wakes meant for this wait no longer match.
            t.early.set(false);
            t.seq.set(t.seq.get() + 1);
            return (Woke::Normal, true);
        }
        if t.early.replace(false) {
            t.seq.set(t.seq.get() + 1);
            return (Woke::Normal, false);
        }
        t.state.set(State::Blocked);
        let scope = if Self::held(t) {
            None
        } else {
            t.scopes.borrow().iter().map(|s| s.0).min()
        };
        let at = match (deadline, scope) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wait = Wait::external("a green put");
        self.enter_wait(t, wait);
        self.suspend_until(t, at);
        self.leave_wait(wait);
        let why = t.reason.replace(Woke::Normal);
        (why, self.interrupt_pending(t))
    }

    /// Whether the switch-point check would unwind `t` now (never while an
    /// unwind of ours holds interrupts).
    fn interrupt_pending(&self, t: &Task) -> bool {
        !Self::held(t)
            && (t.kill.get()
                || (t.scoped.get() && {
                    let now = Instant::now();
                    t.scopes.borrow().iter().any(|s| s.0 <= now)
                }))
    }

    /// Unwinds the running green thread now if it was killed or one of its
    /// `Timeout` scopes expired (what every switch point checks).
    pub(crate) fn check_interrupts_now(&self) {
        self.check_interrupts(self.running());
    }

    /// Blocks in `wait` until [`unpark`](Self::unpark) (or returns at
    /// once if a permit is pending). Returns [`Woke::LoopExit`] when
    /// nothing could ever unpark it (a `Local` or `Shared` wait), else
    /// [`Woke::Normal`]. Unwinds on kill or an expired scope.
    pub(crate) fn park_permit_on(&self, wait: Wait) -> Woke {
        let t = self.running();
        self.check_interrupts(t);
        let mut why = Woke::Normal;
        if !t.permit.replace(false) {
            t.state.set(State::BlockedPermit);
            // A scope deadline must interrupt this wait too: a timer that
            // wakes it through the permit path.
            let scope = if Self::held(t) {
                None
            } else {
                t.scopes.borrow().iter().map(|s| s.0).min()
            };
            self.enter_wait(t, wait);
            self.suspend_until(t, scope);
            self.leave_wait(wait);
            why = t.reason.replace(Woke::Normal);
        }
        self.check_interrupts(t);
        why
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
    pub(super) fn resume(&self, task: *const Task) -> bool {
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
}
