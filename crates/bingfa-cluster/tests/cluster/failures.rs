//! Lost workers, a paused worker, a restarted server, other builds, bad
//! entries, back-pressure: every failure costs only the task it touches.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bingfa_cluster::testing::RedisServer;
use bingfa_cluster::{ClusterPool, Error as ClusterError, Event, Worker};
use bingfa_pool::Error;

use crate::common::*;

/// The lease of these tests: long enough that a loaded machine does not
/// make a live worker look lost, short enough to keep them quick.
const LEASE_MS: u64 = 2000;

fn spec(url: &str, name: &str) -> WorkerSpec {
    WorkerSpec {
        url: url.to_owned(),
        name: name.to_owned(),
        host: format!("host-{name}"),
        concurrency: 1,
        lease_ms: LEASE_MS,
        v2: false,
    }
}

/// A pool that records its events.
fn pool_with_events(url: &str, retries: u32) -> (ClusterPool, Arc<Mutex<Vec<Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    let pool = ClusterPool::builder(url)
        .lease(Duration::from_millis(LEASE_MS))
        .max_retries(retries)
        .on_event(move |ev| e.lock().unwrap_or_else(|p| p.into_inner()).push(ev.clone()))
        .connect()
        .unwrap();
    (pool, events)
}

/// `pid host` as a task wrote it.
fn reported(path: &str) -> (u32, String) {
    let s = wait_for_file(Path::new(path));
    let (pid, host) = s.split_once(' ').unwrap();
    (pid.parse().unwrap(), host.to_owned())
}

fn completed(events: &Mutex<Vec<Event>>, task: &str) -> Vec<Event> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::Completed { task: t, .. } if t == task))
        .cloned()
        .collect()
}

#[test]
fn sigkill_of_a_worker_mid_task_completes_elsewhere() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let (pool, events) = pool_with_events(url, 3);
    let mut a = WorkerProcess::start(spec(url, "a"), None, url);
    let mut b = WorkerProcess::start(spec(url, "b"), None, url);
    let dir = scratch("kill-worker");
    let path = dir.join("victim").to_string_lossy().into_owned();
    let victim = pool
        .submit(&REPORT_AND_SLEEP, (path.clone(), 1500))
        .unwrap();
    let (task_pid, host) = reported(&path);
    let (dead, alive) = if host == "host-a" {
        (&mut a, "host-b")
    } else {
        (&mut b, "host-a")
    };
    dead.kill();
    // Other work meanwhile goes to the live worker, undisturbed.
    let others: Vec<_> = (0..20u64)
        .map(|i| pool.submit(&SQUARE, i).unwrap())
        .collect();
    assert_eq!(victim.result_timeout(PATIENCE), Ok(7));
    for (i, f) in others.iter().enumerate() {
        assert_eq!(f.result_timeout(PATIENCE), Ok((i * i) as u64));
    }
    // The task process of the dead worker died with it.
    wait_until("the dead worker's task process is gone", || {
        std::fs::read_to_string(format!("/proc/{task_pid}/stat"))
            .map(|s| s.contains(") Z"))
            .unwrap_or(true)
    });
    let status = pool.status().unwrap();
    assert_eq!(status.retried, 1, "{status}");
    assert_eq!(status.done, 21, "{status}");
    // It ran on the other host, as a second attempt.
    let (_, second) = reported(&path);
    assert_eq!(second, alive);
    let task = format!("{}/1", pool.client_id());
    match &completed(&events, &task)[..] {
        [Event::Completed {
            host,
            attempt,
            ok: true,
            ..
        }] => {
            assert_eq!(host, alive);
            assert_eq!(*attempt, 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.stats().duplicates, 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn retry_limit_reached_names_hosts_and_attempts() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let (pool, _) = pool_with_events(url, 1);
    let dir = scratch("retry-limit");
    let path = dir.join("victim").to_string_lossy().into_owned();
    let f = pool
        .submit(&REPORT_AND_SLEEP, (path.clone(), 60_000))
        .unwrap();
    let mut a = WorkerProcess::start(spec(url, "a"), None, url);
    assert_eq!(reported(&path).1, "host-a");
    a.kill();
    let _ = std::fs::remove_file(&path);
    let mut b = WorkerProcess::start(spec(url, "b"), None, url);
    assert_eq!(reported(&path).1, "host-b");
    b.kill();
    let _ = std::fs::remove_file(&path);
    let _c = WorkerProcess::start(spec(url, "c"), None, url);
    match f.result_timeout(PATIENCE) {
        Err(Error::Remote { kind, message }) => {
            assert_eq!(kind, bingfa_cluster::kind::LOST);
            assert!(message.contains("lost 2 times"), "{message}");
            assert!(message.contains("retry limit 1"), "{message}");
            assert!(message.contains("worker a on host host-a"), "{message}");
            assert!(message.contains("worker b on host host-b"), "{message}");
            assert!(message.contains("hosts: host-a, host-b"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The third worker did not run it.
    assert!(!Path::new(&path).exists());
    let status = pool.status().unwrap();
    assert_eq!(status.retried, 1, "{status}");
    assert_eq!(status.dead_letter, 1, "{status}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn graceful_stop_on_sigterm_finishes_held_tasks_and_takes_nothing_new() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let (pool, events) = pool_with_events(url, 3);
    let mut a = WorkerProcess::start(spec(url, "a"), None, url);
    let dir = scratch("sigterm");
    let path = dir.join("held").to_string_lossy().into_owned();
    let held = pool
        .submit(&REPORT_AND_SLEEP, (path.clone(), 1000))
        .unwrap();
    reported(&path);
    let status = a.terminate();
    assert!(status.success(), "{status:?}");
    // It finished the task it held, on its first attempt.
    assert_eq!(held.try_result(), Some(Ok(7)));
    let task = format!("{}/1", pool.client_id());
    assert!(matches!(
        &completed(&events, &task)[..],
        [Event::Completed { attempt: 1, host, .. }] if host == "host-a"
    ));
    // A task submitted now waits: the stopped worker took nothing new.
    let later = pool.submit(&WHOAMI, ()).unwrap();
    assert_eq!(
        later.result_timeout(Duration::from_millis(300)),
        Err(Error::Timeout(Duration::from_millis(300)))
    );
    let s = pool.status().unwrap();
    assert_eq!((s.pending, s.retried), (1, 0), "{s}");
    assert!(
        s.workers.iter().all(|w| w.id != "a"),
        "the stopped worker left: {s}"
    );
    let _b = WorkerProcess::start(spec(url, "b"), None, url);
    assert_eq!(later.result_timeout(PATIENCE).unwrap().0, "host-b");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_worker_paused_past_its_lease_has_its_late_result_dropped() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let (pool, events) = pool_with_events(url, 3);
    let a = WorkerProcess::start(spec(url, "a"), None, url);
    let dir = scratch("paused");
    let path = dir.join("task").to_string_lossy().into_owned();
    let calls = Arc::new(AtomicUsize::new(0));
    let f = pool
        .submit(&REPORT_AND_SLEEP, (path.clone(), 1500))
        .unwrap();
    let c = calls.clone();
    f.add_done_callback(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    reported(&path);
    // Freeze the worker's agent (its task process goes on and finishes,
    // but the agent can neither renew the lease nor publish).
    // SAFETY: signalling our own child.
    unsafe { libc::kill(a.pid() as libc::pid_t, libc::SIGSTOP) };
    let _b = WorkerProcess::start(spec(url, "b"), None, url);
    wait_until("the task is taken over", || {
        pool.status().is_ok_and(|s| s.retried == 1)
    });
    // Let the paused worker go while (or after) the other one runs it.
    // SAFETY: as above.
    unsafe { libc::kill(a.pid() as libc::pid_t, libc::SIGCONT) };
    assert_eq!(f.result_timeout(PATIENCE), Ok(7));
    // Both attempts finish; one result is dropped, at the server (the
    // task was already acked) or at the client.
    wait_until("the second result is dropped", || {
        pool.status()
            .is_ok_and(|s| s.late + pool.stats().duplicates == 1)
    });
    // A waiter may return before the completing thread has run the
    // callbacks: wait for them, then count exactly.
    wait_until("the callback ran", || calls.load(Ordering::SeqCst) >= 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let task = format!("{}/1", pool.client_id());
    assert_eq!(completed(&events, &task).len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// What Redis holds for the default pool, for a failure's message.
fn redis_state(url: &str) -> String {
    let status = bingfa_cluster::Status::fetch(url, "default")
        .map(|s| s.to_string())
        .unwrap_or_else(|e| e.to_string());
    let Ok(mut con) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
        return status;
    };
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("bingfa:default:tasks")
        .arg("workers")
        .arg("-")
        .arg("+")
        .arg(100)
        .query(&mut con)
        .unwrap_or(redis::Value::Nil);
    let ids: redis::Value = redis::cmd("XRANGE")
        .arg("bingfa:default:tasks")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap_or(redis::Value::Nil);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut con)
        .unwrap_or_default();
    format!("{status}\npending: {pending:?}\nstream: {ids:?}\nkeys: {keys:?}")
}

#[test]
fn redis_killed_and_restarted_mid_run_loses_no_accepted_task() {
    // `appendfsync always`: with `everysec`, a server killed while its
    // disk is slow loses up to two seconds of acknowledged writes (Redis
    // postpones writing the file), accepted tasks among them.
    if redis().is_none() {
        return;
    }
    let mut server = RedisServer::start_durable().unwrap();
    let url = server.url().to_owned();
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    let _w1 = Worker::builder(&url)
        .registry(registry(false))
        .name("w1")
        .concurrency(2)
        .start()
        .unwrap();
    let _w2 = Worker::builder(&url)
        .registry(registry(false))
        .name("w2")
        .concurrency(2)
        .start()
        .unwrap();
    let pool = ClusterPool::builder(&url)
        .on_event(move |ev| {
            if matches!(ev, Event::Disconnected { .. } | Event::Reconnected { .. }) {
                e.lock().unwrap_or_else(|p| p.into_inner()).push(ev.clone());
            }
        })
        .connect()
        .unwrap();
    let futures: Vec<_> = (0..300u64)
        .map(|i| pool.submit(&SLEEP_MS, i % 7).unwrap())
        .collect();
    wait_until("some tasks are done", || {
        futures.iter().filter(|f| f.is_done()).count() >= 30
    });
    server.kill();
    // Submitted while the server is down: accepted by the client, sent
    // when it is back.
    let during: Vec<_> = (0..20u64)
        .map(|i| pool.submit(&SQUARE, i).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.restart().unwrap();
    for (i, f) in futures.iter().enumerate() {
        let r = f.result_timeout(PATIENCE);
        if r != Ok(i as u64 % 7) {
            panic!("task {i}: {r:?}\n{}", redis_state(&url));
        }
    }
    for (i, f) in during.iter().enumerate() {
        assert_eq!(f.result_timeout(PATIENCE), Ok((i * i) as u64));
    }
    let ev = events.lock().unwrap();
    assert!(
        ev.iter().any(|e| matches!(e, Event::Disconnected { .. })),
        "{ev:?}"
    );
    assert!(
        ev.iter().any(|e| matches!(e, Event::Reconnected { .. })),
        "{ev:?}"
    );
    drop(ev);
    wait_until("nothing is outstanding", || pool.stats().outstanding == 0);
}

#[test]
fn a_worker_of_another_build_fails_the_task_clearly_and_calls_nothing() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let _w = Worker::builder(url)
        .registry(registry(true))
        .name("new-build")
        .host("host-n")
        .concurrency(1)
        .start()
        .unwrap();
    let pool = pool(url);
    match pool.submit(&SQUARE, 3).unwrap().result_timeout(PATIENCE) {
        Err(Error::Remote { kind, message }) => {
            assert_eq!(kind, bingfa_cluster::kind::VERSION_MISMATCH);
            assert!(message.contains("function `square`"), "{message}");
            assert!(message.contains("wants version 1"), "{message}");
            assert!(message.contains("has version 2"), "{message}");
            assert!(
                message.contains("worker new-build on host host-n"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A side effect shows that nothing was called.
    let dir = scratch("other-build");
    let path = dir.join("ran").to_string_lossy().into_owned();
    match pool
        .submit(&COUNT_RUN_V2, (path.clone(), 1))
        .unwrap()
        .result_timeout(PATIENCE)
    {
        Err(Error::Remote { kind, message }) => {
            assert_eq!(kind, "version-mismatch");
            assert!(
                message.contains("`count_run`")
                    && message.contains("version 2")
                    && message.contains("version 0"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !Path::new(&path).exists(),
        "the wrong build ran the function"
    );
    match pool.submit(&MISSING, 1).unwrap().result_timeout(PATIENCE) {
        Err(Error::Remote { kind, message }) => {
            assert_eq!(kind, "unknown-function");
            assert!(message.contains("no function `missing`"), "{message}");
            assert!(
                message.contains("square"),
                "it lists what it has: {message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The worker goes on.
    assert_eq!(
        pool.submit(&SQUARE_V2, 5).unwrap().result_timeout(PATIENCE),
        Ok(25)
    );
    assert_eq!(pool.status().unwrap().dead_letter, 3);
    let _ = std::fs::remove_dir_all(dir);
}

/// The fields of an entry of the task stream.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn field(fields: &Fields, name: &str) -> Vec<u8> {
    fields
        .iter()
        .find(|(k, _)| k == name.as_bytes())
        .unwrap()
        .1
        .clone()
}

#[test]
fn corrupt_and_truncated_entries_fail_only_their_task() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let pool = pool(url);
    // Queued with no worker yet, so that the test can damage them first.
    let futures: Vec<_> = (0..8u64)
        .map(|i| pool.submit(&SQUARE, i).unwrap())
        .collect();
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let stream = "bingfa:default:tasks";
    wait_until("the tasks are in the stream", || {
        redis::cmd("XLEN")
            .arg(stream)
            .query::<u64>(&mut con)
            .unwrap()
            == 8
    });
    let entries: Vec<(String, Fields)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    let mut replace = |i: usize, edit: &dyn Fn(&mut Fields)| {
        let (id, mut fields) = entries[i].clone();
        edit(&mut fields);
        let _: u64 = redis::cmd("XDEL")
            .arg(stream)
            .arg(&id)
            .query(&mut con)
            .unwrap();
        let mut cmd = redis::cmd("XADD");
        cmd.arg(stream).arg("*");
        for (k, v) in &fields {
            cmd.arg(k).arg(v);
        }
        let _: String = cmd.query(&mut con).unwrap();
    };
    let set = |fields: &mut Fields, name: &str, value: Vec<u8>| {
        for (k, v) in fields.iter_mut() {
            if k == name.as_bytes() {
                *v = value.clone();
            }
        }
    };
    // 1: the argument truncated.
    replace(1, &|f| {
        let mut a = field(f, "args");
        a.truncate(a.len() - 1);
        set(f, "args", a);
    });
    // 2: one bit of the argument flipped.
    replace(2, &|f| {
        let mut a = field(f, "args");
        let last = a.len() - 1;
        a[last] ^= 0x10;
        set(f, "args", a);
    });
    // 3: no function name.
    replace(3, &|f| f.retain(|(k, _)| k != b"fn"));
    // 4: a kind that does not exist.
    replace(4, &|f| set(f, "kind", b"sideways".to_vec()));
    // 5: a well-formed frame of another type (a string for a u64).
    replace(5, &|f| {
        let mut buf = Vec::new();
        bingfa_process::codec::encode_frame("not a number", &mut buf, 1 << 20).unwrap();
        set(f, "args", buf);
    });
    // And two entries that name no task at all.
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("garbage")
        .arg(&b"\xff\xfe"[..])
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("id")
        .arg("no-seq")
        .arg("fn")
        .arg("square")
        .query(&mut con)
        .unwrap();
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let r = rejected.clone();
    let w = Worker::builder(url)
        .registry(registry(false))
        .name("w")
        .concurrency(1)
        .on_event(move |e| {
            if let Event::Rejected { reason, .. } = e {
                r.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(reason.clone());
            }
        })
        .start()
        .unwrap();
    for (i, f) in futures.iter().enumerate() {
        let r = f.result_timeout(PATIENCE);
        match i {
            1 | 2 => match r {
                Err(Error::Remote { kind, message }) => {
                    assert_eq!(kind, "corrupt");
                    assert!(message.contains("is damaged"), "{i}: {message}");
                    assert!(message.contains("(square)"), "{i}: {message}");
                }
                other => panic!("{i}: {other:?}"),
            },
            3 => assert!(
                matches!(&r, Err(Error::Remote { kind, message }) if kind == "corrupt" && message.contains("no `fn` field")),
                "{r:?}"
            ),
            4 => assert!(
                matches!(&r, Err(Error::Remote { kind, message }) if kind == "corrupt" && message.contains("unknown kind \"sideways\"")),
                "{r:?}"
            ),
            5 => assert!(
                matches!(&r, Err(Error::Serialization { message }) if message.contains("does not decode as u64")),
                "{r:?}"
            ),
            _ => assert_eq!(r, Ok((i * i) as u64)),
        }
    }
    wait_until("the nameless entries are dead-lettered", || {
        pool.status()
            .is_ok_and(|s| s.dead_letter == 7 && s.pending == 0 && s.in_flight == 0)
    });
    assert_eq!(rejected.lock().unwrap().len(), 7);
    // The worker is still serving.
    assert_eq!(
        pool.submit(&SQUARE, 9).unwrap().result_timeout(PATIENCE),
        Ok(81)
    );
    assert!(!w.is_stopped());
}

#[test]
fn back_pressure_blocks_submit_and_try_submit_says_full() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let pool = ClusterPool::builder(url)
        .max_outstanding(2)
        .connect()
        .unwrap();
    let a = pool.submit(&SQUARE, 1).unwrap();
    let b = pool.submit(&SQUARE, 2).unwrap();
    assert_eq!(
        pool.try_submit(&SQUARE, 3).unwrap_err(),
        ClusterError::Full { limit: 2 }
    );
    let t = Duration::from_millis(100);
    assert_eq!(
        pool.submit_timeout(&SQUARE, 3, t).unwrap_err(),
        ClusterError::Timeout(t)
    );
    assert_eq!(pool.stats().outstanding, 2);
    let mut w = None;
    std::thread::scope(|s| {
        let blocked = s.spawn(|| pool.submit(&SQUARE, 4).unwrap().result_timeout(PATIENCE));
        std::thread::sleep(Duration::from_millis(200));
        assert!(!blocked.is_finished(), "submit did not block at the limit");
        // A cancelled future frees its room too.
        assert!(b.cancel());
        assert_eq!(b.result(), Err(Error::Cancelled));
        w = Some(worker(url, "w", 1));
        assert_eq!(blocked.join().unwrap(), Ok(16));
    });
    assert_eq!(a.result_timeout(PATIENCE), Ok(1));
    assert_eq!(
        pool.try_submit(&SQUARE, 5)
            .unwrap()
            .result_timeout(PATIENCE),
        Ok(25)
    );
}

#[test]
fn clients_and_workers_whose_connections_drop_reconnect_and_find_their_results() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let reconnected = Arc::new(AtomicUsize::new(0));
    let r = reconnected.clone();
    let _w1 = worker(url, "w1", 2);
    let pool = ClusterPool::builder(url)
        .on_event(move |e| {
            if matches!(e, Event::Reconnected { .. }) {
                r.fetch_add(1, Ordering::SeqCst);
            }
        })
        .connect()
        .unwrap();
    let futures: Vec<_> = (0..200u64)
        .map(|i| pool.submit(&SLEEP_MS, i % 5).unwrap())
        .collect();
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    // Drop every other connection (the pool's and the worker's) a few
    // times while results are being published.
    for _ in 0..3 {
        wait_until("some progress", || futures.iter().any(|f| f.is_done()));
        let _: redis::Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query(&mut con)
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result_timeout(PATIENCE), Ok(i as u64 % 5), "task {i}");
    }
    assert!(reconnected.load(Ordering::SeqCst) > 0);
}
