//! green/memory-per-idle: resident memory per idle green thread (blocked,
//! never woken), measured as the growth of RSS (`/proc/self/statm`) over
//! N of them, each peer in a fresh child process. Peers: may coroutines,
//! tokio tasks (current_thread), OS threads.
//!
//! Prints one line per peer: `green/memory-per-idle <peer> <bytes> B/thread`,
//! and the same figure as a `bingfa-bench:` line, which `cargo xtask bench`
//! puts in BENCHMARKS.md.

use std::process::Command;
use std::time::Duration;

const N_GREEN: usize = 20_000;
const N_OS: usize = 1_000;

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

fn measure(peer: &str) -> f64 {
    match peer {
        "bingfa" => bingfa_green::Hub::new()
            .stack_size(16 * 1024)
            .run(|| {
                let ev = std::rc::Rc::new(bingfa_green::sync::Event::new());
                let before = rss_bytes();
                let hs: Vec<_> = (0..N_GREEN)
                    .map(|_| {
                        let e = ev.clone();
                        bingfa_green::spawn(move || e.wait())
                    })
                    .collect();
                bingfa_green::yield_now();
                let per = (rss_bytes() - before) as f64 / N_GREEN as f64;
                ev.set();
                bingfa_green::joinall(&hs);
                per
            })
            .unwrap(),
        "tokio-current-thread" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let n = std::sync::Arc::new(tokio::sync::Notify::new());
                let before = rss_bytes();
                let hs: Vec<_> = (0..N_GREEN)
                    .map(|_| {
                        let n = n.clone();
                        tokio::spawn(async move { n.notified().await })
                    })
                    .collect();
                tokio::task::yield_now().await;
                let per = (rss_bytes() - before) as f64 / N_GREEN as f64;
                n.notify_waiters();
                for h in hs {
                    h.abort();
                }
                per
            })
        }
        "may" => {
            may::config().set_workers(1).set_stack_size(16 * 1024);
            let (tx, rx) = may::sync::mpmc::channel::<()>();
            let before = rss_bytes();
            let hs: Vec<_> = (0..N_GREEN)
                .map(|_| {
                    let rx = rx.clone();
                    // SAFETY (may's contract): no TLS, no OS-blocking call.
                    unsafe {
                        may::coroutine::spawn(move || {
                            let _ = rx.recv();
                        })
                    }
                })
                .collect();
            std::thread::sleep(Duration::from_millis(500));
            let per = (rss_bytes() - before) as f64 / N_GREEN as f64;
            drop(tx);
            for h in hs {
                let _ = h.join();
            }
            per
        }
        "os-thread" => {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
            let before = rss_bytes();
            let hs: Vec<_> = (0..N_OS)
                .map(|_| {
                    let rx = rx.clone();
                    std::thread::spawn(move || drop(rx.lock().map(|r| r.recv())))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(300));
            let per = (rss_bytes() - before) as f64 / N_OS as f64;
            drop(tx);
            for h in hs {
                let _ = h.join();
            }
            per
        }
        _ => unreachable!(),
    }
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
    if let Ok(peer) = std::env::var("BINGFA_MEM_PEER") {
        println!("{}", measure(&peer));
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") || !asked_for(&args, "memory") {
        return;
    }
    println!("green/memory-per-idle (resident bytes per idle green thread; lower is better)");
    let mut ours = None;
    for peer in ["bingfa", "may", "tokio-current-thread", "os-thread"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .env("BINGFA_MEM_PEER", peer)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        match text.trim().parse::<f64>() {
            Ok(b) => {
                if peer == "bingfa" {
                    ours = Some(b);
                }
                let ratio = ours
                    .map(|o| format!("  (bingfa/{peer} = {:.2})", o / b))
                    .unwrap_or_default();
                println!("green/memory-per-idle {peer:<22} {b:>10.0} B/thread{ratio}");
                // For `cargo xtask bench`'s second table (xtask/src/extra.rs).
                println!("bingfa-bench: green/memory-per-idle {peer} {b:.0} B/thread lower");
            }
            Err(_) => println!(
                "green/memory-per-idle {peer:<22} failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        }
    }
}
