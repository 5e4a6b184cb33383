//! The wait-for graph: who holds what, who waits for what, kept under one
//! global lock, and the search for threads that can never go on.
//!
//! The global lock is not one of bingfa's primitives (they call into here):
//! it is a `parking_lot::Mutex`, or loom's `Mutex` under `cfg(bingfa_loom)`
//! so that the models check the detector's own locking.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::lockdep::{Inversion, LockOrder};
use super::report::{
    AbandonedReport, DeadlockReport, InversionReport, LockAt, LockRef, OrderEdge, PrimitiveKind,
    Report, StuckThread,
};
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
}

/// A deadlock's identity, to report each one once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
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
    reported: BTreeSet<Key>,
    /// The deadlocks the previous search found (reported or not).
    present: BTreeSet<Key>,
    /// Everything reported so far (bounded), for [`super::reports`].
    pub(super) log: VecDeque<Report>,
    pub(super) handler: Option<Handler>,
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

    fn lock_ref(&self, id: u64) -> LockRef {
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

    fn lock_at(&self, id: u64, at: Loc) -> LockAt {
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

    fn resource(&mut self, id: u64, kind: PrimitiveKind, name: impl FnOnce() -> Arc<str>) {
        self.resources
            .entry(id)
            .or_insert_with(|| ResInfo { kind, name: name() });
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
    /// any more) released `id`. A semaphore permit released by a thread
    /// that holds none is taken from another holder (Python allows it).
    pub(super) fn released(&mut self, key: Option<u64>, id: u64) {
        if let Some(t) = key.and_then(|k| self.threads.get_mut(&k)) {
            if let Some(i) = t.held.iter().rposition(|&(h, _)| h == id) {
                t.held.remove(i);
                return;
            }
        }
        let by_other = key.is_none()
            || self
                .resources
                .get(&id)
                .is_some_and(|r| r.kind == PrimitiveKind::Semaphore);
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

    /// Runs the search and returns every deadlock present now, each with
    /// whether it is to be reported now: not reported before and, when a
    /// thread of its cycle waits on a semaphore, also found by the previous
    /// search with the very same waits.
    ///
    /// Why the second look for semaphores: a thread that starts to block on
    /// a semaphore may find a permit freed just after by a thread that did
    /// not hold one, and the detector only sees holders. A real deadlock
    /// stays; that moment does not last.
    pub(super) fn search(&mut self) -> Vec<(Report, bool)> {
        let found = self.find();
        let keys: BTreeSet<Key> = found.iter().map(|(k, _, _)| k.clone()).collect();
        let mut reported = BTreeSet::new();
        let mut out = Vec::with_capacity(found.len());
        for (k, r, confirm) in found {
            let before = self.reported.contains(&k);
            let new = !before && (!confirm || self.present.contains(&k));
            if before || new {
                reported.insert(k);
            }
            out.push((r, new));
        }
        // Deadlocks that went away (a timed wait gave up) may be reported
        // again if they come back.
        self.reported = reported;
        self.present = keys;
        out
    }

    /// The greatest fixed point of "blocked, and every holder of what it
    /// waits for is blocked too", then one report per cycle (strongly
    /// connected part) and per abandoned lock.
    ///
    /// Each comes with its key and whether it needs a second look (see
    /// [`State::search`]).
    fn find(&self) -> Vec<(Key, Report, bool)> {
        // Holders of each primitive: (thread, where it acquired it).
        let mut holders: BTreeMap<u64, Vec<(u64, Loc)>> = BTreeMap::new();
        for (&k, t) in &self.threads {
            for &(id, at) in &t.held {
                holders.entry(id).or_default().push((k, at));
            }
        }
        let kind = |id: u64| self.resources.get(&id).map(|r| r.kind);
        let waiting = |k: u64| -> Option<(u64, Loc)> {
            let t = &self.threads[&k];
            let (id, at) = t.wait?;
            (t.alive && kind(id)?.waits_for_holders()).then_some((id, at))
        };
        // A dead holder never releases a Mutex or an RLock; a semaphore
        // permit can be released by anyone, so a dead holder proves nothing.
        let dead_blocks = |holder: u64, id: u64| {
            !self.threads[&holder].alive
                && matches!(kind(id), Some(PrimitiveKind::Mutex | PrimitiveKind::RLock))
        };
        let mut set: BTreeSet<u64> = self
            .threads
            .keys()
            .copied()
            .filter(|&k| waiting(k).is_some())
            .collect();
        loop {
            let drop: Vec<u64> = set
                .iter()
                .copied()
                .filter(|&k| {
                    let (id, _) = waiting(k).expect("only waiting threads are in the set");
                    let hs = holders.get(&id).map(Vec::as_slice).unwrap_or(&[]);
                    hs.is_empty()
                        || hs
                            .iter()
                            .any(|&(h, _)| !set.contains(&h) && !dead_blocks(h, id))
                })
                .collect();
            if drop.is_empty() {
                break;
            }
            for k in drop {
                set.remove(&k);
            }
        }
        if set.is_empty() {
            return Vec::new();
        }
        // Successors among the stuck: the live holders of what k waits for.
        let succ = |k: u64| -> Vec<u64> {
            let (id, _) = waiting(k).expect("stuck threads wait");
            let mut v: Vec<u64> = holders[&id]
                .iter()
                .map(|&(h, _)| h)
                .filter(|h| set.contains(h))
                .collect();
            v.dedup();
            v
        };
        // What the stuck threads wait for: the holdings worth showing.
        let waited: BTreeSet<u64> = set
            .iter()
            .filter_map(|&k| waiting(k))
            .map(|w| w.0)
            .collect();
        let stuck = |s: &State, k: u64, holds_for: Option<u64>| -> StuckThread {
            let (id, at) = waiting(k).expect("stuck threads wait");
            let mut holds: Vec<LockAt> = Vec::new();
            for &(h, at) in &s.threads[&k].held {
                let shown = match holds_for {
                    Some(res) => h == res && holds.is_empty(),
                    None => waited.contains(&h),
                };
                if shown {
                    holds.push(s.lock_at(h, at));
                }
            }
            StuckThread {
                thread: s.threads[&k].name.clone(),
                holds,
                waits_for: s.lock_at(id, at),
            }
        };

        // Roots: cycles, then abandoned locks; every other stuck thread is
        // attached to the first root it reaches.
        let mut out: Vec<(Key, Report, bool)> = Vec::new();
        let mut in_root: BTreeMap<u64, usize> = BTreeMap::new();
        for comp in sccs(&set, &succ) {
            let self_loop = comp.len() == 1 && succ(comp[0]).contains(&comp[0]);
            if comp.len() < 2 && !self_loop {
                continue;
            }
            let members: BTreeSet<u64> = comp.iter().copied().collect();
            let cycle = cycle_in(&members, &succ);
            let n = cycle.len();
            let mut threads = Vec::with_capacity(n);
            for (i, &k) in cycle.iter().enumerate() {
                // k holds what the previous member waits for.
                let prev = cycle[(i + n - 1) % n];
                let res = waiting(prev).map(|(id, _)| id);
                threads.push(stuck(self, k, res));
            }
            let mut key: Vec<(u64, u64, u64)> = cycle
                .iter()
                .map(|&k| {
                    let id = waiting(k).map_or(0, |(id, _)| id);
                    (k, id, self.threads[&k].wait_seq)
                })
                .collect();
            key.sort_unstable();
            let confirm = key
                .iter()
                .any(|&(_, id, _)| kind(id) == Some(PrimitiveKind::Semaphore));
            // Members of the part outside this cycle are stuck with it.
            let also_stuck = members
                .iter()
                .filter(|k| !cycle.contains(k))
                .map(|&k| stuck(self, k, None))
                .collect();
            for &k in &members {
                in_root.insert(k, out.len());
            }
            out.push((
                Key::Cycle(key),
                Report::Deadlock(DeadlockReport {
                    cycle: threads,
                    also_stuck,
                }),
                confirm,
            ));
        }
        for &k in &set {
            if in_root.contains_key(&k) {
                continue;
            }
            let (id, _) = waiting(k).expect("stuck threads wait");
            if let Some(&(owner, at)) = holders[&id].iter().find(|&&(h, _)| dead_blocks(h, id)) {
                let idx = match out
                    .iter()
                    .position(|(key, _, _)| *key == Key::Abandoned(owner, id))
                {
                    Some(i) => i,
                    None => {
                        out.push((
                            Key::Abandoned(owner, id),
                            Report::Abandoned(AbandonedReport {
                                lock: self.lock_ref(id),
                                owner: self.threads[&owner].name.clone(),
                                acquired_at: at,
                                waiters: Vec::new(),
                            }),
                            false,
                        ));
                        out.len() - 1
                    }
                };
                in_root.insert(k, idx);
                if let Report::Abandoned(r) = &mut out[idx].1 {
                    r.waiters.push(stuck(self, k, None));
                }
            }
        }
        // The rest: breadth first from the roots, backwards along waits.
        let mut changed = true;
        while changed {
            changed = false;
            for &k in &set {
                if in_root.contains_key(&k) {
                    continue;
                }
                if let Some(&idx) = succ(k).iter().find_map(|h| in_root.get(h)) {
                    in_root.insert(k, idx);
                    changed = true;
                    let t = stuck(self, k, None);
                    match &mut out[idx].1 {
                        Report::Deadlock(r) => r.also_stuck.push(t),
                        Report::Abandoned(r) => r.waiters.push(t),
                        Report::LockOrderInversion(_) => {}
                    }
                }
            }
        }
        out
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

/// Tarjan's strongly connected components of the graph `nodes`/`succ`.
fn sccs(nodes: &BTreeSet<u64>, succ: &dyn Fn(u64) -> Vec<u64>) -> Vec<Vec<u64>> {
    struct T<'a> {
        succ: &'a dyn Fn(u64) -> Vec<u64>,
        index: BTreeMap<u64, usize>,
        low: BTreeMap<u64, usize>,
        stack: Vec<u64>,
        on: BTreeSet<u64>,
        out: Vec<Vec<u64>>,
    }
    fn visit(t: &mut T<'_>, v: u64) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in (t.succ)(v) {
            if !t.index.contains_key(&w) {
                visit(t, w);
                let lw = t.low[&w];
                let lv = t.low.get_mut(&v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(&w) {
                let iw = t.index[&w];
                let lv = t.low.get_mut(&v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[&v] == t.index[&v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().expect("v is on the stack");
                t.on.remove(&w);
                comp.push(w);
                if w == v {
                    break;
                }
            }
            comp.sort_unstable();
            t.out.push(comp);
        }
    }
    let mut t = T {
        succ,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for &v in nodes {
        if !t.index.contains_key(&v) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// One simple cycle inside a strongly connected part: from its smallest
/// node, follow the smallest successor inside the part until a node comes
/// back; the loop from that node is the cycle.
fn cycle_in(members: &BTreeSet<u64>, succ: &dyn Fn(u64) -> Vec<u64>) -> Vec<u64> {
    let mut path: Vec<u64> = Vec::new();
    let mut cur = *members.first().expect("non-empty part");
    loop {
        if let Some(i) = path.iter().position(|&p| p == cur) {
            return path.split_off(i);
        }
        path.push(cur);
        cur = succ(cur)
            .into_iter()
            .filter(|s| members.contains(s))
            .min()
            .expect("every node of a strongly connected part has a successor in it");
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
