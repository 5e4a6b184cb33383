//! The four echo servers. Each runs until its process is killed.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::thread;
use std::time::{Duration, Instant};

use bingfa::green::{self, net};
use bingfa::process::{Pipe, Process, Value};
use bingfa::trace::{record_in, EventKind};

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

/// How a server runs besides its mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opts {
    /// Every reply first sleeps 1 ms in a call that is not green.
    pub blocking: bool,
    /// Print each client's address as it connects, as the course's server
    /// does (`print(addr)`).
    pub log: bool,
}

/// The course's `print(addr)`, in Python's tuple form.
fn log_accept(opts: Opts, addr: SocketAddr) {
    if opts.log {
        println!("('{}', {})", addr.ip(), addr.port());
    }
}

/// Python's `task(conn)`: echo the upper-cased data until the client leaves.
/// Each reply is a span in the trace when recording is on.
fn handle_std(mut conn: StdStream, lane: &str) {
    let _ = conn.set_nodelay(true);
    let mut buf = [0u8; 1024];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        record_in(lane, EventKind::Begin, "reply");
        buf[..n].make_ascii_uppercase();
        let ok = conn.write_all(&buf[..n]).is_ok();
        record_in(lane, EventKind::End, "reply");
        if !ok {
            break;
        }
    }
}

/// gevent's `communication(conn)`; `blocking` adds a non-green 1 ms sleep
/// to every reply.
fn handle_green(mut conn: net::TcpStream, blocking: bool, lane: &str) {
    let _ = conn.set_nodelay(true);
    let mut buf = [0u8; 1024];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        record_in(lane, EventKind::Begin, "reply");
        if blocking {
            thread::sleep(Duration::from_millis(1)); // blocks the whole hub
        }
        buf[..n].make_ascii_uppercase();
        let ok = conn.write_all(&buf[..n]).is_ok();
        record_in(lane, EventKind::End, "reply");
        if !ok {
            break;
        }
    }
}

/// The server listens on `port`: tell the parent, or the person at the
/// terminal.
fn report(port: u16, to: Option<Pipe<u16>>, opts: Opts) {
    if opts.log {
        println!("echo: listening on port {port}; each line below is a client connecting (Ctrl-C to stop)");
    }
    if let Some(p) = to {
        p.send(&port).expect("report the port");
    }
}

/// A green hub that accepts on `listener` forever, a green thread per client.
fn green_accept_loop(listener: net::TcpListener, opts: Opts, hub: &str) -> ! {
    let mut n = 0;
    loop {
        match listener.accept() {
            Ok((conn, addr)) => {
                n += 1;
                log_accept(opts, addr);
                let lane = format!("{hub}green conn-{n}");
                green::spawn(move || handle_green(conn, opts.blocking, &lane));
            }
            Err(e) => {
                eprintln!("echo: accept failed: {e}");
                green::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Why a server could not start.
fn cannot(addr: &str, e: impl fmt::Display) -> String {
    format!("cannot listen on {addr}: {e}")
}

/// The shape of the hybrid server here: (processes, OS threads each), each
/// thread a green hub with its own listening socket.
pub fn hybrid_shape() -> (usize, usize) {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    (cores.max(1), 2)
}

/// Runs `mode`'s server on `addr` (port 0: any free port, reported through
/// `report_to`). Never returns while the server runs; an error if it cannot
/// listen.
pub fn serve(
    mode: Mode,
    addr: &str,
    opts: Opts,
    report_to: Option<Pipe<u16>>,
) -> Result<(), String> {
    bingfa::trace::name_process(&format!("{} server", mode.name()));
    match mode {
        Mode::Thread => {
            let l = StdListener::bind(addr).map_err(|e| cannot(addr, e))?;
            report(l.local_addr().expect("addr").port(), report_to, opts);
            let mut n = 0;
            loop {
                let Ok((conn, peer)) = l.accept() else {
                    continue;
                };
                n += 1;
                log_accept(opts, peer);
                let name = format!("conn-{n}");
                thread::Builder::new()
                    .name(name.clone())
                    .spawn(move || handle_std(conn, &name))
                    .map_err(|e| format!("cannot start a thread: {e}"))?;
            }
        }
        Mode::Process => {
            let l = StdListener::bind(addr).map_err(|e| cannot(addr, e))?;
            report(l.local_addr().expect("addr").port(), report_to, opts);
            let mut n = 0;
            loop {
                let Ok((conn, peer)) = l.accept() else {
                    continue;
                };
                n += 1;
                log_accept(opts, peer);
                // The child gets the connection; the parent's copy is closed
                // when the closure is dropped after the fork.
                let child = Process::builder()
                    .name(format!("conn-{n}"))
                    .daemon(true)
                    .fork(move || {
                        bingfa::trace::name_process(&format!("process conn-{n}"));
                        handle_std(conn, "main")
                    });
                if let Err(e) = child {
                    eprintln!("echo: fork failed: {e}");
                }
            }
        }
        Mode::Green => {
            let addr = addr.to_string();
            green::run(move || -> Result<(), String> {
                let l = net::TcpListener::bind(addr.as_str()).map_err(|e| cannot(&addr, e))?;
                report(l.local_addr().expect("addr").port(), report_to, opts);
                green_accept_loop(l, opts, "")
            })
            .map_err(|e| format!("the hub failed: {e}"))?
        }
        Mode::Hybrid => hybrid(addr, opts, report_to),
    }
}

/// Processes x threads x green threads on one port: every hub has its own
/// listening socket with SO_REUSEPORT, and the kernel spreads connections.
fn hybrid(addr_text: &str, opts: Opts, report_to: Option<Pipe<u16>>) -> Result<(), String> {
    let (processes, threads) = hybrid_shape();
    // Reserve a port: bound with SO_REUSEPORT but never listening, so it
    // takes no connections and keeps the port ours while the hubs bind it.
    let addr: SocketAddr = addr_text
        .parse()
        .map_err(|_| format!("{addr_text} is not an address like 127.0.0.1:9999"))?;
    let reserve = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| cannot(addr_text, e))?;
    reserve
        .set_reuse_port(true)
        .map_err(|e| cannot(addr_text, e))?;
    reserve
        .set_reuse_address(true)
        .map_err(|e| cannot(addr_text, e))?;
    reserve
        .bind(&addr.into())
        .map_err(|e| cannot(addr_text, e))?;
    // Someone else listening on the port without SO_REUSEPORT makes the
    // bind above fail; one listening with it would share our clients.
    if StdStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() && addr.port() != 0 {
        return Err(cannot(addr_text, "another server already listens there"));
    }
    let port = reserve
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("a port")
        .port();
    let bound = Value::new(0u32).expect("shared counter");
    let hubs = move |p: usize, bound: Value<u32>| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let bound = bound.clone();
                thread::Builder::new()
                    .name(format!("hub-{p}.{t}"))
                    .spawn(move || {
                        let _ = green::run(move || {
                            let l = net::TcpListener::bind_reuseport(("127.0.0.1", port))
                                .expect("bind");
                            if let Ok(mut n) = bound.lock() {
                                *n += 1;
                            }
                            green_accept_loop(l, opts, &format!("hub-{p}.{t} "))
                        });
                    })
                    .expect("start a hub thread")
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
            .fork(move || {
                bingfa::trace::name_process(&format!("hybrid server process {p}"));
                hubs(p, bound)
            })
            .map_err(|e| format!("cannot fork a server process: {e}"))?;
        children.push(child);
    }
    let mine = {
        let bound = bound.clone();
        thread::spawn(move || hubs(0, bound))
    };
    let total = (processes * threads) as u32;
    let start = Instant::now();
    while bound.get() < total && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(2));
    }
    report(port, report_to, opts);
    let _ = mine.join();
    drop(children);
    Ok(())
}
