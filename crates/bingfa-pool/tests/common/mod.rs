//! Helpers shared by the test files: a gate that holds tasks until opened,
//! a barrier whose wait fails the test instead of hanging, and task
//! functions for process pools' workers.
//!
//! The task functions need no registration: a worker finds a function by
//! its offset in the executable (`bingfa_process::FnRef`), and each test
//! binary that declares `mod common;` compiles its own copy of them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
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

// ---- process pools' task functions (they run in the workers) ----

/// The worker's pid.
pub fn my_pid(_: ()) -> u32 {
    std::process::id()
}

/// The worker's parent's pid.
pub fn parent_pid(_: ()) -> u32 {
    std::os::unix::process::parent_id()
}

/// Ends the worker with exit code `code`.
pub fn exit_with(code: i32) -> u32 {
    std::process::exit(code)
}

/// Writes this worker's pid to `path` (atomically), then sleeps a minute:
/// the test knows the task runs in that worker before it kills it.
pub fn report_then_sleep(path: String) -> u32 {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, std::process::id().to_string()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    std::thread::sleep(Duration::from_secs(60));
    0
}

/// Waits up to `patience` for the pid that `report_then_sleep` wrote to
/// `path`.
pub fn reported_pid(path: &Path, patience: Duration) -> u32 {
    let deadline = Instant::now() + patience;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            let _ = std::fs::remove_file(path);
            return s.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A path in the temporary directory, unique to this test process and
/// `name`, with no file at it.
pub fn marker(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("bingfa-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}
