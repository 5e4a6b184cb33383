//! The watchdog: one background OS thread that notices a green thread
//! running longer than a set time without switching (a blocking call or a
//! long computation that starves every other green thread of its hub) and
//! names it.
//!
//! Python: gevent's monitor thread (`max_blocking_time`).

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

/// What the watchdog saw: a green thread that has been running for
/// `running_for` without switching.
#[derive(Debug, Clone)]
pub struct WatchdogReport {
    /// The green thread's name.
    pub name: String,
    /// How long it had run without switching when the watchdog looked.
    pub running_for: Duration,
    /// The name of the OS thread its hub runs on.
    pub hub_thread: String,
}

impl std::fmt::Display for WatchdogReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bingfa-green watchdog: green thread '{}' has run for {:?} without yielding, \
             blocking every other green thread of the hub on OS thread '{}' \
             (use block_in_thread for blocking calls, yield_now in long loops)",
            self.name, self.running_for, self.hub_thread
        )
    }
}

pub(crate) type Callback = Arc<dyn Fn(&WatchdogReport) + Send + Sync>;

/// Per hub: what runs now and since when.
pub(crate) struct WatchState {
    threshold: Duration,
    /// Nanoseconds since `base()` when the current green thread was
    /// resumed; 0 when the hub is not running one.
    since: AtomicU64,
    /// Bumped at each resume, so one long run is reported once.
    epoch: AtomicU64,
    reported: AtomicU64,
    name: Mutex<Option<Arc<str>>>,
    hub_thread: String,
    callback: Callback,
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    base().elapsed().as_nanos() as u64 + 1
}

impl WatchState {
    pub(crate) fn new(threshold: Duration, callback: Callback) -> Arc<WatchState> {
        let w = Arc::new(WatchState {
            threshold,
            since: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            reported: AtomicU64::new(u64::MAX),
            name: Mutex::new(None),
            hub_thread: std::thread::current()
                .name()
                .unwrap_or("<unnamed>")
                .to_owned(),
            callback,
        });
        register(&w);
        w
    }

    #[inline]
    pub(crate) fn enter(&self, name: Option<Arc<str>>) {
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name;
        self.epoch.fetch_add(1, Ordering::Relaxed);
        self.since.store(now_nanos(), Ordering::Release);
    }

    #[inline]
    pub(crate) fn leave(&self) {
        self.since.store(0, Ordering::Release);
    }

    /// Called by the watchdog thread.
    fn check(&self) {
        let since = self.since.load(Ordering::Acquire);
        if since == 0 {
            return;
        }
        let ran = Duration::from_nanos(now_nanos().saturating_sub(since));
        if ran < self.threshold {
            return;
        }
        let epoch = self.epoch.load(Ordering::Relaxed);
        if self.reported.swap(epoch, Ordering::Relaxed) == epoch {
            return;
        }
        let name = self
            .name
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_deref()
            .unwrap_or("<unknown>")
            .to_owned();
        (self.callback)(&WatchdogReport {
            name,
            running_for: ran,
            hub_thread: self.hub_thread.clone(),
        });
    }
}

struct Registry {
    hubs: Mutex<Vec<Weak<WatchState>>>,
    period: Mutex<Duration>,
}

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        std::thread::Builder::new()
            .name("bingfa-green-watchdog".into())
            .spawn(watch_loop)
            .expect("spawn the watchdog thread");
        Registry {
            hubs: Mutex::new(Vec::new()),
            period: Mutex::new(Duration::from_millis(100)),
        }
    })
}

fn register(w: &Arc<WatchState>) {
    let r = registry();
    let mut p = r.period.lock().unwrap_or_else(|e| e.into_inner());
    // Look four times per threshold, at most every 5 ms.
    *p = (*p).min((w.threshold / 4).max(Duration::from_millis(5)));
    drop(p);
    r.hubs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::downgrade(w));
}

fn watch_loop() {
    loop {
        let r = registry();
        let period = *r.period.lock().unwrap_or_else(|e| e.into_inner());
        std::thread::sleep(period);
        let hubs: Vec<Arc<WatchState>> = {
            let mut hubs = r.hubs.lock().unwrap_or_else(|e| e.into_inner());
            hubs.retain(|w| w.strong_count() > 0);
            hubs.iter().filter_map(Weak::upgrade).collect()
        };
        for h in hubs {
            h.check();
        }
    }
}
