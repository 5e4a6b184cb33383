//! `JoinAll`: wait for several green threads, for some of them, or until
//! the first failure; and `killall`.
//!
//! Python: `gevent.joinall(greenlets, timeout, raise_error, count)`,
//! `gevent.killall(greenlets)`.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::handle::Handle;
use crate::sched::{self, Wait, Woke};

/// How [`JoinAll::wait`] waits: for every green thread (the default), for
/// the first `count` to finish, until the first failure
/// (`raise_error`), at most `timeout`.
///
/// Python: the keyword arguments of `gevent.joinall`.
///
/// ```
/// use std::time::Duration;
/// use bingfa_green::{run, sleep, spawn, Error, JoinAll};
///
/// run(|| {
///     let slow = spawn(|| { sleep(Duration::from_millis(50)); 1 });
///     let fast = spawn(|| 2);
///     let bad = spawn(|| -> i32 { sleep(Duration::from_millis(5)); panic!("bad input") });
///     let hs = [slow, fast, bad];
///     // The first one to finish.
///     assert_eq!(JoinAll::new().count(1).wait(&hs).unwrap(), [1]);
///     // Until the first failure.
///     match JoinAll::new().raise_error(true).wait(&hs) {
///         Err(Error::JoinFailed { index, message, .. }) => {
///             assert_eq!(index, 2);
///             assert!(message.ends_with("bad input"));
///         }
///         other => panic!("{other:?}"),
///     }
///     // All of them, in the order they finished.
///     assert_eq!(JoinAll::new().wait(&hs).unwrap(), [1, 2, 0]);
/// })
/// .unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JoinAll {
    timeout: Option<Duration>,
    count: Option<usize>,
    raise_error: bool,
}

impl JoinAll {
    /// Wait for all of them, for as long as it takes, whatever their
    /// outcome.
    pub fn new() -> JoinAll {
        JoinAll::default()
    }

    /// Wait at most `timeout`, then return the ones that finished.
    ///
    /// Python: `timeout=`.
    pub fn timeout(mut self, timeout: Duration) -> JoinAll {
        self.timeout = Some(timeout);
        self
    }

    /// Return once `count` of them have finished (successfully or not).
    ///
    /// Python: `count=`.
    pub fn count(mut self, count: usize) -> JoinAll {
        self.count = Some(count);
        self
    }

    /// Stop at the first one that fails, with [`Error::JoinFailed`] naming
    /// it; if several have failed, the first to fail by the time it ended.
    ///
    /// Python: `raise_error=True`.
    pub fn raise_error(mut self, raise_error: bool) -> JoinAll {
        self.raise_error = raise_error;
        self
    }

    /// Waits (switching away) as set; returns the places (in `handles`)
    /// of those that finished, in the order they finished.
    ///
    /// Python: `gevent.joinall(greenlets, ...)`.
    ///
    /// # Errors
    /// [`Error::JoinFailed`] with `raise_error`, when one of them failed;
    /// [`Error::LoopExit`] when the wait could never end (every green
    /// thread of the hub waits and nothing can wake one).
    ///
    /// # Panics
    /// Outside a green thread.
    pub fn wait<'a, T: 'a>(
        &self,
        handles: impl IntoIterator<Item = &'a Handle<T>>,
    ) -> Result<Vec<usize>, Error> {
        const WHAT: &str = "JoinAll::wait";
        let handles: Vec<&Handle<T>> = handles.into_iter().collect();
        let want = self.count.unwrap_or(handles.len()).min(handles.len());
        let deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let mut done: Vec<(u64, usize)> = handles
                .iter()
                .enumerate()
                .filter(|(_, h)| h.slot().done.get())
                .map(|(i, h)| (h.slot().finished.get(), i))
                .collect();
            done.sort_unstable();
            if self.raise_error {
                let failed = done
                    .iter()
                    .map(|&(_, i)| i)
                    .find(|&i| matches!(&*handles[i].slot().result(), Some(Err(_))));
                if let Some(i) = failed {
                    let message = match &*handles[i].slot().result() {
                        Some(Err(e)) => e.to_string(),
                        _ => unreachable!("found failed just above"),
                    };
                    return Err(Error::JoinFailed { index: i, message });
                }
            }
            if done.len() >= want || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(done.into_iter().map(|(_, i)| i).take(want).collect());
            }
            let s = sched::sched(WHAT);
            let tok = s.token();
            let waiting: Vec<&Handle<T>> = handles
                .iter()
                .copied()
                .filter(|h| !h.slot().done.get())
                .collect();
            for h in &waiting {
                h.slot().joiners.borrow_mut().push(tok);
            }
            let why = s.park_on(deadline, Wait::local(WHAT));
            // Whichever woke it, the token is spent: take it out of the
            // others' lists.
            for h in &waiting {
                h.slot().joiners.borrow_mut().retain(|t| *t != tok);
            }
            if why == Woke::LoopExit {
                return Err(s.loop_exit_error(WHAT));
            }
        }
    }
}

/// Kills every green thread in `handles` (each unwinds from its switch
/// point, see [`Handle::kill`]) and waits until they are all dead.
///
/// Python: `gevent.killall(greenlets)`.
///
/// # Panics
/// Outside a green thread of their hub, or if one of them is the caller.
pub fn killall<'a, T: 'a>(handles: impl IntoIterator<Item = &'a Handle<T>>) {
    let handles: Vec<&Handle<T>> = handles.into_iter().collect();
    for h in &handles {
        h.kill_nowait();
    }
    for h in &handles {
        h.kill();
    }
}
