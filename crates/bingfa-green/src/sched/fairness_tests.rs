//! The bound on starvation by yielders: an expired timer waits at most
//! `POLL_EVERY` resumes (plus the green threads queued before its own),
//! however many green threads are ready.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{sched, Woke, POLL_EVERY};
use crate::{run, spawn, yield_now};

#[test]
fn an_expired_timer_waits_at_most_poll_every_resumes() {
    for n in [1u64, 100] {
        let late = run(move || {
            let stop = Rc::new(Cell::new(false));
            // Yields made after the sleeper's exact deadline.
            let late = Rc::new(Cell::new(0u64));
            let at = Instant::now() + Duration::from_millis(2);
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (stop, late) = (stop.clone(), late.clone());
                    spawn(move || {
                        while !stop.get() {
                            if Instant::now() >= at {
                                late.set(late.get() + 1);
                            }
                            yield_now();
                        }
                    })
                })
                .collect();
            // A timed park with exactly that deadline (`sleep` would take
            // its own, a little later).
            let s = sched("test");
            while s.park(Some(at)) != Woke::TimedOut {}
            let late = late.get();
            stop.set(true);
            for h in hs {
                h.join().unwrap();
            }
            late
        })
        .unwrap();
        // The loop fires the timer within POLL_EVERY resumes of the
        // deadline; the sleeper then runs after the `n` green threads
        // queued before it. With 100 ready green threads a round is
        // longer than POLL_EVERY: the look at timers does not wait for the
        // round to end (the loop before this bound did).
        let bound = u64::from(POLL_EVERY) + n;
        assert!(
            late <= bound,
            "{n} yielders: the sleeper waited {late} resumes past its deadline (bound {bound})"
        );
    }
}
