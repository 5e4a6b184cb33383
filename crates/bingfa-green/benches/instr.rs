//! Workloads to count instructions of, under valgrind (load-independent,
//! unlike times on a shared machine): `instr WORKLOAD N` runs WORKLOAD
//! with N operations and prints nothing. The count of one operation is
//! the difference between two runs (N = 2M and N = M) over M, which takes
//! start-up and teardown out:
//!
//! ```text
//! valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
//!     target/release/deps/instr-* spawn-join 200000
//! ```
//!
//! `benches/count.sh` does both runs for every workload and prints the
//! figures NOTES.md quotes.
//!
//! Workloads:
//! - `spawn-join`, `tokio-spawn-join`: spawn a green thread (task)
//!   returning a number and join it, one at a time.
//! - `spawn-mass`, `tokio-spawn-mass`: spawn N, then join them all.
//! - `yield`: `yield_now` in a hub with one green thread.
//! - `spawn-idle`: spawn N green threads that each wait on one event,
//!   let them all start, then set it and join them (every one has a
//!   stack of its own at once).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list" || a == "--bench") || args.len() < 3 {
        return;
    }
    let n: u64 = args[2].parse().expect("N");
    match args[1].as_str() {
        "spawn-join" => bingfa_green::run(move || {
            for i in 0..n {
                let h = bingfa_green::spawn(move || i);
                std::hint::black_box(h.join().unwrap());
            }
        })
        .unwrap(),
        "spawn-mass" => bingfa_green::run(move || {
            let hs: Vec<_> = (0..n).map(|i| bingfa_green::spawn(move || i)).collect();
            for h in hs {
                std::hint::black_box(h.join().unwrap());
            }
        })
        .unwrap(),
        "spawn-idle" => bingfa_green::Hub::new()
            .stack_size(16 * 1024)
            .run(move || {
                let ev = std::rc::Rc::new(bingfa_green::sync::Event::new());
                let hs: Vec<_> = (0..n)
                    .map(|_| {
                        let e = ev.clone();
                        bingfa_green::spawn(move || e.wait())
                    })
                    .collect();
                bingfa_green::yield_now();
                ev.set();
                bingfa_green::joinall(&hs);
            })
            .unwrap(),
        "yield" => bingfa_green::run(move || {
            for _ in 0..n {
                bingfa_green::yield_now();
            }
        })
        .unwrap(),
        "tokio-spawn-join" => tokio_rt().block_on(async move {
            for i in 0..n {
                let h = tokio::spawn(async move { i });
                std::hint::black_box(h.await.unwrap());
            }
        }),
        "tokio-spawn-mass" => tokio_rt().block_on(async move {
            let hs: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
            for h in hs {
                std::hint::black_box(h.await.unwrap());
            }
        }),
        w => panic!("unknown workload {w}"),
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}
