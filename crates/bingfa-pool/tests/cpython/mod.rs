//! Support for the ports of CPython's `Lib/test/test_concurrent_futures/`
//! (`tests/cpython_*.rs`): what `util.py` and `executor.py` give the
//! upstream tests, in Rust.
//!
//! Upstream runs each executor test against every executor type through
//! mixins (`ThreadPoolMixin`, `ProcessPoolForkserverMixin`,
//! `ProcessPoolSpawnMixin`, ...). Here a test body takes an [`Exec`], and
//! [`for_each_executor!`] makes one `#[test]` per executor type, named
//! after the upstream test, in modules `thread_pool`, `fork_server` and
//! `spawn`. (The fork mixin is not instantiated: these are libtest
//! binaries with other threads, where a fork depends on luck; the fork
//! start method is tested in `tests/fork_start.rs`.)
//!
//! Tasks are [`Op`]s, run by [`task`]: serializable, so one test body
//! drives threads and processes alike. A [`FileEvent`] stands in for
//! `threading.Event` / `multiprocessing.Event`: a task waits for a file.
//!
//! Upstream: CPython `Lib/test/test_concurrent_futures/util.py` and
//! `executor.py` (revisions in each `cpython_*.rs` header), PSF-2.0.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bingfa_pool::{
    Completer, Error, Future, Map, MapBuffered, ProcessPool, StartMethod, ThreadPool,
};
use serde::{Deserialize, Serialize};

/// Upstream's `support.SHORT_TIMEOUT` (30 s), the patience of any wait.
pub const SHORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Upstream's `ExecutorMixin.worker_count`.
pub const WORKER_COUNT: usize = 5;

/// A task, for threads and processes alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// `pow(x, y)`.
    Pow(i64, u32),
    /// `mul(x, y)`.
    Mul(i64, i64),
    /// `divmod(x, y)`; panics with "division by zero" (Python's
    /// `ZeroDivisionError`) when `y` is 0.
    Divmod(i64, i64),
    /// `time.sleep(ms / 1000)`.
    SleepMs(u64),
    /// `event.wait()`: waits until the file exists (at most 60 s).
    Wait(String),
    /// `wait_and_raise(event)`: waits, then panics.
    WaitThenPanic(String),
    /// Panics with this message (upstream: raises an exception).
    Panic(String),
    /// `str(x)`.
    Str(i64),
    /// `abs(x)`.
    Abs(i64),
    /// `os.getpid()`.
    Pid,
    /// `os._exit(code)` / `sys.exit(code)`.
    Exit(i32),
    /// Ends its process with SIGSEGV (upstream `_crash`), after `ms`.
    Crash(u64),
    /// `timeout_on_one(x)`: panics with "TimeoutError" when `x` is 1.
    TimeoutOnOne(i64),
    /// `operator.add(x, y)`.
    Add(i64, i64),
    /// `make_dummy_object(_)`: a value whose drops are counted under this
    /// token (in the process that drops it).
    MakeDummy(u64),
}

/// What a task returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Val {
    Int(i64),
    Pair(i64, i64),
    Str(String),
    Unit,
    Dummy(Dummy),
}

/// Upstream's `MyObject`: counts its drops (per token, in this process),
/// the way upstream watches a weak reference die.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Dummy(pub u64);

static DROPS: std::sync::Mutex<Vec<(u64, usize)>> = std::sync::Mutex::new(Vec::new());

impl Drop for Dummy {
    fn drop(&mut self) {
        let mut d = DROPS.lock().unwrap();
        match d.iter_mut().find(|(t, _)| *t == self.0) {
            Some((_, n)) => *n += 1,
            None => d.push((self.0, 1)),
        }
    }
}

impl Clone for Dummy {
    fn clone(&self) -> Self {
        panic!("a Dummy is never cloned (the test counts drops)")
    }
}

/// How many `Dummy`s with this token were dropped in this process.
pub fn dummy_drops(token: u64) -> usize {
    DROPS
        .lock()
        .unwrap()
        .iter()
        .find(|(t, _)| *t == token)
        .map_or(0, |(_, n)| *n)
}

/// A token no other test uses.
pub fn fresh_token() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(1);
    N.fetch_add(1, Ordering::Relaxed) as u64
}

/// Runs an [`Op`] (in a worker thread or process).
pub fn task(op: Op) -> Val {
    match op {
        Op::Pow(x, y) => Val::Int(x.pow(y)),
        Op::Mul(x, y) => Val::Int(x * y),
        Op::Divmod(x, y) => {
            assert!(y != 0, "division by zero");
            Val::Pair(x.div_euclid(y), x.rem_euclid(y))
        }
        Op::SleepMs(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            Val::Unit
        }
        Op::Wait(path) => {
            FileEvent::at(path).wait();
            Val::Unit
        }
        Op::WaitThenPanic(path) => {
            FileEvent::at(path).wait();
            panic!("this is an exception")
        }
        Op::Panic(message) => panic!("{message}"),
        Op::Str(x) => Val::Str(x.to_string()),
        Op::Abs(x) => Val::Int(x.abs()),
        Op::Pid => Val::Int(i64::from(std::process::id())),
        Op::Exit(code) => std::process::exit(code),
        Op::Crash(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            // std handles SIGSEGV (to report stack overflows) and returns for a
            // raised one: restore the default action first, as a real crash gets.
            // SAFETY: signal dispositions and a signal of this (worker) process,
            // on purpose.
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::raise(libc::SIGSEGV);
            }
            unreachable!("SIGSEGV ends the process")
        }
        Op::TimeoutOnOne(x) => {
            assert!(x != 1, "TimeoutError");
            Val::Int(x)
        }
        Op::Add(x, y) => Val::Int(x + y),
        Op::MakeDummy(token) => Val::Dummy(Dummy(token)),
    }
}

/// An executor under test: a thread pool, or a process pool with a start
/// method (upstream's `self.executor`).
pub trait Exec: Sync {
    fn submit(&self, op: Op) -> Result<Future<Val>, Error>;
    fn map(&self, ops: Vec<Op>) -> Result<Map<Val>, Error>;
    fn map_chunked(&self, ops: Vec<Op>, chunk: usize) -> Result<Map<Val>, Error>;
    fn map_buffered<'a>(
        &'a self,
        ops: Box<dyn Iterator<Item = Op> + 'a>,
        buffersize: usize,
    ) -> Result<MapBuffered<'a, Val>, Error>;
    fn shutdown(&self, wait: bool, cancel_pending: bool);
    fn max_workers(&self) -> usize;
    /// Whether tasks run in other processes.
    fn is_process(&self) -> bool;
}

impl Exec for ThreadPool {
    fn submit(&self, op: Op) -> Result<Future<Val>, Error> {
        ThreadPool::submit(self, move || task(op))
    }
    fn map(&self, ops: Vec<Op>) -> Result<Map<Val>, Error> {
        ThreadPool::map(self, task, ops)
    }
    fn map_chunked(&self, ops: Vec<Op>, chunk: usize) -> Result<Map<Val>, Error> {
        ThreadPool::map_chunked(self, task, ops, chunk)
    }
    fn map_buffered<'a>(
        &'a self,
        ops: Box<dyn Iterator<Item = Op> + 'a>,
        buffersize: usize,
    ) -> Result<MapBuffered<'a, Val>, Error> {
        ThreadPool::map_buffered(self, task, ops, buffersize)
    }
    fn shutdown(&self, wait: bool, cancel_pending: bool) {
        ThreadPool::shutdown(self, wait, cancel_pending)
    }
    fn max_workers(&self) -> usize {
        ThreadPool::max_workers(self)
    }
    fn is_process(&self) -> bool {
        false
    }
}

impl Exec for ProcessPool {
    fn submit(&self, op: Op) -> Result<Future<Val>, Error> {
        ProcessPool::submit(self, task, op)
    }
    fn map(&self, ops: Vec<Op>) -> Result<Map<Val>, Error> {
        ProcessPool::map(self, task, ops)
    }
    fn map_chunked(&self, ops: Vec<Op>, chunk: usize) -> Result<Map<Val>, Error> {
        ProcessPool::map_chunked(self, task, ops, chunk)
    }
    fn map_buffered<'a>(
        &'a self,
        ops: Box<dyn Iterator<Item = Op> + 'a>,
        buffersize: usize,
    ) -> Result<MapBuffered<'a, Val>, Error> {
        ProcessPool::map_buffered(self, task, ops, buffersize)
    }
    fn shutdown(&self, wait: bool, cancel_pending: bool) {
        ProcessPool::shutdown(self, wait, cancel_pending)
    }
    fn max_workers(&self) -> usize {
        ProcessPool::max_workers(self)
    }
    fn is_process(&self) -> bool {
        true
    }
}

/// Upstream's `ThreadPoolMixin`.
pub fn thread_pool(workers: usize) -> ThreadPool {
    ThreadPool::new(workers)
}

/// Upstream's `ProcessPoolForkserverMixin` (our default start method).
pub fn fork_server_pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .start_method(StartMethod::ForkServer)
        .build()
        .unwrap()
}

/// Upstream's `ProcessPoolSpawnMixin`.
pub fn spawn_pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .start_method(StartMethod::Spawn)
        .build()
        .unwrap()
}

/// One `#[test]` per executor type for each named test body
/// `fn NAME(e: &dyn Exec)`, in modules `thread_pool`, `fork_server` and
/// `spawn`. Each executor has [`WORKER_COUNT`] workers and is shut down
/// (waiting) at the end, as upstream's `ExecutorMixin.tearDown`.
#[macro_export]
macro_rules! for_each_executor {
    ($($name:ident),* $(,)?) => {
        mod thread_pool {
            $(
                #[test]
                fn $name() {
                    let e = $crate::cpython::thread_pool($crate::cpython::WORKER_COUNT);
                    super::$name(&e);
                    e.shutdown(true, false);
                }
            )*
        }
        mod fork_server {
            $(
                #[test]
                fn $name() {
                    let e = $crate::cpython::fork_server_pool($crate::cpython::WORKER_COUNT);
                    super::$name(&e);
                    e.shutdown(true, false);
                }
            )*
        }
        mod spawn {
            $(
                #[test]
                fn $name() {
                    let e = $crate::cpython::spawn_pool($crate::cpython::WORKER_COUNT);
                    super::$name(&e);
                    e.shutdown(true, false);
                }
            )*
        }
    };
}

/// A name in the temporary directory that no other process uses: this
/// process's id, its start (so that a later process given the same id,
/// which the stress pass makes likely, cannot meet this one's leftovers),
/// and a counter.
fn fresh_temp_path(kind: &str) -> PathBuf {
    static START: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    static N: AtomicUsize = AtomicUsize::new(0);
    let start = START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    });
    std::env::temp_dir().join(format!(
        "bingfa-cpython-{kind}-{}-{start:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A cross-process `Event`: set = a file exists. Removed when dropped.
pub struct FileEvent {
    path: PathBuf,
    owner: bool,
}

impl FileEvent {
    /// A fresh, unset event.
    ///
    /// # Panics
    /// If its path exists (it never should: see [`fresh_temp_path`]).
    pub fn new() -> FileEvent {
        let path = fresh_temp_path("event");
        // A leftover under this name would read as set (and a directory
        // would refuse the writes of a task that appends to the path).
        assert!(!path.exists(), "{} exists already", path.display());
        FileEvent { path, owner: true }
    }

    fn at(path: String) -> FileEvent {
        FileEvent {
            path: path.into(),
            owner: false,
        }
    }

    /// The path a task gets (`Op::Wait(event.path())`).
    pub fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    pub fn set(&self) {
        std::fs::write(&self.path, b"set").unwrap();
    }

    pub fn is_set(&self) -> bool {
        self.path.exists()
    }

    /// Waits until set (at most a minute: a test that forgets to set it
    /// fails instead of hanging).
    pub fn wait(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.is_set() {
            assert!(Instant::now() < deadline, "event never set");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A fresh, empty directory in the temporary directory, removed with its
/// contents when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// # Panics
    /// If the directory cannot be made.
    pub fn new() -> ScratchDir {
        let path = fresh_temp_path("dir");
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot make {}: {e}", path.display()));
        ScratchDir(path)
    }
}

impl std::ops::Deref for ScratchDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Default for FileEvent {
    fn default() -> Self {
        FileEvent::new()
    }
}

impl Drop for FileEvent {
    fn drop(&mut self) {
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Upstream's `create_future(state=...)` and the module-level futures of
/// `util.py`, built with a [`Completer`].
pub mod futures {
    use super::*;

    /// `PENDING_FUTURE`: a pending future (its completer kept alive).
    pub fn pending<R: Send + Sync + 'static>() -> (Future<R>, Completer<R>) {
        Future::pending()
    }

    /// `RUNNING_FUTURE`.
    pub fn running<R: Send + Sync + 'static>() -> (Future<R>, Completer<R>) {
        let (f, c) = Future::pending();
        assert!(c.set_running());
        (f, c)
    }

    /// `CANCELLED_FUTURE` / `CANCELLED_AND_NOTIFIED_FUTURE` (one state here).
    pub fn cancelled<R: Send + Sync + 'static>() -> Future<R> {
        let (f, c) = Future::pending();
        assert!(f.cancel());
        drop(c);
        f
    }

    /// `EXCEPTION_FUTURE` (upstream: `OSError()`).
    pub fn exception<R: Send + Sync + 'static>() -> Future<R> {
        let (f, c) = Future::pending();
        c.set_error(Error::Panicked {
            message: "OSError".into(),
        });
        f
    }

    /// `SUCCESSFUL_FUTURE` (upstream: result 42).
    pub fn successful(value: Val) -> Future<Val> {
        let (f, c) = Future::pending();
        c.set_result(value);
        f
    }
}

/// The message of a `Panicked` error, or a test failure.
pub fn panic_message<R: std::fmt::Debug>(r: Result<R, Error>) -> String {
    match r {
        Err(Error::Panicked { message }) => message,
        other => panic!("expected a panic, got {other:?}"),
    }
}
