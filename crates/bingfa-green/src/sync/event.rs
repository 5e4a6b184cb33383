//! Green `Event`.

use std::time::{Duration, Instant};

use super::wait::sealed::{Armed, Me, Sealed};
use super::wait::Waitable;
use super::waiter::{wait_until, Locked, WaitList};

/// A flag that green threads (and OS threads) wait for: [`wait`] returns
/// once some thread [`set`]s it; it stays set until [`clear`].
///
/// `Send + Sync`: share it in an `Arc` with other OS threads. Setting it
/// from a plain thread wakes green threads on any hub; waiting on it from a
/// plain thread blocks that thread (it is not in a hub).
///
/// Python: `gevent.event.Event`.
///
/// [`wait`]: Event::wait
/// [`set`]: Event::set
/// [`clear`]: Event::clear
///
/// ```
/// use std::sync::Arc;
/// use bingfa_green::{run, spawn, sync::Event};
///
/// run(|| {
///     let ev = Arc::new(Event::new());
///     let e = ev.clone();
///     let waiter = spawn(move || { e.wait(); "released" });
///     // Set from a plain OS thread: wakes the green thread on its hub.
///     let e = ev.clone();
///     std::thread::spawn(move || e.set()).join().unwrap();
///     assert_eq!(waiter.join().unwrap(), "released");
/// })
/// .unwrap();
/// ```
pub struct Event {
    state: Locked<State>,
}

/// The flag, a count of `set` calls, and the waiters.
///
/// A waiter remembers the count when it starts waiting and returns once the
/// flag is set *or* the count moved: a `set` releases every waiter that
/// was blocked before it, even if a `clear` came before they ran (gevent's
/// `TestEvent_SetThenClear`).
#[derive(Default)]
struct State {
    flag: bool,
    sets: u64,
    waiters: WaitList,
}

impl State {
    /// The `ready` test of one wait: set now, or set since `seen` (the
    /// count at the wait's first look, recorded then).
    fn released(&self, seen: &mut Option<u64>) -> Option<()> {
        if self.flag {
            return Some(());
        }
        match *seen {
            Some(n) if n != self.sets => Some(()),
            Some(_) => None,
            None => {
                *seen = Some(self.sets);
                None
            }
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Event {
    /// A clear event.
    pub fn new() -> Event {
        Event {
            state: Locked::new(State::default()),
        }
    }

    /// Sets the flag and wakes every waiter. Every green thread (or OS
    /// thread) waiting now is released, even if [`clear`](Self::clear)
    /// follows before it runs.
    ///
    /// Python: `event.set()`.
    pub fn set(&self) {
        let ws = self.state.with(|s| {
            s.flag = true;
            s.sets = s.sets.wrapping_add(1);
            s.waiters.take_all()
        });
        for w in ws {
            w.wake();
        }
    }

    /// Clears the flag. Waiters released by an earlier [`set`](Self::set)
    /// still return; later waits block until the next `set`.
    ///
    /// Python: `event.clear()`.
    pub fn clear(&self) {
        self.state.with(|s| s.flag = false);
    }

    /// Whether the flag is set.
    ///
    /// Python: `event.is_set()`.
    pub fn is_set(&self) -> bool {
        self.state.with(|s| s.flag)
    }

    /// Waits until the flag is set (at once if it is), or until a
    /// [`set`](Self::set) that happens meanwhile, even one undone by a
    /// [`clear`](Self::clear) before this waiter runs again.
    ///
    /// Python: `event.wait()`.
    pub fn wait(&self) {
        let mut seen = None;
        wait_until(
            &self.state,
            None,
            |s| &mut s.waiters,
            |s| s.released(&mut seen),
        );
    }

    /// As [`wait`](Self::wait), giving up after `timeout`. Returns whether
    /// the wait was released by a `set` (the flag may have been cleared
    /// since), `false` when it timed out.
    ///
    /// Python: `event.wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut seen = None;
        wait_until(
            &self.state,
            deadline,
            |s| &mut s.waiters,
            |s| s.released(&mut seen),
        )
        .is_some()
    }

    /// How many are waiting now.
    pub fn waiters(&self) -> usize {
        self.state.with(|s| s.waiters.len())
    }
}

impl Sealed for Event {
    fn arm(&self, me: &Me, mark: &mut Option<u64>) -> Armed {
        self.state.with(|s| {
            let m = *mark.get_or_insert(s.sets);
            if s.flag || s.sets != m {
                Armed::ready_now()
            } else {
                Armed {
                    now: false,
                    id: s.waiters.push(me.0.clone()),
                    mark: m,
                }
            }
        })
    }

    fn disarm(&self, armed: Armed) -> bool {
        armed.now
            || self.state.with(|s| {
                s.waiters.remove(armed.id);
                s.flag || s.sets != armed.mark
            })
    }
}

/// Ready when set, or set since the [`wait`](super::wait) began.
impl Waitable for Event {
    fn is_ready(&self) -> bool {
        self.is_set()
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

#[cfg(all(test, bingfa_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A waiter (a plain thread: loom cannot run green threads) and a
    /// thread that sets then clears at once: the waiter always returns,
    /// whichever of its first look, its sleep and the set and clear comes
    /// first. Before the `sets` count, a waiter woken by the set looked
    /// again after the clear and slept for good (loom: a deadlock).
    #[test]
    fn loom_event_set_then_clear_releases_waiter() {
        loom::model(|| {
            let ev = Arc::new(Event::new());
            let e2 = ev.clone();
            let setter = loom::thread::spawn(move || {
                // Only set once the waiter has had its first look, so the
                // model covers "blocked before the set" (the other order
                // is a plain later wait, which must block).
                while e2.state.with(|s| s.waiters.len()) == 0 {
                    loom::thread::yield_now();
                }
                e2.set();
                e2.clear();
            });
            ev.wait();
            setter.join().unwrap();
            assert!(!ev.is_set());
        });
    }

    /// A timed wait released by a set-then-clear reports `true`.
    #[test]
    fn loom_event_timed_wait_reports_the_set() {
        loom::model(|| {
            let ev = Arc::new(Event::new());
            let e2 = ev.clone();
            let setter = loom::thread::spawn(move || {
                while e2.state.with(|s| s.waiters.len()) == 0 {
                    loom::thread::yield_now();
                }
                e2.set();
                e2.clear();
            });
            assert!(ev.wait_timeout(Duration::from_secs(3600)));
            setter.join().unwrap();
        });
    }
}
