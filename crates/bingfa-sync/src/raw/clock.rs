//! The clock abstraction behind every timeout.
//!
//! Real: a [`Deadline`] is an `Instant`, and a timed park times out when it
//! passes. Under loom, whose timed waits never time out, a deadline is only a
//! marker: a timed park ends with a timeout when the model calls `advance`
//! (from a thread of its own), so that loom explores "the timeout fired" as
//! one more interleaving, before, during or after any other step.

use std::time::Duration;
#[cfg(not(bingfa_loom))]
use std::time::Instant;

/// The moment a timed wait gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    #[cfg(not(bingfa_loom))]
    at: Instant,
}

impl Deadline {
    /// The deadline `timeout` from now. A timeout too large to represent is
    /// `None`: wait forever.
    #[inline]
    pub fn after(timeout: Duration) -> Option<Deadline> {
        #[cfg(not(bingfa_loom))]
        {
            Instant::now()
                .checked_add(timeout)
                .map(|at| Deadline { at })
        }
        #[cfg(bingfa_loom)]
        {
            let _ = timeout;
            Some(Deadline {})
        }
    }

    /// Whether the deadline has passed. Under loom, never: only `advance`
    /// ends a timed wait there.
    #[inline]
    pub fn has_passed(&self) -> bool {
        #[cfg(not(bingfa_loom))]
        {
            Instant::now() >= self.at
        }
        #[cfg(bingfa_loom)]
        {
            false
        }
    }

    /// Time left until the deadline (zero once it passed). Under loom, an
    /// arbitrary non-zero duration.
    #[inline]
    pub fn remaining(&self) -> Duration {
        #[cfg(not(bingfa_loom))]
        {
            self.at.saturating_duration_since(Instant::now())
        }
        #[cfg(bingfa_loom)]
        {
            Duration::from_secs(1)
        }
    }

    /// The instant, for the real parking lot.
    #[cfg(not(bingfa_loom))]
    #[inline]
    pub(crate) fn instant(&self) -> Instant {
        self.at
    }
}

/// Under loom: times out every timed park that is parked right now. Call it
/// from a thread of the model to make "the timeout fired" a branch that loom
/// explores.
#[cfg(bingfa_loom)]
pub fn advance() {
    super::park::fire_timeouts();
}
