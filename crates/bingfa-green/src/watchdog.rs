//! The watchdog: one background OS thread that notices a green thread
//! running longer than a set time without switching (a blocking call or a
//! long computation that starves every other green thread of its hub) and
//! names it.
//!
//! Python: gevent's monitor thread (`max_blocking_time`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

/// What the watchdog saw: a green thread that has been running for
/// `running_for` without switching.
#[derive(Debug, Clone)]
pub struct WatchdogReport {
    /// The green thread's name.
    pub name: String,
    /// How long it had run without switching when the watchdog looked,
    /// counted from the watchdog's first look that saw this run: at least
    /// the threshold, and at most one look period (a quarter of the
    /// threshold, at least 5 ms) short of the real time.
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

/// Per hub: which green thread runs now and a count of resumes, written
/// by the hub with plain stores (it is their only writer), and sampled by
/// the watchdog thread, which measures how long the count stays still.
///
/// The switch path thus pays two relaxed stores and a release store, no
/// lock, no clock read and no reference count; the names are kept by key,
/// updated at spawn and exit only.
pub(crate) struct WatchState {
    threshold: Duration,
    /// Key of the green thread running now; `IDLE` between resumes.
    key: AtomicU64,
    /// Resumes so far.
    epoch: AtomicU64,
    /// Names of the hub's live green threads, by key.
    names: Mutex<HashMap<u64, Arc<str>>>,
    /// The watchdog thread's own view (only it locks this).
    seen: Mutex<Seen>,
    hub_thread: String,
    callback: Callback,
}

/// What the watchdog thread saw of one hub.
struct Seen {
    /// The resume it last saw running, and since when.
    epoch: u64,
    since: Instant,
    /// The last resume it reported (one report per long run).
    reported: u64,
}

const IDLE: u64 = u64::MAX;

impl WatchState {
    pub(crate) fn new(threshold: Duration, callback: Callback) -> Arc<WatchState> {
        let w = Arc::new(WatchState {
            threshold,
            key: AtomicU64::new(IDLE),
            epoch: AtomicU64::new(0),
            names: Mutex::new(HashMap::new()),
            seen: Mutex::new(Seen {
                epoch: u64::MAX,
                since: Instant::now(),
                reported: u64::MAX,
            }),
            hub_thread: std::thread::current()
                .name()
                .unwrap_or("<unnamed>")
                .to_owned(),
            callback,
        });
        register(&w);
        w
    }

    /// Green thread `key` was spawned with `name` (or exited: `None`).
    pub(crate) fn name(&self, key: u64, name: Option<Arc<str>>) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        match name {
            Some(n) => names.insert(key, n),
            None => names.remove(&key),
        };
    }

    /// The hub resumes green thread `key`.
    #[inline]
    pub(crate) fn enter(&self, key: u64) {
        self.key.store(key, Ordering::Relaxed);
        // The hub is the only writer: no read-modify-write needed.
        let e = self.epoch.load(Ordering::Relaxed);
        self.epoch.store(e.wrapping_add(1), Ordering::Release);
    }

    /// The green thread switched back to the hub.
    #[inline]
    pub(crate) fn leave(&self) {
        self.key.store(IDLE, Ordering::Release);
    }

    /// Called by the watchdog thread, every period. A run is measured
    /// from the first look that saw it, so it is reported between
    /// `threshold` and `threshold` + one period after it began, with a
    /// `running_for` of at least `threshold` (and at most its real length).
    fn check(&self) {
        let epoch = self.epoch.load(Ordering::Acquire);
        let key = self.key.load(Ordering::Acquire);
        // A resume between the two loads: the hub is switching, not stuck.
        if key == IDLE || self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.epoch != epoch {
            seen.epoch = epoch;
            seen.since = now;
            return;
        }
        let ran = now.duration_since(seen.since);
        if ran < self.threshold || seen.reported == epoch {
            return;
        }
        seen.reported = epoch;
        drop(seen);
        let name = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .map_or_else(|| "<unknown>".to_owned(), |n| n.to_string());
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
