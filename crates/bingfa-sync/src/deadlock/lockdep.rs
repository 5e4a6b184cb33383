//! Lock order checking, the way the Linux kernel's lockdep does it.
//!
//! Acquiring (or starting to wait for) lock B while holding lock A records
//! the edge A->B, with the thread and both source lines, the first time it
//! is seen. If a path B ->* A already exists, the two orders can deadlock:
//! that is reported once per pair of locks, and the inverting edge is not
//! added, so the graph stays acyclic and every later report is about a new
//! pair.
//!
//! Nodes are lock instances (their ids); a dropped primitive's node and
//! edges are forgotten. Only Mutexes and RLocks take part (see
//! [`PrimitiveKind::ordered`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::Location;
use std::sync::Arc;

use super::report::PrimitiveKind;

type Loc = &'static Location<'static>;

/// The first time an order was seen.
#[derive(Debug, Clone)]
pub(super) struct EdgeInfo {
    pub(super) thread: Arc<str>,
    pub(super) first_at: Loc,
    pub(super) then_at: Loc,
}

/// An inversion found, by lock ids; the caller turns it into a report.
#[derive(Debug, Clone)]
pub(super) struct Inversion {
    /// Edges `(from, to, info)` of the earlier path from `b` to `a`.
    pub(super) earlier: Vec<(u64, u64, EdgeInfo)>,
    pub(super) a: u64,
    pub(super) a_at: Loc,
    pub(super) b: u64,
    pub(super) b_at: Loc,
}

/// The lock order graph.
#[derive(Debug)]
pub(super) struct LockOrder {
    after: BTreeMap<u64, BTreeMap<u64, EdgeInfo>>,
    before: BTreeMap<u64, BTreeSet<u64>>,
    /// Unordered pairs `(min, max)` already reported.
    reported: BTreeSet<(u64, u64)>,
}

impl LockOrder {
    pub(super) const fn new() -> Self {
        LockOrder {
            after: BTreeMap::new(),
            before: BTreeMap::new(),
            reported: BTreeSet::new(),
        }
    }

    /// The thread takes `b` (at `b_at`) while holding `held` (id, kind,
    /// where acquired), innermost last. Records new edges and returns the
    /// inversions found.
    pub(super) fn on_acquire(
        &mut self,
        held: impl Iterator<Item = (u64, PrimitiveKind, Loc)>,
        b: u64,
        b_at: Loc,
        thread: &Arc<str>,
    ) -> Vec<Inversion> {
        let mut found = Vec::new();
        for (a, kind, a_at) in held {
            if a == b || !kind.ordered() {
                continue;
            }
            if self.after.get(&a).is_some_and(|m| m.contains_key(&b)) {
                continue;
            }
            if self.reported.contains(&(a.min(b), a.max(b))) {
                continue;
            }
            if let Some(earlier) = self.path(b, a) {
                self.reported.insert((a.min(b), a.max(b)));
                found.push(Inversion {
                    earlier,
                    a,
                    a_at,
                    b,
                    b_at,
                });
                continue;
            }
            self.after.entry(a).or_default().insert(
                b,
                EdgeInfo {
                    thread: thread.clone(),
                    first_at: a_at,
                    then_at: b_at,
                },
            );
            self.before.entry(b).or_default().insert(a);
        }
        found
    }

    /// A shortest path of edges from `from` to `to`, if any (breadth first).
    fn path(&self, from: u64, to: u64) -> Option<Vec<(u64, u64, EdgeInfo)>> {
        let mut parent: BTreeMap<u64, u64> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = BTreeSet::from([from]);
        while let Some(n) = queue.pop_front() {
            if n == to {
                let mut edges = Vec::new();
                let mut cur = to;
                while cur != from {
                    let p = parent[&cur];
                    edges.push((p, cur, self.after[&p][&cur].clone()));
                    cur = p;
                }
                edges.reverse();
                return Some(edges);
            }
            if let Some(next) = self.after.get(&n) {
                for &m in next.keys() {
                    if seen.insert(m) {
                        parent.insert(m, n);
                        queue.push_back(m);
                    }
                }
            }
        }
        None
    }

    /// Forgets a dropped lock: its node, its edges and its reported pairs.
    pub(super) fn forget(&mut self, id: u64) {
        if let Some(next) = self.after.remove(&id) {
            for b in next.keys() {
                if let Some(s) = self.before.get_mut(b) {
                    s.remove(&id);
                    if s.is_empty() {
                        self.before.remove(b);
                    }
                }
            }
        }
        if let Some(prev) = self.before.remove(&id) {
            for a in prev {
                if let Some(m) = self.after.get_mut(&a) {
                    m.remove(&id);
                    if m.is_empty() {
                        self.after.remove(&a);
                    }
                }
            }
        }
        self.reported.retain(|&(x, y)| x != id && y != id);
    }

    /// Forgets everything.
    pub(super) fn clear(&mut self) {
        *self = LockOrder::new();
    }

    /// Number of recorded edges.
    #[cfg(all(test, not(bingfa_loom)))]
    pub(super) fn edge_count(&self) -> usize {
        self.after.values().map(|m| m.len()).sum()
    }

    /// Whether the node `id` has any edge.
    #[cfg(test)]
    pub(super) fn knows(&self, id: u64) -> bool {
        self.after.contains_key(&id) || self.before.contains_key(&id)
    }
}
