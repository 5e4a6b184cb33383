//! `--explore`: a race found by a machine, not by luck. The racy step runs
//! under loom, a model checker that tries every way two threads can
//! interleave (every schedule, not a random few); the first schedule that
//! breaks the invariant is saved by loom (its checkpoint file: the replay
//! key), replayed, and drawn as a timeline: who read, who was preempted,
//! whose write was lost. Then the guarded version is explored the same way.
//!
//! Included by the demos that explore (`race`, `tickets`) with
//! `#[path = "common/explore.rs"] mod explore;`.

#![allow(dead_code)]

use std::panic;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use bingfa::trace::{Event, EventKind};

/// One step of one thread in a schedule, as the model logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1 or 2.
    pub thread: usize,
    /// What it did: `Read(v)`, `Write(v)`, `Lock`, `Unlock`, `Told(yes)`.
    pub what: Act,
}

/// What a thread did at one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Read(i64),
    Write(i64),
    Lock,
    Unlock,
}

/// The steps of the execution that loom is running now (loom runs one
/// execution at a time, its threads one at a time: the log's order is the
/// schedule's order).
static LOG: StdMutex<Vec<Step>> = StdMutex::new(Vec::new());

/// Logs a step of thread `thread` (1 or 2).
pub fn log(thread: usize, what: Act) {
    LOG.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Step { thread, what });
}

fn take_log() -> Vec<Step> {
    std::mem::take(&mut *LOG.lock().unwrap_or_else(|e| e.into_inner()))
}

/// What exploring a model found.
pub struct Explored {
    /// Schedules loom ran: every one there is.
    pub schedules: usize,
    /// Schedules that broke the invariant.
    pub failing: usize,
    /// The first failing schedule, replayed from loom's saved checkpoint.
    pub replayed: Option<Vec<Step>>,
    /// Where loom saved that schedule (the replay key).
    pub key: Option<PathBuf>,
    /// Its number among the schedules, from 1.
    pub which: Option<usize>,
}

/// Runs `f` with panics kept quiet (loom's own stops and ours).
fn quietly<R>(f: impl FnOnce() -> R + panic::UnwindSafe) -> std::thread::Result<R> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let r = panic::catch_unwind(f);
    panic::set_hook(hook);
    r
}

fn builder(checkpoint: Option<&Path>) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = None; // every schedule: two threads are few
    b.max_branches = 10_000;
    if let Some(p) = checkpoint {
        b.checkpoint_file = Some(p.to_path_buf());
        b.checkpoint_interval = 1;
    }
    b
}

/// Explores every schedule of `model` (which runs the threads and returns
/// whether the invariant held), counts the failing ones, and replays the
/// first from the checkpoint loom saved for it. `key` is where that
/// checkpoint goes.
pub fn explore(model: fn() -> bool, key: &Path) -> Explored {
    // 1. Every schedule, counted.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static FAILS: AtomicUsize = AtomicUsize::new(0);
    static FIRST: AtomicUsize = AtomicUsize::new(0);
    RUNS.store(0, Ordering::SeqCst);
    FAILS.store(0, Ordering::SeqCst);
    FIRST.store(0, Ordering::SeqCst);
    builder(None).check(move || {
        take_log();
        let k = RUNS.fetch_add(1, Ordering::SeqCst) + 1;
        if !model() && FAILS.fetch_add(1, Ordering::SeqCst) == 0 {
            FIRST.store(k, Ordering::SeqCst);
        }
    });
    let schedules = RUNS.load(Ordering::SeqCst);
    let failing = FAILS.load(Ordering::SeqCst);
    if failing == 0 {
        return Explored {
            schedules,
            failing,
            replayed: None,
            key: None,
            which: None,
        };
    }

    // 2. The same exploration, stopped at the first failing schedule: loom
    // saved that schedule's path before running it.
    std::fs::remove_file(key).ok();
    static STOP: AtomicBool = AtomicBool::new(false);
    STOP.store(false, Ordering::SeqCst);
    let b = builder(Some(key));
    let _ = quietly(move || {
        b.check(move || {
            take_log();
            if !model() {
                STOP.store(true, Ordering::SeqCst);
                panic!("found: stop here, loom has saved this schedule");
            }
        })
    });
    assert!(
        STOP.load(Ordering::SeqCst),
        "the failing schedule came back"
    );

    // 3. Replay: loom starts from the saved schedule; the first execution
    // is the failing one, and we stop before the next.
    static REPLAYS: AtomicUsize = AtomicUsize::new(0);
    static STEPS: StdMutex<Vec<Step>> = StdMutex::new(Vec::new());
    REPLAYS.store(0, Ordering::SeqCst);
    let b = builder(Some(key));
    let _ = quietly(move || {
        b.check(move || {
            if REPLAYS.fetch_add(1, Ordering::SeqCst) > 0 {
                panic!("replayed: stop");
            }
            take_log();
            let held = model();
            let mut steps = STEPS.lock().unwrap_or_else(|e| e.into_inner());
            *steps = take_log();
            assert!(!held, "the replayed schedule fails again");
        })
    });
    let replayed = std::mem::take(&mut *STEPS.lock().unwrap_or_else(|e| e.into_inner()));
    Explored {
        schedules,
        failing,
        replayed: Some(replayed),
        key: Some(key.to_path_buf()),
        which: Some(FIRST.load(Ordering::SeqCst)),
    }
}

/// The model's two threads: each runs `step(thread)`; returns their
/// results in thread order.
pub fn two_threads<T, F>(step: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> T + Clone + Send + 'static,
{
    let hs: Vec<_> = (1..=2)
        .map(|i| {
            let step = step.clone();
            loom::thread::spawn(move || step(i))
        })
        .collect();
    hs.into_iter()
        .map(|h| h.join().expect("a model thread"))
        .collect()
}

/// The replayed steps as a story, one line each, with who was preempted
/// and whose write was lost, and as events for the timeline (one step per
/// millisecond). `thing` names the value (`n`, `tickets`); `who` a thread.
pub fn tell(
    steps: &[Step],
    thing: &str,
    who: &dyn Fn(usize) -> String,
) -> (Vec<String>, Vec<Event>) {
    let mut lines = Vec::new();
    let mut events = Vec::new();
    let at = |k: usize| Duration::from_millis(k as u64 + 1);
    // The last value each thread read, and who wrote each value last.
    let mut read: [Option<(usize, i64)>; 3] = [None; 3];
    let mut preempted: [bool; 3] = [false; 3];
    for (k, s) in steps.iter().enumerate() {
        let me = who(s.thread);
        let lane = &me;
        let other = 3 - s.thread;
        // The other thread read and has not written yet: it is preempted,
        // its read now stale if this step writes.
        if read[other].is_some() && !preempted[other] {
            preempted[other] = true;
            events.push(Event::new(
                at(k),
                &who(other),
                EventKind::Begin,
                "preempted",
            ));
            lines.push(format!(
                "          ({} is preempted between its read and its write)",
                who(other)
            ));
        }
        let text = match s.what {
            Act::Read(v) => {
                read[s.thread] = Some((k, v));
                events.push(Event::new(at(k), lane, EventKind::Begin, "read .. write"));
                format!("{me} reads {thing} = {v}")
            }
            Act::Write(v) => {
                // Another thread wrote between this thread's read and this
                // write: this write, computed from the old value, wipes
                // that one out.
                let lost = read[s.thread].and_then(|(rk, _)| {
                    steps[rk + 1..k]
                        .iter()
                        .find(|x| x.thread != s.thread && matches!(x.what, Act::Write(_)))
                        .map(|x| (x.thread, ()))
                });
                if preempted[s.thread] {
                    preempted[s.thread] = false;
                    events.push(Event::new(at(k), lane, EventKind::End, "preempted"));
                }
                read[s.thread] = None;
                events.push(Event::new(at(k), lane, EventKind::End, "read .. write"));
                match lost {
                    Some((t, _)) => {
                        events.push(Event::new(
                            at(k),
                            lane,
                            EventKind::Mark,
                            &format!("writes {v}: {}'s write lost", who(t)),
                        ));
                        format!(
                            "{me} writes {thing} = {v}, from its stale read: {}'s write is lost",
                            who(t)
                        )
                    }
                    None => {
                        events.push(Event::new(
                            at(k),
                            lane,
                            EventKind::Mark,
                            &format!("writes {v}"),
                        ));
                        format!("{me} writes {thing} = {v}")
                    }
                }
            }
            Act::Lock => {
                events.push(Event::new(at(k), lane, EventKind::Acquired, "lock"));
                format!("{me} takes the lock")
            }
            Act::Unlock => {
                events.push(Event::new(at(k), lane, EventKind::Released, "lock"));
                format!("{me} releases the lock")
            }
        };
        if let Act::Read(v) = s.what {
            events.push(Event::new(
                at(k),
                lane,
                EventKind::Mark,
                &format!("reads {v}"),
            ));
        }
        lines.push(format!("  step {}: {text}", k + 1));
    }
    (lines, events)
}

/// A place for loom's checkpoint of demo `name`.
pub fn key_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "bingfa-{name}-schedule-{}.json",
        std::process::id()
    ))
}
