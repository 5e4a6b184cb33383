//! What travels through Redis: the keys of a pool, the fields of a task
//! entry and of a result entry, the failures a worker reports, and a
//! tolerant reader of stream replies (a corrupt entry is one bad entry,
//! never a failed read of the whole batch).
//!
//! # Keys (pool name `P`)
//!
//! ```text
//! bingfa:P:tasks            stream of tasks; consumer group "workers"
//! bingfa:P:results:CLIENT   stream of one client's start notices and results
//! bingfa:P:attempts:TASK    list of "worker@host", one per start (deleted when done)
//! bingfa:P:cancel:TASK      set when the client cancelled the task
//! bingfa:P:workers          hash worker id -> JSON (host, pid, beat time, ...)
//! bingfa:P:stats            hash of counters (retried, dead, late, ...)
//! bingfa:P:dead             stream of dead letters (entries that could not run)
//! ```

use redis::Value;
use serde::{Deserialize, Serialize};

/// The consumer group of the workers.
pub(crate) const GROUP: &str = "workers";

/// The keys of one pool.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) prefix: String,
    pub(crate) tasks: String,
    pub(crate) workers: String,
    pub(crate) stats: String,
    pub(crate) dead: String,
}

impl Keys {
    pub(crate) fn new(pool: &str) -> Keys {
        let prefix = format!("bingfa:{pool}");
        Keys {
            tasks: format!("{prefix}:tasks"),
            workers: format!("{prefix}:workers"),
            stats: format!("{prefix}:stats"),
            dead: format!("{prefix}:dead"),
            prefix,
        }
    }

    pub(crate) fn results(&self, client: &str) -> String {
        format!("{}:results:{client}", self.prefix)
    }

    pub(crate) fn attempts(&self, task: &str) -> String {
        format!("{}:attempts:{task}", self.prefix)
    }

    pub(crate) fn cancel(&self, task: &str) -> String {
        format!("{}:cancel:{task}", self.prefix)
    }
}

/// Whether `s` may be a pool name, a client id or a worker id: 1 to 64 of
/// `[A-Za-z0-9._-]` (they become parts of keys and of task ids).
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A task id is `CLIENT/SEQ`: the client's results stream is the reply
/// address. Returns the client id if the task id is well formed.
pub(crate) fn client_of(task_id: &str) -> Option<&str> {
    let (client, seq) = task_id.rsplit_once('/')?;
    (valid_name(client) && !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()))
        .then_some(client)
}

/// One stream entry as read, fields uninterpreted.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub(crate) id: String,
    pub(crate) fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// Set when the entry itself could not be read (odd field list, a
    /// deleted entry, ...).
    pub(crate) malformed: Option<String>,
}

impl RawEntry {
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::Okay => Some(b"OK".to_vec()),
        _ => None,
    }
}

pub(crate) fn string_of(v: &Value) -> Option<String> {
    bytes_of(v).and_then(|b| String::from_utf8(b).ok())
}

pub(crate) fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => string_of(other)?.parse().ok(),
    }
}

/// The entries of one `[id, [field, value, ...]]` list.
pub(crate) fn entries_of(v: &Value) -> Vec<RawEntry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let id = pair.first().and_then(string_of)?;
            let mut entry = RawEntry {
                id,
                fields: Vec::new(),
                malformed: None,
            };
            match pair.get(1) {
                Some(Value::Array(kv)) if kv.len() % 2 == 0 => {
                    for p in kv.chunks_exact(2) {
                        match (bytes_of(&p[0]), bytes_of(&p[1])) {
                            (Some(k), Some(v)) => entry.fields.push((k, v)),
                            _ => entry.malformed = Some("a field that is not a string".into()),
                        }
                    }
                }
                Some(Value::Array(_)) => {
                    entry.malformed = Some("an odd number of field items".into())
                }
                Some(Value::Nil) | None => {
                    entry.malformed = Some("the entry was deleted from the stream".into())
                }
                Some(_) => entry.malformed = Some("fields that are not a list".into()),
            }
            Some(entry)
        })
        .collect()
}

/// The entries of an `XREAD`/`XREADGROUP` reply (one stream), RESP2 or
/// RESP3 shaped; `Nil` (timeout) gives none.
pub(crate) fn read_reply(v: &Value) -> Vec<RawEntry> {
    match v {
        Value::Array(streams) => streams
            .iter()
            .flat_map(|s| match s {
                Value::Array(pair) if pair.len() == 2 => entries_of(&pair[1]),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams.iter().flat_map(|(_, e)| entries_of(e)).collect(),
        _ => Vec::new(),
    }
}

/// The task a client asked for, as read by a worker.
#[derive(Debug, Clone)]
pub(crate) struct TaskMsg {
    pub(crate) task_id: String,
    pub(crate) client: String,
    pub(crate) function: String,
    pub(crate) version: String,
    pub(crate) signature: String,
    pub(crate) chunk: bool,
    pub(crate) retries: u32,
    pub(crate) args: Vec<u8>,
}

/// Why an entry is not a task. With `reply`, the entry named a task and a
/// client: that one task fails with the reason; without, the entry goes to
/// the dead letters only.
#[derive(Debug, Clone)]
pub(crate) struct BadEntry {
    pub(crate) reply: Option<(String, String)>,
    pub(crate) reason: String,
}

impl TaskMsg {
    /// Reads a task entry; every field is checked, and the argument's
    /// frame (length and checksum) too, so that a truncated or damaged
    /// entry fails here, in the agent, with a message naming the field.
    pub(crate) fn decode(e: &RawEntry) -> Result<TaskMsg, BadEntry> {
        let task_id = e.text("id").map(str::to_owned);
        let reply = task_id
            .as_deref()
            .and_then(|t| client_of(t).map(|c| (t.to_owned(), c.to_owned())));
        let bad = |reason: String| BadEntry {
            reply: reply.clone(),
            reason: format!("corrupt task entry {}: {reason}", e.id),
        };
        if let Some(m) = &e.malformed {
            return Err(bad(m.clone()));
        }
        let Some((task_id, client)) = reply.clone() else {
            return Err(bad(match e.get("id") {
                None => "no `id` field".into(),
                Some(_) => "an `id` that is not CLIENT/SEQ".into(),
            }));
        };
        let text = |name: &str| -> Result<String, BadEntry> {
            match e.get(name) {
                None => Err(bad(format!("no `{name}` field"))),
                Some(v) => std::str::from_utf8(v)
                    .map(str::to_owned)
                    .map_err(|_| bad(format!("the `{name}` field is not UTF-8"))),
            }
        };
        let function = text("fn")?;
        let version = text("ver")?;
        let signature = text("sig")?;
        let chunk = match text("kind")?.as_str() {
            "one" => false,
            "chunk" => true,
            other => return Err(bad(format!("unknown kind {other:?}"))),
        };
        let retries = text("retries")?
            .parse()
            .map_err(|_| bad("the `retries` field is not a number".into()))?;
        let args = e
            .get("args")
            .ok_or_else(|| bad("no `args` field".into()))?
            .to_vec();
        if let Err(err) = bingfa_process::codec::check_frame(&args) {
            return Err(BadEntry {
                reply: reply.clone(),
                reason: format!(
                    "the argument of task {task_id} ({function}) is damaged ({} bytes): {err}",
                    args.len()
                ),
            });
        }
        Ok(TaskMsg {
            task_id,
            client,
            function,
            version,
            signature,
            chunk,
            retries,
            args,
        })
    }
}

/// One attempt at a task: the worker that took it and its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The worker's id.
    pub worker: String,
    /// The worker's host.
    pub host: String,
}

impl Attempt {
    /// Parses `worker@host` (as kept in the attempts list).
    pub(crate) fn parse(s: &str) -> Attempt {
        match s.rsplit_once('@') {
            Some((w, h)) => Attempt {
                worker: w.to_owned(),
                host: h.to_owned(),
            },
            None => Attempt {
                worker: s.to_owned(),
                host: "?".to_owned(),
            },
        }
    }
}

/// Why a worker could not give a task a value; travels as JSON in a result
/// entry (`k` = `err`) and becomes the future's `bingfa_pool::Error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// The function panicked.
    Panicked { message: String },
    /// The worker process running it died (not the agent): by a signal,
    /// or by exiting with a code (absent in entries of older workers).
    ProcessDied {
        pid: u32,
        signal: Option<i32>,
        #[serde(default)]
        exit_code: Option<i32>,
    },
    /// The argument did not decode as the function's argument.
    BadPayload { message: String },
    /// The entry was damaged.
    Corrupt { message: String },
    /// No such function on that worker.
    UnknownFunction {
        function: String,
        version: String,
        worker: String,
        host: String,
        known: Vec<String>,
    },
    /// Another version or signature on that worker.
    VersionMismatch {
        function: String,
        wanted_version: String,
        wanted_signature: String,
        worker_version: String,
        worker_signature: String,
        worker: String,
        host: String,
    },
    /// Every attempt's worker was lost.
    Lost {
        function: String,
        retries: u32,
        attempts: Vec<Attempt>,
    },
}

/// The `kind` of `bingfa_pool::Error::Remote` for each remote reason.
pub mod kind {
    /// Every worker that took the task was lost (died, cut off, stopped
    /// past its lease) and the retry limit is reached.
    pub const LOST: &str = "lost";
    /// The worker has no function of that name.
    pub const UNKNOWN_FUNCTION: &str = "unknown-function";
    /// The worker has the function at another version or signature.
    pub const VERSION_MISMATCH: &str = "version-mismatch";
    /// The task's entry was damaged in the stream.
    pub const CORRUPT: &str = "corrupt";
    /// Redis refused the task (e.g. out of memory).
    pub const REJECTED: &str = "rejected";
}

impl Failure {
    /// The future's error.
    pub(crate) fn into_error(self) -> bingfa_pool::Error {
        use bingfa_pool::Error as E;
        let remote = |kind: &str, message: String| E::Remote {
            kind: kind.to_owned(),
            message,
        };
        match self {
            Failure::Panicked { message } => E::Panicked { message },
            Failure::ProcessDied {
                pid,
                signal,
                exit_code,
            } => E::WorkerDied {
                pid,
                signal,
                exit_code,
            },
            Failure::BadPayload { message } => E::Serialization { message },
            Failure::Corrupt { message } => remote(kind::CORRUPT, message),
            Failure::UnknownFunction {
                function,
                version,
                worker,
                host,
                known,
            } => remote(
                kind::UNKNOWN_FUNCTION,
                format!(
                    "worker {worker} on host {host} has no function `{function}` (version {version} was asked for); it has: {}",
                    if known.is_empty() { "nothing".to_owned() } else { known.join(", ") }
                ),
            ),
            Failure::VersionMismatch {
                function,
                wanted_version,
                wanted_signature,
                worker_version,
                worker_signature,
                worker,
                host,
            } => remote(
                kind::VERSION_MISMATCH,
                format!(
                    "function `{function}`: the client wants version {wanted_version} ({wanted_signature}) but worker {worker} on host {host} has version {worker_version} ({worker_signature}); not called"
                ),
            ),
            Failure::Lost {
                function,
                retries,
                attempts,
            } => {
                let list: Vec<String> = attempts
                    .iter()
                    .map(|a| format!("worker {} on host {}", a.worker, a.host))
                    .collect();
                let mut hosts: Vec<&str> = attempts.iter().map(|a| a.host.as_str()).collect();
                hosts.sort_unstable();
                hosts.dedup();
                remote(
                    kind::LOST,
                    format!(
                        "task `{function}` was lost {} times (retry limit {retries}): {}; hosts: {}",
                        attempts.len(),
                        list.join(", "),
                        hosts.join(", ")
                    ),
                )
            }
        }
    }
}

/// A result-stream entry, as the client reads it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) task_id: String,
    pub(crate) kind: ReplyKind,
    pub(crate) worker: String,
    pub(crate) host: String,
    pub(crate) attempt: u32,
    /// Worker clock, ms since the epoch: when it started / finished.
    pub(crate) started_ms: u64,
    pub(crate) finished_ms: u64,
}

#[derive(Debug, Clone)]
pub(crate) enum ReplyKind {
    Started,
    Ok(Vec<u8>),
    Err(Failure),
}

impl Reply {
    pub(crate) fn decode(e: &RawEntry) -> Result<Reply, String> {
        if let Some(m) = &e.malformed {
            return Err(m.clone());
        }
        let task_id = e.text("id").ok_or("no `id` field")?.to_owned();
        let kind = match e.text("k").ok_or("no `k` field")? {
            "s" => ReplyKind::Started,
            "ok" => ReplyKind::Ok(e.get("v").ok_or("no `v` field")?.to_vec()),
            "err" => ReplyKind::Err(
                serde_json::from_slice(e.get("v").ok_or("no `v` field")?)
                    .map_err(|err| format!("an error that does not decode: {err}"))?,
            ),
            other => return Err(format!("unknown kind {other:?}")),
        };
        let num = |name: &str| -> u64 { e.text(name).and_then(|s| s.parse().ok()).unwrap_or(0) };
        Ok(Reply {
            task_id,
            kind,
            worker: e.text("w").unwrap_or("?").to_owned(),
            host: e.text("h").unwrap_or("?").to_owned(),
            attempt: num("a") as u32,
            started_ms: num("t0"),
            finished_ms: num("t1"),
        })
    }
}

/// Milliseconds since the epoch, on this host's clock.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_name_their_client() {
        assert_eq!(client_of("ab12-x/17"), Some("ab12-x"));
        assert_eq!(client_of("a/b/3"), None);
        assert_eq!(client_of("ab/"), None);
        assert_eq!(client_of("ab/1x"), None);
        assert_eq!(client_of("nodash"), None);
        assert_eq!(client_of("a b/1"), None);
    }

    #[test]
    fn malformed_entries_are_reported_not_dropped() {
        let v = Value::Array(vec![
            Value::Array(vec![
                Value::BulkString(b"1-0".to_vec()),
                Value::Array(vec![Value::BulkString(b"id".to_vec())]),
            ]),
            Value::Array(vec![Value::BulkString(b"2-0".to_vec()), Value::Nil]),
            Value::Array(vec![
                Value::BulkString(b"3-0".to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"id".to_vec()),
                    Value::BulkString(b"c/1".to_vec()),
                ]),
            ]),
        ]);
        let e = entries_of(&v);
        assert_eq!(e.len(), 3);
        assert!(e[0].malformed.is_some());
        assert!(e[1].malformed.is_some());
        assert_eq!(e[2].text("id"), Some("c/1"));
        let bad = TaskMsg::decode(&e[2]).unwrap_err();
        assert_eq!(bad.reply, Some(("c/1".into(), "c".into())));
        assert!(bad.reason.contains("no `fn` field"), "{}", bad.reason);
    }

    #[test]
    fn lost_names_workers_hosts_and_attempts() {
        let e = Failure::Lost {
            function: "square".into(),
            retries: 1,
            attempts: vec![Attempt::parse("w1@h1"), Attempt::parse("w2@h2")],
        }
        .into_error();
        let bingfa_pool::Error::Remote { kind, message } = e else {
            panic!()
        };
        assert_eq!(kind, "lost");
        assert!(message.contains("lost 2 times"), "{message}");
        assert!(message.contains("worker w1 on host h1"), "{message}");
        assert!(message.contains("hosts: h1, h2"), "{message}");
    }
}
