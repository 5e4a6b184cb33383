//! [`Map`]: the ordered results of `map` and `map_chunked`.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{panic_message, Error};
use crate::future::Future;

/// The results of [`ThreadPool::map`](crate::ThreadPool::map) (or
/// `map_chunked`), in input order. `next` blocks until the next result in
/// order is ready, even if later ones are ready first.
///
/// Dropping it cancels the tasks that have not started (as Python's `map`
/// generator does when closed); tasks already running finish unobserved.
///
/// Python: the generator that `Executor.map` returns.
#[derive(Debug)]
pub struct Map<R> {
    inner: Inner<R>,
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
        }
    }

    pub(crate) fn chunked(chunks: VecDeque<(Future<Chunk<R>>, usize)>) -> Self {
        Map {
            inner: Inner::Chunked {
                chunks,
                current: Vec::new().into_iter(),
            },
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
