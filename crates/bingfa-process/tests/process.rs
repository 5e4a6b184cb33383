//! Starting, joining and ending processes with both start methods.

// Forking from a test: the harness runs tests on threads, so every `fork`
// here happens in a process with other threads (see the Safety section of
// `bingfa_process::fork`). Each closure takes no lock those threads may
// hold: it uses its own data, this crate's shared-memory objects, the
// test's own output capture, and glibc's malloc, which glibc's `fork` keeps
// usable in the child.

use std::time::{Duration, Instant};

use bingfa_process::{current_process, Builder, ExitStatus};

bingfa_process::enable_test_support!();

#[test]
fn fork_runs_closure_and_reports_status() {
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let p = unsafe {
        bingfa_process::fork(|| {
            assert_ne!(current_process().parent_pid(), None);
        })
    }
    .unwrap();
    assert!(p.pid() > 0);
    assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
    assert_eq!(p.exitcode().unwrap(), Some(0));
    assert!(!p.is_alive().unwrap());
    // join again: same answer.
    assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
}

#[test]
fn fork_exit_code_and_borrowed_data() {
    let code = 7;
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let p = unsafe { bingfa_process::fork(|| std::process::exit(code)) }.unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Code(7));
}

fn child_exits_with(code: i32) {
    std::process::exit(code);
}

fn child_checks_identity(args: (String, u32)) {
    let me = current_process();
    assert_eq!(me.name(), args.0);
    assert_eq!(me.parent_pid(), Some(args.1));
    assert_eq!(me.pid(), std::process::id());
}

fn report_args(q: bingfa_process::Queue<Vec<String>>) {
    q.put(std::env::args().skip(1).collect()).unwrap();
}

#[test]
fn spawned_child_of_a_test_binary_gets_the_libtest_arguments() {
    // This file has enable_test_support!(): its children run the support
    // test only (a plain program's children get no arguments: see
    // tests/spawn_plain_main.rs).
    let q = bingfa_process::Queue::<Vec<String>>::new(1).unwrap();
    let p = bingfa_process::spawn(report_args, q.clone()).unwrap();
    let args = q.get_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
    assert_eq!(args[0], bingfa_process::TEST_ENTRY, "{args:?}");
    assert!(args.iter().any(|a| a == "--test-threads=1"), "{args:?}");
}

#[test]
fn spawn_runs_entry_and_reports_status() {
    let p = bingfa_process::spawn(child_exits_with, 5).unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Code(5));
    let p = Builder::new()
        .name("checker")
        .spawn(
            child_checks_identity,
            ("checker".to_string(), std::process::id()),
        )
        .unwrap();
    assert_eq!(p.name(), "checker");
    assert_eq!(
        p.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        p.panic_message()
    );
}

fn child_sleeps(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

#[test]
fn terminate_gives_minus_15_fork_and_spawn() {
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let forked =
        unsafe { bingfa_process::fork(|| std::thread::sleep(Duration::from_secs(60))) }.unwrap();
    let spawned = bingfa_process::spawn(child_sleeps, 60).unwrap();
    for p in [&forked, &spawned] {
        assert!(p.is_alive().unwrap());
        assert_eq!(p.join_timeout(Duration::from_millis(50)).unwrap(), None);
        p.terminate().unwrap();
        let s = p.join().unwrap();
        assert_eq!(s, ExitStatus::Signal(libc::SIGTERM));
        assert_eq!(s.python_exitcode(), -15);
        // terminate after the end is a no-op.
        p.terminate().unwrap();
    }
}

#[test]
fn kill_gives_minus_9() {
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let p =
        unsafe { bingfa_process::fork(|| std::thread::sleep(Duration::from_secs(60))) }.unwrap();
    p.kill().unwrap();
    assert_eq!(p.join().unwrap().python_exitcode(), -9);
}

fn child_panics(msg: String) {
    panic!("{msg}");
}

#[test]
fn panic_becomes_exit_1_with_message() {
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let p = unsafe { bingfa_process::fork(|| panic!("forked boom")) }.unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Code(1));
    let m = p.panic_message().unwrap();
    assert!(m.contains("forked boom"), "{m}");
    assert!(m.contains("process.rs"), "location missing: {m}");

    let p = bingfa_process::spawn(child_panics, "spawned boom".to_string()).unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Code(1));
    let m = p.panic_message().unwrap();
    assert!(m.contains("spawned boom"), "{m}");
}

/// A panic message far longer than a page is cut to what one page holds,
/// and `join` returns.
#[test]
fn a_long_panic_message_is_cut_and_join_returns() {
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let p = unsafe { bingfa_process::fork(|| panic!("{}", "x".repeat(100_000))) }.unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Code(1));
    let m = p.panic_message().unwrap();
    assert!(m.starts_with("xxxx"), "{}", &m[..40.min(m.len())]);
    assert!(m.len() <= 4088 && m.len() > 4000, "{} bytes", m.len());
}

#[test]
fn panic_messages_of_many_children_alive_at_once_stay_their_own() {
    // More children than one slab of report slots, all alive at once,
    // joined in another order than they started; then again, so that
    // slots are reused for new children, some of which do not panic.
    for round in 0..2 {
        let go = bingfa_process::Event::new().unwrap();
        let children: Vec<_> = (0..40)
            .map(|i| {
                let go = go.clone();
                // SAFETY: the closure takes no lock the harness's other threads may hold
                // (see the note at the top of this file).
                let p = unsafe {
                    bingfa_process::fork(move || {
                        assert!(go.wait_timeout(Duration::from_secs(30)));
                        if (i + round) % 3 != 0 {
                            panic!("child {i} of round {round}");
                        }
                    })
                }
                .unwrap();
                (i, p)
            })
            .collect();
        go.set();
        for (i, p) in children.iter().rev() {
            let status = p.join().unwrap();
            if (i + round) % 3 != 0 {
                assert_eq!(status, ExitStatus::Code(1));
                let m = p.panic_message().unwrap();
                assert!(
                    m.starts_with(&format!("child {i} of round {round} (at ")),
                    "{m}"
                );
            } else {
                assert_eq!(status, ExitStatus::Code(0));
                assert_eq!(p.panic_message(), None);
            }
        }
    }
}

#[test]
fn names_default_and_custom() {
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let a = unsafe { bingfa_process::fork(|| {}) }.unwrap();
    assert!(a.name().starts_with("Process-"), "{}", a.name());
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let b = unsafe {
        Builder::new().name("worker").fork(|| {
            assert_eq!(current_process().name(), "worker");
        })
    };
    let b = b.unwrap();
    assert_eq!(b.join().unwrap(), ExitStatus::Code(0));
    a.join().unwrap();
    assert_eq!(current_process().name(), "MainProcess");
    assert_eq!(current_process().parent_pid(), None);
}

#[test]
fn join_timeout_returns_when_done() {
    // SAFETY: the closure takes no lock the harness's other threads may hold
    // (see the note at the top of this file).
    let p = unsafe { bingfa_process::fork(|| {}) }.unwrap();
    let t = Instant::now();
    let s = p.join_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(s, Some(ExitStatus::Code(0)));
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn handles_are_shareable_between_threads() {
    let p = std::sync::Arc::new(
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe { bingfa_process::fork(|| std::thread::sleep(Duration::from_millis(200))) }.unwrap(),
    );
    let q = p.clone();
    let t = std::thread::spawn(move || q.join().unwrap());
    assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
    assert_eq!(t.join().unwrap(), ExitStatus::Code(0));
}
