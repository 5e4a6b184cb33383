//! The parent's side of one worker slot: a thread that starts the worker
//! process, hands it one task at a time over its pipe, completes the task's
//! future with the result, notices the worker's death and replaces it.
//!
//! One thread per slot keeps the accounting exact: the thread knows which
//! task its worker runs, because it sent it and has not had the answer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use std::io;

use bingfa_process::{Builder as ProcessBuilder, ExitStatus, FnRef, Pipe};

use super::fork_server;
use super::link::{Link, LinkError};
use super::proc::Proc;
use super::worker::{self, Failure, Msg, SpawnArgs};
use super::{Job, Shared, StartMethod};
use crate::error::Error;

/// How often a handler waiting for a result checks that its worker is
/// alive, in case the end of its pipe stays open elsewhere (a process forked
/// by other code of the program at the wrong moment inherited it).
const LIVENESS: Duration = Duration::from_millis(100);

/// How long a handler waits for a worker that closed its pipe to exit
/// before killing it.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Consecutive starts of one slot's worker that fail for reasons of their
/// own (see [`StartError::Failed`]) after which the pool is broken.
pub(crate) const START_FAILURES: u32 = 5;

/// The pause after the `n`-th failed start in a row (`n >= 1`): 10 ms,
/// 40 ms, 160 ms, 640 ms (0.85 s in all before the fifth breaks the pool).
fn failure_backoff(n: u32) -> Duration {
    Duration::from_millis(10 << (2 * n.saturating_sub(1)).min(8))
}

/// The pause before restarting a worker that was killed from outside while
/// it started, after `n` such kills in a row: none for the first three,
/// then doubling from 2 ms up to 100 ms, so that something that kills every
/// new worker at once cannot make the handler spin.
fn kill_backoff(n: u32) -> Duration {
    match n {
        0..=3 => Duration::ZERO,
        n => Duration::from_millis(1 << (n - 3).min(7)).min(Duration::from_millis(100)),
    }
}

/// Whether `signal` is one a process raises on its own faults (a crash,
/// `abort`, a resource limit), as opposed to one sent from outside
/// (`SIGKILL`, `SIGTERM`, the OOM killer, ...).
fn is_own_fault(signal: i32) -> bool {
    matches!(
        signal,
        libc::SIGSEGV
            | libc::SIGBUS
            | libc::SIGILL
            | libc::SIGFPE
            | libc::SIGABRT
            | libc::SIGSYS
            | libc::SIGTRAP
            | libc::SIGXCPU
            | libc::SIGXFSZ
    )
}

/// One running worker process and the parent's end of its link.
pub(super) struct Worker {
    process: Arc<Proc>,
    pipe: Link,
    /// Tasks completed by this worker.
    tasks: usize,
}

/// Held (by pid) while a fork-mode worker's pipe end exists in the parent,
/// so that no other pool thread forks then and leaks that end into its
/// child (which would keep the pipe open after the worker dies). It stores
/// the holder's pid rather than being a `Mutex`, so that a forked child,
/// which inherits a copy taken while held, can tell the copy is stale and
/// take it.
static FORK_LOCK: AtomicU32 = AtomicU32::new(0);

struct ForkGuard;

impl ForkGuard {
    fn lock() -> ForkGuard {
        let me = std::process::id();
        loop {
            let cur = FORK_LOCK.load(Ordering::Acquire);
            // Held by another process: a copy from before our fork.
            if (cur == 0 || cur != me)
                && FORK_LOCK
                    .compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return ForkGuard;
            }
            thread::sleep(Duration::from_micros(50));
        }
    }
}

impl Drop for ForkGuard {
    fn drop(&mut self) {
        FORK_LOCK.store(0, Ordering::Release);
    }
}

/// `bingfa_process`'s error as an `io::Error` (the OS error itself when it
/// is one).
fn os_error(e: bingfa_process::Error) -> io::Error {
    match e {
        bingfa_process::Error::Os(e) => e,
        other => io::Error::other(other),
    }
}

/// Why a worker could not be made ready.
enum StartError {
    /// A signal from outside ended it before `Ready` (someone killed it):
    /// the normal case the pool exists for, so start another, always.
    Killed,
    /// It failed on its own: the process could not be started (fork or
    /// exec error), or it exited, crashed or broke the protocol before
    /// `Ready`. Counts toward [`START_FAILURES`].
    Failed(String),
    /// Its initializer panicked, or a spawned child cannot run the worker
    /// (the program lacks `init`): the pool is broken with this message.
    Fatal(String),
}

impl Worker {
    /// Starts the worker process of slot `slot`.
    fn start(shared: &Shared, slot: usize) -> io::Result<Worker> {
        let b = ProcessBuilder::new()
            .name(format!("{}_{slot}", shared.prefix))
            .daemon(true);
        let init = shared.initializer.map(FnRef::new);
        let (pipe, process) = match shared.method {
            StartMethod::ForkServer => {
                let (served, conn) = fork_server::fork_worker(init.map(FnRef::into_raw))
                    .map_err(io::Error::other)?;
                (Link::Conn(conn), Proc::Served(served))
            }
            StartMethod::Fork => {
                let _guard = ForkGuard::lock();
                let (mine, theirs) = Pipe::<Msg>::new().map_err(os_error)?;
                // `theirs` moves into the closure, which the parent drops
                // (closing that end) when `fork` returns.
                // SAFETY: the fork start method is the caller's choice, and
                // its docs (`StartMethod::Fork`) state what the program must
                // ensure: no other thread of the program may hold a lock
                // that the worker (the task, the initializer) takes. The
                // worker loop itself takes no lock another thread of the
                // pool may hold: it talks to the pool through `theirs`, a
                // pipe made for this worker alone. The default start method,
                // the fork server, is safe whatever threads the program has.
                let p = unsafe { b.fork(move || worker::run(Link::Pipe(theirs), init)) }
                    .map_err(os_error)?;
                (Link::Pipe(mine), Proc::Child(p))
            }
            StartMethod::Spawn => {
                let (mine, theirs) = Pipe::<Msg>::new().map_err(os_error)?;
                let args = SpawnArgs { pipe: theirs, init };
                let p = b
                    .spawn(worker::spawned_main as fn(SpawnArgs), args)
                    .map_err(os_error)?;
                (Link::Pipe(mine), Proc::Child(p))
            }
        };
        Ok(Worker {
            process: Arc::new(process),
            pipe,
            tasks: 0,
        })
    }

    /// Waits for the worker's `Ready`.
    fn ready(self) -> Result<Worker, StartError> {
        match self.pipe.recv(None) {
            Ok(Msg::Ready) => Ok(self),
            Ok(Msg::InitFailed(message)) => {
                let _ = self.process.join();
                Err(StartError::Fatal(message))
            }
            Ok(other) => {
                self.kill_and_reap();
                Err(StartError::Failed(format!(
                    "worker sent {other:?} instead of Ready"
                )))
            }
            Err(e) => match self.reap() {
                Err(fatal @ bingfa_process::Error::NotInitialized { .. }) => {
                    Err(StartError::Fatal(fatal.to_string()))
                }
                Ok(status) => match status.signal() {
                    Some(s) if !is_own_fault(s) => Err(StartError::Killed),
                    _ => Err(StartError::Failed(format!(
                        "worker {} ended while starting ({status}; {e})",
                        self.process.pid()
                    ))),
                },
                Err(other) => Err(StartError::Failed(other.to_string())),
            },
        }
    }

    /// Waits for an exiting worker (kills it after a grace period).
    fn reap(&self) -> Result<ExitStatus, bingfa_process::Error> {
        match self.process.join_timeout(EXIT_GRACE)? {
            Some(s) => Ok(s),
            None => {
                self.process.kill()?;
                self.process.join()
            }
        }
    }

    fn kill_and_reap(&self) {
        let _ = self.process.kill();
        let _ = self.process.join();
    }

    /// Tells an idle worker to exit and waits for it.
    fn retire(self) {
        // If it is already gone the send fails; reaping collects it anyway.
        let _ = self.pipe.send(&Msg::Exit);
        let _ = self.reap();
    }

    /// Waits for the outcome of the task just sent. `Err(Died)`: the worker
    /// died (it is reaped); `Err(Protocol)`: its answer was damaged or out
    /// of place (the worker was killed and reaped).
    fn outcome(&self) -> Result<Result<Vec<u8>, Failure>, Death> {
        loop {
            match self.pipe.recv(Some(LIVENESS)) {
                Ok(Msg::Done(outcome)) => return Ok(outcome),
                Ok(other) => {
                    self.kill_and_reap();
                    return Err(Death::Protocol(format!(
                        "the worker sent {other:?} instead of a result"
                    )));
                }
                Err(LinkError::Timeout) => {
                    if let Ok(false) = self.process.is_alive() {
                        // Its pipe end is still open elsewhere: drain what
                        // it sent before dying.
                        if let Ok(Msg::Done(outcome)) = self.pipe.recv(Some(Duration::ZERO)) {
                            return Ok(outcome);
                        }
                        return Err(self.died());
                    }
                }
                Err(LinkError::Closed) => return Err(self.died()),
                Err(e) => {
                    self.kill_and_reap();
                    return Err(Death::Protocol(format!(
                        "the worker's answer could not be read: {e}"
                    )));
                }
            }
        }
    }

    fn died(&self) -> Death {
        let status = self.reap().ok();
        Death::Died {
            pid: self.process.pid(),
            signal: status.and_then(|s| s.signal()),
            exit_code: status.and_then(|s| s.code()),
        }
    }
}

/// How a worker was lost during a task.
enum Death {
    Died {
        pid: u32,
        signal: Option<i32>,
        exit_code: Option<i32>,
    },
    Protocol(String),
}

/// The handler thread of one slot.
pub(super) struct Handler {
    shared: Arc<Shared>,
    slot: usize,
    worker: Option<Worker>,
}

impl Handler {
    /// Starts the slot's first worker (the pool's builder waits for this).
    pub(super) fn new(shared: Arc<Shared>, slot: usize) -> io::Result<Handler> {
        let w = Worker::start(&shared, slot)?;
        shared.set_proc(slot, Some(w.process.clone()));
        Ok(Handler {
            shared,
            slot,
            worker: Some(w),
        })
    }

    /// Takes tasks until the pool shuts down and its queue is empty, then
    /// retires the worker.
    pub(super) fn run(mut self) {
        // The first worker's `Ready` (its initializer may fail).
        if let Some(w) = self.worker.take() {
            self.worker = self.make_ready(Ok(w));
        }
        while let Ok(job) = self.shared.rx.recv() {
            // Nothing in the handling of one task may end the slot. A panic
            // here (a bug of ours, or user code: decoding is guarded on its
            // own) fails that task, whose completer reports
            // `Error::Abandoned` as it is dropped while unwinding; the
            // worker may be mid-exchange, so it is replaced.
            if catch_unwind(AssertUnwindSafe(|| self.run_job(job))).is_err() {
                report!(
                    error,
                    slot = self.slot,
                    "a process pool handler panicked while handling a task (the task failed); \
                     its worker process is replaced"
                );
                if let Some(w) = self.worker.take() {
                    w.kill_and_reap();
                }
                self.shared.set_proc(self.slot, None);
            }
        }
        if let Some(w) = self.worker.take() {
            w.retire();
        }
        self.shared.set_proc(self.slot, None);
    }

    /// Waits for a started worker's `Ready`, or starts one, until one is
    /// ready. A worker killed from outside while it starts is replaced
    /// without limit (with a pause when it keeps happening); starts that
    /// fail on their own are retried with back-off, and break the pool
    /// after [`START_FAILURES`] in a row, as does a fatal failure at once.
    fn make_ready(&self, mut started: io::Result<Worker>) -> Option<Worker> {
        let mut failures = 0;
        let mut kills = 0;
        loop {
            if let Some(sig) = self.shared.forced() {
                // terminate_workers / kill_workers: no new worker.
                if let Ok(w) = started {
                    let _ = w.process.send_signal(sig);
                    w.kill_and_reap();
                }
                self.shared.set_proc(self.slot, None);
                return None;
            }
            if self.shared.broken.get().is_some() {
                if let Ok(w) = started {
                    w.retire();
                }
                self.shared.set_proc(self.slot, None);
                return None;
            }
            let error = match started {
                Ok(w) => {
                    self.shared.set_proc(self.slot, Some(w.process.clone()));
                    match w.ready() {
                        Ok(w) => return Some(w),
                        Err(e) => e,
                    }
                }
                Err(e) => StartError::Failed(format!("could not start a worker process: {e}")),
            };
            self.shared.set_proc(self.slot, None);
            match error {
                StartError::Fatal(message) => {
                    self.shared.set_broken(message);
                    return None;
                }
                StartError::Failed(message) => {
                    failures += 1;
                    report!(
                        warn,
                        slot = self.slot,
                        failures = failures,
                        "a worker process failed to start: {message}"
                    );
                    if failures >= START_FAILURES {
                        self.shared.set_broken(format!(
                            "no worker process could start ({failures} failures in a row; \
                             the last: {message})"
                        ));
                        return None;
                    }
                    thread::sleep(failure_backoff(failures));
                }
                StartError::Killed => {
                    kills += 1;
                    report!(
                        warn,
                        slot = self.slot,
                        "a starting worker process was killed from outside; starting another"
                    );
                    thread::sleep(kill_backoff(kills));
                }
            }
            started = Worker::start(&self.shared, self.slot);
        }
    }

    /// A ready worker: the current one or a new one.
    fn worker(&mut self) -> Option<&mut Worker> {
        if self.worker.is_none() && self.shared.forced().is_none() {
            let started = Worker::start(&self.shared, self.slot);
            self.worker = self.make_ready(started);
        }
        self.worker.as_mut()
    }

    fn broken_error(&self) -> Option<Error> {
        self.shared
            .broken
            .get()
            .map(|m| Error::BrokenPool { message: m.clone() })
    }

    fn run_job(&mut self, job: Job) {
        if let Some(e) = self.broken_error() {
            job.pending.complete(Err(e));
            return;
        }
        if !job.pending.set_running() {
            return; // cancelled while queued
        }
        let Job {
            call,
            entry,
            args,
            pending,
        } = job;
        let msg = Msg::Task { call, entry, args };
        // Deliver it; a worker found dead here died idle: replace it and
        // try again (the task has not reached any worker). Idle workers
        // killed from outside are replaced without limit; ones that die
        // idle on their own count as failed starts.
        let mut failures = 0;
        loop {
            let Some(w) = self.worker() else {
                let e = self.broken_error().unwrap_or(Error::Abandoned);
                pending.complete(Err(e));
                return;
            };
            match w.pipe.send(&msg) {
                Ok(()) => break,
                Err(LinkError::Closed) => {
                    let Some(w) = self.worker.take() else {
                        continue;
                    };
                    self.shared.set_proc(self.slot, None);
                    let Death::Died {
                        pid,
                        signal,
                        exit_code,
                    } = w.died()
                    else {
                        continue;
                    };
                    report!(
                        warn,
                        slot = self.slot,
                        pid = pid,
                        signal = signal,
                        exit_code = exit_code,
                        "an idle worker process died; replacing it"
                    );
                    if signal.is_some_and(|s| !is_own_fault(s)) {
                        continue;
                    }
                    failures += 1;
                    if failures >= START_FAILURES {
                        pending.complete(Err(Error::WorkerDied {
                            pid,
                            signal,
                            exit_code,
                        }));
                        return;
                    }
                    thread::sleep(failure_backoff(failures));
                }
                Err(e) => {
                    pending.complete(Err(Error::Panicked {
                        message: format!("could not send the task to its worker: {e}"),
                    }));
                    return;
                }
            }
        }
        let w = self.worker.as_mut().expect("delivered to a worker");
        match w.outcome() {
            Ok(outcome) => {
                w.tasks += 1;
                let retire = self.shared.max_tasks.is_some_and(|m| w.tasks >= m);
                pending.complete(outcome.map_err(Error::from));
                if retire {
                    if let Some(w) = self.worker.take() {
                        w.retire();
                    }
                    self.shared.set_proc(self.slot, None);
                    // Replace it now, as Python does, so that the next task
                    // does not wait for a start.
                    if !self.shared.is_closed() {
                        self.worker();
                    }
                }
            }
            Err(death) => {
                self.worker = None;
                self.shared.set_proc(self.slot, None);
                let error = match death {
                    Death::Died {
                        pid,
                        signal,
                        exit_code,
                    } => {
                        report!(
                            warn,
                            slot = self.slot,
                            pid = pid,
                            signal = signal,
                            exit_code = exit_code,
                            "a worker process died during a task (the task failed); replacing it"
                        );
                        Error::WorkerDied {
                            pid,
                            signal,
                            exit_code,
                        }
                    }
                    Death::Protocol(message) => {
                        report!(
                            error,
                            slot = self.slot,
                            "a worker process broke the protocol (killed; the task failed): {message}"
                        );
                        Error::Panicked { message }
                    }
                };
                pending.complete(Err(error));
                if !self.shared.is_closed() {
                    self.worker();
                }
            }
        }
    }
}
