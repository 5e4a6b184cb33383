//! # Lesson 6: zombie and orphan processes
//!
//! `cargo xtask demo zombie [--quick] [--trace FILE]`
//!
//! The course (seed 003), in words:
//!
//! ```text
//! 僵尸进程: 指的是子进程已经结束, 但PID号还存在, 未销毁
//!           僵尸进程会占用PID号, 占用操作系统资源
//! 孤儿进程: 指的是子进程还在执行, 但父进程意外结束
//!           操作系统内部优化机制: 会自动回收没有父的子进程
//! 进程号回收的两种条件: join, 可以回收子进程与主进程; 主进程正常结束, 子进程与主进程也会回收
//! ```
//!
//! A **zombie** is a child that has ended but whose exit status nobody has
//! collected (`waitpid`): its pid and an entry in the process table stay
//! until the parent reaps it. An **orphan** is a child whose parent ended
//! first: the kernel gives it a new parent (init, or the nearest "subreaper"),
//! which reaps it when it ends.
//!
//! The demo makes both with the bare system calls, shows them in the process
//! table (`/proc/PID/stat`), then shows that a `bingfa::process::Process`
//! handle never leaves a zombie behind, joined or not.

mod common;

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use bingfa::process::Process;
use bingfa::trace::{record_in, EventKind};
use common::Demo;

const COURSE: &str = r#"
僵尸进程 (zombie): 子进程已经结束, 但PID号还存在, 未销毁 -- 占用PID号, 占用操作系统资源
孤儿进程 (orphan): 子进程还在执行, 但父进程意外结束 -- 操作系统会自动回收没有父的子进程
回收 (reaping): join 回收子进程; 主进程正常结束, 子进程也会回收
"#;

/// The process table's line for `pid`: (state letter, parent pid, name), or
/// `None` once the pid is gone.
fn proc_stat(pid: i32) -> Option<(char, i32, String)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (comm) S PPID ...": comm may hold spaces, so split at the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let mut rest = text[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid, comm))
}

fn describe(pid: i32) -> String {
    match proc_stat(pid) {
        Some(('Z', ppid, comm)) => format!("pid {pid} ({comm}) state Z: ZOMBIE, parent {ppid}"),
        Some((s, ppid, comm)) => format!("pid {pid} ({comm}) state {s}, parent {ppid}"),
        None => format!("pid {pid}: not in the process table any more"),
    }
}

/// Waits (bounded) until `pid`'s state satisfies `pred`.
fn wait_for(pid: i32, limit: Duration, pred: impl Fn(Option<(char, i32, String)>) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if pred(proc_stat(pid)) {
            return true;
        }
        thread::sleep(Duration::from_millis(2));
    }
    false
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "zombie",
        "Makes a zombie and an orphan with bare fork(), shows them in the process table, then\n\
         shows that bingfa's Process handle reaps its children, joined or not.",
    );
    demo.intro("Lesson 6: zombie and orphan processes", COURSE);
    let nap = demo.pause(Duration::from_millis(500));
    let limit = Duration::from_secs(5);
    demo.record();

    demo.section("1. A zombie: the child ended, the parent has not reaped it");
    // SAFETY: the child calls only `_exit`, which is async-signal-safe.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: ends the child at once, without running the parent's
        // atexit handlers or flushing the parent's copied buffers.
        unsafe { libc::_exit(0) };
    }
    assert!(pid > 0, "fork failed");
    record_in("1. bare child", EventKind::Begin, "zombie, not reaped");
    let became_zombie = wait_for(pid, limit, |s| matches!(s, Some(('Z', _, _))));
    println!("  the child exited at once; the parent has not called waitpid:");
    println!("    {}", describe(pid));
    thread::sleep(nap);
    println!("  {nap:?} later, still there: {}", describe(pid));
    let mut status = 0;
    // SAFETY: `pid` is our own child; `status` is a valid out pointer.
    let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
    record_in("1. bare child", EventKind::End, "zombie, not reaped");
    let gone_after_wait = proc_stat(pid).is_none();
    println!("  waitpid({pid}) = {reaped}: the parent collected the exit status");
    println!("    {}", describe(pid));

    demo.section("2. An orphan: the parent ends first");
    // The middle process forks a grandchild and exits as soon as the
    // grandchild has noted its parent; the grandchild then waits to be
    // re-parented and reports both parents to the demo through a pipe.
    let mut report = [0; 2];
    let mut noted = [0; 2];
    // SAFETY: valid arrays of two ints.
    assert_eq!(unsafe { libc::pipe(report.as_mut_ptr()) }, 0, "pipe failed");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::pipe(noted.as_mut_ptr()) }, 0, "pipe failed");
    let (rd, wr) = (report[0], report[1]);
    let me = std::process::id() as i32;
    let middle = Process::builder()
        .name("middle")
        .fork(move || {
            // SAFETY: the grandchild uses only getpid, getppid, usleep, write
            // and _exit, all async-signal-safe.
            let grandchild = unsafe { libc::fork() };
            if grandchild == 0 {
                // SAFETY: see above; the buffers are valid for their sizes.
                unsafe {
                    let mut buf = [0i32; 3];
                    buf[0] = libc::getpid();
                    buf[1] = libc::getppid();
                    libc::write(noted[1], b"n".as_ptr().cast(), 1);
                    // Wait (bounded) until the middle process is gone.
                    let mut tries = 0;
                    while libc::getppid() == buf[1] && tries < 5000 {
                        libc::usleep(1000);
                        tries += 1;
                    }
                    buf[2] = libc::getppid();
                    libc::write(wr, buf.as_ptr().cast(), std::mem::size_of_val(&buf));
                    libc::_exit(0);
                }
            }
            // Wait until the grandchild noted us as its parent, then end,
            // leaving it an orphan.
            let mut byte = 0u8;
            // SAFETY: reading one byte into a valid buffer.
            unsafe { libc::read(noted[0], (&mut byte as *mut u8).cast(), 1) };
        })
        .expect("fork");
    // SAFETY: closing our copies of the handshake pipe.
    unsafe {
        libc::close(noted[0]);
        libc::close(noted[1]);
    }
    record_in("2. middle", EventKind::Begin, "alive");
    middle.join().expect("join");
    record_in("2. middle", EventKind::End, "alive");
    // SAFETY: closing our copy of the write end, so that read sees EOF if the
    // grandchild died without writing.
    unsafe { libc::close(wr) };
    let mut buf = [0i32; 3];
    // SAFETY: reading into a valid buffer of the given size.
    let n = unsafe { libc::read(rd, buf.as_mut_ptr().cast(), std::mem::size_of_val(&buf)) };
    // SAFETY: our own descriptor.
    unsafe { libc::close(rd) };
    let adopted = n == std::mem::size_of_val(&buf) as isize && buf[2] != buf[1];
    let adopter = proc_stat(buf[2])
        .map(|(_, _, comm)| comm)
        .unwrap_or_else(|| "?".into());
    println!(
        "  demo pid {me} -> middle pid {} -> grandchild pid {}",
        middle.pid(),
        buf[0]
    );
    println!(
        "  the grandchild's parent was {} (middle); middle exited;",
        buf[1]
    );
    println!(
        "  now its parent is {} ({adopter}): the kernel re-parented the orphan to init or to the\n  nearest subreaper, which reaps it when it ends",
        buf[2]
    );

    demo.section("3. bingfa's Process handle never leaves a zombie");
    let p = Process::builder().name("quick").fork(|| {}).expect("fork");
    let pid = p.pid() as i32;
    record_in("3. bingfa child", EventKind::Begin, "in the process table");
    let reaped_by_bingfa = wait_for(pid, limit, |s| s.is_none());
    record_in("3. bingfa child", EventKind::End, "in the process table");
    println!("  a child that ended, never joined: {}", describe(pid));
    println!(
        "  (the crate's reaper collected its status as soon as it ended; join() still reports\n  its exit code: {})",
        p.join().expect("join").python_exitcode()
    );
    drop(p);
    let many: Vec<Process> = (0..50)
        .map(|i| {
            Process::builder()
                .name(format!("short-{i}"))
                .fork(|| {})
                .expect("fork")
        })
        .collect();
    let pids: Vec<i32> = many.iter().map(|p| p.pid() as i32).collect();
    drop(many); // dropped without join
    let zombies_left = pids
        .iter()
        .filter(|&&pid| !wait_for(pid, limit, |s| !matches!(s, Some(('Z', _, _)))))
        .count();
    println!("  50 more children, dropped without join: {zombies_left} zombies left");
    demo.show("a zombie, an orphan's parent, and reaped children");
    demo.say(&format!(
        "All three lanes are the demo's view of its children, through the process table:\n\
         1. the bare child: a zombie from its exit until the demo's waitpid;\n\
         2. middle: the process that forked the orphan (pid {}) and ended, orphaning it;\n\
         3. a child started with bingfa's Process (pid {pid}): in the table only from fork\n\
         \x20  until its exit, since the crate reaps it at once, without a join.",
        buf[0]
    ));

    demo.section("What to remember");
    demo.say(
        "A child that ended stays a zombie (state Z) until its parent reaps it: waitpid, which\n\
         join() calls. Zombies hold a pid each; many of them exhaust the pid table. An orphan\n\
         is adopted and reaped by init or a subreaper. bingfa::process reaps its children as\n\
         soon as they end, so no handle, joined, dropped or leaked, leaves a zombie.",
    );
    println!(
        "\nResult: zombie seen = {became_zombie}, gone after waitpid = {gone_after_wait}; orphan adopted = {adopted}; bingfa reaped = {reaped_by_bingfa}, zombies left = {zombies_left}."
    );
    demo.finish();
    if !(became_zombie && gone_after_wait && adopted && reaped_by_bingfa && zombies_left == 0) {
        std::process::exit(1);
    }
}
