//! The four echo servers. Each runs until its process is killed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::thread;
use std::time::{Duration, Instant};

use bingfa::green::{self, net};
use bingfa::process::{Pipe, Process, Value};

/// How the server serves its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Thread,
    Process,
    Green,
    Hybrid,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Thread, Mode::Process, Mode::Green, Mode::Hybrid];

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Thread => "thread",
            Mode::Process => "process",
            Mode::Green => "green",
            Mode::Hybrid => "hybrid",
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Mode::Thread => "one OS thread per client (lesson 8)",
            Mode::Process => "one process per client, forked at accept (lesson 8)",
            Mode::Green => "one green thread per client, one OS thread in all (lesson 23)",
            Mode::Hybrid => "processes x threads x green threads on one port (lesson 25)",
        }
    }
}

/// Python's `task(conn)`: echo the upper-cased data until the client leaves.
fn handle_std(mut conn: StdStream) {
    let _ = conn.set_nodelay(true);
    let mut buf = [0u8; 1024];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf[..n].make_ascii_uppercase();
        if conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// gevent's `communication(conn)`; `blocking` adds a non-green 1 ms sleep
/// to every reply.
fn handle_green(mut conn: net::TcpStream, blocking: bool) {
    let _ = conn.set_nodelay(true);
    let mut buf = [0u8; 1024];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if blocking {
            thread::sleep(Duration::from_millis(1)); // blocks the whole hub
        }
        buf[..n].make_ascii_uppercase();
        if conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

fn report(port: u16, to: Option<Pipe<u16>>) {
    if let Some(p) = to {
        p.send(&port).expect("report the port");
    }
}

/// A green hub that accepts on `listener` forever, a green thread per client.
fn green_accept_loop(listener: net::TcpListener, blocking: bool) -> ! {
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                green::spawn(move || handle_green(conn, blocking));
            }
            Err(e) => {
                eprintln!("echo: accept failed: {e}");
                green::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Runs `mode`'s server on `addr` (port 0: any free port, reported through
/// `report_to`). Never returns while the server runs.
pub fn serve(mode: Mode, addr: &str, blocking: bool, report_to: Option<Pipe<u16>>) {
    match mode {
        Mode::Thread => {
            let l = StdListener::bind(addr).expect("bind");
            report(l.local_addr().expect("addr").port(), report_to);
            for conn in l.incoming().flatten() {
                thread::spawn(move || handle_std(conn));
            }
        }
        Mode::Process => {
            let l = StdListener::bind(addr).expect("bind");
            report(l.local_addr().expect("addr").port(), report_to);
            for conn in l.incoming().flatten() {
                // The child gets the connection; the parent's copy is closed
                // when the closure is dropped after the fork.
                let child = Process::builder()
                    .name("echo-conn")
                    .daemon(true)
                    .fork(move || handle_std(conn));
                if let Err(e) = child {
                    eprintln!("echo: fork failed: {e}");
                }
            }
        }
        Mode::Green => {
            let addr = addr.to_string();
            let result = green::run(move || {
                let l = net::TcpListener::bind(addr.as_str()).expect("bind");
                report(l.local_addr().expect("addr").port(), report_to);
                green_accept_loop(l, blocking)
            });
            if let Err(e) = result {
                eprintln!("echo: the hub failed: {e}");
            }
        }
        Mode::Hybrid => hybrid(addr, report_to),
    }
}

/// Processes x threads x green threads on one port: every hub has its own
/// listening socket with SO_REUSEPORT, and the kernel spreads connections.
fn hybrid(addr: &str, report_to: Option<Pipe<u16>>) {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let (processes, threads) = (cores.max(1), 2);
    // Reserve a port: bound with SO_REUSEPORT but never listening, so it
    // takes no connections and keeps the port ours while the hubs bind it.
    let addr: SocketAddr = addr.parse().expect("an address like 127.0.0.1:0");
    let reserve =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    reserve.set_reuse_port(true).expect("SO_REUSEPORT");
    reserve.set_reuse_address(true).expect("SO_REUSEADDR");
    reserve.bind(&addr.into()).expect("bind");
    let port = reserve
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("a port")
        .port();
    let bound = Value::new(0u32).expect("shared counter");
    let hubs = move |bound: Value<u32>| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let bound = bound.clone();
                thread::spawn(move || {
                    let _ = green::run(move || {
                        let l =
                            net::TcpListener::bind_reuseport(("127.0.0.1", port)).expect("bind");
                        if let Ok(mut n) = bound.lock() {
                            *n += 1;
                        }
                        green_accept_loop(l, false)
                    });
                })
            })
            .collect();
        for h in handles {
            let _ = h.join();
        }
    };
    let mut children = Vec::new();
    for p in 1..processes {
        let (hubs, bound) = (hubs, bound.clone());
        let child = Process::builder()
            .name(format!("hybrid-{p}"))
            .daemon(true)
            .fork(move || hubs(bound))
            .expect("fork a server process");
        children.push(child);
    }
    let mine = {
        let bound = bound.clone();
        thread::spawn(move || hubs(bound))
    };
    let total = (processes * threads) as u32;
    let start = Instant::now();
    while bound.get() < total && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(2));
    }
    report(port, report_to);
    let _ = mine.join();
    drop(children);
}
