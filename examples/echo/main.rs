//! # Lessons 8, 23 and 25: a TCP echo server, four ways
//!
//! `cargo xtask demo echo [--mode thread|process|green|hybrid|all] [--clients N]
//! [--seconds S] [--quick] [--trace FILE]`, or `cargo xtask demo echo --serve
//! 127.0.0.1:9999 --mode green` to run a server alone and point any client at it.
//!
//! The course's Python (seeds 000, 001, 003):
//!
//! ```python
//! # one process per client (seed 003); the thread version starts Thread(...) instead
//! def task(conn, addr):
//!     while True:
//!         try:
//!             data = conn.recv(1024)
//!             if not data: break
//!             conn.send(data.upper())
//!         except Exception:
//!             break
//! server = socket.socket(); server.bind(('127.0.0.1', 9999)); server.listen(5)
//! while True:
//!     conn, addr = server.accept()
//!     p = Process(target=task, args=(conn, addr)); p.start()
//!
//! # one green thread per client on one thread (seed 000)
//! from gevent import monkey; monkey.patch_all()
//! from gevent import spawn
//! def communication(conn):
//!     while True:
//!         data = conn.recv(1024)
//!         if len(data) == 0: break
//!         conn.send(data.upper())
//! def server(ip, port):
//!     server = socket.socket(); server.bind((ip, port)); server.listen(5)
//!     while True:
//!         conn, addr = server.accept()
//!         spawn(communication, conn)
//!
//! # the load: 500 client threads that each send in a loop (seed 000)
//! def x_client():
//!     client = socket.socket(); client.connect(('127.0.0.1', 8080))
//!     n = 0
//!     while True:
//!         msg = '%s say hello %s' % (current_thread().name, n); n += 1
//!         client.send(msg.encode('utf-8'))
//!         data = client.recv(1024)
//! for i in range(500):
//!     Thread(target=x_client).start()
//! ```
//!
//! The demo starts each server in a process of its own, drives it with its
//! own load client (many connections, each sending and waiting for the
//! upper-cased echo, on 127.0.0.1 only, for a bounded time), checks every
//! reply, and prints round trips per second and p50/p99 latency for each
//! mode side by side. `green` also shows what one blocking call in a handler
//! does to every client of the hub; `hybrid` is the course's ideal,
//! processes x threads x green threads on one port (`SO_REUSEPORT`).

#[path = "../common/mod.rs"]
mod common;
mod load;
mod servers;

use std::time::Duration;

use bingfa::process::{Pipe, Process};
use common::Demo;
use servers::Mode;

const PYTHON: &str = r#"
while True:                               # the server: one worker per client
    conn, addr = server.accept()
    Process(target=task, args=(conn, addr)).start()    # or Thread(...), or gevent.spawn(...)
def task(conn, addr):
    while True:
        data = conn.recv(1024)
        if not data: break
        conn.send(data.upper())
for i in range(500):                      # the load: 500 clients sending in a loop
    Thread(target=x_client).start()
"#;

struct Options {
    modes: Vec<Mode>,
    clients: usize,
    seconds: f64,
    serve: Option<String>,
}

fn options(demo: &Demo) -> Options {
    let mut o = Options {
        modes: Vec::new(),
        clients: demo.pick(500, 50),
        seconds: demo.pick(3.0, 0.5),
        serve: None,
    };
    let mut args = demo.rest.iter();
    let bad = |msg: &str| -> ! { common::fail("echo", msg) };
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .unwrap_or_else(|| bad(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--mode" => {
                let v = value();
                o.modes = match v.as_str() {
                    "all" => Mode::ALL.to_vec(),
                    m => vec![Mode::parse(m).unwrap_or_else(|| {
                        bad("--mode takes thread, process, green, hybrid or all")
                    })],
                }
            }
            "--clients" => {
                o.clients = value()
                    .parse()
                    .ok()
                    .filter(|n| (1..=5000).contains(n))
                    .unwrap_or_else(|| bad("--clients takes a number from 1 to 5000"))
            }
            "--seconds" => {
                o.seconds = value()
                    .parse()
                    .ok()
                    .filter(|s| (0.05..=60.0).contains(s))
                    .unwrap_or_else(|| bad("--seconds takes a number from 0.05 to 60"))
            }
            "--serve" => o.serve = Some(value()),
            other => bad(&format!("unknown argument {other}; try --help")),
        }
    }
    if o.modes.is_empty() {
        o.modes = if o.serve.is_some() {
            vec![Mode::Green]
        } else {
            Mode::ALL.to_vec()
        };
    }
    o
}

/// Starts `mode`'s server in a process of its own; returns it and its port.
fn start_server(mode: Mode, blocking: bool) -> (Process, u16) {
    let (here, there) = Pipe::<u16>::new().expect("pipe");
    let server = Process::builder()
        .name(format!("{} server", mode.name()))
        .daemon(true)
        .fork(move || {
            let opts = servers::Opts {
                blocking,
                log: false,
            };
            if let Err(e) = servers::serve(mode, "127.0.0.1:0", opts, Some(there)) {
                eprintln!("echo: {e}");
            }
        })
        .expect("fork the server");
    let port = here
        .recv_timeout(Duration::from_secs(10))
        .expect("the server reports its port");
    (server, port)
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "echo",
        "The course's upper-casing echo server served four ways, measured with the same load.\n\
         \x20 --mode thread|process|green|hybrid|all   which servers (default all)\n\
         \x20 --clients N      concurrent client connections (default 500; --quick 50)\n\
         \x20 --seconds S      load time per server (default 3; --quick 0.5)\n\
         \x20 --serve ADDR     only run a server on ADDR (e.g. 127.0.0.1:9999) until killed",
    );
    let opts = options(&demo);
    if let Some(addr) = &opts.serve {
        let mode = opts.modes[0];
        println!("echo: a {} server on {addr}", mode.name());
        let opts = servers::Opts {
            blocking: false,
            log: true,
        };
        if let Err(e) = servers::serve(mode, addr, opts, None) {
            eprintln!("echo: {e}");
            std::process::exit(1);
        }
        return;
    }
    demo.intro("Lessons 8, 23 and 25: a TCP echo server, four ways", PYTHON);
    let duration = Duration::from_secs_f64(opts.seconds);
    demo.say(&format!(
        "Load: {} connections on 127.0.0.1, each sending \"client-N say hello K\" and waiting\n\
         for the upper-cased echo, for {duration:?} per server. Every reply is checked.\n",
        opts.clients
    ));

    let mut rows = Vec::new();
    for &mode in &opts.modes {
        demo.section(&format!("{}: {}", mode.name(), mode.what()));
        let (server, port) = start_server(mode, false);
        let stats = load::run(port, opts.clients, duration);
        server.kill().ok();
        let _ = server.join();
        println!("  {stats}");
        rows.push((mode.name().to_string(), stats));
    }
    if opts.modes.contains(&Mode::Green) {
        demo.section("green, with one blocking call in the handler");
        demo.say(
            "The same green server, but each reply first calls std::thread::sleep(1 ms), a call\n\
             that is not green (like forgetting gevent's monkey.patch_all()): it stops the hub's\n\
             only OS thread, and with it every other client.\n",
        );
        let (server, port) = start_server(Mode::Green, true);
        let stats = load::run(port, opts.clients, duration);
        server.kill().ok();
        let _ = server.join();
        println!("  {stats}");
        rows.push(("green, blocking".to_string(), stats));
    }
    // The close-up serves with the mode asked for (green when all ran).
    let close = if opts.modes.len() == 1 {
        opts.modes[0]
    } else {
        Mode::Green
    };
    demo.section(&format!(
        "Up close: three clients of a {} server, round trip by round trip",
        close.name()
    ));
    // Recording starts before the server is forked, so that the server
    // records its replies into the same trace, as a lane group of its own.
    demo.record();
    let (server, port) = start_server(close, false);
    let close_up = load::run_traced(port, 3, 8, Duration::from_micros(300));
    server.kill().ok();
    let _ = server.join();
    let events = demo.show(&format!("three clients, one {} server", close.name()));
    let me = std::process::id();
    let server_pids: std::collections::BTreeSet<u32> = events
        .iter()
        .filter(|e| e.pid != me && e.kind != bingfa::trace::EventKind::ProcessName)
        .map(|e| e.pid)
        .collect();
    let replies = events
        .iter()
        .filter(|e| {
            e.pid != me && &*e.object == "reply" && e.kind == bingfa::trace::EventKind::Begin
        })
        .count();
    demo.say(&format!(
        "Top: the three clients, green threads of this process, each bar one round trip\n\
         ({} in all). Below: the {} server's side, recorded in {} process(es) of its own,\n\
         a lane per {};\n\
         each bar one reply ({replies} recorded).",
        close_up.round_trips,
        close.name(),
        server_pids.len(),
        match close {
            Mode::Thread => "OS thread it started for a client",
            Mode::Process => "process it forked for a client",
            Mode::Green => "green thread it spawned for a client, all on one OS thread",
            Mode::Hybrid => "green thread, in hubs spread over processes and threads",
        }
    ));

    demo.section("Side by side");
    println!(
        "  {:<16} {:>8} {:>14} {:>10} {:>10} {:>7}",
        "server", "clients", "round trips/s", "p50", "p99", "errors"
    );
    for (name, s) in &rows {
        println!(
            "  {:<16} {:>8} {:>14.0} {:>10.1?} {:>10.1?} {:>7}",
            name,
            s.clients,
            s.per_second(),
            s.p50,
            s.p99,
            s.errors
        );
    }
    let best = |n: &str| {
        rows.iter()
            .find(|(m, _)| m == n)
            .map(|(_, s)| s.per_second())
    };
    if let (Some(h), Some(g)) = (best("hybrid"), best("green")) {
        let (procs, threads) = servers::hybrid_shape();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ratio = h / g;
        let verdict = if ratio >= 1.2 {
            format!("a speed-up of {ratio:.2}x over one green hub")
        } else {
            format!(
                "no speed-up ({ratio:.2}x of one green hub) on {cores} core(s): the load generator, this\n\
                 very program, needs the same cores, and more hubs than cores only take turns"
            )
        };
        demo.say(&format!(
            "\nhybrid: {procs} process(es) x {threads} OS threads x a green thread per client ({} clients\n\
             spread by the kernel over {} hubs on one port): {verdict}.",
            opts.clients,
            procs * threads
        ));
    }
    if let (Some(b), Some(g)) = (best("green, blocking"), best("green")) {
        demo.say(&format!(
            "one blocking call per reply cut the green server to {:.3}x of its throughput.",
            b / g
        ));
    }
    demo.section("What to remember");
    demo.say(
        "One worker per client is the simple design: a process each is the heaviest (a fork\n\
         per connection), a thread each is lighter, a green thread each is the lightest (one OS\n\
         thread serves every client, switching whenever a socket would block). A green server\n\
         must never block its OS thread. The course's ideal, processes x threads x coroutines,\n\
         uses every core with many hubs on one port.",
    );
    let errors: u64 = rows.iter().map(|(_, s)| s.errors).sum();
    let served: Vec<String> = rows
        .iter()
        .filter(|(_, s)| s.round_trips > 0)
        .map(|(m, _)| m.clone())
        .collect();
    println!(
        "\nResult: served {} with {errors} errors.",
        served.join(", ")
    );
    demo.finish();
    if errors > 0 || served.len() != rows.len() {
        std::process::exit(1);
    }
}
