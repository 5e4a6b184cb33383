//! bingfa-cluster against a real `redis-server` that each test starts
//! (skipped, with one line saying how to install it, when there is none,
//! unless `BINGFA_REQUIRE_REDIS=1`). One test binary, so that the line is
//! printed once per run.

mod common;

mod basics;
mod cli;
mod delivery;
mod doc;
mod executor;
mod failures;
mod hosts;

/// Not a test: the body of a worker process that another test started by
/// running this binary again (`common::WorkerProcess`). Without its
/// environment variable it returns at once.
#[test]
fn worker_process() {
    common::worker_process_main();
}
