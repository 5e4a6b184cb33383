//! Ported from CPython's `Lib/test/_test_multiprocessing.py`, classes
//! `_TestConnection` and `_TestPoll` (CPython main, commit
//! 00811485ee5ffa6d719cd4058ba3651ee9cd207b, the 3.15 development branch).
//! Copyright (c) 2001-2025 Python Software Foundation; licensed under the
//! PSF License Agreement, version 2 (PSF-2.0).
//!
//! One Rust test per upstream test that applies, named after it; see the
//! crate's `PARITY.md` for the others. A `Connection` is a [`Pipe`] end
//! here (typed: `send`/`recv` carry one serde type, `send_bytes` /
//! `recv_bytes` raw bytes), `EOFError` is `Error::Closed`, and
//! `Pipe(duplex=False)` is `Pipe::one_way`.

use std::time::{Duration, Instant};

use bingfa_process::{Error, ExitStatus, Pipe, Process};

bingfa_process::enable_test_support!();

const LONG: Duration = Duration::from_secs(60);
const TIMEOUT1: Duration = Duration::from_millis(100);

fn ok(p: &Process) {
    assert_eq!(
        p.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        p.panic_message()
    );
}

/// The values `send`/`recv` carry in these tests (upstream: any object).
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Obj {
    /// `[1, 2.25, None]`
    Seq(Vec<Option<f64>>),
    None,
}

/// Upstream's `_echo`: echoes messages until an empty one.
fn echo<T>(conn: &Pipe<T>) {
    loop {
        let msg = conn.recv_bytes().unwrap();
        if msg.is_empty() {
            break;
        }
        conn.send_bytes(&msg).unwrap();
    }
}

fn spawned_echo(conn: Pipe<Obj>) {
    echo(&conn);
}

/// `array('i', ...)` as its bytes.
fn ints(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// Upstream's `_TestConnection`.
mod _test_connection {
    use super::*;

    #[test]
    fn test_connection() {
        let (conn, child_conn) = Pipe::<Obj>::new().unwrap();
        let p = bingfa_process::Builder::new()
            .daemon(true)
            .fork(|| echo(&child_conn))
            .unwrap();

        let seq = Obj::Seq(vec![Some(1.0), Some(2.25), None]);
        let msg = b"hello world".to_vec();
        let longmsg = msg.repeat(10);
        let arr = [0i32, 1, 2, 3];

        conn.send(&seq).unwrap();
        assert_eq!(conn.recv().unwrap(), seq);

        conn.send_bytes(&msg).unwrap();
        assert_eq!(conn.recv_bytes().unwrap(), msg);

        let mut buffer = [0u8; 40]; // array('i', [0]*10)
        conn.send_bytes(&ints(&arr)).unwrap();
        assert_eq!(conn.recv_bytes_into(&mut buffer).unwrap(), 16);
        assert_eq!(buffer.to_vec(), ints(&[0, 1, 2, 3, 0, 0, 0, 0, 0, 0]));

        let mut buffer = [0u8; 40];
        conn.send_bytes(&ints(&arr)).unwrap();
        // recv_bytes_into(buffer, 3 * itemsize)
        assert_eq!(conn.recv_bytes_into(&mut buffer[12..]).unwrap(), 16);
        assert_eq!(buffer.to_vec(), ints(&[0, 0, 0, 0, 1, 2, 3, 0, 0, 0]));

        let mut buffer = [b' '; 40];
        conn.send_bytes(&longmsg).unwrap();
        match conn.recv_bytes_into(&mut buffer) {
            Err(Error::BufferTooShort(m)) => assert_eq!(m, longmsg),
            other => panic!("expected BufferTooShort, got {other:?}"),
        }

        let t = Instant::now();
        assert!(!conn.poll(Duration::ZERO).unwrap());
        assert!(t.elapsed() < Duration::from_secs(5));
        // (Upstream's poll(-1): no negative durations here.)
        let t = Instant::now();
        assert!(!conn.poll(TIMEOUT1).unwrap());
        assert!(t.elapsed() >= TIMEOUT1 - Duration::from_millis(5));

        conn.send(&Obj::None).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(conn.poll(TIMEOUT1).unwrap());
        assert_eq!(conn.recv().unwrap(), Obj::None);

        let really_big_msg = vec![b'X'; 1024 * 1024 * 16]; // 16 MiB
        conn.send_bytes(&really_big_msg).unwrap();
        assert!(conn.recv_bytes().unwrap() == really_big_msg);

        conn.send_bytes(b"").unwrap(); // tell child to quit
        drop(child_conn);
        ok(&p);
        // (Upstream: conn.readable and conn.writable are True; every end
        // here is both, a one-way end one or the other by its type.)
        assert!(matches!(conn.recv(), Err(Error::Closed)));
        assert!(matches!(conn.recv_bytes(), Err(Error::Closed)));
    }

    #[test]
    fn test_duplex_false() {
        let (reader, writer) = Pipe::<i64>::one_way().unwrap();
        writer.send(&1).unwrap();
        assert_eq!(reader.recv().unwrap(), 1);
        // (Upstream: reader.send, writer.recv and writer.poll raise
        // OSError; here the types have no such methods.)
    }

    #[test]
    fn test_spawn_close() {
        // The parent closes the child's end right after the child started:
        // the child has its own.
        let (conn, child_conn) = Pipe::<Obj>::new().unwrap();
        let p = bingfa_process::Builder::new()
            .daemon(true)
            .spawn(spawned_echo, child_conn)
            .unwrap();
        // (`child_conn` moved into the arguments and is closed here.)
        let msg = b"hello".to_vec();
        conn.send_bytes(&msg).unwrap();
        assert_eq!(conn.recv_bytes_timeout(LONG), msg);
        conn.send_bytes(b"").unwrap();
        drop(conn);
        ok(&p);
    }

    /// `recv_bytes` with a bound, so that a lost message fails the test.
    trait RecvTimeout {
        fn recv_bytes_timeout(&self, t: Duration) -> Vec<u8>;
    }

    impl<T> RecvTimeout for Pipe<T> {
        fn recv_bytes_timeout(&self, t: Duration) -> Vec<u8> {
            assert!(self.poll(t).unwrap(), "no message within {t:?}");
            self.recv_bytes().unwrap()
        }
    }

    #[test]
    fn test_sendbytes() {
        let msg = b"abcdefghijklmnopqrstuvwxyz";
        let (a, b) = Pipe::<()>::new().unwrap();

        a.send_bytes(msg).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), msg);

        // send_bytes(msg, offset[, size]) is a slice here.
        a.send_bytes(&msg[5..]).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), &msg[5..]);

        a.send_bytes(&msg[7..7 + 8]).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), &msg[7..15]);

        a.send_bytes(&msg[26..]).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), b"");

        a.send_bytes(&msg[26..26]).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), b"");

        // Upstream's ValueError cases: slices that cannot be made.
        assert!(msg.get(27..).is_none());
        assert!(msg.get(22..22 + 5).is_none());
        assert!(msg.get(26..26 + 1).is_none());
    }

    #[test]
    fn test_context() {
        let (a, b) = Pipe::<i64>::new().unwrap();
        {
            a.send(&1729).unwrap();
            assert_eq!(b.recv().unwrap(), 1729);
        }
        // `with a, b:` closes both at the end; here dropping them does,
        // and a closed end cannot be used at all (upstream: OSError). Its
        // peer sees the end of the stream.
        drop(a);
        assert!(matches!(b.recv(), Err(Error::Closed)));
    }
}

/// Upstream's `_TestPoll`.
mod _test_poll {
    use super::*;

    #[test]
    fn test_empty_string() {
        let (a, b) = Pipe::<()>::new().unwrap();
        assert!(!a.poll(Duration::ZERO).unwrap());
        b.send_bytes(b"").unwrap();
        assert!(a.poll(Duration::ZERO).unwrap());
        assert!(a.poll(Duration::ZERO).unwrap());
    }

    #[test]
    fn test_strings() {
        let strings: [&[u8]; 8] = [b"hello", b"", b"a", b"b", b"", b"bye", b"", b"lop"];
        let (a, b) = Pipe::<()>::new().unwrap();
        let p = bingfa_process::fork(|| {
            for s in strings {
                std::thread::sleep(Duration::from_millis(100));
                b.send_bytes(s).unwrap();
            }
        })
        .unwrap();
        for s in strings {
            for _ in 0..200 {
                if a.poll(Duration::from_millis(10)).unwrap() {
                    break;
                }
            }
            assert_eq!(a.recv_bytes().unwrap(), s);
        }
        ok(&p);
    }

    #[test]
    fn test_boundaries() {
        // A child that polls the reader must not pull in part of a
        // message: the parent still reads a whole one afterwards.
        let (r, w) = Pipe::<()>::one_way().unwrap();
        let p = bingfa_process::fork(|| {
            r.poll(Duration::from_secs(5)).unwrap();
        })
        .unwrap();
        // Upstream sleeps 2 s to let the child start polling.
        std::thread::sleep(Duration::from_millis(500));
        let l: [&[u8]; 2] = [b"first", b"second"];
        for obj in l {
            w.send_bytes(obj).unwrap();
        }
        drop(w);
        ok(&p);
        let got = r.recv_bytes().unwrap();
        assert!(l.contains(&&got[..]), "{got:?}");
    }

    #[test]
    fn test_dont_merge() {
        let (a, b) = Pipe::<()>::new().unwrap();
        assert!(!a.poll(Duration::ZERO).unwrap());
        assert!(!a.poll(Duration::from_millis(100)).unwrap());
        let p = bingfa_process::fork(|| {
            b.send_bytes(b"a").unwrap();
            b.send_bytes(b"b").unwrap();
            b.send_bytes(b"cd").unwrap();
        })
        .unwrap();
        assert_eq!(a.recv_bytes().unwrap(), b"a");
        assert!(a.poll(Duration::from_secs(1)).unwrap());
        assert!(a.poll(Duration::from_secs(1)).unwrap());
        assert_eq!(a.recv_bytes().unwrap(), b"b");
        assert!(a.poll(Duration::from_secs(1)).unwrap());
        assert!(a.poll(Duration::from_secs(1)).unwrap());
        assert!(a.poll(Duration::ZERO).unwrap());
        assert_eq!(a.recv_bytes().unwrap(), b"cd");
        ok(&p);
    }
}
