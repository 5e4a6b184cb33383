//! How a blocked put or get waits: the [`Backoff`] it spins with first,
//! then the futex sleep on a [`Waiters`] word, and the wake-up that ends
//! it.

use std::time::Duration;

use bingfa_sync::raw::atomic::Ordering;
use bingfa_sync::raw::Deadline;

use super::layout::Waiters;
use super::Ring;
use crate::sys;

/// How long a wait caused by a slot in progress sleeps before it checks
/// whether the slot's owner is still alive.
const LIVENESS_PERIOD: Duration = Duration::from_millis(20);

/// What blocked a try: plain full/empty, or a slot in progress.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Blocked {
    Plain,
    InProgress,
}

impl Ring<'_> {
    /// Wakes one waiter on `w` if any registered. Called right after a
    /// slot changed: the light barrier here pairs with the heavy one a
    /// sleeper issues between registering and re-reading the slots
    /// (Dekker), so either it sees the change or this load sees it
    /// registered. The barrier is asymmetric (see [`sys::light_barrier`]):
    /// on the hot path it costs no instruction; a sleeper pays a
    /// `membarrier` call instead. Under loom both sides are SeqCst fences,
    /// the symmetric protocol the model checks.
    #[inline]
    pub(super) fn notify(&self, w: &Waiters) {
        sys::light_barrier();
        if w.waiting.load(Ordering::SeqCst) > 0 {
            w.word.fetch_add(1, Ordering::SeqCst);
            sys::wake(&w.word, 1);
        }
    }

    /// Registers as a waiter, re-checks with `blocked` (`None`: something
    /// to do now; else what still blocks), sleeps on `word`. The sleep is
    /// capped at [`LIVENESS_PERIOD`] when either the try before it or the
    /// re-check met a slot in progress (its owner may die before it wakes
    /// anyone), else at [`sys::WAKE_CHECK`]. Returns `false` when
    /// `deadline` passed.
    pub(super) fn sleep(
        &self,
        w: &Waiters,
        why: Blocked,
        deadline: Option<Deadline>,
        blocked: impl Fn() -> Option<Blocked>,
    ) -> bool {
        if deadline.is_some_and(|d| d.has_passed()) {
            return false;
        }
        w.waiting.fetch_add(1, Ordering::SeqCst);
        // If the barrier is not available, a waker's light barrier may not
        // order its publish before its look at `waiting`: never sleep long
        // without looking again.
        let why = if sys::heavy_barrier() {
            why
        } else {
            Blocked::InProgress
        };
        let seen = w.word.load(Ordering::SeqCst);
        let mut ok = true;
        if let Some(still) = blocked() {
            let why = if still == Blocked::InProgress {
                still
            } else {
                why
            };
            ok = match why {
                // A slot in progress: sleep at most LIVENESS_PERIOD, then
                // look at its owner again.
                Blocked::InProgress => sys::wait_sliced(&w.word, seen, deadline, LIVENESS_PERIOD),
                // Checked: a waker killed between publishing its slot and
                // its `notify`, or a waiter killed after `notify` woke it
                // and before it took its turn, would leave this sleeper
                // asleep while it could go on.
                Blocked::Plain => sys::wait_checked(&w.word, seen, deadline),
            };
        }
        w.waiting.fetch_sub(1, Ordering::SeqCst);
        ok
    }
}

/// How long a blocked put or get keeps trying before it sleeps: a first
/// wait of 2 µs, then a try every 1 µs for 5 µs (yielding the CPU in
/// between, not looking at the ring), then a try after each of 50 yields,
/// then sleep. (Waits that spun on `pause` made a ping-pong on a loaded
/// machine much slower: the spinner kept the CPU its peer needed to
/// answer.)
///
/// Why wait rather than re-check at once: a consumer that has caught up
/// with its producer would otherwise keep reading the very slot its
/// producer is about to write, and every read steals the cache line back,
/// so each message costs the producer a miss inside its claim (a locked
/// instruction, which cannot overlap it). The first wait lets messages
/// pile up, which the consumer then takes in a row, in the cheap regime
/// where the lines it touches are ones the producer is done with (on the
/// 2-core test machine, queue-spsc-64B went from about 0.3x to about 0.5x
/// of a bare ring's throughput). The
/// later tries come at a steady 1 µs rather than ever more spaced out, so
/// that in a ping-pong a reply is seen within a microsecond or two
/// (doubling waits made both sides of a ping-pong wait longer and longer
/// for each other). Sleeping costs the other side a `futex` wake-up
/// system call per message, so a side that keeps up should rather stay
/// awake a little. Under loom: never spins.
#[derive(Default)]
pub(super) struct Backoff {
    #[cfg(not(bingfa_loom))]
    n: u32,
}

/// The first wait.
#[cfg(not(bingfa_loom))]
const FIRST_WAIT: Duration = Duration::from_micros(2);
/// The waits after it, each followed by a try.
#[cfg(not(bingfa_loom))]
const NEXT_WAIT: Duration = Duration::from_micros(1);
/// Waits (each followed by a try) before the yields.
#[cfg(not(bingfa_loom))]
const WAITS: u32 = 6;
/// Yields (each followed by a try) before sleeping.
#[cfg(not(bingfa_loom))]
const YIELDS: u32 = 50;

impl Backoff {
    #[inline]
    pub(super) fn spin(&mut self) -> bool {
        #[cfg(not(bingfa_loom))]
        {
            self.n += 1;
            if self.n <= WAITS {
                let wait = if self.n == 1 { FIRST_WAIT } else { NEXT_WAIT };
                let start = std::time::Instant::now();
                // Yields rather than `pause`: when the peer shares this
                // CPU (a loaded machine), it runs meanwhile instead of
                // waiting for the spinner's time slice to end; otherwise
                // a yield returns at once.
                while start.elapsed() < wait {
                    std::thread::yield_now();
                }
                true
            } else if self.n <= WAITS + YIELDS {
                std::thread::yield_now();
                true
            } else {
                false
            }
        }
        #[cfg(bingfa_loom)]
        {
            false
        }
    }
}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    use super::super::{test_ring, Modulus};
    use super::*;
    use crate::sys::lost_wake_up;

    const CAP: usize = 4;
    const SLOT_BYTES: usize = 16;

    fn leaked_ring() -> usize {
        test_ring::leaked(CAP, SLOT_BYTES)
    }

    fn ring(base: usize) -> Ring<'static> {
        // SAFETY: laid out and initialized by `leaked_ring` for these
        // sizes, never freed.
        unsafe { Ring::in_cells(base as *mut u8, Modulus::new(CAP as u64), SLOT_BYTES, &|_| true) }
    }

    /// A put whose wake-up never comes (the producer killed between
    /// publishing its slot and its `notify`; here the sleeping consumer is
    /// hidden from the `notify` instead) costs that consumer, asleep on an
    /// empty ring, a slice, not the rest of its life.
    #[test]
    fn a_get_survives_a_lost_wake_up() {
        let base = leaked_ring();
        let waiting = || &ring(base).hdr.not_empty.0.waiting;
        lost_wake_up::check(
            move || {
                let got = ring(base).pop_slot(1, None).map(|f| f.to_vec());
                got == Ok(vec![7, 8, 9])
            },
            || waiting().load(Ordering::SeqCst) > 0,
            || {
                let hidden = waiting().swap(0, Ordering::SeqCst);
                let put = ring(base).try_push_with(2, crate::ring::push::copy_of(&[7, 8, 9]));
                assert!(put.is_ok());
                waiting().fetch_add(hidden, Ordering::SeqCst);
            },
        );
    }
}
