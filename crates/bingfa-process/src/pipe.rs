//! [`Pipe`]: a duplex, message-framed connection between two processes (a
//! Unix socket pair carrying the crate's checksummed frames).

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;
use crate::error::Error;
use crate::{shm, sys};

/// The largest frame a pipe accepts (a header claiming more is corrupt).
/// Python's limit is 2 GiB minus a little (`multiprocessing.connection`).
pub const MAX_PIPE_MESSAGE: usize = 1 << 30;

/// One end of a duplex pipe: sends and receives `T`s. Python: the
/// `Connection` objects of `multiprocessing.Pipe()`.
///
/// Each message is one frame (length, checksum, postcard payload), so
/// `recv` returns exactly what one `send` sent, and damaged bytes are
/// [`Error::Corrupt`], never a wrong value. When the other end is closed
/// in every process, `recv` returns [`Error::Closed`] (Python: `EOFError`)
/// and `send` returns [`Error::Closed`] (Python: `BrokenPipeError`).
///
/// An end is meant for one process at a time (as in Python): after a fork,
/// drop the end the other process uses, so that end-of-stream is seen when
/// that process ends. A forked child holds a copy of **every** descriptor of
/// the parent, including the parent's own end, until it exits: a child that
/// waits for end-of-stream on its end never sees it (its own copy of the
/// other end keeps the stream open), so stop such a child with a message of
/// your own, or start it with spawn, which inherits only the ends passed
/// as arguments. Within a process, sends and
/// receives are each serialized by a lock, so threads may share an end.
///
/// ```
/// let (parent, child_end) = bingfa_process::Pipe::<String>::new().unwrap();
/// // The closure borrows `child_end`; the child has its own copy of it.
/// let child = bingfa_process::fork(|| {
///     let s = child_end.recv().unwrap();
///     child_end.send(&format!("{s} world")).unwrap();
/// })
/// .unwrap();
/// drop(child_end); // the parent keeps only its own end
/// parent.send(&"hello".to_string()).unwrap();
/// assert_eq!(parent.recv().unwrap(), "hello world");
/// child.join().unwrap();
/// ```
pub struct Pipe<T> {
    fd: OwnedFd,
    send_lock: Mutex<Vec<u8>>,
    recv_buf: Mutex<Vec<u8>>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Pipe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipe")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

impl<T> Pipe<T> {
    fn from_fd(fd: OwnedFd) -> Pipe<T> {
        Pipe {
            fd,
            send_lock: Mutex::new(Vec::new()),
            recv_buf: Mutex::new(Vec::new()),
            _t: PhantomData,
        }
    }

    /// Two connected ends. Python: `multiprocessing.Pipe(duplex=True)`.
    ///
    /// # Errors
    /// [`Error::Os`] if the socket pair cannot be made.
    pub fn new() -> Result<(Pipe<T>, Pipe<T>), Error> {
        let mut fds = [0; 2];
        // SAFETY: a valid array of two ints.
        sys::cvt(unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        })?;
        // SAFETY: two fresh descriptors we own.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((Pipe::from_fd(a), Pipe::from_fd(b)))
    }

    /// Two connected one-way ends: what the writer sends, the reader
    /// receives. Python: `multiprocessing.Pipe(duplex=False)`, which
    /// returns `(reader, writer)` in that order too. The ends are separate
    /// types, so that sending on the reader or receiving on the writer
    /// does not compile (Python raises `OSError`).
    ///
    /// # Errors
    /// [`Error::Os`] if the socket pair cannot be made.
    #[doc(alias = "duplex")]
    pub fn one_way() -> Result<(PipeReader<T>, PipeWriter<T>), Error> {
        let (r, w) = Pipe::new()?;
        // The reader never writes and the writer never reads: shut those
        // directions, so that each end's peer sees the end of its stream.
        // SAFETY: shutdown on our own sockets.
        unsafe {
            libc::shutdown(r.fd.as_raw_fd(), libc::SHUT_WR);
            libc::shutdown(w.fd.as_raw_fd(), libc::SHUT_RD);
        }
        Ok((PipeReader { end: r }, PipeWriter { end: w }))
    }

    /// Sends one already-encoded frame's payload bytes. Python:
    /// `Connection.send_bytes`.
    ///
    /// # Errors
    /// [`Error::Closed`] if the other end is gone; [`Error::TooLarge`]
    /// beyond [`MAX_PIPE_MESSAGE`] less the frame's header; [`Error::Os`]
    /// otherwise.
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.len() > MAX_PIPE_MESSAGE - codec::HEADER {
            return Err(Error::TooLarge {
                size: bytes.len(),
                max: MAX_PIPE_MESSAGE - codec::HEADER,
            });
        }
        let mut out = self.send_lock.lock().unwrap_or_else(|p| p.into_inner());
        out.clear();
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&codec::checksum(bytes).to_le_bytes());
        out.extend_from_slice(bytes);
        // One write per message: no partial frame from this end is ever
        // interleaved with another thread's.
        self.write_all(&out)
    }

    fn write_all(&self, mut buf: &[u8]) -> Result<(), Error> {
        while !buf.is_empty() {
            // SAFETY: `buf` is valid for reads of its length.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                let e = sys::last_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EPIPE) | Some(libc::ECONNRESET) => return Err(Error::Closed),
                    _ => return Err(Error::Os(e)),
                }
            }
            buf = &buf[n as usize..];
        }
        Ok(())
    }

    /// Receives one frame's payload bytes (checksum verified), waiting as
    /// long as it takes. Python: `Connection.recv_bytes`.
    ///
    /// # Errors
    /// [`Error::Closed`] when the other end is closed and nothing is left;
    /// [`Error::Corrupt`] for a damaged frame (the frame is skipped; after a
    /// damaged length the stream cannot be resynchronized, and every later
    /// call returns `Corrupt` too).
    pub fn recv_bytes(&self) -> Result<Vec<u8>, Error> {
        self.recv_frame(None)
    }

    /// Receives one message's bytes into `buf`; returns their number.
    /// Python: `Connection.recv_bytes_into(buf)` (with an offset: pass
    /// `&mut buf[offset..]`).
    ///
    /// # Errors
    /// [`Error::BufferTooShort`] with the whole message when it does not
    /// fit `buf` (the message is taken off the pipe, as in Python);
    /// otherwise as for [`recv_bytes`](Pipe::recv_bytes).
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let msg = self.recv_frame(None)?;
        match buf.get_mut(..msg.len()) {
            Some(dst) => {
                dst.copy_from_slice(&msg);
                Ok(msg.len())
            }
            None => Err(Error::BufferTooShort(msg)),
        }
    }

    /// Whether a message (or the end of the stream) can be received within
    /// `timeout`. Python: `Connection.poll(timeout)`.
    ///
    /// # Errors
    /// [`Error::Os`] if `poll` fails.
    pub fn poll(&self, timeout: Duration) -> Result<bool, Error> {
        {
            let buf = self.recv_buf.lock().unwrap_or_else(|p| p.into_inner());
            if codec::frame_len(&buf).is_some_and(|n| buf.len() >= n) {
                return Ok(true);
            }
        }
        Ok(sys::poll_readable(self.fd.as_raw_fd(), Some(timeout))?)
    }

    fn recv_frame(&self, timeout: Option<Duration>) -> Result<Vec<u8>, Error> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut buf = self.recv_buf.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(n) = codec::frame_len(&buf) {
                if n > MAX_PIPE_MESSAGE {
                    return Err(Error::Corrupt(format!("frame header claims {n} bytes")));
                }
                if buf.len() >= n {
                    let r = codec::check_frame(&buf[..n]).map(|p| p.to_vec());
                    buf.drain(..n);
                    return r;
                }
            }
            let want = codec::frame_len(&buf)
                .map_or(0, |n| n.saturating_sub(buf.len()))
                .clamp(4096, 1 << 20);
            buf.reserve(want);
            let spare = buf.spare_capacity_mut();
            // SAFETY: `spare` is valid for writes of its length; recv
            // writes at most that many bytes.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    spare.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = sys::last_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => {
                        // Nothing buffered in the kernel: wait for it.
                        let left = match deadline {
                            None => None,
                            Some(d) => {
                                let now = Instant::now();
                                if now >= d {
                                    return Err(Error::Timeout);
                                }
                                Some(d - now)
                            }
                        };
                        if !sys::poll_readable(self.fd.as_raw_fd(), left)? {
                            return Err(Error::Timeout);
                        }
                        continue;
                    }
                    Some(libc::ECONNRESET) => return Err(Error::Closed),
                    _ => return Err(Error::Os(e)),
                }
            }
            if n == 0 {
                return Err(if buf.is_empty() {
                    Error::Closed
                } else {
                    Error::Corrupt("stream ended inside a frame".into())
                });
            }
            // recv initialized the first `n` spare bytes.
            let filled = buf.len() + n as usize;
            // SAFETY: as above.
            unsafe { buf.set_len(filled) };
        }
    }
}

impl<T: Serialize + DeserializeOwned> Pipe<T> {
    /// Sends `value`. Python: `Connection.send`.
    ///
    /// # Errors
    /// [`Error::Encode`] if it cannot be serialized; otherwise as for
    /// [`send_bytes`](Pipe::send_bytes).
    pub fn send(&self, value: &T) -> Result<(), Error> {
        let bytes = codec::encode_plain(value)?;
        self.send_bytes(&bytes)
    }

    /// Receives a value, waiting as long as it takes. Python:
    /// `Connection.recv`.
    ///
    /// # Errors
    /// As for [`recv_bytes`](Pipe::recv_bytes); [`Error::Corrupt`] also when
    /// the bytes are not a `T`.
    pub fn recv(&self) -> Result<T, Error> {
        codec::decode_plain(&self.recv_frame(None)?)
    }

    /// Receives a value, waiting at most `timeout`. Python:
    /// `if conn.poll(t): conn.recv()`.
    ///
    /// # Errors
    /// As for [`recv`](Pipe::recv), and [`Error::Timeout`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, Error> {
        codec::decode_plain(&self.recv_frame(Some(timeout))?)
    }

    /// Receives a value if one is ready now. Python:
    /// `if conn.poll(): conn.recv()`.
    ///
    /// # Errors
    /// As for [`recv`](Pipe::recv), and [`Error::Empty`] when nothing is
    /// ready.
    pub fn try_recv(&self) -> Result<T, Error> {
        match self.recv_frame(Some(Duration::ZERO)) {
            Err(Error::Timeout) => Err(Error::Empty),
            other => codec::decode_plain(&other?),
        }
    }
}

/// The receiving end of a one-way pipe ([`Pipe::one_way`]). Python: the
/// first `Connection` of `multiprocessing.Pipe(duplex=False)`. Receives
/// as a [`Pipe`] end does; when the writer is gone in every process,
/// `recv` returns [`Error::Closed`] (Python: `EOFError`).
pub struct PipeReader<T> {
    end: Pipe<T>,
}

/// The sending end of a one-way pipe ([`Pipe::one_way`]). Python: the
/// second `Connection` of `multiprocessing.Pipe(duplex=False)`. Sends as
/// a [`Pipe`] end does; when the reader is gone in every process, `send`
/// returns [`Error::Closed`] (Python: `BrokenPipeError`).
pub struct PipeWriter<T> {
    end: Pipe<T>,
}

impl<T> fmt::Debug for PipeReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeReader")
            .field("fd", &self.end.fd.as_raw_fd())
            .finish()
    }
}

impl<T> fmt::Debug for PipeWriter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeWriter")
            .field("fd", &self.end.fd.as_raw_fd())
            .finish()
    }
}

impl<T> PipeReader<T> {
    /// As [`Pipe::recv_bytes`]. Python: `Connection.recv_bytes`.
    ///
    /// # Errors
    /// As for [`Pipe::recv_bytes`].
    pub fn recv_bytes(&self) -> Result<Vec<u8>, Error> {
        self.end.recv_bytes()
    }

    /// As [`Pipe::recv_bytes_into`]. Python: `Connection.recv_bytes_into`.
    ///
    /// # Errors
    /// As for [`Pipe::recv_bytes_into`].
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.end.recv_bytes_into(buf)
    }

    /// As [`Pipe::poll`]. Python: `Connection.poll(timeout)`.
    ///
    /// # Errors
    /// As for [`Pipe::poll`].
    pub fn poll(&self, timeout: Duration) -> Result<bool, Error> {
        self.end.poll(timeout)
    }
}

impl<T: Serialize + DeserializeOwned> PipeReader<T> {
    /// As [`Pipe::recv`]. Python: `Connection.recv`.
    ///
    /// # Errors
    /// As for [`Pipe::recv`].
    pub fn recv(&self) -> Result<T, Error> {
        self.end.recv()
    }

    /// As [`Pipe::recv_timeout`].
    ///
    /// # Errors
    /// As for [`Pipe::recv_timeout`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.end.recv_timeout(timeout)
    }

    /// As [`Pipe::try_recv`].
    ///
    /// # Errors
    /// As for [`Pipe::try_recv`].
    pub fn try_recv(&self) -> Result<T, Error> {
        self.end.try_recv()
    }
}

impl<T> PipeWriter<T> {
    /// As [`Pipe::send_bytes`]. Python: `Connection.send_bytes`.
    ///
    /// # Errors
    /// As for [`Pipe::send_bytes`].
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), Error> {
        self.end.send_bytes(bytes)
    }
}

impl<T: Serialize + DeserializeOwned> PipeWriter<T> {
    /// As [`Pipe::send`]. Python: `Connection.send`.
    ///
    /// # Errors
    /// As for [`Pipe::send`].
    pub fn send(&self, value: &T) -> Result<(), Error> {
        self.end.send(value)
    }
}

/// A one-way end serializes as its descriptor, as a [`Pipe`] end does.
impl<T> Serialize for PipeReader<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.end.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for PipeReader<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PipeReader {
            end: Pipe::deserialize(d)?,
        })
    }
}

/// A one-way end serializes as its descriptor, as a [`Pipe`] end does.
impl<T> Serialize for PipeWriter<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.end.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for PipeWriter<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PipeWriter {
            end: Pipe::deserialize(d)?,
        })
    }
}

/// A pipe end serializes as its descriptor: only as an argument of
/// [`Builder::spawn`](crate::Builder::spawn).
impl<T> Serialize for Pipe<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        shm::serialize_fd(self.fd.as_raw_fd(), s)
    }
}

impl<'de, T> Deserialize<'de> for Pipe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Pipe::from_fd(shm::deserialize_fd(d)?))
    }
}
