//! The wait-for graph: who holds what, who waits for what, kept under one
//! global lock (the search for threads that can never go on is in
//! `search.rs`).
//!
//! The global lock is not one of bingfa's primitives (they call into here):
//! it is a `parking_lot::Mutex`, or loom's `Mutex` under `cfg(bingfa_loom)`
//! so that the models check the detector's own locking.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::lockdep::{Inversion, LockOrder};
use super::report::{InversionReport, LockAt, LockRef, OrderEdge, PrimitiveKind, Report};
use super::Handler;

type Loc = &'static Location<'static>;

/// What the detector knows of one thread.
#[derive(Debug)]
pub(super) struct ThreadInfo {
    pub(super) name: Arc<str>,
    /// False once the thread has exited (kept only while it still holds
    /// something).
    pub(super) alive: bool,
    /// What it holds, in acquisition order: (primitive id, where).
    pub(super) held: Vec<(u64, Loc)>,
    /// What it is blocked on, if anything: (primitive id, where).
    pub(super) wait: Option<(u64, Loc)>,
    /// How many times it started to block: tells a wait that lasts from a
    /// new one on the same primitive.
    pub(super) wait_seq: u64,
}

/// What the detector knows of one primitive.
#[derive(Debug)]
pub(super) struct ResInfo {
    pub(super) kind: PrimitiveKind,
    pub(super) name: Arc<str>,
    /// A semaphore or `Lock` that some thread released without holding it:
    /// a signal, which anyone may give, so waiting on it is no longer a
    /// wait-for edge on its holders.
    pub(super) signal: bool,
}

/// A deadlock's identity, to report each one once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key {
    /// (thread, primitive waited for, wait_seq) of each member, sorted.
    Cycle(Vec<(u64, u64, u64)>),
    Abandoned(u64, u64),
}

/// The detector's whole state.
pub(super) struct State {
    /// The authoritative switch: hooks that raced with `disable` see it off.
    pub(super) enabled: bool,
    pub(super) threads: BTreeMap<u64, ThreadInfo>,
    pub(super) resources: BTreeMap<u64, ResInfo>,
    pub(super) lockdep: LockOrder,
    pub(super) reported: BTreeSet<Key>,
    /// The deadlocks the previous search found (reported or not).
    pub(super) present: BTreeSet<Key>,
    /// Everything reported so far (bounded), for [`super::reports`].
    pub(super) log: VecDeque<Report>,
    pub(super) handler: Option<Handler>,
    /// Reports found by lock calls (inversions, on the hooks' threads) and
    /// not yet handed to the handler (see `super::update`).
    pub(super) in_flight: usize,
    /// Deadlocks found by a search while `in_flight` was not zero, each
    /// with the handler in force when it was found: handed over once the
    /// reports found before them have been (see `super::scan`).
    pub(super) held_back: VecDeque<(Report, Option<Handler>)>,
}

/// How many reports the log keeps.
pub(super) const LOG_CAP: usize = 1024;

impl State {
    pub(super) const fn new() -> Self {
        State {
            enabled: false,
            threads: BTreeMap::new(),
            resources: BTreeMap::new(),
            lockdep: LockOrder::new(),
            reported: BTreeSet::new(),
            present: BTreeSet::new(),
            log: VecDeque::new(),
            handler: None,
            in_flight: 0,
            held_back: VecDeque::new(),
        }
    }

    /// Adds `reports` to the log.
    pub(super) fn log_all(&mut self, reports: &[Report]) {
        for r in reports {
            if self.log.len() == LOG_CAP {
                self.log.pop_front();
            }
            self.log.push_back(r.clone());
        }
    }

    /// Forgets every holding and wait (on `disable`): what happens while
    /// detection is off is not seen, so old holdings would go stale.
    pub(super) fn clear_threads(&mut self) {
        self.threads.clear();
        self.reported.clear();
        self.present.clear();
    }

    /// Forgets everything: graph, lock order, reports.
    pub(super) fn clear_all(&mut self) {
        self.clear_threads();
        self.lockdep.clear();
        self.log.clear();
    }

    pub(super) fn lock_ref(&self, id: u64) -> LockRef {
        match self.resources.get(&id) {
            Some(r) => LockRef {
                name: r.name.clone(),
                kind: r.kind,
            },
            None => LockRef {
                name: Arc::from(format!("#{id}")),
                kind: PrimitiveKind::Mutex,
            },
        }
    }

    pub(super) fn lock_at(&self, id: u64, at: Loc) -> LockAt {
        LockAt {
            lock: self.lock_ref(id),
            at,
        }
    }

    fn thread(&mut self, key: u64, name: &Arc<str>) -> &mut ThreadInfo {
        self.threads.entry(key).or_insert_with(|| ThreadInfo {
            name: name.clone(),
            alive: true,
            held: Vec::new(),
            wait: None,
            wait_seq: 0,
        })
    }

    pub(super) fn resource(
        &mut self,
        id: u64,
        kind: PrimitiveKind,
        name: impl FnOnce() -> Arc<str>,
    ) {
        self.resources.entry(id).or_insert_with(|| ResInfo {
            kind,
            name: name(),
            signal: false,
        });
    }

    fn lockdep(&mut self, key: u64, name: &Arc<str>, b: u64, b_at: Loc) -> Vec<Report> {
        let Some(t) = self.threads.get(&key) else {
            return Vec::new();
        };
        let resources = &self.resources;
        let held = t
            .held
            .iter()
            .filter_map(|&(id, at)| resources.get(&id).map(|r| (id, r.kind, at)));
        let found = self.lockdep.on_acquire(held, b, b_at, name);
        found
            .into_iter()
            .map(|inv| Report::LockOrderInversion(self.inversion_report(inv, name)))
            .collect()
    }

    fn inversion_report(&self, inv: Inversion, thread: &Arc<str>) -> InversionReport {
        InversionReport {
            earlier: inv
                .earlier
                .into_iter()
                .map(|(from, to, e)| OrderEdge {
                    thread: e.thread,
                    first: self.lock_at(from, e.first_at),
                    then: self.lock_at(to, e.then_at),
                })
                .collect(),
            now: OrderEdge {
                thread: thread.clone(),
                first: self.lock_at(inv.a, inv.a_at),
                then: self.lock_at(inv.b, inv.b_at),
            },
        }
    }

    /// The thread `key` is about to block on `id`.
    pub(super) fn blocking(
        &mut self,
        key: u64,
        name: &Arc<str>,
        id: u64,
        kind: PrimitiveKind,
        label: impl FnOnce() -> Arc<str>,
        at: Loc,
    ) -> Vec<Report> {
        self.resource(id, kind, label);
        let t = self.thread(key, name);
        t.wait = Some((id, at));
        t.wait_seq += 1;
        if kind.ordered() {
            self.lockdep(key, name, id, at)
        } else {
            Vec::new()
        }
    }

    /// The thread `key` now holds `id`.
    pub(super) fn acquired(
        &mut self,
        key: u64,
        name: &Arc<str>,
        id: u64,
        kind: PrimitiveKind,
        label: impl FnOnce() -> Arc<str>,
        at: Loc,
    ) -> Vec<Report> {
        self.resource(id, kind, label);
        self.thread(key, name);
        let reports = if kind.ordered() {
            self.lockdep(key, name, id, at)
        } else {
            Vec::new()
        };
        let t = self.thread(key, name);
        t.wait = None;
        t.held.push((id, at));
        reports
    }

    /// The thread `key` stopped waiting on `id` without acquiring it.
    pub(super) fn unblocked(&mut self, key: u64, id: u64) {
        if let Some(t) = self.threads.get_mut(&key) {
            if t.wait.is_some_and(|(w, _)| w == id) {
                t.wait = None;
            }
        }
    }

    /// The thread `key` (or, with `None`, a thread that cannot be named
    /// any more) released `id`. A semaphore permit, or a [`Lock`](crate::Lock),
    /// released by a thread that holds none is taken from another holder
    /// (Python allows it).
    pub(super) fn released(&mut self, key: Option<u64>, id: u64) {
        if let Some(t) = key.and_then(|k| self.threads.get_mut(&k)) {
            if let Some(i) = t.held.iter().rposition(|&(h, _)| h == id) {
                t.held.remove(i);
                return;
            }
        }
        let releasable_by_anyone = self
            .resources
            .get(&id)
            .is_some_and(|r| matches!(r.kind, PrimitiveKind::Semaphore | PrimitiveKind::Lock));
        if releasable_by_anyone && key.is_some() {
            // A live thread released what it does not hold: the primitive
            // is a signal from now on.
            if let Some(r) = self.resources.get_mut(&id) {
                r.signal = true;
            }
        }
        let by_other = key.is_none() || releasable_by_anyone;
        if !by_other {
            // Acquired while detection was off: nothing recorded.
            return;
        }
        // Prefer an exited holder (it cannot release it itself), then the
        // lowest thread key, so the choice is deterministic.
        let pick = self
            .threads
            .iter()
            .filter(|(_, t)| t.held.iter().any(|&(h, _)| h == id))
            .min_by_key(|(k, t)| (t.alive, **k))
            .map(|(k, _)| *k);
        if let Some(k) = pick {
            let t = self.threads.get_mut(&k).expect("picked from the map");
            let i = t
                .held
                .iter()
                .rposition(|&(h, _)| h == id)
                .expect("picked as a holder");
            t.held.remove(i);
            if !t.alive && t.held.is_empty() {
                self.threads.remove(&k);
            }
        }
    }

    /// The thread `key` exited. It is forgotten unless it still holds
    /// something, which then blocks its waiters forever.
    pub(super) fn exited(&mut self, key: u64) {
        if let Some(t) = self.threads.get_mut(&key) {
            t.wait = None;
            t.alive = false;
            if t.held.is_empty() {
                self.threads.remove(&key);
            }
        }
    }

    /// The primitive `id` was dropped: forget it everywhere.
    pub(super) fn forget(&mut self, id: u64) {
        self.resources.remove(&id);
        self.lockdep.forget(id);
        self.threads.retain(|_, t| {
            t.held.retain(|&(h, _)| h != id);
            if t.wait.is_some_and(|(w, _)| w == id) {
                t.wait = None;
            }
            t.alive || !t.held.is_empty()
        });
    }

    /// Checks the graph's invariants (tests and loom models).
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        for (k, t) in &self.threads {
            assert!(
                t.alive || !t.held.is_empty(),
                "exited thread {k} kept without holdings"
            );
            assert!(t.alive || t.wait.is_none(), "exited thread {k} still waits");
            for (id, _) in t.held.iter().chain(t.wait.iter()) {
                assert!(
                    self.resources.contains_key(id),
                    "thread {k} refers to unknown primitive {id}"
                );
            }
        }
    }
}

// ---- storage ----

#[cfg(not(bingfa_loom))]
static STATE: parking_lot::Mutex<State> = parking_lot::Mutex::new(State::new());

/// Runs `f` with the detector's state locked.
#[cfg(not(bingfa_loom))]
pub(super) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    f(&mut STATE.lock())
}

#[cfg(bingfa_loom)]
loom::lazy_static! {
    static ref STATE: loom::sync::Mutex<State> = loom::sync::Mutex::new(State::new());
}

/// Runs `f` with the detector's state locked.
#[cfg(bingfa_loom)]
pub(super) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    f(&mut STATE.lock().unwrap_or_else(|e| e.into_inner()))
}

// ---- thread identity ----

/// The detector's name for the current thread; its drop (at thread exit)
/// tells the graph.
struct Ident {
    key: u64,
    name: Arc<str>,
}

impl Ident {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        #[cfg(not(bingfa_loom))]
        let name = bingfa_trace::record::current_lane();
        #[cfg(bingfa_loom)]
        let name: Arc<str> = Arc::from(format!("loom-{key}"));
        Ident { key, name }
    }
}

impl Drop for Ident {
    fn drop(&mut self) {
        with(|s| s.exited(self.key));
    }
}

#[cfg(not(bingfa_loom))]
std::thread_local! {
    static IDENT: Ident = Ident::new();
}

#[cfg(bingfa_loom)]
loom::thread_local! {
    static IDENT: Ident = Ident::new();
}

/// The current thread's key and name, or `None` while the thread is being
/// torn down (a primitive used from a thread-local destructor).
pub(super) fn current() -> Option<(u64, Arc<str>)> {
    IDENT.try_with(|i| (i.key, i.name.clone())).ok()
}
