//! A program with its own `main` (no libtest harness) that calls `init`:
//! its spawned children get no arguments beyond the program name (libtest's
//! are for test binaries only).

#[cfg(not(bingfa_loom))]
use bingfa_process::{ExitStatus, Queue};

#[cfg(not(bingfa_loom))]
fn report_args(q: Queue<Vec<String>>) {
    q.put(std::env::args().skip(1).collect()).unwrap();
}

/// Under loom (`cargo xtask loom` runs every test binary with the filter
/// `loom`), the crate's atomics are loom's, usable only inside a model:
/// nothing to run here.
#[cfg(bingfa_loom)]
fn main() {}

#[cfg(not(bingfa_loom))]
fn main() {
    bingfa_process::init();
    let q = Queue::<Vec<String>>::new(1).unwrap();
    let p = bingfa_process::spawn(report_args, q.clone()).unwrap();
    let args = q
        .get_timeout(std::time::Duration::from_secs(60))
        .expect("the child reports its arguments");
    assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
    assert!(args.is_empty(), "a plain program's child got {args:?}");
    println!("spawn_plain_main: ok");
}
