//! Lock, Semaphore, Event, Value, Array and Pipe across processes, with
//! both start methods.

use std::time::{Duration, Instant};

use bingfa_process::{Array, Error, Event, ExitStatus, Lock, LockError, Pipe, Semaphore, Value};

bingfa_process::enable_test_support!();

#[test]
fn lock_excludes_across_processes() {
    let lock = Lock::new().unwrap();
    // A counter updated with a deliberately slow read-modify-write: without
    // mutual exclusion, updates would be lost.
    let total = Value::new(0u64).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            let (lock, total) = (lock.clone(), total.clone());
            bingfa_process::fork(move || {
                for _ in 0..200 {
                    let _g = lock.lock().unwrap();
                    let v = total.get();
                    std::hint::black_box(v);
                    std::thread::yield_now();
                    total.set(v + 1);
                }
            })
            .unwrap()
        })
        .collect();
    for c in children {
        assert_eq!(
            c.join().unwrap(),
            ExitStatus::Code(0),
            "{:?}",
            c.panic_message()
        );
    }
    assert_eq!(total.get(), 800);
}

#[test]
fn lock_try_timeout_and_relock() {
    let lock = Lock::new().unwrap();
    let g = lock.lock().unwrap();
    // Same thread again: an error, not a deadlock.
    assert!(matches!(lock.lock(), Err(LockError::Os(_))));
    let child = {
        let lock = lock.clone();
        bingfa_process::fork(move || {
            assert!(matches!(lock.try_lock(), Err(LockError::WouldBlock)));
            let t = Instant::now();
            assert!(matches!(
                lock.lock_timeout(Duration::from_millis(50)),
                Err(LockError::WouldBlock)
            ));
            assert!(t.elapsed() >= Duration::from_millis(45));
        })
        .unwrap()
    };
    assert_eq!(
        child.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        child.panic_message()
    );
    drop(g);
    assert!(lock.try_lock().is_ok());
}

#[test]
fn semaphore_bounds_concurrency_across_processes() {
    let sem = Semaphore::new(2).unwrap();
    let inside = Value::new((0u32, 0u32)).unwrap(); // (now, max)
    let children: Vec<_> = (0..5)
        .map(|_| {
            let (sem, inside) = (sem.clone(), inside.clone());
            bingfa_process::fork(move || {
                for _ in 0..20 {
                    let _p = sem.acquire();
                    {
                        let mut g = inside.lock().unwrap();
                        g.0 += 1;
                        g.1 = g.1.max(g.0);
                    }
                    std::thread::sleep(Duration::from_micros(200));
                    inside.lock().unwrap().0 -= 1;
                }
            })
            .unwrap()
        })
        .collect();
    for c in children {
        assert_eq!(
            c.join().unwrap(),
            ExitStatus::Code(0),
            "{:?}",
            c.panic_message()
        );
    }
    let (now, max) = inside.get();
    assert_eq!(now, 0);
    assert_eq!(max, 2, "at most two inside at once, and two did get in");
    assert_eq!(sem.value(), 2);
}

#[test]
fn semaphore_timeout_bounded_and_forget() {
    let sem = Semaphore::bounded(1).unwrap();
    let p = sem.acquire_timeout(Duration::from_millis(10)).unwrap();
    assert!(matches!(
        sem.acquire_timeout(Duration::from_millis(30)),
        Err(Error::Timeout)
    ));
    p.forget();
    assert_eq!(sem.value(), 0);
    sem.release().unwrap();
    assert!(matches!(sem.release(), Err(Error::Invalid(_))));
}

fn wait_then_report(args: (Event, Value<u32>)) {
    let (ev, v) = args;
    assert!(ev.wait_timeout(Duration::from_secs(20)));
    v.set(7);
}

#[test]
fn event_wakes_spawned_child() {
    let ev = Event::new().unwrap();
    let v = Value::new(0u32).unwrap();
    let child = bingfa_process::spawn(wait_then_report, (ev.clone(), v.clone())).unwrap();
    assert!(!ev.wait_timeout(Duration::from_millis(20)));
    assert_eq!(v.get(), 0);
    ev.set();
    assert!(ev.is_set());
    assert_eq!(
        child.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        child.panic_message()
    );
    assert_eq!(v.get(), 7);
    ev.clear();
    assert!(!ev.is_set());
}

fn negate_all(a: Array<i64>) {
    a.lock().unwrap().iter_mut().for_each(|x| *x = -*x);
}

#[test]
fn array_shared_with_fork_and_spawn() {
    let a = Array::from_slice(&[1i64, 2, 3, 4]).unwrap();
    assert_eq!(a.len(), 4);
    let c = bingfa_process::spawn(negate_all, a.clone()).unwrap();
    assert_eq!(
        c.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        c.panic_message()
    );
    assert_eq!(a.to_vec(), [-1, -2, -3, -4]);
    let c = {
        let a = a.clone();
        bingfa_process::fork(move || a.set(2, 30)).unwrap()
    };
    c.join().unwrap();
    assert_eq!(a.get(2), 30);
    let z = Array::new(3, 0u8).unwrap();
    assert_eq!(z.to_vec(), [0, 0, 0]);
}

fn pipe_echo(end: Pipe<(u32, String)>) {
    while let Ok((n, s)) = end.recv() {
        end.send(&(n + 1, s.repeat(2))).unwrap();
    }
}

#[test]
fn pipe_duplex_with_spawned_child_and_eof() {
    let (mine, theirs) = Pipe::<(u32, String)>::new().unwrap();
    let child = bingfa_process::spawn(pipe_echo, theirs).unwrap();
    // `theirs` was moved into the arguments and dropped here: only the
    // child holds the other end now.
    for i in 0..50 {
        mine.send(&(i, "ab".into())).unwrap();
        assert_eq!(
            mine.recv_timeout(Duration::from_secs(20)).unwrap(),
            (i + 1, "abab".into())
        );
    }
    assert!(!mine.poll(Duration::from_millis(10)).unwrap());
    assert!(matches!(mine.try_recv(), Err(Error::Empty)));
    drop(mine);
    // The child sees EOF (Closed) and returns.
    assert_eq!(
        child.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        child.panic_message()
    );
}

#[test]
fn pipe_with_fork_large_messages_and_closed() {
    let (a, b) = Pipe::<Vec<u8>>::new().unwrap();
    // The closure borrows `b`: the child has its own copy of everything.
    let child = bingfa_process::fork(|| {
        let v = b.recv().unwrap();
        b.send(&v.iter().rev().copied().collect()).unwrap();
    })
    .unwrap();
    drop(b);
    let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    a.send(&big).unwrap();
    let back = a.recv().unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back.iter().eq(big.iter().rev()));
    assert!(child.join().unwrap().success());
    assert!(matches!(a.recv(), Err(Error::Closed)));
    assert!(matches!(a.send(&vec![1]), Err(Error::Closed)));
}

#[test]
fn pipe_frame_of_wrong_type_is_corrupt_and_stream_goes_on() {
    let (a, b) = Pipe::<u32>::new().unwrap();
    a.send_bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap(); // not a u32 varint
    a.send(&5).unwrap();
    assert!(matches!(b.recv(), Err(Error::Corrupt(_))));
    assert_eq!(b.recv().unwrap(), 5);
}

#[test]
fn semaphore_failed_try_acquire_adds_no_permit() {
    // A failed non-blocking acquire must leave the count as it was: a
    // permit built and dropped on the failure path used to release one
    // (Semaphore::new(0), failed try_acquire, value() was 1).
    let sem = Semaphore::new(0).unwrap();
    for _ in 0..5 {
        assert!(sem.try_acquire().is_none());
        assert_eq!(sem.value(), 0);
    }
    let b = Semaphore::bounded(1).unwrap();
    b.acquire().forget();
    assert!(b.try_acquire().is_none());
    assert_eq!(b.value(), 0);
    // The release that follows is the only one a bounded semaphore allows.
    b.release().unwrap();
    assert!(matches!(b.release(), Err(Error::Invalid(_))));
}
