//! Helpers shared by the test files: a gate that holds tasks until opened,
//! and a barrier whose wait fails the test instead of hanging.

#![allow(dead_code)]

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any blocking step of a test may take before it counts as hung.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Holds every task that calls `pass` until `open` is called.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    pub fn pass(&self) {
        let g = self.open.lock().unwrap();
        let (g, r) = self.cv.wait_timeout_while(g, PATIENCE, |o| !*o).unwrap();
        assert!(*g && !r.timed_out(), "gate never opened");
    }
}

/// A reusable barrier for `n` parties that panics after `PATIENCE`.
pub struct Barrier {
    n: usize,
    state: Mutex<(usize, u64)>,
    cv: Condvar,
}

impl Barrier {
    pub fn new(n: usize) -> Self {
        Barrier {
            n,
            state: Mutex::new((0, 0)),
            cv: Condvar::new(),
        }
    }

    pub fn wait(&self) {
        let mut g = self.state.lock().unwrap();
        let generation = g.1;
        g.0 += 1;
        if g.0 == self.n {
            g.0 = 0;
            g.1 += 1;
            self.cv.notify_all();
            return;
        }
        let deadline = Instant::now() + PATIENCE;
        while g.1 == generation {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "barrier: the other parties never came");
            g = self.cv.wait_timeout(g, left).unwrap().0;
        }
    }
}
