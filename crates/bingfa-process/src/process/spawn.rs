//! The **spawn** start method: re-execute the current binary and run an
//! entry point (a plain `fn(A)`) with serde arguments, the way procspawn
//! does it.
//!
//! The parent sends the child, through a pipe, the entry point's and a
//! monomorphic trampoline's offsets from a fixed function of this crate
//! (the binary is the same file, so the offsets are the same), a
//! fingerprint of the executable (device, inode, size, mtime) that the
//! child checks before trusting the offsets, and the arguments encoded with
//! postcard. Shared-memory objects in the arguments (queues, locks, values)
//! travel as descriptors inherited across `exec`.
//!
//! In the child, [`init`] (first thing in `main`) finds the environment
//! variable, reads the payload, runs the entry point and exits. In a test
//! crate, [`enable_test_support!`](crate::enable_test_support) defines a
//! test that calls `init`, and the child is started with libtest arguments
//! that run exactly that test.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::child::{self, install_panic_hook, report_failure, report_started, run_entry};
use super::{registry, Builder, Child, Process, ProcessInfo, Report};
use crate::error::Error;
use crate::{shm, sys};

/// The environment variable that marks a spawned child: `"PAYLOAD_FD,REPORT_FD"`.
const ENV: &str = "BINGFA_PROCESS_SPAWN";

/// The name of the test that [`enable_test_support!`](crate::enable_test_support)
/// defines; a spawned child of a test binary runs exactly this test.
#[doc(hidden)]
pub const TEST_ENTRY: &str = "__bingfa_process_child";

/// The exit code of a child whose payload could not be used (wrong binary,
/// unreadable pipe).
const BAD_PAYLOAD: i32 = 101;

/// Set before `main` by [`enable_test_support!`](crate::enable_test_support)
/// in a test binary: spawned children are started with the libtest
/// arguments that run its test.
static TEST_SUPPORT: AtomicBool = AtomicBool::new(false);

/// Set by [`init`]: the program calls it (a spawned child of this
/// executable will run its entry point).
static INIT_CALLED: AtomicBool = AtomicBool::new(false);

/// Called before `main` by the constructor that
/// [`enable_test_support!`](crate::enable_test_support) defines. One atomic
/// store: safe to run before the Rust runtime is set up.
#[doc(hidden)]
pub fn __register_test_support() {
    TEST_SUPPORT.store(true, Ordering::Relaxed);
}

/// The arguments a spawned child of this executable needs to reach
/// [`init`]: libtest's, to run only the support test, in a test binary
/// that has it; none in a program that calls `init` in `main`; and an
/// error when neither is the case (the child would run the program's
/// `main` or all its tests, and never the entry point).
fn child_args() -> Result<&'static [&'static str], Error> {
    if TEST_SUPPORT.load(Ordering::Relaxed) {
        // A filter, not `--exact`: the support test may sit in a module.
        Ok(&[TEST_ENTRY, "--nocapture", "--test-threads=1", "-q"])
    } else if INIT_CALLED.load(Ordering::Relaxed) {
        Ok(&[])
    } else {
        Err(Error::InitMissing)
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    exe: [i64; 4],
    anchor: usize,
    trampoline: usize,
    entry: usize,
    args: Vec<u8>,
    name: String,
    ident: String,
    daemon: bool,
    join_threads: bool,
    parent_pid: u32,
    parent_name: String,
    fds: Vec<RawFd>,
}

/// The base every offset is taken from.
fn base() -> usize {
    init as fn() as usize
}

/// A second fixed point: its offset from [`base`] must agree in parent and
/// child.
#[inline(never)]
fn anchor() -> usize {
    (anchor as fn() -> usize as usize).wrapping_sub(base())
}

fn exe_fingerprint() -> std::io::Result<[i64; 4]> {
    let m = std::fs::metadata("/proc/self/exe")?;
    Ok([m.dev() as i64, m.ino() as i64, m.size() as i64, m.mtime()])
}

/// The monomorphic glue the child calls: decode `A`, call the entry point.
fn trampoline<A: DeserializeOwned>(entry: usize, args: &[u8]) {
    match shm::decode_attached::<A>(args) {
        Ok(a) => {
            // SAFETY: `entry` is the address of a `fn(A)` in this very
            // binary: the parent computed it from a `fn(A)` with the same
            // `A` (this trampoline is the `A` instance it chose), and the
            // executable fingerprint and anchor offset were checked.
            let f: fn(A) = unsafe { std::mem::transmute::<usize, fn(A)>(entry) };
            f(a)
        }
        Err(e) => panic!("bingfa-process: could not decode the spawn arguments: {e}"),
    }
}

/// Whether a child started by running this program again will reach its
/// entry point: the program called [`init`], or the test binary has
/// [`enable_test_support!`](crate::enable_test_support). When it is
/// `false`, [`spawn`] (and bingfa-pool's fork server) refuse with
/// [`Error::InitMissing`]; a library that starts processes on its user's
/// behalf can ask first and fall back to [`fork`](crate::fork).
///
/// Python has no such call (its spawn start method can always import the
/// main module).
pub fn can_spawn() -> bool {
    INIT_CALLED.load(Ordering::Relaxed) || TEST_SUPPORT.load(Ordering::Relaxed)
}

/// Runs the entry point if this process is a child started by
/// [`Builder::spawn`], and then exits; returns at once otherwise. Call it
/// first thing in `main`, before any other thread starts: [`spawn`] refuses
/// to start children ([`Error::InitMissing`]) in a program that has not
/// called it (or, in a test binary, that lacks
/// [`enable_test_support!`](crate::enable_test_support)).
///
/// Python has no such call: its spawn start method imports the main module
/// in the child instead (hence `if __name__ == "__main__":`).
///
/// # Panics
/// Never in the parent. In a spawned child, a failure to read the payload
/// ends the child with exit code 101 and a message to the parent.
pub fn init() {
    INIT_CALLED.store(true, Ordering::Relaxed);
    let Ok(v) = std::env::var(ENV) else { return };
    std::env::remove_var(ENV);
    let parsed = v
        .split_once(',')
        .and_then(|(a, b)| Some((a.parse::<RawFd>().ok()?, b.parse::<RawFd>().ok()?)));
    let Some((payload_fd, report_fd)) = parsed else {
        eprintln!("bingfa-process: malformed {ENV}={v}");
        std::process::exit(BAD_PAYLOAD);
    };
    // SAFETY: the parent made these descriptors inheritable for us alone.
    let (payload_fd, report_fd) = unsafe {
        (
            OwnedFd::from_raw_fd(payload_fd),
            OwnedFd::from_raw_fd(report_fd),
        )
    };
    // Close-on-exec, so that our own children do not inherit it.
    let _ = rustix::io::fcntl_setfd(&report_fd, rustix::io::FdFlags::CLOEXEC);
    install_panic_hook();
    let report_raw = report_fd.as_raw_fd();
    // The report pipe stays open until exit.
    std::mem::forget(report_fd);
    let mut bytes = Vec::new();
    let read = std::fs::File::from(payload_fd).read_to_end(&mut bytes);
    let payload: Payload = match read
        .map_err(Error::from)
        .and_then(|_| crate::codec::decode_plain(&bytes))
    {
        Ok(p) => p,
        Err(e) => fail(
            report_raw,
            &format!("could not read the spawn payload: {e}"),
        ),
    };
    match exe_fingerprint() {
        Ok(fp) if fp == payload.exe && payload.anchor == anchor() => {}
        _ => fail(
            report_raw,
            "the spawned child is not the parent's executable (it changed on disk?)",
        ),
    }
    for &fd in &payload.fds {
        // SAFETY: the inherited shared-memory descriptors are ours and open
        // (closed only at the end of the entry point, below).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        // Keep them from our own children. A bad number (a payload that
        // lies) gives EBADF, and attaching it fails later with a message.
        let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
    }
    child::set_current(ProcessInfo {
        pid: sys::getpid(),
        parent_pid: Some(payload.parent_pid),
        parent_name: Some(payload.parent_name),
        name: payload.name,
        ident: payload.ident,
        daemon: payload.daemon,
    });
    report_started(report_raw);
    let tramp: fn(usize, &[u8]) =
        // SAFETY: the offset is of a `trampoline::<A>` instance in this same
        // executable (fingerprint and anchor checked above).
        unsafe { std::mem::transmute::<usize, fn(usize, &[u8])>(base().wrapping_add(payload.trampoline)) };
    let entry = base().wrapping_add(payload.entry);
    let args = payload.args;
    let fds = payload.fds;
    // The threads that are not the entry point's (libtest's, in a test
    // binary): not waited for.
    let initial = super::threads::current();
    let ending = child::Ending {
        fast: false,
        flush: true,
    };
    run_entry(
        move || {
            tramp(entry, &args);
            for fd in fds {
                // SAFETY: the inherited descriptors were duplicated by the
                // handles that attached to them; the originals are ours,
                // and nothing else refers to them.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        },
        ending,
        payload.join_threads.then_some(&initial[..]),
    )
}

fn fail(report_fd: RawFd, text: &str) -> ! {
    report_started(report_fd);
    report_failure(text);
    eprintln!("bingfa-process: {text}");
    child::finish(
        BAD_PAYLOAD,
        child::Ending {
            fast: false,
            flush: true,
        },
    )
}

impl Builder {
    /// Starts a child with the **spawn** start method: the current binary is
    /// executed again, and the new process runs `entry(args)`, then exits
    /// with code 0 (or 1 if it panics). Python: `Process(target=entry,
    /// args=args).start()` under `set_start_method("spawn")`.
    ///
    /// `entry` is a plain function (a closure that captures nothing also
    /// coerces to one); `args` travel encoded with serde, and may contain
    /// this crate's [`Queue`](crate::Queue), [`Pipe`](crate::Pipe) ends,
    /// [`Lock`](crate::Lock), [`Semaphore`](crate::Semaphore),
    /// [`Event`](crate::Event), [`Value`](crate::Value) and
    /// [`Array`](crate::Array): their shared memory or socket is inherited.
    ///
    /// Spawn is safe whatever threads the parent has. The program must call
    /// [`init`] first thing in `main`; a test crate uses
    /// [`enable_test_support!`](crate::enable_test_support) instead.
    ///
    /// # Errors
    /// [`Error::InitMissing`] if this program never called [`init`] (and,
    /// in a test binary, lacks
    /// [`enable_test_support!`](crate::enable_test_support)): nothing is
    /// started. [`Error::Encode`] if `args` cannot be serialized;
    /// [`Error::Os`] if the executable cannot be started, or if it started
    /// but cannot be tracked (`pidfd_open` failed: it is then killed and
    /// reaped).
    ///
    /// # Panics
    /// If called in a spawned child that did not call [`init`] (which would
    /// otherwise spawn itself again, endlessly).
    pub fn spawn<A: Serialize + DeserializeOwned>(
        self,
        entry: fn(A),
        args: A,
    ) -> Result<Process, Error> {
        assert!(
            std::env::var_os(ENV).is_none(),
            "bingfa-process: this spawned child did not call bingfa_process::init() first thing \
             in main (or lacks bingfa_process::enable_test_support!() in a test crate)"
        );
        sys::ensure_atfork();
        let child_args = child_args()?;
        let (name, ident) = self.resolve_name();
        let (args, fds) = shm::passing(|| crate::codec::encode_plain(&args));
        let args = args?;
        let payload = Payload {
            exe: exe_fingerprint()?,
            anchor: anchor(),
            trampoline: (trampoline::<A> as fn(usize, &[u8]) as usize).wrapping_sub(base()),
            entry: (entry as usize).wrapping_sub(base()),
            args,
            name: name.clone(),
            ident,
            daemon: self.daemon,
            join_threads: !self.detach_threads,
            parent_pid: sys::getpid(),
            parent_name: super::current_process().name,
            fds: fds.clone(),
        };
        let bytes = crate::codec::encode_plain(&payload)?;
        let (payload_r, payload_w) = sys::pipe()?;
        let (report_r, report_w) = sys::report_pipe()?;
        if self.daemon {
            registry::ensure_daemon_cleanup();
        }
        let mut cmd = std::process::Command::new("/proc/self/exe");
        if let Some(arg0) = std::env::args_os().next() {
            cmd.arg0(arg0);
        }
        cmd.args(child_args);
        if !self.inherit_stdin {
            // As a forked child's (see `Builder::inherit_stdin`).
            cmd.stdin(std::process::Stdio::null());
        }
        cmd.env(
            ENV,
            format!("{},{}", payload_r.as_raw_fd(), report_w.as_raw_fd()),
        );
        let mut keep = fds;
        keep.push(payload_r.as_raw_fd());
        keep.push(report_w.as_raw_fd());
        let daemon = self.daemon;
        let parent = sys::getpid();
        // SAFETY: the hook runs between fork and exec in the child and only
        // makes async-signal-safe system calls (fcntl, prctl, getppid).
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &keep {
                    // The descriptor stays open in the child until exec.
                    let fd = BorrowedFd::borrow_raw(fd);
                    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
                }
                if daemon && !child::die_with_parent(parent) {
                    return Err(std::io::Error::from_raw_os_error(
                        rustix::io::Errno::SRCH.raw_os_error(),
                    ));
                }
                Ok(())
            });
        }
        let started = cmd.spawn()?;
        let pid = started.id();
        // `started` holds no pipes (the streams are inherited, or /dev/null
        // for stdin); dropping it neither waits nor kills, the registry
        // reaps.
        drop(started);
        drop(payload_r);
        drop(report_w);
        let pidfd = sys::pidfd_open_child(pid)?;
        let child = Arc::new(Child::new(
            pid,
            pidfd,
            self.daemon,
            true,
            Report::Pipe(report_r),
            name,
        ));
        let process = Process::from_child(child);
        // The child reads while we write, so a payload larger than the pipe
        // buffer is fine; EPIPE means it died early, and join will tell.
        let _ = sys::write_all(payload_w.as_fd(), &bytes);
        drop(payload_w);
        Ok(process)
    }
}

/// Starts a child with the spawn start method, default name, not a daemon:
/// `Builder::new().spawn(entry, args)`. See [`Builder::spawn`]. Python:
/// `Process(target=entry, args=args).start()` with the spawn start method.
///
/// # Errors
/// As for [`Builder::spawn`].
///
/// # Panics
/// As for [`Builder::spawn`].
pub fn spawn<A: Serialize + DeserializeOwned>(entry: fn(A), args: A) -> Result<Process, Error> {
    Builder::new().spawn(entry, args)
}

/// Defines the test that a spawned child of a test binary runs: put
/// `bingfa_process::enable_test_support!();` at the root of every test crate
/// (file in `tests/`) that uses [`spawn`](crate::spawn). In a binary with
/// its own `main`, call [`init`] there instead.
///
/// In a test binary with this macro, a child is started with the arguments
/// `__bingfa_process_child --nocapture --test-threads=1 -q`, so libtest
/// runs only the test this macro defines, which calls [`init`]; in the
/// parent, that test does nothing. The macro also defines a constructor
/// (an `.init_array` entry, run before `main`, that only sets a flag)
/// through which the crate knows it is in such a binary: elsewhere a
/// spawned child gets no extra arguments, and a test binary without the
/// macro gets [`Error::InitMissing`](crate::Error::InitMissing) from
/// `spawn` instead of a child that never runs its entry point.
#[macro_export]
macro_rules! enable_test_support {
    () => {
        #[test]
        fn __bingfa_process_child() {
            $crate::init();
        }

        // Before `main`: tells bingfa-process that this test binary has
        // the support test above.
        #[cfg(test)]
        #[used]
        #[unsafe(link_section = ".init_array")]
        static __BINGFA_PROCESS_TEST_SUPPORT: extern "C" fn() = {
            extern "C" fn register() {
                $crate::__register_test_support();
            }
            register
        };
    };
}
