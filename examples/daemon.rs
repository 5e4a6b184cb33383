//! # Lesson 7: daemon processes
//!
//! `cargo xtask demo daemon [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from multiprocessing import Process, current_process
//! import time
//! def task(name):
//!     print(f'{name} start...', current_process().pid)
//!     time.sleep(3)
//!     print(f'{name} over...', current_process().pid)
//!     print('子进程')
//! if __name__ == '__main__':
//!     p = Process(target=task, args=('cwz',))
//!     p.daemon = True      # must be set before start()
//!     p.start()
//!     print('主进程')
//! # prints only: 主进程 -- the daemon child dies with the main process
//! ```
//!
//! 守护进程: when the main process ends, the daemon children it started end
//! with it. A non-daemon child is independent: it outlives its parent (and is
//! adopted by init). The demo runs a "parent" process that starts one daemon
//! child and one normal child, both meant to run 3 units, and ends after 1
//! unit; then it checks which of the two is still alive.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use bingfa::process::{current_process, Pipe, Process};
use bingfa::trace::{record, Event, EventKind};
use common::Demo;

const PYTHON: &str = r#"
def task(name):
    print(f'{name} start...', current_process().pid)
    time.sleep(3)
    print(f'{name} over...', current_process().pid)
p = Process(target=task, args=('cwz',))
p.daemon = True
p.start()
print('主进程')        # the main process ends here, and takes the daemon with it
"#;

fn task(nap: Duration) {
    let me = current_process();
    bingfa::trace::name_process(me.name());
    record(EventKind::Begin, "task");
    println!(
        "      {} (daemon: {}) start... pid {}",
        me.name(),
        me.daemon(),
        me.pid()
    );
    thread::sleep(nap);
    println!("      {} over... pid {} (子进程)", me.name(), me.pid());
    record(EventKind::End, "task");
}

/// Whether `pid` still runs (a zombie counts as ended).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => text
            .rfind(')')
            .and_then(|i| text[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits, at most `limit`, until `pid` no longer runs; returns when it did.
fn wait_gone(pid: i32, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !running(pid) {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(2));
    }
    None
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "daemon",
        "A parent process starts a daemon child and a normal child and ends first: the daemon\n\
         dies with it, the normal child runs to its end.",
    );
    demo.intro("Lesson 7: daemon processes", PYTHON);
    let unit = demo.pause(Duration::from_millis(1000));

    let me = std::process::id();
    demo.say(&format!(
        "The course's main program is played by a process this demo forks, \"parent\": it\n\
         starts a daemon child and a normal child, and ends without joining them. The demo\n\
         (pid {me}) stays to watch all three through the process table.\n"
    ));
    let (here, there) = Pipe::<(u32, u32)>::new().expect("pipe");
    demo.record();
    let t0 = Instant::now();
    let parent = Process::builder()
        .name("parent")
        .fork(move || {
            bingfa::trace::name_process("parent, the course's main program");
            record(EventKind::Begin, "main program");
            let daemon = Process::builder()
                .name("cwz (daemon)")
                .daemon(true)
                .fork(move || task(unit * 3))
                .expect("fork the daemon");
            let normal = Process::builder()
                .name("neo (normal)")
                .fork(move || task(unit * 3))
                .expect("fork the normal child");
            there
                .send(&(daemon.pid(), normal.pid()))
                .expect("send pids");
            thread::sleep(unit);
            println!("    parent: ends now (主进程), without joining its children");
            record(EventKind::End, "main program");
        })
        .expect("fork the parent");
    let (daemon_pid, normal_pid) = here.recv().expect("the parent sent its children's pids");
    println!(
        "  parent pid {} started daemon pid {daemon_pid} and normal child pid {normal_pid}",
        parent.pid()
    );
    parent.join().expect("join the parent");
    let parent_ended = t0.elapsed();
    println!("  the parent ended after {parent_ended:.1?}");

    let daemon_gone = wait_gone(daemon_pid as i32, unit);
    let daemon_gone_at = daemon_gone.map(|d| parent_ended + d);
    let normal_alive_after_parent = running(normal_pid as i32);
    println!(
        "  daemon child: {}",
        match daemon_gone {
            Some(d) => format!("gone {d:.1?} after its parent ended"),
            None => "STILL RUNNING after its parent ended".into(),
        }
    );
    println!("  normal child: running after its parent ended = {normal_alive_after_parent}");
    let normal_gone = wait_gone(normal_pid as i32, unit * 5);
    let normal_lifetime = normal_gone.map(|_| t0.elapsed());
    println!(
        "  normal child: ended after {:.1?} (it runs 3 units = {:?})",
        normal_lifetime.unwrap_or_default(),
        unit * 3
    );
    let mut events = bingfa::trace::stop();
    // A killed process records nothing more: its task ends where the demo
    // saw it gone from the process table.
    // (`t0` was taken right after recording started: the same time axis.)
    let killed_at = daemon_gone_at.unwrap_or_default();
    let daemon_finished = events
        .iter()
        .any(|e| e.pid == daemon_pid && e.kind == EventKind::End);
    if daemon_gone.is_some() && !daemon_finished {
        let lane = events
            .iter()
            .find(|e| e.pid == daemon_pid && e.kind == EventKind::Begin)
            .map(|e| e.lane.to_string())
            .unwrap_or_else(|| "main".into());
        events.push(Event::new(killed_at, &lane, EventKind::End, "task").in_process(daemon_pid));
        events.push(
            Event::new(killed_at, &lane, EventKind::Mark, "killed with its parent")
                .in_process(daemon_pid),
        );
    }
    demo.show_events("parent, daemon child, normal child", events);
    demo.say(&format!(
        "Each process recorded its own lane group. The daemon's task is cut where its parent\n\
         ended (the demo saw it gone at {:.1?}; a killed process records nothing, so that end\n\
         is the demo's observation); the normal child's runs to its own end. bingfa makes a\n\
         daemon child ask the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), and\n\
         a parent that exits normally also kills its daemon children itself.",
        daemon_gone_at.unwrap_or_default()
    ));
    demo.section("What to remember");
    demo.say(
        "daemon = true: the child is a helper of its parent and ends with it (set it before\n\
         start). A normal child is independent: it outlives its parent and is adopted by init.\n\
         Do not leave work in a daemon that must finish: it is killed, not asked to stop.",
    );
    let ok = daemon_gone.is_some() && normal_alive_after_parent && normal_gone.is_some();
    println!(
        "\nResult: daemon ended with its parent = {}; normal child outlived its parent = {normal_alive_after_parent}.",
        daemon_gone.is_some()
    );
    demo.finish();
    if !ok {
        std::process::exit(1);
    }
}
