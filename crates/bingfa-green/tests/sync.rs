//! Green sync: Event, Semaphore, Lock, Queue, Pool, Group; wake-ups from
//! plain OS threads; 100 000 green threads on one Event; running out of
//! stacks.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bingfa_green::sync::{Event, Group, Lock, Pool, Queue, Semaphore};
use bingfa_green::{joinall, run, sleep, spawn, yield_now, Builder, Error};

#[test]
fn event_releases_all_waiters_and_times_out() {
    run(|| {
        let ev = Rc::new(Event::new());
        let hs: Vec<_> = (0..10)
            .map(|i| {
                let e = ev.clone();
                spawn(move || {
                    e.wait();
                    i
                })
            })
            .collect();
        yield_now();
        assert_eq!(ev.waiters(), 10);
        assert!(!ev.wait_timeout(Duration::from_millis(10)));
        ev.set();
        assert!(ev.is_set());
        let sum: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 45);
        ev.clear();
        assert!(!ev.is_set());
    })
    .unwrap();
}

#[test]
fn event_set_from_a_plain_thread_wakes_green_threads() {
    run(|| {
        let ev = Arc::new(Event::new());
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let e = ev.clone();
                spawn(move || e.wait_timeout(Duration::from_secs(10)))
            })
            .collect();
        yield_now();
        let e = ev.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            e.set();
        });
        let start = Instant::now();
        for h in hs {
            assert!(h.join().unwrap(), "woken by the set, not the timeout");
        }
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    })
    .unwrap();
}

/// A set at once undone by a clear, from a plain OS thread, still releases
/// the green threads that were waiting (through their hub's cross-thread
/// queue), and a wait that starts after the clear blocks.
#[test]
fn event_set_then_clear_from_a_plain_thread_releases_green_waiters() {
    run(|| {
        let ev = Arc::new(Event::new());
        let hs: Vec<_> = (0..50)
            .map(|_| {
                let e = ev.clone();
                spawn(move || e.wait_timeout(Duration::from_secs(30)))
            })
            .collect();
        yield_now();
        assert_eq!(ev.waiters(), 50);
        let e = ev.clone();
        std::thread::spawn(move || {
            e.set();
            e.clear();
        })
        .join()
        .unwrap();
        for h in hs {
            h.join_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(h.value(), Some(true), "released by the set");
        }
        assert!(!ev.wait_timeout(Duration::from_millis(5)));
    })
    .unwrap();
}

#[test]
fn queue_put_from_a_plain_thread_and_from_another_hub() {
    run(|| {
        let q: Arc<Queue<u32>> = Arc::new(Queue::new());
        let q1 = q.clone();
        let plain = std::thread::spawn(move || {
            for i in 0..100 {
                q1.put(i).unwrap();
            }
        });
        let q2 = q.clone();
        let other_hub = std::thread::spawn(move || {
            run(move || {
                for i in 100..200 {
                    q2.put(i).unwrap();
                    if i % 10 == 0 {
                        yield_now();
                    }
                }
            })
            .unwrap()
        });
        let mut got: Vec<u32> = (0..200)
            .map(|_| q.get_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        plain.join().unwrap();
        other_hub.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    })
    .unwrap();
}

#[test]
fn bounded_queue_producer_consumer() {
    run(|| {
        let q = Rc::new(Queue::bounded(2));
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let (qp, lp) = (q.clone(), log.clone());
        let producer = spawn(move || {
            for i in 0..4 {
                qp.put(i).unwrap();
                lp.borrow_mut().push(format!("put {i}"));
            }
            qp.close();
        });
        let (qc, lc) = (q.clone(), log.clone());
        let consumer = spawn(move || {
            while let Ok(v) = qc.get() {
                lc.borrow_mut().push(format!("got {v}"));
            }
        });
        producer.join().unwrap();
        consumer.join().unwrap();
        let log = log.borrow();
        // The producer fills the queue (2) then waits for room.
        assert_eq!(&log[..2], ["put 0", "put 1"]);
        assert_eq!(log.iter().filter(|l| l.starts_with("got")).count(), 4);
        let err = q.try_put(9).unwrap_err();
        assert!(err.is_closed() && !err.is_full());
        assert_eq!(err.into_inner(), 9);
        assert!(matches!(q.get(), Err(Error::Closed)));
        let q2: Queue<u8> = Queue::bounded(1);
        q2.try_put(1).unwrap();
        assert!(q2.is_full());
        let err = q2.put_timeout(2, Duration::from_millis(5)).unwrap_err();
        assert!(err.is_timeout());
        assert_eq!(err.into_inner(), 2);
        let err = q2.try_put(3).unwrap_err();
        assert!(err.is_full());
        assert_eq!(err.item, 3);
        assert_eq!(q2.try_get().unwrap(), 1);
        assert!(matches!(q2.try_get(), Err(Error::Empty)));
        assert!(matches!(
            q2.get_timeout(Duration::from_millis(5)),
            Err(Error::Timeout(_))
        ));
    })
    .unwrap();
}

#[test]
fn semaphore_bounds_concurrency() {
    run(|| {
        let sem = Rc::new(Semaphore::new(5));
        let (now, max) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let hs: Vec<_> = (0..20)
            .map(|_| {
                let (s, now, max) = (sem.clone(), now.clone(), max.clone());
                spawn(move || {
                    let _p = s.acquire();
                    now.set(now.get() + 1);
                    max.set(max.get().max(now.get()));
                    sleep(Duration::from_millis(2));
                    now.set(now.get() - 1);
                })
            })
            .collect();
        joinall(&hs);
        assert_eq!(max.get(), 5);
        assert_eq!(sem.available(), 5);
        let p = sem.try_acquire().unwrap();
        drop(p);
        let b = Semaphore::bounded(1);
        let _p = b.acquire();
        assert!(b.acquire_timeout(Duration::from_millis(5)).is_none());
    })
    .unwrap();
}

#[test]
fn lock_prevents_the_ticket_race() {
    run(|| {
        let tickets = Rc::new(Lock::new(10u32));
        let hs: Vec<_> = (0..30)
            .map(|_| {
                let t = tickets.clone();
                spawn(move || {
                    let mut g = t.lock();
                    let left = *g;
                    sleep(Duration::from_millis(1));
                    if left > 0 {
                        *g = left - 1;
                        true
                    } else {
                        false
                    }
                })
            })
            .collect();
        joinall(&hs);
        assert_eq!(hs.iter().filter(|h| h.value() == Some(true)).count(), 10);
        assert_eq!(*tickets.lock(), 0);
        let g = tickets.lock();
        assert!(tickets.try_lock().is_none());
        assert!(tickets.lock_timeout(Duration::from_millis(5)).is_none());
        drop(g);
        assert!(!tickets.is_locked());
    })
    .unwrap();
}

#[test]
fn a_killed_waiter_passes_its_wakeup_on() {
    run(|| {
        let sem = Rc::new(Semaphore::new(0));
        let s1 = sem.clone();
        let a = spawn(move || {
            let _p = s1.acquire();
        });
        let s2 = sem.clone();
        let b = spawn(move || {
            std::mem::forget(s2.acquire());
            "b got it"
        });
        yield_now();
        sem.release().unwrap(); // pops `a`, which is killed before it runs
        a.kill();
        b.join_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(b.value(), Some("b got it"));
    })
    .unwrap();
}

#[test]
fn pool_and_group() {
    run(|| {
        let pool = Pool::new(4);
        let r = pool.map(0..20u64, |i| {
            sleep(Duration::from_millis(1));
            i * 2
        });
        assert_eq!(r.unwrap(), (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(pool.free_count(), 4);

        let group = Group::new();
        let hs: Vec<_> = (0..5)
            .map(|i| {
                group.spawn(move || {
                    sleep(Duration::from_millis(1));
                    i
                })
            })
            .collect();
        assert_eq!(group.len(), 5);
        group.join();
        assert!(group.is_empty());
        let r: Vec<i32> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(r, [0, 1, 2, 3, 4]);
        let g2 = Group::new();
        let hs: Vec<_> = (0..3)
            .map(|_| g2.spawn(|| sleep(Duration::from_secs(60))))
            .collect();
        g2.kill();
        assert!(g2.is_empty());
        assert!(hs
            .into_iter()
            .all(|h| matches!(h.join(), Err(Error::Killed))));
    })
    .unwrap();
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = rel
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (major, minor)
}

/// 100 000 green threads all blocked on one Event, released and joined.
/// On Linux 6.13+ guard pages are page-table markers and the stacks share
/// memory mappings (checked: far fewer new mappings than stacks); on older
/// kernels each stack with its guard page costs two mappings, so the test
/// goes only as far as `vm.max_map_count` allows (about 32 000 on a
/// default kernel).
#[test]
fn a_hundred_thousand_green_threads_on_one_event() {
    let max_map: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65_530);
    run(move || {
        let ev = Rc::new(Event::new());
        let released = Rc::new(Cell::new(0usize));
        let spawn_one = || {
            let (e, r) = (ev.clone(), released.clone());
            Builder::new()
                .stack_size(16 * 1024)
                .spawn(move || {
                    e.wait();
                    r.set(r.get() + 1);
                })
                .unwrap()
        };
        let maps_before = map_count();
        let mut hs: Vec<_> = (0..1000).map(|_| spawn_one()).collect();
        // Other tests of this binary may unmap things meanwhile: the count
        // can drop, hence the saturating difference.
        let markers = map_count().saturating_sub(maps_before) < 500;
        assert!(
            markers || !kernel_at_least(6, 13),
            "Linux 6.13+ has guard markers, yet 1000 stacks took {} mappings",
            map_count().saturating_sub(maps_before)
        );
        let target = if markers {
            100_000
        } else {
            100_000.min(max_map / 2 - 2_000)
        };
        hs.extend((1000..target).map(|_| spawn_one()));
        yield_now();
        assert_eq!(ev.waiters(), target);
        if markers {
            let new_maps = map_count() - maps_before;
            assert!(
                new_maps < target / 10,
                "{target} stacks took {new_maps} new mappings"
            );
        }
        ev.set();
        joinall(&hs);
        assert_eq!(released.get(), target);
        assert!(hs.iter().all(|h| h.successful()));
    })
    .unwrap();
    bingfa_green::trim_stack_pool();
}

/// Running out of stacks is a clear error from spawn, never a crash: a
/// child process with its address space capped (`RLIMIT_AS`) spawns green
/// threads with 1 MiB stacks until a stack cannot be mapped.
#[test]
fn running_out_of_stacks_is_an_error_from_spawn() {
    const CHILD: &str = "BINGFA_GREEN_OUT_OF_STACKS_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
        let cap = pages * 4096 + 256 * 1024 * 1024;
        let lim = libc::rlimit {
            rlim_cur: cap,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: setrlimit with a valid struct; only this child process.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
        run(|| {
            let mut hs = Vec::with_capacity(1024);
            let err = loop {
                match Builder::new().stack_size(1024 * 1024).spawn(|| ()) {
                    Ok(h) => hs.push(h),
                    Err(e) => break e,
                }
                assert!(hs.len() < 1000, "the address space cap was not reached");
            };
            println!("spawned {} then: {err}", hs.len());
            assert!(matches!(err, Error::OutOfStacks { .. }), "{err}");
            joinall(&hs);
        })
        .unwrap();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "running_out_of_stacks_is_an_error_from_spawn",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("spawned "), "{text}");
    assert!(text.contains("vm.max_map_count"), "{text}");
}

/// A `Group::kill` cut short by a `Timeout` (its members take long to die:
/// their destructors sleep while they unwind) keeps its members: the group
/// still counts them and a second kill waits for them.
#[test]
fn group_kill_interrupted_by_a_timeout_keeps_its_members() {
    run(|| {
        struct SlowDrop;
        impl Drop for SlowDrop {
            fn drop(&mut self) {
                sleep(Duration::from_millis(200));
            }
        }
        let group = Group::new();
        for _ in 0..2 {
            group.spawn(|| {
                let _slow = SlowDrop;
                sleep(Duration::from_secs(60));
            });
        }
        yield_now();
        let r = bingfa_green::with_timeout(Duration::from_millis(20), || group.kill());
        assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
        assert_eq!(group.len(), 2, "the members are still dying");
        let start = Instant::now();
        group.kill();
        assert!(group.is_empty());
        assert!(
            start.elapsed() >= Duration::from_millis(50),
            "the second kill waited for the members to finish dying"
        );
    })
    .unwrap();
}

/// A bounded semaphore released above its bound reports
/// `Error::ReleasedTooMany` and keeps its count (Python: `ValueError`), as
/// the thread semaphore does; a semaphore at `usize::MAX` permits reports
/// `Error::PermitOverflow` instead of panicking or wrapping to 0.
#[test]
fn semaphore_release_errors() {
    let b = Semaphore::bounded(2);
    assert!(matches!(
        b.release(),
        Err(Error::ReleasedTooMany { bound: 2 })
    ));
    assert_eq!(b.available(), 2);
    b.try_acquire().unwrap().forget();
    b.release().unwrap();
    assert!(b.release().is_err());
    assert_eq!(b.available(), 2);

    let s = Semaphore::new(usize::MAX);
    assert!(matches!(s.release(), Err(Error::PermitOverflow(1))));
    assert_eq!(s.available(), usize::MAX);
    let s = Semaphore::new(usize::MAX - 1);
    s.release().unwrap();
    assert!(matches!(s.release(), Err(Error::PermitOverflow(1))));
    assert_eq!(s.available(), usize::MAX);
}

/// `release_n` wakes as many waiters as it gives permits; a failing
/// `release_n` gives none back.
#[test]
fn semaphore_release_n_wakes_n_waiters() {
    run(|| {
        let sem = Rc::new(Semaphore::new(0));
        let hs: Vec<_> = (0..5)
            .map(|_| {
                let s = sem.clone();
                spawn(move || s.acquire().forget())
            })
            .collect();
        yield_now();
        sem.release_n(3).unwrap();
        sleep(Duration::from_millis(1));
        assert_eq!(hs.iter().filter(|h| h.is_dead()).count(), 3);
        sem.release_n(2).unwrap();
        joinall(&hs);
        assert_eq!(sem.available(), 0);
        let b = Semaphore::bounded(3);
        b.try_acquire().unwrap().forget();
        assert!(matches!(
            b.release_n(2),
            Err(Error::ReleasedTooMany { bound: 3 })
        ));
        assert_eq!(b.available(), 2, "all or nothing");
    })
    .unwrap();
}

/// The green RLock: its holder locks again at once; another green thread
/// of the same hub waits (ownership is per green thread, not per OS
/// thread); a plain thread waits too; timeouts and a `Timeout` give up
/// cleanly.
#[test]
fn rlock_is_reentrant_per_green_thread() {
    use bingfa_green::sync::RLock;
    run(|| {
        let lock = Arc::new(RLock::new(Cell::new(0u32)));
        let outer = lock.lock();
        let inner = lock.lock();
        assert!(lock.is_owned() && lock.is_locked());
        inner.set(inner.get() + 1);
        let l = lock.clone();
        let other = spawn(move || {
            assert!(!l.is_owned());
            assert!(l.try_lock().is_none());
            assert!(l.lock_timeout(Duration::from_millis(5)).is_none());
            assert!(matches!(
                bingfa_green::with_timeout(Duration::from_millis(5), || drop(l.lock())),
                Err(Error::Timeout(_))
            ));
            let g = l.lock(); // waits for the main green thread
            g.set(g.get() + 10);
            g.get()
        });
        sleep(Duration::from_millis(20));
        assert!(!other.is_dead(), "one level is still held");
        drop(inner);
        sleep(Duration::from_millis(5));
        assert!(!other.is_dead());
        drop(outer);
        assert_eq!(other.join().unwrap(), 11);
        assert!(!lock.is_locked());
        // A plain OS thread against a green holder.
        let g = lock.lock();
        let l = lock.clone();
        let t = std::thread::spawn(move || {
            let g = l.lock();
            g.get()
        });
        sleep(Duration::from_millis(10));
        g.set(20);
        drop(g);
        assert_eq!(t.join().unwrap(), 20);
        assert_eq!(format!("{:?}", lock), "RLock { locked: false, count: 0 }");
    })
    .unwrap();
}
