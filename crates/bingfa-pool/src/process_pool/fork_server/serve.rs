//! The fork server's own side: connect to the parent, make sure this
//! process is single-threaded, then fork workers on request and report
//! their exit statuses, until the parent goes.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};

use bingfa_process::{ExitStatus, FnRef};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use rustix::process::{WaitId, WaitIdOptions};

use super::{encode_status, recv_with_fds, send_with_fds, Reply, Request, ServerArgs};
use crate::process_pool::link::{Conn, Link};
use crate::process_pool::worker;

/// A worker this server forked and has not reaped yet.
struct Live {
    pidfd: OwnedFd,
    /// Where its status goes (the parent's `Served` reads it).
    status: OwnedFd,
}

/// Ends this process at once, without unwinding into the caller (in a
/// forked copy, the caller's frames belong to another process's story)
/// and without running `atexit` handlers.
fn leave(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    // SAFETY: `_exit` ends the process; nothing runs after it.
    unsafe { libc::_exit(code) }
}

/// How many threads this process has.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// The entry point of the spawned fork server.
pub(crate) fn server_main(args: ServerArgs) {
    let ctl = match connect(&args.address) {
        Ok(c) => c,
        Err(e) => panic!("bingfa-pool fork server: could not connect to the parent: {e}"),
    };
    if threads() == 1 {
        serve(ctl);
    }
    // Other threads exist (libtest's main thread, in a test binary: it
    // waits for this test, holding no lock). Serve from a forked copy,
    // which has only this thread.
    let me = rustix::process::getpid();
    // SAFETY: fork has no preconditions. The child runs only `serve`, which
    // takes no lock the other threads may hold (its allocations go through
    // glibc's malloc, which stays usable after a fork).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        panic!(
            "bingfa-pool fork server: fork: {}",
            std::io::Error::last_os_error()
        );
    }
    if pid == 0 {
        // Die with the process that forked us (which waits below).
        let _ =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
        if rustix::process::getppid() != Some(me) {
            leave(1);
        }
        serve(ctl);
    }
    drop(ctl);
    // Wait for the server (which ends when the parent goes); end with it.
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid int.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid
            || (r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR))
        {
            break;
        }
    }
}

fn connect(address: &[u8]) -> std::io::Result<OwnedFd> {
    let addr = SocketAddrUnix::new_abstract_name(address)?;
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::connect(&sock, &addr)?;
    Ok(sock)
}

/// The server's loop: requests on `ctl`, exits of its workers. Never
/// returns: it ends the process when the control link closes.
fn serve(ctl: OwnedFd) -> ! {
    // A parent that ignores SIGCHLD passes that on through exec, and then
    // the kernel reaps the workers itself and their statuses are lost.
    // SAFETY: restoring the default disposition of SIGCHLD in this
    // single-threaded process.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let me = rustix::process::getpid();
    let mut live: Vec<Live> = Vec::new();
    loop {
        let (ctl_ready, exited) = {
            let mut fds = Vec::with_capacity(1 + live.len());
            fds.push(PollFd::new(&ctl, PollFlags::IN));
            fds.extend(live.iter().map(|l| PollFd::new(&l.pidfd, PollFlags::IN)));
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => shut_down(live),
            }
            let exited: Vec<usize> = fds[1..]
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.revents().is_empty())
                .map(|(i, _)| i)
                .collect();
            (!fds[0].revents().is_empty(), exited)
        };
        // Highest index first, so that `swap_remove` keeps the others.
        for i in exited.into_iter().rev() {
            report(live.swap_remove(i));
        }
        if !ctl_ready {
            continue;
        }
        let (init, link, status) = match recv_with_fds::<Request>(ctl.as_fd()) {
            Ok(Some((Request::Fork { init }, fds))) if fds.len() == 2 => {
                let mut fds = fds.into_iter();
                let link = fds.next().expect("two descriptors");
                let status = fds.next().expect("two descriptors");
                (init, link, status)
            }
            Ok(Some((request, _))) => {
                let why = format!("a malformed request: {request:?}");
                if send_with_fds(ctl.as_fd(), &Reply::Failed(why), &[]).is_err() {
                    shut_down(live);
                }
                continue;
            }
            // The parent is gone (or the link is damaged): end.
            Ok(None) | Err(_) => shut_down(live),
        };
        // SAFETY: this process has one thread (see `server_main`), so the
        // child is a complete copy and may run any code.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // The worker: keep only its own link.
            drop(ctl);
            drop(live);
            drop(status);
            // Die with the server.
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
            if rustix::process::getppid() != Some(me) {
                leave(1);
            }
            run_worker(link, init);
        }
        drop(link);
        let reply = if pid < 0 {
            Err(format!("fork: {}", std::io::Error::last_os_error()))
        } else {
            // Its own child, not reaped yet: the pidfd is surely its.
            rustix::process::Pid::from_raw(pid)
                .ok_or_else(|| "fork returned pid 0".to_owned())
                .and_then(|p| {
                    rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())
                        .map_err(|e| format!("pidfd_open: {e}"))
                })
        };
        let sent = match reply {
            Ok(pidfd) => {
                let sent = send_with_fds(
                    ctl.as_fd(),
                    &Reply::Forked { pid: pid as u32 },
                    &[pidfd.as_fd()],
                );
                live.push(Live { pidfd, status });
                sent
            }
            Err(why) => {
                if pid > 0 {
                    // SAFETY: our own child, which we could not track.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, std::ptr::null_mut(), 0);
                    }
                }
                send_with_fds(ctl.as_fd(), &Reply::Failed(why), &[])
            }
        };
        if sent.is_err() {
            shut_down(live);
        }
    }
}

/// Runs the worker loop in a freshly forked child, then ends it.
fn run_worker(link: OwnedFd, init: Option<u64>) -> ! {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let init = init.map(FnRef::<fn()>::from_raw);
        worker::run(Link::Conn(Conn::from_fd(link)), init);
    }));
    leave(if r.is_ok() { 0 } else { 70 })
}

/// Reaps a worker that has exited and reports its status.
fn report(l: Live) {
    let status = loop {
        match rustix::process::waitid(WaitId::PidFd(l.pidfd.as_fd()), WaitIdOptions::EXITED) {
            Ok(Some(st)) => {
                if let Some(code) = st.exit_status() {
                    break ExitStatus::Code(code);
                }
                if let Some(sig) = st.terminating_signal() {
                    break ExitStatus::Signal(sig);
                }
                // Stopped or continued: not an exit; look again later.
                return;
            }
            Ok(None) => return,
            Err(rustix::io::Errno::INTR) => {}
            // Already reaped (cannot happen: only we reap): nothing to say.
            Err(_) => return,
        }
    };
    // The read end may be gone (the pool dropped the worker): ignore.
    let _ = rustix::io::write(&l.status, &encode_status(status));
}

/// The parent is gone: kill every worker, reap them, end.
fn shut_down(live: Vec<Live>) -> ! {
    for l in &live {
        let _ = rustix::process::pidfd_send_signal(&l.pidfd, rustix::process::Signal::KILL);
    }
    for l in live {
        report(l);
    }
    leave(0)
}
