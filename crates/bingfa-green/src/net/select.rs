//! `select`: wait until any of several green sockets is ready.
//!
//! Python: `gevent.select.select` (and what `gevent.select.poll` waits
//! for).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use super::{Dir, TcpListener, TcpStream, UdpSocket};
use crate::sched::{self, Sched, Wait};

/// A green socket [`select`] can wait on: [`TcpListener`] (ready to read:
/// a connection to accept), [`TcpStream`], [`UdpSocket`].
///
/// Sealed: only this crate's sockets, registered with a hub, can be
/// waited on this way.
pub trait Selectable: AsRawFd + sealed::Sealed {}

mod sealed {
    /// The socket's registration: its slot in the hub's table and the
    /// hub's id.
    pub trait Sealed {
        fn registration(&self) -> (usize, u64);
    }
}

macro_rules! selectable {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {
            fn registration(&self) -> (usize, u64) {
                (self.reg.idx, self.reg.hub)
            }
        }
        impl Selectable for $t {}
    )*};
}

selectable!(TcpListener, TcpStream, UdpSocket);

/// One socket and direction waited for.
struct Entry {
    /// Its place in the list it came from.
    at: usize,
    dir: Dir,
    idx: usize,
    fd: RawFd,
}

/// Waits (switching away) until at least one socket of `read` is ready to
/// read (data, a connection to accept, the peer's close, an error) or one
/// of `write` is ready to write, or `timeout` has passed (`None`: no
/// limit; `Some(Duration::ZERO)`: look and return at once). Returns the
/// places, in `read` and in `write`, of the sockets ready then (both
/// empty after the timeout).
///
/// Readiness is looked at when this call returns: another green thread
/// may read or write first, and the call then would wait (switch away).
///
/// Python: `gevent.select.select(rlist, wlist, [], timeout)`; the
/// `poll()` object's `register(fd, POLLIN | POLLOUT)` + `poll(timeout)`
/// is the same wait.
///
/// ```
/// use std::time::Duration;
/// use bingfa_green::net::{select, UdpSocket};
/// use bingfa_green::run;
///
/// run(|| {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     // Nothing has arrived yet.
///     assert_eq!(select(&[&a, &b], &[], Some(Duration::ZERO)).unwrap(), (vec![], vec![]));
///     a.send_to(b"hi", b.local_addr().unwrap()).unwrap();
///     // b has a datagram; both can be written to.
///     let (r, w) = select(&[&a, &b], &[&a], None).unwrap();
///     assert_eq!((r, w), (vec![1], vec![0]));
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// The OS's (from `poll(2)`); a socket of another hub is an error.
///
/// # Panics
/// Outside a green thread.
#[doc(alias = "poll")]
pub fn select(
    read: &[&dyn Selectable],
    write: &[&dyn Selectable],
    timeout: Option<Duration>,
) -> io::Result<(Vec<usize>, Vec<usize>)> {
    const WHAT: &str = "net::select";
    let s = sched::sched(WHAT);
    let mut entries = Vec::with_capacity(read.len() + write.len());
    for (list, dir) in [(read, Dir::Read), (write, Dir::Write)] {
        for (at, sock) in list.iter().enumerate() {
            let (idx, hub) = sock.registration();
            if hub != s.id {
                return Err(io::Error::other(
                    "a green socket can only be used on the hub that created it",
                ));
            }
            entries.push(Entry {
                at,
                dir,
                idx,
                fd: sock.as_raw_fd(),
            });
        }
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let ready = ready_now(s, &entries)?;
        if !ready.0.is_empty() || !ready.1.is_empty() {
            return Ok(ready);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok((Vec::new(), Vec::new()));
        }
        let tok = s.token();
        for e in &entries {
            s.io.add_select(e.idx, e.dir, tok);
        }
        // Socket readiness can come from outside the process: never a
        // LoopExit.
        s.park_on(deadline, Wait::external(WHAT));
        for e in &entries {
            s.io.remove_select(e.idx, tok);
        }
    }
}

/// The entries ready now, as the kernel sees them (`poll(2)` with a zero
/// timeout, one call for all of them: the hub's own readiness flags may
/// not have seen an event that is still queued in its poll). The flags are
/// brought up to date with the answer.
fn ready_now(s: &Sched, entries: &[Entry]) -> io::Result<(Vec<usize>, Vec<usize>)> {
    let mut ready = (Vec::new(), Vec::new());
    if entries.is_empty() {
        return Ok(ready);
    }
    let mut fds: Vec<libc::pollfd> = entries
        .iter()
        .map(|e| libc::pollfd {
            fd: e.fd,
            events: match e.dir {
                Dir::Read => libc::POLLIN | libc::POLLRDHUP,
                Dir::Write => libc::POLLOUT,
            },
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `fds` is a live, writable array of `fds.len()` pollfd
        // structs, and the descriptors belong to sockets the caller
        // borrows for the whole call; a zero timeout never blocks.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
        if n >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    for (e, p) in entries.iter().zip(&fds) {
        let bad = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
        let is_ready = p.revents & (p.events | bad) != 0;
        s.io.mark(e.idx, e.dir, is_ready);
        if is_ready {
            match e.dir {
                Dir::Read => ready.0.push(e.at),
                Dir::Write => ready.1.push(e.at),
            }
        }
    }
    ready.0.sort_unstable();
    ready.1.sort_unstable();
    Ok(ready)
}
