//! # Lesson 26: work across hosts, a lost host, the ticket race across hosts
//!
//! `cargo run --release -p bingfa --example cluster [-- --quick] [--trace FILE]`
//! (`cargo xtask demo cluster`)
//!
//! The course's ideal is "processes x threads x coroutines" on one machine
//! (seed 000). One step further is several machines, where Python users
//! reach for Celery:
//!
//! ```python
//! from celery import Celery
//! app = Celery('demo', broker='redis://...', backend='redis://...')
//! @app.task
//! def primes(n): ...
//! results = [primes.delay(n) for n in sizes]    # workers on other hosts run them
//! print([r.get() for r in results])
//! ```
//!
//! This demo starts Redis and three worker hosts (network namespaces when
//! it runs as root, else three process groups on this machine), runs
//! CPU-bound tasks through `bingfa::cluster::ClusterPool`, kills one host
//! in the middle, and shows which tasks were retried and that every result
//! arrived once. Then the course's ticket race (seed 003), with the buyers
//! on three hosts and the ticket count in Redis: no guard, a lock with a
//! lease, and a lock with a fencing token checked by the store.
//!
//! Without `redis-server` it says how to install it and exits; with
//! `BINGFA_REDIS_URL` set it uses that server instead of starting one.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bingfa::cluster::redis;
use bingfa::cluster::testing::{lab_support, Lab, RedisServer};
use bingfa::cluster::{ClusterPool, Event, Registry, Status, Task};
use bingfa::trace::{Event as TraceEvent, EventKind};
use common::{fail, Demo};

const USAGE: &str =
    "Three worker hosts on Redis; one is killed mid-run; then the ticket race across hosts.
Needs redis-server (apt-get install redis-server), or BINGFA_REDIS_URL for a running server.";

const PYTHON: &str = r#"
app = Celery('demo', broker='redis://...', backend='redis://...')
@app.task
def primes(n): return sum(1 for k in range(2, n) if is_prime(k))
results = [primes.delay(n) for n in sizes]      # run by workers on other hosts
print([r.get() for r in results])

# seed 003: the last ticket, now bought from three hosts
def buy(user):
    n = store.get('ticket_num'); time.sleep(0.1)
    if n > 0: store.set('ticket_num', n - 1); print(f'{user} 抢票成功!')
"#;

// ---- what the workers run ----

/// How many primes are below `n` (trial division: CPU-bound on purpose).
fn primes(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

/// One buyer's order: `(redis url, guard, buyer, think ms, lock lease ms)`.
type Order = (String, String, String, u64, u64);

/// What a buyer did.
type Outcome = (String, String, u32, bool, String);

fn host() -> String {
    std::env::var("BINGFA_HOST").unwrap_or_else(|_| "?".into())
}

/// The course's `buy`, against the ticket count in Redis, with a guard:
/// `none`, `lease` (SET NX PX: a lock that expires) or `fence` (the same
/// lock hands out a token, and the store refuses a write with a token older
/// than one it has seen). Returns `(buyer, host, pid, sold, what happened)`.
fn buy((url, guard, buyer, think_ms, lease_ms): Order) -> Outcome {
    let mut con = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("the buyer cannot reach Redis");
    let pid = std::process::id();
    let mut token = 0i64;
    if guard != "none" {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Take the lock if free; with `fence`, also the next token.
            let got: Option<i64> = redis::Script::new(
                "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then \
                   return redis.call('INCR', KEYS[2]) end return nil",
            )
            .key("demo:lock")
            .key("demo:fence:next")
            .arg(&buyer)
            .arg(lease_ms)
            .invoke(&mut con)
            .unwrap();
            if let Some(t) = got {
                token = t;
                break;
            }
            assert!(Instant::now() < deadline, "never got the lock");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let n: i64 = redis::cmd("GET")
        .arg("demo:tickets")
        .query(&mut con)
        .unwrap();
    // Tell the demo who holds the lock now (it may pause this process).
    let _: () = redis::cmd("RPUSH")
        .arg("demo:holding")
        .arg(format!("{pid} {buyer} {n} {token}"))
        .query(&mut con)
        .unwrap();
    std::thread::sleep(Duration::from_millis(think_ms));
    let (sold, what) = if n <= 0 {
        (false, format!("read {n}: sold out"))
    } else if guard == "fence" {
        let r: String = redis::Script::new(
            "local seen = tonumber(redis.call('GET', KEYS[1]) or '0') \
             if tonumber(ARGV[1]) < seen then return 'stale' end \
             redis.call('SET', KEYS[1], ARGV[1]) \
             redis.call('SET', KEYS[2], ARGV[2]) \
             redis.call('RPUSH', KEYS[3], ARGV[3]) return 'ok'",
        )
        .key("demo:fence:seen")
        .key("demo:tickets")
        .key("demo:sales")
        .arg(token)
        .arg(n - 1)
        .arg(&buyer)
        .invoke(&mut con)
        .unwrap();
        if r == "ok" {
            (
                true,
                format!("read {n}, wrote {} with token {token}: sold", n - 1),
            )
        } else {
            (false, format!("read {n}, wrote with token {token}: refused by the store (it has seen a newer token)"))
        }
    } else {
        let _: () = redis::cmd("SET")
            .arg("demo:tickets")
            .arg(n - 1)
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("RPUSH")
            .arg("demo:sales")
            .arg(&buyer)
            .query(&mut con)
            .unwrap();
        (true, format!("read {n}, wrote {}: sold", n - 1))
    };
    if guard != "none" {
        // Release only our own lock (it may have expired and be another's).
        let _: i64 = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        )
        .key("demo:lock")
        .arg(&buyer)
        .invoke(&mut con)
        .unwrap();
    }
    (buyer, host(), pid, sold, what)
}

static PRIMES: Task<u64, u64> = Task::new("demo.primes", primes).with_version("1");
static BUY: Task<Order, Outcome> = Task::new("demo.buy", buy).with_version("1");

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add(&PRIMES).add(&BUY);
    r
}

// ---- the hosts ----

/// Where the hosts are: namespaces (root) or process groups.
enum Hosts {
    Lab(Lab),
    Local,
}

struct Cluster {
    hosts: Hosts,
    /// The URL the workers use.
    worker_url: String,
    /// The URL this process uses.
    url: String,
    workers: BTreeMap<String, Child>,
    _server: Option<RedisServer>,
}

const POOL: &str = "demo";
const LEASE_MS: u64 = 1500;

impl Cluster {
    fn start_worker(&mut self, name: &str, concurrency: usize, prefetch: usize) {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match &self.hosts {
            Hosts::Lab(lab) => lab.command(name, &exe),
            Hosts::Local => {
                let mut c = Command::new(&exe);
                // A process group per host, so that the whole host can be
                // killed at once.
                std::os::unix::process::CommandExt::process_group(&mut c, 0);
                c
            }
        };
        cmd.args([
            "worker",
            "--redis",
            &self.worker_url,
            "--pool",
            POOL,
            "--quiet",
        ])
        .args(["--host", name, "--name", &format!("w-{name}")])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--prefetch", &prefetch.to_string()])
        .args(["--lease-ms", &LEASE_MS.to_string()])
        .env("BINGFA_HOST", name)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
        let child = cmd.spawn().expect("cannot start a worker");
        self.workers.insert(name.to_owned(), child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Status::fetch(&self.url, POOL).is_ok_and(|s| {
            s.workers
                .iter()
                .any(|w| w.id == format!("w-{name}") && w.alive)
        }) {
            if Instant::now() > deadline {
                fail(
                    "cluster",
                    &format!("the worker on host {name} did not start"),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills every process of host `name`.
    fn kill_host(&mut self, name: &str) {
        match &self.hosts {
            Hosts::Lab(lab) => lab.kill_host(name),
            Hosts::Local => {
                if let Some(c) = self.workers.get(name) {
                    // SAFETY: signalling our own child's process group.
                    unsafe { libc::kill(-(c.id() as libc::pid_t), libc::SIGKILL) };
                }
            }
        }
        if let Some(mut c) = self.workers.remove(name) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn stop_all(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.workers) {
            // SAFETY: signalling our own child: a graceful stop.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.workers) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_cluster(demo: &Demo) -> Option<Cluster> {
    if let Ok(url) = std::env::var("BINGFA_REDIS_URL") {
        demo.say(&format!(
            "Using the Redis server at {url} (BINGFA_REDIS_URL); the three hosts are process groups on this machine."
        ));
        return Some(Cluster {
            hosts: Hosts::Local,
            worker_url: url.clone(),
            url,
            workers: BTreeMap::new(),
            _server: None,
        });
    }
    if bingfa::cluster::testing::find_redis_server().is_none() {
        demo.say(&format!(
            "This lesson needs Redis: {}.\nOr point it at a running server: BINGFA_REDIS_URL=redis://host:6379/ cargo xtask demo cluster",
            bingfa::cluster::testing::INSTALL_HINT
        ));
        return None;
    }
    match lab_support() {
        Ok(()) => {
            let lab = Lab::new(&["a", "b", "c"]).expect("cannot make the network namespaces");
            let server = RedisServer::start_in_netns(lab.hub(), lab.hub_addr())
                .expect("redis-server did not start");
            demo.say(&format!(
                "Three hosts a, b, c are network namespaces ({}), linked to a hub where redis-server listens on {}:6379 (pid {}, append-only file on).",
                lab.hosts().iter().map(|h| format!("{} {}", h.name, h.addr)).collect::<Vec<_>>().join(", "),
                lab.hub_addr(),
                server.pid().unwrap_or(0)
            ));
            Some(Cluster {
                worker_url: format!("redis://{}:6379/", lab.hub_addr()),
                url: server.url().to_owned(),
                hosts: Hosts::Lab(lab),
                workers: BTreeMap::new(),
                _server: Some(server),
            })
        }
        Err(why) => {
            let server = RedisServer::start().expect("redis-server did not start");
            demo.say(&format!(
                "Network namespaces are not available ({why}), so the three hosts a, b, c are process groups on this machine; redis-server listens on {} (pid {}).",
                server.url(),
                server.pid().unwrap_or(0)
            ));
            Some(Cluster {
                worker_url: server.url().to_owned(),
                url: server.url().to_owned(),
                hosts: Hosts::Local,
                workers: BTreeMap::new(),
                _server: Some(server),
            })
        }
    }
}

/// Forgets what an earlier run left in the demo's pool (its own keys only:
/// `bingfa:demo:*` and `demo:*`), so that the counters are this run's.
fn clean(url: &str) {
    let Ok(mut con) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
        return;
    };
    for pattern in ["bingfa:demo:*", "demo:*"] {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut con)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query(&mut con);
        }
    }
}

fn main() -> ExitCode {
    // First thing, as every program that starts processes: a worker's
    // processes then come from a fork server (a fresh run of this demo).
    bingfa::process::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        return bingfa::cluster::cli::run(&args, registry());
    }
    let mut demo = Demo::from_args("cluster", USAGE);
    demo.intro(
        "Lesson 26: work across hosts, a lost host, the ticket race across hosts",
        PYTHON,
    );
    let Some(mut cluster) = start_cluster(&demo) else {
        return ExitCode::SUCCESS;
    };
    clean(&cluster.url);
    lost_host(&mut demo, &mut cluster);
    tickets(&mut demo, &mut cluster);
    cluster.stop_all();
    demo.finish();
    ExitCode::SUCCESS
}

fn ms(t: Duration) -> String {
    format!("{:.0} ms", t.as_secs_f64() * 1e3)
}

// ---- part 1: CPU-bound tasks, one host killed ----

fn lost_host(demo: &mut Demo, cluster: &mut Cluster) {
    demo.section("CPU-bound tasks on three hosts; host b is killed mid-run");
    for h in ["a", "b", "c"] {
        cluster.start_worker(h, 2, 0);
    }
    let sizes: Vec<u64> = (0..24)
        .map(|i| demo.pick(150_000, 40_000) + i * 1_000)
        .collect();
    demo.say(&format!(
        "Each host runs a worker with 2 processes. 24 tasks count the primes below {} to {}.",
        sizes[0], sizes[23]
    ));
    let events: Arc<Mutex<Vec<(Instant, Event)>>> = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    let pool = ClusterPool::builder(&cluster.url)
        .pool_name(POOL)
        .lease(Duration::from_millis(LEASE_MS))
        .on_event(move |ev| e.lock().unwrap().push((Instant::now(), ev.clone())))
        .connect()
        .expect("cannot connect");
    let t0 = Instant::now();
    let t0_ms = now_ms();
    let sizes: Vec<u64> = (0..24)
        .map(|i| demo.pick(150_000, 40_000) + i * 1_000)
        .collect();
    let futures: Vec<_> = sizes
        .iter()
        .map(|&n| pool.submit(&PRIMES, n).unwrap())
        .collect();
    // Kill b once a third of the tasks are done and b is running some.
    while futures.iter().filter(|f| f.is_done()).count() < 8 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill_at = t0.elapsed();
    let done_at_kill = futures.iter().filter(|f| f.is_done()).count();
    cluster.kill_host("b");
    demo.say(&format!(
        "At {}: {} tasks done; host b is killed (every process in it).",
        ms(kill_at),
        done_at_kill,
    ));
    let results: Vec<u64> = futures
        .iter()
        .map(|f| f.result().expect("a task failed"))
        .collect();
    let took = t0.elapsed();
    let evs = events.lock().unwrap().clone();
    // What happened to each task.
    let mut completions: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
    let mut starts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, e) in &evs {
        match e {
            Event::Completed {
                task,
                host,
                attempt,
                ..
            } => completions
                .entry(task.clone())
                .or_default()
                .push((host.clone(), *attempt)),
            Event::Started { task, host, .. } => {
                starts.entry(task.clone()).or_default().push(host.clone())
            }
            _ => {}
        }
    }
    let retried: Vec<(String, Vec<String>, String)> = completions
        .iter()
        .filter(|(_, c)| c[0].1 > 1)
        .map(|(t, c)| {
            (
                t.clone(),
                starts.get(t).cloned().unwrap_or_default(),
                c[0].0.clone(),
            )
        })
        .collect();
    demo.say(&format!("All 24 futures resolved in {}.", ms(took)));
    let held_by_b = running_on(&evs, "b");
    demo.say(&format!(
        "Host b held {} when it died (started there, never finished there).",
        if held_by_b.is_empty() {
            "no task".to_owned()
        } else {
            held_by_b.join(" and ")
        }
    ));
    let retried_names: Vec<String> = retried
        .iter()
        .map(|(t, _, _)| format!("task {}", short(t)))
        .collect();
    let mut a = retried_names.clone();
    let mut b = held_by_b.clone();
    a.sort();
    b.sort();
    if retried.is_empty() {
        demo.say("No task was retried.");
    } else {
        demo.say(&format!(
            "{} retried{}:",
            if retried.len() == 1 {
                "1 task was".to_owned()
            } else {
                format!("{} tasks were", retried.len())
            },
            match (a == b, retried.len()) {
                (true, 1) => ", exactly the one host b held",
                (true, _) => ", exactly the ones host b held",
                _ => "",
            }
        ));
        for (t, hosts, last) in &retried {
            demo.say(&format!(
                "  task {} started on {}, finished on host {last}",
                short(t),
                hosts
                    .iter()
                    .map(|h| format!("host {h}"))
                    .collect::<Vec<_>>()
                    .join(", then ")
            ));
        }
    }
    let once = completions.values().all(|c| c.len() == 1) && completions.len() == 24;
    let right = sizes
        .iter()
        .zip(&results)
        .all(|(&n, &r)| r == primes_sieve(n));
    let stats = pool.stats();
    let status = pool.status().unwrap();
    demo.say(&format!(
        "Every result arrived once: {} (24 futures, {} completions, {} duplicate results dropped at the client, {} at the server); every count checked against a sieve here: {}.",
        if once { "yes" } else { "NO" },
        completions.values().map(Vec::len).sum::<usize>(),
        stats.duplicates,
        status.late,
        if right { "all correct" } else { "WRONG" }
    ));
    demo.say(&format!(
        "The pool's status now:\n{}",
        status
            .to_string()
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    ));
    // The timeline: one lane per host and process slot.
    let mut tl = Vec::new();
    // The lanes are drawn from the results (which host ran what, when), in
    // this process's lane group: the hosts are named by their lanes.
    let here = std::process::id();
    let mut lanes: BTreeMap<String, Vec<u64>> = BTreeMap::new(); // host -> end times of its slots
    let mut spans: Vec<(u64, u64, String, String)> = Vec::new();
    for (_, e) in &evs {
        if let Event::Completed {
            task,
            host,
            started_ms,
            finished_ms,
            ..
        } = e
        {
            spans.push((*started_ms, *finished_ms, host.clone(), short(task)));
        }
    }
    let kill_ms = t0_ms + kill_at.as_millis() as u64;
    for (t, hosts, _) in &retried {
        if let Some(first) = hosts.first() {
            let started = evs.iter().find_map(|(_, e)| match e {
                Event::Started {
                    task, started_ms, ..
                } if task == t => Some(*started_ms),
                _ => None,
            });
            if let Some(s) = started {
                spans.push((s, kill_ms, first.clone(), format!("{} (lost)", short(t))));
            }
        }
    }
    spans.sort();
    for (s, f, host, label) in spans {
        let slots = lanes.entry(host.clone()).or_default();
        let slot = match slots.iter().position(|&end| end <= s) {
            Some(i) => i,
            None => {
                slots.push(0);
                slots.len() - 1
            }
        };
        slots[slot] = f;
        let lane: Arc<str> = Arc::from(format!("host {host} #{}", slot + 1));
        let at = |ms: u64| Duration::from_millis(ms.saturating_sub(t0_ms));
        tl.push(TraceEvent {
            t: at(s),
            pid: here,
            lane: lane.clone(),
            kind: EventKind::Begin,
            object: Arc::from(label.as_str()),
        });
        tl.push(TraceEvent {
            t: at(f),
            pid: here,
            lane,
            kind: EventKind::End,
            object: Arc::from(label.as_str()),
        });
    }
    tl.push(TraceEvent {
        t: kill_at,
        pid: here,
        lane: Arc::from("host b #1"),
        kind: EventKind::Mark,
        object: Arc::from("host b killed"),
    });
    tl.sort_by_key(|e| e.t);
    demo.show_events("tasks on hosts (the lost ones end where b died)", tl);
    pool.shutdown(true, false);
}

/// The tasks started on `host` and not completed, as events tell.
fn running_on(evs: &[(Instant, Event)], host: &str) -> Vec<String> {
    let mut running: Vec<String> = Vec::new();
    for (_, e) in evs {
        match e {
            Event::Started { task, host: h, .. } if h == host => running.push(short(task)),
            Event::Completed { task, host: h, .. } if h == host => {
                running.retain(|t| *t != short(task))
            }
            _ => {}
        }
    }
    running.into_iter().map(|t| format!("task {t}")).collect()
}

fn short(task: &str) -> String {
    task.rsplit('/').next().unwrap_or(task).to_owned()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The number of primes below `n`, by a sieve (to check the workers).
fn primes_sieve(n: u64) -> u64 {
    let n = n as usize;
    let mut composite = vec![false; n.max(2)];
    let mut count = 0;
    for k in 2..n {
        if !composite[k] {
            count += 1;
            let mut m = k * k;
            while m < n {
                composite[m] = true;
                m += k;
            }
        }
    }
    count
}

// ---- part 2: the ticket race across hosts ----

fn tickets(demo: &mut Demo, cluster: &mut Cluster) {
    demo.section("The last ticket, bought from three hosts");
    cluster.stop_all();
    for h in ["a", "b", "c"] {
        cluster.start_worker(h, 1, 0);
    }
    demo.say("Host b is back. Each host now runs one buyer at a time; the ticket count lives in Redis (`demo:tickets` = 1).");
    let pool = ClusterPool::builder(&cluster.url)
        .pool_name(POOL)
        .connect()
        .expect("cannot connect");
    let mut con = redis::Client::open(cluster.url.as_str())
        .and_then(|c| c.get_connection())
        .expect("cannot connect");
    // The think time is shorter than the lease (a holder that is not
    // paused finishes in time), and long enough for this demo to pause the
    // first holder inside it; `--quick` keeps them.
    let think = 300;
    let lease = 400;
    for guard in ["none", "lease", "fence"] {
        let title = match guard {
            "none" => "no guard: read, think, write",
            "lease" => "a lock with a lease (SET NX PX); the first holder is paused (SIGSTOP) past its lease",
            _ => "the same lock, plus a fencing token that the store checks; the first holder is paused again",
        };
        demo.say(&format!("\n{title}"));
        let _: () = redis::pipe()
            .cmd("SET")
            .arg("demo:tickets")
            .arg(1)
            .ignore()
            .cmd("DEL")
            .arg("demo:lock")
            .arg("demo:sales")
            .arg("demo:holding")
            .arg("demo:fence:next")
            .arg("demo:fence:seen")
            .ignore()
            .query(&mut con)
            .unwrap();
        let futures: Vec<_> = ["buyer-1", "buyer-2", "buyer-3"]
            .iter()
            .map(|b| {
                pool.submit(
                    &BUY,
                    (
                        cluster.worker_url.clone(),
                        guard.to_owned(),
                        (*b).to_owned(),
                        think,
                        lease,
                    ),
                )
                .unwrap()
            })
            .collect();
        let mut paused = None;
        if guard != "none" {
            // The first holder: pause it in its think time, past the lease.
            let (_, first): (String, String) = redis::cmd("BLPOP")
                .arg("demo:holding")
                .arg(30)
                .query(&mut con)
                .unwrap();
            let f: Vec<&str> = first.split(' ').collect();
            let pid: i32 = f[0].parse().unwrap();
            // SAFETY: pausing a process of this demo's own workers.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            let t = Instant::now();
            demo.say(&format!(
                "  {} took the lock{}, read {} ticket(s), and is paused now (pid {pid}) while it thinks.",
                f[1],
                if guard == "fence" { format!(" with token {}", f[3]) } else { String::new() },
                f[2]
            ));
            // Wait until both other buyers are done, then wake it.
            let others_done = || futures.iter().filter(|x| x.is_done()).count() >= 2;
            let deadline = Instant::now() + Duration::from_secs(30);
            while !others_done() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            demo.say(&format!(
                "  Its lease ({lease} ms) ran out meanwhile; the other two buyers finished; after {} it wakes up, still believing it holds the lock.",
                ms(t.elapsed())
            ));
            paused = Some(f[1].to_owned());
        }
        let mut outcomes: Vec<Outcome> = futures
            .iter()
            .map(|f| f.result().expect("a buyer failed"))
            .collect();
        outcomes.sort_by(|a, b| a.0.cmp(&b.0));
        for (buyer, host, pid, _, what) in &outcomes {
            demo.say(&format!(
                "  {buyer} on host {host} (pid {pid}){}: {what}",
                if paused.as_deref() == Some(buyer.as_str()) {
                    ", the paused one"
                } else {
                    ""
                }
            ));
        }
        let sales: Vec<String> = redis::cmd("LRANGE")
            .arg("demo:sales")
            .arg(0)
            .arg(-1)
            .query(&mut con)
            .unwrap();
        let left: i64 = redis::cmd("GET")
            .arg("demo:tickets")
            .query(&mut con)
            .unwrap();
        let oversold = sales.len() as i64 - 1;
        demo.say(&format!(
            "  => {} sale(s) of 1 ticket, `demo:tickets` = {left}: {}",
            sales.len(),
            if oversold > 0 {
                format!("OVERSOLD by {oversold}")
            } else if sales.len() == 1 {
                "exactly one buyer got it".to_owned()
            } else {
                "nobody got it".to_owned()
            }
        ));
        match guard {
            "none" if oversold > 0 => demo.say("  Every buyer read the count during the others' think time, as in the course."),
            "lease" if oversold > 0 => demo.say(
                "  The lock's lease kept a lost holder from blocking the others forever, but a holder that is only slow (paused, swapping, cut off) wakes up and writes with what it read before: the lock alone cannot stop it.",
            ),
            "fence" if oversold == 0 => demo.say(
                "  Each holder got a larger token than the last; the store remembers the largest it accepted and refused the paused holder's older one. The fix lives in the store, not in the lock.",
            ),
            _ => demo.say("  (This run did not show the usual outcome: the timing differed on this machine.)"),
        }
    }
    pool.shutdown(true, false);
}
