//! bingfa-cluster's side of `benches/peers.sh`: trivial tasks per second and
//! single-task round-trip latency (p50, p99) through a `ClusterPool`, with
//! 1, 2 and 4 `bingfa-cluster worker` processes on loopback, and the same
//! through a fire-and-forget queue on the same Redis (a list: `RPUSH` /
//! `BLPOP`, no consumer group, no ack, no lease, no retry) for the cost of
//! at-least-once.
//!
//! ```text
//! cargo bench -p bingfa-cluster --bench throughput -- \
//!     --redis redis://127.0.0.1:PORT/ --worker-bin target/release/bingfa-cluster \
//!     [--tasks 5000] [--round-trips 500] [--workers 1,2,4]
//! ```
//!
//! Prints one line per measurement: `name<TAB>tasks/s<TAB>p50 us<TAB>p99 us`.
//! Without `--redis` (as `cargo bench` runs every bench) it says so and
//! exits.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bingfa_cluster::builtin::NOOP;
use bingfa_cluster::{ClusterPool, Status};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SAFETY: signalling our own child (SIGTERM: graceful stop).
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn start_workers(bin: &str, url: &str, pool: &str, n: usize) -> Workers {
    let children = (0..n)
        .map(|i| {
            Command::new(bin)
                .args([
                    "worker",
                    "--redis",
                    url,
                    "--pool",
                    pool,
                    "--concurrency",
                    "1",
                    "--quiet",
                ])
                .args(["--name", &format!("bench-{pool}-{i}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("cannot start a bingfa-cluster worker")
        })
        .collect();
    let w = Workers(children);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Status::fetch(url, pool).map_or(0, |s| s.workers.iter().filter(|w| w.alive).count()) < n {
        assert!(Instant::now() < deadline, "workers did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    w
}

/// Throughput and latency through a ClusterPool with `n` workers.
fn bingfa(url: &str, bin: &str, n: usize, tasks: u64, round_trips: usize) -> (f64, f64, f64) {
    let pool_name = format!("bench{n}-{}", std::process::id());
    let _workers = start_workers(bin, url, &pool_name, n);
    let pool = ClusterPool::builder(url)
        .pool_name(&pool_name)
        .connect()
        .unwrap();
    // Warm up.
    for f in (0..200)
        .map(|i| pool.submit(&NOOP, i).unwrap())
        .collect::<Vec<_>>()
    {
        f.result().unwrap();
    }
    let t = Instant::now();
    let futures: Vec<_> = (0..tasks).map(|i| pool.submit(&NOOP, i).unwrap()).collect();
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result(), Ok(i as u64));
    }
    let rate = tasks as f64 / t.elapsed().as_secs_f64();
    let mut lat: Vec<Duration> = (0..round_trips)
        .map(|i| {
            let t = Instant::now();
            assert_eq!(pool.submit(&NOOP, i as u64).unwrap().result(), Ok(i as u64));
            t.elapsed()
        })
        .collect();
    lat.sort();
    pool.shutdown(true, false);
    (rate, percentile(&lat, 0.5), percentile(&lat, 0.99))
}

/// The same through a bare list queue with `n` worker threads: nothing
/// acknowledged, nothing retried, a lost worker loses its task.
fn fire_and_forget(url: &str, n: usize, tasks: u64, round_trips: usize) -> (f64, f64, f64) {
    let key = format!("bench-ff-{}", std::process::id());
    let (tq, rq) = (format!("{key}:tasks"), format!("{key}:results"));
    let client = redis::Client::open(url).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let (client, tq, rq, stop) = (client.clone(), tq.clone(), rq.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut con = client.get_connection().unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let got: Option<(String, Vec<u8>)> = redis::cmd("BLPOP")
                        .arg(&tq)
                        .arg(0.2)
                        .query(&mut con)
                        .unwrap();
                    if let Some((_, task)) = got {
                        let x: u64 = bingfa_process::codec::decode_frame(&task).unwrap();
                        let mut out = Vec::new();
                        bingfa_process::codec::encode_frame(&x, &mut out, 1 << 20).unwrap();
                        redis::cmd("RPUSH")
                            .arg(&rq)
                            .arg(out)
                            .exec(&mut con)
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    let mut con = client.get_connection().unwrap();
    let frame = |x: u64| {
        let mut out = Vec::new();
        bingfa_process::codec::encode_frame(&x, &mut out, 1 << 20).unwrap();
        out
    };
    let t = Instant::now();
    let mut p = redis::pipe();
    for i in 0..tasks {
        p.cmd("RPUSH").arg(&tq).arg(frame(i)).ignore();
    }
    p.exec(&mut con).unwrap();
    let mut got = 0;
    while got < tasks {
        let (_, _r): (String, Vec<u8>) =
            redis::cmd("BLPOP").arg(&rq).arg(5).query(&mut con).unwrap();
        got += 1;
    }
    let rate = tasks as f64 / t.elapsed().as_secs_f64();
    let mut lat: Vec<Duration> = (0..round_trips)
        .map(|i| {
            let t = Instant::now();
            redis::cmd("RPUSH")
                .arg(&tq)
                .arg(frame(i as u64))
                .exec(&mut con)
                .unwrap();
            let _: (String, Vec<u8>) = redis::cmd("BLPOP").arg(&rq).arg(5).query(&mut con).unwrap();
            t.elapsed()
        })
        .collect();
    lat.sort();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    (rate, percentile(&lat, 0.5), percentile(&lat, 0.99))
}

fn main() {
    let Some(url) = arg("--redis") else {
        eprintln!(
            "throughput: run by benches/peers.sh (needs --redis URL --worker-bin PATH); skipped"
        );
        return;
    };
    let bin = arg("--worker-bin").unwrap_or_else(|| "target/release/bingfa-cluster".into());
    let tasks: u64 = arg("--tasks").map_or(5000, |s| s.parse().unwrap());
    let rts: usize = arg("--round-trips").map_or(500, |s| s.parse().unwrap());
    let counts: Vec<usize> = arg("--workers")
        .unwrap_or_else(|| "1,2,4".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    for &n in &counts {
        let (rate, p50, p99) = bingfa(&url, &bin, n, tasks, rts);
        let s = if n == 1 { "" } else { "s" };
        println!("bingfa-cluster, {n} worker{s} x 1 process\t{rate:.0}\t{p50:.0}\t{p99:.0}");
    }
    let (rate, p50, p99) = fire_and_forget(&url, 2, tasks, rts);
    println!("fire-and-forget list queue, 2 worker threads\t{rate:.0}\t{p50:.0}\t{p99:.0}");
}
