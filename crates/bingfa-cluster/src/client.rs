//! The two threads of a [`ClusterPool`](crate::ClusterPool): the sender
//! (tasks and cancellations to Redis, pipelined in batches) and the reader
//! (start notices and results from the client's own stream, completing the
//! futures once).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use redis::{RedisError, Value};

use crate::conn::{CallError, Conn};
use crate::event::{emit, Event};
use crate::pool::{Cmd, Shared};
use crate::wire::{kind, read_reply, Reply, ReplyKind};

/// How many commands one pipeline carries at most.
const BATCH: usize = 512;

/// The sender: takes commands off the channel, sends each batch as one
/// pipeline, and retries a batch whole after a reconnection (a repeated
/// `XADD` is a duplicate task: run twice, its second result dropped).
pub(crate) fn sender(sh: Arc<Shared>, rx: Receiver<Cmd>, mut conn: Conn) {
    let give_up = || sh.stop.load(Ordering::Acquire);
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => {
                if give_up() && rx.is_empty() {
                    return;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let mut p = redis::pipe();
        p.ignore_errors();
        for cmd in &batch {
            match cmd {
                Cmd::Submit(t) => {
                    p.cmd("XADD")
                        .arg(&sh.keys.tasks)
                        .arg("*")
                        .arg("id")
                        .arg(&t.task_id)
                        .arg("fn")
                        .arg(&*t.function)
                        .arg("ver")
                        .arg(t.version)
                        .arg("sig")
                        .arg(&*t.signature)
                        .arg("kind")
                        .arg(if t.chunk { "chunk" } else { "one" })
                        .arg("retries")
                        .arg(sh.retries())
                        .arg("args")
                        .arg(&t.args[..]);
                }
                Cmd::Cancel(task) => {
                    p.cmd("SET")
                        .arg(sh.keys.cancel(task))
                        .arg(1)
                        .arg("PX")
                        .arg(sh.ttl_ms);
                }
            }
        }
        // Cancellations are worth sending even while shutting down; give
        // up only when nothing is outstanding any more.
        let replies = conn.call(&give_up, |c| {
            let r: Vec<Result<Value, RedisError>> = p.query(c)?;
            // A per-command error that a reconnection cures (the server
            // restarting, loading) fails the whole batch: it is sent again.
            if let Some(e) = r.iter().filter_map(|x| x.as_ref().err()).find(|e| {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.code() == Some("LOADING")
                    || e.code() == Some("TRYAGAIN")
            }) {
                return Err(e.clone());
            }
            Ok(r)
        });
        let replies: Vec<Result<(), String>> = match replies {
            Ok(r) => r
                .into_iter()
                .map(|x| x.map(|_| ()).map_err(|e| e.to_string()))
                .collect(),
            Err(CallError::GaveUp) => return,
            Err(CallError::Server(msg)) => batch.iter().map(|_| Err(msg.clone())).collect(),
        };
        for (cmd, reply) in batch.into_iter().zip(replies) {
            if let (Cmd::Submit(t), Err(e)) = (cmd, reply) {
                // Redis refused this task (out of memory, ...): its future
                // fails now instead of waiting forever.
                let slot = sh.lock_slots().remove(&t.seq);
                if let Some(slot) = slot {
                    sh.stats.failed.fetch_add(1, Ordering::Relaxed);
                    slot.pending.complete(Err(bingfa_pool::Error::Remote {
                        kind: kind::REJECTED.to_owned(),
                        message: format!("Redis refused task {} ({}): {e}", t.task_id, t.function),
                    }));
                }
            }
        }
    }
}

/// The reader: follows the client's results stream from where it left
/// off (across reconnections and server restarts: the stream is in the
/// append-only file), completes each future once, deletes what it read.
pub(crate) fn reader(sh: Arc<Shared>, mut conn: Conn) {
    let stream = sh.keys.results(&sh.client);
    let give_up = || sh.stop.load(Ordering::Acquire);
    let mut last = "0-0".to_owned();
    while !give_up() {
        let read = conn.call(&give_up, |c| {
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(1024)
                .arg("BLOCK")
                .arg(200)
                .arg("STREAMS")
                .arg(&stream)
                .arg(&last)
                .query::<Value>(c)
        });
        let v = match read {
            Ok(v) => v,
            Err(CallError::GaveUp) => break,
            Err(CallError::Server(msg)) => {
                emit(&sh.events, || Event::BadReply {
                    entry: "(XREAD)".into(),
                    reason: msg,
                });
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let entries = read_reply(&v);
        if entries.is_empty() {
            continue;
        }
        let mut ids = Vec::with_capacity(entries.len());
        for e in &entries {
            last.clone_from(&e.id);
            ids.push(e.id.clone());
            match Reply::decode(e) {
                Ok(r) => handle(&sh, r),
                Err(reason) => {
                    sh.stats.bad_replies.fetch_add(1, Ordering::Relaxed);
                    emit(&sh.events, || Event::BadReply {
                        entry: e.id.clone(),
                        reason,
                    });
                }
            }
        }
        let _ = conn.call(&give_up, |c| {
            redis::cmd("XDEL").arg(&stream).arg(&ids).exec(c)
        });
    }
    // Nothing is outstanding: the stream has nothing anyone waits for.
    let _ = conn.call(&|| true, |c| redis::cmd("DEL").arg(&stream).exec(c));
}

fn handle(sh: &Shared, r: Reply) {
    let Some(seq) = r
        .task_id
        .strip_prefix(sh.client.as_str())
        .and_then(|s| s.strip_prefix('/'))
        .and_then(|s| s.parse::<u64>().ok())
    else {
        sh.stats.bad_replies.fetch_add(1, Ordering::Relaxed);
        emit(&sh.events, || Event::BadReply {
            entry: r.task_id.clone(),
            reason: "a task id of another client".into(),
        });
        return;
    };
    match r.kind {
        ReplyKind::Started => {
            let mut slots = sh.lock_slots();
            if let Some(slot) = slots.get_mut(&seq) {
                emit(&sh.events, || Event::Started {
                    task: r.task_id.clone(),
                    function: slot.function.to_string(),
                    worker: r.worker.clone(),
                    host: r.host.clone(),
                    attempt: r.attempt,
                    started_ms: r.started_ms,
                });
                slot.started = true;
                // `false`: cancelled here meanwhile; its result (if the
                // worker runs it) will be dropped as a duplicate.
                slot.pending.set_running();
            }
        }
        ReplyKind::Ok(_) | ReplyKind::Err(_) => {
            let slot = sh.lock_slots().remove(&seq);
            let Some(slot) = slot else {
                sh.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                emit(&sh.events, || Event::Duplicate {
                    task: r.task_id.clone(),
                    worker: r.worker.clone(),
                    host: r.host.clone(),
                });
                return;
            };
            let ok = matches!(r.kind, ReplyKind::Ok(_));
            emit(&sh.events, || Event::Completed {
                task: r.task_id.clone(),
                function: slot.function.to_string(),
                worker: r.worker.clone(),
                host: r.host.clone(),
                attempt: r.attempt,
                started_ms: r.started_ms,
                finished_ms: r.finished_ms,
                ok,
            });
            let outcome = match r.kind {
                ReplyKind::Ok(bytes) => Ok(bytes),
                ReplyKind::Err(f) => Err(f.into_error()),
                ReplyKind::Started => unreachable!(),
            };
            if outcome.is_ok() {
                sh.stats.succeeded.fetch_add(1, Ordering::Relaxed);
            } else {
                sh.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
            slot.pending.complete(outcome);
        }
    }
}
