//! The fork server killed from outside (in a test binary of its own, since
//! every pool of the program shares the server): its workers die with it,
//! and pools go on with a new server.

use std::time::{Duration, Instant};

use bingfa_pool::{Error, ProcessPool};

bingfa_pool::enable_test_support!();

const PATIENCE: Duration = Duration::from_secs(30);

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder().max_workers(workers).build().unwrap()
}

fn parent_pid(_: ()) -> u32 {
    std::os::unix::process::parent_id()
}

#[test]
fn the_pool_recovers_when_the_fork_server_is_killed() {
    let p = pool(1);
    let server = p.submit(parent_pid, ()).unwrap().result().unwrap();
    assert_ne!(server, std::process::id());
    // SAFETY: SIGKILL to the fork server (our grandchild); its workers die
    // with it.
    assert_eq!(
        unsafe { libc::kill(server as libc::pid_t, libc::SIGKILL) },
        0
    );
    // The pool finds its worker dead and starts a new one through a new
    // server. A task sent just before the worker died may fail with
    // WorkerDied; a later one succeeds.
    let deadline = Instant::now() + PATIENCE;
    let new_server = loop {
        match p.submit(parent_pid, ()).unwrap().result_timeout(PATIENCE) {
            Ok(s) if s != server => break s,
            Ok(_) | Err(Error::WorkerDied { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "no new fork server");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_ne!(new_server, std::process::id());
    // New pools use the new server.
    let q = pool(1);
    assert_eq!(q.submit(parent_pid, ()).unwrap().result(), Ok(new_server));
}
