//! The connection between the parent's handler of one slot and its worker:
//! a `bingfa_process::Pipe` for workers started by fork or spawn (which
//! hand the pipe over themselves), or a framed Unix stream ([`Conn`]) for
//! workers started by the fork server (whose end travels to the server as
//! a descriptor, which a `Pipe` cannot be made from).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bingfa_process::Pipe;

use super::codec;
use super::worker::Msg;

/// The largest message a [`Conn`] accepts (a larger length is damage), as
/// `bingfa_process::MAX_PIPE_MESSAGE`.
const MAX_MESSAGE: usize = bingfa_process::MAX_PIPE_MESSAGE;

/// Why a message did not get through.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// The other end is gone (the worker died, or the parent).
    Closed,
    /// Nothing arrived in time.
    Timeout,
    /// The message could not be encoded or is too large: nothing was sent.
    Unsendable(String),
    /// The stream is damaged, or another system error.
    Broken(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Closed => f.write_str("the other end is closed"),
            LinkError::Timeout => f.write_str("timed out"),
            LinkError::Unsendable(m) | LinkError::Broken(m) => f.write_str(m),
        }
    }
}

/// One end of a worker's connection.
pub(crate) enum Link {
    /// A worker started by fork or spawn.
    Pipe(Pipe<Msg>),
    /// A worker started by the fork server.
    Conn(Conn),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Pipe(p) => p.fmt(f),
            Link::Conn(_) => f.write_str("Conn"),
        }
    }
}

fn from_process_error(e: bingfa_process::Error) -> LinkError {
    match e {
        bingfa_process::Error::Closed => LinkError::Closed,
        bingfa_process::Error::Timeout | bingfa_process::Error::Empty => LinkError::Timeout,
        e @ (bingfa_process::Error::Encode(_) | bingfa_process::Error::TooLarge { .. }) => {
            LinkError::Unsendable(e.to_string())
        }
        e => LinkError::Broken(e.to_string()),
    }
}

impl Link {
    /// Sends one message.
    pub(crate) fn send(&self, msg: &Msg) -> Result<(), LinkError> {
        match self {
            Link::Pipe(p) => p.send(msg).map_err(from_process_error),
            Link::Conn(c) => c.send(msg),
        }
    }

    /// Receives one message, waiting at most `timeout` (`None`: as long as
    /// it takes; zero: only if one is there).
    pub(crate) fn recv(&self, timeout: Option<Duration>) -> Result<Msg, LinkError> {
        match self {
            Link::Pipe(p) => match timeout {
                None => p.recv(),
                Some(t) if t.is_zero() => p.try_recv(),
                Some(t) => p.recv_timeout(t),
            }
            .map_err(from_process_error),
            Link::Conn(c) => c.recv(timeout),
        }
    }
}

/// A framed Unix stream: each message is its length (`u32`, little
/// endian) and its postcard encoding. Used by one thread at a time on
/// each side.
pub(crate) struct Conn {
    stream: UnixStream,
}

impl Conn {
    pub(crate) fn new(stream: UnixStream) -> Conn {
        Conn { stream }
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> Conn {
        Conn::new(UnixStream::from(fd))
    }

    /// Two connected ends (close-on-exec).
    pub(crate) fn pair() -> io::Result<(UnixStream, UnixStream)> {
        UnixStream::pair()
    }

    fn send(&self, msg: &Msg) -> Result<(), LinkError> {
        let body = codec::encode(msg).map_err(LinkError::Unsendable)?;
        if body.len() > MAX_MESSAGE {
            return Err(LinkError::Unsendable(format!(
                "{} bytes is larger than the maximum of {MAX_MESSAGE}",
                body.len()
            )));
        }
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&body);
        match (&self.stream).write_all(&frame) {
            Ok(()) => Ok(()),
            Err(e) if is_closed(&e) => Err(LinkError::Closed),
            Err(e) => Err(LinkError::Broken(e.to_string())),
        }
    }

    fn recv(&self, timeout: Option<Duration>) -> Result<Msg, LinkError> {
        if let Some(t) = timeout {
            if !wait_readable(self.stream.as_fd(), t)
                .map_err(|e| LinkError::Broken(e.to_string()))?
            {
                return Err(LinkError::Timeout);
            }
        }
        // A frame is written whole by one `write_all`: once its first byte
        // is here, the rest follows, or end-of-stream if the writer died.
        let mut len = [0u8; 4];
        read_exact(&self.stream, &mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_MESSAGE {
            return Err(LinkError::Broken(format!(
                "a frame claims {len} bytes, more than the maximum of {MAX_MESSAGE}"
            )));
        }
        let mut body = vec![0u8; len];
        read_exact(&self.stream, &mut body)?;
        codec::decode(&body).map_err(|e| LinkError::Broken(format!("a damaged message: {e}")))
    }
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
    )
}

fn read_exact(mut stream: &UnixStream, buf: &mut [u8]) -> Result<(), LinkError> {
    match stream.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if is_closed(&e) => Err(LinkError::Closed),
        Err(e) => Err(LinkError::Broken(e.to_string())),
    }
}

/// Waits until `fd` is readable (or at end-of-stream, or in error) for at
/// most `timeout`; `false` if the time ran out. Interrupted waits resume.
pub(crate) fn wait_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    timeout: Duration,
) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ts = left.map(|l| Timespec {
            tv_sec: l.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(l.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
