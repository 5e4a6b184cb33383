//! Ported from CPython's `Lib/test/_test_multiprocessing.py`, classes
//! `_TestProcess`, `_TestSubclassingProcess` and `_TestPollEintr` (CPython main, commit
//! 00811485ee5ffa6d719cd4058ba3651ee9cd207b, the 3.15 development branch).
//! Copyright (c) 2001-2025 Python Software Foundation; licensed under the
//! PSF License Agreement, version 2 (PSF-2.0).
//!
//! One Rust test per upstream test, named after it. Upstream tests that
//! are not ported, or only in part, are listed with the reason in the
//! crate's `PARITY.md`. Upstream runs each test under the fork, spawn and
//! forkserver start methods; here with fork, and with spawn too where the
//! start method makes a difference.

use std::collections::HashSet;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bingfa_process::{
    active_children, current_process, parent_process, Builder, Event, ExitStatus, Pipe, PipeWriter,
    Process, Queue, Value,
};

bingfa_process::enable_test_support!();

const LONG: Duration = Duration::from_secs(60);

fn ok(p: &Process) {
    assert_eq!(
        p.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        p.panic_message()
    );
}

fn active(p: &Process) -> bool {
    active_children().iter().any(|c| c.pid() == p.pid())
}

/// Upstream's `_TestProcess`.
mod _test_process {
    use super::*;

    #[test]
    fn test_current() {
        let current = current_process();
        // Upstream also checks `authkey` (no such key here) and that the
        // current process is alive with no exit code (it is running this).
        assert!(!current.daemon());
        assert_eq!(current.pid(), std::process::id());
        assert_eq!(current.name(), "MainProcess");
        assert_eq!(current.parent_pid(), None);
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
    enum Arg {
        Int(i64),
        Str(String),
        List(Vec<i64>),
        Tuple((i64,)),
    }

    fn put_arg(args: (Queue<Arg>, Arg)) {
        args.0.put(args.1).unwrap();
    }

    #[test]
    fn test_args_argument() {
        // Upstream passes `args` as a list or as a tuple; here the arguments
        // are one serde value, of each of the upstream cases' shapes.
        for arg in [
            Arg::Int(1),
            Arg::Str("str".into()),
            Arg::List(vec![1]),
            Arg::Tuple((1,)),
        ] {
            let q = Queue::<Arg>::new(1).unwrap();
            let p = Builder::new()
                .daemon(true)
                .spawn(put_arg, (q.clone(), arg.clone()))
                .unwrap();
            assert_eq!(q.get_timeout(LONG).unwrap(), arg);
            ok(&p);
        }
    }

    #[test]
    fn test_daemon_argument() {
        // By default a child is not a daemon (the current process is not one).
        let proc0 = bingfa_process::fork(|| {}).unwrap();
        assert_eq!(proc0.daemon(), current_process().daemon());
        let proc1 = Builder::new().daemon(true).fork(|| {}).unwrap();
        assert!(proc1.daemon());
        let proc2 = Builder::new().daemon(false).fork(|| {}).unwrap();
        assert!(!proc2.daemon());
        for p in [proc0, proc1, proc2] {
            ok(&p);
        }
    }

    fn send_parent_process(w: PipeWriter<(u32, String)>) {
        let parent = parent_process().unwrap();
        w.send(&(parent.pid(), parent.name().to_owned())).unwrap();
    }

    #[test]
    fn test_parent_process_attributes() {
        assert!(parent_process().is_none());
        let (rconn, wconn) = Pipe::<(u32, String)>::one_way().unwrap();
        let p = bingfa_process::spawn(send_parent_process, wconn).unwrap();
        ok(&p);
        let (parent_pid, parent_name) = rconn.recv_timeout(LONG).unwrap();
        assert_eq!(parent_pid, current_process().pid());
        assert_eq!(parent_pid, std::process::id());
        assert_eq!(parent_name, current_process().name());
    }

    fn create_grandchild_process(wconn: PipeWriter<String>) {
        let _g = bingfa_process::spawn(report_parent_status, wconn).unwrap();
        std::thread::sleep(Duration::from_secs(300));
    }

    fn report_parent_status(wconn: PipeWriter<String>) {
        let parent = parent_process().unwrap();
        let status = |alive| if alive { "alive" } else { "not alive" }.to_owned();
        wconn.send(&status(parent.is_alive())).unwrap();
        parent.join_timeout(LONG);
        wconn.send(&status(parent.is_alive())).unwrap();
    }

    #[test]
    fn test_parent_process() {
        // A child starts a grandchild, then is killed: the grandchild sees
        // its parent die.
        let (rconn, wconn) = Pipe::<String>::one_way().unwrap();
        let p = bingfa_process::spawn(create_grandchild_process, wconn).unwrap();
        assert!(rconn.poll(LONG).unwrap(), "no word from the grandchild");
        assert_eq!(rconn.recv().unwrap(), "alive");
        p.terminate().unwrap();
        assert_eq!(p.join().unwrap(), ExitStatus::Signal(libc::SIGTERM));
        assert!(rconn.poll(LONG).unwrap(), "no word from the grandchild");
        assert_eq!(rconn.recv().unwrap(), "not alive");
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Report {
        Args(u32, u32),
        Kwargs(Vec<(String, f64)>),
        Name(String),
        Pid(u32),
    }

    #[test]
    fn test_process() {
        let q = Queue::<Report>::new(4).unwrap();
        let args = (1u32, 2u32);
        let kwargs = vec![("hello".to_owned(), 23.0), ("bye".to_owned(), 2.54)];
        let name = "SomeProcess";
        let p = Builder::new()
            .name(name)
            .daemon(true)
            .fork(|| {
                let current = current_process();
                q.put(Report::Args(args.0, args.1)).unwrap();
                q.put(Report::Kwargs(kwargs.clone())).unwrap();
                q.put(Report::Name(current.name().to_owned())).unwrap();
                q.put(Report::Pid(current.pid())).unwrap();
            })
            .unwrap();
        // (Upstream checks the handle before `start`; a handle here exists
        // only once the child runs.)
        assert!(p.daemon());
        assert_eq!(p.name(), name);
        assert_eq!(q.get_timeout(LONG).unwrap(), Report::Args(1, 2));
        assert_eq!(q.get_timeout(LONG).unwrap(), Report::Kwargs(kwargs.clone()));
        assert_eq!(q.get_timeout(LONG).unwrap(), Report::Name(name.into()));
        assert_eq!(q.get_timeout(LONG).unwrap(), Report::Pid(p.pid()));
        ok(&p);
        assert_eq!(p.exitcode().unwrap(), Some(0));
        assert!(!p.is_alive().unwrap());
        assert!(!active(&p));

        let ev = Event::new().unwrap();
        let p = bingfa_process::fork(|| assert!(ev.wait_timeout(LONG))).unwrap();
        assert_eq!(p.exitcode().unwrap(), None);
        assert!(p.is_alive().unwrap());
        assert!(active(&p));
        ev.set();
        ok(&p);
    }

    fn send_main_thread_id(q: Queue<u32>) {
        // This process's main thread: its id is the pid.
        q.put(std::process::id()).unwrap();
    }

    #[test]
    fn test_process_mainthread_native_id() {
        let current_mainthread_native_id = std::process::id();
        let q = Queue::<u32>::new(1).unwrap();
        let p = bingfa_process::spawn(send_main_thread_id, q.clone()).unwrap();
        let child_mainthread_native_id = q.get_timeout(LONG).unwrap();
        ok(&p);
        assert_ne!(current_mainthread_native_id, child_mainthread_native_id);
        assert_eq!(child_mainthread_native_id, p.pid());
    }

    /// `_kill_process`: a daemon child sets `event` and sleeps; `meth` ends
    /// it; returns its exit status.
    fn kill_process(meth: impl FnOnce(&Process), default_sigint: bool) -> ExitStatus {
        let event = Event::new().unwrap();
        let p = Builder::new()
            .daemon(true)
            .fork(|| {
                if default_sigint {
                    // SAFETY: setting a signal's disposition to the default.
                    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
                }
                event.set();
                std::thread::sleep(Duration::from_secs(100));
            })
            .unwrap();
        assert!(p.is_alive().unwrap());
        assert!(active(&p));
        assert_eq!(p.exitcode().unwrap(), None);
        let t = Instant::now();
        assert_eq!(p.join_timeout(Duration::ZERO).unwrap(), None);
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(p.is_alive().unwrap());
        // (Upstream's join(-1): a negative timeout does not exist here.)
        if !event.wait_timeout(LONG) {
            p.terminate().unwrap();
            p.join().unwrap();
            panic!("event not signaled in {LONG:?}");
        }
        meth(&p);
        let status = p.join_timeout(LONG).unwrap().expect("join took too long");
        assert!(!p.is_alive().unwrap());
        assert!(!active(&p));
        assert_eq!(p.join().unwrap(), status);
        status
    }

    #[test]
    fn test_interrupt_no_handler() {
        let status = kill_process(|p| p.interrupt().unwrap(), true);
        assert_eq!(status.python_exitcode(), -libc::SIGINT);
    }

    #[test]
    fn test_terminate() {
        let status = kill_process(|p| p.terminate().unwrap(), false);
        assert_eq!(status.python_exitcode(), -libc::SIGTERM);
    }

    #[test]
    fn test_kill() {
        let status = kill_process(|p| p.kill().unwrap(), false);
        assert_eq!(status.python_exitcode(), -libc::SIGKILL);
    }

    #[test]
    fn test_active_children() {
        let event = Event::new().unwrap();
        let p = Builder::new().daemon(true).fork(|| event.wait()).unwrap();
        assert!(active(&p));
        event.set();
        ok(&p);
        assert!(!active(&p));
    }

    fn recursion(wconn: &PipeWriter<Vec<u32>>, id: Vec<u32>) {
        wconn.send(&id).unwrap();
        if id.len() < 2 {
            for i in 0..2 {
                let mut next = id.clone();
                next.push(i);
                let p = bingfa_process::fork(|| recursion(wconn, next)).unwrap();
                ok(&p);
            }
        }
    }

    #[test]
    fn test_recursion() {
        let (rconn, wconn) = Pipe::<Vec<u32>>::one_way().unwrap();
        recursion(&wconn, vec![]);
        let mut result = Vec::new();
        while rconn.poll(Duration::from_millis(100)).unwrap() {
            result.push(rconn.recv().unwrap());
        }
        let expected: Vec<Vec<u32>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![0, 1],
            vec![1],
            vec![1, 0],
            vec![1, 1],
        ];
        assert_eq!(result, expected);
    }

    /// Whether `fd` is readable within `ms` milliseconds (Python:
    /// `multiprocessing.connection.wait([fd], timeout)`).
    fn wait_for_handle(fd: i32, ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) == 1 }
    }

    #[test]
    fn test_sentinel() {
        let event = Event::new().unwrap();
        // (Upstream: reading the sentinel before `start` raises; no handle
        // exists before the child runs here.)
        let p = bingfa_process::fork(|| {
            event.wait_timeout(Duration::from_secs(10));
        })
        .unwrap();
        let sentinel = p.sentinel().unwrap().as_raw_fd();
        assert!(!wait_for_handle(sentinel, 0));
        event.set();
        ok(&p);
        assert!(wait_for_handle(sentinel, 1000));
    }

    #[test]
    fn test_many_processes() {
        for (spawn, n) in [(false, 100), (true, 5)] {
            let start = |sleep: Duration| {
                if spawn {
                    bingfa_process::spawn(sleep_for, sleep).unwrap()
                } else {
                    bingfa_process::fork(move || std::thread::sleep(sleep)).unwrap()
                }
            };
            let procs: Vec<_> = (0..n).map(|_| start(Duration::from_millis(10))).collect();
            for p in &procs {
                ok(p);
            }
            let procs: Vec<_> = (0..n).map(|_| start(Duration::from_secs(100))).collect();
            std::thread::sleep(Duration::from_millis(1));
            for p in &procs {
                p.terminate().unwrap();
            }
            for p in &procs {
                let st = p.join_timeout(LONG).unwrap().expect("a child did not end");
                assert_eq!(st.python_exitcode(), -libc::SIGTERM);
            }
        }
    }

    fn sleep_for(d: Duration) {
        std::thread::sleep(d);
    }

    #[test]
    fn test_lose_target_ref() {
        // The parent does not keep the target (here: what its closure owns)
        // alive once the child started.
        let c = Arc::new(());
        let weak = Arc::downgrade(&c);
        let q = Queue::<u32>::new(1).unwrap();
        let p = {
            let q = q.clone();
            bingfa_process::fork(move || {
                assert_eq!(Arc::strong_count(&c), 1);
                q.put(5).unwrap();
            })
            .unwrap()
        };
        ok(&p);
        assert!(weak.upgrade().is_none());
        assert_eq!(q.get_timeout(LONG).unwrap(), 5);
    }

    fn fd_count_then_wait(args: (Event, Queue<usize>)) {
        let (evt, q) = args;
        let n = std::fs::read_dir("/proc/self/fd").unwrap().count();
        q.put(n).unwrap();
        evt.wait();
    }

    #[test]
    fn test_child_fd_inflation() {
        // The number of descriptors of a spawned child does not grow with the
        // number of children running (upstream skips fork, which inherits
        // every descriptor by design).
        const N: usize = 5;
        let evt = Event::new().unwrap();
        let q = Queue::<usize>::new(N).unwrap();
        let procs: Vec<_> = (0..N)
            .map(|_| bingfa_process::spawn(fd_count_then_wait, (evt.clone(), q.clone())).unwrap())
            .collect();
        let fd_counts: Vec<usize> = (0..N).map(|_| q.get_timeout(LONG).unwrap()).collect();
        evt.set();
        for p in &procs {
            ok(p);
        }
        let distinct: HashSet<_> = fd_counts.iter().collect();
        assert_eq!(distinct.len(), 1, "{fd_counts:?}");
    }

    #[test]
    fn test_wait_for_threads() {
        // A child waits for the threads it started before it exits. (Upstream
        // also starts a daemon thread that sleeps 20 s and is not waited for:
        // Rust threads have no daemon flag; `Builder::join_threads(false)`
        // gives the whole child that behaviour, see tests/exit.rs.)
        let evt = Event::new().unwrap();
        let proc = bingfa_process::fork(|| {
            let evt = evt.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                evt.set();
            });
        })
        .unwrap();
        ok(&proc);
        assert!(evt.is_set());
    }

    /// Closes this process's standard output and error (and leaves them
    /// closed).
    fn break_std_streams() {
        // SAFETY: closing our own descriptors 1 and 2; nothing else of this
        // process uses them afterwards but the library's flush, which must
        // cope.
        unsafe {
            libc::close(1);
            libc::close(2);
        }
    }

    #[test]
    fn test_error_on_stdio_flush_1() {
        // The parent's standard streams are broken when the child starts (the
        // child inherits them): the child still ends normally. The parent is a
        // child of the test, so that the test's own streams stay whole.
        let evt = Event::new().unwrap();
        let code = Value::new(-1i32).unwrap();
        let parent = bingfa_process::fork(|| {
            print!("buffered, never flushed");
            break_std_streams();
            let proc = bingfa_process::fork(|| evt.set()).unwrap();
            code.set(proc.join().unwrap().python_exitcode());
        })
        .unwrap();
        ok(&parent);
        assert!(evt.is_set());
        assert_eq!(code.get(), 0);
    }

    #[test]
    fn test_error_on_stdio_flush_2() {
        // The child breaks its own streams, with output still buffered.
        let evt = Event::new().unwrap();
        let proc = bingfa_process::fork(|| {
            print!("buffered, never flushed");
            break_std_streams();
            evt.set();
        })
        .unwrap();
        ok(&proc);
        assert!(evt.is_set());
    }
}

/// Upstream's `_TestSubclassingProcess`.
mod _test_subclassing_process {
    use super::*;

    /// `_UpperCaser`: a process type with its own `run`, talking over a pipe.
    struct UpperCaser {
        parent_conn: Pipe<Option<String>>,
        process: Process,
    }

    impl UpperCaser {
        fn start() -> UpperCaser {
            let (child_conn, parent_conn) = Pipe::<Option<String>>::new().unwrap();
            let process = Builder::new()
                .daemon(true)
                .fork(|| UpperCaser::run(&child_conn))
                .unwrap();
            UpperCaser {
                parent_conn,
                process,
            }
        }

        fn run(child_conn: &Pipe<Option<String>>) {
            while let Some(s) = child_conn.recv().unwrap() {
                child_conn.send(&Some(s.to_uppercase())).unwrap();
            }
        }

        fn submit(&self, s: &str) -> String {
            self.parent_conn.send(&Some(s.to_owned())).unwrap();
            self.parent_conn.recv().unwrap().unwrap()
        }

        fn stop(self) -> Process {
            self.parent_conn.send(&None).unwrap();
            self.process
        }
    }

    #[test]
    fn test_subclassing() {
        let uppercaser = UpperCaser::start();
        assert_eq!(uppercaser.submit("hello"), "HELLO");
        assert_eq!(uppercaser.submit("world"), "WORLD");
        let p = uppercaser.stop();
        ok(&p);
    }

    fn stderr_flush(path: std::path::PathBuf) {
        let f = std::fs::File::create(path).unwrap();
        // SAFETY: makes descriptor 2 a copy of the file's.
        unsafe { libc::dup2(f.as_raw_fd(), 2) };
        let zero = std::hint::black_box(0u32);
        let _ = 1 / zero; // MARKER
    }

    #[test]
    fn test_stderr_flush() {
        // A panic's report reaches the child's standard error (here a file)
        // in full before the child exits. Spawned: a forked child of a test
        // would inherit libtest's capture of the test thread's output.
        let path = std::env::temp_dir().join(format!("bingfa-stderr-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let proc = bingfa_process::spawn(stderr_flush, path.clone()).unwrap();
        assert_eq!(proc.join().unwrap(), ExitStatus::Code(1));
        let mut err = String::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(err.contains("attempt to divide by zero"), "{err}");
        assert!(err.contains("cpython_process.rs"), "{err}");
        // The parent has the message too.
        assert!(proc
            .panic_message()
            .unwrap()
            .contains("attempt to divide by zero"));
    }

    #[test]
    fn test_sys_exit() {
        // Upstream also exits with a list and a string as reason (printed,
        // exit code 1) and with True/False/None: Rust exits with integers.
        for code in [1, 0, 8] {
            let p = Builder::new()
                .daemon(true)
                .fork(|| std::process::exit(code))
                .unwrap();
            assert_eq!(p.join().unwrap(), ExitStatus::Code(code));
        }
        let p = Builder::new().daemon(true).fork(|| {}).unwrap();
        assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
    }
}

/// Upstream's `_TestPollEintr`.
mod _test_poll_eintr {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    static GOT_SIGNAL: AtomicBool = AtomicBool::new(false);

    extern "C" fn record(_: libc::c_int) {
        GOT_SIGNAL.store(true, Ordering::SeqCst);
    }

    #[test]
    fn test_poll_eintr() {
        // `join` goes on waiting through a signal that interrupts it. The
        // signal handler is installed in a middle process, not in the test
        // binary (whose other tests it would disturb).
        let middle = bingfa_process::fork(|| {
            // SAFETY: installing a handler that only stores to an atomic.
            unsafe {
                libc::signal(
                    libc::SIGUSR1,
                    record as extern "C" fn(libc::c_int) as libc::sighandler_t,
                )
            };
            let pid = std::process::id() as libc::pid_t;
            let killer = bingfa_process::fork(move || {
                std::thread::sleep(Duration::from_millis(100));
                // SAFETY: signalling the middle process, our parent.
                unsafe { libc::kill(pid, libc::SIGUSR1) };
            })
            .unwrap();
            let p = bingfa_process::fork(|| std::thread::sleep(Duration::from_secs(2))).unwrap();
            assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
            ok(&killer);
            assert!(GOT_SIGNAL.load(Ordering::SeqCst));
        })
        .unwrap();
        ok(&middle);
    }
}
