//! [`Lab`]: hosts made of Linux network namespaces, so that "a host is
//! lost" and "a host is cut off" are real.
//!
//! ```text
//!   namespace bfcPPPPPNh (the hub)          namespace bfcPPPPPNa (host a)
//!   +----------------------------+          +----------------------+
//!   | br0 10.213.X.1/24          |--veth----| eth0 10.213.X.11/24  |  worker processes
//!   |   redis-server :6379       |          +----------------------+
//!   |   + a Unix socket (for the |--veth----  host b 10.213.X.12 ...
//!   |     test process outside)  |
//!   +----------------------------+
//! ```
//!
//! Every address lives inside namespaces the lab made; the test process
//! itself (in the root namespace) talks to Redis through the Unix socket.
//! Names carry the creating process's pid and a counter, so labs of tests
//! running at once never collide, and namespaces left by a process that
//! died are removed by the next lab. Dropping a lab kills every process in
//! its namespaces and deletes them, also after a failed test.

use std::io::{self, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

/// The prefix of every namespace a lab makes.
const PREFIX: &str = "bfc";

/// One host of a [`Lab`]: a network namespace with one link to the hub.
#[derive(Debug, Clone)]
pub struct Host {
    /// The host's name (`a`, `b`, ...), also its namespace's suffix.
    pub name: String,
    /// Its network namespace.
    pub netns: String,
    /// Its address.
    pub addr: String,
}

/// Network namespaces for tests and demos: a hub with a bridge where Redis
/// listens, and hosts linked to it by veth pairs. Needs root.
#[derive(Debug)]
pub struct Lab {
    hub: String,
    hub_addr: String,
    hosts: Vec<Host>,
}

/// Runs `ip ARGS`. Its error output goes to a file, not a pipe: a process
/// forked meanwhile by another thread (a process pool's worker) would keep
/// a copy of a pipe's write end, and waiting for the pipe's end would wait
/// for that process.
fn ip(args: &[&str]) -> io::Result<()> {
    static N: AtomicU32 = AtomicU32::new(0);
    let err_path = std::env::temp_dir().join(format!(
        "bingfa-ip-{}-{}.err",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let err = std::fs::File::create(&err_path)?;
    let status = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .status();
    let message = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    if status?.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            message.trim()
        )))
    }
}

/// Whether namespaces can be made here: root, and `ip` present.
pub fn lab_support() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("they need root (ip netns add)".into());
    }
    let found = Command::new("ip")
        .arg("-V")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match found {
        Ok(s) if s.success() => Ok(()),
        _ => Err("`ip` (iproute2) is missing: apt-get install iproute2".into()),
    }
}

/// Whether the environment demands namespace tests
/// (`BINGFA_REQUIRE_NETNS=1`, or `CI=true`).
pub fn lab_required() -> bool {
    std::env::var("BINGFA_REQUIRE_NETNS").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A lab of `hosts` hosts for a test, or `None` (after one line on stderr,
/// once per process) when namespaces cannot be made here.
///
/// # Panics
/// When namespaces cannot be made and [`lab_required`], or when making
/// them fails.
pub fn lab_or_skip(hosts: &[&str]) -> Option<Lab> {
    if let Err(why) = lab_support() {
        if lab_required() {
            panic!("network namespace tests must run here (BINGFA_REQUIRE_NETNS or CI), but {why}");
        }
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let _ = writeln!(
                io::stderr(),
                "bingfa-cluster: tests with hosts in network namespaces are skipped: {why}"
            );
        });
        return None;
    }
    Some(Lab::new(hosts).expect("could not make the network namespaces"))
}

/// Deletes the namespaces of labs whose process is gone.
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let Some(pid) = pid
            .get(..pid.len().min(7))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            kill_all_in(&name);
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// SIGKILLs every process in namespace `ns` and waits until none is left.
fn kill_all_in(ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = pids_in(ns);
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            // SAFETY: sending a signal has no memory effects.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The pids of the live (not zombie) processes in namespace `ns`: those
/// whose network namespace is the one bound at `/run/netns/NS` (what `ip
/// netns pids` does, read from `/proc` here).
fn pids_in(ns: &str) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(format!("/run/netns/{ns}")) else {
        return Vec::new();
    };
    let want = format!("net:[{}]", meta.ino());
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|l| l.to_string_lossy() == want)
        })
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    !s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(false)
        })
        .collect()
}

impl Lab {
    /// Makes the hub and one namespace per name in `hosts` (at most 200),
    /// each linked to the hub's bridge.
    ///
    /// # Errors
    /// The failing `ip` command's message (everything made so far is
    /// removed).
    pub fn new(hosts: &[&str]) -> io::Result<Lab> {
        static N: AtomicU32 = AtomicU32::new(0);
        remove_stale();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{PREFIX}{:07}n{n}", std::process::id());
        let subnet = format!("10.213.{}", (std::process::id() + n) % 250 + 1);
        let mut lab = Lab {
            hub: format!("{tag}h"),
            hub_addr: format!("{subnet}.1"),
            hosts: Vec::new(),
        };
        ip(&["netns", "add", &lab.hub])?;
        let hub = lab.hub.clone();
        ip(&["-n", &hub, "link", "set", "lo", "up"])?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&[
            "-n",
            &hub,
            "addr",
            "add",
            &format!("{}/24", lab.hub_addr),
            "dev",
            "br0",
        ])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        for (i, name) in hosts.iter().enumerate().take(200) {
            let host = Host {
                name: (*name).to_owned(),
                netns: format!("{tag}{name}"),
                addr: format!("{subnet}.{}", i + 11),
            };
            ip(&["netns", "add", &host.netns])?;
            lab.hosts.push(host.clone());
            let veth = format!("vh{i}");
            ip(&[
                "-n",
                &hub,
                "link",
                "add",
                &veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &host.netns,
            ])?;
            ip(&["-n", &hub, "link", "set", &veth, "master", "br0"])?;
            ip(&["-n", &hub, "link", "set", &veth, "up"])?;
            ip(&["-n", &host.netns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &host.netns,
                "addr",
                "add",
                &format!("{}/24", host.addr),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &host.netns, "link", "set", "eth0", "up"])?;
        }
        Ok(lab)
    }

    /// The hub's namespace (start Redis there with
    /// [`RedisServer::start_in_netns`](super::RedisServer::start_in_netns)).
    pub fn hub(&self) -> &str {
        &self.hub
    }

    /// The hub's address on the bridge, where Redis listens for the hosts.
    pub fn hub_addr(&self) -> &str {
        &self.hub_addr
    }

    /// The hosts.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host called `name`.
    ///
    /// # Panics
    /// If there is none.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name} in this lab"))
    }

    /// The pids of the processes running on host `name`.
    pub fn pids(&self, name: &str) -> Vec<u32> {
        pids_in(&self.host(name).netns)
    }

    /// "The host is lost": SIGKILLs every process of its namespace.
    pub fn kill_host(&self, name: &str) {
        kill_all_in(&self.host(name).netns);
    }

    /// "The host is cut off": takes its link down (its processes run on,
    /// and reach nobody).
    ///
    /// # Errors
    /// The `ip` command's message.
    pub fn cut(&self, name: &str) -> io::Result<()> {
        ip(&["-n", &self.host(name).netns, "link", "set", "eth0", "down"])
    }

    /// Brings a cut host's link back.
    ///
    /// # Errors
    /// The `ip` command's message.
    pub fn reconnect(&self, name: &str) -> io::Result<()> {
        ip(&["-n", &self.host(name).netns, "link", "set", "eth0", "up"])
    }

    /// A command that runs `program` on host `name` (`ip netns exec`).
    pub fn command(&self, name: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host(name).netns])
            .arg(program);
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for h in &self.hosts {
            kill_all_in(&h.netns);
            let _ = ip(&["netns", "del", &h.netns]);
        }
        kill_all_in(&self.hub);
        let _ = ip(&["netns", "del", &self.hub]);
    }
}
