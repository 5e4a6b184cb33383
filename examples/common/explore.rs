//! `--explore`: a race found by a machine, not by luck. The racy step runs
//! under loom, a model checker that tries every way two threads can
//! interleave (every schedule, not a random few); the first schedule that
//! breaks the invariant is saved by loom (its checkpoint file: the replay
//! key), replayed, and drawn as a timeline: who read, who was preempted,
//! whose write was lost. Then the guarded version is explored the same way.
//!
//! More threads than loom can try every schedule of (its schedules grow
//! factorially) go to shuttle ([`explore_random`]): a randomized scheduler
//! (PCT, probabilistic concurrency testing) that runs a fixed number of
//! schedules from a fixed seed, saves the first failing one to a file, and
//! replays it from there. Random, not exhaustive: it finds the race, and
//! its passing runs are evidence for the lock, not a proof.
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
    /// 1, 2, ... (the model's threads, from 1).
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

/// Logs a step of thread `thread` (from 1).
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

impl Explored {
    /// `schedules` ran and none failed: nothing to replay.
    fn none_failing(schedules: usize) -> Explored {
        Explored {
            schedules,
            failing: 0,
            replayed: None,
            key: None,
            which: None,
        }
    }
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
        return Explored::none_failing(schedules);
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

/// Tries `iterations` random schedules of `model` (which runs its threads
/// on shuttle's types and returns whether the invariant held) under
/// shuttle's PCT scheduler from `seed`, counts the failing ones, and
/// replays the first from the file shuttle saved it to, in `dir` (the
/// replay key).
///
/// Two passes from the same seed, as `explore` does with loom: the first
/// counts, the second stops at the first failure, which is the same
/// schedule (the seed decides every choice), so shuttle saves it.
pub fn explore_random(model: fn() -> bool, iterations: usize, seed: u64, dir: &Path) -> Explored {
    use shuttle::scheduler::PctScheduler;
    use shuttle::{Config, FailurePersistence, Runner};
    // PCT's depth: how many priority changes a schedule may have; a lost
    // update needs one (a thread preempted between its read and write).
    const DEPTH: usize = 3;
    let config = |persist: bool| {
        let mut c = Config::new();
        c.silence_warnings = true;
        c.failure_persistence = if persist {
            FailurePersistence::File(Some(dir.to_path_buf()))
        } else {
            FailurePersistence::None
        };
        c
    };

    // 1. Every schedule of the run, counted.
    static FAILS: AtomicUsize = AtomicUsize::new(0);
    static RUN: AtomicUsize = AtomicUsize::new(0);
    static FIRST: AtomicUsize = AtomicUsize::new(0);
    FAILS.store(0, Ordering::SeqCst);
    RUN.store(0, Ordering::SeqCst);
    FIRST.store(0, Ordering::SeqCst);
    let runner = Runner::new(
        PctScheduler::new_from_seed(seed, DEPTH, iterations),
        config(false),
    );
    let schedules = runner.run(move || {
        take_log();
        let k = RUN.fetch_add(1, Ordering::SeqCst) + 1;
        if !model() && FAILS.fetch_add(1, Ordering::SeqCst) == 0 {
            FIRST.store(k, Ordering::SeqCst);
        }
    });
    let failing = FAILS.load(Ordering::SeqCst);
    if failing == 0 {
        return Explored::none_failing(schedules);
    }

    // 2. The same run, stopped at its first failure: shuttle saves that
    // schedule to a file in `dir` (made empty here, so the file is the
    // only one). Shuttle's panic hook tells how to replay it on stderr,
    // which the demo tells in its own words instead: stderr is muted.
    std::fs::remove_dir_all(dir).ok();
    std::fs::create_dir_all(dir).expect("a directory for the schedule");
    let runner = Runner::new(
        PctScheduler::new_from_seed(seed, DEPTH, iterations),
        config(true),
    );
    // The runner is not touched after a panic: unwind safety holds.
    let runner = panic::AssertUnwindSafe(runner);
    let stopped = muted_stderr(|| {
        quietly(move || {
            // The whole wrapper moves in (a pattern would capture the field).
            let wrapped = runner;
            wrapped.0.run(move || {
                take_log();
                if !model() {
                    panic!("found: stop here, shuttle saves this schedule");
                }
            })
        })
    });
    assert!(stopped.is_err(), "the failing schedule came back");
    let key = std::fs::read_dir(dir)
        .expect("the schedule's directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "txt"))
        .expect("shuttle saved the failing schedule");

    // 3. Replay from the file: one execution, the failing one.
    static STEPS: StdMutex<Vec<Step>> = StdMutex::new(Vec::new());
    let file = key.clone();
    let replay = quietly(move || {
        shuttle::replay_from_file(
            move || {
                take_log();
                let held = model();
                *STEPS.lock().unwrap_or_else(|e| e.into_inner()) = take_log();
                assert!(!held, "the replayed schedule fails again");
            },
            &file,
        )
    });
    // The replay ran the failing schedule to its end (shuttle panics if the
    // program asks for a choice the file does not have) and failed again.
    assert!(replay.is_ok(), "the saved schedule replays");
    let replayed = std::mem::take(&mut *STEPS.lock().unwrap_or_else(|e| e.into_inner()));
    Explored {
        schedules,
        failing,
        replayed: Some(replayed),
        key: Some(key),
        which: Some(FIRST.load(Ordering::SeqCst)),
    }
}

/// Runs `f` with this process's stderr sent to /dev/null (and restored
/// after, also if `f` panics).
fn muted_stderr<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            if self.0 >= 0 {
                // SAFETY: `self.0` is our own duplicate of the old stderr,
                // open until this close.
                unsafe {
                    libc::dup2(self.0, 2);
                    libc::close(self.0);
                }
            }
        }
    }
    // SAFETY: plain descriptor calls on descriptors this function owns
    // (the duplicate, /dev/null's) and on 2, which it restores.
    let saved = unsafe {
        let saved = libc::dup(2);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if saved >= 0 && null >= 0 {
            libc::dup2(null, 2);
        }
        if null >= 0 {
            libc::close(null);
        }
        saved
    };
    let _restore = Restore(saved);
    f()
}

/// The model's `threads` threads on shuttle's scheduler: each runs
/// `step(thread)` (from 1); returns their results in thread order.
pub fn shuttle_threads<T, F>(threads: usize, step: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> T + Clone + Send + Sync + 'static,
{
    let hs: Vec<_> = (1..=threads)
        .map(|i| {
            let step = step.clone();
            shuttle::thread::spawn(move || step(i))
        })
        .collect();
    hs.into_iter()
        .map(|h| h.join().expect("a model thread"))
        .collect()
}

/// The shared value of a model (`n`, `ticket_num`), behind the model
/// checker's own mutex (loom's or shuttle's), which makes each access one
/// atomic step, as one bytecode is under CPython's GIL.
pub trait Shared: Send + Sync + 'static {
    /// One atomic access to the value.
    fn access<R>(&self, f: impl FnOnce(&mut i64) -> R) -> R;
}

impl Shared for loom::sync::Mutex<i64> {
    fn access<R>(&self, f: impl FnOnce(&mut i64) -> R) -> R {
        f(&mut self.lock().expect("not poisoned"))
    }
}

impl Shared for shuttle::sync::Mutex<i64> {
    fn access<R>(&self, f: impl FnOnce(&mut i64) -> R) -> R {
        f(&mut self.lock().expect("not poisoned"))
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
    // The last value each thread read, and whether it is preempted (it
    // read, and another thread runs before its write).
    let threads = steps.iter().map(|s| s.thread).max().unwrap_or(0) + 1;
    let mut read: Vec<Option<(usize, i64)>> = vec![None; threads];
    let mut preempted = vec![false; threads];
    for (k, s) in steps.iter().enumerate() {
        let me = who(s.thread);
        let lane = &me;
        // Another thread read and has not written yet: it is preempted,
        // its read now stale if this step writes.
        for other in (1..threads).filter(|&t| t != s.thread) {
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
        }
        let text = match s.what {
            // A read its thread writes after (a read-modify-write in
            // progress, open to preemption) ...
            Act::Read(v) if writes_later(steps, k) => {
                read[s.thread] = Some((k, v));
                events.push(Event::new(at(k), lane, EventKind::Begin, "read .. write"));
                format!("{me} reads {thing} = {v}")
            }
            // ... or one it acts on no further (a buyer who saw no ticket
            // left): nothing of it can go stale.
            Act::Read(v) => format!("{me} reads {thing} = {v}, and writes nothing"),
            Act::Write(v) => {
                // Other threads wrote between this thread's read and this
                // write: this write, computed from the old value, wipes
                // theirs out.
                let mut lost: Vec<usize> = read[s.thread]
                    .map(|(rk, _)| {
                        steps[rk + 1..k]
                            .iter()
                            .filter(|x| x.thread != s.thread && matches!(x.what, Act::Write(_)))
                            .map(|x| x.thread)
                            .collect()
                    })
                    .unwrap_or_default();
                lost.dedup();
                if preempted[s.thread] {
                    preempted[s.thread] = false;
                    events.push(Event::new(at(k), lane, EventKind::End, "preempted"));
                }
                read[s.thread] = None;
                events.push(Event::new(at(k), lane, EventKind::End, "read .. write"));
                let whose = lost
                    .iter()
                    .map(|&t| format!("{}'s", who(t)))
                    .collect::<Vec<_>>();
                match whose.as_slice() {
                    [one] => {
                        events.push(Event::new(
                            at(k),
                            lane,
                            EventKind::Mark,
                            &format!("writes {v}: {one} write lost"),
                        ));
                        format!(
                            "{me} writes {thing} = {v}, from its stale read: {one} write is lost"
                        )
                    }
                    [first @ .., last] if !first.is_empty() => {
                        let names = format!("{} and {last}", first.join(", "));
                        events.push(Event::new(
                            at(k),
                            lane,
                            EventKind::Mark,
                            &format!("writes {v}: {} writes lost", lost.len()),
                        ));
                        format!(
                            "{me} writes {thing} = {v}, from its stale read: {names} writes are lost"
                        )
                    }
                    _ => {
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

/// Prints the first failing schedule of `found`, replayed (saved by
/// `checker`, replayed by `replays`): the steps told about `thing`, with
/// `who` naming the threads, then the timeline `title`. Returns the steps
/// (`None`: nothing failed).
pub fn show_failing<'a>(
    demo: &mut crate::common::Demo,
    found: &'a Explored,
    (checker, replays): (&str, &str),
    (thing, who): (&str, &dyn Fn(usize) -> String),
    title: &str,
) -> Option<&'a [Step]> {
    let (Some(steps), Some(key), Some(which)) = (&found.replayed, &found.key, found.which) else {
        return None;
    };
    let size = std::fs::metadata(key).map(|m| m.len()).unwrap_or(0);
    println!(
        "  The first failing one, schedule {which} of {}, replayed from the schedule {checker} saved\n  \
         (replay key: {}, {size} bytes; {replays} replays it):\n",
        found.schedules,
        key.display()
    );
    let (lines, events) = tell(steps, thing, who);
    for l in &lines {
        println!("{l}");
    }
    demo.show_events(title, events);
    Some(steps)
}

/// What shuttle found for the locked version: its count, what held in
/// every schedule (`held`) if none failed, and that random schedules are
/// evidence for the lock, while loom's run of two (`two`) is the proof.
pub fn print_locked_random(checked: &Explored, held: &str, two: &str) {
    println!(
        "  shuttle ran {} schedules of the locked version: {} failing{}.\n  \
         Random schedules are evidence, not proof: loom's every-schedule run (--explore)\n  \
         is the proof for two {two}.",
        checked.schedules,
        checked.failing,
        if checked.failing == 0 {
            format!("; {held} in every one")
        } else {
            String::new()
        }
    );
}

/// An explored demo's last line (`lose` says what an unguarded schedule
/// did wrong: "lose an update", "oversell"), and its exit status: 1 unless
/// the unguarded version failed somewhere and the locked one nowhere.
pub fn finish(demo: crate::common::Demo, found: &Explored, checked: &Explored, lose: &str) {
    println!(
        "\nResult: without a lock {} of {} schedules {lose}; with the lock {} of {} do.",
        found.failing, found.schedules, checked.failing, checked.schedules
    );
    demo.finish();
    if found.failing == 0 || checked.failing != 0 {
        std::process::exit(1);
    }
}

/// The value the last write of `steps` left (what n or ticket_num ended
/// at), if any.
pub fn last_write(steps: &[Step]) -> Option<i64> {
    steps.iter().rev().find_map(|s| match s.what {
        Act::Write(v) => Some(v),
        _ => None,
    })
}

/// Whether the thread of step `k` writes at a later step.
fn writes_later(steps: &[Step], k: usize) -> bool {
    steps[k + 1..]
        .iter()
        .any(|x| x.thread == steps[k].thread && matches!(x.what, Act::Write(_)))
}

/// How many threads demo `name`'s `--explore` asks for, or `None` without
/// `--explore`: 2 (loom, every schedule) for `--explore` alone or with
/// `COUNT_FLAG 2`, 3 to 8 (shuttle) with `COUNT_FLAG N`. Anything else ends
/// the demo with a message.
pub fn explore_count(demo: &crate::common::Demo, name: &str, count_flag: &str) -> Option<usize> {
    if !demo.rest.iter().any(|a| a == "--explore") {
        return None;
    }
    let rest: Vec<&str> = demo
        .rest
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--explore")
        .collect();
    match rest.as_slice() {
        [] => Some(2),
        [flag, n] if *flag == count_flag => match n.parse::<usize>() {
            Ok(n @ 2..=8) => Some(n),
            _ => crate::common::fail(
                name,
                &format!(
                    "--explore {count_flag} takes 2 (loom, every schedule) or 3 to 8 (shuttle)"
                ),
            ),
        },
        other => crate::common::fail(name, &format!("unknown arguments {other:?}; try --help")),
    }
}

/// A place for loom's checkpoint of demo `name`.
pub fn key_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "bingfa-{name}-schedule-{}.json",
        std::process::id()
    ))
}
