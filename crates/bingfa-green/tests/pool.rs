//! Green `Group` and `Pool` beyond the upstream ports: slots are never
//! leaked (a member killed before it ran, a spawner cut short), the size
//! bound holds under kills and `Timeout`s, members are visible, and the
//! group can be used while it is being waited on.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bingfa_green::sync::{Group, Pool};
use bingfa_green::{run, sleep, spawn, yield_now, Builder, Error, Timeout};

/// A member killed before it ever ran gives its slot back. (The old pool
/// gave the slot back from inside the green thread's body, which a green
/// thread killed before it started never runs: the slot leaked.)
#[test]
fn a_member_killed_before_it_ran_frees_its_slot() {
    run(|| {
        let pool = Pool::new(1);
        let h = pool.spawn(|| "never");
        h.kill();
        assert!(matches!(h.join(), Err(Error::Killed)));
        assert_eq!(pool.free_count(), 1);
        assert_eq!(pool.try_spawn(|| 1).unwrap().join().unwrap(), 1);
    })
    .unwrap();
}

/// A spawner waiting for a slot and cut short by a `Timeout` takes no
/// slot; `discard` frees a slot and wakes a waiting spawner.
#[test]
fn waiting_spawners_and_discard() {
    run(|| {
        let pool = Pool::new(1);
        let long = pool.spawn(|| sleep(Duration::from_secs(60)));
        let r = Timeout::new(Duration::from_millis(5)).run(|| pool.spawn(|| ()));
        assert!(matches!(r, Err(Error::Timeout(_))));
        assert_eq!(pool.len(), 1);
        let p = pool.clone();
        let waiter = spawn(move || p.spawn(|| "second").join().unwrap());
        yield_now();
        assert!(!waiter.is_dead());
        pool.discard(&long);
        assert_eq!(waiter.join().unwrap(), "second");
        assert!(!pool.contains(&long), "discarded");
        assert!(!long.is_dead(), "it runs on");
        long.kill();
    })
    .unwrap();
}

/// Members are visible, in the order they joined, and leave when they end.
#[test]
fn members_are_visible() {
    run(|| {
        let g = Group::new();
        let a = g.spawn(|| sleep(Duration::from_millis(5)));
        let b = Builder::new()
            .name("outsider")
            .spawn(|| sleep(Duration::from_secs(60)))
            .unwrap();
        g.add(&b);
        g.add(&b); // once
        let ms = g.members();
        assert_eq!(ms.len(), 2);
        assert!(ms[0].is(&a) && ms[1].is(&b));
        assert_eq!(ms[1].name(), "outsider");
        assert!(g.contains(&a) && g.contains(&b));
        a.join_timeout(Duration::from_secs(10)).unwrap();
        assert!(ms[0].is_dead());
        assert_eq!(g.len(), 1);
        assert!(!g.contains(&a));
        g.kill();
        assert!(b.is_dead() && g.is_empty());
        assert!(format!("{:?}", ms[1]).contains("outsider"));
    })
    .unwrap();
}

/// Spawning into a group while another green thread joins or kills it
/// (the old group borrowed its list across the wait and panicked).
#[test]
fn spawn_while_the_group_is_joined() {
    run(|| {
        let g = Group::new();
        g.spawn(|| sleep(Duration::from_millis(10)));
        let g2 = g.clone();
        let joiner = spawn(move || g2.join());
        yield_now();
        let late = g.spawn(|| sleep(Duration::from_millis(20)));
        joiner.join().unwrap();
        assert!(late.is_dead(), "join waited for the late member too");
        let g3 = g.clone();
        let killer = spawn(move || g3.kill());
        let h = g.spawn(|| sleep(Duration::from_secs(60)));
        killer.join().unwrap();
        assert!(matches!(h.join(), Err(Error::Killed)));
    })
    .unwrap();
}

/// A member that kills its own group is not killed by itself, and the
/// kill does not wait for it.
#[test]
fn a_member_kills_its_own_group() {
    run(|| {
        let g = Group::new();
        let other = g.spawn(|| sleep(Duration::from_secs(60)));
        let g2 = g.clone();
        let me = g.spawn(move || {
            g2.kill();
            "survived"
        });
        assert_eq!(me.join().unwrap(), "survived");
        assert!(matches!(other.join(), Err(Error::Killed)));
    })
    .unwrap();
}

/// The bound holds under a flood of spawns, `apply_async`s, kills and
/// `Timeout`s; afterwards every slot is free.
#[test]
fn the_size_bound_holds_under_kills_and_timeouts() {
    run(|| {
        const SIZE: usize = 4;
        let pool = Pool::new(SIZE);
        let (now, max) = (Rc::new(Cell::new(0usize)), Rc::new(Cell::new(0usize)));
        let job = |i: u64| {
            let (now, max) = (now.clone(), max.clone());
            move || {
                struct Out(Rc<Cell<usize>>);
                impl Drop for Out {
                    fn drop(&mut self) {
                        self.0.set(self.0.get() - 1);
                    }
                }
                now.set(now.get() + 1);
                max.set(max.get().max(now.get()));
                let _out = Out(now);
                sleep(Duration::from_micros(100 * (i % 7)));
                i
            }
        };
        let mut hs = Vec::new();
        for i in 0..300u64 {
            match i % 5 {
                0 => hs.push(pool.apply_async(job(i))),
                1 => {
                    if let Ok(Ok(h)) = Timeout::new(Duration::from_micros(50))
                        .run(|| pool.spawn_timeout(job(i), Duration::from_millis(1)))
                    {
                        hs.push(h);
                    }
                }
                _ => hs.push(pool.spawn(job(i))),
            }
            if i % 7 == 0 {
                if let Some(h) = hs.get(hs.len().saturating_sub(2)) {
                    h.kill_nowait();
                }
            }
            assert!(pool.len() <= SIZE);
        }
        pool.join();
        for h in &hs {
            h.join_timeout(Duration::from_secs(10)).unwrap();
        }
        assert!(max.get() <= SIZE, "{} ran at once", max.get());
        assert_eq!(now.get(), 0);
        assert_eq!(pool.free_count(), SIZE);
        assert!(pool.is_empty());
    })
    .unwrap();
}

/// Dropping an `imap` early stops drawing items.
#[test]
fn dropping_an_imap_stops_it() {
    run(|| {
        let pool = Pool::new(2);
        let drawn = Rc::new(Cell::new(0u32));
        let d = drawn.clone();
        let items = std::iter::from_fn(move || {
            d.set(d.get() + 1);
            Some(d.get())
        });
        let mut it = pool.imap(items, |x| x * 2);
        assert_eq!(it.next().unwrap().unwrap(), 2);
        drop(it);
        pool.join();
        let n = drawn.get();
        sleep(Duration::from_millis(5));
        assert_eq!(drawn.get(), n, "no item drawn after the drop");
        assert!(n < 10, "{n}");
    })
    .unwrap();
}

/// A pool of 0 is always full.
#[test]
fn a_pool_of_zero() {
    run(|| {
        let pool = Pool::new(0);
        assert!(matches!(pool.try_spawn(|| ()), Err(Error::Full)));
        assert!(matches!(
            pool.spawn_timeout(|| (), Duration::from_millis(1)),
            Err(Error::Timeout(_))
        ));
        let h = spawn(|| ());
        assert!(matches!(pool.try_add(&h), Err(Error::Full)));
        assert_eq!(pool.size(), Some(0));
        assert_eq!(Pool::unbounded().size(), None);
    })
    .unwrap();
}

/// An `imap` whose feeder is killed while it waits for a slot (here: the
/// hub ends with the pool full) still ends: the item it drew is reported
/// killed and no more are awaited. Read after the hub is gone, the
/// results so far come out and the iteration stops.
#[test]
fn an_imap_outliving_its_hub_ends() {
    let it = run(|| {
        let pool = Pool::new(1);
        let blocker = pool.spawn(|| sleep(Duration::from_secs(60)));
        let it = pool.imap(0..5u32, |x| x);
        yield_now(); // the feeder draws item 0 and waits for the slot
        drop(blocker);
        it
    })
    .unwrap();
    let got: Vec<_> = it.collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(matches!(got[0], Err(Error::Killed)));
}

/// A `kill_with` error that lands while a member runs a nested `apply`
/// inline is not taken for a panic of the applied function: it goes on
/// unwinding and ends the member (found when the kill-with work of the
/// hub met the pool's panic catching; the kill was swallowed before).
#[test]
fn kill_with_inside_an_inline_apply_ends_the_member() {
    #[derive(Debug)]
    struct Stop;
    run(|| {
        let pool = Pool::new(2);
        let after = Rc::new(Cell::new(false));
        let (p, a) = (pool.clone(), after.clone());
        let member = pool.spawn(move || {
            let r = p.apply(|| sleep(Duration::from_secs(60)));
            // Reached only if the kill was swallowed as a panic of `f`.
            a.set(true);
            r.is_ok()
        });
        yield_now();
        member.kill_with(Stop);
        match member.join() {
            Err(Error::Panicked { payload, .. }) => assert!(payload.is::<Stop>()),
            other => panic!("the member should end with its kill_with error: {other:?}"),
        }
        assert!(!after.get(), "the kill was swallowed by the inline apply");
    })
    .unwrap();
}
