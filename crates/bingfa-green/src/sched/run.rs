//! The loop: runs ready green threads in FIFO order and, every
//! [`POLL_EVERY`] resumes or whenever nothing is ready, looks at IO,
//! cross-thread wake-ups and expired timers.

use std::time::Duration;

use super::stuck::Verdict;
use super::{Sched, Token, Woke, POLL_EVERY, SCHED, WAKER_TOKEN};
use crate::remote::Msg;

impl Sched {
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
            let timeout = self.next_timeout();
            if self.ready.len() != 0 {
                timeout
            } else {
                match self.verdict() {
                    Verdict::Live => timeout,
                    Verdict::Recheck(d) => Some(timeout.map_or(d, |t| t.min(d))),
                    Verdict::Stuck => {
                        self.loop_exit();
                        return Ok(());
                    }
                }
            }
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
        let mut refused = 0;
        for k in keys {
            if !self.kill(k) {
                refused += 1;
            }
        }
        // With `panic = "abort"` the started ones cannot be unwound: they
        // are left as they are, and dropping the hub leaks their stacks.
        self.run_until(&|| self.live.get() == refused)
    }
}
