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
