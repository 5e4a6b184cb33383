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
