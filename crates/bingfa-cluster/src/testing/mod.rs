//! A real `redis-server` for tests, demos and benchmarks: started on
//! 127.0.0.1 on a free port in a temporary directory, append-only file on,
//! killed when dropped (and, through `PR_SET_PDEATHSIG`, when the thread
//! that started it dies, so that a crashed test leaves no server behind).
//!
//! Tests call [`redis_or_skip`]: without `redis-server` on the `PATH` it
//! says once how to install it and the test returns early, except when
//! `BINGFA_REQUIRE_REDIS=1` (set by CI), where it panics.
//!
//! [`Lab`] makes hosts out of network namespaces (root only; see
//! [`lab_or_skip`]).

mod netns;

pub use netns::{lab_or_skip, lab_required, lab_support, Host, Lab};

use std::io::{self, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

/// The line printed when `redis-server` is missing.
pub const INSTALL_HINT: &str =
    "redis-server not found on PATH; install it with `apt-get install redis-server` (Debian, Ubuntu)";

/// Whether the environment demands Redis (`BINGFA_REQUIRE_REDIS=1`).
pub fn redis_required() -> bool {
    std::env::var("BINGFA_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

/// The `redis-server` executable on the `PATH`, if any.
pub fn find_redis_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// A started server for a test, or `None` (after printing one line, once
/// per process, on stderr) when `redis-server` is not installed.
///
/// # Panics
/// When `redis-server` is missing and `BINGFA_REQUIRE_REDIS=1`, or when it
/// is installed but does not start.
pub fn redis_or_skip() -> Option<RedisServer> {
    if find_redis_server().is_none() {
        if redis_required() {
            panic!("BINGFA_REQUIRE_REDIS=1 but {INSTALL_HINT}");
        }
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            // Straight to the stream: the test harness captures `eprintln!`.
            let _ = writeln!(
                io::stderr(),
                "bingfa-cluster: tests that need Redis are skipped: {INSTALL_HINT}"
            );
        });
        return None;
    }
    Some(RedisServer::start().expect("redis-server is installed but did not start"))
}

/// How a [`RedisServer`] listens.
#[derive(Debug, Clone)]
struct Listen {
    bind: Vec<String>,
    port: u16,
    unix_socket: Option<PathBuf>,
    netns: Option<String>,
    /// `appendfsync always` instead of `everysec`.
    fsync_always: bool,
}

/// A `redis-server` child process with its own directory.
///
/// ```no_run
/// let server = bingfa_cluster::testing::RedisServer::start().unwrap();
/// let pool = bingfa_cluster::ClusterPool::connect(server.url()).unwrap();
/// # drop(pool);
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    listen: Listen,
    url: String,
}

fn scratch_dir() -> io::Result<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bingfa-redis-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl RedisServer {
    /// Starts a server on 127.0.0.1, on a free port, in a new temporary
    /// directory, with the append-only file on and `appendfsync everysec`
    /// (Redis's usual setting: fast, but a server killed while its disk is
    /// slow can lose up to about two seconds of acknowledged writes, since
    /// Redis then postpones writing the file; see
    /// [`start_durable`](Self::start_durable)).
    ///
    /// # Errors
    /// `NotFound` without `redis-server`; the OS error if it cannot start;
    /// `TimedOut` if it does not answer within 20 s.
    pub fn start() -> io::Result<RedisServer> {
        Self::start_local(false)
    }

    /// As [`start`](Self::start) with `appendfsync always`: every write is
    /// in the append-only file, synced, before Redis acknowledges it, so a
    /// server killed at any moment loses no accepted task. What a cluster
    /// that must survive a Redis crash runs with.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_durable() -> io::Result<RedisServer> {
        Self::start_local(true)
    }

    fn start_local(fsync_always: bool) -> io::Result<RedisServer> {
        let mut last = None;
        for _ in 0..5 {
            let listen = Listen {
                bind: vec!["127.0.0.1".into()],
                port: free_port()?,
                unix_socket: None,
                netns: None,
                fsync_always,
            };
            match Self::start_with(listen, scratch_dir()?) {
                Ok(s) => return Ok(s),
                // Another process took the port between our probe and the
                // server's bind: try another.
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("tried at least once"))
    }

    /// Starts a server inside network namespace `netns` (with `ip netns
    /// exec`), listening on `bind` (an address of that namespace) and on a
    /// Unix socket in its directory, which processes outside the namespace
    /// reach through the file system ([`unix_url`](Self::unix_url)).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_in_netns(netns: &str, bind: &str) -> io::Result<RedisServer> {
        let dir = scratch_dir()?;
        let listen = Listen {
            bind: vec![bind.to_owned(), "127.0.0.1".to_owned()],
            port: 6379,
            unix_socket: Some(dir.join("redis.sock")),
            netns: Some(netns.to_owned()),
            fsync_always: false,
        };
        Self::start_with(listen, dir)
    }

    fn start_with(listen: Listen, dir: PathBuf) -> io::Result<RedisServer> {
        let url = match &listen.unix_socket {
            Some(p) => format!("redis+unix://{}", p.display()),
            None => format!("redis://{}:{}/", listen.bind[0], listen.port),
        };
        let mut server = RedisServer {
            child: None,
            dir,
            listen,
            url,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let exe = find_redis_server()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, INSTALL_HINT))?;
        let mut cmd = match &self.listen.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.arg("--port")
            .arg(self.listen.port.to_string())
            .arg("--bind")
            .args(&self.listen.bind)
            .arg("--dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--appendfsync"])
            .arg(if self.listen.fsync_always {
                "always"
            } else {
                "everysec"
            })
            .args(["--save", ""])
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .arg("--logfile")
            .arg(self.dir.join("redis.log"));
        if let Some(sock) = &self.listen.unix_socket {
            cmd.arg("--unixsocket")
                .arg(sock)
                .args(["--unixsocketperm", "700"]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec the child only calls `prctl`,
        // which is async-signal-safe, and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(io::Error::other(format!(
                    "redis-server exited at start ({status}): {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                )));
            }
            if self.ping() && self.answering_pid() == Some(child.id()) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "redis-server did not answer within 20 s",
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Whether the server answers `PING` (and has loaded its data).
    pub fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return false;
        };
        let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
            return false;
        };
        redis::cmd("PING").query::<String>(&mut con).is_ok()
    }

    /// The pid of the server that answers on the URL (`INFO server`):
    /// after a restart, another test's server could have taken the port.
    fn answering_pid(&self) -> Option<u32> {
        let client = redis::Client::open(self.url.as_str()).ok()?;
        let mut con = client
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut con).ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|p| p.trim().parse().ok())
    }

    /// The URL to connect to (`redis://127.0.0.1:PORT/`, or the Unix
    /// socket's for a server in a namespace).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL on the Unix socket, if the server has one.
    pub fn unix_url(&self) -> Option<String> {
        self.listen
            .unix_socket
            .as_ref()
            .map(|p| format!("redis+unix://{}", p.display()))
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.listen.port
    }

    /// The server's directory (its append-only file and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server with SIGKILL (no shutdown, no final save) and waits
    /// for it: what survives is what the append-only file holds.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again, on the same port and directory: it reloads
    /// the append-only file.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
