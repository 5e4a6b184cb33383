//! # Lesson 5: a process's attributes, from start to terminate
//!
//! `cargo xtask demo lifecycle [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from multiprocessing import Process, current_process
//! import time, os
//! def task(name):
//!     print(f'{name} start...', current_process().pid)
//!     time.sleep(2)
//!     print(f'{name} over...', current_process().pid)
//! if __name__ == '__main__':
//!     p = Process(target=task, args=('neo',))
//!     p.start()
//!     print(p.is_alive())      # True
//!     p.terminate()
//!     time.sleep(1)
//!     print(p.is_alive())      # False
//!     print('主进程', os.getpid())
//!     print('主主进程', os.getppid())
//! ```
//!
//! `p.exitcode` is `None` while the child runs, its exit code when it ended,
//! and `-N` when signal N ended it: `-15` after `terminate()` (SIGTERM).

mod common;

use std::thread;
use std::time::Duration;

use bingfa::process::{current_process, Process};
use bingfa::trace::{record_in, EventKind};
use common::Demo;

const PYTHON: &str = r#"
p = Process(target=task, args=('neo',))
p.start()
print(p.is_alive())        # True
p.terminate()
time.sleep(1)
print(p.is_alive())        # False
print(p.exitcode)          # -15
print('主进程', os.getpid()); print('主主进程', os.getppid())
"#;

fn task(nap: Duration) {
    let me = current_process();
    println!(
        "    child: {} start... pid {} (parent {})",
        me.name(),
        me.pid(),
        me.parent_pid()
            .map_or("None".to_string(), |p| p.to_string())
    );
    thread::sleep(nap);
    println!(
        "    child: {} over... (not printed if terminated)",
        me.name()
    );
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "lifecycle",
        "Prints a child's name, pid, ppid, exit code and is_alive through its life; terminate()\n\
         gives Python's exit code -15; a normal end gives 0; a panic gives 1 and its message.",
    );
    demo.intro(
        "Lesson 5: a process's attributes, from start to terminate",
        PYTHON,
    );
    let nap = demo.pause(Duration::from_secs(2));
    // A child's panic prints one line, like Python's traceback's last line,
    // instead of the default hook's backtrace (when RUST_BACKTRACE is set).
    std::panic::set_hook(Box::new(|info| eprintln!("    child panicked: {info}")));
    println!(
        "  main process: pid {} (主进程), its parent: {} (主主进程, the shell or cargo)",
        current_process().pid(),
        std::os::unix::process::parent_id()
    );
    demo.record();

    demo.section("1. Terminated while it runs");
    let p = Process::builder()
        .name("neo")
        .fork(move || task(nap))
        .expect("fork");
    record_in("neo", EventKind::Begin, "alive");
    println!(
        "  name = {:?}, pid = {}, daemon = {}",
        p.name(),
        p.pid(),
        p.daemon()
    );
    let alive_before = p.is_alive().expect("is_alive");
    let py = |c: Option<i32>| c.map_or("None".to_string(), |c| c.to_string());
    println!(
        "  is_alive() = {alive_before}, exitcode = {}",
        py(p.exitcode().expect("exitcode"))
    );
    thread::sleep(nap / 10); // let it print its first line
    println!("  terminate()  (sends SIGTERM and returns at once)");
    p.terminate().expect("terminate");
    record_in("neo", EventKind::Mark, "terminate()");
    let alive_right_after = p.is_alive().expect("is_alive");
    println!(
        "  is_alive() = {alive_right_after}   (right after terminate(): {})",
        if alive_right_after {
            "the signal is sent, the child has not ended yet"
        } else {
            "the child had already ended"
        }
    );
    println!("  join()   (waits until it has ended)");
    let status = p.join().expect("join");
    record_in("neo", EventKind::End, "alive");
    record_in("neo", EventKind::Mark, "join() returned");
    let alive_after = p.is_alive().expect("is_alive");
    let terminated_code = status.python_exitcode();
    println!("  is_alive() = {alive_after}, exitcode = {terminated_code}   (-15: ended by signal 15, SIGTERM)");

    demo.section("2. Ends normally");
    let p = Process::builder()
        .name("wick")
        .fork(move || task(nap / 10))
        .expect("fork");
    record_in("wick", EventKind::Begin, "alive");
    let status = p.join().expect("join");
    record_in("wick", EventKind::End, "alive");
    let normal_code = status.python_exitcode();
    println!("  join(); exitcode = {normal_code}");

    demo.section("3. Panics");
    let p = Process::builder()
        .name("cwz")
        .fork(|| panic!("the ticket file is gone"))
        .expect("fork");
    record_in("cwz", EventKind::Begin, "alive");
    let status = p.join().expect("join");
    record_in("cwz", EventKind::End, "alive");
    let panic_code = status.python_exitcode();
    println!(
        "  join(); exitcode = {panic_code}, panic message: {:?}",
        p.panic_message().unwrap_or_default()
    );

    demo.section("4. Killed");
    let p = Process::builder()
        .name("woods")
        .fork(move || task(nap))
        .expect("fork");
    record_in("woods", EventKind::Begin, "alive");
    p.kill().expect("kill");
    let status = p.join().expect("join");
    record_in("woods", EventKind::End, "alive");
    let killed_code = status.python_exitcode();
    println!("  kill() (SIGKILL), join(); exitcode = {killed_code}");
    demo.show("four children's lives, seen from the parent");
    demo.say(
        "Each lane runs from the fork to the moment join() returned: neo's is cut by\n\
         terminate(), and join() is what waited for it to really end.",
    );

    demo.section("What to remember");
    demo.say(
        "pid and name identify a child; is_alive() and exitcode tell where it is in its life:\n\
         None while running, 0 for a normal end, 1 after an uncaught panic (exception), -N\n\
         when signal N ended it (terminate sends SIGTERM, 15; kill sends SIGKILL, 9).\n\
         join() waits for the end and reaps the child.",
    );
    println!(
        "\nResult: alive before terminate = {alive_before}, after = {alive_after}; exitcodes: terminated {terminated_code}, normal {normal_code}, panicked {panic_code}, killed {killed_code}."
    );
    demo.finish();
    if (terminated_code, normal_code, panic_code, killed_code) != (-15, 0, 1, -9) {
        std::process::exit(1);
    }
}
