//! Green IO: a one-hub echo server with 1 000 concurrent clients, UDP,
//! timeouts, SO_REUSEPORT across hubs.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bingfa_green::net::{TcpListener, TcpStream, UdpSocket};
use bingfa_green::sync::Event;
use bingfa_green::{joinall, run, spawn, Builder, Hub};

/// Serves `clients` connections, echoing each byte, then returns.
fn echo_server(listener: TcpListener, clients: usize) -> usize {
    let mut hs = Vec::new();
    for _ in 0..clients {
        let (conn, _) = listener.accept().unwrap();
        hs.push(
            Builder::new()
                .stack_size(32 * 1024)
                .spawn(move || {
                    let mut buf = [0u8; 1024];
                    let mut n_total = 0;
                    loop {
                        let n = (&conn).read(&mut buf).unwrap();
                        if n == 0 {
                            return n_total;
                        }
                        (&conn).write_all(&buf[..n]).unwrap();
                        n_total += n;
                    }
                })
                .unwrap(),
        );
    }
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn echo_server_one_hub_1000_concurrent_clients() {
    const CLIENTS: usize = 1000;
    const ROUNDS: usize = 5;
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    let server = std::thread::spawn(move || {
        Hub::new()
            .stack_size(32 * 1024)
            .run(move || {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                echo_server(l, CLIENTS)
            })
            .unwrap()
    });
    let addr = rx.recv().unwrap();
    // The clients: a second hub on another OS thread, all 1000 connected
    // at once before any of them sends.
    let client_bytes = run(move || {
        let all_connected = Rc::new(Event::new());
        let connected = Rc::new(std::cell::Cell::new(0));
        let hs: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (ev, c) = (all_connected.clone(), connected.clone());
                Builder::new()
                    .stack_size(32 * 1024)
                    .spawn(move || {
                        let mut s = TcpStream::connect(addr).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(30)));
                        c.set(c.get() + 1);
                        if c.get() == CLIENTS {
                            ev.set();
                        }
                        ev.wait();
                        let mut total = 0;
                        for r in 0..ROUNDS {
                            let msg = format!("client {i} say hello {r}");
                            s.write_all(msg.as_bytes()).unwrap();
                            let mut back = vec![0u8; msg.len()];
                            s.read_exact(&mut back).unwrap();
                            assert_eq!(back, msg.as_bytes());
                            total += msg.len();
                        }
                        total
                    })
                    .unwrap()
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
    })
    .unwrap();
    let served = server.join().unwrap();
    assert_eq!(served, client_bytes);
    assert!(client_bytes > CLIENTS * ROUNDS * 20);
}

#[test]
fn read_and_accept_timeouts() {
    run(|| {
        let mut l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_timeout(Some(Duration::from_millis(20)));
        let start = Instant::now();
        let e = l.accept().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(2));
        let addr = l.local_addr().unwrap();
        let c = spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(20)));
            let mut b = [0u8; 4];
            let e = s.read(&mut b).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
            s.write_all(b"done").unwrap();
        });
        l.set_timeout(Some(Duration::from_secs(5)));
        let (mut conn, _) = l.accept().unwrap();
        let mut b = [0u8; 4];
        conn.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"done");
        c.join().unwrap();
    })
    .unwrap();
}

#[test]
fn timeout_scope_interrupts_a_read_and_kill_a_reader() {
    run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let s = TcpStream::connect(addr).unwrap();
        let (_conn, _) = l.accept().unwrap();
        let r = bingfa_green::with_timeout(Duration::from_millis(20), || {
            let mut b = [0u8; 1];
            (&s).read(&mut b)
        });
        assert!(matches!(r, Err(bingfa_green::Error::Timeout(_))));
        let reader = spawn(move || {
            let mut b = [0u8; 1];
            (&s).read(&mut b).map(|_| ())
        });
        bingfa_green::yield_now();
        reader.kill();
        assert!(matches!(reader.join(), Err(bingfa_green::Error::Killed)));
    })
    .unwrap();
}

#[test]
fn connect_refused_is_an_error() {
    run(|| {
        // Bind then drop to get a port nobody listens on.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = TcpStream::connect(addr).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    })
    .unwrap();
}

#[test]
fn udp_echo() {
    run(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let srv = spawn(move || {
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let mut client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(addr).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5)));
        for i in 0..3u8 {
            client.send(&[i, i, i]).unwrap();
            let mut b = [0u8; 8];
            let n = client.recv(&mut b).unwrap();
            assert_eq!(&b[..n], &[i, i, i]);
        }
        srv.join().unwrap();
        client.set_read_timeout(Some(Duration::from_millis(10)));
        let mut b = [0u8; 8];
        assert_eq!(
            client.recv(&mut b).unwrap_err().kind(),
            std::io::ErrorKind::TimedOut
        );
    })
    .unwrap();
}

#[test]
fn two_hubs_share_a_port_with_reuseport() {
    // Two hubs on two OS threads listen on one port; 40 connections are
    // spread between them by the kernel, and every one is served.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let stop = std::sync::Arc::new(Event::new());
    let servers: Vec<_> = (0..2)
        .map(|_| {
            let (tx, stop) = (ready_tx.clone(), stop.clone());
            std::thread::spawn(move || {
                run(move || {
                    let l = Rc::new(TcpListener::bind_reuseport(addr).unwrap());
                    tx.send(()).unwrap();
                    let served = Rc::new(std::cell::Cell::new(0));
                    let (l2, s2) = (l.clone(), served.clone());
                    let acceptor = spawn(move || loop {
                        let (mut c, _) = l2.accept().unwrap();
                        let mut b = [0u8; 1];
                        c.read_exact(&mut b).unwrap();
                        c.write_all(&b).unwrap();
                        s2.set(s2.get() + 1);
                    });
                    stop.wait();
                    acceptor.kill();
                    served.get()
                })
                .unwrap()
            })
        })
        .collect();
    ready_rx.recv().unwrap();
    ready_rx.recv().unwrap();
    for i in 0..40u8 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&[i]).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        assert_eq!(b[0], i);
    }
    stop.set();
    let served: Vec<usize> = servers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(served.iter().sum::<usize>(), 40);
}

#[test]
fn blocking_call_in_thread_keeps_the_hub_serving() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    run(|| {
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = spawn(move || {
            for _ in 0..10 {
                bingfa_green::sleep(Duration::from_millis(5));
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        // The blocking call lasts until the hub has ticked five times
        // meanwhile (at most 30 s): the hub kept serving while it blocked.
        let t = ticks.clone();
        let v = bingfa_green::block_in_thread(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while t.load(Ordering::SeqCst) < 5 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            t.load(Ordering::SeqCst)
        });
        assert!(v >= 5, "the hub kept running: {v} ticks during the call");
        joinall([&ticker]);
        let p = std::panic::catch_unwind(|| bingfa_green::block_in_thread(|| panic!("in pool")));
        assert!(p.is_err());
    })
    .unwrap();
}
