//! One-way pipes (Python's `Pipe(duplex=False)`) and `recv_bytes_into`,
//! with both start methods.

use std::time::Duration;

use bingfa_process::{Error, ExitStatus, Pipe, PipeWriter};

bingfa_process::enable_test_support!();

const LONG: Duration = Duration::from_secs(30);

fn write_three(w: PipeWriter<String>) {
    for s in ["one", "two", "three"] {
        w.send(&s.to_string()).unwrap();
    }
}

#[test]
fn one_way_pipe_carries_messages_to_the_reader_then_the_end() {
    let (r, w) = Pipe::<String>::one_way().unwrap();
    w.send(&"local".to_string()).unwrap();
    assert_eq!(r.recv().unwrap(), "local");
    // A spawned child gets the writer; ours is dropped, so the reader sees
    // the end once the child has exited.
    let p = bingfa_process::spawn(write_three, w).unwrap();
    for s in ["one", "two", "three"] {
        assert_eq!(r.recv_timeout(LONG).unwrap(), s);
    }
    assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
    assert!(matches!(r.recv_timeout(LONG), Err(Error::Closed)));
    assert!(
        r.poll(Duration::ZERO).unwrap(),
        "the end of the stream is ready"
    );
}

#[test]
fn one_way_writer_sees_the_reader_gone() {
    let (r, w) = Pipe::<u32>::one_way().unwrap();
    let p = bingfa_process::fork(|| {
        assert_eq!(r.recv_timeout(LONG).unwrap(), 1);
    })
    .unwrap();
    drop(r);
    w.send(&1).unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Code(0));
    // Every copy of the reader is gone now, but for the copies a child
    // that another test of this binary forks meanwhile holds until it
    // execs or exits (fork copies every descriptor): the send fails once
    // those are gone too.
    let t = std::time::Instant::now();
    loop {
        match w.send(&2) {
            Err(Error::Closed) => break,
            Ok(()) => assert!(t.elapsed() < LONG, "the reader never went away"),
            Err(e) => panic!("{e}"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn recv_bytes_into_fits_offsets_and_refuses_short_buffers() {
    let (a, b) = Pipe::<()>::new().unwrap();
    let mut buf = [0u8; 10];
    a.send_bytes(b"abcd").unwrap();
    assert_eq!(b.recv_bytes_into(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"abcd");
    a.send_bytes(b"xyz").unwrap();
    assert_eq!(b.recv_bytes_into(&mut buf[3..]).unwrap(), 3);
    assert_eq!(&buf[..6], b"abcxyz");
    a.send_bytes(&[7; 11]).unwrap();
    match b.recv_bytes_into(&mut buf) {
        Err(Error::BufferTooShort(msg)) => assert_eq!(msg, vec![7; 11]),
        other => panic!("expected BufferTooShort, got {other:?}"),
    }
    // The message was taken off the pipe; the next one comes next.
    a.send_bytes(b"").unwrap();
    assert_eq!(b.recv_bytes_into(&mut buf).unwrap(), 0);
    let (r, w) = Pipe::<()>::one_way().unwrap();
    w.send_bytes(b"hi").unwrap();
    assert_eq!(r.recv_bytes_into(&mut buf).unwrap(), 2);
}
