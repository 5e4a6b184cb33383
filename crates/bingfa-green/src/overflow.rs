//! Stack overflow reporting: a `SIGSEGV`/`SIGBUS` handler, on an alternate
//! signal stack, that recognises a fault in the guard page of the stack the
//! current OS thread is running on, prints
//! `green thread 'NAME' overflowed its stack of N KiB` and aborts.
//!
//! Every switch onto a green stack stores one pointer in a plain
//! thread-local cell (const-initialised, no destructor: no lazy-init check
//! on the switch path, and readable from a signal handler): the address of
//! the fiber's [`Running`] record (guard page range, stack size, name),
//! which the fiber owns in a box and does not change while it lives. The
//! switch back restores the previous pointer. Faults anywhere else go to
//! the handler that was installed before ours (Rust's own, which reports
//! overflows of OS thread stacks), or to the default action.

use std::cell::Cell;
use std::sync::Once;

/// What runs on a green stack: its name and whether it is nested are
/// fixed when its fiber is made; the guard page and the size when it gets
/// its stack (a green thread's, when it first runs), before it first runs
/// on it.
pub(crate) struct Running {
    pub(crate) guard_lo: Cell<usize>,
    pub(crate) guard_hi: Cell<usize>,
    pub(crate) size: Cell<usize>,
    /// A generator or greenlet (where hub calls are refused), not a hub's
    /// green thread.
    pub(crate) nested: bool,
    pub(crate) name: Name,
}

impl Running {
    /// The record of a fiber named `name` with no stack yet.
    pub(crate) fn new(name: Name, nested: bool) -> Running {
        Running {
            guard_lo: Cell::new(0),
            guard_hi: Cell::new(0),
            size: Cell::new(0),
            nested,
            name,
        }
    }

    /// Records the stack the fiber runs on.
    pub(crate) fn set_stack(&self, (lo, hi): (usize, usize), size: usize) {
        self.guard_lo.set(lo);
        self.guard_hi.set(hi);
        self.size.set(size);
    }
}

/// The name of a green thread, generator or greenlet.
#[derive(Clone, Debug)]
pub(crate) enum Name {
    Owned(Box<str>),
    /// A green thread's, shared with its handle.
    Shared(std::sync::Arc<str>),
    /// `green-N`, the default name of a green thread: written out only
    /// when asked for (most never are), so that a spawn allocates no name.
    Numbered(usize),
}

impl Name {
    /// Calls `f` with the name (written into a buffer on the stack for a
    /// numbered one: no allocation, async-signal-safe).
    pub(crate) fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Name::Owned(s) => f(s),
            Name::Shared(s) => f(s),
            Name::Numbered(n) => {
                let mut buf = [0u8; 26];
                f(numbered(&mut buf, *n))
            }
        }
    }

    /// The name as a shared string (allocated for a numbered one).
    pub(crate) fn to_arc(&self) -> std::sync::Arc<str> {
        match self {
            Name::Shared(s) => s.clone(),
            other => other.with_str(|s| std::sync::Arc::from(s)),
        }
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

/// `green-N` written into the end of `buf`, without the formatting
/// machinery (async-signal-safe): the digits backwards, then the prefix.
fn numbered(buf: &mut [u8; 26], mut n: usize) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    at -= 6;
    buf[at..at + 6].copy_from_slice(b"green-");
    // SAFETY: `buf[at..]` holds "green-" and ASCII digits: UTF-8.
    unsafe { std::str::from_utf8_unchecked(&buf[at..]) }
}

thread_local! {
    /// The record of the fiber running now on this OS thread; null on the
    /// thread's own stack.
    static RUNNING: Cell<*const Running> = const { Cell::new(std::ptr::null()) };
    static ALTSTACK: Cell<usize> = const { Cell::new(0) };
}

/// This OS thread's cell of the running fiber's record. A fiber keeps its
/// address (fibers never leave the thread that made them) and switches
/// write through it, with no thread-local lookup; the cell has no
/// destructor, so it stays valid as long as the thread.
pub(crate) fn running_cell() -> *const Cell<*const Running> {
    RUNNING.with(|c| c as *const Cell<*const Running>)
}

/// Whether the innermost fiber running on this thread is a generator or a
/// greenlet.
#[inline]
pub(crate) fn nested() -> bool {
    let r = RUNNING.with(|c| c.get());
    // SAFETY: a non-null pointer in RUNNING is the record of a fiber that
    // is running now (its `resume` holds it borrowed, and restores the
    // previous pointer before returning), so the box is alive.
    !r.is_null() && unsafe { (*r).nested }
}

static INSTALL: Once = Once::new();
static mut PREV_SEGV: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();
static mut PREV_BUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();

const ALTSTACK_SIZE: usize = 64 * 1024;

/// Installs the process-wide handler (once) and makes sure this OS thread
/// has an alternate signal stack (the handler cannot run on the stack that
/// just overflowed).
pub(crate) fn ensure_installed() {
    INSTALL.call_once(|| {
        // SAFETY: sigaction with a zeroed, then filled struct; the previous
        // actions are written into statics only here, before any handler of
        // ours can run (the handler is installed by these very calls), and
        // only read afterwards.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = handler as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(
                libc::SIGSEGV,
                &act,
                std::ptr::addr_of_mut!(PREV_SEGV).cast::<libc::sigaction>(),
            );
            libc::sigaction(
                libc::SIGBUS,
                &act,
                std::ptr::addr_of_mut!(PREV_BUS).cast::<libc::sigaction>(),
            );
        }
    });
    ALTSTACK.with(|a| {
        if a.get() != 0 {
            return;
        }
        // SAFETY: querying the current alternate stack into a zeroed struct.
        let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above; a null new stack only queries.
        unsafe { libc::sigaltstack(std::ptr::null(), &mut old) };
        if old.ss_flags & libc::SS_DISABLE == 0 {
            // Rust's runtime (or someone else) already gave this thread one.
            a.set(usize::MAX);
            return;
        }
        // SAFETY: a fresh anonymous mapping for the signal stack; it is
        // never unmapped (one per OS thread that runs green code, 64 KiB of
        // address space, touched only if a signal arrives).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ALTSTACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return;
        }
        let st = libc::stack_t {
            ss_sp: p,
            ss_flags: 0,
            ss_size: ALTSTACK_SIZE,
        };
        // SAFETY: `st` describes the mapping just made, which outlives the
        // thread.
        unsafe { libc::sigaltstack(&st, std::ptr::null_mut()) };
        a.set(p as usize);
    });
}

/// Appends `s` to `buf` at `*at`, as much as fits.
fn push(buf: &mut [u8], at: &mut usize, s: &[u8]) {
    for &b in s {
        if *at < buf.len() {
            buf[*at] = b;
            *at += 1;
        }
    }
}

fn push_num(buf: &mut [u8], at: &mut usize, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    push(buf, at, &digits[i..]);
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    // `try_with` and a `Cell` of a pointer with const init: a plain TLS
    // read, async-signal-safe.
    let running = RUNNING.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    // SAFETY: non-null means the record of the fiber running on this
    // thread, alive while it runs (see `nested`); only read here.
    let running = unsafe { running.as_ref() };
    if let Some(running) = running.filter(|r| addr >= r.guard_lo.get() && addr < r.guard_hi.get()) {
        let mut buf = [0u8; 512];
        let mut at = 0;
        push(&mut buf, &mut at, b"\ngreen thread '");
        running
            .name
            .with_str(|n| push(&mut buf, &mut at, n.as_bytes()));
        push(&mut buf, &mut at, b"' overflowed its stack of ");
        push_num(&mut buf, &mut at, running.size.get() / 1024);
        push(
            &mut buf,
            &mut at,
            b" KiB; give it more (bingfa_green::Builder::stack_size), aborting\n",
        );
        // SAFETY: write(2) and abort(3) are async-signal-safe; signal(2)
        // resets SIGABRT so that abort really ends the process.
        unsafe {
            libc::write(2, buf.as_ptr().cast(), at);
            libc::signal(libc::SIGABRT, libc::SIG_DFL);
            libc::abort();
        }
    }
    // Not ours: hand over to whoever was installed before.
    let prev = if sig == libc::SIGBUS {
        std::ptr::addr_of!(PREV_BUS)
    } else {
        std::ptr::addr_of!(PREV_SEGV)
    };
    // SAFETY: written once in `ensure_installed` before this handler was
    // installed; only read since.
    let prev: libc::sigaction = unsafe { (*prev).assume_init() };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // SAFETY: restoring the default action; returning re-executes the
        // faulting instruction, which then kills the process as usual.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: `h` is the previous three-argument handler.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: `h` is the previous one-argument handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}
