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
    assert_eq!(b.name(), Some("start"));
    assert_eq!(
        format!("{b:?}"),
        r#"Barrier { name: "start", parties: 3, n_waiting: 0, broken: false }"#
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
