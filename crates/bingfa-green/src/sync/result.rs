//! Green `AsyncResult<T>`: a value (or an error) that one side sets once
//! and any number of green threads wait for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::wait::sealed::{Armed, Me, Sealed};
use super::wait::Waitable;
use super::waiter::{wait_until, Locked, WaitList};
use crate::error::Error;

/// The error an [`AsyncResult`] can be set to, shared by every getter.
pub type Failure = Arc<dyn std::error::Error + Send + Sync + 'static>;

struct State<T> {
    value: Option<Result<T, Failure>>,
    waiters: WaitList,
}

/// A value that is not there yet: one side [`set`](Self::set)s it (or an
/// error with [`set_exception`](Self::set_exception)), any number of
/// green threads (or OS threads) [`get`](Self::get) it, waiting until it
/// is there. Every getter gets a clone of the value, or of the error.
///
/// `Send + Sync` for `T: Send`: set it from another OS thread, or from a
/// green thread of another hub, and the waiters wake on their own hubs.
///
/// Python: `gevent.event.AsyncResult`.
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use bingfa_green::sync::AsyncResult;
/// use bingfa_green::{run, sleep, spawn, Error};
///
/// run(|| {
///     let answer: Rc<AsyncResult<u32>> = Rc::new(AsyncResult::new());
///     let a = answer.clone();
///     spawn(move || {
///         sleep(Duration::from_millis(5));
///         a.set(42);
///     });
///     assert!(matches!(answer.try_get(), Err(Error::Timeout(_))), "not yet");
///     assert_eq!(answer.get().unwrap(), 42);
///     assert!(answer.ready() && answer.successful());
///
///     let failed: AsyncResult<u32> = AsyncResult::new();
///     failed.set_exception("no answer");
///     let err = failed.get().unwrap_err();
///     assert!(matches!(err, Error::Failed(_)));
///     assert_eq!(err.to_string(), "the result was set to an error: no answer");
/// })
/// .unwrap();
/// ```
pub struct AsyncResult<T> {
    state: Locked<State<T>>,
}

impl<T> Default for AsyncResult<T> {
    fn default() -> Self {
        AsyncResult::new()
    }
}

impl<T> AsyncResult<T> {
    /// A result not set yet.
    ///
    /// Python: `AsyncResult()`.
    pub fn new() -> AsyncResult<T> {
        AsyncResult {
            state: Locked::new(State {
                value: None,
                waiters: WaitList::default(),
            }),
        }
    }

    fn put(&self, v: Result<T, Failure>) {
        let ws = self.state.with(|s| {
            s.value = Some(v);
            s.waiters.take_all()
        });
        for w in ws {
            w.wake();
        }
    }

    /// Sets the value and wakes every waiter. A later `set` (or
    /// `set_exception`) replaces it, as in gevent; getters that already
    /// returned keep what they got.
    ///
    /// Python: `result.set(value)`.
    pub fn set(&self, value: T) {
        self.put(Ok(value));
    }

    /// Sets an error instead of a value and wakes every waiter; each
    /// getter gets [`Error::Failed`] holding it.
    ///
    /// Python: `result.set_exception(exc)`.
    pub fn set_exception(&self, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) {
        self.put(Err(Arc::from(error.into())));
    }

    /// Sets the value or the error from a `Result` (what a green thread's
    /// [`join`](crate::Handle::join) returns, for instance).
    ///
    /// Python: using the result as a link target (`g.link(result)`).
    pub fn set_result<E>(&self, result: Result<T, E>)
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match result {
            Ok(v) => self.set(v),
            Err(e) => self.set_exception(e),
        }
    }

    /// Whether a value or an error is set.
    ///
    /// Python: `result.ready()`.
    pub fn ready(&self) -> bool {
        self.state.with(|s| s.value.is_some())
    }

    /// Whether a value (not an error) is set.
    ///
    /// Python: `result.successful()`.
    pub fn successful(&self) -> bool {
        self.state.with(|s| matches!(s.value, Some(Ok(_))))
    }

    /// The error it was set to, if any.
    ///
    /// Python: `result.exception`.
    pub fn exception(&self) -> Option<Failure> {
        self.state.with(|s| match &s.value {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        })
    }

    /// Waits until it is set (value or error).
    ///
    /// Python: `result.wait()`.
    pub fn wait(&self) {
        wait_until(
            &self.state,
            None,
            |s| &mut s.waiters,
            |s| s.value.is_some().then_some(()),
        );
    }

    /// Waits at most `timeout` until it is set; whether it is.
    ///
    /// Python: `result.wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        wait_until(
            &self.state,
            Instant::now().checked_add(timeout),
            |s| &mut s.waiters,
            |s| s.value.is_some().then_some(()),
        )
        .is_some()
    }

    /// The number of waiters now.
    pub fn waiters(&self) -> usize {
        self.state.with(|s| s.waiters.len())
    }
}

impl<T: Clone> AsyncResult<T> {
    fn read(s: &mut State<T>) -> Option<Result<T, Error>> {
        s.value.as_ref().map(|v| v.clone().map_err(Error::Failed))
    }

    /// The value, once set (waiting for it).
    ///
    /// Python: `result.get()`.
    ///
    /// # Errors
    /// [`Error::Failed`] with the error given to
    /// [`set_exception`](Self::set_exception).
    pub fn get(&self) -> Result<T, Error> {
        wait_until(&self.state, None, |s| &mut s.waiters, Self::read).expect("no deadline")
    }

    /// As [`get`](Self::get), waiting at most `timeout`.
    ///
    /// Python: `result.get(timeout=t)`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if still not set after `timeout`;
    /// [`Error::Failed`] as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        wait_until(
            &self.state,
            Instant::now().checked_add(timeout),
            |s| &mut s.waiters,
            Self::read,
        )
        .unwrap_or(Err(Error::Timeout(timeout)))
    }

    /// The value if set now, without waiting.
    ///
    /// Python: `result.get_nowait()` / `result.get(block=False)`.
    ///
    /// # Errors
    /// `Error::Timeout(Duration::ZERO)` if not set (gevent raises
    /// `Timeout` here too); [`Error::Failed`] as [`get`](Self::get).
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, Error> {
        self.state
            .with(Self::read)
            .unwrap_or(Err(Error::Timeout(Duration::ZERO)))
    }

    /// The value if set now (`None` while unset, or if set to an error).
    ///
    /// Python: `result.value`.
    pub fn value(&self) -> Option<T> {
        self.state.with(|s| match &s.value {
            Some(Ok(v)) => Some(v.clone()),
            _ => None,
        })
    }
}

impl<T> Sealed for AsyncResult<T> {
    fn arm(&self, me: &Me, _mark: &mut Option<u64>) -> Armed {
        self.state.with(|s| {
            if s.value.is_some() {
                Armed::ready_now()
            } else {
                Armed {
                    now: false,
                    id: s.waiters.push(me.0.clone()),
                    mark: 0,
                }
            }
        })
    }

    fn disarm(&self, armed: Armed) -> bool {
        armed.now
            || self.state.with(|s| {
                s.waiters.remove(armed.id);
                s.value.is_some()
            })
    }
}

/// Ready once set (to a value or an error).
impl<T> Waitable for AsyncResult<T> {
    fn is_ready(&self) -> bool {
        self.ready()
    }
}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.with(|s| match &s.value {
            None => "unset",
            Some(Ok(_)) => "value",
            Some(Err(_)) => "error",
        });
        f.debug_struct("AsyncResult")
            .field("state", &state)
            .finish()
    }
}
