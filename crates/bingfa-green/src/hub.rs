//! The hub: one per OS thread, running green threads with timers and IO.
//!
//! Python: `gevent`'s hub and its module-level functions (`spawn`,
//! `sleep`, `joinall`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::handle::{Handle, ResultSlot};
use crate::overflow::Name;
use crate::sched::{self, Sched};
use crate::stack::DEFAULT_STACK_SIZE;
use crate::watchdog::{self, WatchState, WatchdogReport};

/// A hub's settings; [`run`](Hub::run) starts it on the calling OS thread.
///
/// Python: `gevent.get_hub()` (a hub is made per thread on first use).
///
/// ```
/// use std::time::Duration;
/// use bingfa_green::{spawn, Hub};
///
/// let total = Hub::new()
///     .stack_size(64 * 1024)
///     .watchdog(Duration::from_secs(1))
///     .run(|| {
///         let hs: Vec<_> = (0..10).map(|i| spawn(move || i * i)).collect();
///         hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
///     })
///     .unwrap();
/// assert_eq!(total, 285);
/// ```
pub struct Hub {
    stack_size: usize,
    watchdog: Option<(Duration, watchdog::Callback)>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("stack_size", &self.stack_size)
            .field("watchdog", &self.watchdog.as_ref().map(|w| w.0))
            .finish()
    }
}

impl Hub {
    /// Default settings: stacks of [`DEFAULT_STACK_SIZE`], no watchdog.
    pub fn new() -> Hub {
        Hub {
            stack_size: DEFAULT_STACK_SIZE,
            watchdog: None,
        }
    }

    /// The stack size of green threads spawned without
    /// [`Builder::stack_size`] (rounded up to pages, at least
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE)). Only touched pages cost
    /// memory.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Reports, on standard error, any green thread that runs longer than
    /// `threshold` without switching. With the crate's `tracing` feature
    /// each report is a `tracing` event instead (target
    /// `bingfa_green::watchdog`, level WARN).
    ///
    /// Python: gevent's `config.monitor_thread` + `max_blocking_time`.
    pub fn watchdog(self, threshold: Duration) -> Self {
        self.watchdog_with(threshold, |r| {
            #[cfg(feature = "tracing")]
            tracing::warn!(target: "bingfa_green::watchdog", "{r}");
            #[cfg(not(feature = "tracing"))]
            eprintln!("{r}");
        })
    }

    /// As [`watchdog`](Self::watchdog), calling `report` (on the watchdog's
    /// own OS thread) instead of printing.
    pub fn watchdog_with(
        mut self,
        threshold: Duration,
        report: impl Fn(&WatchdogReport) + Send + Sync + 'static,
    ) -> Self {
        self.watchdog = Some((threshold, Arc::new(report)));
        self
    }

    /// Runs `main` as the first green thread of a new hub on this OS
    /// thread, and the hub's loop until `main` returns. Green threads still
    /// alive then are killed (unwound) before `run` returns.
    ///
    /// Python: the script's main greenlet, with `gevent.get_hub().join()`.
    ///
    /// # Errors
    /// [`Error::Panicked`] if `main` panicked (its message kept),
    /// [`Error::Io`] if the poll could not be created,
    /// [`Error::OutOfStacks`] if `main`'s stack could not be mapped;
    /// [`Error::LoopExit`] if `main` ended in a call that could never
    /// return, every green thread waiting with nothing to wake one, and
    /// that unwound with it ([`block_on`](crate::block_on)).
    ///
    /// # Panics
    /// If a hub already runs on this OS thread (a green thread cannot start
    /// a nested hub).
    pub fn run<T: 'static>(self, main: impl FnOnce() -> T + 'static) -> Result<T, Error> {
        assert!(
            sched::try_sched().is_none(),
            "a hub is already running on this OS thread"
        );
        let watch = self.watchdog.map(|(t, cb)| WatchState::new(t, cb));
        let sched = Box::new(Sched::new(watch, self.stack_size)?);
        let slot = ResultSlot::new();
        let s2 = slot.clone();
        let name = Name::Shared(Arc::from("main"));
        let n2 = name.clone();
        let key = sched.spawn(
            name.clone(),
            self.stack_size,
            Box::new(move |killed| s2.finish(&n2, sched::run_body(&n2, killed, main))),
        )?;
        sched.set_main(key);
        let handle = Handle::new(slot, key, name);
        let r = sched.run_until(&|| handle.is_dead());
        let r2 = sched.kill_all();
        drop(sched);
        r?;
        r2?;
        handle.into_result()
    }
}

/// Runs `main` on a new hub with default settings: `Hub::new().run(main)`.
///
/// Python: a gevent script's top level.
///
/// # Errors
/// As [`Hub::run`].
///
/// # Panics
/// As [`Hub::run`].
pub fn run<T: 'static>(main: impl FnOnce() -> T + 'static) -> Result<T, Error> {
    Hub::new().run(main)
}

/// Settings for one green thread: a name and a stack size.
///
/// Python: `gevent.Greenlet(run, ...)` before `start()`.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// No name, the hub's stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The green thread's name (in panics, the watchdog's reports and the
    /// stack overflow message). Default: `green-N`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Its stack size in bytes (rounded up to pages, at least
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE)). Default: the hub's.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts `f` as a green thread of the current hub; it first runs when
    /// the caller next switches (sleeps, joins, waits...).
    ///
    /// Python: `gevent.spawn(f)`.
    ///
    /// # Errors
    /// [`Error::OutOfStacks`] if no stack can be mapped (see the crate's
    /// "Limits"), [`Error::NotInHub`] outside a hub.
    pub fn spawn<T: 'static>(self, f: impl FnOnce() -> T + 'static) -> Result<Handle<T>, Error> {
        let s = sched::try_sched().ok_or(Error::NotInHub("spawn"))?;
        let name = match self.name {
            Some(n) => Name::Shared(Arc::from(n)),
            None => Name::Numbered(s.live() + 1),
        };
        let slot = ResultSlot::new();
        let s2 = slot.clone();
        let n2 = name.clone();
        let key = s.spawn(
            name.clone(),
            self.stack_size.unwrap_or(s.default_stack),
            Box::new(move |killed| s2.finish(&n2, sched::run_body(&n2, killed, f))),
        )?;
        Ok(Handle::new(slot, key, name))
    }
}

/// Starts `f` as a green thread of the current hub, with the hub's stack
/// size; it first runs when the caller next switches.
///
/// Python: `gevent.spawn(f)`.
///
/// # Panics
/// Outside a hub, or when no stack can be mapped: use
/// [`Builder::spawn`] to get [`Error::OutOfStacks`] instead.
#[doc(alias = "gevent.spawn")]
pub fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> Handle<T> {
    Builder::new().spawn(f).unwrap_or_else(|e| panic!("{e}"))
}

/// Suspends the calling green thread for `duration`; the others run
/// meanwhile. `sleep(Duration::ZERO)` is [`yield_now`].
///
/// Python: `gevent.sleep(seconds)`.
///
/// # Panics
/// Outside a green thread.
pub fn sleep(duration: Duration) {
    let s = sched::sched("sleep");
    if duration.is_zero() {
        s.yield_now();
        return;
    }
    let Some(deadline) = Instant::now().checked_add(duration) else {
        loop {
            s.park(None);
        }
    };
    while Instant::now() < deadline {
        s.park(Some(deadline));
    }
}

/// Lets every other ready green thread run once, then goes on.
///
/// A yield is a switch to the hub's loop and on to the next ready green
/// thread (a few nanoseconds). Green threads that only yield never starve
/// the hub's other duties: at least every 61 resumes, however many green
/// threads are ready, the loop looks at expired timers, wake-ups from
/// other OS threads and (when a socket is registered) socket readiness,
/// so these wait at most 61 resumes, each as long as the green thread
/// resumed runs before it next switches. A killed green thread, or one
/// whose [`Timeout`](crate::Timeout) expired, unwinds from this call.
///
/// Python: `gevent.sleep(0)` / `gevent.idle()`.
///
/// # Panics
/// Outside a green thread.
#[doc(alias = "idle")]
#[inline]
pub fn yield_now() {
    sched::sched("yield_now").yield_now();
}

/// Whether the caller is a green thread of a running hub (and not inside
/// a generator or greenlet), where blocking green calls switch.
pub fn in_green_thread() -> bool {
    sched::try_sched().is_some_and(|s| s.current() != u64::MAX) && !crate::fiber::nested()
}

/// The name of the calling green thread, `None` outside one.
///
/// Python: `gevent.getcurrent().name`.
#[doc(alias = "getcurrent")]
pub fn current_name() -> Option<String> {
    let s = sched::try_sched()?;
    s.name_of(s.current()).map(|n| n.to_string())
}

/// How many green threads are alive on the current hub (`0` outside one).
pub fn live_green_threads() -> usize {
    sched::try_sched().map_or(0, |s| s.live())
}
