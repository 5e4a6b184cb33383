//! The search for threads that can never go on: the greatest fixed point
//! of "blocked, and every holder of what it waits for is blocked too", then
//! one report per cycle (strongly connected part) and per abandoned lock.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::Location;

use super::graph::{Key, State};
use super::report::{AbandonedReport, DeadlockReport, LockAt, PrimitiveKind, Report, StuckThread};

type Loc = &'static Location<'static>;

impl State {
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
        // A signal (a semaphore or Lock released by a thread that did not
        // hold it) can be given by anyone: waiting on it is no edge.
        let signal = |id: u64| self.resources.get(&id).is_some_and(|r| r.signal);
        let waiting = |k: u64| -> Option<(u64, Loc)> {
            let t = &self.threads[&k];
            let (id, at) = t.wait?;
            (t.alive && kind(id)?.waits_for_holders() && !signal(id)).then_some((id, at))
        };
        // A dead holder never releases a Mutex or an RLock; a semaphore
        // permit or a Lock can be released by anyone, so a dead holder
        // proves nothing.
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
            let confirm = key.iter().any(|&(_, id, _)| {
                matches!(
                    kind(id),
                    Some(PrimitiveKind::Semaphore | PrimitiveKind::Lock)
                )
            });
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
