//! Every child this process started, until it is reaped, and how each one
//! is reaped without a thread in the common case.
//!
//! - A child that is joined is reaped by the join.
//! - At every start, join, drop of a handle and [`active_children`] call,
//!   the registry **sweeps**: one `poll` (timeout zero) over the pidfds of
//!   the children it still tracks, and a reap of those that have ended, as
//!   Python's `multiprocessing` does at each `start()` and
//!   `active_children()`. A kept handle's child that ended is reaped there
//!   (its status stays in the handle), and so is a child whose handle was
//!   leaked with `mem::forget`. Nothing is tracked in the common loop of
//!   start and join, so that sweep costs no system call there.
//! - The last handle of a child dropped while the child still runs hands
//!   it to the **watcher**: a thread (`bingfa-reaper`) started only then,
//!   which polls the pidfds of such children and reaps each as it ends. It
//!   ends itself once it has had nothing to watch for [`LINGER`]. A
//!   program that joins its children never starts it, so its `fork` stays
//!   the `fork` of a single-threaded program (a second thread makes every
//!   `fork` slower: the kernel must flush the TLB of each CPU that thread
//!   ran on when it write-protects the parent's pages).
//!
//! After a fork the child must not touch the parent's registry (its lock may
//! have been held by another thread): the fork handler forgets the pointer
//! (one atomic store) and the child builds a fresh registry on first use.
//!
//! [`active_children`]: crate::active_children

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

use rustix::event::{EventfdFlags, PollFd, PollFlags};

use super::report::Slot;
use super::Child;
use crate::sys;

pub(crate) struct Registry {
    owner: u32,
    inner: Mutex<Inner>,
    /// Wakes the watcher when a child is handed to it (an eventfd), made
    /// with the first watcher.
    wake: OnceLock<OwnedFd>,
    /// The free report slots of forked children (see `report`).
    slots: Mutex<Vec<Slot>>,
}

#[derive(Default)]
struct Inner {
    /// The children not known to be reaped (a reaped one may linger until
    /// the next prune).
    children: Vec<Arc<Child>>,
    /// A watcher thread runs.
    watcher: bool,
    next: u64,
}

/// How long the watcher stays once it has nothing left to watch, so that a
/// program that drops running children in a loop does not start a thread
/// for each.
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// The longest the watcher sleeps in one `poll`: the wake-up descriptor
/// normally ends it sooner (this bounds the delay if it could not be made).
const WATCH_ROUND: Duration = Duration::from_secs(1);

fn existing() -> Option<&'static Registry> {
    let p = sys::FORKED.registry.load(Ordering::Acquire);
    // SAFETY: the registry pointer is null or a leaked box, never freed.
    let r = unsafe { p.as_ref() }?;
    (r.owner == sys::getpid()).then_some(r)
}

fn registry() -> &'static Registry {
    if let Some(r) = existing() {
        return r;
    }
    sys::ensure_atfork();
    let new = Box::into_raw(Box::new(Registry {
        owner: sys::getpid(),
        inner: Mutex::new(Inner::default()),
        wake: OnceLock::new(),
        slots: Mutex::new(Vec::new()),
    }));
    let cur = sys::FORKED.registry.load(Ordering::Acquire);
    match sys::FORKED
        .registry
        .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
    {
        // SAFETY: just published; leaked for the life of the process.
        Ok(_) => unsafe { &*new },
        Err(_) => {
            // Another thread won the race: use its registry.
            // SAFETY: `new` was never shared.
            drop(unsafe { Box::from_raw(new) });
            existing().expect("registry published by another thread")
        }
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the reaped children from the list; returns the others.
    fn prune(&self) -> Vec<Arc<Child>> {
        let mut g = self.lock();
        g.children.retain(|c| c.status().is_none());
        g.children.clone()
    }

    /// Reaps every tracked child that has ended (see the module docs).
    fn sweep(&self) {
        let tracked: Vec<(Arc<Child>, Arc<OwnedFd>)> = {
            let mut g = self.lock();
            g.children.retain(|c| c.status().is_none());
            if g.children.is_empty() {
                return;
            }
            g.children
                .iter()
                .filter_map(|c| c.pidfd().map(|fd| (c.clone(), fd)))
                .collect()
        };
        let mut fds: Vec<PollFd<'_>> = tracked
            .iter()
            .map(|(_, fd)| PollFd::new(&**fd, PollFlags::IN))
            .collect();
        let now = sys::timespec(Duration::ZERO);
        if matches!(rustix::event::poll(&mut fds, Some(&now)), Ok(n) if n > 0) {
            for ((c, _), p) in tracked.iter().zip(&fds) {
                if !p.revents().is_empty() {
                    let _ = c.try_reap();
                }
            }
            drop(fds);
            drop(tracked);
            self.prune();
        }
    }

    /// Hands `child` (whose last handle is gone, and which still runs) to
    /// the watcher, starting one if none runs.
    fn watch(&'static self, child: &Arc<Child>) {
        let start = {
            let mut g = self.lock();
            child.watched.store(true, Ordering::Relaxed);
            let start = !g.watcher;
            g.watcher = true;
            start
        };
        if !start {
            if let Some(fd) = self.wake.get() {
                let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
            }
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("bingfa-reaper".into())
            .spawn(move || watcher(self));
        if spawned.is_err() {
            // No thread: the child is reaped at the next sweep instead.
            self.lock().watcher = false;
        }
    }
}

/// The next child identity: `"3"` in the main process, `"1:3"` in child 1.
pub(crate) fn next_ident() -> String {
    let n = {
        let mut g = registry().lock();
        g.next += 1;
        g.next
    };
    match super::child::current() {
        Some(me) if !me.ident.is_empty() => format!("{}:{n}", me.ident),
        _ => n.to_string(),
    }
}

/// Every child this process tracks (running, or ended and not yet
/// reaped).
pub(crate) fn children() -> Vec<Arc<Child>> {
    match existing() {
        Some(r) => r.prune(),
        None => Vec::new(),
    }
}

/// Tracks `child` until it is reaped (after a sweep of the others: this is
/// a start).
pub(crate) fn register(child: Arc<Child>) {
    let r = registry();
    r.sweep();
    r.lock().children.push(child);
}

/// A free report slot for a child about to be forked (a new slab of them
/// when none is left).
pub(crate) fn take_slot() -> std::io::Result<Slot> {
    let r = registry();
    let mut free = r.slots.lock().unwrap_or_else(|p| p.into_inner());
    if free.is_empty() {
        *free = super::report::new_slab()?;
    }
    Ok(free.pop().expect("a fresh slab has slots"))
}

/// Returns a slot whose child has been reaped.
pub(crate) fn give_slot(slot: Slot) {
    if let Some(r) = existing() {
        r.slots.lock().unwrap_or_else(|p| p.into_inner()).push(slot);
    }
}

/// Reaps every tracked child that has ended: at each join and each
/// [`active_children`](crate::active_children) call.
pub(crate) fn sweep() {
    if let Some(r) = existing() {
        r.sweep();
    }
}

/// The last handle of `child` is gone: reap it if it has ended, else hand
/// it to the watcher; then sweep the others.
pub(crate) fn released(child: &Arc<Child>) {
    let Some(r) = existing() else { return };
    if matches!(child.try_reap(), Ok(None)) {
        r.watch(child);
    }
    r.sweep();
}

/// The watcher: polls the pidfds of the children handed to it (and its
/// wake-up descriptor), reaps the ones that end, and ends once it has had
/// nothing to watch for [`LINGER`].
fn watcher(r: &'static Registry) {
    super::threads::mark_reaper();
    if r.wake.get().is_none() {
        // Without it (the descriptor limit), children handed over are
        // picked up at the end of a round instead.
        if let Ok(fd) = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK) {
            let _ = r.wake.set(fd);
        }
    }
    let wake = r.wake.get();
    let mut idle_since: Option<Instant> = None;
    loop {
        let watched: Vec<(Arc<Child>, Arc<OwnedFd>)> = {
            let mut g = r.lock();
            g.children.retain(|c| c.status().is_none());
            let watched: Vec<_> = g
                .children
                .iter()
                .filter(|c| c.watched.load(Ordering::Relaxed))
                .filter_map(|c| c.pidfd().map(|fd| (c.clone(), fd)))
                .collect();
            if watched.is_empty() {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= LINGER {
                    g.watcher = false;
                    super::threads::unmark_reaper();
                    return;
                }
            } else {
                idle_since = None;
            }
            watched
        };
        let round = match idle_since {
            Some(since) => LINGER.saturating_sub(since.elapsed()),
            None => WATCH_ROUND,
        };
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(watched.len() + 1);
        fds.extend(wake.map(|w| PollFd::new(w, PollFlags::IN)));
        let first = fds.len();
        fds.extend(
            watched
                .iter()
                .map(|(_, fd)| PollFd::new(&**fd, PollFlags::IN)),
        );
        let ts = sys::timespec(round);
        if matches!(rustix::event::poll(&mut fds, Some(&ts)), Ok(n) if n > 0) {
            if let Some(w) = wake.filter(|_| !fds[0].revents().is_empty()) {
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(w.as_fd(), &mut buf);
            }
            for ((c, _), p) in watched.iter().zip(&fds[first..]) {
                if !p.revents().is_empty() && c.try_reap().is_err() {
                    // It ended but cannot be reaped (ECHILD: a program
                    // that ignores SIGCHLD, where the kernel reaps): stop
                    // watching it, or its readable pidfd would keep this
                    // loop spinning.
                    c.watched.store(false, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Registers (once) the `atexit` handler that ends daemon children.
pub(crate) fn ensure_daemon_cleanup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // `libc`: atexit belongs to the C library's exit.
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(daemon_cleanup) };
    });
}

/// At exit: `SIGTERM` to every daemon child still running, up to one
/// second for them to end, then `SIGKILL`; all of them are reaped.
extern "C" fn daemon_cleanup() {
    let Some(r) = existing() else { return };
    let daemons: Vec<Arc<Child>> = r.prune().into_iter().filter(|c| c.daemon).collect();
    for c in &daemons {
        let _ = c.signal(rustix::process::Signal::TERM.as_raw());
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    for c in &daemons {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(None) = c.wait(Some(left)) {
            let _ = c.signal(rustix::process::Signal::KILL.as_raw());
            let _ = c.wait(None);
        }
    }
}
