//! [`Status`]: what `bingfa-cluster status` prints.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use redis::Value;

use crate::conn::Conn;
use crate::error::Error;
use crate::wire::{int_of, string_of, Keys, GROUP};
use crate::worker::DEFAULT_LEASE;

/// One worker, as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStatus {
    /// Its id (consumer name).
    pub id: String,
    /// Its host.
    pub host: String,
    /// Its agent's pid, on its host.
    pub pid: u32,
    /// Its concurrency (processes).
    pub concurrency: u32,
    /// Tasks it held at its last heartbeat.
    pub held: u32,
    /// Tasks it has run.
    pub ran: u64,
    /// `"running"` or `"stopping"`.
    pub state: String,
    /// How long ago its last heartbeat was (the server's clock).
    pub last_beat: Duration,
    /// Whether that is within the lease: a worker silent for longer is
    /// lost, and its tasks are taken over.
    pub alive: bool,
}

/// A pool's state, read from Redis: workers and hosts, the queue, and the
/// counters that every worker adds to.
///
/// Python: `celery inspect active` / `celery status`, Dask's dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The pool's name.
    pub pool: String,
    /// The workers that sent a heartbeat lately (lost ones included, with
    /// `alive == false`, until they are forgotten).
    pub workers: Vec<WorkerStatus>,
    /// The hosts of the live workers.
    pub hosts: Vec<String>,
    /// Tasks held by a worker (read, not finished).
    pub in_flight: u64,
    /// Tasks waiting in the stream for a worker.
    pub pending: u64,
    /// Tasks taken over from a lost worker and started again.
    pub retried: u64,
    /// Entries that could not run (corrupt, unknown function, version
    /// mismatch, undecodable argument, retries exhausted).
    pub dead_letter: u64,
    /// Tasks finished with a value.
    pub done: u64,
    /// Tasks finished with an error.
    pub failed: u64,
    /// Results dropped at the server because the task had already been
    /// finished by another worker.
    pub late: u64,
    /// Tasks dropped unrun because their client cancelled them.
    pub cancelled: u64,
    /// The lease in force.
    pub lease: Duration,
}

impl Status {
    /// Reads the status of pool `pool` from Redis at `url`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Connect`].
    pub fn fetch(url: &str, pool: &str) -> Result<Status, Error> {
        let keys = Keys::new(pool);
        let mut conn = Conn::open(url, "status", None, Duration::from_secs(5), None)?;
        let config = format!("{}:config", keys.prefix);
        let r = conn.call(&|| true, |c| {
            redis::pipe()
                .cmd("TIME")
                .cmd("HGETALL")
                .arg(&keys.workers)
                .cmd("HGETALL")
                .arg(&keys.stats)
                .cmd("XLEN")
                .arg(&keys.tasks)
                .cmd("XLEN")
                .arg(&keys.dead)
                .cmd("HGET")
                .arg(&config)
                .arg("lease_ms")
                .cmd("EXISTS")
                .arg(&keys.tasks)
                .query::<Vec<Value>>(c)
        });
        let v = r.map_err(|e| Error::Connect {
            url: conn.url().to_owned(),
            reason: format!("{e:?}"),
        })?;
        let exists = int_of(&v[6]) == Some(1);
        let in_flight = if exists {
            let r = conn.call(&|| true, |c| {
                redis::cmd("XPENDING")
                    .arg(&keys.tasks)
                    .arg(GROUP)
                    .query::<Value>(c)
            });
            match r {
                Ok(Value::Array(a)) => a.first().and_then(int_of).unwrap_or(0).max(0) as u64,
                _ => 0,
            }
        } else {
            0
        };
        let now_ms = match &v[0] {
            Value::Array(t) if t.len() == 2 => {
                int_of(&t[0]).unwrap_or(0) as u64 * 1000 + int_of(&t[1]).unwrap_or(0) as u64 / 1000
            }
            _ => 0,
        };
        let lease = Duration::from_millis(
            int_of(&v[5])
                .map(|l| l as u64)
                .unwrap_or(DEFAULT_LEASE.as_millis() as u64),
        );
        let pairs = |v: &Value| -> Vec<(String, String)> {
            match v {
                Value::Array(a) => a
                    .chunks_exact(2)
                    .filter_map(|p| Some((string_of(&p[0])?, string_of(&p[1])?)))
                    .collect(),
                Value::Map(m) => m
                    .iter()
                    .filter_map(|(k, v)| Some((string_of(k)?, string_of(v)?)))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut workers = Vec::new();
        for (id, value) in pairs(&v[1]) {
            let (beat, json) = value.split_once('|').unwrap_or(("0", "{}"));
            let info: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
            let age = now_ms.saturating_sub(beat.parse().unwrap_or(0));
            let last_beat = Duration::from_millis(age);
            workers.push(WorkerStatus {
                id,
                host: info["host"].as_str().unwrap_or("?").to_owned(),
                pid: info["pid"].as_u64().unwrap_or(0) as u32,
                concurrency: info["concurrency"].as_u64().unwrap_or(0) as u32,
                held: info["held"].as_u64().unwrap_or(0) as u32,
                ran: info["ran"].as_u64().unwrap_or(0),
                state: info["state"].as_str().unwrap_or("?").to_owned(),
                last_beat,
                alive: last_beat <= lease,
            });
        }
        workers.sort_by(|a, b| (&a.host, &a.id).cmp(&(&b.host, &b.id)));
        let hosts: BTreeSet<String> = workers
            .iter()
            .filter(|w| w.alive)
            .map(|w| w.host.clone())
            .collect();
        let stats = pairs(&v[2]);
        let stat = |name: &str| -> u64 {
            stats
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0)
        };
        let len = int_of(&v[3]).unwrap_or(0).max(0) as u64;
        Ok(Status {
            pool: pool.to_owned(),
            workers,
            hosts: hosts.into_iter().collect(),
            in_flight,
            pending: len.saturating_sub(in_flight),
            retried: stat("retried"),
            dead_letter: int_of(&v[4]).unwrap_or(0).max(0) as u64,
            done: stat("done"),
            failed: stat("failed"),
            late: stat("late"),
            cancelled: stat("cancelled"),
            lease,
        })
    }
}

impl fmt::Display for Status {
    /// The table `bingfa-cluster status` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alive = self.workers.iter().filter(|w| w.alive).count();
        writeln!(
            f,
            "pool {}: {alive} workers on {} hosts (lease {:?})",
            self.pool,
            self.hosts.len(),
            self.lease
        )?;
        writeln!(
            f,
            "  in flight {}  pending {}  retried {}  dead letter {}",
            self.in_flight, self.pending, self.retried, self.dead_letter
        )?;
        writeln!(
            f,
            "  done {}  failed {}  late results dropped {}  cancelled {}",
            self.done, self.failed, self.late, self.cancelled
        )?;
        if !self.workers.is_empty() {
            writeln!(
                f,
                "  {:<28} {:<16} {:>8} {:>5} {:>5} {:>8}  last beat",
                "worker", "host", "pid", "procs", "held", "ran"
            )?;
        }
        for w in &self.workers {
            writeln!(
                f,
                "  {:<28} {:<16} {:>8} {:>5} {:>5} {:>8}  {:.1}s ago{}",
                w.id,
                w.host,
                w.pid,
                w.concurrency,
                w.held,
                w.ran,
                w.last_beat.as_secs_f64(),
                if w.alive {
                    if w.state == "stopping" {
                        " (stopping)"
                    } else {
                        ""
                    }
                } else {
                    " (lost)"
                }
            )?;
        }
        Ok(())
    }
}
