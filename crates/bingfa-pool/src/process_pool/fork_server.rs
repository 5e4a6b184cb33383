//! The fork server ([`StartMethod::ForkServer`](super::StartMethod)): one
//! process per program, a fresh run of the executable started by spawn
//! (so it inherits no lock, thread or state of the program), that forks
//! every worker of every pool on request. Forking a single-threaded
//! process is safe, so a worker is a fork's speed with spawn's safety
//! (Python 3.14's default start method on Linux, `forkserver`).
//!
//! # How
//!
//! - **Start** (the first time a pool needs a worker): a long-lived thread
//!   of this crate (the *keeper*, so that the server's death signal is not
//!   tied to a thread that ends, see `bingfa_process::Builder::daemon`)
//!   binds a Unix listener at a fresh abstract address, spawns the server
//!   with the address and accepts its connection, checking the peer's pid
//!   (`SO_PEERCRED`). That `SOCK_SEQPACKET` connection is the control link.
//! - **Fork a worker**: the handler sends, on the control link, the
//!   initializer and two descriptors (`SCM_RIGHTS`): the worker's end of a
//!   fresh socket pair (its [`Conn`]) and the write end of a fresh status
//!   pipe. The server forks; the child closes the server's descriptors and
//!   runs the worker loop; the server answers with the pid and a pidfd.
//! - **Exit status**: the worker is the server's child, so the server reaps
//!   it (it polls the pidfds of its workers) and writes its status into the
//!   status pipe, which [`Served::join_timeout`] reads. Signals go through
//!   the pidfd the server sent, never to a reused pid.
//! - **End**: the server ends when the control link closes (this process
//!   ended) and kills its workers. It is a daemon child of the keeper, and
//!   each worker has the server as its parent-death signal source, so
//!   nothing outlives this process.
//!
//! The server runs [`serve`] on one thread. In a test binary, libtest's
//! main thread also exists there (blocked, waiting for the test to end),
//! so the server first forks itself once more and serves from that
//! single-threaded child.

mod serve;

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bingfa_process::{Builder as ProcessBuilder, ExitStatus, Process};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};
use serde::{Deserialize, Serialize};

use super::codec;
use super::link::{wait_readable, Conn};

pub(crate) use serve::server_main;

/// What a program that cannot start the server lacks.
const HINT: &str = "the fork-server start method runs the program again: call \
    bingfa_pool::init() first thing in main (in a test crate, put \
    bingfa_pool::enable_test_support!() at its root), or choose another StartMethod";

/// How long a fork request, or the server's start, may take before it
/// counts as failed (a loaded machine starts a large test binary slowly).
const PATIENCE: Duration = Duration::from_secs(60);

/// How a refused fork's error starts (the server itself is fine).
const REFUSED: &str = "the fork server could not fork";

/// The largest control message (they are a few dozen bytes).
const MAX_CONTROL: usize = 4096;

/// What the spawned server receives.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ServerArgs {
    /// The abstract address to connect to.
    address: Vec<u8>,
}

/// Parent to server, on the control link.
#[derive(Debug, Serialize, Deserialize)]
enum Request {
    /// Fork a worker that runs `init` (a `FnRef<fn()>` raw offset) first.
    /// Descriptors: the worker's end of its link, the status pipe's write
    /// end.
    Fork { init: Option<u64> },
}

/// Server to parent, one per request.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    /// Forked: descriptor: the worker's pidfd.
    Forked { pid: u32 },
    /// Could not fork (the reason).
    Failed(String),
}

/// The parent's end of the fork server.
struct Server {
    /// The process that started it (a forked child of this program must
    /// start its own: this control link is its parent's).
    owner: u32,
    /// The control link; one request at a time.
    ctl: Mutex<OwnedFd>,
    /// The spawned server process (reaped by bingfa-process).
    process: Process,
    /// Set when the control link failed: the server is gone.
    dead: AtomicBool,
}

impl Server {
    /// Whether it can take requests.
    fn usable(&self) -> bool {
        self.owner == std::process::id()
            && !self.dead.load(Ordering::Relaxed)
            && matches!(self.process.is_alive(), Ok(true))
    }
}

/// The server of this process, once started.
static SERVER: Mutex<Option<Arc<Server>>> = Mutex::new(None);

/// Start requests for the keeper thread, which runs for the life of the
/// program (so that the server's death signal is tied to it).
struct Keeper {
    owner: u32,
    tx: mpsc::Sender<mpsc::Sender<Result<Server, String>>>,
}

static KEEPER: Mutex<Option<Keeper>> = Mutex::new(None);

/// The fork server, started if needed.
fn server() -> Result<Arc<Server>, String> {
    let mut slot = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = &*slot {
        if s.usable() {
            return Ok(s.clone());
        }
    }
    let started = Arc::new(start_on_keeper()?);
    *slot = Some(started.clone());
    Ok(started)
}

/// Asks the keeper thread (started once per process) to start a server.
fn start_on_keeper() -> Result<Server, String> {
    let me = std::process::id();
    let (reply_tx, reply_rx) = mpsc::channel();
    {
        let mut keeper = KEEPER.lock().unwrap_or_else(|e| e.into_inner());
        if keeper.as_ref().is_none_or(|k| k.owner != me) {
            let (tx, rx) = mpsc::channel::<mpsc::Sender<Result<Server, String>>>();
            std::thread::Builder::new()
                .name("bingfa-pool-fork-server".into())
                .spawn(move || {
                    // Lives as long as the program: a daemon child's death
                    // signal fires when the thread that started it ends.
                    while let Ok(reply) = rx.recv() {
                        let _ = reply.send(start());
                    }
                    loop {
                        std::thread::park();
                    }
                })
                .map_err(|e| format!("could not start the fork server's thread: {e}"))?;
            *keeper = Some(Keeper { owner: me, tx });
        }
        let keeper = keeper.as_ref().expect("set above");
        keeper
            .tx
            .send(reply_tx)
            .map_err(|_| "the fork server's thread is gone".to_owned())?;
    }
    reply_rx
        .recv()
        .map_err(|_| "the fork server's thread is gone".to_owned())?
}

/// A fresh abstract socket name for the rendezvous.
fn fresh_address() -> Vec<u8> {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("bingfa-pool-fork-server-{}-{n}-{t:x}", std::process::id()).into_bytes()
}

/// Spawns a server and accepts its control connection.
fn start() -> Result<Server, String> {
    let address = fresh_address();
    let addr = SocketAddrUnix::new_abstract_name(&address)
        .map_err(|e| format!("fork server address: {e}"))?;
    let listener = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| format!("fork server socket: {e}"))?;
    rustix::net::bind(&listener, &addr).map_err(|e| format!("fork server bind: {e}"))?;
    rustix::net::listen(&listener, 8).map_err(|e| format!("fork server listen: {e}"))?;
    let process = ProcessBuilder::new()
        .name("ForkServerProcess")
        .daemon(true)
        .spawn(server_main as fn(ServerArgs), ServerArgs { address })
        .map_err(|e| match e {
            // bingfa-process refuses at once in a program without init.
            bingfa_process::Error::InitMissing => {
                format!("could not spawn the fork server: {HINT}")
            }
            e => format!("could not spawn the fork server: {e}"),
        })?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        match rustix::net::accept_with(&listener, SocketFlags::CLOEXEC) {
            Ok(conn) => {
                // Only our own child may connect (the address is guessable).
                let peer = rustix::net::sockopt::socket_peercred(&conn)
                    .map_err(|e| format!("fork server peer: {e}"))?;
                if peer.pid.as_raw_pid() as u32 == process.pid() {
                    return Ok(Server {
                        owner: std::process::id(),
                        ctl: Mutex::new(conn),
                        process,
                        dead: AtomicBool::new(false),
                    });
                }
                continue;
            }
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
            Err(e) => {
                let _ = process.kill();
                return Err(format!("fork server accept: {e}"));
            }
        }
        // Not connected yet: did it end (a program without `init`)?
        match process.join_timeout(Duration::from_millis(20)) {
            Ok(None) => {}
            Ok(Some(status)) => {
                return Err(format!(
                    "the fork server ended before it connected ({status}{}); {HINT}",
                    process
                        .panic_message()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ))
            }
            Err(bingfa_process::Error::NotInitialized { status, .. }) => {
                return Err(format!(
                    "the fork server could not start: the program ran again did not reach \
                     init ({status}); {HINT}"
                ))
            }
            Err(e) => return Err(format!("the fork server could not start: {e}; {HINT}")),
        }
        if Instant::now() > deadline {
            let _ = process.kill();
            return Err(format!(
                "the fork server did not connect within {PATIENCE:?}"
            ));
        }
    }
}

/// Sends one message with descriptors on a `SOCK_SEQPACKET` socket.
fn send_with_fds<T: Serialize>(
    sock: BorrowedFd<'_>,
    msg: &T,
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let bytes = codec::encode(msg).map_err(io::Error::other)?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("too many descriptors for one message"));
    }
    loop {
        match rustix::net::sendmsg(
            sock,
            &[io::IoSlice::new(&bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one message and its descriptors from a `SOCK_SEQPACKET`
/// socket; `Ok(None)` at end-of-stream.
fn recv_with_fds<T: for<'de> Deserialize<'de>>(
    sock: BorrowedFd<'_>,
) -> io::Result<Option<(T, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_CONTROL];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = loop {
        match rustix::net::recvmsg(
            sock,
            &mut [io::IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(got) => break got,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    };
    let mut fds = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            fds.extend(rights);
        }
    }
    if got.bytes == 0 {
        return Ok(None);
    }
    let msg = codec::decode(&buf[..got.bytes.min(buf.len())])
        .map_err(|e| io::Error::other(format!("a damaged control message: {e}")))?;
    Ok(Some((msg, fds)))
}

/// Forks a worker through the fork server (started if needed): the
/// worker's process and the parent's end of its link. A server found dead
/// (killed from outside) is replaced once, at once.
pub(crate) fn fork_worker(init: Option<u64>) -> Result<(Served, Conn), String> {
    let mut tries = 0;
    loop {
        tries += 1;
        let server = server()?;
        let r = request_fork(&server, init);
        let Err(e) = &r else { return r };
        if e.starts_with(REFUSED) {
            // The server is fine; the fork itself failed.
            return r;
        }
        // The control link is broken: the server is gone.
        report!(
            warn,
            pid = server.process.pid(),
            "the fork server is gone ({e}); starting another"
        );
        server.dead.store(true, Ordering::Relaxed);
        {
            let mut slot = SERVER.lock().unwrap_or_else(|e| e.into_inner());
            if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &server)) {
                *slot = None;
            }
        }
        if tries >= 2 {
            return r;
        }
    }
}

fn request_fork(server: &Server, init: Option<u64>) -> Result<(Served, Conn), String> {
    let (mine, theirs) = Conn::pair().map_err(|e| format!("socket pair: {e}"))?;
    let (status_r, status_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("status pipe: {e}"))?;
    let ctl = server.ctl.lock().unwrap_or_else(|e| e.into_inner());
    send_with_fds(
        ctl.as_fd(),
        &Request::Fork { init },
        &[theirs.as_fd(), status_w.as_fd()],
    )
    .map_err(|e| format!("could not ask the fork server for a worker: {e}"))?;
    drop((theirs, status_w));
    if !wait_readable(ctl.as_fd(), PATIENCE).map_err(|e| format!("fork server: {e}"))? {
        return Err(format!(
            "the fork server did not answer within {PATIENCE:?}"
        ));
    }
    match recv_with_fds::<Reply>(ctl.as_fd()) {
        Ok(Some((Reply::Forked { pid }, mut fds))) if fds.len() == 1 => Ok((
            Served {
                pid,
                pidfd: fds.pop().expect("one descriptor"),
                status: Mutex::new(Status {
                    pipe: Some(status_r),
                    known: None,
                }),
            },
            Conn::new(mine),
        )),
        Ok(Some((Reply::Failed(why), _))) => Err(format!("{REFUSED}: {why}")),
        Ok(Some((reply, fds))) => Err(format!(
            "the fork server sent {reply:?} with {} descriptors",
            fds.len()
        )),
        Ok(None) => Err("the fork server ended".to_owned()),
        Err(e) => Err(format!("fork server: {e}")),
    }
}

/// A worker started by the fork server: a grandchild, tracked through the
/// pidfd and the status pipe the server gave us.
pub(crate) struct Served {
    pid: u32,
    pidfd: OwnedFd,
    status: Mutex<Status>,
}

struct Status {
    /// The status pipe's read end, until the status was read.
    pipe: Option<OwnedFd>,
    known: Option<ExitStatus>,
}

/// The 8 bytes the server writes: kind (0: exit code, 1: signal), value.
pub(crate) fn encode_status(status: ExitStatus) -> [u8; 8] {
    let (kind, value) = match status {
        ExitStatus::Code(c) => (0i32, c),
        ExitStatus::Signal(s) => (1, s),
    };
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&kind.to_le_bytes());
    b[4..].copy_from_slice(&value.to_le_bytes());
    b
}

fn decode_status(b: [u8; 8]) -> ExitStatus {
    let kind = i32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
    let value = i32::from_le_bytes(b[4..].try_into().expect("4 bytes"));
    if kind == 0 {
        ExitStatus::Code(value)
    } else {
        ExitStatus::Signal(value)
    }
}

fn lost() -> bingfa_process::Error {
    bingfa_process::Error::Os(io::Error::other(
        "the fork server ended before it reported the worker's exit status",
    ))
}

impl Served {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it still runs (its pidfd turns readable when it exits).
    pub(crate) fn is_alive(&self) -> Result<bool, bingfa_process::Error> {
        if self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .known
            .is_some()
        {
            return Ok(false);
        }
        Ok(!wait_readable(self.pidfd.as_fd(), Duration::ZERO)?)
    }

    /// Waits at most `timeout` (`None`: as long as it takes) for its exit
    /// status, which the server reports once it has reaped it.
    pub(crate) fn join_timeout(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<ExitStatus>, bingfa_process::Error> {
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = st.known {
            return Ok(Some(s));
        }
        let Some(pipe) = &st.pipe else {
            return Err(lost());
        };
        let ready = match timeout {
            None => wait_readable(pipe.as_fd(), Duration::MAX)?,
            Some(t) => wait_readable(pipe.as_fd(), t)?,
        };
        if !ready {
            return Ok(None);
        }
        let mut b = [0u8; 8];
        let mut got = 0;
        while got < b.len() {
            match rustix::io::read(pipe, &mut b[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(bingfa_process::Error::Os(e.into())),
            }
        }
        st.pipe = None;
        if got < b.len() {
            // End-of-stream without a status: the server died (and took
            // the worker with it, by its death signal).
            return Err(lost());
        }
        let status = decode_status(b);
        st.known = Some(status);
        Ok(Some(status))
    }

    /// Sends `signal` through the pidfd; nothing once it has ended.
    pub(crate) fn send_signal(&self, signal: i32) -> Result<(), bingfa_process::Error> {
        if self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .known
            .is_some()
        {
            return Ok(());
        }
        let Some(sig) = rustix::process::Signal::from_named_raw(signal) else {
            return Err(bingfa_process::Error::Invalid("not a signal number"));
        };
        match rustix::process::pidfd_send_signal(&self.pidfd, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(bingfa_process::Error::Os(e.into())),
        }
    }
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("pid", &self.pid)
            .field("pidfd", &self.pidfd.as_raw_fd())
            .finish_non_exhaustive()
    }
}
