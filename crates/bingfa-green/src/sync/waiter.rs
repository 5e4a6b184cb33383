//! The shared core of the green primitives: a small lock around their
//! state, and wait lists whose waiters are green threads (of any hub) or
//! plain OS threads.
//!
//! Everything here is written against `bingfa_sync::raw`, so under
//! `--cfg bingfa_loom` the models below check the real code (with plain
//! thread waiters: loom cannot run coroutines).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bingfa_sync::raw::atomic::{AtomicBool, Ordering};
use bingfa_sync::raw::cell::UnsafeCell;
use bingfa_sync::raw::{park, Deadline, RawMutex};

use crate::remote::{Msg, Remote};
use crate::sched::{self, Token, Woke};

/// State behind a short spin-then-park lock ([`RawMutex`]). Only a few
/// instructions are ever done under it (push or pop a waiter, flip a
/// flag), and it is never held across a switch.
pub(crate) struct Locked<T> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `raw`; `T: Send` moves between
// threads through it.
unsafe impl<T: Send> Send for Locked<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Locked<T> {}

impl<T> Locked<T> {
    pub(crate) fn new(v: T) -> Self {
        Locked {
            raw: RawMutex::new(),
            data: UnsafeCell::new(v),
        }
    }

    /// Runs `f` with the state locked. `f` must not switch green threads
    /// or block.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.raw.lock();
        struct Unlock<'a>(&'a RawMutex);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                // SAFETY: locked just above by this thread, unlocked once.
                unsafe { self.0.unlock() };
            }
        }
        let _u = Unlock(&self.raw);
        // SAFETY: the lock is held, so this is the only access.
        self.data.with_mut(|p| f(unsafe { &mut *p }))
    }
}

/// A plain OS thread's wake-up flag. One-shot: it starts clear, `set`
/// sets it once, and it is never cleared; [`wait_until`] makes a fresh one
/// for every wait.
///
/// Only plain loads and stores touch the flag, never a read-modify-write.
/// (An earlier version cleared it with `swap(false)` on entry to `wait`.
/// That was correct on real hardware but pointless for a one-shot flag, and
/// loom 0.7 does not keep an RMW atomic against a concurrent plain store
/// (tokio-rs/loom#254, #389): it let the setter's `store(true)` fall between
/// the swap's read and write, so the park's `validate` load then read the
/// swap's stale `false` even though the store happened before it through
/// the parking lot's lock. Loom reported that impossible execution as a
/// lost wake-up (a deadlock) once preemptions were allowed.)
pub(crate) struct ThreadSignal {
    flag: AtomicBool,
}

impl ThreadSignal {
    fn new() -> Self {
        ThreadSignal {
            flag: AtomicBool::new(false),
        }
    }

    fn key(&self) -> usize {
        &self.flag as *const AtomicBool as usize
    }

    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        // SAFETY: the key is this signal's own address, used by no other
        // primitive.
        unsafe { park::unpark_all(self.key(), 0) };
    }

    /// Waits for `set` or `deadline`; true if the deadline ended it. No
    /// lost wake-up: `set` stores the flag before it takes the parking
    /// lot's queue lock, and `park` checks the flag under that lock, so
    /// either `park` sees the flag and does not sleep, or `set` finds this
    /// thread parked and wakes it.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        if self.flag.load(Ordering::Acquire) {
            return false;
        }
        let d = deadline.and_then(|d| Deadline::after(d.saturating_duration_since(Instant::now())));
        // SAFETY: own key; the callbacks neither panic nor park.
        let r = unsafe {
            park::park(
                self.key(),
                || !self.flag.load(Ordering::Acquire),
                || {},
                |_, _| {},
                0,
                d,
            )
        };
        r == park::ParkResult::TimedOut
    }
}

/// Someone waiting in a [`WaitList`].
pub(crate) enum Waiter {
    Green {
        remote: Arc<Remote>,
        hub: u64,
        tok: Token,
    },
    Thread(Arc<ThreadSignal>),
}

impl Clone for Waiter {
    fn clone(&self) -> Self {
        match self {
            Waiter::Green { remote, hub, tok } => Waiter::Green {
                remote: remote.clone(),
                hub: *hub,
                tok: *tok,
            },
            Waiter::Thread(sig) => Waiter::Thread(sig.clone()),
        }
    }
}

impl Waiter {
    /// The caller as a waiter: its green thread, or its OS thread.
    ///
    /// # Panics
    /// Inside a generator or greenlet run by a green thread: blocking the
    /// OS thread there would stop its whole hub for good.
    pub(crate) fn current() -> Waiter {
        match sched::try_sched() {
            Some(s) if crate::hub::in_green_thread() => Waiter::Green {
                remote: s.remote.clone(),
                hub: s.id,
                tok: s.token(),
            },
            Some(_) if crate::fiber::nested() => {
                // Panics with the reason ("cannot run inside a generator
                // or greenlet").
                sched::sched("a green sync wait");
                unreachable!("sched() panics inside a generator or greenlet")
            }
            _ => Waiter::Thread(Arc::new(ThreadSignal::new())),
        }
    }

    /// Wakes it: directly on its own hub, through the hub's remote queue
    /// from anywhere else.
    pub(crate) fn wake(self) {
        match self {
            Waiter::Green { remote, hub, tok } => match sched::try_sched() {
                Some(s) if s.id == hub => s.wake(tok, Woke::Normal),
                _ => {
                    remote.push(Msg::Wake {
                        key: tok.key,
                        seq: tok.seq,
                    });
                }
            },
            Waiter::Thread(sig) => sig.set(),
        }
    }

    /// As [`block`](Self::block), but a kill or an expired `Timeout` of
    /// the green thread does not unwind: it ends the sleep and is
    /// reported as the second value, still pending (then settle, and call
    /// [`unwind_if_interrupted`]). Whether the deadline ended it, and
    /// whether an interrupt did.
    pub(crate) fn block_deferring(&self, deadline: Option<Instant>) -> (bool, bool) {
        match self {
            Waiter::Green { .. } => {
                let (woke, interrupted) = sched::sched("green wait").park_deferring(deadline);
                (woke == Woke::TimedOut, interrupted)
            }
            Waiter::Thread(sig) => (sig.wait(deadline), false),
        }
    }

    /// Sleeps until woken or `deadline`; true if the deadline ended it.
    pub(crate) fn block(&self, deadline: Option<Instant>) -> bool {
        match self {
            Waiter::Green { .. } => sched::sched("green wait").park(deadline) == Woke::TimedOut,
            Waiter::Thread(sig) => sig.wait(deadline),
        }
    }
}

/// Unwinds the calling green thread if it was killed or one of its
/// `Timeout`s expired (after a [`Waiter::block_deferring`] that reported
/// one). Nothing for a plain thread.
pub(crate) fn unwind_if_interrupted() {
    if crate::hub::in_green_thread() {
        sched::sched("green wait").check_interrupts_now();
    }
}

/// Waiters in arrival order, each with an id to withdraw it.
#[derive(Default)]
pub(crate) struct WaitList {
    list: VecDeque<(u64, Waiter)>,
    next_id: u64,
}

impl WaitList {
    pub(crate) fn push(&mut self, w: Waiter) -> u64 {
        self.next_id += 1;
        self.list.push_back((self.next_id, w));
        self.next_id
    }

    /// Withdraws waiter `id`; false if it was already taken (woken).
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        match self.list.iter().position(|(i, _)| *i == id) {
            Some(p) => {
                self.list.remove(p);
                true
            }
            None => false,
        }
    }

    /// Takes the longest waiting one.
    pub(crate) fn pop(&mut self) -> Option<Waiter> {
        self.list.pop_front().map(|(_, w)| w)
    }

    /// Takes them all.
    pub(crate) fn take_all(&mut self) -> Vec<Waiter> {
        self.list.drain(..).map(|(_, w)| w).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

/// Blocks the caller (green thread or OS thread) until `ready` returns
/// `Some` under the lock, or `deadline` passes (`None` then). The caller
/// queues itself in the list `list` picks out of the state; whoever makes
/// the state ready pops and wakes waiters.
///
/// A waiter that gives up (timeout, or unwound by a kill or a `Timeout`)
/// after it was popped passes the wake-up on to the next one, so no
/// wake-up is lost.
pub(crate) fn wait_until<S, R>(
    lock: &Locked<S>,
    deadline: Option<Instant>,
    list: impl Fn(&mut S) -> &mut WaitList,
    mut ready: impl FnMut(&mut S) -> Option<R>,
) -> Option<R> {
    if let Some(r) = lock.with(&mut ready) {
        return Some(r);
    }
    struct Registered<'a, S, L: Fn(&mut S) -> &mut WaitList> {
        lock: &'a Locked<S>,
        list: &'a L,
        id: Option<u64>,
    }
    impl<S, L: Fn(&mut S) -> &mut WaitList> Registered<'_, S, L> {
        /// Withdraws; if already popped, wakes the next waiter instead.
        fn withdraw(&mut self, pass_on: bool) {
            if let Some(id) = self.id.take() {
                let next = self.lock.with(|s| {
                    let l = (self.list)(s);
                    if l.remove(id) || !pass_on {
                        None
                    } else {
                        l.pop()
                    }
                });
                if let Some(w) = next {
                    w.wake();
                }
            }
        }
    }
    impl<S, L: Fn(&mut S) -> &mut WaitList> Drop for Registered<'_, S, L> {
        fn drop(&mut self) {
            self.withdraw(true);
        }
    }
    let mut reg = Registered {
        lock,
        list: &list,
        id: None,
    };
    // Set when the last sleep ended by its deadline. It decides "timed
    // out" together with the clock: under loom the clock never moves and
    // only the park's own timeout (`clock::advance`) ends a timed wait.
    let mut timed_out = false;
    loop {
        let me = Waiter::current();
        let step = lock.with(|s| {
            if let Some(id) = reg.id.take() {
                (list)(s).remove(id);
            }
            if let Some(r) = ready(s) {
                return Err(Some(r));
            }
            if timed_out || deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(None);
            }
            reg.id = Some((list)(s).push(me.clone()));
            Ok(())
        });
        match step {
            Err(r) => return r,
            Ok(()) => timed_out = me.block(deadline),
        }
    }
}

#[cfg(all(test, bingfa_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A thread that waits and one that sets: the waiter always sees the
    /// state change (no lost wake-up between its check and its sleep).
    #[test]
    fn loom_waitlist_no_lost_wakeup() {
        loom::model(|| {
            let st = Arc::new(Locked::new((false, WaitList::default())));
            let st2 = st.clone();
            let setter = loom::thread::spawn(move || {
                let ws = st2.with(|s| {
                    s.0 = true;
                    s.1.take_all()
                });
                for w in ws {
                    w.wake();
                }
            });
            let r = wait_until(&st, None, |s| &mut s.1, |s| s.0.then_some(()));
            assert_eq!(r, Some(()));
            setter.join().unwrap();
        });
    }

    /// Two waiters for one token handed over by a third thread: exactly
    /// one gets it, and after a second token both are done.
    #[test]
    fn loom_waitlist_handoff_one_at_a_time() {
        loom::model(|| {
            let st = Arc::new(Locked::new((0usize, WaitList::default())));
            let take = |st: &Locked<(usize, WaitList)>| {
                wait_until(
                    st,
                    None,
                    |s| &mut s.1,
                    |s| {
                        if s.0 > 0 {
                            s.0 -= 1;
                            Some(())
                        } else {
                            None
                        }
                    },
                )
            };
            let st2 = st.clone();
            let w = loom::thread::spawn(move || take(&st2));
            let st3 = st.clone();
            let giver = loom::thread::spawn(move || {
                for _ in 0..2 {
                    let w = st3.with(|s| {
                        s.0 += 1;
                        s.1.pop()
                    });
                    if let Some(w) = w {
                        w.wake();
                    }
                }
            });
            assert_eq!(take(&st), Some(()));
            assert_eq!(w.join().unwrap(), Some(()));
            giver.join().unwrap();
            assert_eq!(st.with(|s| s.0), 0);
        });
    }

    /// A timed waiter and an untimed one compete for a token while the
    /// clock may fire the timed wait at any point: the token is never lost
    /// (a timed-out waiter that was already handed the wake-up takes the
    /// token or leaves it to the other) and never taken twice.
    #[test]
    fn loom_waitlist_timeout_keeps_token() {
        loom::model(|| {
            type St = Locked<(usize, WaitList)>;
            let take = |st: &St, deadline: Option<Instant>| {
                wait_until(
                    st,
                    deadline,
                    |s| &mut s.1,
                    |s| {
                        if s.0 > 0 {
                            s.0 -= 1;
                            Some(())
                        } else {
                            None
                        }
                    },
                )
            };
            let give = |st: &St| {
                let w = st.with(|s| {
                    s.0 += 1;
                    s.1.pop()
                });
                if let Some(w) = w {
                    w.wake();
                }
            };
            let st = Arc::new(Locked::new((0usize, WaitList::default())));
            let far = Instant::now() + std::time::Duration::from_secs(3600);
            let a_done = Arc::new(AtomicBool::new(false));
            let (sa, sb, ad) = (st.clone(), st.clone(), a_done.clone());
            let a = loom::thread::spawn(move || {
                let r = take(&sa, Some(far));
                ad.store(true, Ordering::Release);
                r
            });
            let b = loom::thread::spawn(move || take(&sb, None));
            // The timeout may fire before or after the token comes; the
            // clock keeps moving until the timed wait is over, so it times
            // out unless it gets the token first.
            bingfa_sync::raw::clock::advance();
            give(&st);
            while !a_done.load(Ordering::Acquire) {
                bingfa_sync::raw::clock::advance();
                loom::thread::yield_now();
            }
            if a.join().unwrap().is_some() {
                // The timed waiter won the token: give the other its own.
                give(&st);
            }
            assert_eq!(b.join().unwrap(), Some(()));
            assert_eq!(st.with(|s| s.0), 0, "a token was lost or duplicated");
        });
    }
}
