//! The `bingfa-cluster` binary: `worker` with the built-in functions,
//! `status`, `functions`, a graceful stop on SIGTERM.

use std::process::Command;

use bingfa_cluster::builtin::{NOOP, SLEEP_MS, WHOAMI};
use bingfa_cluster::ClusterPool;

use crate::common::*;

const EXE: &str = env!("CARGO_BIN_EXE_bingfa-cluster");

#[test]
fn the_binary_runs_a_worker_and_prints_the_status() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let mut cmd = Command::new(EXE);
    cmd.arg("functions");
    let out = run(cmd);
    let listed = out.stdout;
    assert!(
        listed.contains("bingfa.noop") && listed.contains("bingfa.whoami"),
        "{listed}"
    );
    let mut cmd = Command::new(EXE);
    cmd.args([
        "worker",
        "--redis",
        url,
        "--concurrency",
        "1",
        "--name",
        "cli-w",
        "--host",
        "cli-host",
    ]);
    let worker = spawn(cmd);
    let pool = ClusterPool::connect(url).unwrap();
    assert_eq!(
        pool.submit(&NOOP, 41).unwrap().result_timeout(PATIENCE),
        Ok(41)
    );
    let (host, pid) = pool
        .submit(&WHOAMI, ())
        .unwrap()
        .result_timeout(PATIENCE)
        .unwrap();
    assert_ne!(pid, std::process::id());
    assert!(!host.is_empty());
    // The binary calls `init` first thing (`cli::main_with`), so the task
    // ran in a process of the fork server, not in a fork of the worker
    // process and its threads: its parent is the server, whose parent is
    // the worker.
    let parent = |p: u32| -> u32 {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(1).unwrap().parse().unwrap()
    };
    let server = parent(pid);
    let worker_pid = worker.child.id();
    assert_ne!(
        server, worker_pid,
        "the task process is a fork of the worker"
    );
    assert_eq!(
        parent(server),
        worker_pid,
        "the fork server is the worker's child"
    );
    let mut cmd = Command::new(EXE);
    cmd.args(["status", "--redis", url]);
    let out = run(cmd);
    assert!(out.status.success());
    let status = out.stdout;
    assert!(
        status.contains("pool default: 1 workers on 1 hosts"),
        "{status}"
    );
    assert!(
        status.contains("cli-w") && status.contains("cli-host"),
        "{status}"
    );
    assert!(status.contains("done 2"), "{status}");
    // SIGTERM while it runs a task: the task finishes, the worker exits 0.
    let held = pool.submit(&SLEEP_MS, 500).unwrap();
    wait_until("the task runs", || held.is_running());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(worker.child.id() as libc::pid_t, libc::SIGTERM) };
    let out = worker.wait();
    assert!(out.status.success(), "{:?}: {}", out.status, out.stderr);
    // It finished the task before it exited (its result may still be on
    // its way to this client).
    assert_eq!(held.result_timeout(PATIENCE), Ok(500));
    assert_eq!(pool.status().unwrap().retried, 0);
    let said = out.stderr;
    assert!(said.contains("worker cli-w on host cli-host"), "{said}");
    assert!(said.contains("Stopping"), "{said}");
    // Bad usage: a message and exit code 2.
    let mut cmd = Command::new(EXE);
    cmd.arg("nonsense");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("usage:"));
    let mut cmd = Command::new(EXE);
    cmd.args(["status", "--redis", "redis://127.0.0.1:1/"]);
    assert_eq!(run(cmd).status.code(), Some(1));
}
