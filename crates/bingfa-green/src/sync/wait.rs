//! `wait`: block until some of several objects (events, results, green
//! threads, semaphores) are ready.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::waiter::Waiter;

pub(crate) mod sealed {
    use super::Waiter;

    /// Who waits: the caller's green thread or OS thread.
    pub struct Me(pub(crate) Waiter);

    /// One registration made by [`Sealed::arm`].
    pub struct Armed {
        /// Ready when armed: nothing was registered.
        pub(crate) now: bool,
        /// The registration's id in the object's wait list.
        pub(crate) id: u64,
        /// What the object needs to tell "fired since armed" (an event's
        /// count of sets).
        pub(crate) mark: u64,
    }

    impl Armed {
        pub(crate) fn ready_now() -> Armed {
            Armed {
                now: true,
                id: 0,
                mark: 0,
            }
        }
    }

    /// The crate's side of [`Waitable`](super::Waitable): how `wait`
    /// registers with an object and withdraws.
    pub trait Sealed {
        /// Registers `me` to be woken when the object becomes ready, or
        /// reports it ready now (then registers nothing). Done under the
        /// object's lock, so no wake-up falls between the look and the
        /// registration. `mark` is kept by the caller across the rounds of
        /// one `wait`: an object that needs one (an event's count of sets)
        /// records it at the first round, so that a set and clear between
        /// two rounds still counts.
        fn arm(&self, me: &Me, mark: &mut Option<u64>) -> Armed;

        /// Withdraws the registration; whether the object became ready
        /// since it was armed. An object whose wake-ups go to one waiter at
        /// a time (a semaphore) passes a wake-up it gave this waiter on,
        /// since a `wait` takes nothing.
        fn disarm(&self, armed: Armed) -> bool;
    }
}

use sealed::{Armed, Me, Sealed};

/// Something [`wait`] can wait for: an [`Event`](super::Event) (set, or
/// set since the wait began), an [`AsyncResult`](super::AsyncResult) (set
/// to a value or an error), a green thread's [`Handle`](crate::Handle)
/// (finished), a [`Semaphore`](super::Semaphore) (a permit free; `wait`
/// does not take it). Also `&T`, `Rc<T>` and `Arc<T>` of those.
///
/// Sealed: the crate implements it for its own types.
///
/// Python: what `gevent.wait` accepts (objects with `rawlink`).
pub trait Waitable: Sealed {
    /// Whether it is ready now.
    ///
    /// Python: `obj.ready()` (`Semaphore`: `not sem.locked()`).
    fn is_ready(&self) -> bool;
}

macro_rules! forward {
    ($($ptr:ident),*) => {$(
        impl<T: Waitable + ?Sized> Sealed for $ptr<T> {
            fn arm(&self, me: &Me, mark: &mut Option<u64>) -> Armed {
                (**self).arm(me, mark)
            }
            fn disarm(&self, armed: Armed) -> bool {
                (**self).disarm(armed)
            }
        }
        impl<T: Waitable + ?Sized> Waitable for $ptr<T> {
            fn is_ready(&self) -> bool {
                (**self).is_ready()
            }
        }
    )*};
}
forward!(Rc, Arc, Box);

impl<T: Waitable + ?Sized> Sealed for &T {
    fn arm(&self, me: &Me, mark: &mut Option<u64>) -> Armed {
        (**self).arm(me, mark)
    }
    fn disarm(&self, armed: Armed) -> bool {
        (**self).disarm(armed)
    }
}

impl<T: Waitable + ?Sized> Waitable for &T {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
}

impl<T: 'static> Sealed for crate::Handle<T> {
    fn arm(&self, me: &Me, _mark: &mut Option<u64>) -> Armed {
        let w = self.watch();
        if w.end.is_done() {
            return Armed::ready_now();
        }
        match &me.0 {
            Waiter::Green { hub, tok, .. }
                if crate::sched::try_sched().is_some_and(|s| s.id == *hub) =>
            {
                // A stale token left on the joiners list is ignored when
                // the green thread ends, so disarming withdraws nothing.
                w.end.wake_on_finish(*tok);
                Armed {
                    now: false,
                    id: 0,
                    mark: 0,
                }
            }
            _ => panic!(
                "wait: a green thread's Handle can only be waited for by a green thread of its own hub"
            ),
        }
    }

    fn disarm(&self, _armed: Armed) -> bool {
        self.is_dead()
    }
}

impl<T: 'static> Waitable for crate::Handle<T> {
    fn is_ready(&self) -> bool {
        self.is_dead()
    }
}

/// Waits until `count` of `objects` are ready (all of them when `count`
/// is `None`), and returns the indices of those that became ready, in the
/// order they did (those ready at once first, in index order). Never more
/// than `count`.
///
/// An [`Event`](super::Event) set and cleared again while this waits
/// counts as ready; a [`Semaphore`](super::Semaphore) counts while a
/// permit is free (none is taken).
///
/// Python: `gevent.wait(objects, count=count)`.
///
/// ```
/// use bingfa_green::sync::{wait, AsyncResult, Event};
/// use bingfa_green::{run, sleep, spawn};
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// run(|| {
///     let ev = Rc::new(Event::new());
///     let res: Rc<AsyncResult<u32>> = Rc::new(AsyncResult::new());
///     let r = res.clone();
///     let worker = spawn(move || {
///         sleep(Duration::from_millis(5));
///         r.set(42);
///     });
///     // The first of the three to be ready: the result (index 1).
///     assert_eq!(wait(&[&ev, &res, &worker], Some(1)), [1]);
///     assert_eq!(res.get().unwrap(), 42);
///     // All of them: the worker ends, then the event is set.
///     ev.set();
///     assert_eq!(wait(&[&ev, &res, &worker], None).len(), 3);
/// })
/// .unwrap();
/// ```
///
/// # Panics
/// Given a green thread's [`Handle`](crate::Handle), outside a green
/// thread of its hub; inside a generator or greenlet.
pub fn wait(objects: &[&dyn Waitable], count: Option<usize>) -> Vec<usize> {
    wait_until(objects, count, None)
}

/// As [`wait`], giving up at `timeout`: returns those ready by then
/// (possibly none).
///
/// Python: `gevent.wait(objects, timeout=t, count=count)`.
///
/// # Panics
/// As [`wait`].
pub fn wait_timeout(
    objects: &[&dyn Waitable],
    count: Option<usize>,
    timeout: Duration,
) -> Vec<usize> {
    wait_until(objects, count, Some(Instant::now().checked_add(timeout)))
}

/// `deadline`: `None` without a timeout, `Some(None)` for one too far to
/// represent.
fn wait_until(
    objects: &[&dyn Waitable],
    count: Option<usize>,
    deadline: Option<Option<Instant>>,
) -> Vec<usize> {
    let count = count.unwrap_or(objects.len()).min(objects.len());
    let deadline = deadline.flatten();
    let mut done = Vec::new();
    let mut pending: Vec<usize> = (0..objects.len()).collect();
    let mut marks: Vec<Option<u64>> = vec![None; objects.len()];
    // Withdraws every registration on every way out, the unwind of a kill
    // or a Timeout included.
    struct Disarm<'a> {
        objects: &'a [&'a dyn Waitable],
        armed: Vec<(usize, Armed)>,
    }
    impl Drop for Disarm<'_> {
        fn drop(&mut self) {
            for (i, a) in self.armed.drain(..) {
                self.objects[i].disarm(a);
            }
        }
    }
    while done.len() < count {
        let me = Me(Waiter::current());
        let mut d = Disarm {
            objects,
            armed: Vec::with_capacity(pending.len()),
        };
        let mut any_now = false;
        for &i in &pending {
            let a = objects[i].arm(&me, &mut marks[i]);
            any_now |= a.now;
            d.armed.push((i, a));
        }
        let timed_out = if any_now {
            false
        } else if deadline.is_some_and(|t| Instant::now() >= t) {
            true
        } else {
            me.0.block(deadline)
        };
        let mut fired = Vec::new();
        for (i, a) in std::mem::take(&mut d.armed) {
            if objects[i].disarm(a) {
                fired.push(i);
            }
        }
        // Both in ascending index order.
        let mut f = fired.iter().peekable();
        pending.retain(|i| {
            if f.peek() == Some(&i) {
                f.next();
                false
            } else {
                true
            }
        });
        done.extend(fired);
        if timed_out || pending.is_empty() {
            break;
        }
    }
    done.truncate(count);
    done
}

#[cfg(all(test, bingfa_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{Event, Semaphore};
    use loom::sync::Arc;

    /// A thread waits for the first of two events; another sets the second
    /// and clears it at once, once the wait has registered (a set and clear
    /// over before the wait began is rightly not seen). The wait always
    /// returns it (a set since the wait began counts, even if undone), and
    /// leaves no registration.
    #[test]
    fn loom_wait_any_sees_set_then_clear() {
        loom::model(|| {
            let (a, b) = (Arc::new(Event::new()), Arc::new(Event::new()));
            let b2 = b.clone();
            let setter = loom::thread::spawn(move || {
                while b2.waiters() == 0 {
                    loom::thread::yield_now();
                }
                b2.set();
                b2.clear();
            });
            assert_eq!(wait(&[&*a, &*b], Some(1)), [1]);
            setter.join().unwrap();
            assert_eq!((a.waiters(), b.waiters()), (0, 0));
        });
    }

    /// One thread waits for a semaphore (taking nothing), another acquires
    /// it, a third releases one permit: the acquirer always gets it, even
    /// when the release woke the waiter of `wait` (it passes the wake-up
    /// on), and the waiter returns too.
    #[test]
    fn loom_wait_on_semaphore_passes_wakeup_on() {
        loom::model(|| {
            let sem = Arc::new(Semaphore::new(0));
            let s1 = sem.clone();
            let watcher = loom::thread::spawn(move || wait(&[&*s1], None));
            let s2 = sem.clone();
            let acquirer = loom::thread::spawn(move || s2.acquire().forget());
            sem.release().unwrap();
            acquirer.join().unwrap();
            // The permit is gone; the watcher was released by the release
            // (it saw the permit) or is still waiting: let it go.
            sem.release().unwrap();
            assert_eq!(watcher.join().unwrap(), [0]);
        });
    }
}
