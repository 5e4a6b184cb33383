//! Crash safety: a lock holder killed with SIGKILL, producers killed in the
//! middle of a put.

// Forking from a test: the harness runs tests on threads, so every `fork`
// here happens in a process with other threads (see the Safety section of
// `bingfa_process::fork`). Each closure takes no lock those threads may
// hold: it uses its own data, this crate's shared-memory objects, the
// test's own output capture, and glibc's malloc, which glibc's `fork` keeps
// usable in the child.

use bingfa_process::__test_hooks::QueueTestHooks;
use std::time::{Duration, Instant};

use bingfa_process::{Error, Event, ExitStatus, Lock, LockError, Queue, Value};

#[test]
fn sigkill_of_lock_holder_then_clean_owner_died() {
    let lock = Lock::new().unwrap();
    let holding = Event::new().unwrap();
    let child = {
        let (lock, holding) = (lock.clone(), holding.clone());
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe {
            bingfa_process::fork(move || {
                let _g = lock.lock().unwrap();
                holding.set();
                std::thread::sleep(Duration::from_secs(60));
            })
        }
        .unwrap()
    };
    assert!(holding.wait_timeout(Duration::from_secs(20)));
    assert!(matches!(lock.try_lock(), Err(LockError::WouldBlock)));
    child.kill().unwrap();
    assert_eq!(child.join().unwrap(), ExitStatus::Signal(libc::SIGKILL));
    // The next owner learns of the death, and holds the lock.
    let g = match lock.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    assert!(matches!(
        lock.try_lock(),
        Err(LockError::Os(_)) | Err(LockError::WouldBlock)
    ));
    drop(g);
    // Usable as normal afterwards, from this process and others.
    drop(lock.lock().unwrap());
    let other = {
        let lock = lock.clone();
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe { bingfa_process::fork(move || drop(lock.lock().unwrap())) }.unwrap()
    };
    assert!(other.join().unwrap().success());
    assert!(lock.try_lock().is_ok());
}

#[test]
fn sigkill_mid_update_of_value_reports_owner_died() {
    let v = Value::new([0u64; 2]).unwrap();
    let child = {
        let v = v.clone();
        let child_main = move || {
            let mut g = v.lock().unwrap();
            // Half of an update that keeps g[0] == g[1].
            g[0] = 1;
            // SAFETY: ending this process on purpose, holding the lock.
            unsafe { libc::raise(libc::SIGKILL) };
        };
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe { bingfa_process::fork(child_main) }.unwrap()
    };
    assert_eq!(child.join().unwrap(), ExitStatus::Signal(libc::SIGKILL));
    let mut g = match v.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    assert_eq!(
        *g,
        [1, 0],
        "the dead owner's half-update is visible for repair"
    );
    g[1] = g[0];
    drop(g);
    assert_eq!(v.get(), [1, 1]);
}

fn msg(p: u32, i: u32) -> (u32, u32, Vec<u8>) {
    (
        p,
        i,
        (0..40)
            .map(|k| (p as u8).wrapping_mul(31) ^ (i as u8) ^ k)
            .collect(),
    )
}

fn valid(m: &(u32, u32, Vec<u8>)) -> bool {
    *m == msg(m.0, m.1)
}

#[test]
fn sigkill_of_producer_mid_put_never_leaks_a_partial_message() {
    let q = Queue::<(u32, u32, Vec<u8>)>::with_max_message(4, 64).unwrap();
    for upto in [0usize, 4, 8, 20, 52] {
        // A producer claims a slot, writes `upto` bytes of its frame, and
        // is killed there.
        let dying = {
            let q = q.clone();
            // SAFETY: the closure takes no lock the harness's other threads may hold
            // (see the note at the top of this file).
            unsafe {
                bingfa_process::fork(move || {
                    q.__crash_test_partial_put(&msg(99, upto as u32), upto);
                    std::process::exit(3); // not claimed: the test fails below
                })
            }
            .unwrap()
        };
        let t = Instant::now();
        while q.is_empty() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "partial put never claimed"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        dying.kill().unwrap();
        assert_eq!(dying.join().unwrap(), ExitStatus::Signal(libc::SIGKILL));
        // Other producers go on; the consumer gets only their whole
        // messages, in order, and never the dead one's.
        q.put(msg(1, upto as u32)).unwrap();
        q.put(msg(1, upto as u32 + 1000)).unwrap();
        assert_eq!(
            q.get_timeout(Duration::from_secs(20)).unwrap(),
            msg(1, upto as u32)
        );
        assert_eq!(
            q.get_timeout(Duration::from_secs(20)).unwrap(),
            msg(1, upto as u32 + 1000)
        );
        assert!(matches!(q.try_get(), Err(Error::Empty)));
    }
    // The ring went around several times and still works at full capacity.
    for i in 0..4 {
        q.try_put(msg(2, i)).unwrap();
    }
    assert!(q.try_put(msg(2, 4)).unwrap_err().is_full());
    for i in 0..4 {
        assert_eq!(q.try_get().unwrap(), msg(2, i));
    }
}

/// The state letter of process `pid` in `/proc/PID/stat`.
fn proc_state(pid: u32) -> Option<u8> {
    let s = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let i = s.iter().rposition(|&b| b == b')')?;
    s.get(i + 2).copied()
}

#[test]
fn producer_whose_main_thread_ended_still_owns_its_slot() {
    // A process whose main thread has ended (pthread_exit) while another
    // of its threads is in the middle of a put shows as a zombie in
    // /proc/PID/stat. It is alive: its slot must not be skipped as a dead
    // producer's (its thread would then finish writing into a slot that
    // has moved on).
    let q = Queue::<(u32, u32, Vec<u8>)>::with_max_message(4, 64).unwrap();
    let producer = {
        let q = q.clone();
        let child_main = move || {
            std::thread::spawn(move || {
                q.__crash_test_partial_put(&msg(99, 0), 8);
            });
            // End the main thread only (SYS_exit, not exit_group): the
            // process lives on in the thread above.
            // SAFETY: ends the calling thread; nothing of it is used after.
            unsafe { libc::syscall(libc::SYS_exit, 0) };
        };
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe { bingfa_process::fork(child_main) }.unwrap()
    };
    // Its last thread sleeps for an hour: never leave it behind, even when
    // an assertion below fails.
    struct KillOnDrop<'a>(&'a bingfa_process::Process);
    impl Drop for KillOnDrop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
        }
    }
    let _guard = KillOnDrop(&producer);
    let t = Instant::now();
    while q.is_empty() || proc_state(producer.pid()) != Some(b'Z') {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "slot never claimed, or the main thread never ended"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    q.put(msg(1, 0)).unwrap();
    // The consumer looks at the owner of the slot in progress every 20 ms:
    // it must keep waiting for it.
    assert!(matches!(
        q.get_timeout(Duration::from_millis(300)),
        Err(Error::Timeout)
    ));
    producer.kill().unwrap();
    assert_eq!(producer.join().unwrap(), ExitStatus::Signal(libc::SIGKILL));
    // Now it is dead: its hole is skipped, the whole message comes next.
    assert_eq!(q.get_timeout(Duration::from_secs(20)).unwrap(), msg(1, 0));
}

#[test]
fn producers_killed_at_random_points_of_puts() {
    let q = Queue::<(u32, u32, Vec<u8>)>::with_max_message(8, 64).unwrap();
    let mut seed = 0x9E37_79B9_u32;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut received = 0u64;
    let mut last = vec![None::<u32>; 40];
    for p in 0..40u32 {
        let producer = {
            let q = q.clone();
            // SAFETY: the closure takes no lock the harness's other threads may hold
            // (see the note at the top of this file).
            unsafe {
                bingfa_process::fork(move || {
                    for i in 0.. {
                        q.put(msg(p, i)).unwrap();
                    }
                })
            }
            .unwrap()
        };
        // Let it put for a random short while, draining concurrently, then
        // kill it wherever it is.
        let until = Instant::now() + Duration::from_micros(200 + u64::from(rand() % 3000));
        while Instant::now() < until {
            if let Ok(m) = q.try_get() {
                assert!(valid(&m), "damaged message {m:?}");
                let prev = last[m.0 as usize].replace(m.1);
                assert!(prev.is_none_or(|x| x < m.1), "duplicate or reordered {m:?}");
                received += 1;
            }
        }
        producer.kill().unwrap();
        producer.join().unwrap();
    }
    // Drain what is left: every message whole, none twice.
    loop {
        match q.get_timeout(Duration::from_millis(200)) {
            Ok(m) => {
                assert!(valid(&m), "damaged message {m:?}");
                let prev = last[m.0 as usize].replace(m.1);
                assert!(prev.is_none_or(|x| x < m.1), "duplicate or reordered {m:?}");
                received += 1;
            }
            Err(Error::Timeout) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(received > 0);
    // The queue still works for everyone else.
    for i in 0..20 {
        q.put(msg(7, i)).unwrap();
        assert_eq!(q.get().unwrap(), msg(7, i));
    }
}

#[test]
fn sigkill_of_consumer_mid_get_loses_only_its_item() {
    let q = Queue::<u32>::new(2).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    let dying = {
        let q = q.clone();
        // SAFETY: the closure takes no lock the harness's other threads may hold
        // (see the note at the top of this file).
        unsafe {
            bingfa_process::fork(move || {
                q.__crash_test_partial_get();
                std::process::exit(3); // nothing claimed: the test fails below
            })
        }
        .unwrap()
    };
    let t = Instant::now();
    while q.len() != 1 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "partial get never claimed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    dying.kill().unwrap();
    assert_eq!(dying.join().unwrap(), ExitStatus::Signal(libc::SIGKILL));
    // The slot the dead consumer held is given back to producers: the
    // queue holds two items again.
    q.put_timeout(3, Duration::from_secs(20)).unwrap();
    assert_eq!(q.get().unwrap(), 2);
    assert_eq!(q.get().unwrap(), 3);
    assert!(matches!(q.try_get(), Err(Error::Empty)));
}

#[test]
fn damaged_bytes_in_shared_memory_are_corrupt_and_queue_goes_on() {
    let q = Queue::<String>::new(4).unwrap();
    for at in [0usize, 3, 5, 9, 12] {
        q.put("a message to damage".to_string()).unwrap();
        q.put("an intact message".to_string()).unwrap();
        assert!(q.__fault_test_damage_oldest(at));
        assert!(matches!(q.get(), Err(Error::Corrupt(_))), "byte {at}");
        assert_eq!(q.get().unwrap(), "an intact message");
    }
}
