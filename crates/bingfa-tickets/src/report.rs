//! What a sale did, and the invariant it must keep.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Guard};

/// What one buyer got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Outcome {
    /// The buyer was told it got a ticket (Python: `抢票成功`).
    Bought,
    /// The buyer saw no ticket left (Python: `抢票失败`).
    SoldOut,
    /// The buyer failed: an error, or its process died. Counted as not sold.
    Failed(String),
}

/// What a sale did. [`Report::check`] tells whether it kept the invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// How the buyers were guarded.
    pub guard: Guard,
    /// Tickets in the store at the start.
    pub start: u32,
    /// Tickets left in the store at the end.
    pub remaining: u32,
    /// Each buyer's name and outcome, in buyer order.
    pub outcomes: Vec<(String, Outcome)>,
    /// Buyer processes killed on purpose during the sale
    /// ([`Sale::kill_random`](crate::Sale::kill_random)).
    pub killed: usize,
    /// How many times a watcher read the store during the sale, and how many
    /// of those reads found it corrupt (must be zero: writes are atomic).
    pub store_reads: (u64, u64),
}

impl Report {
    /// A report with no kills and no watcher.
    pub fn new(
        guard: Guard,
        start: u32,
        remaining: u32,
        outcomes: Vec<(String, Outcome)>,
    ) -> Report {
        Report {
            guard,
            start,
            remaining,
            outcomes,
            killed: 0,
            store_reads: (0, 0),
        }
    }

    /// How many buyers there were.
    pub fn buyers(&self) -> usize {
        self.outcomes.len()
    }

    /// How many buyers were told they got a ticket.
    pub fn sold(&self) -> u32 {
        let n = self
            .outcomes
            .iter()
            .filter(|(_, o)| *o == Outcome::Bought)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// How many tickets really left the store: `start - remaining`.
    pub fn taken(&self) -> u32 {
        self.start.saturating_sub(self.remaining)
    }

    /// Buyers told "yes" beyond the tickets that left the store: `sold -
    /// taken`. Zero in a correct sale.
    pub fn oversold(&self) -> u32 {
        self.sold().saturating_sub(self.taken())
    }

    /// How many buyers failed (error or death).
    pub fn failed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .count()
    }

    /// Checks the invariant: every "yes" took one ticket out of the store
    /// (`sold == start - remaining`), the store never went below zero or
    /// above its start, and the store was never seen corrupt. When buyers
    /// failed (a process killed between its write and its report), tickets
    /// may have left the store with nobody told "yes", at most one per
    /// failed buyer.
    ///
    /// # Errors
    /// [`Error::Oversold`] when buyers were told "yes" for tickets that were
    /// not there; [`Error::Invariant`] for any other broken count, and
    /// [`Error::Corrupt`] when a watcher saw a corrupt store.
    pub fn check(&self) -> Result<(), Error> {
        if self.store_reads.1 > 0 {
            return Err(Error::Corrupt(format!(
                "{} of {} reads during the sale found the store corrupt",
                self.store_reads.1, self.store_reads.0
            )));
        }
        if self.remaining > self.start {
            return Err(Error::Invariant(format!(
                "the store holds {} tickets, more than the {} it started with",
                self.remaining, self.start
            )));
        }
        if self.oversold() > 0 {
            return Err(Error::Oversold {
                sold: self.sold(),
                taken: self.taken(),
                start: self.start,
            });
        }
        let unaccounted = self.taken() - self.sold();
        if unaccounted as usize > self.failed() {
            return Err(Error::Invariant(format!(
                "{} tickets left the store but only {} buyers were told they got one (and only {} failed)",
                self.taken(),
                self.sold(),
                self.failed()
            )));
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} buyers, {} ticket(s) at the start, guarded by {}: {} told \"yes\", {} left the store, {} left",
            self.buyers(),
            self.start,
            self.guard.name(),
            self.sold(),
            self.taken(),
            self.remaining
        )?;
        if self.failed() > 0 {
            write!(f, ", {} buyer(s) failed", self.failed())?;
        }
        if self.killed > 0 {
            write!(f, " ({} buyer process(es) killed)", self.killed)?;
        }
        match self.check() {
            Ok(()) => write!(f, ". Correct: every \"yes\" is a real ticket."),
            Err(e) => write!(f, ".\n{e}"),
        }
    }
}
