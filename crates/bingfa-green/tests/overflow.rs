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

/// Spawns `n` green threads with stacks of `size` that wait until the
/// returned cell is set (each holding its stack meanwhile).
fn holders(
    n: usize,
    size: usize,
) -> (
    std::rc::Rc<std::cell::Cell<bool>>,
    Vec<bingfa_green::Handle<()>>,
) {
    let release = std::rc::Rc::new(std::cell::Cell::new(false));
    let hs = (0..n)
        .map(|_| {
            let r = release.clone();
            bingfa_green::Builder::new()
                .stack_size(size)
                .spawn(move || {
                    while !r.get() {
                        bingfa_green::yield_now();
                    }
                })
                .unwrap()
        })
        .collect();
    bingfa_green::yield_now();
    (release, hs)
}

/// Overflows in a green thread named `name` with a stack of 64 KiB.
fn dive(name: &str) {
    bingfa_green::Builder::new()
        .name(name)
        .stack_size(64 * 1024)
        .spawn(|| recurse(0))
        .unwrap()
        .join()
        .ok();
}

fn child(mode: &str) {
    if mode.ends_with("-mprotect") {
        bingfa_green::__force_mprotect_guards();
    }
    match mode.trim_end_matches("-mprotect") {
        // Three stacks of the same size below it in their region are in
        // use: the diver's slot is carved between used ones.
        "between" => {
            bingfa_green::run(|| {
                let (release, hs) = holders(3, 64 * 1024);
                dive("in-between");
                release.set(true);
                bingfa_green::joinall(&hs);
            })
            .ok();
        }
        // The diver's stack was another green thread's, which ended: the
        // overflow record is the new one's.
        "reused" => {
            bingfa_green::run(|| {
                let first = bingfa_green::Builder::new()
                    .name("first-user")
                    .stack_size(64 * 1024)
                    .spawn(|| recurse_to(40))
                    .unwrap();
                first.join().unwrap();
                dive("second-user");
            })
            .ok();
        }
        // The diver's stack gave its pages back (trim_stack_pool): its
        // guard page stays. (A stack kept in use keeps the region from
        // being unmapped by the trim.)
        "trimmed" => {
            bingfa_green::run(|| {
                let (keep, kept) = holders(1, 64 * 1024);
                let (release, hs) = holders(4, 64 * 1024);
                release.set(true);
                bingfa_green::joinall(&hs);
                assert_eq!(bingfa_green::trim_stack_pool(), 4);
                dive("after-trim");
                keep.set(true);
                bingfa_green::joinall(&kept);
            })
            .ok();
        }
        // The diver's stack was a green thread's that panicked (and
        // unwound off it) just before: a stack goes back to the pool
        // after a panic as after a return, guard page and all.
        "after-panic" => {
            bingfa_green::run(|| {
                let panicker = bingfa_green::Builder::new()
                    .name("panicker")
                    .stack_size(64 * 1024)
                    .spawn(|| {
                        recurse_to(40);
                        panic!("on purpose");
                    })
                    .unwrap();
                assert!(panicker.join().is_err());
                dive("after-panic");
            })
            .ok();
        }
        // Every slot of the first region of the size (8) is in use: the
        // diver's stack is the first slot of the next region.
        "next-region" => {
            bingfa_green::run(|| {
                let (release, hs) = holders(8, 64 * 1024);
                dive("next-region");
                release.set(true);
                bingfa_green::joinall(&hs);
            })
            .ok();
        }
        // No name given: the message says green-N.
        "unnamed" => {
            bingfa_green::run(|| {
                bingfa_green::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(|| recurse(0))
                    .unwrap()
                    .join()
                    .ok();
            })
            .ok();
        }
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

/// Recurses `depth` times using 1 KiB of stack each (touching the pages
/// a later user of the stack overflows through).
#[inline(never)]
fn recurse_to(depth: u64) -> u64 {
    let buf = [depth as u8; 1024];
    std::hint::black_box(&buf);
    if depth == 0 {
        return 0;
    }
    recurse_to(depth - 1) + buf[7] as u64
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
fn overflow_in_an_unnamed_green_thread_names_it_green_n() {
    overflow_is_reported("unnamed", "green-2");
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

/// Each case: the child's overflow is reported naming the right green
/// thread and aborts.
fn overflow_is_reported(mode: &str, name: &str) {
    let (stderr, signal) = run_child(mode);
    assert!(
        stderr.contains(&format!(
            "green thread '{name}' overflowed its stack of 64 KiB"
        )),
        "{mode}: {stderr}"
    );
    assert_eq!(signal, Some(libc::SIGABRT), "{mode}: {stderr}");
}

#[test]
fn overflow_of_a_stack_carved_between_stacks_in_use_is_reported() {
    overflow_is_reported("between", "in-between");
}

#[test]
fn overflow_of_a_reused_stack_names_its_new_user() {
    overflow_is_reported("reused", "second-user");
}

#[test]
fn overflow_of_a_stack_whose_pages_were_given_back_is_reported() {
    overflow_is_reported("trimmed", "after-trim");
}

#[test]
fn overflow_of_a_stack_reused_after_a_panic_is_reported() {
    overflow_is_reported("after-panic", "after-panic");
}

#[test]
fn overflow_of_the_first_stack_of_the_next_region_is_reported() {
    overflow_is_reported("next-region", "next-region");
}

/// The same five with `mprotect` guard pages, as on kernels before 6.13.
#[test]
fn overflow_with_mprotect_guards_is_reported() {
    overflow_is_reported("between-mprotect", "in-between");
    overflow_is_reported("reused-mprotect", "second-user");
    overflow_is_reported("trimmed-mprotect", "after-trim");
    overflow_is_reported("after-panic-mprotect", "after-panic");
    overflow_is_reported("next-region-mprotect", "next-region");
}
