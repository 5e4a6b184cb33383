//! Green stacks: claimed at spawn, taken at the first run, reused warm,
//! given back by `trim_stack_pool` and when their OS thread ends.
//!
//! `live_stacks` and the memory map are the process's: the tests of this
//! file run one at a time (`SERIAL`).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Mutex;

use bingfa_green::{joinall, live_stacks, run, spawn, trim_stack_pool, yield_now, Builder, Hub};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// 100 000 green threads spawned before any runs, then joined: each takes
/// its stack when it first runs and gives it back when it ends, so they
/// all run on a few warm stacks; a spawn maps nothing.
#[test]
fn short_green_threads_spawned_in_bulk_share_a_few_stacks() {
    let _s = serial();
    let n = 100_000u64;
    let (most, grew_on_spawn, values_ok) = run(move || {
        let before = live_stacks();
        let maps = map_count();
        let most = Rc::new(Cell::new(0));
        let hs: Vec<_> = (0..n)
            .map(|i| {
                let most = most.clone();
                spawn(move || {
                    most.set(most.get().max(live_stacks()));
                    i * 2
                })
            })
            .collect();
        // Nothing ran yet: no stack was taken, and at most a few regions
        // (address space for the claims) were mapped.
        let grew_on_spawn = (live_stacks() - before, map_count().saturating_sub(maps));
        let values_ok = hs
            .into_iter()
            .enumerate()
            .all(|(i, h)| h.join().unwrap() == i as u64 * 2);
        (most.get() - before, grew_on_spawn, values_ok)
    })
    .unwrap();
    assert!(values_ok);
    assert_eq!(grew_on_spawn.0, 0, "a spawn took a stack");
    assert!(
        grew_on_spawn.1 < 500,
        "{n} spawns took {} new mappings",
        grew_on_spawn.1
    );
    assert!(most <= 4, "{most} stacks were in use at once");
    trim_stack_pool();
}

/// A spawn's claim holds through a trim: the green threads spawned before
/// it still get their stacks.
#[test]
fn claims_survive_a_trim() {
    let _s = serial();
    run(|| {
        let hs: Vec<_> = (0..3000)
            .map(|i| {
                Builder::new()
                    .stack_size(32 * 1024)
                    .spawn(move || i)
                    .unwrap()
            })
            .collect();
        trim_stack_pool();
        let sum: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, (0..3000).sum::<i32>());
    })
    .unwrap();
    trim_stack_pool();
}

/// Stacks kept warm hold their touched pages; `trim_stack_pool` gives
/// them back (and green threads run on afterwards).
#[test]
fn trim_gives_the_pages_of_warm_stacks_back() {
    let _s = serial();
    const N: usize = 400;
    const TOUCH: usize = 48 * 1024;
    run(|| {
        let release = Rc::new(Cell::new(false));
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let r = release.clone();
                Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || {
                        let buf = [1u8; TOUCH];
                        std::hint::black_box(&buf);
                        while !r.get() {
                            yield_now();
                        }
                    })
                    .unwrap()
            })
            .collect();
        yield_now();
        release.set(true);
        joinall(&hs);
        let warm = rss_bytes();
        let released = trim_stack_pool();
        let trimmed = rss_bytes();
        assert!(released >= N, "{released} stacks released");
        assert!(
            warm.saturating_sub(trimmed) >= N * TOUCH / 2,
            "RSS {warm} -> {trimmed} after giving back {N} stacks of {TOUCH} touched bytes"
        );
        // The slots are reused afterwards.
        let h = Builder::new().stack_size(64 * 1024).spawn(|| 5).unwrap();
        assert_eq!(h.join().unwrap(), 5);
    })
    .unwrap();
    trim_stack_pool();
}

/// When an OS thread that ran a hub ends, its stacks (in use by nothing
/// any more) are unmapped with their regions.
#[test]
fn an_os_thread_ending_unmaps_its_stacks() {
    let _s = serial();
    let before = (live_stacks(), map_count());
    std::thread::spawn(|| {
        Hub::new()
            .stack_size(16 * 1024)
            .run(|| {
                let release = Rc::new(Cell::new(false));
                let hs: Vec<_> = (0..2000)
                    .map(|_| {
                        let r = release.clone();
                        spawn(move || {
                            while !r.get() {
                                yield_now();
                            }
                        })
                    })
                    .collect();
                yield_now();
                assert!(live_stacks() >= 2000);
                release.set(true);
                joinall(&hs);
            })
            .unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(live_stacks(), before.0);
    // Other threads of the harness may map a little meanwhile.
    assert!(
        map_count() < before.1 + 20,
        "maps {} -> {}",
        before.1,
        map_count()
    );
}

/// Stacks of several sizes at once, each used while the others are.
#[test]
fn stacks_of_several_sizes_live_side_by_side() {
    let _s = serial();
    run(|| {
        let hs: Vec<_> = [16usize, 20, 64, 100, 256, 1024]
            .iter()
            .flat_map(|&kib| {
                (0..50).map(move |i| {
                    Builder::new()
                        .stack_size(kib * 1024)
                        .spawn(move || {
                            // 8 KiB of the stack in use across a switch.
                            let deep = [i as u8; 8 * 1024];
                            std::hint::black_box(&deep);
                            yield_now();
                            std::hint::black_box(&deep);
                            deep[7] as usize + kib
                        })
                        .unwrap()
                })
            })
            .collect();
        let sum: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        let want: usize = [16usize, 20, 64, 100, 256, 1024]
            .iter()
            .map(|k| (0..50).map(|i| i + k).sum::<usize>())
            .sum();
        assert_eq!(sum, want);
    })
    .unwrap();
    trim_stack_pool();
}

/// A green thread that panics (or is killed) unwinds off its stack, which
/// goes back to the pool like any other: a thousand of them in a row run
/// on a few stacks, and the next green thread runs on a reused one.
#[test]
fn a_stack_is_reused_after_a_panic_or_a_kill() {
    let _s = serial();
    // 500 panics on purpose: keep their messages out of the output (the
    // tests of this file run one at a time).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = run(|| {
        let before = live_stacks();
        let most = Rc::new(Cell::new(0));
        for i in 0..1000u32 {
            let m = most.clone();
            let h = spawn(move || {
                m.set(m.get().max(live_stacks()));
                let deep = [i as u8; 8 * 1024];
                std::hint::black_box(&deep);
                if i % 2 == 0 {
                    panic!("on purpose {i}");
                }
                loop {
                    yield_now();
                }
            });
            if i % 2 == 1 {
                yield_now();
                h.kill();
            }
            match h.join() {
                Err(bingfa_green::Error::Panicked { .. }) if i % 2 == 0 => {}
                Err(bingfa_green::Error::Killed) if i % 2 == 1 => {}
                other => panic!("green thread {i}: {other:?}"),
            }
        }
        let grew = most.get().saturating_sub(before);
        assert!(grew <= 4, "{grew} stacks in use at once");
        let h = spawn(|| {
            let deep = [7u8; 16 * 1024];
            std::hint::black_box(&deep);
            yield_now();
            deep.iter().map(|&b| b as usize).sum::<usize>()
        });
        assert_eq!(h.join().unwrap(), 7 * 16 * 1024);
    });
    std::panic::set_hook(hook);
    r.unwrap();
    trim_stack_pool();
}

/// More green threads at once than a region has slots (8 in the first of
/// a size, 16 in the second, ...): the next ones are carved from a new
/// region, and none writes over another's stack.
#[test]
fn a_full_region_goes_on_in_the_next() {
    let _s = serial();
    // A size no other test uses: its first region is this test's.
    const KIB: usize = 96;
    const N: usize = 8 + 16 + 32 + 1;
    run(|| {
        let before = live_stacks();
        let hs: Vec<_> = (0..N)
            .map(|i| {
                Builder::new()
                    .stack_size(KIB * 1024)
                    .spawn(move || {
                        let deep = [i as u8; 32 * 1024];
                        std::hint::black_box(&deep);
                        for _ in 0..3 {
                            yield_now();
                            assert!(deep.iter().all(|&b| b == i as u8), "stack {i} overwritten");
                        }
                        live_stacks()
                    })
                    .unwrap()
            })
            .collect();
        let in_use: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        // All N ran at once (each holding its own stack across yields).
        // (live_stacks counts the warm ones too: had they run one after
        // another on a reused stack, it would have grown by one.)
        assert!(
            in_use.iter().all(|&l| l - before >= N),
            "stacks in use: {in_use:?}, before {before}"
        );
    })
    .unwrap();
    trim_stack_pool();
}
