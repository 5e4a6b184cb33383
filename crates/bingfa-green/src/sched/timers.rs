//! Timers and [`Timeout`](crate::Timeout) scopes.
//!
//! Timers sit in a min-heap by deadline (ties in the order they were
//! added). A timer for a green thread carries its wake [`Token`], so one
//! that outlived its wait is ignored when it fires (and swept when such
//! timers pile up); a timer for a `Waker` (async sleeps) always wakes it.
//! A green thread's open `Timeout` scopes are kept on its task; a wait
//! adds a timer for the earliest, and the switch path unwinds it when one
//! has expired.

use std::cmp::Reverse;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::table::{split, Slot, State};
use super::{Sched, Token, Woke};

enum Target {
    Task(Token),
    Waker(Waker),
}

/// A timer in the hub's heap.
pub(super) struct Timer {
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

impl Sched {
    pub(crate) fn add_timer(&self, at: Instant, target: Token) {
        self.push_timer(at, Target::Task(target));
    }

    pub(crate) fn add_waker_timer(&self, at: Instant, w: Waker) {
        self.waits
            .waker_timers
            .set(self.waits.waker_timers.get() + 1);
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

    /// Opens a [`Timeout`](crate::Timeout) scope of `duration`, due at
    /// `at`, in the running green thread; returns its key and the scope's
    /// id.
    pub(crate) fn push_scope(&self, at: Instant, duration: Duration) -> (u64, u64) {
        let id = self.scope_ids.get() + 1;
        self.scope_ids.set(id);
        let t = self.running();
        t.scopes.borrow_mut().push((at, id, duration));
        t.scoped.set(true);
        (t.key, id)
    }

    /// Closes scope `id` of the running green thread.
    pub(crate) fn pop_scope(&self, id: u64) {
        Self::remove_scope(self.running(), id);
    }

    /// Closes scope `id` of green thread `key`, if it is still open;
    /// returns whether it was.
    pub(crate) fn cancel_scope(&self, key: u64, id: u64) -> bool {
        self.with_task(key, |t| Self::remove_scope(t, id))
            .unwrap_or(false)
    }

    /// Whether scope `id` of green thread `key` is open (not expired, not
    /// closed).
    pub(crate) fn scope_open(&self, key: u64, id: u64) -> bool {
        self.with_task(key, |t| t.scopes.borrow().iter().any(|s| s.1 == id))
            .unwrap_or(false)
    }

    fn remove_scope(t: &super::table::Task, id: u64) -> bool {
        let mut scopes = t.scopes.borrow_mut();
        let before = scopes.len();
        scopes.retain(|s| s.1 != id);
        t.scoped.set(!scopes.is_empty());
        scopes.len() != before
    }

    pub(super) fn next_timeout(&self) -> Option<Duration> {
        if self.ready.len() != 0 {
            return Some(Duration::ZERO);
        }
        let timers = self.timers.borrow();
        timers
            .peek()
            .map(|Reverse(t)| t.at.saturating_duration_since(Instant::now()))
    }

    pub(super) fn fire_timers(&self) {
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
                            let current = task.seq.get() == tok.seq;
                            // The wait's own timer fired: it is no longer
                            // armed (a stale one belongs to no wait).
                            if current && task.armed.replace(false) {
                                self.waits.armed.set(self.waits.armed.get() - 1);
                            }
                            current && task.state.get() == State::BlockedPermit
                        })
                        .unwrap_or(false);
                    if permit {
                        self.unpark(tok.key);
                    } else {
                        self.wake(tok, Woke::TimedOut);
                    }
                }
                Target::Waker(w) => {
                    self.waits
                        .waker_timers
                        .set(self.waits.waker_timers.get() - 1);
                    w.wake();
                }
            }
        }
    }
}
