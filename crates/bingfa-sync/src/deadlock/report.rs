//! What the detector reports, and how it says it in plain words.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// The kind of a bingfa primitive, as the detector names it.
///
/// Python: the classes of `threading` (`Lock`, `RLock`, `Semaphore`,
/// `Event`, `Condition`, `Barrier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PrimitiveKind {
    /// A mutual-exclusion lock (Python: `threading.Lock`).
    Mutex,
    /// A re-entrant lock (Python: `threading.RLock`).
    RLock,
    /// A counting semaphore (Python: `threading.Semaphore`).
    Semaphore,
    /// A lock without data that any thread may release (Python's
    /// `threading.Lock` as Python has it: [`Lock`](crate::Lock)).
    Lock,
    /// An event flag (Python: `threading.Event`).
    Event,
    /// A condition variable (Python: `threading.Condition`).
    Condition,
    /// A barrier (Python: `threading.Barrier`).
    Barrier,
}

impl PrimitiveKind {
    /// The word a report uses for this kind: "lock", "RLock", "semaphore"...
    pub fn noun(self) -> &'static str {
        match self {
            PrimitiveKind::Mutex => "lock",
            PrimitiveKind::RLock => "RLock",
            PrimitiveKind::Semaphore => "semaphore",
            PrimitiveKind::Lock => "lock",
            PrimitiveKind::Event => "event",
            PrimitiveKind::Condition => "condition",
            PrimitiveKind::Barrier => "barrier",
        }
    }

    /// Whether a thread blocked on this kind waits for its holders (a
    /// wait-for edge). A [`Lock`](crate::Lock) may be released by any
    /// thread, so a cycle through one is only reported when it lasts (as
    /// for a semaphore). A Condition, Event or Barrier can be woken by anyone,
    /// so waiting on one is never a wait-for edge.
    pub(crate) fn waits_for_holders(self) -> bool {
        matches!(
            self,
            PrimitiveKind::Mutex
                | PrimitiveKind::RLock
                | PrimitiveKind::Semaphore
                | PrimitiveKind::Lock
        )
    }

    /// Whether lock order (lockdep) is recorded for this kind. Counting
    /// semaphores are left out: taking permits of two semaphores in both
    /// orders is often fine, so they would give false reports. So is a
    /// [`Lock`](crate::Lock), which is often a signal (taken by one thread,
    /// released by another) rather than a guard around data.
    pub(crate) fn ordered(self) -> bool {
        matches!(self, PrimitiveKind::Mutex | PrimitiveKind::RLock)
    }
}

/// One primitive named in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockRef {
    /// Its name (given at construction), or `"Mutex#3"` etc. when unnamed.
    pub name: Arc<str>,
    /// Its kind.
    pub kind: PrimitiveKind,
}

impl fmt::Display for LockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \"{}\"", self.kind.noun(), self.name)
    }
}

/// A primitive and the source line where a thread acquired it or started to
/// wait for it (from `#[track_caller]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockAt {
    /// The primitive.
    pub lock: LockRef,
    /// The user's call that acquired it or waits for it.
    pub at: &'static Location<'static>,
}

/// One thread that cannot go on: what it holds and what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StuckThread {
    /// The thread's name, or `thread-N` when it has none.
    pub thread: Arc<str>,
    /// What it holds that the others in the report wait for (empty for a
    /// thread that only waits).
    pub holds: Vec<LockAt>,
    /// What it waits for, and the line of the blocking call.
    pub waits_for: LockAt,
}

/// A real deadlock: threads that wait for each other in a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadlockReport {
    /// The cycle, in order: each thread waits for something that the next
    /// one holds, and the last waits for the first. One thread alone is a
    /// thread waiting for a lock it already holds.
    pub cycle: Vec<StuckThread>,
    /// Threads not in the cycle but stuck behind it: they wait for
    /// something held by a thread of the cycle (or by another stuck thread).
    pub also_stuck: Vec<StuckThread>,
}

/// A lock that a thread still held when it exited, and the threads that wait
/// for it forever.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbandonedReport {
    /// The lock nobody can release any more.
    pub lock: LockRef,
    /// The thread that exited holding it.
    pub owner: Arc<str>,
    /// Where that thread acquired it.
    pub acquired_at: &'static Location<'static>,
    /// The threads waiting for it, and those stuck behind them.
    pub waiters: Vec<StuckThread>,
}

/// One recorded lock order: `thread` took `then` while holding `first`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderEdge {
    /// The thread that took the two locks, the first time this order was seen.
    pub thread: Arc<str>,
    /// The lock it held, and where it had acquired it.
    pub first: LockAt,
    /// The lock it took (or started to wait for) while holding `first`.
    pub then: LockAt,
}

/// A lock order inversion (lockdep): two code paths take the same locks in
/// opposite orders. The run may have been lucky and not hung, but two
/// threads running these paths at the same time can deadlock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InversionReport {
    /// The order recorded before: a chain of edges from the lock `now.then`
    /// to the lock `now.first` (one edge for two locks, more when the order
    /// went through other locks).
    pub earlier: Vec<OrderEdge>,
    /// The acquisition that closes the circle.
    pub now: OrderEdge,
}

/// Something the detector found.
///
/// `Display` explains it in plain words, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Report {
    /// Threads wait for each other in a cycle: a real deadlock.
    Deadlock(DeadlockReport),
    /// Lock order inversion: a potential deadlock, even if this run did not
    /// hang.
    LockOrderInversion(InversionReport),
    /// Threads wait for a lock whose holder exited without releasing it.
    Abandoned(AbandonedReport),
}

impl Report {
    /// Whether this is a real deadlock (threads stuck now): a cycle or an
    /// abandoned lock. An inversion is only a potential one.
    pub fn is_deadlock(&self) -> bool {
        matches!(self, Report::Deadlock(_) | Report::Abandoned(_))
    }
}

fn stuck_line(f: &mut fmt::Formatter<'_>, t: &StuckThread) -> fmt::Result {
    write!(f, "  thread \"{}\" ", t.thread)?;
    for (i, h) in t.holds.iter().enumerate() {
        let sep = if i == 0 { "holds " } else { " and " };
        let what = if h.lock.kind == PrimitiveKind::Semaphore {
            format!("a permit of {}", h.lock)
        } else {
            h.lock.to_string()
        };
        write!(f, "{sep}{what} (acquired at {})", h.at)?;
    }
    if !t.holds.is_empty() {
        f.write_str(" and ")?;
    }
    writeln!(f, "waits for {} (at {})", t.waits_for.lock, t.waits_for.at)
}

impl fmt::Display for DeadlockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [t] = self.cycle.as_slice() {
            writeln!(
                f,
                "DEADLOCK: thread \"{}\" waits for {} (at {}), which it already holds{}.",
                t.thread,
                t.waits_for.lock,
                t.waits_for.at,
                match t.holds.first() {
                    Some(h) => format!(" (acquired at {})", h.at),
                    None => String::new(),
                }
            )?;
            if !self.also_stuck.is_empty() {
                writeln!(f, "Also stuck behind it:")?;
                for t in &self.also_stuck {
                    stuck_line(f, t)?;
                }
            }
            return write!(
                f,
                "A {} is not re-entrant: the thread waits for itself and can never go on.\n\
                 Fix: release it before taking it again, or use an RLock if the thread must re-enter.",
                t.waits_for.lock.kind.noun()
            );
        }
        writeln!(
            f,
            "DEADLOCK: {} threads wait for each other in a cycle:",
            self.cycle.len()
        )?;
        for t in &self.cycle {
            stuck_line(f, t)?;
        }
        if !self.also_stuck.is_empty() {
            writeln!(f, "Also stuck behind them:")?;
            for t in &self.also_stuck {
                stuck_line(f, t)?;
            }
        }
        write!(
            f,
            "Each one waits for something the next one holds, so nobody in this cycle can ever go on.\n\
             Fix: take the locks in one order everywhere, or use an RLock if one thread re-enters."
        )
    }
}

impl fmt::Display for AbandonedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "STUCK FOREVER: thread \"{}\" took {} (at {}) and exited without releasing it. Waiting for it:",
            self.owner, self.lock, self.acquired_at
        )?;
        for t in &self.waiters {
            stuck_line(f, t)?;
        }
        write!(
            f,
            "Nobody can release it any more. Fix: release everything a thread took before it ends \
             (keep the guard in a scope; do not mem::forget it)."
        )
    }
}

impl fmt::Display for InversionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.now.first.lock;
        let b = &self.now.then.lock;
        writeln!(
            f,
            "POTENTIAL DEADLOCK (lock order inversion): {a} and {b} are taken in both orders."
        )?;
        writeln!(f, "  earlier:")?;
        for e in &self.earlier {
            writeln!(
                f,
                "    thread \"{}\" held {} (acquired at {}) and then took {} (at {})",
                e.thread, e.first.lock, e.first.at, e.then.lock, e.then.at
            )?;
        }
        writeln!(f, "  now:")?;
        writeln!(
            f,
            "    thread \"{}\" holds {} (acquired at {}) and takes {} (at {})",
            self.now.thread, a, self.now.first.at, b, self.now.then.at
        )?;
        write!(
            f,
            "This run may not have hung, but if these paths ever run at the same time, each thread \
             can hold its first lock and wait forever for the other's.\n\
             Fix: take the locks in one order everywhere (for example always \"{}\" before \"{}\").",
            b.name, a.name
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Deadlock(r) => r.fmt(f),
            Report::LockOrderInversion(r) => r.fmt(f),
            Report::Abandoned(r) => r.fmt(f),
        }
    }
}
