//! Barrier: Python's `threading.Barrier` semantics.

use bingfa_sync::{Barrier, BrokenBarrier, Error};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn send_sync_and_accessors() {
    assert_send_sync::<Barrier>();
    let b = Barrier::named("start", 3).unwrap();
    assert_eq!(b.parties(), 3);
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.is_broken());
    assert_eq!(b.name(), kept("start"));
    assert_eq!(
        format!("{b:?}"),
        debug(r#"Barrier { name: "start", parties: 3, n_waiting: 0, broken: false }"#)
    );
}

#[test]
fn zero_parties_is_an_error() {
    let err = Barrier::new(0).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert!(err.to_string().contains("at least one party"), "{err}");
    assert!(Barrier::named("x", 0).is_err());
}

#[test]
fn one_party_passes_at_once_as_leader() {
    let b = Barrier::new(1).unwrap();
    for _ in 0..3 {
        let r = b.wait().unwrap();
        assert_eq!(r.index(), 0);
        assert!(r.is_leader());
    }
    assert!(b.wait_timeout(Duration::ZERO).unwrap().is_leader());
}

#[test]
fn rounds_release_everyone_with_distinct_indices_and_one_leader() {
    let (parties, rounds) = if cfg!(miri) { (3, 3) } else { (4, 200) };
    let b = Barrier::new(parties).unwrap();
    let passed = AtomicUsize::new(0);
    let results: Vec<Vec<(usize, bool)>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..parties)
            .map(|_| {
                s.spawn(|| {
                    (0..rounds)
                        .map(|round| {
                            let r = b.wait().unwrap();
                            // Nobody starts round r+1 before everyone passed
                            // round r: the count of passes is at least
                            // parties * round when we get here.
                            let before = passed.fetch_add(1, Ordering::SeqCst);
                            assert!(before >= parties * round, "{before} < {}", parties * round);
                            (r.index(), r.is_leader())
                        })
                        .collect()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for round in 0..rounds {
        let mut idx: Vec<usize> = results.iter().map(|r| r[round].0).collect();
        idx.sort_unstable();
        assert_eq!(idx, (0..parties).collect::<Vec<_>>());
        let leaders: Vec<_> = results.iter().filter(|r| r[round].1).collect();
        assert_eq!(leaders.len(), 1);
        assert_eq!(leaders[0][round].0, parties - 1, "the leader arrived last");
    }
    assert_eq!(passed.into_inner(), parties * rounds);
}

#[test]
fn timeout_breaks_it_for_every_party() {
    let b = Barrier::new(3).unwrap();
    let t = Duration::from_millis(50);
    std::thread::scope(|s| {
        let other = s.spawn(|| b.wait());
        // Wait until the other party is inside.
        while b.n_waiting() < 1 {
            std::thread::yield_now();
        }
        let start = Instant::now();
        assert_eq!(b.wait_timeout(t), Err(BrokenBarrier));
        assert!(start.elapsed() >= t);
        assert_eq!(other.join().unwrap(), Err(BrokenBarrier), "woken and told");
    });
    assert!(b.is_broken());
    assert_eq!(
        b.wait(),
        Err(BrokenBarrier),
        "stays broken for later callers"
    );
    assert!(BrokenBarrier.to_string().contains("broken"));
    assert_eq!(Error::from(BrokenBarrier), Error::Broken);
    b.reset();
    assert!(!b.is_broken());
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..3).map(|_| s.spawn(|| b.wait())).collect();
        for h in hs {
            assert!(h.join().unwrap().is_ok());
        }
    });
}

#[test]
fn zero_timeout_breaks_unless_last() {
    let b = Barrier::new(2).unwrap();
    assert_eq!(b.wait_timeout(Duration::ZERO), Err(BrokenBarrier));
    assert!(b.is_broken());
    b.reset();
    std::thread::scope(|s| {
        let other = s.spawn(|| b.wait());
        while b.n_waiting() < 1 {
            std::thread::yield_now();
        }
        let r = b.wait_timeout(Duration::ZERO).unwrap();
        assert!(r.is_leader());
        assert!(!other.join().unwrap().unwrap().is_leader());
    });
}

#[test]
fn abort_wakes_waiters_with_broken() {
    let b = Barrier::new(3).unwrap();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..2).map(|_| s.spawn(|| b.wait())).collect();
        while b.n_waiting() < 2 {
            std::thread::yield_now();
        }
        b.abort();
        for h in hs {
            assert_eq!(h.join().unwrap(), Err(BrokenBarrier));
        }
    });
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn reset_while_waiting_sends_broken_then_works_again() {
    let b = Barrier::new(2).unwrap();
    std::thread::scope(|s| {
        let h = s.spawn(|| b.wait());
        while b.n_waiting() < 1 {
            std::thread::yield_now();
        }
        b.reset();
        assert_eq!(h.join().unwrap(), Err(BrokenBarrier));
    });
    assert!(!b.is_broken(), "reset leaves it usable");
    std::thread::scope(|s| {
        let h = s.spawn(|| b.wait());
        assert!(b.wait().is_ok());
        assert!(h.join().unwrap().is_ok());
    });
}

#[test]
fn timeout_that_races_with_the_last_arrival_never_mixes_outcomes() {
    // Either everyone passes or everyone of that round sees Broken.
    let rounds = if cfg!(miri) { 3 } else { 300 };
    for _ in 0..rounds {
        let b = Barrier::new(3).unwrap();
        let results: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..3)
                .map(|i| {
                    let b = &b;
                    s.spawn(move || {
                        if i == 0 {
                            b.wait_timeout(Duration::from_micros(200))
                        } else {
                            b.wait_timeout(Duration::from_secs(60))
                        }
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert!(ok == 0 || ok == 3, "{results:?}");
        assert_eq!(b.is_broken(), ok == 0);
    }
}

#[test]
fn the_action_runs_once_per_round_before_anyone_passes() {
    use std::sync::Arc;
    let parties = if cfg!(miri) { 2 } else { 4 };
    let rounds = if cfg!(miri) { 2 } else { 50 };
    let actions = Arc::new(AtomicUsize::new(0));
    let a = actions.clone();
    let b = Barrier::new(parties).unwrap().with_action(move || {
        a.fetch_add(1, Ordering::SeqCst);
    });
    std::thread::scope(|s| {
        for _ in 0..parties {
            s.spawn(|| {
                for round in 1..=rounds {
                    let r = b.wait().unwrap();
                    // Every party of round n sees n actions, none more: the
                    // next round's action needs this party to arrive.
                    assert_eq!(actions.load(Ordering::SeqCst), round, "{r:?}");
                }
            });
        }
    });
    assert_eq!(actions.load(Ordering::SeqCst), rounds);
}

#[test]
fn a_panicking_action_breaks_the_barrier_and_the_panic_goes_on() {
    let b = Barrier::new(3)
        .unwrap()
        .with_action(|| panic!("action failed"));
    let results = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.wait())))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let panicked = results.iter().filter(|r| r.is_err()).count();
    let broken = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(BrokenBarrier))))
        .count();
    assert_eq!((panicked, broken), (1, 2), "one ran the action, two broke");
    let payload = results.into_iter().find_map(Result::err).unwrap();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"action failed"));
    assert!(b.is_broken());
    assert_eq!(b.wait(), Err(BrokenBarrier));
    b.reset();
    assert!(!b.is_broken());
}

#[test]
fn the_default_timeout_applies_to_wait_and_wait_timeout_overrides_it() {
    let t = Duration::from_millis(30);
    let b = Barrier::new(2).unwrap().with_timeout(t);
    assert_eq!(b.timeout(), Some(t));
    let start = Instant::now();
    assert_eq!(b.wait(), Err(BrokenBarrier));
    assert!(start.elapsed() >= t);
    b.reset();
    // An explicit timeout wins: this one is long enough for the partner.
    std::thread::scope(|s| {
        let h = s.spawn(|| b.wait_timeout(Duration::from_secs(60)));
        while b.n_waiting() < 1 {
            std::thread::yield_now();
        }
        assert!(b.wait_timeout(Duration::from_secs(60)).is_ok());
        assert!(h.join().unwrap().is_ok());
    });
}

/// The name a primitive reports: kept only when `detect` or `trace` is
/// compiled in (names exist for reports and traces).
fn kept(name: &str) -> Option<&str> {
    cfg!(any(feature = "detect", feature = "trace")).then_some(name)
}

/// A `Debug` string as this build prints it: without the `name` field when
/// names are not kept (neither `detect` nor `trace` compiled in).
fn debug(full: &str) -> String {
    if cfg!(any(feature = "detect", feature = "trace")) {
        return full.to_string();
    }
    let mut out = full.to_string();
    while let Some(at) = out.find("name: \"") {
        let end = out[at + 7..].find('"').expect("a closed name") + at + 7;
        out.replace_range(at..end + 3, "");
    }
    out
}
