//! LoopExit for the green sync primitives (issue 12): when every green
//! thread of the hub waits on them and nothing can wake one, the waiting
//! call gives an error naming the primitive (gevent's `LoopExit`, "This
//! operation would block forever") instead of hanging; while a timer or
//! another OS thread can still end the wait, it keeps waiting.
//!
//! For each primitive: blocked for ever -> LoopExit; woken by a timer (a
//! sleeping green thread) -> no LoopExit; woken by another OS thread -> no
//! LoopExit. A call that returns a `Result` returns the error; one that
//! returns none (`Event::wait`, `Semaphore::acquire`, ...) unwinds its
//! green thread with it, so that thread's `join` (here `run`, for the
//! main one) gives it.
//!
//! The primitives are `Send + Sync`: another OS thread may hold them, so
//! the hub raises LoopExit on them only once no other OS thread is left.
//! This binary runs without libtest (`harness = false`), whose own threads
//! would always count as such; every test joins the threads it starts.

use std::fmt::Debug;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bingfa_green::sync::{
    self, AsyncResult, Channel, Event, Group, LifoQueue, Lock, Pool, PriorityQueue, Queue, RLock,
    Semaphore,
};
use bingfa_green::{run, sleep, spawn, yield_now, Builder, Error};

/// How long the other thread waits before it ends a wait.
const LATER: Duration = Duration::from_millis(100);

/// `r` is a LoopExit of the call `what`, whose report has every part of
/// `waiting`.
fn assert_loop_exit<T: Debug>(r: Result<T, Error>, what: &str, waiting: &[&str]) {
    match r {
        Err(Error::LoopExit {
            waited_on,
            waiting: w,
        }) => {
            assert_eq!(waited_on, what, "waiting: {w}");
            for part in waiting {
                assert!(w.contains(part), "{part:?} not in {w:?}");
            }
        }
        other => panic!("expected a LoopExit in {what}, got {other:?}"),
    }
}

/// Runs `f` on another OS thread after [`LATER`]; the handle to join.
fn later(f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(LATER);
        f();
    })
}

// ---- Event ----

fn event_wait_blocked_forever_gets_loop_exit() {
    let r = run(|| Event::new().wait());
    assert_loop_exit(r, "Event::wait", &["'main' in Event::wait"]);
}

/// Main joins a green thread that waits on an event nobody sets: the join
/// gets the LoopExit, and its report names the event wait.
fn event_wait_in_another_green_thread_is_reported() {
    let r = run(|| {
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        let g = Builder::new()
            .name("waiter")
            .spawn(move || e.wait())
            .unwrap();
        g.join()
    })
    .unwrap();
    assert_loop_exit(
        r,
        "Handle::join",
        &["'main' in Handle::join", "'waiter' in Event::wait"],
    );
}

fn event_wait_woken_by_a_timer() {
    run(|| {
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        spawn(move || {
            sleep(Duration::from_millis(30));
            e.set();
        });
        ev.wait();
        assert!(ev.is_set());
    })
    .unwrap();
}

fn event_wait_woken_by_another_thread() {
    let ev = Arc::new(Event::new());
    let e = ev.clone();
    let t = later(move || e.set());
    run(move || ev.wait()).unwrap();
    t.join().unwrap();
}

/// Another OS thread holds the event, then ends without setting it: the
/// wait gets LoopExit once that thread is gone, not before.
fn event_wait_gets_loop_exit_once_the_other_thread_is_gone() {
    let ev = Arc::new(Event::new());
    let e = ev.clone();
    let start = Instant::now();
    let t = later(move || drop(e));
    let r = run(move || ev.wait());
    let took = start.elapsed();
    assert_loop_exit(r, "Event::wait", &[]);
    assert!(took >= LATER, "raised too early: {took:?}");
    assert!(took < Duration::from_secs(20), "raised too late: {took:?}");
    t.join().unwrap();
}

/// The timed form has a timer: it times out, never a LoopExit.
fn event_wait_timeout_times_out() {
    run(|| assert!(!Event::new().wait_timeout(Duration::from_millis(20)))).unwrap();
}

// ---- Semaphore, Lock, RLock ----

fn semaphore_acquire_blocked_forever_gets_loop_exit() {
    let r = run(|| {
        Semaphore::new(0).acquire().forget();
    });
    assert_loop_exit(r, "Semaphore::acquire", &["'main' in Semaphore::acquire"]);
}

fn semaphore_acquire_woken_by_a_timer() {
    run(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        spawn(move || {
            sleep(Duration::from_millis(30));
            s.release().unwrap();
        });
        sem.acquire().forget();
    })
    .unwrap();
}

fn semaphore_acquire_woken_by_another_thread() {
    let sem = Arc::new(Semaphore::new(0));
    let s = sem.clone();
    let t = later(move || s.release().unwrap());
    run(move || sem.acquire().forget()).unwrap();
    t.join().unwrap();
}

/// A green lock taken twice by one green thread deadlocks it; gevent
/// raises LoopExit, and so does this.
fn lock_lock_blocked_forever_gets_loop_exit() {
    let r = run(|| {
        let lock = Lock::new(1);
        let _held = lock.lock();
        let _again = lock.lock();
    });
    assert_loop_exit(r, "Lock::lock", &["'main' in Lock::lock"]);
}

fn lock_lock_woken_by_a_timer() {
    let r = run(|| {
        let lock = Arc::new(Lock::new(1));
        let l = lock.clone();
        spawn(move || {
            let mut g = l.lock();
            sleep(Duration::from_millis(30));
            *g += 1;
        });
        yield_now();
        let v = *lock.lock();
        v
    });
    assert_eq!(r.unwrap(), 2);
}

fn lock_lock_woken_by_another_thread() {
    let lock = Arc::new(Lock::new(1));
    let l = lock.clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut g = l.lock();
        held_tx.send(()).unwrap();
        std::thread::sleep(LATER);
        *g += 1;
    });
    held_rx.recv().unwrap();
    let r = run(move || {
        let v = *lock.lock();
        v
    });
    assert_eq!(r.unwrap(), 2);
    t.join().unwrap();
}

/// A green thread holds the RLock and waits on an event nobody sets; main
/// waits for the RLock: both are stuck.
fn rlock_lock_blocked_forever_gets_loop_exit() {
    let r = run(|| {
        let lock = Arc::new(RLock::new(()));
        let ev = Arc::new(Event::new());
        let (l, e) = (lock.clone(), ev.clone());
        Builder::new()
            .name("holder")
            .spawn(move || {
                let _g = l.lock();
                e.wait();
            })
            .unwrap();
        yield_now();
        let _g = lock.lock();
    });
    assert_loop_exit(
        r,
        "RLock::lock",
        &["'main' in RLock::lock", "'holder' in Event::wait"],
    );
}

fn rlock_lock_woken_by_a_timer() {
    run(|| {
        let lock = Arc::new(RLock::new(()));
        let l = lock.clone();
        spawn(move || {
            let _g = l.lock();
            let _again = l.lock();
            sleep(Duration::from_millis(30));
        });
        yield_now();
        let _g = lock.lock();
    })
    .unwrap();
}

fn rlock_lock_woken_by_another_thread() {
    let lock = Arc::new(RLock::new(()));
    let l = lock.clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let _g = l.lock();
        held_tx.send(()).unwrap();
        std::thread::sleep(LATER);
    });
    held_rx.recv().unwrap();
    run(move || {
        let _g = lock.lock();
    })
    .unwrap();
    t.join().unwrap();
}

// ---- AsyncResult ----

/// `get` returns the error: the caller goes on (and the hub with it).
fn async_result_get_blocked_forever_gets_loop_exit() {
    run(|| {
        let r: AsyncResult<u32> = AsyncResult::new();
        assert_loop_exit(r.get(), "AsyncResult::get", &["'main' in AsyncResult::get"]);
        // The hub goes on: later waits work.
        let r = Arc::new(r);
        let r2 = r.clone();
        spawn(move || {
            sleep(Duration::from_millis(5));
            r2.set(7);
        });
        assert_eq!(r.get().unwrap(), 7);
    })
    .unwrap();
}

fn async_result_wait_blocked_forever_gets_loop_exit() {
    let r = run(|| AsyncResult::<u32>::new().wait());
    assert_loop_exit(r, "AsyncResult::wait", &[]);
}

fn async_result_get_woken_by_a_timer() {
    let v = run(|| {
        let r = Arc::new(AsyncResult::new());
        let r2 = r.clone();
        spawn(move || {
            sleep(Duration::from_millis(30));
            r2.set(5u32);
        });
        r.get()
    });
    assert_eq!(v.unwrap().unwrap(), 5);
}

fn async_result_get_woken_by_another_thread() {
    let r = Arc::new(AsyncResult::new());
    let r2 = r.clone();
    let t = later(move || r2.set(6u32));
    let v = run(move || r.get());
    assert_eq!(v.unwrap().unwrap(), 6);
    t.join().unwrap();
}

// ---- Queues and Channel ----

fn queue_get_blocked_forever_gets_loop_exit() {
    run(|| {
        let q: Queue<u8> = Queue::new();
        assert_loop_exit(q.get(), "Queue::get", &["'main' in Queue::get"]);
        assert_loop_exit(q.peek(), "Queue::peek", &[]);
        let l: LifoQueue<u8> = LifoQueue::new();
        assert_loop_exit(l.get(), "LifoQueue::get", &[]);
        let p: PriorityQueue<u8> = PriorityQueue::new();
        assert_loop_exit(p.get(), "PriorityQueue::get", &[]);
        // Nothing was lost or left queued.
        q.put(1).unwrap();
        assert_eq!(q.get().unwrap(), 1);
    })
    .unwrap();
}

/// A put into a full queue that nothing will ever empty: the error, with
/// the item back, and the queue as it was.
fn queue_put_blocked_forever_gets_loop_exit() {
    run(|| {
        let q = Queue::bounded(1);
        q.put(1).unwrap();
        let e = q.put(2).unwrap_err();
        assert_eq!(e.item, 2);
        assert_loop_exit(
            Err::<(), _>(e.error),
            "Queue::put",
            &["'main' in Queue::put"],
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q.get().unwrap(), 1);
        assert!(
            q.try_get().is_err(),
            "the item that came back is not queued"
        );
    })
    .unwrap();
}

fn queue_join_blocked_forever_gets_loop_exit() {
    let r = run(|| {
        let q = Queue::new();
        q.put(1).unwrap();
        q.join();
    });
    assert_loop_exit(r, "Queue::join", &[]);
}

/// Iteration with nothing left to come and no close: LoopExit, not a
/// silent end as if the queue were closed.
fn queue_iter_blocked_forever_gets_loop_exit() {
    let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
    let s = seen.clone();
    let r = run(move || {
        let q = Queue::new();
        q.put(1).unwrap();
        for v in &q {
            s.borrow_mut().push(v);
        }
    });
    assert_loop_exit(r, "Queue::iter", &[]);
    assert_eq!(*seen.borrow(), [1]);
}

fn queue_get_woken_by_a_timer() {
    let v = run(|| {
        let q = Arc::new(Queue::new());
        let q2 = q.clone();
        spawn(move || {
            sleep(Duration::from_millis(30));
            q2.put(3).unwrap();
        });
        q.get()
    });
    assert_eq!(v.unwrap().unwrap(), 3);
}

fn queue_put_woken_by_a_timer() {
    run(|| {
        let q = Arc::new(Queue::bounded(1));
        q.put(1).unwrap();
        let q2 = q.clone();
        spawn(move || {
            sleep(Duration::from_millis(30));
            assert_eq!(q2.get().unwrap(), 1);
        });
        q.put(2).unwrap();
        assert_eq!(q.get().unwrap(), 2);
    })
    .unwrap();
}

fn queue_get_woken_by_another_thread() {
    let q = Arc::new(Queue::new());
    let q2 = q.clone();
    let t = later(move || q2.put(4).unwrap());
    let v = run(move || q.get());
    assert_eq!(v.unwrap().unwrap(), 4);
    t.join().unwrap();
}

fn queue_put_woken_by_another_thread() {
    let q = Arc::new(Queue::bounded(1));
    q.put(1).unwrap();
    let q2 = q.clone();
    // A plain thread's get blocks that thread until there is an item.
    let t = later(move || assert_eq!(q2.get().unwrap(), 1));
    let q3 = q.clone();
    run(move || q3.put(2).unwrap()).unwrap();
    t.join().unwrap();
    assert_eq!(q.try_get().unwrap(), 2);
}

fn channel_get_and_put_blocked_forever_get_loop_exit() {
    run(|| {
        let c: Channel<u8> = Channel::new();
        assert_loop_exit(c.get(), "Channel::get", &["'main' in Channel::get"]);
        let e = c.put(9).unwrap_err();
        assert_eq!(e.item, 9);
        assert_loop_exit(Err::<(), _>(e.error), "Channel::put", &[]);
        assert_eq!(c.balance(), 0, "no putter or getter left registered");
    })
    .unwrap();
}

fn channel_get_woken_by_a_timer() {
    let v = run(|| {
        let c = Arc::new(Channel::new());
        let c2 = c.clone();
        spawn(move || {
            sleep(Duration::from_millis(30));
            c2.put(8).unwrap();
        });
        c.get()
    });
    assert_eq!(v.unwrap().unwrap(), 8);
}

fn channel_put_woken_by_another_thread() {
    let c = Arc::new(Channel::new());
    let c2 = c.clone();
    let t = later(move || assert_eq!(c2.get().unwrap(), 7));
    run(move || c.put(7).unwrap()).unwrap();
    t.join().unwrap();
}

// ---- Group, Pool, wait ----

fn group_join_blocked_forever_gets_loop_exit() {
    let r = run(|| {
        let g = Group::new();
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        g.spawn(move || e.wait());
        g.join();
    });
    assert_loop_exit(
        r,
        "Group::join",
        &["'main' in Group::join", "in Event::wait"],
    );
}

fn group_join_woken_by_a_timer() {
    run(|| {
        let g = Group::new();
        g.spawn(|| sleep(Duration::from_millis(30)));
        g.join();
        assert!(g.is_empty());
    })
    .unwrap();
}

fn group_join_woken_by_another_thread() {
    let ev = Arc::new(Event::new());
    let e = ev.clone();
    let t = later(move || e.set());
    run(move || {
        let g = Group::new();
        g.spawn(move || ev.wait());
        g.join();
    })
    .unwrap();
    t.join().unwrap();
}

/// A full pool whose member waits for ever: a spawn waiting for a slot
/// gets LoopExit.
fn pool_spawn_blocked_forever_gets_loop_exit() {
    let r = run(|| {
        let p = Pool::new(1);
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        p.spawn(move || e.wait());
        p.spawn(|| ());
    });
    assert_loop_exit(r, "Group::spawn", &["'main' in Group::spawn"]);
}

/// `imap` whose worker waits for ever: the iteration gets LoopExit
/// instead of ending as if every result was read.
fn imap_next_blocked_forever_gets_loop_exit() {
    let r = run(|| {
        let g = Group::new();
        let ev = Arc::new(Event::new());
        let it = g.imap(0..3, move |i| {
            if i == 1 {
                ev.wait();
            }
            i
        });
        it.map(Result::unwrap).collect::<Vec<i32>>()
    });
    assert_loop_exit(r, "IMap::next", &["'main' in IMap::next", "in Event::wait"]);
}

fn imap_next_woken_by_a_timer() {
    let r = run(|| {
        let g = Group::new();
        let it = g.imap_unordered(0..3, move |i| {
            sleep(Duration::from_millis(10 * (3 - i)));
            i
        });
        let mut v: Vec<u64> = it.map(Result::unwrap).collect();
        v.sort();
        v
    });
    assert_eq!(r.unwrap(), [0, 1, 2]);
}

fn wait_blocked_forever_gets_loop_exit() {
    let r = run(|| {
        let (a, b) = (Event::new(), AsyncResult::<u8>::new());
        sync::wait(&[&a, &b], Some(1));
    });
    assert_loop_exit(r, "wait", &["'main' in wait"]);
}

fn wait_woken_by_a_timer_and_another_thread() {
    let a = Arc::new(Event::new());
    let b = Arc::new(AsyncResult::<u8>::new());
    let b2 = b.clone();
    let t = later(move || b2.set(1));
    run(move || {
        let a2 = a.clone();
        spawn(move || {
            sleep(Duration::from_millis(30));
            a2.set();
        });
        assert_eq!(sync::wait(&[&*a, &*b], Some(1)), [0]);
        assert_eq!(sync::wait(&[&*a, &*b], None), [0, 1]);
    })
    .unwrap();
    t.join().unwrap();
}

/// Runs the tests whose names contain the filter given (the first
/// argument that is not a flag, as libtest takes it; `cargo xtask loom`
/// passes `loom`, which none matches), and prints libtest's summary line.
fn main() {
    macro_rules! tests {
        ($($t:ident),* $(,)?) => { [$((stringify!($t), $t as fn())),*] };
    }
    let tests = tests![
        event_wait_blocked_forever_gets_loop_exit,
        event_wait_in_another_green_thread_is_reported,
        event_wait_woken_by_a_timer,
        event_wait_woken_by_another_thread,
        event_wait_gets_loop_exit_once_the_other_thread_is_gone,
        event_wait_timeout_times_out,
        semaphore_acquire_blocked_forever_gets_loop_exit,
        semaphore_acquire_woken_by_a_timer,
        semaphore_acquire_woken_by_another_thread,
        lock_lock_blocked_forever_gets_loop_exit,
        lock_lock_woken_by_a_timer,
        lock_lock_woken_by_another_thread,
        rlock_lock_blocked_forever_gets_loop_exit,
        rlock_lock_woken_by_a_timer,
        rlock_lock_woken_by_another_thread,
        async_result_get_blocked_forever_gets_loop_exit,
        async_result_wait_blocked_forever_gets_loop_exit,
        async_result_get_woken_by_a_timer,
        async_result_get_woken_by_another_thread,
        queue_get_blocked_forever_gets_loop_exit,
        queue_put_blocked_forever_gets_loop_exit,
        queue_join_blocked_forever_gets_loop_exit,
        queue_iter_blocked_forever_gets_loop_exit,
        queue_get_woken_by_a_timer,
        queue_put_woken_by_a_timer,
        queue_get_woken_by_another_thread,
        queue_put_woken_by_another_thread,
        channel_get_and_put_blocked_forever_get_loop_exit,
        channel_get_woken_by_a_timer,
        channel_put_woken_by_another_thread,
        group_join_blocked_forever_gets_loop_exit,
        group_join_woken_by_a_timer,
        group_join_woken_by_another_thread,
        pool_spawn_blocked_forever_gets_loop_exit,
        imap_next_blocked_forever_gets_loop_exit,
        imap_next_woken_by_a_timer,
        wait_blocked_forever_gets_loop_exit,
        wait_woken_by_a_timer_and_another_thread,
    ];
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut passed = 0;
    for (name, test) in tests {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        test();
        println!("test {name} ... ok");
        passed += 1;
    }
    println!(
        "test result: ok. {passed} passed; 0 failed; 0 ignored; 0 measured; {} filtered out",
        tests.len() - passed
    );
}
