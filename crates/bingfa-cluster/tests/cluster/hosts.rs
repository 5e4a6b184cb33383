//! Hosts as network namespaces: a host lost (every process of its
//! namespace killed) and a host cut off (its link down, then up).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bingfa_cluster::testing::{lab_or_skip, redis_or_skip, Lab, RedisServer};
use bingfa_cluster::{ClusterPool, Event};

use crate::common::*;

const LEASE_MS: u64 = 2000;

/// A lab with Redis in its hub; `None` when either is unavailable.
fn lab(hosts: &[&str]) -> Option<(Lab, RedisServer)> {
    // Redis first: without it, say so (the namespace line would mislead).
    drop(redis_or_skip()?);
    let lab = lab_or_skip(hosts)?;
    let server = RedisServer::start_in_netns(lab.hub(), lab.hub_addr()).unwrap();
    Some((lab, server))
}

/// A worker process on host `name` of the lab.
fn worker_on(lab: &Lab, server: &RedisServer, name: &str, concurrency: usize) -> WorkerProcess {
    let spec = WorkerSpec {
        url: format!("redis://{}:6379/", lab.hub_addr()),
        name: format!("w-{name}"),
        host: name.to_owned(),
        concurrency,
        lease_ms: LEASE_MS,
        v2: false,
    };
    WorkerProcess::start(spec, Some(&lab.host(name).netns), server.url())
}

/// A pool (outside the namespaces, on the hub's Unix socket) recording its
/// completions.
fn pool_with_events(server: &RedisServer) -> (ClusterPool, Arc<Mutex<Vec<Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    let pool = ClusterPool::builder(server.url())
        .lease(Duration::from_millis(LEASE_MS))
        .on_event(move |ev| e.lock().unwrap_or_else(|p| p.into_inner()).push(ev.clone()))
        .connect()
        .unwrap();
    (pool, events)
}

#[test]
fn a_lost_host_costs_only_its_in_flight_tasks() {
    let Some((lab, server)) = lab(&["a", "b", "c"]) else {
        return;
    };
    let (pool, events) = pool_with_events(&server);
    let _wa = worker_on(&lab, &server, "a", 2);
    let mut wb = worker_on(&lab, &server, "b", 2);
    let _wc = worker_on(&lab, &server, "c", 2);
    let dir = scratch("lost-host");
    let d = dir.to_string_lossy().into_owned();
    // Each task records where it started (`i.start`), then sleeps. Enough
    // of them that a and c alone cannot drain the queue before b, slowed
    // down by a loaded machine, has finished its first two.
    const TASKS: u64 = 48;
    let futures: Vec<_> = (0..TASKS)
        .map(|i| {
            pool.submit(&REPORT_AND_SLEEP, (format!("{d}/{i}.start"), 500))
                .unwrap()
        })
        .collect();
    let client = pool.client_id().to_owned();
    let task_of = |i: u64| format!("{client}/{}", i + 1);
    // Lose b only while it holds a task: one it started (by its file) less
    // than half its sleep ago, so neither done nor about to be. Without
    // that wait, b could be between tasks (or out of them) when it dies,
    // and there would be nothing to take over.
    wait_until("host b has finished two tasks and runs another", || {
        let done_on_b: BTreeSet<String> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Completed { task, host, .. } if host == "b" => Some(task.clone()),
                _ => None,
            })
            .collect();
        let running_on_b = (0..TASKS).any(|i| {
            let path = format!("{d}/{i}.start");
            let fresh = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| {
                    t.elapsed()
                        .is_ok_and(|age| age < Duration::from_millis(250))
                });
            fresh
                && !done_on_b.contains(&task_of(i))
                && std::fs::read_to_string(&path).is_ok_and(|s| s.ends_with(" b"))
        });
        done_on_b.len() >= 2 && running_on_b && lab.pids("b").len() >= 3
    });
    // The tasks b holds now: started there (by their file), not completed.
    lab.kill_host("b");
    wb.kill();
    let completed_on_b: BTreeSet<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Completed { task, host, .. } if host == "b" => Some(task.clone()),
            _ => None,
        })
        .collect();
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result_timeout(PATIENCE), Ok(7), "task {i}");
    }
    // Where each task started last (a retried task rewrote its file).
    let mut attempts: BTreeMap<String, u32> = BTreeMap::new();
    let mut hosts: BTreeMap<String, String> = BTreeMap::new();
    for e in events.lock().unwrap().iter() {
        if let Event::Completed {
            task,
            attempt,
            host,
            ..
        } = e
        {
            assert!(
                attempts.insert(task.clone(), *attempt).is_none(),
                "{task} completed twice"
            );
            hosts.insert(task.clone(), host.clone());
        }
    }
    let retried: BTreeSet<String> = attempts
        .iter()
        .filter(|(_, &a)| a > 1)
        .map(|(t, _)| t.clone())
        .collect();
    assert!(
        !retried.is_empty() && retried.len() <= 2,
        "b held at most two: {retried:?}"
    );
    for t in &retried {
        assert!(!completed_on_b.contains(t));
        assert_ne!(hosts[t], "b");
    }
    // Every other task ran once: not disturbed.
    for i in 0..TASKS {
        let t = task_of(i);
        if !retried.contains(&t) {
            assert_eq!(attempts[&t], 1, "{t}");
        }
    }
    let status = pool.status().unwrap();
    assert_eq!(status.retried as usize, retried.len(), "{status}");
    assert_eq!(pool.stats().duplicates + status.late, 0, "{status}");
    assert!(lab.pids("b").is_empty());
    assert!(!Path::new(&format!("{d}/missing")).exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_host_cut_off_mid_task_has_its_late_result_dropped() {
    let Some((lab, server)) = lab(&["a", "b"]) else {
        return;
    };
    let (pool, events) = pool_with_events(&server);
    let _wa = worker_on(&lab, &server, "a", 1);
    let _wb = worker_on(&lab, &server, "b", 1);
    let dir = scratch("cut-host");
    let path = dir.join("task").to_string_lossy().into_owned();
    let calls = Arc::new(AtomicUsize::new(0));
    let f = pool
        .submit(&REPORT_AND_SLEEP, (path.clone(), 1000))
        .unwrap();
    let c = calls.clone();
    f.add_done_callback(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let first = wait_for_file(Path::new(&path));
    let cut = first.split(' ').nth(1).unwrap().to_owned();
    let other = if cut == "a" { "b" } else { "a" };
    lab.cut(&cut).unwrap();
    // The cut host finishes the task but cannot say so; after the lease
    // the other host takes it over and its result completes the future.
    assert_eq!(f.result_timeout(PATIENCE), Ok(7));
    let task = format!("{}/1", pool.client_id());
    let done: Vec<(String, u32)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Completed {
                task: t,
                host,
                attempt,
                ..
            } if *t == task => Some((host.clone(), *attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(done, [(other.to_owned(), 2)]);
    // Back online, the cut host publishes its late result: dropped.
    lab.reconnect(&cut).unwrap();
    wait_until("the late result is dropped", || {
        pool.status()
            .is_ok_and(|s| s.late + pool.stats().duplicates == 1)
    });
    // A waiter may return before the completing thread has run the
    // callbacks: wait for them, then count exactly.
    wait_until("the callback ran", || calls.load(Ordering::SeqCst) >= 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the future completed once");
    let status = pool.status().unwrap();
    assert_eq!(status.retried, 1, "{status}");
    // The cut worker is alive again and serving.
    wait_until("the cut worker is back", || {
        pool.status()
            .is_ok_and(|s| s.workers.iter().filter(|w| w.alive).count() == 2)
    });
    let _ = std::fs::remove_dir_all(dir);
}
