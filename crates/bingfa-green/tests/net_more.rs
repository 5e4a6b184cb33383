//! Green sockets: `connect` tries every resolved address (as `std` does),
//! `AsFd`/`AsRawFd`, and `select` over several sockets.

use std::net::SocketAddr;

use bingfa_green::net::{TcpListener, TcpStream};
use bingfa_green::run;

/// A port nothing listens on (bound, then closed).
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Regression: `connect` tried only the first resolved address.
#[test]
fn connect_tries_every_address() {
    run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = l.local_addr().unwrap();
        let bad = closed_port();
        let s = TcpStream::connect(&[bad, good][..]).unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
        // None works: the last attempt's error.
        let e = TcpStream::connect(&[bad, closed_port()][..]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        // Nothing to try.
        let e = TcpStream::connect(&[][..] as &[SocketAddr]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    })
    .unwrap();
}

/// Green sockets give their descriptor, for socket options and the like.
#[test]
fn sockets_give_their_descriptor() {
    use std::os::fd::{AsFd, AsRawFd};
    run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let u = bingfa_green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fds = [l.as_raw_fd(), s.as_raw_fd(), u.as_raw_fd()];
        assert!(fds.iter().all(|&fd| fd >= 0));
        assert_eq!(s.as_fd().as_raw_fd(), fds[1]);
        // A socket option through the descriptor (socket2 borrows it).
        let sock = socket2::SockRef::from(&s);
        sock.set_nodelay(true).unwrap();
        assert!(sock.nodelay().unwrap());
        assert_eq!(
            sock.local_addr().unwrap().as_socket().unwrap(),
            s.local_addr().unwrap()
        );
    })
    .unwrap();
}

mod select {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use bingfa_green::net::{select, TcpListener, TcpStream, UdpSocket};
    use bingfa_green::{run, sleep, spawn};

    /// Three connections; data arrives on the middle one only.
    #[test]
    fn select_names_the_connection_with_data() {
        run(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let clients: Vec<TcpStream> =
                (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
            let served: Vec<TcpStream> = (0..3).map(|_| l.accept().unwrap().0).collect();
            let writer = spawn(move || {
                sleep(Duration::from_millis(20));
                (&clients[1]).write_all(b"ping").unwrap();
                clients
            });
            let (r, w) = select(&[&served[0], &served[1], &served[2]], &[], None).unwrap();
            assert_eq!((r, w), (vec![1], vec![]));
            let mut buf = [0u8; 4];
            (&served[1]).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
            // Read everything: not ready any more.
            let (r, _) = select(&[&served[1]], &[], Some(Duration::from_millis(20))).unwrap();
            assert!(r.is_empty());
            // The peer's close makes it readable (a read then gives 0).
            drop(writer.join().unwrap());
            let (r, _) = select(&[&served[0], &served[1], &served[2]], &[], None).unwrap();
            assert!(!r.is_empty());
            assert_eq!((&served[r[0]]).read(&mut buf).unwrap(), 0);
        })
        .unwrap();
    }

    /// A listener is ready to read when a connection waits to be
    /// accepted; a connected stream is ready to write.
    #[test]
    fn select_on_a_listener_and_for_writing() {
        run(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                std::net::TcpStream::connect(addr).unwrap()
            });
            let (r, w) = select(&[&l], &[], None).unwrap();
            assert_eq!((r, w), (vec![0], vec![]));
            let (conn, _) = l.accept().unwrap();
            let (r, w) = select(&[&l], &[&conn], None).unwrap();
            assert_eq!((r, w), (vec![], vec![0]));
            drop(t.join().unwrap());
        })
        .unwrap();
    }

    /// Nothing ready: empty after the timeout, and others run meanwhile.
    #[test]
    fn select_times_out_and_lets_others_run() {
        run(|| {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            let ticker = spawn(|| {
                for _ in 0..5 {
                    sleep(Duration::from_millis(5));
                }
                "ticked"
            });
            let start = Instant::now();
            let r = select(&[&a, &b], &[], Some(Duration::from_millis(100))).unwrap();
            assert_eq!(r, (vec![], vec![]));
            assert!(start.elapsed() >= Duration::from_millis(100));
            assert_eq!(ticker.join().unwrap(), "ticked");
            // A datagram from another OS thread wakes it.
            let addr = b.local_addr().unwrap();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                s.send_to(b"x", addr).unwrap();
            });
            let r = select(&[&a, &b], &[], Some(Duration::from_secs(30))).unwrap();
            assert_eq!(r, (vec![1], vec![]));
            t.join().unwrap();
        })
        .unwrap();
    }

    /// A socket of another hub (here one that has ended, on this same
    /// OS thread) is refused.
    #[test]
    fn select_refuses_a_socket_of_another_hub() {
        let s = run(|| UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        run(move || {
            let e = select(&[&s], &[], Some(Duration::ZERO)).unwrap_err();
            assert!(e.to_string().contains("hub that created it"), "{e}");
        })
        .unwrap();
    }
}

/// Short transfers on a stream: a read of fewer bytes than asked marks the
/// socket not readable (the next read waits for the poll's next edge
/// instead of asking the kernel), and a write of fewer bytes than given
/// marks it not writable. Data that arrives later, from another OS thread
/// while the hub may be blocked in its poll, must still wake the reader;
/// every byte must arrive, in order, both ways.
mod short_transfers {
    use std::io::{Read, Write};
    use std::time::Duration;

    use bingfa_green::net::TcpListener;
    use bingfa_green::run;

    #[test]
    fn a_reader_after_a_short_read_still_gets_later_data() {
        run(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            // The writer: a plain OS thread, in pieces of 7 bytes with
            // pauses, so that most reads are short and the next piece
            // comes after the socket was marked not readable.
            let writer = std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.set_nodelay(true).unwrap();
                for i in 0..60u8 {
                    c.write_all(&[i; 7]).unwrap();
                    if i % 3 == 0 {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            });
            let (mut s, _) = l.accept().unwrap();
            // A lost wake-up shows as a timeout, not a hang.
            s.set_read_timeout(Some(Duration::from_secs(20)));
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                let n = (&s).read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let want: Vec<u8> = (0..60u8).flat_map(|i| [i; 7]).collect();
            assert_eq!(got, want);
            writer.join().unwrap();
        })
        .unwrap();
    }

    /// A zero timeout (Python's non-blocking socket) after a short read:
    /// data that came since must be returned, not a timeout, although the
    /// poll has not reported it yet.
    #[test]
    fn a_zero_timeout_read_after_a_short_read_sees_new_data() {
        run(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (mut s, _) = l.accept().unwrap();
            c.write_all(b"abc").unwrap();
            let mut buf = [0u8; 64];
            assert_eq!((&s).read(&mut buf).unwrap(), 3);
            // Marked not readable now; more data arrives while no green
            // thread switches (so no poll runs).
            c.write_all(b"defg").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            s.set_read_timeout(Some(Duration::ZERO));
            assert_eq!((&s).read(&mut buf).unwrap(), 4);
            assert_eq!(&buf[..4], b"defg");
            // Nothing more: a timeout at once.
            let e = (&s).read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        })
        .unwrap();
    }

    #[test]
    fn a_writer_after_a_short_write_still_finishes() {
        run(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            // 8 MiB, far more than the kernel's buffers: the green writer's
            // writes come back short, and only the slow reader's progress
            // (another OS thread) makes room again.
            const TOTAL: usize = 8 << 20;
            let reader = std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                let mut buf = vec![0u8; 4096];
                let (mut n, mut sum) = (0usize, 0u64);
                loop {
                    let k = c.read(&mut buf).unwrap();
                    if k == 0 {
                        break;
                    }
                    sum += buf[..k].iter().map(|&b| u64::from(b)).sum::<u64>();
                    n += k;
                    if n % (1 << 20) < 4096 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                (n, sum)
            });
            let (mut s, _) = l.accept().unwrap();
            s.set_write_timeout(Some(Duration::from_secs(20)));
            let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
            (&s).write_all(&data).unwrap();
            drop(s);
            let want: u64 = data.iter().map(|&b| u64::from(b)).sum();
            assert_eq!(reader.join().unwrap(), (TOTAL, want));
        })
        .unwrap();
    }
}
