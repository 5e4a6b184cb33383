//! ProcessPool under faults in the parent's own handling: a result whose
//! decoding panics, workers killed from outside while they start, workers
//! that exit with a code. Workers start by spawn here (safe in this
//! multi-threaded test binary).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bingfa_pool::{Error, ProcessPool, StartMethod};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

bingfa_pool::enable_test_support!();

const PATIENCE: Duration = Duration::from_secs(30);

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .start_method(StartMethod::Spawn)
        .build()
        .unwrap()
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bingfa-ppf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A value that encodes fine but whose decoding panics (in the parent,
/// which is the only place a result is decoded).
#[derive(Debug, Clone, PartialEq)]
struct PanicsOnDecode;

impl Serialize for PanicsOnDecode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(7)
    }
}

impl<'de> Deserialize<'de> for PanicsOnDecode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = u32::deserialize(d)?;
        panic!("decoding panicked on purpose")
    }
}

fn make_bad(_: ()) -> PanicsOnDecode {
    PanicsOnDecode
}

/// A number whose decoding panics when it is 13.
#[derive(Debug, Clone, PartialEq)]
struct Unlucky(u32);

impl Serialize for Unlucky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Unlucky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u32::deserialize(d)? {
            13 => panic!("decoding panicked on purpose"),
            n => Ok(Unlucky(n)),
        }
    }
}

fn square(x: u64) -> u64 {
    x * x
}

/// Writes this worker's pid into `dir`, then waits until two workers have
/// done so: whether it met the other one (both ran at once).
fn meet(dir: String) -> bool {
    let me = std::process::id();
    std::fs::write(format!("{dir}/{me}.tmp"), "here").unwrap();
    std::fs::rename(format!("{dir}/{me}.tmp"), format!("{dir}/{me}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let n = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        if n >= 2 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn assert_decode_failure<R: std::fmt::Debug>(r: Result<R, Error>) {
    match r {
        Err(Error::Serialization { message }) => {
            assert!(
                message.contains("decoding panicked on purpose"),
                "{message}"
            );
        }
        other => panic!("expected a serialization error, got {other:?}"),
    }
}

#[test]
fn a_panic_while_decoding_a_result_fails_only_that_task() {
    let pool = pool(1);
    assert_decode_failure(pool.submit(make_bad, ()).unwrap().result_timeout(PATIENCE));
    // The slot's handler survived: the next tasks run on the same worker.
    for i in 0..3u64 {
        assert_eq!(
            pool.submit(square, i).unwrap().result_timeout(PATIENCE),
            Ok(i * i)
        );
    }
    // In a chunk, only the item that failed to decode fails.
    let m: Vec<_> = pool.map_chunked(Unlucky, 12..15, 3).unwrap().collect();
    assert_eq!(m[0], Ok(Unlucky(12)));
    assert_decode_failure(m[1].clone());
    assert_eq!(m[2], Ok(Unlucky(14)));
}

#[test]
fn a_panic_while_decoding_a_result_does_not_shrink_the_pool() {
    let pool = pool(2);
    // One failed decode per slot (each worker is idle when the next starts).
    for _ in 0..4 {
        assert_decode_failure(pool.submit(make_bad, ()).unwrap().result_timeout(PATIENCE));
    }
    // Both slots still work: two tasks that need each other run at once.
    let dir = scratch("no-shrink");
    let d = dir.to_string_lossy().into_owned();
    let a = pool.submit(meet, d.clone()).unwrap();
    let b = pool.submit(meet, d).unwrap();
    assert_eq!(a.result_timeout(PATIENCE), Ok(true));
    assert_eq!(b.result_timeout(PATIENCE), Ok(true));
    let _ = std::fs::remove_dir_all(dir);
}

fn my_pid(_: ()) -> u32 {
    std::process::id()
}

fn exit_with(code: i32) -> u32 {
    std::process::exit(code)
}

#[test]
fn a_worker_that_exits_with_a_code_reports_it() {
    let pool = pool(1);
    let pid = pool.submit(my_pid, ()).unwrap().result().unwrap();
    let f = pool.submit(exit_with, 99).unwrap();
    let e = f.result_timeout(PATIENCE).unwrap_err();
    assert_eq!(
        e,
        Error::WorkerDied {
            pid,
            signal: None,
            exit_code: Some(99)
        }
    );
    assert!(e.to_string().contains("exit code 99"), "{e}");
    // A signal is reported as a signal, with no exit code.
    let pid = pool.submit(my_pid, ()).unwrap().result().unwrap();
    let f = pool
        .submit(|(): ()| -> u32 { std::process::abort() }, ())
        .unwrap();
    let e = f.result_timeout(PATIENCE).unwrap_err();
    assert_eq!(
        e,
        Error::WorkerDied {
            pid,
            signal: Some(libc::SIGABRT),
            exit_code: None
        }
    );
    assert!(e.to_string().contains("signal 6"), "{e}");
    assert_eq!(pool.submit(square, 3).unwrap().result(), Ok(9));
}

/// The file that holds every worker of this test process in its
/// initializer while it exists.
fn block_file(parent: u32) -> PathBuf {
    std::env::temp_dir().join(format!("bingfa-ppf-{parent}-block-init"))
}

/// Removes a file when dropped (a failed test leaves no block behind).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An initializer that waits while the parent's block file exists, so
/// that a worker killed meanwhile is killed while starting.
fn wait_while_blocked() {
    let parent = bingfa_process::current_process()
        .parent_pid()
        .expect("a pool worker has a parent");
    let deadline = Instant::now() + PATIENCE;
    while block_file(parent).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills (SIGKILL) each new worker pid of `pool` as soon as it appears,
/// `kills` times; returns the pids killed.
fn kill_new_workers(pool: &ProcessPool, kills: usize) -> Vec<u32> {
    let mut killed = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while killed.len() < kills {
        assert!(
            Instant::now() < deadline,
            "only {} workers appeared to be killed: {killed:?}",
            killed.len()
        );
        for pid in pool.worker_pids() {
            if !killed.contains(&pid) {
                // SAFETY: SIGKILL to a worker process of our own pool.
                assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
                killed.push(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    killed
}

#[test]
fn workers_killed_while_starting_do_not_break_the_pool() {
    let block = RemoveOnDrop(block_file(std::process::id()));
    std::fs::write(&block.0, "").unwrap();
    let pool = ProcessPool::builder()
        .max_workers(1)
        .start_method(StartMethod::Spawn)
        .initializer(wait_while_blocked)
        .build()
        .unwrap();
    let queued: Vec<_> = (0..5u64).map(|i| pool.submit(square, i).unwrap()).collect();
    // Every worker is killed in its initializer: none has started a task.
    let killed = kill_new_workers(&pool, 8);
    std::fs::remove_file(&block.0).unwrap();
    for (i, f) in queued.iter().enumerate() {
        let i = i as u64;
        assert_eq!(f.result_timeout(PATIENCE), Ok(i * i), "task {i}");
    }
    let pid = pool.submit(my_pid, ()).unwrap().result().unwrap();
    assert!(!killed.contains(&pid));
    assert_eq!(pool.submit(square, 9).unwrap().result(), Ok(81));
}

fn init_exits() {
    std::process::exit(3);
}

fn init_aborts() {
    std::process::abort();
}

/// Submits until the pool refuses work; returns the refusal.
fn broken_error(pool: &ProcessPool) -> Error {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match pool.submit(square, 2) {
            Err(e) => return e,
            Ok(f) => {
                let r = f.result_timeout(PATIENCE);
                assert!(matches!(r, Err(Error::BrokenPool { .. })), "{r:?}");
            }
        }
        assert!(Instant::now() < deadline, "the pool never broke");
    }
}

#[test]
fn workers_that_cannot_start_on_their_own_break_the_pool_after_five_tries() {
    for (init, status) in [
        (init_exits as fn(), "exit code 3"),
        (init_aborts as fn(), "signal 6"),
    ] {
        let t = Instant::now();
        let pool = ProcessPool::builder()
            .max_workers(1)
            .start_method(StartMethod::Spawn)
            .initializer(init)
            .build()
            .unwrap();
        match broken_error(&pool) {
            Error::BrokenPool { message } => {
                assert!(message.contains("5 failures in a row"), "{message}");
                assert!(message.contains(status), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // With back-off between the tries (10 + 40 + 160 + 640 ms).
        assert!(
            t.elapsed() >= Duration::from_millis(850),
            "{:?}",
            t.elapsed()
        );
    }
}

/// Serializes fine in the parent; refuses to deserialize (in the worker).
#[derive(Debug, Clone, PartialEq)]
struct RefusesToDecode;

impl Serialize for RefusesToDecode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(1)
    }
}

impl<'de> Deserialize<'de> for RefusesToDecode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = u32::deserialize(d)?;
        Err(serde::de::Error::custom("refuses to be deserialized"))
    }
}

/// Deserializes fine; refuses to serialize (as a result, in the worker).
#[derive(Debug, Clone, PartialEq)]
struct RefusesToEncode(u32);

impl Serialize for RefusesToEncode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == 13 {
            return Err(serde::ser::Error::custom("refuses to be serialized"));
        }
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for RefusesToEncode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RefusesToEncode(u32::deserialize(d)?))
    }
}

fn take_refuses_to_decode(_: RefusesToDecode) -> u32 {
    1
}

fn serialization_message<R: std::fmt::Debug>(r: Result<R, Error>) -> String {
    match r {
        Err(Error::Serialization { message }) => message,
        other => panic!("expected a serialization error, got {other:?}"),
    }
}

#[test]
fn serialization_failures_in_a_worker_are_serialization_errors() {
    let pool = pool(1);
    let m = serialization_message(
        pool.submit(take_refuses_to_decode, RefusesToDecode)
            .unwrap()
            .result_timeout(PATIENCE),
    );
    assert!(m.contains("deserialize the task's argument"), "{m}");
    let m = serialization_message(
        pool.submit(RefusesToEncode, 13)
            .unwrap()
            .result_timeout(PATIENCE),
    );
    assert!(m.contains("serialize the task's result"), "{m}");
    // In a chunk, only the item that failed.
    let got: Vec<_> = pool
        .map_chunked(RefusesToEncode, 12..15, 3)
        .unwrap()
        .collect();
    assert_eq!(got[0], Ok(RefusesToEncode(12)));
    assert!(serialization_message(got[1].clone()).contains("serialize the task's result"));
    assert_eq!(got[2], Ok(RefusesToEncode(14)));
    let got: Vec<_> = pool
        .map_chunked(
            take_refuses_to_decode,
            [RefusesToDecode, RefusesToDecode],
            2,
        )
        .unwrap()
        .collect();
    for r in got {
        assert!(serialization_message(r).contains("deserialize the task's arguments"));
    }
    // A panic is still a panic.
    assert!(matches!(
        pool.submit(|(): ()| -> u8 { panic!("plain panic") }, ()).unwrap().result(),
        Err(Error::Panicked { message }) if message == "plain panic"
    ));
}
