//! Connect, submit, result, map, over a real server and two workers.

use bingfa_cluster::ClusterPool;
use bingfa_pool::Error;

use crate::common::*;

#[test]
fn submit_and_result_end_to_end() {
    let Some(server) = redis() else { return };
    let _w1 = worker(server.url(), "w1", 1);
    let _w2 = worker(server.url(), "w2", 1);
    let pool = ClusterPool::connect(server.url()).unwrap();
    let f = pool.submit(&SQUARE, 12).unwrap();
    assert_eq!(f.result_timeout(PATIENCE), Ok(144));
    let pid = pool
        .submit(&MY_PID, ())
        .unwrap()
        .result_timeout(PATIENCE)
        .unwrap();
    assert_ne!(pid, std::process::id());
    let squares: Vec<u64> = pool
        .map(&SQUARE, 1..=5)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(squares, [1, 4, 9, 16, 25]);
    let bad = pool.submit(&PANICS, "boom".into()).unwrap();
    assert_eq!(
        bad.result_timeout(PATIENCE),
        Err(Error::Panicked {
            message: "boom".into()
        })
    );
    pool.shutdown(true, false);
    let s = pool.stats();
    assert_eq!(s.outstanding, 0);
    assert_eq!(s.submitted, 8);
}

/// Set in the process that runs the body of
/// `a_panicking_event_callback_stops_nothing`.
const ALONE: &str = "BINGFA_CLUSTER_TEST_PANICKING_CALLBACK";

/// Runs in a process of its own: its callback panics on the pool's
/// threads, and a fork made by another test's process pool at that moment
/// would give the child a copy of std's panic-output lock, held (the
/// child's own panic would then wait for it forever: a hazard of fork in a
/// program whose threads panic, not of this crate).
#[test]
fn a_panicking_event_callback_stops_nothing() {
    if std::env::var_os(ALONE).is_none() {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "basics::a_panicking_event_callback_stops_nothing",
            "--test-threads=1",
        ])
        .env(ALONE, "1");
        let out = run(cmd);
        assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
        return;
    }
    let Some(server) = redis() else { return };
    let _w = worker(server.url(), "w1", 1);
    let pool = ClusterPool::builder(server.url())
        .on_event(|_| panic!("a callback that panics"))
        .connect()
        .unwrap();
    for i in 0..5u64 {
        assert_eq!(
            pool.submit(&SQUARE, i).unwrap().result_timeout(PATIENCE),
            Ok(i * i)
        );
    }
}
