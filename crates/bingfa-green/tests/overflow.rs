//! A stack overflow in a green thread aborts with a message naming it.
//! Runs the test binary again as a child, which overflows on purpose.

use std::process::Command;

const MODE: &str = "BINGFA_GREEN_OVERFLOW_CHILD";

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let buf = [depth as u8; 1024];
    std::hint::black_box(&buf);
    recurse(depth + 1) + buf[7] as u64
}

fn child(mode: &str) {
    match mode {
        "hub" => {
            bingfa_green::run(|| {
                bingfa_green::Builder::new()
                    .name("deep-diver")
                    .stack_size(64 * 1024)
                    .spawn(|| recurse(0))
                    .unwrap()
                    .join()
                    .ok();
            })
            .ok();
        }
        "generator" => {
            let mut g = bingfa_green::Generator::new(|co| co.yield_(recurse(0)));
            g.next();
        }
        _ => unreachable!(),
    }
    unreachable!("the overflow must abort");
}

fn run_child(mode: &str) -> (String, Option<i32>) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(MODE, mode)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.signal(),
    )
}

#[test]
fn child_entry() {
    if let Ok(mode) = std::env::var(MODE) {
        child(&mode);
    }
}

#[test]
fn overflow_in_a_green_thread_aborts_naming_it() {
    let (stderr, signal) = run_child("hub");
    assert!(
        stderr.contains("green thread 'deep-diver' overflowed its stack of 64 KiB"),
        "{stderr}"
    );
    assert_eq!(signal, Some(libc::SIGABRT), "{stderr}");
}

#[test]
fn overflow_in_a_generator_aborts_naming_it() {
    let (stderr, signal) = run_child("generator");
    assert!(
        stderr.contains("green thread 'generator' overflowed its stack of 256 KiB"),
        "{stderr}"
    );
    assert_eq!(signal, Some(libc::SIGABRT), "{stderr}");
}
