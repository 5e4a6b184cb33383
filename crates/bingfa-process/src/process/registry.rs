//! Every child this process started, until it is reaped: the reaper thread
//! that collects the status of children whose handle was dropped or leaked
//! (no zombie is left behind; it polls their pidfds, and works in rounds
//! of at least 50 ms: new children are picked up at the next round, and a
//! round that a child's exit ended early is followed by a pause until the
//! round's end, so that a program that starts and joins children in a
//! tight loop does not wake the reaper for each of them), the `Process-N`
//! counter, and the `atexit` clean-up of daemon children.
//!
//! After a fork the child must not touch the parent's registry (its lock may
//! have been held by another thread): the fork handler forgets the pointer
//! (one atomic store) and the child builds a fresh registry on first use.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use super::Child;
use crate::sys;

struct Registry {
    owner: u32,
    inner: Mutex<Inner>,
    cv: Condvar,
}

#[derive(Default)]
struct Inner {
    children: Vec<Arc<Child>>,
    reaper: bool,
    next: u64,
}

/// How often the reaper looks for children registered since its last
/// round.
const REAPER_ROUND: Duration = Duration::from_millis(50);

static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(std::ptr::null_mut());

/// Called by the fork handler in every child: forget the parent's registry
/// (leaked in the child, never locked). Async-signal-safe.
pub(crate) fn forget_after_fork() {
    REGISTRY.store(std::ptr::null_mut(), Ordering::Relaxed);
}

fn existing() -> Option<&'static Registry> {
    let p = REGISTRY.load(Ordering::Acquire);
    // SAFETY: REGISTRY is null or a leaked box, never freed.
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
        cv: Condvar::new(),
    }));
    let cur = REGISTRY.load(Ordering::Acquire);
    match REGISTRY.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire) {
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
/// pruned).
pub(crate) fn children() -> Vec<Arc<Child>> {
    match existing() {
        Some(r) => r.lock().children.clone(),
        None => Vec::new(),
    }
}

/// Tracks `child` until it is reaped.
pub(crate) fn register(child: Arc<Child>) {
    let r = registry();
    let (start, was_empty) = {
        let mut g = r.lock();
        let was_empty = g.children.is_empty();
        g.children.push(child);
        let start = !g.reaper;
        g.reaper = true;
        (start, was_empty)
    };
    if start {
        let spawned = std::thread::Builder::new()
            .name("bingfa-reaper".into())
            .spawn(move || reaper(r));
        if spawned.is_err() {
            // No thread: children whose handle is dropped are reaped at the
            // next registration instead. Keep trying next time.
            r.lock().reaper = false;
            reap_ready(r);
        }
    } else if was_empty {
        // The reaper sleeps on the condition variable only while it has no
        // child to watch. Otherwise it picks the new child up at its next
        // round (at most two REAPER_ROUNDs later): waking it for every
        // child would cost a system call and a context switch per start.
        r.cv.notify_one();
    }
}

fn reap_ready(r: &Registry) {
    let list: Vec<Arc<Child>> = r.lock().children.clone();
    for c in &list {
        let _ = c.try_reap();
    }
    r.lock().children.retain(|c| c.status().is_none());
}

/// The reaper: polls every tracked child's pidfd (for at most one round),
/// reaps the ones that ended, drops them from the registry.
fn reaper(r: &'static Registry) {
    super::threads::mark_reaper();
    loop {
        let round = Instant::now();
        let list: Vec<Arc<Child>> = {
            let mut g = r.lock();
            while g.children.is_empty() {
                g = r.cv.wait(g).unwrap_or_else(|p| p.into_inner());
            }
            g.children.clone()
        };
        // Reaped children have no pidfd left: skip them (pruned below).
        let (list, pidfds): (Vec<Arc<Child>>, Vec<_>) = list
            .into_iter()
            .filter_map(|c| c.pidfd().map(|fd| (c, fd)))
            .unzip();
        let mut fds: Vec<libc::pollfd> = pidfds
            .iter()
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: a valid array of pollfds; the fds stay open while
        // `pidfds` holds them.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                REAPER_ROUND.as_millis() as libc::c_int,
            )
        };
        drop(pidfds);
        if n > 0 {
            for (c, p) in list.iter().zip(&fds) {
                if p.revents != 0 {
                    let _ = c.try_reap();
                }
            }
        }
        drop(list);
        r.lock().children.retain(|c| c.status().is_none());
        if n <= 0 {
            continue;
        }
        // An exit ended this round early: finish the round before watching
        // again, so that the reaper wakes at most once a round (children
        // that are joined anyway are then rarely watched at all).
        if let Some(left) = REAPER_ROUND.checked_sub(round.elapsed()) {
            std::thread::sleep(left);
        }
    }
}

/// Registers (once) the `atexit` handler that ends daemon children.
pub(crate) fn ensure_daemon_cleanup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(daemon_cleanup) };
    });
}

/// At exit: `SIGTERM` to every daemon child still running, up to one
/// second for them to end, then `SIGKILL`; all of them are reaped.
extern "C" fn daemon_cleanup() {
    let Some(r) = existing() else { return };
    let daemons: Vec<Arc<Child>> = r
        .lock()
        .children
        .iter()
        .filter(|c| c.daemon)
        .cloned()
        .collect();
    for c in &daemons {
        let _ = c.signal(libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    for c in &daemons {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(None) = c.wait(Some(left)) {
            let _ = c.signal(libc::SIGKILL);
            let _ = c.wait(None);
        }
    }
}
