//! The iterators of [`Group::imap`] and [`Group::imap_unordered`]: a
//! feeder green thread draws items and spawns a worker for each in the
//! group; workers send their results to the reader through a green queue.

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use super::pool::Group;
use super::queue::Queue;
use super::semaphore::Semaphore;
use crate::error::Error;
use crate::handle::Handle;
use crate::sched;

enum Msg<R> {
    /// Item `i`'s result.
    Item(usize, Result<R, Error>),
    /// The items ran out after this many.
    Done(usize),
    /// The items' iterator panicked after this many: the payload.
    Panicked(usize, Box<dyn Any + Send>),
}

/// Sends a worker's result when dropped: what it set, or `Killed` if the
/// worker was killed (or never started).
struct Post<R> {
    q: Rc<Queue<Msg<R>>>,
    i: usize,
    r: Option<Result<R, Error>>,
}

impl<R> Drop for Post<R> {
    fn drop(&mut self) {
        let r = self.r.take().unwrap_or(Err(Error::Killed));
        // Unbounded: never fails nor waits.
        let _ = self.q.try_put(Msg::Item(self.i, r));
    }
}

/// What both iterators share: the results queue, the feeder, the bound.
struct Feed<R> {
    q: Rc<Queue<Msg<R>>>,
    feeder: Handle<()>,
    /// Results finished and not read yet, at most `maxsize`: a permit per
    /// item started, given back when its result is read.
    permits: Option<Rc<Semaphore>>,
    total: Option<usize>,
    read: usize,
    /// The panic of the items' iterator, raised once the results of the
    /// items drawn before it are read.
    panic: Option<Box<dyn Any + Send>>,
}

impl<R: 'static> Feed<R> {
    fn start<I, F>(group: Group, items: I, f: F, maxsize: Option<usize>) -> Feed<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        let q: Rc<Queue<Msg<R>>> = Rc::new(Queue::new());
        let permits = maxsize.map(|n| Rc::new(Semaphore::new(n)));
        let (q2, p2) = (q.clone(), permits.clone());
        let f = Rc::new(f);
        let feeder = crate::spawn(move || {
            // The feeder's last word, sent however it ends (out of items,
            // the iterator panicked, or killed: a reader then gets the
            // results of the items drawn so far, and never waits for
            // more).
            struct End<R> {
                q: Rc<Queue<Msg<R>>>,
                n: usize,
                panic: Option<Box<dyn Any + Send>>,
            }
            impl<R> Drop for End<R> {
                fn drop(&mut self) {
                    let m = match self.panic.take() {
                        Some(p) => Msg::Panicked(self.n, p),
                        None => Msg::Done(self.n),
                    };
                    // Unbounded: never fails nor waits.
                    let _ = self.q.try_put(m);
                }
            }
            let mut end = End {
                q: q2.clone(),
                n: 0,
                panic: None,
            };
            let mut items = items.into_iter();
            loop {
                let next = match panic::catch_unwind(AssertUnwindSafe(|| items.next())) {
                    Ok(next) => next,
                    Err(p) if sched::is_interrupt(&*p) => panic::resume_unwind(p),
                    Err(p) => {
                        end.panic = Some(p);
                        return;
                    }
                };
                let Some(item) = next else { return };
                if let Some(p) = &p2 {
                    p.acquire().forget();
                }
                // Counted before the spawn: if the wait for a slot is cut
                // short, the dropped worker still reports this item (as
                // killed), and the count says it was drawn.
                let post = Post {
                    q: q2.clone(),
                    i: end.n,
                    r: None,
                };
                end.n += 1;
                let f = f.clone();
                group.spawn(move || {
                    let mut post = post;
                    post.r = Some(run_one(|| f(item)));
                });
            }
        });
        Feed {
            q,
            feeder,
            permits,
            total: None,
            read: 0,
            panic: None,
        }
    }

    /// The next worker result (its index and outcome), or `None` once
    /// every result was read.
    ///
    /// # Panics
    /// With the panic of the items' iterator, once every result before it
    /// was read.
    fn recv(&mut self) -> Option<(usize, Result<R, Error>)> {
        loop {
            if self.total.is_some_and(|t| self.read >= t) {
                if let Some(p) = self.panic.take() {
                    panic::resume_unwind(p);
                }
                return None;
            }
            // The queue is never closed; the feeder's `Done` (or
            // `Panicked`) always comes.
            match self.q.get().ok()? {
                Msg::Item(i, r) => return Some((i, r)),
                Msg::Done(n) => self.total = Some(n),
                Msg::Panicked(n, p) => {
                    self.total = Some(n);
                    self.panic = Some(p);
                }
            }
        }
    }

    fn yielded(&mut self) {
        self.read += 1;
        if let Some(p) = &self.permits {
            // Cannot fail: one permit per started item, given back once.
            let _ = p.release();
        }
    }
}

impl<R> Drop for Feed<R> {
    fn drop(&mut self) {
        // Stop drawing items (workers already started run on).
        if !self.feeder.is_dead() && sched::try_sched().is_some() {
            self.feeder.kill_nowait();
        }
    }
}

/// Runs a worker's call: a panic becomes `Err(Panicked)`, a kill or a
/// `Timeout` goes on unwinding (and the worker's `Post` reports `Killed`).
fn run_one<R>(f: impl FnOnce() -> R) -> Result<R, Error> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(p) if sched::is_interrupt(&*p) => panic::resume_unwind(p),
        Err(p) => Err(Error::Panicked {
            name: crate::current_name().unwrap_or_default(),
            message: sched::panic_message(&*p),
            payload: crate::error::PanicPayload::new(p),
        }),
    }
}

/// The results of [`Group::imap`], in item order: `Ok` with what the call
/// returned, `Err` if it panicked ([`Error::Panicked`]) or its green
/// thread was killed ([`Error::Killed`]); the iteration goes on after a
/// failure. Dropping it stops drawing items.
///
/// Python: what `pool.imap` returns (`gevent._imap.IMap`).
pub struct IMap<R> {
    feed: Feed<R>,
    ready: BTreeMap<usize, Result<R, Error>>,
    next: usize,
}

impl<R: 'static> IMap<R> {
    pub(crate) fn start<I, F>(group: Group, items: I, f: F, maxsize: Option<usize>) -> IMap<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        IMap {
            feed: Feed::start(group, items, f, maxsize),
            ready: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<R: 'static> Iterator for IMap<R> {
    type Item = Result<R, Error>;

    /// # Panics
    /// Outside a green thread; with the payload of a panic of the items'
    /// iterator, once the results before it are read.
    fn next(&mut self) -> Option<Result<R, Error>> {
        loop {
            if let Some(r) = self.ready.remove(&self.next) {
                self.next += 1;
                self.feed.yielded();
                return Some(r);
            }
            let (i, r) = self.feed.recv()?;
            self.ready.insert(i, r);
        }
    }
}

impl<R> std::fmt::Debug for IMap<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMap")
            .field("read", &self.feed.read)
            .field("waiting_in_order", &self.ready.len())
            .finish()
    }
}

/// The results of [`Group::imap_unordered`], as they finish; otherwise as
/// [`IMap`].
///
/// Python: what `pool.imap_unordered` returns (`gevent._imap.IMapUnordered`).
pub struct IMapUnordered<R> {
    feed: Feed<R>,
}

impl<R: 'static> IMapUnordered<R> {
    pub(crate) fn start<I, F>(group: Group, items: I, f: F, maxsize: Option<usize>) -> Self
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        IMapUnordered {
            feed: Feed::start(group, items, f, maxsize),
        }
    }
}

impl<R: 'static> Iterator for IMapUnordered<R> {
    type Item = Result<R, Error>;

    /// # Panics
    /// Outside a green thread; with the payload of a panic of the items'
    /// iterator, once the results of the items drawn before it are read.
    fn next(&mut self) -> Option<Result<R, Error>> {
        let (_, r) = self.feed.recv()?;
        self.feed.yielded();
        Some(r)
    }
}

impl<R> std::fmt::Debug for IMapUnordered<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMapUnordered")
            .field("read", &self.feed.read)
            .finish()
    }
}
