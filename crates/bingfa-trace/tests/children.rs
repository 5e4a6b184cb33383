//! Child processes record into their parent's trace: a forked child through
//! the file it inherits, a re-executed one through `attach`. One test per
//! way; they share the global recorder, so they run one after the other.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use bingfa_trace::{record, EventKind};

static ALONE: Mutex<()> = Mutex::new(());

#[cfg(unix)]
#[test]
fn a_forked_child_records_into_the_parent_trace_with_its_pid() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    bingfa_trace::start();
    record(EventKind::Begin, "fork");
    // SAFETY: the child runs only the recorder (no lock of the parent's:
    // a child writes to the inherited file) and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        bingfa_trace::name_process("child");
        record(EventKind::Acquired, "lock");
        std::thread::sleep(Duration::from_millis(5));
        record(EventKind::Released, "lock");
        // SAFETY: ends the child without running the parent's test harness.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    record(EventKind::End, "fork");
    let events = bingfa_trace::stop();
    let me = std::process::id();
    let child: Vec<_> = events.iter().filter(|e| e.pid == pid as u32).collect();
    assert_eq!(child.len(), 3, "{events:#?}");
    assert_eq!(child[0].kind, EventKind::ProcessName);
    assert_eq!(&*child[1].object, "lock");
    assert!(child[2].t >= child[1].t + Duration::from_millis(5));
    let parent: Vec<_> = events.iter().filter(|e| e.pid == me).collect();
    assert_eq!(parent.len(), 2);
    // On one time axis: the child's events fall between fork and join.
    assert!(
        parent[0].t <= child[1].t && child[2].t <= parent[1].t,
        "{events:#?}"
    );
    let text = bingfa_trace::Timeline::new(&events)
        .colour(bingfa_trace::Colour::Never)
        .render();
    assert!(text.contains(&format!("child (pid {pid})")), "{text}");
}

/// The child half of the next test: a re-executed copy of this binary.
#[test]
fn attached_child_body() {
    let Ok(parent) = std::env::var("BINGFA_TRACE_TEST_PARENT") else {
        return; // run as a test of its own: nothing to do
    };
    assert!(bingfa_trace::attach(parent.parse().unwrap()));
    bingfa_trace::name_process("spawned");
    bingfa_trace::record_in("main", EventKind::Mark, "hello from a spawned child");
}

#[test]
fn a_spawned_child_attaches_to_the_parent_trace() {
    if std::env::var("BINGFA_TRACE_TEST_PARENT").is_ok() {
        return;
    }
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    bingfa_trace::start();
    // The child starts well after time zero: its events must say so.
    std::thread::sleep(Duration::from_millis(50));
    record(EventKind::Begin, "spawn");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "attached_child_body", "--nocapture"])
        .env("BINGFA_TRACE_TEST_PARENT", std::process::id().to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    record(EventKind::End, "spawn");
    let events = bingfa_trace::stop();
    let hello = events
        .iter()
        .find(|e| &*e.object == "hello from a spawned child")
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert_ne!(hello.pid, std::process::id());
    let (begin, end) = (events[0].t, events.last().unwrap().t);
    assert!(begin >= Duration::from_millis(50), "{begin:?}");
    assert!(
        begin <= hello.t && hello.t <= end,
        "{begin:?} {:?} {end:?}",
        hello.t
    );
    // The file is gone after stop.
    assert!(!bingfa_trace::attach(std::process::id()));
}
