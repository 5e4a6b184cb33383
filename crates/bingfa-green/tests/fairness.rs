//! Green threads that only `yield_now` never starve the hub's other
//! duties: socket readiness and wake-ups from other OS threads reach a hub
//! that never goes idle. (The bound in resumes on expired timers is
//! checked by a unit test of the scheduler, which can park on an exact
//! deadline.)

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bingfa_green::net::UdpSocket;
use bingfa_green::sync::Event;
use bingfa_green::{run, spawn, yield_now};

/// Spawns `n` green threads that yield until `stop` is set (or a bound of
/// yields each is reached); each returns whether `stop` ended it.
fn yielders(
    n: usize,
    stop: &Rc<Cell<bool>>,
    total: &Rc<Cell<u64>>,
) -> Vec<bingfa_green::Handle<bool>> {
    (0..n)
        .map(|_| {
            let stop = stop.clone();
            let total = total.clone();
            spawn(move || {
                for _ in 0..20_000_000u64 {
                    if stop.get() {
                        return true;
                    }
                    total.set(total.get() + 1);
                    yield_now();
                }
                false
            })
        })
        .collect()
}

#[test]
fn a_wakeup_from_another_os_thread_reaches_a_hub_busy_with_yielders() {
    run(|| {
        let stop = Rc::new(Cell::new(false));
        let total = Rc::new(Cell::new(0));
        // The hub never goes idle (never blocks in its poll) while these
        // run: the wake-up must be picked up by the busy loop.
        let hs = yielders(2, &stop, &total);
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            e.set();
        });
        assert!(ev.wait_timeout(Duration::from_secs(30)), "woken by the set");
        stop.set(true);
        for h in hs {
            assert!(h.join().unwrap(), "stopped by the flag, not by the bound");
        }
        t.join().unwrap();
    })
    .unwrap();
}

#[test]
fn socket_readiness_reaches_a_hub_busy_with_yielders() {
    run(|| {
        let stop = Rc::new(Cell::new(false));
        let total = Rc::new(Cell::new(0));
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let hs = yielders(2, &stop, &total);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let plain = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            plain.send_to(b"ping", addr).unwrap();
        });
        let mut buf = [0u8; 16];
        let (len, _) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"ping");
        stop.set(true);
        for h in hs {
            assert!(h.join().unwrap(), "stopped by the flag, not by the bound");
        }
        t.join().unwrap();
    })
    .unwrap();
}
