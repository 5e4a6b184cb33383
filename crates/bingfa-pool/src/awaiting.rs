//! Awaiting a [`Future`] from async code: `IntoFuture` for `Future<R>`
//! (the outcome, moved or cloned) and for `&Future<R>` (the outcome,
//! borrowed).
//!
//! A pending poll stores the task's `Waker` in a slot shared with one
//! done-callback, registered on the first pending poll; the callback wakes
//! whatever waker the slot holds when the future completes. Each poll
//! stores its waker, then looks at the future again, so a completion that
//! races with the poll is never missed: either the poll sees the future
//! done, or the callback runs after the store and finds the new waker.

use std::fmt;
use std::future::IntoFuture;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bingfa_sync::Mutex;

use crate::error::Error;
use crate::future::Future;

#[cfg(bingfa_loom)]
use loom::sync::Arc;
#[cfg(not(bingfa_loom))]
use std::sync::Arc;

/// The waker of the task awaiting a future, and whether the done-callback
/// that wakes it has been registered. (`bingfa_sync`'s `Mutex` and the
/// facade's `Arc`, so that the loom models check this protocol too.)
struct Wake {
    slot: Arc<Mutex<Option<Waker>>>,
    registered: bool,
}

impl Default for Wake {
    fn default() -> Self {
        Wake {
            slot: Arc::new(Mutex::new(None)),
            registered: false,
        }
    }
}

impl Wake {
    /// `true` if `future` is done; otherwise arranges for `cx`'s waker to
    /// be woken when it is.
    fn poll_done<R>(&mut self, future: &Future<R>, cx: &Context<'_>) -> bool {
        if future.is_done() {
            return true;
        }
        {
            let mut slot = self.slot.lock();
            match &mut *slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                other => *other = Some(cx.waker().clone()),
            }
        }
        if !self.registered {
            self.registered = true;
            let slot = self.slot.clone();
            // Runs at once if the future completed since the look above.
            future.add_done_callback(move |_| {
                let waker = slot.lock().take();
                if let Some(w) = waker {
                    w.wake();
                }
            });
        }
        // A completion between the first look and the store above ran the
        // callback (which may have found no waker yet): look again.
        future.is_done()
    }
}

/// What `future.await` on a [`Future`] runs: resolves to its outcome, moved
/// out if this was the last handle, cloned otherwise. Made by
/// `IntoFuture for Future<R>`.
///
/// It never blocks the thread: it wakes the awaiting task from a
/// done-callback on the thread that completes the future (a pool's worker
/// or handler thread). Dropping it (a `select!` that lost, a timeout)
/// drops the handle; the task itself is not cancelled, as with a
/// dropped [`Future`].
///
/// Python: `asyncio.wrap_future(f)`, awaited.
#[must_use = "a future does nothing unless awaited"]
pub struct Awaiting<R> {
    future: Option<Future<R>>,
    wake: Wake,
}

impl<R> fmt::Debug for Awaiting<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Awaiting")
            .field("future", &self.future)
            .finish_non_exhaustive()
    }
}

impl<R> Unpin for Awaiting<R> {}

impl<R: Clone + Send + Sync + 'static> std::future::Future for Awaiting<R> {
    type Output = Result<R, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<R, Error>> {
        let this = &mut *self;
        let future = this
            .future
            .as_ref()
            .expect("Awaiting polled after it resolved");
        if !this.wake.poll_done(future, cx) {
            return Poll::Pending;
        }
        let future = this.future.take().expect("checked above");
        Poll::Ready(future.take_or_clone())
    }
}

/// Awaits the future's outcome: `future.await` gives a `Result<R, Error>`,
/// as [`Future::result`] does, without blocking the thread. The value is
/// moved out when this is the last handle and the executor is done with it
/// (no clone), else cloned; `(&future).await` borrows it instead, for an
/// `R` that is not `Clone`.
///
/// ```
/// use bingfa_pool::ThreadPool;
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Waker};
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = Context::from_waker(Waker::noop());
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #         std::thread::yield_now();
/// #     }
/// # }
/// let pool = ThreadPool::new(2);
/// let answer = pool.submit(|| 6 * 7).unwrap();
/// let double = pool.submit(|| 2 * 21).unwrap();
/// let sum = block_on(async move { answer.await.unwrap() + double.await.unwrap() });
/// assert_eq!(sum, 84);
/// ```
impl<R: Clone + Send + Sync + 'static> IntoFuture for Future<R> {
    type Output = Result<R, Error>;
    type IntoFuture = Awaiting<R>;

    fn into_future(self) -> Awaiting<R> {
        Awaiting {
            future: Some(self),
            wake: Wake::default(),
        }
    }
}

/// What `(&future).await` runs: resolves to the outcome, borrowed from the
/// future (as [`Future::result_ref`] gives it), for any `R`.
///
/// Python: `asyncio.wrap_future(f)`, awaited.
#[must_use = "a future does nothing unless awaited"]
pub struct AwaitingRef<'a, R> {
    future: &'a Future<R>,
    wake: Wake,
}

impl<R> fmt::Debug for AwaitingRef<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitingRef")
            .field("future", self.future)
            .finish_non_exhaustive()
    }
}

impl<'a, R> std::future::Future for AwaitingRef<'a, R> {
    type Output = Result<&'a R, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<&'a R, Error>> {
        let future = self.future;
        if !self.wake.poll_done(future, cx) {
            return Poll::Pending;
        }
        // Done: `try_result_ref` does not block.
        Poll::Ready(
            future
                .try_result_ref()
                .expect("a done future has an outcome"),
        )
    }
}

/// Awaits the future's outcome by reference: `(&future).await` gives a
/// `Result<&R, Error>` (as [`Future::result_ref`]) without blocking the
/// thread, and without `R: Clone`.
impl<'a, R> IntoFuture for &'a Future<R> {
    type Output = Result<&'a R, Error>;
    type IntoFuture = AwaitingRef<'a, R>;

    fn into_future(self) -> AwaitingRef<'a, R> {
        AwaitingRef {
            future: self,
            wake: Wake::default(),
        }
    }
}
