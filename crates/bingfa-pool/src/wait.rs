//! Waiting on many futures: [`as_completed`] and [`wait`].
//!
//! Both register one done-callback per future that sends the future's
//! index to a channel, and block on that channel: no polling, no busy
//! waiting. A future that is already done sends at once, so it comes first.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::error::Error;
use crate::future::Future;

/// Moves the futures into a vector, dropping repeated handles of one future
/// (Python takes a set).
fn dedup<R, I: IntoIterator<Item = Future<R>>>(futures: I) -> Vec<Future<R>> {
    let mut seen = HashSet::new();
    futures
        .into_iter()
        .filter(|f| seen.insert(f.addr()))
        .collect()
}

/// Yields futures as they complete; made by [`as_completed`].
///
/// Python: the iterator that `concurrent.futures.as_completed` returns.
#[derive(Debug)]
pub struct AsCompleted<R> {
    futures: Vec<Option<Future<R>>>,
    rx: Receiver<usize>,
    left: usize,
}

/// Returns an iterator over `futures` that yields each one as it completes
/// (finishes or is cancelled): the ones already done first, then in the
/// order they complete. Each future is yielded once, even if it was passed
/// twice. `next` blocks; [`AsCompleted::next_timeout`] gives up after a
/// while.
///
/// Unlike Python, the callbacks this registers stay on futures that have
/// not completed when the iterator is dropped; they do nothing when they
/// finally run.
///
/// Python: `concurrent.futures.as_completed(fs)`.
///
/// ```
/// use bingfa_pool::{as_completed, ThreadPool};
///
/// let pool = ThreadPool::new(2);
/// let futures: Vec<_> = (1..=3).map(|i| pool.submit(move || i * 10).unwrap()).collect();
/// let mut sum = 0;
/// for f in as_completed(futures) {
///     sum += f.result().unwrap();
/// }
/// assert_eq!(sum, 60);
/// ```
pub fn as_completed<R, I>(futures: I) -> AsCompleted<R>
where
    I: IntoIterator<Item = Future<R>>,
{
    let futures = dedup(futures);
    let (tx, rx) = crossbeam_channel::unbounded();
    for (i, f) in futures.iter().enumerate() {
        let tx = tx.clone();
        f.add_done_callback(move |_| {
            // The iterator may be gone already: then nobody is listening.
            let _ = tx.send(i);
        });
    }
    AsCompleted {
        left: futures.len(),
        futures: futures.into_iter().map(Some).collect(),
        rx,
    }
}

impl<R> AsCompleted<R> {
    /// How many futures have not been yielded yet.
    pub fn remaining(&self) -> usize {
        self.left
    }

    fn take(&mut self, i: usize) -> Future<R> {
        self.left -= 1;
        self.futures[i]
            .take()
            .expect("each future's callback runs exactly once")
    }

    /// The next future to complete, waiting at most `timeout`; `Ok(None)`
    /// once every future has been yielded.
    ///
    /// # Errors
    /// [`Error::Timeout`] if no future completed in time; the iterator
    /// stays usable.
    ///
    /// Python: `as_completed(fs, timeout)`, whose `TimeoutError` ends the
    /// iteration (here it does not).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Future<R>>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        match self.rx.recv_timeout(timeout) {
            Ok(i) => Ok(Some(self.take(i))),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
            // Every callback was dropped unrun: only if futures were freed
            // without completing, which a completer never allows.
            Err(RecvTimeoutError::Disconnected) => Ok(None),
        }
    }
}

impl<R> Iterator for AsCompleted<R> {
    type Item = Future<R>;

    fn next(&mut self) -> Option<Future<R>> {
        if self.left == 0 {
            return None;
        }
        let i = self.rx.recv().ok()?;
        Some(self.take(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// When [`wait`] returns.
///
/// Python: the `return_when` constants of `concurrent.futures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future is done (finished or cancelled).
    ///
    /// Python: `FIRST_COMPLETED`.
    #[doc(alias = "FIRST_COMPLETED")]
    FirstCompleted,
    /// As soon as any future fails (with an error other than
    /// [`Error::Cancelled`]), or when all are done.
    ///
    /// Python: `FIRST_EXCEPTION`.
    #[doc(alias = "FIRST_EXCEPTION")]
    FirstError,
    /// When every future is done.
    ///
    /// Python: `ALL_COMPLETED`.
    #[doc(alias = "ALL_COMPLETED")]
    AllCompleted,
}

/// What [`wait`] returns: the futures done when it returned, and the rest,
/// each in the order given.
///
/// Python: `concurrent.futures.DoneAndNotDoneFutures`.
#[derive(Debug)]
pub struct DoneAndNotDone<R> {
    /// The futures that were done (finished or cancelled).
    pub done: Vec<Future<R>>,
    /// The futures that were not.
    pub not_done: Vec<Future<R>>,
}

fn failed<R>(outcome: &Result<R, Error>) -> bool {
    matches!(outcome, Err(e) if *e != Error::Cancelled)
}

/// Waits until the futures reach `return_when`, or `timeout` passes
/// (`None`: no limit), then splits them into done and not done. Repeated
/// handles of one future count once.
///
/// Like [`as_completed`], it leaves inert callbacks on the futures that are
/// not done when it returns.
///
/// Python: `concurrent.futures.wait(fs, timeout, return_when)`.
///
/// ```
/// use bingfa_pool::{wait, ReturnWhen, ThreadPool};
///
/// let pool = ThreadPool::new(2);
/// let futures: Vec<_> = (0..4).map(|i| pool.submit(move || i).unwrap()).collect();
/// let r = wait(futures, ReturnWhen::AllCompleted, None);
/// assert_eq!((r.done.len(), r.not_done.len()), (4, 0));
/// ```
pub fn wait<R, I>(
    futures: I,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> DoneAndNotDone<R>
where
    I: IntoIterator<Item = Future<R>>,
{
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let futures = dedup(futures);
    let mut done = 0;
    let mut any_failed = false;
    for f in &futures {
        if let Some(outcome) = f.try_result_ref() {
            done += 1;
            any_failed |= failed(&outcome);
        }
    }
    let satisfied = |done: usize, any_failed: bool| match return_when {
        ReturnWhen::FirstCompleted => done > 0,
        ReturnWhen::FirstError => any_failed || done == futures.len(),
        ReturnWhen::AllCompleted => done == futures.len(),
    };
    if !satisfied(done, any_failed) && timeout != Some(Duration::ZERO) {
        let (tx, rx) = crossbeam_channel::unbounded();
        // Count again: futures may have completed since the first look.
        done = 0;
        any_failed = false;
        for f in &futures {
            if let Some(outcome) = f.try_result_ref() {
                done += 1;
                any_failed |= failed(&outcome);
            } else {
                // If it completes between the look and this call, the
                // callback runs at once: no completion is missed.
                let tx = tx.clone();
                f.add_done_callback(move |outcome| {
                    let _ = tx.send(failed(outcome));
                });
            }
        }
        drop(tx);
        while !satisfied(done, any_failed) {
            let got = match deadline {
                None => rx.recv().ok(),
                Some(d) => rx.recv_deadline(d).ok(),
            };
            match got {
                Some(f) => {
                    done += 1;
                    any_failed |= f;
                }
                None => break,
            }
        }
    }
    let (done, not_done) = futures.into_iter().partition(|f| f.is_done());
    DoneAndNotDone { done, not_done }
}
