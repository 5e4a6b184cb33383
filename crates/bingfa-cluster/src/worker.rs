//! [`Worker`]: what runs on each host. It reads tasks from the pool's
//! stream as one consumer of the group, runs each in a local
//! [`ProcessPool`], publishes the outcome, renews the lease of what it
//! holds, and takes over the tasks of workers that stopped renewing theirs.
//!
//! # Threads (one Redis connection each)
//!
//! - **fetch**: `XAUTOCLAIM` (every quarter lease) then `XREADGROUP`, for
//!   as many entries as it has room; checks each entry (fields, frame,
//!   function, version), starts it atomically (`START`: cancelled?
//!   retries left? record the attempt, tell the client) and hands it to
//!   the process pool, whose done-callback queues the outcome.
//! - **finish**: publishes outcomes in pipelined batches (`FINISH`: ack,
//!   delete, publish, all or nothing; a task already finished elsewhere is
//!   not published again and counts as late).
//! - **beat**: every third of the lease, records the worker's info and
//!   renews the lease of each entry it holds (`BEAT`); an entry it no
//!   longer owns was taken over.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bingfa_pool::{ProcessPool, StartMethod};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use redis::Value;

use crate::conn::{CallError, Conn};
use crate::error::Error;
use crate::event::{emit, Event, EventFn};
use crate::scripts;
use crate::task::{Outcome, Registry};
use crate::wire::{
    entries_of, int_of, now_ms, read_reply, string_of, valid_name, Attempt, Failure, Keys,
    RawEntry, TaskMsg, GROUP,
};

/// The default lease.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// Settings of a [`Worker`]; made by [`Worker::builder`].
///
/// Python: the options of `celery worker` (`--concurrency`,
/// `--prefetch-multiplier`, `--hostname`).
#[derive(Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct WorkerBuilder {
    url: String,
    pool: String,
    registry: Registry,
    concurrency: Option<usize>,
    prefetch: Option<usize>,
    name: Option<String>,
    host: Option<String>,
    lease: Duration,
    io_timeout: Duration,
    result_ttl: Duration,
    events: Option<EventFn>,
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("url", &crate::conn::shown_url(&self.url))
            .field("pool", &self.pool)
            .field("registry", &self.registry)
            .field("concurrency", &self.concurrency)
            .field("prefetch", &self.prefetch)
            .field("name", &self.name)
            .field("host", &self.host)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    /// The functions this worker runs.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// The pool to serve (default `"default"`); see
    /// [`ClusterPoolBuilder::pool_name`](crate::ClusterPoolBuilder::pool_name).
    #[doc(alias = "queues")]
    pub fn pool_name(mut self, name: impl Into<String>) -> Self {
        self.pool = name.into();
        self
    }

    /// How many tasks run at once: the size of the local process pool
    /// (default: the number of CPUs).
    ///
    /// Python: `celery worker --concurrency`.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// How many tasks the worker holds beyond those running, queued in its
    /// process pool so that no process waits for a round trip to Redis
    /// (default: as many as `concurrency`; 0 takes a task only when a
    /// process is free). A held task counts as started for its client
    /// (its future is running, `cancel` returns `false`), and is retried
    /// elsewhere if this worker is lost.
    ///
    /// Python: Celery's `worker_prefetch_multiplier`.
    #[doc(alias = "prefetch_multiplier")]
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = Some(n);
        self
    }

    /// The worker's id, its consumer name in the group (default
    /// `HOST-PID-N`). 1 to 64 of `A-Z a-z 0-9 . _ -`.
    ///
    /// Python: `celery worker --hostname`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The host's name as reported in errors and in the status (default:
    /// the machine's host name; `BINGFA_HOST` in the environment overrides
    /// it).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The lease (default [`DEFAULT_LEASE`]), unless the pool's clients set
    /// one in Redis ([`ClusterPoolBuilder::lease`](crate::ClusterPoolBuilder::lease)),
    /// which wins. The worker renews the lease of each task it holds every
    /// third of it; another worker takes over a task whose lease ran out.
    #[doc(alias = "visibility_timeout")]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long one Redis call may take before the connection is thought
    /// broken and made anew (default 5 s).
    pub fn io_timeout(mut self, t: Duration) -> Self {
        self.io_timeout = t;
        self
    }

    /// How long results wait in Redis for their client (default one day).
    pub fn result_ttl(mut self, t: Duration) -> Self {
        self.result_ttl = t;
        self
    }

    /// Sends [`Event`]s (reconnections, takeovers, rejected entries, late
    /// results, stopping) to `f`, on the worker's threads.
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(f));
        self
    }

    /// Starts the process pool, connects, joins the consumer group and
    /// starts taking tasks, in the background.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Connect`], [`Error::Invalid`],
    /// [`Error::ProcessPool`].
    pub fn start(self) -> Result<Worker, Error> {
        static WORKERS: AtomicU64 = AtomicU64::new(0);
        if !valid_name(&self.pool) {
            return Err(Error::Invalid(format!(
                "pool name {:?}: use 1 to 64 of A-Z a-z 0-9 . _ -",
                self.pool
            )));
        }
        let concurrency = self
            .concurrency
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()));
        if concurrency == 0 {
            return Err(Error::Invalid("concurrency must be at least 1".into()));
        }
        if self.lease < Duration::from_millis(30) {
            return Err(Error::Invalid("the lease must be at least 30 ms".into()));
        }
        let host = self
            .host
            .or_else(|| std::env::var("BINGFA_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(host_name);
        let id = self.name.unwrap_or_else(|| {
            let h: String = host
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(40)
                .collect();
            format!(
                "{h}-{}-{}",
                std::process::id(),
                WORKERS.fetch_add(1, Ordering::Relaxed)
            )
        });
        if !valid_name(&id) {
            return Err(Error::Invalid(format!(
                "worker name {id:?}: use 1 to 64 of A-Z a-z 0-9 . _ -"
            )));
        }
        // The process pool first: its processes are started before this
        // process opens any connection, so they inherit none. From the
        // fork server when the program can start one (it called `init`
        // first thing, as `cli::main_with` does, or it is a test binary
        // with `enable_test_support!`): a fresh single-threaded process,
        // whatever threads this one has. Otherwise forked from this
        // process, which is sound only while no other thread of it holds
        // a lock that the tasks need (see `Worker`'s docs).
        let method = if bingfa_process::can_spawn() {
            StartMethod::ForkServer
        } else {
            StartMethod::Fork
        };
        let pool = ProcessPool::builder()
            .max_workers(concurrency)
            .start_method(method)
            .name_prefix(format!("{id}-proc"))
            .initializer(ignore_stop_signals)
            .build()
            .map_err(|e| Error::ProcessPool(e.to_string()))?;
        let keys = Keys::new(&self.pool);
        let fetch = Conn::open(
            &self.url,
            "worker fetch",
            self.events.clone(),
            self.io_timeout,
            Some(keys.tasks.clone()),
        )?;
        let finish = fetch.sibling("worker finish")?;
        let beat = fetch.sibling("worker beat")?;
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(WShared {
            id,
            host,
            keys,
            registry: self.registry,
            pool,
            concurrency,
            capacity: concurrency + self.prefetch.unwrap_or(concurrency),
            held: Mutex::new(HashMap::new()),
            held_cv: Condvar::new(),
            stopping: AtomicBool::new(false),
            drained: AtomicBool::new(false),
            stopped: Mutex::new(false),
            stopped_cv: Condvar::new(),
            lease_ms: AtomicU64::new(self.lease.as_millis() as u64),
            ttl_ms: self.result_ttl.as_millis().max(1) as u64,
            events: self.events,
            done_tx,
            started_ms: now_ms(),
            ran: AtomicU64::new(0),
        });
        let mut threads = Vec::new();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| Error::Invalid(format!("cannot start a thread: {e}")))
        };
        let s = shared.clone();
        threads.push(spawn(
            "bingfa-worker-beat",
            Box::new(move || beat_loop(s, beat)),
        )?);
        let s = shared.clone();
        threads.push(spawn(
            "bingfa-worker-finish",
            Box::new(move || finish_loop(s, done_rx, finish)),
        )?);
        let s = shared.clone();
        threads.push(spawn(
            "bingfa-worker-fetch",
            Box::new(move || fetch_loop(s, fetch)),
        )?);
        Ok(Worker {
            shared,
            threads: Mutex::new(threads),
        })
    }
}

/// In each process of the pool: a stop signal meant for the worker (a
/// terminal's Ctrl-C goes to the whole process group) must not kill the
/// task it runs; the agent stops gracefully and the processes die with it.
fn ignore_stop_signals() {
    // SAFETY: setting the disposition of two signals to SIG_IGN installs
    // no handler and touches no memory.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
}

/// This machine's host name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A task the worker holds (read, not yet published).
struct Held {
    task_id: Option<String>,
    taken_over: bool,
}

/// The outcome of one held entry, for the finish thread.
struct Done {
    entry: String,
    task_id: String,
    /// The client to publish to, if the entry named one.
    client: Option<String>,
    outcome: Result<Vec<u8>, Failure>,
    attempt: u32,
    t0: u64,
    t1: u64,
    /// The dead-letter reason, or empty.
    dead: String,
}

struct WShared {
    id: String,
    host: String,
    keys: Keys,
    registry: Registry,
    pool: ProcessPool,
    concurrency: usize,
    capacity: usize,
    held: Mutex<HashMap<String, Held>>,
    held_cv: Condvar,
    stopping: AtomicBool,
    /// The fetch loop has ended and nothing is held.
    drained: AtomicBool,
    stopped: Mutex<bool>,
    stopped_cv: Condvar,
    lease_ms: AtomicU64,
    ttl_ms: u64,
    events: Option<EventFn>,
    done_tx: Sender<Done>,
    started_ms: u64,
    ran: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl WShared {
    fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms.load(Ordering::Relaxed))
    }

    fn held_count(&self) -> usize {
        lock(&self.held).len()
    }

    /// Fails an entry without running it: the finish thread publishes the
    /// failure (if the entry names its client) and dead-letters the entry.
    fn reject(
        &self,
        entry: &RawEntry,
        reply: Option<(String, String)>,
        failure: Failure,
        attempt: u32,
    ) {
        let reason = match &failure {
            Failure::Corrupt { message } | Failure::BadPayload { message } => message.clone(),
            f => f.clone().into_error().to_string(),
        };
        emit(&self.events, || Event::Rejected {
            entry: entry.id.clone(),
            reason: reason.clone(),
        });
        let now = now_ms();
        let (task_id, client) = match reply {
            Some((t, c)) => (t, Some(c)),
            None => (String::new(), None),
        };
        let _ = self.done_tx.send(Done {
            entry: entry.id.clone(),
            task_id,
            client,
            outcome: Err(failure),
            attempt,
            t0: now,
            t1: now,
            dead: reason,
        });
    }

    /// Checks, starts and dispatches a batch of entries (already counted
    /// as held by the caller).
    fn process(&self, conn: &mut Conn, entries: Vec<RawEntry>) {
        let mut ready: Vec<(RawEntry, TaskMsg)> = Vec::new();
        for e in entries {
            match TaskMsg::decode(&e) {
                Err(bad) => self.reject(
                    &e,
                    bad.reply,
                    Failure::Corrupt {
                        message: bad.reason,
                    },
                    0,
                ),
                Ok(t) => match self.registry.get(&t.function) {
                    None => {
                        let failure = Failure::UnknownFunction {
                            function: t.function.clone(),
                            version: t.version.clone(),
                            worker: self.id.clone(),
                            host: self.host.clone(),
                            known: self.registry.names().map(str::to_owned).collect(),
                        };
                        self.reject(&e, Some((t.task_id, t.client)), failure, 0);
                    }
                    Some(f) if f.version != t.version || f.signature != t.signature => {
                        let failure = Failure::VersionMismatch {
                            function: t.function.clone(),
                            wanted_version: t.version.clone(),
                            wanted_signature: t.signature.clone(),
                            worker_version: f.version.clone(),
                            worker_signature: f.signature.clone(),
                            worker: self.id.clone(),
                            host: self.host.clone(),
                        };
                        self.reject(&e, Some((t.task_id, t.client)), failure, 0);
                    }
                    Some(_) => ready.push((e, t)),
                },
            }
        }
        if ready.is_empty() {
            return;
        }
        let now = now_ms();
        let mut p = redis::pipe();
        for (e, t) in &ready {
            p.cmd("EVALSHA")
                .arg(scripts::START.get_hash())
                .arg(5)
                .arg(&self.keys.tasks)
                .arg(self.keys.attempts(&t.task_id))
                .arg(self.keys.cancel(&t.task_id))
                .arg(self.keys.results(&t.client))
                .arg(&self.keys.stats)
                .arg(GROUP)
                .arg(&e.id)
                .arg(&t.task_id)
                .arg(&self.id)
                .arg(&self.host)
                .arg(t.retries.saturating_add(1))
                .arg(self.ttl_ms)
                .arg(now);
        }
        let replies = conn.call(&|| false, |c| p.query::<Vec<Value>>(c));
        let replies = match replies {
            Ok(r) => r,
            Err(e) => {
                // A script the server refuses for good: fail the batch's
                // tasks rather than hold them forever.
                let message = format!("the worker could not start the task: {e:?}");
                for (e, t) in ready {
                    self.reject(
                        &e,
                        Some((t.task_id, t.client)),
                        Failure::Corrupt {
                            message: message.clone(),
                        },
                        0,
                    );
                }
                return;
            }
        };
        for ((e, t), reply) in ready.into_iter().zip(replies) {
            let Value::Array(items) = reply else {
                // Not the script's answer (an error for this entry alone):
                // fail the task rather than hold the entry forever.
                let message = format!("the worker could not start the task: {reply:?}");
                self.reject(
                    &e,
                    Some((t.task_id, t.client)),
                    Failure::Corrupt { message },
                    0,
                );
                continue;
            };
            let code = items.first().and_then(int_of).unwrap_or(-1);
            match code {
                0 => {
                    // Cancelled: the script acked and deleted it.
                    lock(&self.held).remove(&e.id);
                    self.held_cv.notify_all();
                }
                1 => {
                    let attempt = items.get(1).and_then(int_of).unwrap_or(1) as u32;
                    if attempt > 1 {
                        let before: Vec<Attempt> = items[2..]
                            .iter()
                            .filter_map(string_of)
                            .map(|s| Attempt::parse(&s))
                            .collect();
                        emit(&self.events, || Event::Claimed {
                            task: t.task_id.clone(),
                            function: t.function.clone(),
                            attempt,
                            before,
                        });
                    }
                    self.dispatch(e, t, attempt);
                }
                2 => {
                    let attempts: Vec<Attempt> = items[1..]
                        .iter()
                        .filter_map(string_of)
                        .map(|s| Attempt::parse(&s))
                        .collect();
                    let n = attempts.len() as u32;
                    let failure = Failure::Lost {
                        function: t.function.clone(),
                        retries: t.retries,
                        attempts,
                    };
                    self.reject(&e, Some((t.task_id, t.client)), failure, n);
                }
                _ => {
                    // An error reply for this entry alone.
                    let message = format!("the worker could not start the task: {items:?}");
                    self.reject(
                        &e,
                        Some((t.task_id, t.client)),
                        Failure::Corrupt { message },
                        0,
                    );
                }
            }
        }
    }

    /// Hands a started task to the process pool.
    fn dispatch(&self, e: RawEntry, t: TaskMsg, attempt: u32) {
        let entry = self
            .registry
            .get(&t.function)
            .expect("checked before the start")
            .clone();
        let t0 = now_ms();
        let tx = self.done_tx.clone();
        let id = e.id.clone();
        let task_id = t.task_id.clone();
        let client = t.client.clone();
        let function = t.function.clone();
        let worker = self.id.clone();
        let events = self.events.clone();
        match entry.submit(&self.pool, t.chunk, t.args) {
            Ok(fut) => {
                fut.add_done_callback(move |o: &Result<Outcome, bingfa_pool::Error>| {
                    let (outcome, dead) = match o {
                        Ok(Ok(bytes)) => (Ok(bytes.clone()), String::new()),
                        Ok(Err(msg)) => {
                            let message =
                                format!("task {task_id} (`{function}`) on worker {worker}: {msg}");
                            emit(&events, || Event::Rejected {
                                entry: id.clone(),
                                reason: message.clone(),
                            });
                            (
                                Err(Failure::BadPayload {
                                    message: message.clone(),
                                }),
                                message,
                            )
                        }
                        Err(bingfa_pool::Error::Panicked { message }) => (
                            Err(Failure::Panicked {
                                message: message.clone(),
                            }),
                            String::new(),
                        ),
                        Err(bingfa_pool::Error::WorkerDied {
                            pid,
                            signal,
                            exit_code,
                        }) => (
                            Err(Failure::ProcessDied {
                                pid: *pid,
                                signal: *signal,
                                exit_code: *exit_code,
                            }),
                            String::new(),
                        ),
                        Err(other) => (
                            Err(Failure::Panicked {
                                message: format!(
                                    "the worker's process pool failed the task: {other}"
                                ),
                            }),
                            String::new(),
                        ),
                    };
                    let _ = tx.send(Done {
                        entry: id,
                        task_id,
                        client: Some(client),
                        outcome,
                        attempt,
                        t0,
                        t1: now_ms(),
                        dead,
                    });
                });
            }
            Err(err) => {
                let _ = self.done_tx.send(Done {
                    entry: id,
                    task_id,
                    client: Some(client),
                    outcome: Err(Failure::Panicked {
                        message: format!("the worker's process pool refused the task: {err}"),
                    }),
                    attempt,
                    t0,
                    t1: now_ms(),
                    dead: String::new(),
                });
            }
        }
    }

    fn info(&self) -> String {
        serde_json::json!({
            "host": self.host,
            "pid": std::process::id(),
            "concurrency": self.concurrency,
            "held": self.held_count(),
            "ran": self.ran.load(Ordering::Relaxed),
            "started_ms": self.started_ms,
            "state": if self.stopping.load(Ordering::Relaxed) { "stopping" } else { "running" },
            "functions": self.registry.names().collect::<Vec<_>>(),
        })
        .to_string()
    }
}

/// Takes entries: claims expired ones, reads new ones, as room allows.
fn fetch_loop(sh: Arc<WShared>, mut conn: Conn) {
    let mut cursor = "0-0".to_owned();
    let mut next_claim = Instant::now();
    let never = || false;
    while !sh.stopping.load(Ordering::Acquire) {
        let free = {
            let held = lock(&sh.held);
            let free = sh.capacity.saturating_sub(held.len());
            if free == 0 {
                let _ = sh
                    .held_cv
                    .wait_timeout(held, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner());
                continue;
            }
            free
        };
        let lease = sh.lease();
        let entries = if Instant::now() >= next_claim {
            let v = conn.call(&never, |c| {
                redis::cmd("XAUTOCLAIM")
                    .arg(&sh.keys.tasks)
                    .arg(GROUP)
                    .arg(&sh.id)
                    .arg(lease.as_millis() as u64)
                    .arg(&cursor)
                    .arg("COUNT")
                    .arg(free)
                    .query::<Value>(c)
            });
            match v {
                Ok(Value::Array(parts)) if !parts.is_empty() => {
                    cursor = string_of(&parts[0]).unwrap_or_else(|| "0-0".into());
                    if cursor == "0-0" {
                        next_claim = Instant::now() + (lease / 4).max(Duration::from_millis(20));
                    }
                    parts.get(1).map(entries_of).unwrap_or_default()
                }
                Ok(_) | Err(_) => {
                    cursor = "0-0".into();
                    next_claim = Instant::now() + (lease / 4).max(Duration::from_millis(20));
                    Vec::new()
                }
            }
        } else {
            let block = next_claim
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), Duration::from_millis(200));
            let v = conn.call(&never, |c| {
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&sh.id)
                    .arg("COUNT")
                    .arg(free)
                    .arg("BLOCK")
                    .arg(block.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(&sh.keys.tasks)
                    .arg(">")
                    .query::<Value>(c)
            });
            match v {
                Ok(v) => read_reply(&v),
                Err(CallError::Server(msg)) if msg.contains("NOGROUP") => {
                    // The stream or its group vanished (a server restarted
                    // without its data): made anew on the next connection.
                    conn.reset();
                    Vec::new()
                }
                Err(_) => {
                    thread::sleep(Duration::from_millis(50));
                    Vec::new()
                }
            }
        };
        if entries.is_empty() {
            continue;
        }
        {
            let mut held = lock(&sh.held);
            for e in &entries {
                held.insert(
                    e.id.clone(),
                    Held {
                        task_id: e.text("id").map(str::to_owned),
                        taken_over: false,
                    },
                );
            }
        }
        sh.process(&mut conn, entries);
    }
    // Stopping: take nothing new, finish what is held.
    let held = sh.held_count();
    emit(&sh.events, || Event::Stopping { held });
    {
        let mut held = lock(&sh.held);
        while !held.is_empty() {
            held = sh
                .held_cv
                .wait_timeout(held, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
    sh.drained.store(true, Ordering::Release);
    let _ = conn.call(&|| true, |c| {
        scripts::LEAVE
            .key(&sh.keys.tasks)
            .key(&sh.keys.workers)
            .arg(GROUP)
            .arg(&sh.id)
            .invoke::<i64>(c)
    });
    sh.pool.shutdown(true, false);
    *lock(&sh.stopped) = true;
    sh.stopped_cv.notify_all();
    emit(&sh.events, || Event::Stopped);
}

/// Publishes outcomes, in pipelined batches.
fn finish_loop(sh: Arc<WShared>, rx: Receiver<Done>, mut conn: Conn) {
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(d) => d,
            Err(RecvTimeoutError::Timeout) => {
                if sh.drained.load(Ordering::Acquire) {
                    return;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        let mut p = redis::pipe();
        for d in &batch {
            let (k, v, counter) = match &d.outcome {
                Ok(bytes) => ("ok", bytes.clone(), "done"),
                Err(f) => (
                    "err",
                    serde_json::to_vec(f).expect("a failure always encodes"),
                    "failed",
                ),
            };
            let reply = d
                .client
                .as_deref()
                .map(|c| sh.keys.results(c))
                .unwrap_or_else(|| format!("{}:results:-", sh.keys.prefix));
            p.cmd("EVALSHA")
                .arg(scripts::FINISH.get_hash())
                .arg(5)
                .arg(&sh.keys.tasks)
                .arg(reply)
                .arg(sh.keys.attempts(&d.task_id))
                .arg(&sh.keys.stats)
                .arg(&sh.keys.dead)
                .arg(GROUP)
                .arg(&d.entry)
                .arg(&d.task_id)
                .arg(k)
                .arg(v)
                .arg(&sh.id)
                .arg(&sh.host)
                .arg(d.attempt)
                .arg(sh.ttl_ms)
                .arg(d.t0)
                .arg(d.t1)
                .arg(&d.dead)
                .arg(counter)
                .arg(if d.client.is_some() { "1" } else { "0" });
        }
        // Never given up: an outcome not published is a task run for
        // nothing (it would be taken over and run again).
        let replies = conn.call(&|| false, |c| p.query::<Vec<Value>>(c));
        let replies = match replies {
            Ok(r) => r,
            Err(_) => vec![Value::Int(1); batch.len()],
        };
        let mut held = lock(&sh.held);
        for (d, r) in batch.iter().zip(replies) {
            let was = held.remove(&d.entry);
            if int_of(&r) == Some(0) {
                emit(&sh.events, || Event::LateResult {
                    task: d.task_id.clone(),
                });
            } else if was.is_some() && d.outcome.is_ok() {
                sh.ran.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(held);
        sh.held_cv.notify_all();
    }
}

/// Records the worker's info and renews its leases.
fn beat_loop(sh: Arc<WShared>, mut conn: Conn) {
    let config = format!("{}:config", sh.keys.prefix);
    let default_lease = sh.lease_ms.load(Ordering::Relaxed);
    loop {
        let ids: Vec<String> = lock(&sh.held).keys().cloned().collect();
        let lease_ms = sh.lease_ms.load(Ordering::Relaxed);
        let info = sh.info();
        let r = conn.call(&|| *lock(&sh.stopped), |c| {
            let mut inv = scripts::BEAT.prepare_invoke();
            inv.key(&sh.keys.tasks)
                .key(&sh.keys.workers)
                .arg(GROUP)
                .arg(&sh.id)
                .arg(&info)
                .arg(lease_ms.saturating_mul(20).max(60_000));
            for id in &ids {
                inv.arg(id);
            }
            let out: Value = inv.invoke(c)?;
            let lease: Option<u64> = redis::cmd("HGET").arg(&config).arg("lease_ms").query(c)?;
            Ok((out, lease))
        });
        if let Ok((out, lease)) = r {
            sh.lease_ms.store(
                lease.filter(|&l| l >= 30).unwrap_or(default_lease),
                Ordering::Relaxed,
            );
            if let Value::Array(items) = out {
                let mut held = lock(&sh.held);
                for id in items.iter().skip(1).filter_map(string_of) {
                    if let Some(h) = held.get_mut(&id) {
                        if !h.taken_over {
                            h.taken_over = true;
                            let task = h.task_id.clone().unwrap_or(id);
                            emit(&sh.events, || Event::TakenOver { task });
                        }
                    }
                }
            }
        }
        // Sleep a third of the lease, waking at once when stopped.
        let pause = (sh.lease() / 3).max(Duration::from_millis(10));
        let stopped = lock(&sh.stopped);
        let (stopped, _) = sh
            .stopped_cv
            .wait_timeout_while(stopped, pause, |s| !*s)
            .unwrap_or_else(|e| e.into_inner());
        if *stopped {
            return;
        }
    }
}

/// A worker: takes tasks of one pool from Redis and runs them in a local
/// process pool, until stopped. See the module docs for its threads.
///
/// A task that panics fails its own future (not retried); a task that
/// crashes its process fails its own future with `WorkerDied` (the process
/// is replaced); an entry that is corrupt, names an unknown function or
/// another version of one fails that one task (and goes to the dead
/// letters): the worker goes on in every case.
///
/// [`stop`](Self::stop) (or SIGTERM under
/// [`run_until_signal`](Self::run_until_signal)) stops it gracefully: it
/// takes nothing new and finishes what it holds. Dropping it stops it and
/// waits (for as long as Redis is unreachable, if it has outcomes still to
/// publish: use [`join_timeout`](Self::join_timeout) to bound that).
///
/// The local processes come from bingfa-pool's fork server when the
/// program can start one ([`bingfa_process::can_spawn`]: it called
/// `bingfa_pool::init()` first thing in `main`, as
/// [`cli::main_with`](crate::cli::main_with) does, or it is a test crate
/// with `enable_test_support!`); otherwise the worker forks itself
/// (`StartMethod::Fork`), which is only sound while none of the program's
/// other threads holds a lock that a task needs (the allocator's is safe:
/// the C library resets it in the child).
///
/// Python: a `celery worker` process; a Dask `distributed.Worker`.
#[doc(alias = "celery worker")]
pub struct Worker {
    shared: Arc<WShared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.shared.id)
            .field("host", &self.shared.host)
            .field("concurrency", &self.shared.concurrency)
            .field("held", &self.held())
            .field("is_stopped", &self.is_stopped())
            .finish()
    }
}

impl Worker {
    /// Starts a worker for the default pool on Redis at `url`, running the
    /// functions of `registry`, with default settings.
    ///
    /// # Errors
    /// As [`WorkerBuilder::start`].
    pub fn connect(url: &str, registry: Registry) -> Result<Worker, Error> {
        Self::builder(url).registry(registry).start()
    }

    /// A builder: registry, pool name, concurrency, prefetch, name, host,
    /// lease, events.
    pub fn builder(url: &str) -> WorkerBuilder {
        WorkerBuilder {
            url: url.to_owned(),
            pool: "default".to_owned(),
            registry: Registry::new(),
            concurrency: None,
            prefetch: None,
            name: None,
            host: None,
            lease: DEFAULT_LEASE,
            io_timeout: Duration::from_secs(5),
            result_ttl: Duration::from_secs(24 * 3600),
            events: None,
        }
    }

    /// The worker's id (its consumer name).
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The worker's host name.
    pub fn host(&self) -> &str {
        &self.shared.host
    }

    /// How many tasks it holds now (running or queued in its processes).
    pub fn held(&self) -> usize {
        self.shared.held_count()
    }

    /// The pids of its worker processes.
    pub fn process_pids(&self) -> Vec<u32> {
        self.shared.pool.worker_pids()
    }

    /// Asks the worker to stop: it takes nothing new and finishes what it
    /// holds, then leaves the group. Returns at once; see
    /// [`join`](Self::join).
    ///
    /// Python: Celery's warm shutdown.
    #[doc(alias = "warm shutdown")]
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.held_cv.notify_all();
    }

    /// Whether it has stopped (after [`stop`](Self::stop), once it finished
    /// what it held).
    pub fn is_stopped(&self) -> bool {
        *lock(&self.shared.stopped)
    }

    /// Waits until it has stopped (someone must call
    /// [`stop`](Self::stop)).
    pub fn join(&self) {
        {
            let mut s = lock(&self.shared.stopped);
            while !*s {
                s = self
                    .shared
                    .stopped_cv
                    .wait(s)
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
    }

    /// As [`join`](Self::join), giving up after `timeout`; returns whether
    /// it has stopped.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let s = lock(&self.shared.stopped);
        let (s, _) = self
            .shared
            .stopped_cv
            .wait_timeout_while(s, timeout, |s| !*s)
            .unwrap_or_else(|e| e.into_inner());
        let done = *s;
        drop(s);
        if done {
            self.join();
        }
        done
    }

    /// Runs until SIGTERM or SIGINT arrives (or someone calls
    /// [`stop`](Self::stop)), then stops gracefully and returns when the
    /// worker has stopped. The handlers are removed before it returns.
    ///
    /// # Errors
    /// [`Error::Signal`] if the handlers cannot be installed.
    ///
    /// Python: `celery worker` receiving SIGTERM (warm shutdown).
    pub fn run_until_signal(&self) -> Result<(), Error> {
        let flag = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            ids.push(
                signal_hook::flag::register(sig, flag.clone())
                    .map_err(|e| Error::Signal(e.to_string()))?,
            );
        }
        while !flag.load(Ordering::Relaxed) && !self.is_stopped() {
            let s = lock(&self.shared.stopped);
            let _ = self
                .shared
                .stopped_cv
                .wait_timeout(s, Duration::from_millis(50));
        }
        self.stop();
        self.join();
        for id in ids {
            signal_hook::low_level::unregister(id);
        }
        Ok(())
    }
}

impl Drop for Worker {
    /// [`stop`](Self::stop), then [`join`](Self::join).
    fn drop(&mut self) {
        self.stop();
        self.join();
    }
}
