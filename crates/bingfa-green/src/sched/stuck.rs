//! LoopExit: what can end each wait, and what the hub does when nothing
//! can wake any of its green threads.
//!
//! gevent raises `LoopExit` ("This operation would block forever") in the
//! waiting caller when its loop has nothing left to wait for. The hub here
//! does the same: when no green thread is ready and nothing can make one
//! ready (no armed timer, no async sleep pending, no green thread waiting
//! on a socket, nothing another OS thread could do), it wakes the waiting
//! caller with [`Woke::LoopExit`] instead of blocking in its poll for ever.
//!
//! # How a blocking call takes part
//!
//! A blocking call parks with [`Sched::park_on`] (or
//! [`park_permit_on`](Sched::park_permit_on)) and a [`Wait`]: the name of
//! the call, as the user wrote it (`"Event::wait"`), and who can end the
//! wait:
//!
//! - [`WaitKind::Local`]: only this hub (its green threads, its timers).
//!   A join, a hub-local primitive (`Rc`-shared, `!Send`).
//! - [`WaitKind::Shared`]: this hub, or any other OS thread of the
//!   process: a `Send + Sync` primitive that another thread may hold. The
//!   hub cannot see who holds it, so it counts such a wait as stuck only
//!   when no other OS thread is left in the process (the blocking pool's
//!   idle threads aside); while others are, it looks again, backing off
//!   from 10 ms to 1 s, and raises LoopExit once they are gone.
//! - [`WaitKind::External`]: something outside the hub's view (socket
//!   readiness, or a caller that cannot handle LoopExit: the plain
//!   [`Sched::park`]). The hub is never stuck while such a wait is on.
//!
//! `park_on` returns `Woke::LoopExit` when the hub gave up on the wait.
//! The call then withdraws from whatever it queued on and returns
//! `Err(sched.loop_exit_error(what))` ([`Error::LoopExit`], which names the
//! call and every waiting green thread with its wait); a call that returns
//! no `Result` unwinds with it instead ([`Sched::raise_loop_exit`]: the
//! green thread's `join`, or `run`, then gives that error). Such a call
//! must wait as `External` while its caller is already unwinding
//! (`std::thread::panicking()`: a destructor waits during a kill), since a
//! second unwind there would abort the process; a call that returns the
//! error can take part then too.
//!
//! While the hub's main green thread lives, only it is woken (gevent
//! raises LoopExit in the main greenlet): its wait gets the error and the
//! report names the others. After it returned (the hub killing leftovers),
//! every stuck wait is woken.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::time::Duration;

use super::table::{Slot, State, Task};
use super::{Sched, Woke, NONE};
use crate::error::Error;

/// Who can end a wait (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitKind {
    /// Only this hub.
    Local,
    /// This hub or another OS thread of the process.
    Shared,
    /// Something the hub cannot see; never stuck.
    External,
}

/// A wait: the blocking call's name and who can end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) what: &'static str,
    pub(crate) kind: WaitKind,
}

impl Wait {
    /// Only this hub can end it.
    pub(crate) const fn local(what: &'static str) -> Wait {
        Wait {
            what,
            kind: WaitKind::Local,
        }
    }

    /// This hub or another OS thread can end it.
    pub(crate) const fn shared(what: &'static str) -> Wait {
        Wait {
            what,
            kind: WaitKind::Shared,
        }
    }

    /// Something the hub cannot see may end it.
    pub(crate) const fn external(what: &'static str) -> Wait {
        Wait {
            what,
            kind: WaitKind::External,
        }
    }
}

/// The panic payload that carries a LoopExit out of a call that returns
/// no `Result`; the green thread's wrapper turns it into the error.
pub(crate) struct LoopExitUnwind(pub(crate) Error);

/// The first and the longest look-again period while only other OS
/// threads might still end a shared wait.
const RECHECK_FIRST: Duration = Duration::from_millis(10);
const RECHECK_MAX: Duration = Duration::from_secs(1);

/// What the check counts, kept up to date by the switch path with a few
/// cell writes per wait.
pub(crate) struct Counts {
    /// Green threads parked in a `Local` or `Shared` wait.
    stuckable: Cell<usize>,
    /// Of those, the ones in a `Shared` wait.
    shared: Cell<usize>,
    /// Green threads whose wait has a timer that has not fired.
    pub(super) armed: Cell<usize>,
    /// Async-sleep timers not yet fired.
    pub(super) waker_timers: Cell<usize>,
    /// The hub's main green thread (`Hub::run`'s), `NONE` if none.
    main: Cell<u64>,
    /// The next look-again period for shared waits.
    recheck: Cell<Duration>,
    /// The waiting green threads, as the last LoopExit found them.
    report: RefCell<String>,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            stuckable: Cell::new(0),
            shared: Cell::new(0),
            armed: Cell::new(0),
            waker_timers: Cell::new(0),
            main: Cell::new(NONE),
            recheck: Cell::new(RECHECK_FIRST),
            report: RefCell::new(String::new()),
        }
    }
}

/// What the loop should do when nothing is ready.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Something can still wake a green thread: poll as usual.
    Live,
    /// Only other OS threads might: poll, but look again after this.
    Recheck(Duration),
    /// Nothing can: raise LoopExit.
    Stuck,
}

fn inc(c: &Cell<usize>) {
    c.set(c.get() + 1);
}

fn dec(c: &Cell<usize>) {
    c.set(c.get() - 1);
}

impl Sched {
    /// Makes green thread `key` the hub's main one (woken first, alone,
    /// by a LoopExit).
    pub(crate) fn set_main(&self, key: u64) {
        self.waits.main.set(key);
    }

    /// The running green thread `t` starts waiting on `w`.
    #[inline]
    pub(super) fn enter_wait(&self, t: &Task, w: Wait) {
        t.wait_what.set(w.what);
        match w.kind {
            WaitKind::Local => inc(&self.waits.stuckable),
            WaitKind::Shared => {
                inc(&self.waits.stuckable);
                inc(&self.waits.shared);
            }
            WaitKind::External => {}
        }
    }

    /// The wait `w` (as given to [`enter_wait`](Self::enter_wait)) is
    /// over.
    #[inline]
    pub(super) fn leave_wait(&self, w: Wait) {
        match w.kind {
            WaitKind::Local => dec(&self.waits.stuckable),
            WaitKind::Shared => {
                dec(&self.waits.stuckable);
                dec(&self.waits.shared);
            }
            WaitKind::External => {}
        }
    }

    /// Whether nothing can wake a green thread of the hub. Called when
    /// nothing is ready, after the cross-thread queue was drained.
    pub(super) fn verdict(&self) -> Verdict {
        let c = &self.waits;
        let live = self.live.get();
        let maybe = live > 0
            && c.stuckable.get() == live
            && c.armed.get() == 0
            && c.waker_timers.get() == 0;
        if !maybe {
            c.recheck.set(RECHECK_FIRST);
            return Verdict::Live;
        }
        if c.shared.get() > 0 && other_threads() {
            let d = c.recheck.get();
            c.recheck.set((d * 2).min(RECHECK_MAX));
            return Verdict::Recheck(d);
        }
        c.recheck.set(RECHECK_FIRST);
        // Looked at after the thread count: a thread that woke a shared
        // wait and then ended is gone from the count, and its message is
        // in the queue by then (it was pushed before the thread ended).
        if self.remote.has_pending() {
            return Verdict::Live;
        }
        Verdict::Stuck
    }

    /// Wakes the main green thread (or, once it is gone, every waiting
    /// one) with [`Woke::LoopExit`], after noting who waits on what.
    #[cold]
    pub(super) fn loop_exit(&self) {
        let mut report = String::new();
        let mut keys = Vec::new();
        {
            let slots = self.slots.borrow();
            let mut n = 0;
            for (i, s) in slots.iter().enumerate() {
                let Slot { gen, task: Some(t) } = s else {
                    continue;
                };
                if !matches!(t.state.get(), State::Blocked | State::BlockedPermit) {
                    continue;
                }
                keys.push((u64::from(*gen) << 32) | i as u64);
                n += 1;
                if n <= 8 {
                    if n > 1 {
                        report.push_str(", ");
                    }
                    let _ = write!(report, "'{}' in {}", t.name, t.wait_what.get());
                }
            }
            if n > 8 {
                let _ = write!(report, " and {} more", n - 8);
            }
        }
        *self.waits.report.borrow_mut() = report;
        let main = self.waits.main.get();
        if self.with_task(main, |_| ()).is_some() {
            keys = vec![main];
        }
        for k in keys {
            self.with_task(k, |t| {
                if matches!(t.state.get(), State::Blocked | State::BlockedPermit) {
                    t.state.set(State::Ready);
                    t.reason.set(Woke::LoopExit);
                    self.ready.push(t);
                }
            });
        }
    }

    /// The error for a wait in `what` that got [`Woke::LoopExit`].
    pub(crate) fn loop_exit_error(&self, what: &'static str) -> Error {
        Error::LoopExit {
            waited_on: what,
            waiting: self.waits.report.borrow().clone(),
        }
    }

    /// Unwinds the calling green thread with the LoopExit of a wait in
    /// `what`, for a call that returns no `Result`: its `join` (or `run`)
    /// gives [`Error::LoopExit`].
    ///
    /// With `panic = "abort"` this aborts the process, after the panic
    /// hook printed the error (a `resume_unwind` would print nothing).
    pub(crate) fn raise_loop_exit(&self, what: &'static str) -> ! {
        let e = self.loop_exit_error(what);
        if cfg!(panic = "abort") {
            panic!("{e}");
        }
        self.unwinding();
        std::panic::resume_unwind(Box::new(LoopExitUnwind(e)))
    }
}

/// Whether another OS thread than the caller may be running in this
/// process (the blocking pool's idle threads aside): Linux's
/// `/proc/self/stat` thread count. In doubt, yes.
fn other_threads() -> bool {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return true;
    };
    // Field 20 (num_threads); the 2nd (comm) may hold spaces, so count
    // from the `)` that closes it: the 3rd field follows.
    let threads = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().nth(17))
        .and_then(|n| n.parse::<usize>().ok());
    match threads {
        Some(n) => n > 1 + crate::blocking::idle_threads(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_thread_count_sees_a_new_thread() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        assert!(super::other_threads());
        tx.send(()).unwrap();
        t.join().unwrap().unwrap();
    }
}
