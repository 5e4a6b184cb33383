//! green/echo: a TCP echo load on 127.0.0.1: C connections each sending a
//! 32-byte request and waiting for the 32-byte response, for a few seconds,
//! against an echo server on one bingfa hub, on tokio's current_thread
//! runtime, and on may (one worker). The load generator is this binary run
//! again as a separate process (a bingfa hub with one green thread per
//! connection), the same for every server.
//!
//! Prints per server and connection count: round trips per second and
//! p50/p99 latency, in lines `green/echo-<C> <peer> ...`, and the same
//! figures as `bingfa-bench:` lines, which `cargo xtask bench` puts in
//! BENCHMARKS.md.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MSG: usize = 32;

fn secs() -> Duration {
    Duration::from_millis(
        std::env::var("BINGFA_ECHO_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3000),
    )
}

/// Ends this process after `limit` at the latest and, with `watch_stdin`,
/// as soon as its parent closes our stdin (the parent is done or died): no
/// child outlives the bench.
fn exit_with_parent(limit: Duration, watch_stdin: bool) {
    if watch_stdin {
        std::thread::spawn(|| {
            let mut sink = [0u8; 64];
            while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
            std::process::exit(0);
        });
    }
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("green/echo: a child ran past {limit:?}, stopping");
        std::process::exit(3);
    });
}

/// Serves until the parent closes stdin (or a hard time limit); prints
/// the port first.
fn serve(peer: &str) {
    exit_with_parent(secs() * 4 + Duration::from_secs(30), true);
    let announce = |a: SocketAddr| {
        println!("{}", a.port());
        std::io::stdout().flush().unwrap();
    };
    match peer {
        "bingfa" => {
            bingfa_green::Hub::new()
                .stack_size(32 * 1024)
                .run(move || {
                    let l = bingfa_green::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    announce(l.local_addr().unwrap());
                    loop {
                        let (c, _) = l.accept().unwrap();
                        c.set_nodelay(true).unwrap();
                        bingfa_green::spawn(move || {
                            let mut buf = [0u8; 1024];
                            loop {
                                match (&c).read(&mut buf) {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => {
                                        if (&c).write_all(&buf[..n]).is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                        });
                    }
                })
                .unwrap();
        }
        "tokio-current-thread" => {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                announce(l.local_addr().unwrap());
                loop {
                    let (mut c, _) = l.accept().await.unwrap();
                    c.set_nodelay(true).unwrap();
                    tokio::spawn(async move {
                        let mut buf = [0u8; 1024];
                        loop {
                            match c.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if c.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            });
        }
        "may" => {
            may::config().set_workers(1).set_stack_size(32 * 1024);
            let l = may::net::TcpListener::bind("127.0.0.1:0").unwrap();
            announce(l.local_addr().unwrap());
            for c in l.incoming() {
                let mut c = c.unwrap();
                c.set_nodelay(true).unwrap();
                // SAFETY (may's contract): no TLS, no OS-blocking call.
                unsafe {
                    may::coroutine::spawn(move || {
                        let mut buf = [0u8; 1024];
                        loop {
                            match c.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if c.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    })
                };
            }
        }
        _ => unreachable!(),
    }
}

/// The load generator: prints `round_trips p50_us p99_us`.
fn load(port: u16, conns: usize) {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dur = secs();
    // A stalled server must not hang the bench: give up well after `dur`.
    exit_with_parent(dur * 2 + Duration::from_secs(20), false);
    let (count, mut lat) = bingfa_green::Hub::new()
        .stack_size(32 * 1024)
        .run(move || {
            let hs: Vec<_> = (0..conns)
                .map(|_| {
                    bingfa_green::spawn(move || {
                        let s = bingfa_green::net::TcpStream::connect(addr).unwrap();
                        s.set_nodelay(true).unwrap();
                        let req = [7u8; MSG];
                        let mut resp = [0u8; MSG];
                        let end = Instant::now() + dur;
                        let mut lat = Vec::new();
                        let mut n = 0u64;
                        while Instant::now() < end {
                            let t = Instant::now();
                            (&s).write_all(&req).unwrap();
                            (&s).read_exact(&mut resp).unwrap();
                            if n & 7 == 0 {
                                lat.push(t.elapsed().as_micros() as u32);
                            }
                            n += 1;
                        }
                        (n, lat)
                    })
                })
                .collect();
            let mut total = 0;
            let mut all = Vec::new();
            for h in hs {
                let (n, l) = h.join().unwrap();
                total += n;
                all.extend(l);
            }
            (total, all)
        })
        .unwrap();
    lat.sort_unstable();
    let p = |q: f64| {
        lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{} {} {}",
        count as f64 / dur.as_secs_f64(),
        p(0.50),
        p(0.99)
    );
}

/// Whether this run is for us: no filter (a word after `--` that is
/// neither an option nor a number, as criterion takes it), or one that
/// names `what` (`cargo xtask bench` reruns one criterion group with a
/// filter; then this bench has nothing to add).
fn asked_for(args: &[String], what: &str) -> bool {
    args.iter()
        .skip(1)
        .find(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .is_none_or(|f| f.contains(what))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Ok(peer) = std::env::var("BINGFA_ECHO_SERVER") {
        serve(&peer);
        return;
    }
    if let Ok(spec) = std::env::var("BINGFA_ECHO_LOAD") {
        let (port, conns) = spec.split_once(':').unwrap();
        load(port.parse().unwrap(), conns.parse().unwrap());
        return;
    }
    if args.iter().any(|a| a == "--list") || !asked_for(&args, "echo") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    println!(
        "green/echo ({MSG}-byte request/response over 127.0.0.1, {:?} per run, load generator in its own process)",
        secs()
    );
    for conns in [100usize, 1000] {
        let mut ours = None;
        for peer in ["bingfa", "tokio-current-thread", "may"] {
            let mut server = Command::new(&exe)
                .env("BINGFA_ECHO_SERVER", peer)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut port = String::new();
            {
                let out = server.stdout.as_mut().unwrap();
                let mut b = [0u8; 1];
                while out.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
                    port.push(b[0] as char);
                }
            }
            let out = Command::new(&exe)
                .env("BINGFA_ECHO_LOAD", format!("{}:{conns}", port.trim()))
                .output()
                .unwrap();
            // Closing its stdin stops the server; kill it if it lingers.
            drop(server.stdin.take());
            let _ = server.kill();
            let _ = server.wait();
            let text = String::from_utf8_lossy(&out.stdout);
            let f: Vec<f64> = text
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if f.len() != 3 {
                println!(
                    "green/echo-{conns} {peer:<22} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                continue;
            }
            if peer == "bingfa" {
                ours = Some(f[0]);
            }
            let ratio = ours
                .map(|o| format!("  (bingfa/{peer} = {:.2})", o / f[0]))
                .unwrap_or_default();
            println!(
                "green/echo-{conns} {peer:<22} {:>10.0} round trips/s  p50 {:>6} us  p99 {:>6} us{ratio}",
                f[0], f[1], f[2]
            );
            // For `cargo xtask bench`'s second table (xtask/src/extra.rs).
            println!(
                "bingfa-bench: green/echo-{conns}/round-trips {peer} {:.0} rt/s higher",
                f[0]
            );
            println!(
                "bingfa-bench: green/echo-{conns}/p50 {peer} {} us lower",
                f[1]
            );
            println!(
                "bingfa-bench: green/echo-{conns}/p99 {peer} {} us lower",
                f[2]
            );
        }
    }
}
