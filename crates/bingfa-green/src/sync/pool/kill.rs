//! Killing a [`Group`]'s green threads: all of them, or one.

use std::time::{Duration, Instant};

use super::{deadline_of, Group};
use crate::handle::Handle;
use crate::sched;

impl Group {
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
}
