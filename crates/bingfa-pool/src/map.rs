//! [`Map`]: the ordered results of `map` and `map_chunked`.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::error::{panic_message, Error};
use crate::future::Future;

/// The results of [`ThreadPool::map`](crate::ThreadPool::map) and
/// [`ProcessPool::map`](crate::ProcessPool::map) (and their `map_chunked`),
/// in input order. `next` blocks until the next result in order is ready,
/// even if later ones are ready first. Every item was submitted when `map`
/// returned.
///
/// **Dropping it cancels the tasks that have not started** (as Python's
/// `map` generator does when it is closed); tasks already running finish
/// unobserved. So keep it until you have the results you need: `let _ =
/// pool.map(..)` cancels (almost) everything at once. Python's differs
/// here: a `map` generator that was never started is not closed when it is
/// discarded, so its tasks still run. To run tasks for their effects only,
/// use `submit` and drop the futures, or `ThreadPool::execute`.
///
/// The type is `#[must_use]`, so the compiler warns about a `Map` thrown
/// away by mistake:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let pool = bingfa_pool::ThreadPool::new(1);
/// pool.map(|x: u8| x + 1, [1, 2]).unwrap(); // error: unused `Map` that must be used
/// ```
///
/// [`timeout`](Map::timeout) gives the whole iteration a deadline counted
/// from the `map` call, as Python's `map(..., timeout=...)`.
///
/// Python: the generator that `Executor.map` returns.
#[derive(Debug)]
#[must_use = "dropping a Map cancels every task of it that has not started; iterate it"]
pub struct Map<R> {
    inner: Inner<R>,
    /// When `map` was called: a `timeout` counts from here.
    started: Instant,
}

type Chunk<R> = Vec<Result<R, Error>>;

#[derive(Debug)]
enum Inner<R> {
    Single(VecDeque<Future<R>>),
    Chunked {
        chunks: VecDeque<(Future<Chunk<R>>, usize)>,
        current: std::vec::IntoIter<Result<R, Error>>,
    },
}

/// Runs `f` on each item of a chunk, catching each item's panic.
pub(crate) fn run_chunk<T, R>(f: &(impl Fn(T) -> R + ?Sized), chunk: Vec<T>) -> Chunk<R> {
    chunk
        .into_iter()
        .map(|item| {
            catch_unwind(AssertUnwindSafe(|| f(item))).map_err(|p| Error::Panicked {
                message: panic_message(&*p),
            })
        })
        .collect()
}

/// The outcome of a future this code holds the only handle of.
fn take<R>(f: Future<R>) -> Result<R, Error> {
    f.into_result()
        .expect("map's futures have no other handles")
}

impl<R> Map<R> {
    pub(crate) fn single(futures: VecDeque<Future<R>>) -> Self {
        Map {
            inner: Inner::Single(futures),
            started: Instant::now(),
        }
    }

    pub(crate) fn chunked(chunks: VecDeque<(Future<Chunk<R>>, usize)>) -> Self {
        Map {
            inner: Inner::Chunked {
                chunks,
                current: Vec::new().into_iter(),
            },
            started: Instant::now(),
        }
    }

    /// Submits every item with `submit`, in order. On the first refusal the
    /// futures submitted so far are cancelled (the partial map's drop does
    /// it) and the refusal is returned.
    ///
    /// Public so that other executors (bingfa-cluster's `ClusterPool`)
    /// can hand back the same `Map` from their own `map`: `submit` is
    /// their submit, and `E` their refusal.
    ///
    /// # Errors
    /// The first error `submit` returns.
    pub fn submit_all<T, E>(
        items: impl IntoIterator<Item = T>,
        mut submit: impl FnMut(T) -> Result<Future<R>, E>,
    ) -> Result<Self, E> {
        let mut map = Map::single(VecDeque::new());
        for item in items {
            let fut = submit(item)?;
            if let Inner::Single(futures) = &mut map.inner {
                futures.push_back(fut);
            }
        }
        Ok(map)
    }

    /// As [`submit_all`](Self::submit_all), one task per chunk of up to
    /// `chunk_size` consecutive items; each chunk's future holds one
    /// outcome per item, in order.
    ///
    /// # Errors
    /// The first error `submit` returns.
    ///
    /// # Panics
    /// If `chunk_size` is 0.
    pub fn submit_chunks<T, E>(
        items: impl IntoIterator<Item = T>,
        chunk_size: usize,
        mut submit: impl FnMut(Vec<T>) -> Result<Future<Chunk<R>>, E>,
    ) -> Result<Self, E> {
        assert!(chunk_size > 0, "map_chunked: chunk_size must be at least 1");
        let mut items = items.into_iter();
        let mut map = Map::chunked(VecDeque::new());
        loop {
            let chunk: Vec<T> = items.by_ref().take(chunk_size).collect();
            if chunk.is_empty() {
                return Ok(map);
            }
            let len = chunk.len();
            let fut = submit(chunk)?;
            if let Inner::Chunked { chunks, .. } = &mut map.inner {
                chunks.push_back((fut, len));
            }
        }
    }

    /// Gives the iteration a deadline: `timeout` after the `map` call that
    /// made this iterator (not after this call, nor per item). A `next`
    /// that would wait past it yields `Err(Error::Timeout(timeout))`
    /// instead, cancels every task of the map that has not started (the
    /// one it waited for too), and ends the iteration: later calls return
    /// `None`. Results that are ready are yielded even after the deadline;
    /// an item whose own task failed with [`Error::Timeout`] is just a
    /// failed item, and the iteration goes on.
    ///
    /// Python: `Executor.map(fn, iterable, timeout=...)`, whose
    /// `TimeoutError` also cancels the rest.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bingfa_pool::{Error, ThreadPool};
    ///
    /// let pool = ThreadPool::new(1);
    /// let nap = |ms: u64| std::thread::sleep(Duration::from_millis(ms));
    /// let mut naps = pool.map(nap, [0, 800, 0]).unwrap().timeout(Duration::from_millis(50));
    /// assert_eq!(naps.next(), Some(Ok(())));
    /// // The second nap is still running 50 ms after the call to `map`.
    /// assert_eq!(naps.next(), Some(Err(Error::Timeout(Duration::from_millis(50)))));
    /// // The third was cancelled, and the iteration is over.
    /// assert_eq!(naps.next(), None);
    /// ```
    pub fn timeout(self, timeout: Duration) -> MapTimeout<R> {
        let deadline = self.started.checked_add(timeout);
        MapTimeout {
            map: self,
            timeout,
            deadline,
            ended: false,
        }
    }

    /// Cancels every task of the map that has not started (the rest run
    /// on, unobserved) and forgets them all.
    fn cancel_rest(&mut self) {
        match &mut self.inner {
            Inner::Single(futures) => {
                for f in futures.drain(..) {
                    f.cancel();
                }
            }
            Inner::Chunked { chunks, current } => {
                *current = Vec::new().into_iter();
                for (f, _) in chunks.drain(..) {
                    f.cancel();
                }
            }
        }
    }

    /// Whether the next result is ready, waiting until `deadline` for it
    /// (`true` when nothing is left).
    fn wait_next(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match &self.inner {
            Inner::Single(futures) => futures.front().is_none_or(|f| f.wait_timeout(left)),
            Inner::Chunked { chunks, current } => {
                current.len() > 0 || chunks.front().is_none_or(|(f, _)| f.wait_timeout(left))
            }
        }
    }

    /// How many results have not been yielded yet.
    pub fn remaining(&self) -> usize {
        match &self.inner {
            Inner::Single(f) => f.len(),
            Inner::Chunked { chunks, current } => {
                current.len() + chunks.iter().map(|(_, n)| n).sum::<usize>()
            }
        }
    }
}

impl<R> Iterator for Map<R> {
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Result<R, Error>> {
        match &mut self.inner {
            Inner::Single(futures) => futures.pop_front().map(take),
            Inner::Chunked { chunks, current } => loop {
                if let Some(r) = current.next() {
                    return Some(r);
                }
                let (f, len) = chunks.pop_front()?;
                *current = match take(f) {
                    Ok(results) => results.into_iter(),
                    // The whole chunk failed (cancelled, broken pool):
                    // every item of it reports that.
                    Err(e) => (0..len)
                        .map(|_| Err(e.clone()))
                        .collect::<Vec<_>>()
                        .into_iter(),
                };
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining();
        (n, Some(n))
    }
}

impl<R> ExactSizeIterator for Map<R> {}

impl<R> std::iter::FusedIterator for Map<R> {}

impl<R> Drop for Map<R> {
    fn drop(&mut self) {
        match &self.inner {
            Inner::Single(futures) => futures.iter().for_each(|f| {
                f.cancel();
            }),
            Inner::Chunked { chunks, .. } => chunks.iter().for_each(|(f, _)| {
                f.cancel();
            }),
        }
    }
}

/// A [`Map`] with a deadline, made by [`Map::timeout`]: the same results in
/// input order, until a `next` would wait past the deadline; that one
/// yields `Err(Error::Timeout(timeout))`, cancels the tasks that have not
/// started and ends the iteration. Dropping it cancels the tasks that have
/// not started, as dropping a [`Map`] does.
///
/// It is not an `ExactSizeIterator`: a timeout ends it early.
///
/// Python: the generator of `Executor.map(..., timeout=...)`.
#[derive(Debug)]
#[must_use = "dropping a MapTimeout cancels every task of it that has not started; iterate it"]
pub struct MapTimeout<R> {
    map: Map<R>,
    timeout: Duration,
    /// `None`: too far away to represent (no deadline in practice).
    deadline: Option<Instant>,
    ended: bool,
}

impl<R> MapTimeout<R> {
    /// How many results may still be yielded (before a timeout).
    pub fn remaining(&self) -> usize {
        if self.ended {
            0
        } else {
            self.map.remaining()
        }
    }
}

impl<R> Iterator for MapTimeout<R> {
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Result<R, Error>> {
        if self.ended {
            return None;
        }
        if let Some(deadline) = self.deadline {
            if !self.map.wait_next(deadline) {
                self.ended = true;
                self.map.cancel_rest();
                return Some(Err(Error::Timeout(self.timeout)));
            }
        }
        let next = self.map.next();
        self.ended = next.is_none();
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining()))
    }
}

impl<R> std::iter::FusedIterator for MapTimeout<R> {}

/// The results of [`ThreadPool::map_buffered`](crate::ThreadPool::map_buffered)
/// and [`ProcessPool::map_buffered`](crate::ProcessPool::map_buffered), in
/// input order, with at most `buffersize` tasks submitted ahead of the
/// results: the input is read lazily (it may be endless), one item more
/// each time a result is asked for.
///
/// It borrows the pool. Dropping it cancels the buffered tasks that have
/// not started. If a submission fails on the way (the pool was shut down
/// meanwhile), the results already buffered come first, then that error,
/// then the end.
///
/// Python: the generator of `Executor.map(fn, iterable, buffersize=n)`
/// (3.14).
#[must_use = "dropping a MapBuffered cancels its buffered tasks; iterate it"]
pub struct MapBuffered<'p, R> {
    /// Takes the next input item and submits it; `None` when the input is
    /// exhausted.
    submit_next: Box<dyn FnMut() -> Option<Result<Future<R>, Error>> + 'p>,
    futures: VecDeque<Future<R>>,
    /// A submission that failed, yielded after the buffered results.
    failed: Option<Error>,
    /// No more input (or a submission failed).
    exhausted: bool,
}

impl<R> std::fmt::Debug for MapBuffered<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapBuffered")
            .field("buffered", &self.futures.len())
            .field("exhausted", &self.exhausted)
            .finish_non_exhaustive()
    }
}

impl<'p, R> MapBuffered<'p, R> {
    /// Submits the first `buffersize` items.
    ///
    /// # Panics
    /// If `buffersize` is 0.
    pub(crate) fn new(
        buffersize: usize,
        submit_next: Box<dyn FnMut() -> Option<Result<Future<R>, Error>> + 'p>,
    ) -> Result<Self, Error> {
        assert!(
            buffersize > 0,
            "map_buffered: buffersize must be at least 1"
        );
        let mut m = MapBuffered {
            submit_next,
            futures: VecDeque::with_capacity(buffersize + 1),
            failed: None,
            exhausted: false,
        };
        for _ in 0..buffersize {
            match (m.submit_next)() {
                Some(Ok(f)) => m.futures.push_back(f),
                // The buffered futures are cancelled as `m` drops.
                Some(Err(e)) => return Err(e),
                None => {
                    m.exhausted = true;
                    break;
                }
            }
        }
        Ok(m)
    }

    /// How many tasks are submitted and not yielded yet.
    pub fn buffered(&self) -> usize {
        self.futures.len()
    }
}

impl<R> Iterator for MapBuffered<'_, R> {
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Result<R, Error>> {
        // One more in, one out (as Python's generator does).
        if !self.exhausted {
            match (self.submit_next)() {
                Some(Ok(f)) => self.futures.push_back(f),
                Some(Err(e)) => {
                    self.failed = Some(e);
                    self.exhausted = true;
                }
                None => self.exhausted = true,
            }
        }
        match self.futures.pop_front() {
            Some(f) => Some(take(f)),
            None => self.failed.take().map(Err),
        }
    }
}

impl<R> std::iter::FusedIterator for MapBuffered<'_, R> {}

impl<R> Drop for MapBuffered<'_, R> {
    fn drop(&mut self) {
        for f in &self.futures {
            f.cancel();
        }
    }
}
