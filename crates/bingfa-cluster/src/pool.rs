//! [`ClusterPool`]: the executor API of bingfa-pool, with tasks run by
//! [`Worker`](crate::Worker)s on other hosts.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bingfa_pool::{Completer, Future, Map};
use bingfa_process::codec;
use crossbeam_channel::Sender;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client;
use crate::conn::Conn;
use crate::error::Error;
use crate::event::EventFn;
use crate::status::Status;
use crate::task::{Task, MAX_PAYLOAD};
use crate::wire::{valid_name, Keys};

type PoolError = bingfa_pool::Error;

/// Settings of a [`ClusterPool`]; made by [`ClusterPool::builder`].
///
/// Python: the keyword arguments of Dask's `Client(...)` / Celery's
/// `Celery(...)`, gathered the `concurrent.futures` way.
#[derive(Clone)]
#[must_use = "a builder does nothing until `connect` is called"]
pub struct ClusterPoolBuilder {
    url: String,
    pool: String,
    max_outstanding: usize,
    max_retries: u32,
    lease: Option<Duration>,
    io_timeout: Duration,
    result_ttl: Duration,
    events: Option<EventFn>,
}

impl fmt::Debug for ClusterPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterPoolBuilder")
            .field("url", &crate::conn::shown_url(&self.url))
            .field("pool", &self.pool)
            .field("max_outstanding", &self.max_outstanding)
            .field("max_retries", &self.max_retries)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// The default limit of outstanding tasks.
pub const DEFAULT_MAX_OUTSTANDING: usize = 100_000;
/// The default retry limit: a task whose worker is lost is run again up to
/// this many times (Ray's `max_retries`, Dask's `allowed-failures`).
pub const DEFAULT_MAX_RETRIES: u32 = 3;

impl ClusterPoolBuilder {
    fn new(url: &str) -> Self {
        ClusterPoolBuilder {
            url: url.to_owned(),
            pool: "default".to_owned(),
            max_outstanding: DEFAULT_MAX_OUTSTANDING,
            max_retries: DEFAULT_MAX_RETRIES,
            lease: None,
            io_timeout: Duration::from_secs(5),
            result_ttl: Duration::from_secs(24 * 3600),
            events: None,
        }
    }

    /// The pool's name (default `"default"`): clients and workers of one
    /// name share one task stream; several pools can share a server. 1 to
    /// 64 of `A-Z a-z 0-9 . _ -`.
    ///
    /// Python: Celery's queue name.
    #[doc(alias = "queue")]
    pub fn pool_name(mut self, name: impl Into<String>) -> Self {
        self.pool = name.into();
        self
    }

    /// Back-pressure: at most `n` tasks submitted and not yet done
    /// (default [`DEFAULT_MAX_OUTSTANDING`]). At the limit,
    /// [`submit`](ClusterPool::submit) blocks and
    /// [`try_submit`](ClusterPool::try_submit) returns [`Error::Full`].
    pub fn max_outstanding(mut self, n: usize) -> Self {
        self.max_outstanding = n;
        self
    }

    /// The retry policy: a task whose worker is lost (dies, is cut off, or
    /// pauses past its lease) is taken over by another worker up to `n`
    /// times (default [`DEFAULT_MAX_RETRIES`], as Ray and Dask); after
    /// that its future fails with `bingfa_pool::Error::Remote` of kind
    /// `"lost"`, naming every worker and host that tried. A task that
    /// panics is never retried.
    ///
    /// Python: Ray's `max_retries`, Dask's `allowed_failures`.
    #[doc(alias = "allowed_failures")]
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The lease of the pool's workers: a task held by a worker that has
    /// not renewed it for this long is taken over (`XAUTOCLAIM`) by another.
    /// Workers renew every third of it. Stored in Redis for the whole pool
    /// (workers read it at each heartbeat); unset, the workers' own
    /// setting holds (default 10 s). Short leases notice a lost host sooner
    /// and take over a paused one sooner too.
    ///
    /// Python: Celery's `visibility_timeout`.
    #[doc(alias = "visibility_timeout")]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// How long one Redis call may take before the connection is thought
    /// broken and made anew (default 5 s).
    pub fn io_timeout(mut self, t: Duration) -> Self {
        self.io_timeout = t;
        self
    }

    /// How long results wait in Redis for a client that went away
    /// (default one day).
    pub fn result_ttl(mut self, t: Duration) -> Self {
        self.result_ttl = t;
        self
    }

    /// Sends [`Event`](crate::Event)s (reconnections, completions,
    /// dropped duplicates) to `f`, on the pool's threads.
    pub fn on_event(mut self, f: impl Fn(&crate::Event) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(f));
        self
    }

    /// Connects and starts the pool's two threads (one sends tasks, one
    /// reads results).
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Connect`] if Redis cannot be reached
    /// now, [`Error::Invalid`] for a bad setting.
    pub fn connect(self) -> Result<ClusterPool, Error> {
        if !valid_name(&self.pool) {
            return Err(Error::Invalid(format!(
                "pool name {:?}: use 1 to 64 of A-Z a-z 0-9 . _ -",
                self.pool
            )));
        }
        if self.max_outstanding == 0 {
            return Err(Error::Invalid("max_outstanding must be at least 1".into()));
        }
        if self.lease.is_some_and(|l| l < Duration::from_millis(30)) {
            return Err(Error::Invalid("the lease must be at least 30 ms".into()));
        }
        let keys = Keys::new(&self.pool);
        let mut send = Conn::open(
            &self.url,
            "client sender",
            self.events.clone(),
            self.io_timeout,
            Some(keys.tasks.clone()),
        )?;
        let read = send.sibling("client reader")?;
        if let Some(lease) = self.lease {
            let config = format!("{}:config", keys.prefix);
            send.call(&|| true, |c| {
                redis::cmd("HSET")
                    .arg(&config)
                    .arg("lease_ms")
                    .arg(lease.as_millis() as u64)
                    .exec(c)
            })
            .map_err(|e| Error::Connect {
                url: send.url().to_owned(),
                reason: format!("{e:?}"),
            })?;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            client: new_client_id(),
            keys,
            url: send.url().to_owned(),
            redis_url: self.url.clone(),
            pool: self.pool.clone(),
            max_retries: self.max_retries,
            limit: self.max_outstanding,
            ttl_ms: self.result_ttl.as_millis().max(1) as u64,
            gate: Mutex::new(Gate {
                outstanding: 0,
                closed: false,
            }),
            gate_cv: Condvar::new(),
            slots: Mutex::new(HashMap::new()),
            tx,
            seq: AtomicU64::new(1),
            stats: Stats::default(),
            events: self.events,
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        let s = shared.clone();
        threads.push(
            thread::Builder::new()
                .name("bingfa-cluster-send".into())
                .spawn(move || client::sender(s, rx, send))
                .map_err(|e| Error::Invalid(format!("cannot start a thread: {e}")))?,
        );
        let s = shared.clone();
        threads.push(
            thread::Builder::new()
                .name("bingfa-cluster-read".into())
                .spawn(move || client::reader(s, read))
                .map_err(|e| Error::Invalid(format!("cannot start a thread: {e}")))?,
        );
        Ok(ClusterPool {
            shared,
            threads: Mutex::new(threads),
        })
    }
}

/// A random id for this client (its results stream's name).
fn new_client_id() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("c{:016x}", h.finish())
}

/// The limit on outstanding tasks, and whether the pool is shut down.
pub(crate) struct Gate {
    pub(crate) outstanding: usize,
    pub(crate) closed: bool,
}

/// The typed half of a task: decodes the result for its future.
pub(crate) trait Pending: Send {
    /// Marks the future running; `false` if it was cancelled.
    fn set_running(&self) -> bool;
    /// Completes the future from the encoded result or an error.
    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, PoolError>);
}

struct Typed<R> {
    completer: Completer<R>,
    decode: fn(Vec<u8>) -> Result<R, PoolError>,
}

impl<R: Send + Sync + 'static> Pending for Typed<R> {
    fn set_running(&self) -> bool {
        self.completer.set_running()
    }

    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, PoolError>) {
        let outcome = outcome.and_then(self.decode);
        self.completer.complete(outcome);
    }
}

/// A submitted task the client waits for.
pub(crate) struct Slot {
    pub(crate) pending: Box<dyn Pending>,
    pub(crate) started: bool,
    pub(crate) function: Arc<str>,
}

/// What the sender thread sends.
pub(crate) enum Cmd {
    /// `XADD` one task.
    Submit(Outgoing),
    /// Mark a task cancelled.
    Cancel(String),
}

/// One task's stream entry, ready to send.
pub(crate) struct Outgoing {
    pub(crate) seq: u64,
    pub(crate) task_id: String,
    pub(crate) function: Arc<str>,
    pub(crate) version: &'static str,
    pub(crate) signature: Arc<str>,
    pub(crate) chunk: bool,
    pub(crate) args: Vec<u8>,
}

/// Counters of one client.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) submitted: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) bad_replies: AtomicU64,
}

/// What the pool's handle and threads share.
pub(crate) struct Shared {
    pub(crate) client: String,
    pub(crate) keys: Keys,
    pub(crate) url: String,
    redis_url: String,
    pool: String,
    max_retries: u32,
    limit: usize,
    pub(crate) ttl_ms: u64,
    pub(crate) gate: Mutex<Gate>,
    pub(crate) gate_cv: Condvar,
    pub(crate) slots: Mutex<HashMap<u64, Slot>>,
    tx: Sender<Cmd>,
    seq: AtomicU64,
    pub(crate) stats: Stats,
    pub(crate) events: Option<EventFn>,
    /// Set once the pool is shut down and nothing is outstanding: the
    /// threads end.
    pub(crate) stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn lock_slots(&self) -> MutexGuard<'_, HashMap<u64, Slot>> {
        lock(&self.slots)
    }

    pub(crate) fn lock_gate(&self) -> MutexGuard<'_, Gate> {
        lock(&self.gate)
    }

    pub(crate) fn retries(&self) -> u32 {
        self.max_retries
    }

    /// A future is done: its room under the limit is free again; a
    /// cancelled task is forgotten here and marked cancelled in Redis, so
    /// that a worker that reads it drops it unrun.
    fn on_done(&self, seq: u64, cancelled: bool) {
        if cancelled {
            self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
            // Dropped outside the lock: the completer of a cancelled future
            // does nothing when dropped, but keep the lock short anyway.
            let slot = self.lock_slots().remove(&seq);
            drop(slot);
            let _ = self
                .tx
                .send(Cmd::Cancel(format!("{}/{}", self.client, seq)));
        }
        let mut g = self.lock_gate();
        g.outstanding -= 1;
        if g.closed && g.outstanding == 0 {
            self.stop.store(true, Ordering::Release);
        }
        drop(g);
        self.gate_cv.notify_all();
    }
}

/// How long [`ClusterPool`]'s admission may wait.
enum Wait {
    Forever,
    Until(Instant),
    No,
}

/// Counters of one [`ClusterPool`] (this client only; the whole pool's are
/// in [`Status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolStats {
    /// Tasks submitted.
    pub submitted: u64,
    /// Futures completed with a value.
    pub succeeded: u64,
    /// Futures completed with an error (not counting cancellations).
    pub failed: u64,
    /// Futures cancelled.
    pub cancelled: u64,
    /// Results dropped because their future was already done: the late or
    /// duplicate results of at-least-once delivery. Each future completes
    /// once whatever this says.
    pub duplicates: u64,
    /// Entries of the results stream that could not be read.
    pub bad_replies: u64,
    /// Tasks submitted and not done yet. A task's room is given back by
    /// its future's done-callback, which runs just after the future's
    /// waiters wake: read right after `result`, this may still count it.
    pub outstanding: u64,
}

/// The executor API of bingfa-pool (`submit`, `map`, `map_chunked`,
/// `shutdown`, drop) over Redis Streams: tasks go to a stream that the
/// pool's [`Worker`](crate::Worker)s, on any number of hosts, read as one
/// consumer group, and every task's [`Future`] is bingfa-pool's, so
/// `result`, `result_timeout`, `cancel`, `add_done_callback`,
/// `bingfa_pool::as_completed` and `bingfa_pool::wait` work unchanged.
///
/// A task names its function by the [`Task`]'s registered name and
/// version, never by address; the argument and result travel with serde.
///
/// **Delivery**: at least once on the broker (a task whose worker is lost
/// runs again elsewhere, up to the retry limit), exactly once on the
/// future: a task's first result completes it; a late or duplicate one is
/// dropped and counted ([`PoolStats::duplicates`]).
///
/// **Failures**: see the crate docs ("How a task fails").
///
/// Python: `concurrent.futures.Executor` over Celery / Dask's
/// `distributed.Client` / Ray's `ray.util.multiprocessing.Pool`.
#[doc(alias = "Client")]
#[doc(alias = "Celery")]
#[doc(alias = "Executor")]
pub struct ClusterPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for ClusterPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterPool")
            .field("url", &self.shared.url)
            .field("pool", &self.shared.pool)
            .field("client", &self.shared.client)
            .field("outstanding", &self.shared.lock_gate().outstanding)
            .field("is_shutdown", &self.is_shutdown())
            .finish()
    }
}

fn decode_one<R: DeserializeOwned>(bytes: Vec<u8>) -> Result<R, PoolError> {
    codec::decode_frame(&bytes).map_err(|e| PoolError::Serialization {
        message: format!(
            "the task's result does not decode as {}: {e}",
            std::any::type_name::<R>()
        ),
    })
}

fn decode_chunk<R: DeserializeOwned>(
    bytes: Vec<u8>,
) -> Result<Vec<Result<R, PoolError>>, PoolError> {
    let items: Vec<Result<R, String>> =
        codec::decode_frame(&bytes).map_err(|e| PoolError::Serialization {
            message: format!(
                "the chunk's results do not decode as Vec<Result<{}, String>>: {e}",
                std::any::type_name::<R>()
            ),
        })?;
    Ok(items
        .into_iter()
        .map(|r| r.map_err(|message| PoolError::Panicked { message }))
        .collect())
}

impl ClusterPool {
    /// Connects to Redis at `url` (`redis://host:port/db`,
    /// `redis://:password@host`, `redis+unix:///path`) with default
    /// settings, pool name `"default"`.
    ///
    /// # Errors
    /// As [`ClusterPoolBuilder::connect`].
    ///
    /// Python: `distributed.Client(address)`.
    pub fn connect(url: &str) -> Result<ClusterPool, Error> {
        Self::builder(url).connect()
    }

    /// A builder: pool name, back-pressure, retry policy, lease, events.
    pub fn builder(url: &str) -> ClusterPoolBuilder {
        ClusterPoolBuilder::new(url)
    }

    /// This client's id (its results stream is
    /// `bingfa:POOL:results:ID`).
    pub fn client_id(&self) -> &str {
        &self.shared.client
    }

    /// The pool's name.
    pub fn pool_name(&self) -> &str {
        &self.shared.pool
    }

    /// This client's counters.
    pub fn stats(&self) -> PoolStats {
        let s = &self.shared.stats;
        PoolStats {
            submitted: s.submitted.load(Ordering::Relaxed),
            succeeded: s.succeeded.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            cancelled: s.cancelled.load(Ordering::Relaxed),
            duplicates: s.duplicates.load(Ordering::Relaxed),
            bad_replies: s.bad_replies.load(Ordering::Relaxed),
            outstanding: self.shared.lock_gate().outstanding as u64,
        }
    }

    /// The whole pool's state (workers, hosts, queue, counters), read from
    /// Redis on a connection of its own.
    ///
    /// # Errors
    /// [`Error::Connect`] if Redis cannot be reached.
    pub fn status(&self) -> Result<Status, Error> {
        Status::fetch(&self.shared.redis_url, &self.shared.pool)
    }

    /// Whether [`shutdown`](Self::shutdown) has been called.
    pub fn is_shutdown(&self) -> bool {
        self.shared.lock_gate().closed
    }

    /// Takes room for one task under the limit.
    fn admit(&self, wait: Wait) -> Result<(), Error> {
        let sh = &self.shared;
        let mut g = sh.lock_gate();
        loop {
            if g.closed {
                return Err(Error::Shutdown);
            }
            if g.outstanding < sh.limit {
                g.outstanding += 1;
                return Ok(());
            }
            g = match wait {
                Wait::No => return Err(Error::Full { limit: sh.limit }),
                Wait::Forever => sh.gate_cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Wait::Until(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Error::Timeout(Duration::ZERO));
                    }
                    sh.gate_cv
                        .wait_timeout(g, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// Queues an admitted task: its future, its slot, its entry.
    fn enqueue<R: Send + Sync + 'static>(
        &self,
        function: &'static str,
        version: &'static str,
        signature: String,
        chunk: bool,
        args: Result<Vec<u8>, String>,
        decode: fn(Vec<u8>) -> Result<R, PoolError>,
    ) -> Future<R> {
        let sh = &self.shared;
        let seq = sh.seq.fetch_add(1, Ordering::Relaxed);
        sh.stats.submitted.fetch_add(1, Ordering::Relaxed);
        let (future, completer) = Future::pending();
        let weak: Weak<Shared> = Arc::downgrade(sh);
        future.add_done_callback(move |outcome: &Result<R, PoolError>| {
            if let Some(sh) = weak.upgrade() {
                sh.on_done(seq, matches!(outcome, Err(PoolError::Cancelled)));
            }
        });
        let args = match args {
            Ok(a) => a,
            Err(message) => {
                sh.stats.failed.fetch_add(1, Ordering::Relaxed);
                completer.set_error(PoolError::Serialization { message });
                return future;
            }
        };
        let function: Arc<str> = Arc::from(function);
        let task_id = format!("{}/{}", sh.client, seq);
        sh.lock_slots().insert(
            seq,
            Slot {
                pending: Box::new(Typed { completer, decode }),
                started: false,
                function: function.clone(),
            },
        );
        let out = Outgoing {
            seq,
            task_id,
            function,
            version,
            signature: Arc::from(signature),
            chunk,
            args,
        };
        if sh.tx.send(Cmd::Submit(out)).is_err() {
            // The sender is gone (cannot happen while the pool lives).
            let slot = sh.lock_slots().remove(&seq);
            if let Some(slot) = slot {
                slot.pending.complete(Err(PoolError::Shutdown));
            }
        }
        future
    }

    fn submit_with<A, R>(&self, task: &Task<A, R>, arg: A, wait: Wait) -> Result<Future<R>, Error>
    where
        A: Serialize,
        R: DeserializeOwned + Send + Sync + 'static,
    {
        self.admit(wait)?;
        let mut buf = Vec::new();
        let args = codec::encode_frame(&arg, &mut buf, MAX_PAYLOAD)
            .map(|()| buf)
            .map_err(|e| format!("could not serialize the task's argument: {e}"));
        Ok(self.enqueue(
            task.name(),
            task.version(),
            task.signature(),
            false,
            args,
            decode_one::<R>,
        ))
    }

    /// Queues `task(arg)` to run on a worker and returns its future. Blocks
    /// while the pool has [`max_outstanding`](ClusterPoolBuilder::max_outstanding)
    /// tasks not done.
    ///
    /// The future fails with `bingfa_pool::Error::Panicked` if the function
    /// panics (not retried), `WorkerDied` if it crashed its worker process,
    /// `Serialization` if the argument or result cannot be encoded or
    /// decoded, and `Remote` for the cluster's own reasons (every worker
    /// lost past the retry limit; a worker without the function, or with
    /// another version of it; a damaged entry).
    ///
    /// # Errors
    /// [`Error::Shutdown`] after [`shutdown`](Self::shutdown).
    ///
    /// Python: `Executor.submit(fn, arg)`; Celery's `task.delay(arg)`.
    #[doc(alias = "delay")]
    #[doc(alias = "apply_async")]
    pub fn submit<A, R>(&self, task: &Task<A, R>, arg: A) -> Result<Future<R>, Error>
    where
        A: Serialize,
        R: DeserializeOwned + Send + Sync + 'static,
    {
        self.submit_with(task, arg, Wait::Forever)
    }

    /// As [`submit`](Self::submit), but waits at most `timeout` for room
    /// under the limit of outstanding tasks.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`; [`Error::Shutdown`].
    pub fn submit_timeout<A, R>(
        &self,
        task: &Task<A, R>,
        arg: A,
        timeout: Duration,
    ) -> Result<Future<R>, Error>
    where
        A: Serialize,
        R: DeserializeOwned + Send + Sync + 'static,
    {
        let deadline = Instant::now() + timeout;
        self.submit_with(task, arg, Wait::Until(deadline))
            .map_err(|e| match e {
                Error::Timeout(_) => Error::Timeout(timeout),
                e => e,
            })
    }

    /// As [`submit`](Self::submit), but never blocks: at the limit of
    /// outstanding tasks it returns [`Error::Full`] (and drops `arg`).
    ///
    /// # Errors
    /// [`Error::Full`]; [`Error::Shutdown`].
    ///
    /// Python: `queue.Queue.put_nowait`'s `Full`, for an executor.
    #[doc(alias = "put_nowait")]
    pub fn try_submit<A, R>(&self, task: &Task<A, R>, arg: A) -> Result<Future<R>, Error>
    where
        A: Serialize,
        R: DeserializeOwned + Send + Sync + 'static,
    {
        self.submit_with(task, arg, Wait::No)
    }

    /// Runs `task` on every item and returns the results in input order,
    /// as bingfa-pool's [`Map`]. Every item is submitted (one task each,
    /// blocking at the limit of outstanding tasks) before this returns;
    /// dropping the `Map` cancels the tasks not started.
    ///
    /// # Errors
    /// [`Error::Shutdown`]; the tasks already queued are then cancelled.
    ///
    /// Python: `Executor.map(fn, iterable)`; Dask's `Client.map`.
    pub fn map<A, R, I>(&self, task: &Task<A, R>, items: I) -> Result<Map<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Serialize,
        R: DeserializeOwned + Send + Sync + 'static,
    {
        Map::submit_all(items, |item| self.submit(task, item))
    }

    /// As [`map`](Self::map), but each task carries up to `chunk_size`
    /// consecutive items to one worker, which runs the function on each:
    /// one entry and one round trip per chunk instead of per item. A panic
    /// fails only its item; a lost worker's chunk is retried whole.
    ///
    /// # Errors
    /// As [`map`](Self::map).
    ///
    /// # Panics
    /// If `chunk_size` is 0.
    ///
    /// Python: `Executor.map(fn, iterable, chunksize=...)`; Celery's
    /// `task.chunks(...)`.
    #[doc(alias = "chunksize")]
    #[doc(alias = "chunks")]
    pub fn map_chunked<A, R, I>(
        &self,
        task: &Task<A, R>,
        items: I,
        chunk_size: usize,
    ) -> Result<Map<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Serialize,
        R: DeserializeOwned + Send + Sync + 'static,
    {
        Map::submit_chunks(items, chunk_size, |chunk: Vec<A>| {
            self.admit(Wait::Forever)?;
            let mut buf = Vec::new();
            let args = codec::encode_frame(&chunk, &mut buf, MAX_PAYLOAD)
                .map(|()| buf)
                .map_err(|e| format!("could not serialize the chunk's arguments: {e}"));
            Ok(self.enqueue(
                task.name(),
                task.version(),
                task.signature(),
                true,
                args,
                decode_chunk::<R>,
            ))
        })
    }

    /// Stops accepting work. With `cancel_pending`, the futures of tasks no
    /// worker has started are cancelled (a worker that reads one later
    /// drops it unrun); started tasks always finish. With `wait`, blocks
    /// until every future is done and the pool's threads have ended (which
    /// needs live workers for the tasks left; see
    /// [`shutdown_timeout`](Self::shutdown_timeout)). Calling it again is
    /// allowed.
    ///
    /// Python: `Executor.shutdown(wait=True, cancel_futures=False)`.
    #[doc(alias = "cancel_futures")]
    pub fn shutdown(&self, wait: bool, cancel_pending: bool) {
        self.close(cancel_pending);
        if wait {
            let sh = &self.shared;
            let mut g = sh.lock_gate();
            while g.outstanding > 0 {
                g = sh.gate_cv.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            drop(g);
            self.join_threads();
        }
    }

    /// As `shutdown(true, cancel_pending)`, giving up the wait after
    /// `timeout`; returns whether every future is done. The pool stays shut
    /// down either way; futures still outstanding complete later as their
    /// results arrive.
    pub fn shutdown_timeout(&self, timeout: Duration, cancel_pending: bool) -> bool {
        self.close(cancel_pending);
        let sh = &self.shared;
        let deadline = Instant::now() + timeout;
        let mut g = sh.lock_gate();
        while g.outstanding > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = sh
                .gate_cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(g);
        self.join_threads();
        true
    }

    fn close(&self, cancel_pending: bool) {
        let sh = &self.shared;
        {
            let mut g = sh.lock_gate();
            g.closed = true;
            if g.outstanding == 0 {
                sh.stop.store(true, Ordering::Release);
            }
        }
        if cancel_pending {
            // Dropping the completer of a pending future cancels it; its
            // done-callback (`on_done`) marks it cancelled in Redis. Taken
            // out first: the callback locks the slots.
            let taken: Vec<Slot> = {
                let mut slots = sh.lock_slots();
                let seqs: Vec<u64> = slots
                    .iter()
                    .filter(|(_, s)| !s.started)
                    .map(|(k, _)| *k)
                    .collect();
                seqs.iter().filter_map(|k| slots.remove(k)).collect()
            };
            drop(taken);
        }
    }

    fn join_threads(&self) {
        let threads = std::mem::take(&mut *lock(&self.threads));
        let me = thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

impl Drop for ClusterPool {
    /// `shutdown(wait = true, cancel_pending = false)`; but while the
    /// thread is panicking, `shutdown(wait = false, cancel_pending = true)`,
    /// so that a failure (a test's assertion) never turns into a wait for
    /// workers that may not exist.
    fn drop(&mut self) {
        if thread::panicking() {
            self.shutdown(false, true);
        } else {
            self.shutdown(true, false);
        }
    }
}
