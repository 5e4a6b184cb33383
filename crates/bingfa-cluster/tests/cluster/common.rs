//! What the tests share: the functions the workers run, in-process and
//! out-of-process workers, waiting helpers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bingfa_cluster::testing::RedisServer;
use bingfa_cluster::{ClusterPool, Registry, Task, Worker};

/// How long a test waits for something that should happen soon, on a
/// loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A server for this test, or `None`: then the test returns (skipped).
pub fn redis() -> Option<RedisServer> {
    bingfa_cluster::testing::redis_or_skip()
}

/// A fresh, empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bingfa-cluster-test-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for a file a task writes (atomically, by rename) and returns it.
pub fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `f` until it holds.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn write_atomically(path: &str, text: &str) {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

// ---- the functions (they run in the workers' processes) ----

fn square(x: u64) -> u64 {
    x * x
}

fn my_pid((): ()) -> u32 {
    std::process::id()
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Later items finish first, so completion order differs from input order.
fn slow_identity(x: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(u64::from(40 - x.min(40)) / 4));
    x
}

fn panics(message: String) -> u32 {
    panic!("{message}")
}

/// Panics on odd numbers.
fn even_only(x: u32) -> u32 {
    assert!(x.is_multiple_of(2), "odd {x}");
    x
}

/// Writes `pid host` to `path` (atomically), then sleeps `ms`.
fn report_and_sleep((path, ms): (String, u64)) -> u32 {
    let host = std::env::var("BINGFA_HOST").unwrap_or_default();
    write_atomically(&path, &format!("{} {host}", std::process::id()));
    std::thread::sleep(Duration::from_millis(ms));
    7
}

/// Creates `path` (to show that a task ran).
fn touch(path: String) {
    std::fs::write(path, b"ran").unwrap();
}

/// Appends a line to `path`: counts how often a task ran.
fn count_run((path, id): (String, u64)) -> u64 {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{id}").unwrap();
    id
}

fn reverse(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

fn abort((): ()) -> u32 {
    std::process::abort()
}

fn whoami((): ()) -> (String, u32) {
    (
        std::env::var("BINGFA_HOST").unwrap_or_default(),
        std::process::id(),
    )
}

fn exit_with(code: i32) -> u32 {
    std::process::exit(code)
}

/// Its process dies (exit code 7) on item 3.
fn die_on_three(x: u32) -> u32 {
    if x == 3 {
        std::process::exit(7);
    }
    x
}

/// Writes this process's pid into `dir`, then waits until two processes
/// have done so: returns whether it met the other one (so both ran at
/// once).
fn meet(dir: String) -> bool {
    write_atomically(
        &format!("{dir}/{}", std::process::id()),
        &std::process::id().to_string(),
    );
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let n = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
                })
                .count()
            })
            .unwrap_or(0);
        if n >= 2 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

pub static SQUARE: Task<u64, u64> = Task::new("square", square).with_version("1");
/// The same name at another version: a worker of another build.
pub static SQUARE_V2: Task<u64, u64> = Task::new("square", square).with_version("2");
pub static MY_PID: Task<(), u32> = Task::new("my_pid", my_pid);
pub static SLEEP_MS: Task<u64, u64> = Task::new("sleep_ms", sleep_ms);
pub static SLOW_IDENTITY: Task<u32, u32> = Task::new("slow_identity", slow_identity);
pub static PANICS: Task<String, u32> = Task::new("panics", panics);
pub static EVEN_ONLY: Task<u32, u32> = Task::new("even_only", even_only);
pub static REPORT_AND_SLEEP: Task<(String, u64), u32> =
    Task::new("report_and_sleep", report_and_sleep);
pub static TOUCH: Task<String, ()> = Task::new("touch", touch);
pub static COUNT_RUN: Task<(String, u64), u64> = Task::new("count_run", count_run);
pub static REVERSE: Task<Vec<u8>, Vec<u8>> = Task::new("reverse", reverse);
pub static ABORT: Task<(), u32> = Task::new("abort", abort);
pub static WHOAMI: Task<(), (String, u32)> = Task::new("whoami", whoami);
pub static EXIT_WITH: Task<i32, u32> = Task::new("exit_with", exit_with);
pub static DIE_ON_THREE: Task<u32, u32> = Task::new("die_on_three", die_on_three);
pub static MEET: Task<String, bool> = Task::new("meet", meet);
/// `count_run` as a client of a newer build knows it.
pub static COUNT_RUN_V2: Task<(String, u64), u64> = Task::declare("count_run").with_version("2");
/// Declared only: no worker has it.
pub static MISSING: Task<u64, u64> = Task::declare("missing");

/// Every test function; with `v2`, `square` at version 2.
pub fn registry(v2: bool) -> Registry {
    let mut r = Registry::new();
    r.add(if v2 { &SQUARE_V2 } else { &SQUARE })
        .add(&MY_PID)
        .add(&SLEEP_MS)
        .add(&SLOW_IDENTITY)
        .add(&PANICS)
        .add(&EVEN_ONLY)
        .add(&REPORT_AND_SLEEP)
        .add(&TOUCH)
        .add(&COUNT_RUN)
        .add(&REVERSE)
        .add(&ABORT)
        .add(&WHOAMI)
        .add(&EXIT_WITH)
        .add(&DIE_ON_THREE)
        .add(&MEET);
    r
}

/// An in-process worker (its tasks still run in its own processes).
pub fn worker(url: &str, name: &str, concurrency: usize) -> Worker {
    Worker::builder(url)
        .registry(registry(false))
        .name(name)
        .host(format!("host-{name}"))
        .concurrency(concurrency)
        .prefetch(0)
        .start()
        .unwrap()
}

/// A pool with a short lease, for tests that lose workers.
pub fn pool(url: &str) -> ClusterPool {
    ClusterPool::builder(url).connect().unwrap()
}

/// How a worker process is set up (passed in the environment).
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub url: String,
    pub name: String,
    pub host: String,
    pub concurrency: usize,
    pub lease_ms: u64,
    pub v2: bool,
}

const SPEC_VAR: &str = "BINGFA_CLUSTER_TEST_WORKER";

/// A worker in a process of its own: this test binary run again, its
/// `worker_process` test running the worker until SIGTERM.
pub struct WorkerProcess {
    pub child: Child,
    pub spec: WorkerSpec,
}

impl WorkerProcess {
    /// Starts it (optionally inside network namespace `netns`) and waits
    /// until its heartbeat shows in the pool's status.
    pub fn start(spec: WorkerSpec, netns: Option<&str>, status_url: &str) -> WorkerProcess {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args([
            "--exact",
            "worker_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            SPEC_VAR,
            format!(
                "{}|{}|{}|{}|{}|{}",
                spec.url, spec.name, spec.host, spec.concurrency, spec.lease_ms, spec.v2
            ),
        )
        .env("BINGFA_HOST", &spec.host)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
        let child = cmd.spawn().unwrap();
        let name = spec.name.clone();
        let p = WorkerProcess { child, spec };
        wait_until(&format!("worker {name} is up"), || {
            bingfa_cluster::Status::fetch(status_url, "default")
                .map(|s| s.workers.iter().any(|w| w.id == name && w.alive))
                .unwrap_or(false)
        });
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (graceful stop); waits for the exit and returns its status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The body of `worker_process`: runs a worker from the spec in the
/// environment until SIGTERM; nothing without it.
pub fn worker_process_main() {
    let Ok(spec) = std::env::var(SPEC_VAR) else {
        return;
    };
    // Die with the test that started us, whatever happens to it.
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let f: Vec<&str> = spec.split('|').collect();
    let w = Worker::builder(f[0])
        .registry(registry(f[5] == "true"))
        .name(f[1])
        .host(f[2])
        .concurrency(f[3].parse().unwrap())
        .prefetch(0)
        .lease(Duration::from_millis(f[4].parse().unwrap()))
        .start()
        .unwrap();
    w.run_until_signal().unwrap();
}

/// What a finished command wrote.
pub struct Output {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A child whose output goes to files (see [`run`]).
pub struct Spawned {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Spawned {
    /// Waits for it and reads what it wrote.
    pub fn wait(mut self) -> Output {
        let status = self.child.wait().unwrap();
        let o = Output {
            status,
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(&self.out);
        let _ = std::fs::remove_file(&self.err);
        o
    }
}

/// Starts `cmd` with its output going to files, not pipes: a process pool
/// of another test may fork while the pipes are open, and its processes
/// would keep the write ends, so that reading to the end of a pipe would
/// wait for them.
pub fn spawn(mut cmd: Command) -> Spawned {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let base = std::env::temp_dir().join(format!("bingfa-cluster-cmd-{}-{n}", std::process::id()));
    let out = base.with_extension("out");
    let err = base.with_extension("err");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    Spawned { child, out, err }
}

/// Runs `cmd` to its end (see [`spawn`]).
pub fn run(cmd: Command) -> Output {
    spawn(cmd).wait()
}
