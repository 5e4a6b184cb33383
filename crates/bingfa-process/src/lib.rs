//! Processes and inter-process communication with the semantics of
//! Python's `multiprocessing`: [`Process`] with the **fork** and **spawn**
//! start methods, and a shared-memory [`Queue`] and [`JoinableQueue`], a
//! [`Pipe`] (duplex, or [one-way](Pipe::one_way)), robust [`Lock`] and
//! [`RLock`], a [`Condition`], [`Semaphore`], [`Event`], [`Value`] and
//! [`Array`], all usable across processes. Linux only (5.4 or later, with
//! glibc): see [Platforms](#platforms).
//!
//! How far the parity with Python goes is measured: CPython's own tests of
//! these types are ported into `tests/cpython_*.rs`, and the [`parity`]
//! page lists every one of them, ported, or different by design and why.
//!
//! # A first process
//!
//! ```
//! use bingfa_process::{ExitStatus, Queue};
//!
//! // Start a child with fork: it runs the closure, then exits.
//! let q = Queue::<String>::new(16).unwrap();
//! // SAFETY: this program has no other thread, so the child may do
//! // anything (here: allocate and format).
//! let child = unsafe {
//!     bingfa_process::fork(|| {
//!         let me = bingfa_process::current_process();
//!         q.put(format!("hello from {} (pid {})", me.name(), me.pid())).unwrap();
//!     })
//! }
//! .unwrap();
//! println!("{}", q.get().unwrap()); // hello from Process-1 (pid 4242)
//! assert_eq!(child.join().unwrap(), ExitStatus::Code(0));
//! ```
//!
//! A fork closure may borrow from the parent (`q` above is borrowed): the
//! child owns a copy of the whole address space and never returns into the
//! caller. Shared-memory objects (`Queue`, `Lock`, `Value`, ...) stay shared
//! across the fork; everything else is a private copy, exactly as in
//! Python.
//!
//! [`fork`] is an `unsafe fn`: in the child of a process that has other
//! threads, the closure may only do what is async-signal-safe (see [the
//! fork rule](#the-fork-rule)). A program with threads uses spawn, or forks
//! from a fork server started before its threads.
//!
//! # Spawn
//!
//! [`spawn`] executes the current binary again and runs a plain function
//! with serde arguments; it is safe whatever threads the parent has. The
//! program calls [`init`] first thing in `main`:
//!
//! ```no_run
//! use bingfa_process::Queue;
//!
//! fn worker(q: Queue<u64>) {
//!     q.put(6 * 7).unwrap();
//! }
//!
//! fn main() {
//!     bingfa_process::init(); // a spawned child runs its entry point here and exits
//!     let q = Queue::new(4).unwrap();
//!     let p = bingfa_process::spawn(worker, q.clone()).unwrap();
//!     assert_eq!(q.get().unwrap(), 42);
//!     p.join().unwrap();
//! }
//! ```
//!
//! In a test crate, put [`enable_test_support!()`](enable_test_support) at
//! the root of the file instead of calling `init`.
//!
//! # Lifecycle
//!
//! [`Process::join`] returns an [`ExitStatus`]: `Code(0)` for a normal end,
//! `Code(1)` for a panic (with the message and location in
//! [`Process::panic_message`]), `Signal(15)` after [`Process::terminate`]
//! ([`ExitStatus::python_exitcode`] gives Python's `-15`). Daemon children
//! ([`Builder::daemon`]) die with their parent however it ends; others
//! outlive it, unless the parent holds an [`exit_guard`], which joins them
//! as Python does at exit.
//!
//! No handle, joined, dropped or leaked, leaves a zombie for long, and the
//! common case costs no thread (a second thread would make every later
//! `fork` slower): a join reaps its child; every start, join, dropped
//! handle and [`active_children`] call reaps the children that have ended
//! (Python does so at each start), so a kept or leaked handle's child is
//! reaped there (a kept handle still reports its status); and the last
//! handle of a child dropped while the child runs hands it to a thread
//! that reaps it when it ends (started only then, and gone a second
//! after it has nothing left to watch).
//! [`active_children`] lists the children still running, and
//! [`Process::sentinel`] is a descriptor to `poll` with others, readable
//! once the child ended.
//!
//! A child whose entry point returns waits for the threads that entry
//! point started before it exits, as Python joins a child's non-daemon
//! threads ([`Builder::join_threads`]).
//!
//! # Crash safety
//!
//! The queue's ring claims each slot with one atomic operation that also
//! records the claimer's pid, so a process killed at any point of a `put`
//! leaves a slot the others can recognize and skip once they see the
//! process is gone: no torn or partial message ever reaches a consumer, and
//! the queue keeps working. Every message is framed with its length and a
//! checksum (which only has foreign damage to catch: the slot protocol
//! never lets a torn frame out), and decoding is total: corrupt bytes give
//! [`Error::Corrupt`], never a panic or undefined behaviour. The [`Lock`] is a robust mutex:
//! when its owner dies, the next `lock` says so ([`LockError::OwnerDied`])
//! and hands over the lock, which stays usable.
//!
//! # Differences from Python
//!
//! The [`parity`] page has the details, test by test.
//!
//! - A queue has a fixed capacity and a maximum message size
//!   ([`Queue::with_max_message`]); there is no feeder thread, so a `put`
//!   is in the queue when it returns (and its errors, serialization
//!   included, go to its caller, with the item), and [`Queue::close`]
//!   closes it for every process (Python 3.13's `shutdown`). Items are
//!   serde values (postcard, in place of pickle), or, in a queue made
//!   with [`Queue::raw`], plain data copied as its own bytes ([`Raw`],
//!   no serialization at all; no Python counterpart).
//! - The spawn start method runs a function of the same binary (Python
//!   imports the main module); arguments are serde values. There is no
//!   forkserver start method for a single `Process` (bingfa-pool's
//!   `ProcessPool` has one, its default), and fork is an `unsafe fn`
//!   (Python only warns, since 3.12, when a process with threads forks).
//! - Locks are RAII guards, released by the thread that locked them, and
//!   are robust to owner death (Python's stay held forever); a
//!   [`Condition`] is robust to the death of its waiters and lock holders.
//! - A daemon child may start children of its own.
//! - Non-daemon children outlive their parent unless it holds an
//!   [`exit_guard`] (Python joins them at exit).
//! - A forked child runs no `atexit` handler when it ends (see
//!   [`Builder::fork`]).
//! - The kernel's part of the daemon guarantee (`PR_SET_PDEATHSIG`) fires
//!   when the *thread* that started the child ends: start daemon children
//!   from a thread that lives as long as they should.
//!
//! # The fork rule
//!
//! The child of a fork has one thread, and every lock another thread of
//! the parent held at that moment stays held in it forever. That is why
//! [`fork`] and [`Builder::fork`] are `unsafe fn`s (as nix's `fork` is, and
//! why Python 3.14 moved its default start method on Linux from fork to
//! forkserver): if the process may have other threads when it forks, the
//! closure may only do what is async-signal-safe (no lock another thread
//! may have held, no allocation in principle, no panic). Their Safety
//! section says exactly what is allowed, and what this crate itself does
//! between the fork and the closure (only async-signal-safe steps that
//! take no lock and allocate nothing). A single-threaded program may fork
//! freely. A program with threads uses:
//!
//! - [`spawn`], which executes the program again: safe whatever threads
//!   the parent has, at the cost of starting a program (milliseconds);
//! - a fork server: a process started while the program is still
//!   single-threaded (or spawned) that forks children on request, as
//!   Python's `forkserver` start method, and bingfa-pool's `ProcessPool`
//!   for its workers (`StartMethod::ForkServer`, its default);
//! - or forks its children early in `main`, before any thread starts.
//!
//! What is safe and what is not, in one place:
//!
//! | call | safe? | why |
//! |---|---|---|
//! | [`spawn`], [`Builder::spawn`] | safe | a fresh program: nothing of the parent's threads survives the `exec` |
//! | [`fork`], [`Builder::fork`] | `unsafe fn` | the closure runs in a copy of a process whose other threads are gone; only the caller knows whether it may take a lock they held |
//! | the IPC objects ([`Queue`], [`Pipe`], [`Lock`], ...) in a forked child | safe | their state lives in shared memory; their locks are robust and per object |
//!
//! Why `unsafe` rather than a safe `fork` that refuses when the process
//! has other threads: the refusal would be sound, but it would refuse
//! almost every real caller (a test binary runs its tests on libtest's
//! threads; an async runtime, a logger or a library may start threads of
//! their own) while many of them fork soundly, because their closure is
//! async-signal-safe or uses only this crate's shared-memory objects. The
//! `unsafe` block puts the one fact the crate cannot check, what the
//! closure does, where the reader sees it, with a `// SAFETY:` comment
//! saying why it holds. nix makes the same choice for the bare system call
//! (`nix::unistd::fork` is an `unsafe fn` whose Safety section limits the
//! child of a multi-threaded process to async-signal-safe calls); Python,
//! which cannot mark a call unsafe, warns since 3.12 when a process with
//! threads forks (`DeprecationWarning`) and since 3.14 no longer forks by
//! default on Linux (its default start method became `forkserver`). The
//! crate still checks what it can: it counts the threads before each fork,
//! and a child of a process that had others does not flush stdout when
//! its closure returns (that lock may be held forever in it).
//!
//! ```compile_fail,E0133
//! // Does not compile: the caller must vouch for the child with `unsafe`.
//! let p = bingfa_process::fork(|| {});
//! ```
//!
//! # Platforms
//!
//! Linux only, kernel 5.4 or later, with glibc 2.30 or later (the
//! `*-linux-gnu` targets; tested on x86_64). On any other operating system
//! the crate does not build: it is one `compile_error!` that says so. The
//! portable crates of the family (bingfa-sync, bingfa-queue, bingfa-trace,
//! and bingfa-pool's thread pool) build everywhere.
//!
//! What each part needs, and what happens without it:
//!
//! | part | needs | without it |
//! |---|---|---|
//! | [`Process`] (fork and spawn) | `pidfd_open` (5.3), `waitid(P_PIDFD)` (5.4), `pidfd_send_signal` (5.1) | a start fails with [`Error::Os`] (`ENOSYS`), the child killed and reaped first; a join on 5.3 fails with `EINVAL` |
//! | daemon children | `prctl(PR_SET_PDEATHSIG)` | (every Linux) |
//! | [`Process::sentinel`] of a reaped child; the reaper of dropped handles | `eventfd` (2.6.27) | that sentinel fails with [`Error::Os`]; the reaper picks up newly dropped handles within a second instead of at once |
//! | shared memory ([`Queue`], [`Lock`], [`Value`], ...) | `memfd_create` (3.17), `MAP_SHARED` | (none: required); memfd seals (3.17) are best effort |
//! | blocking in [`Queue`], [`Semaphore`], [`Event`], [`Condition`] | process-shared `futex` | (every Linux) |
//! | the queue's fast wake-up handshake | `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` (4.16) | a full fence on every put instead, and a waiter that cannot get the barrier sleeps with a time limit |
//! | [`Lock`], [`RLock`], [`Value`], [`Array`] | glibc's robust process-shared `pthread_mutex_t`; `pthread_mutex_clocklock` (glibc 2.30) for timed locks | (none: required; musl has no `pthread_mutex_clocklock`) |
//! | a child waits for its threads ([`Builder::join_threads`]) | `/proc/self/task`; glibc 2.32's `__libc_single_threaded` to skip it when no thread was started | without `/proc`, the child does not wait; without the flag, every child reads `/proc` once |
//! | crash safety of the queue (a dead claimer's slot is skipped) | `/proc/PID/stat` to tell a zombie from a live process | a process `/proc` hides counts as alive: its slot is never taken over |
//!
//! # System calls: rustix, and what stays on libc
//!
//! The system calls go through [rustix](https://docs.rs/rustix), not
//! [nix](https://docs.rs/nix): rustix has every call this crate makes
//! that the kernel offers (`futex`, `membarrier`, `pidfd_open`,
//! `pidfd_send_signal`, `waitid` on a pidfd, `memfd_create`, `mmap`,
//! `prctl`, pipes, sockets, `poll`, `eventfd`), where nix 0.30 has no
//! `futex`, `membarrier` or pidfd calls and the crate would keep
//! hand-written ones; on Linux rustix makes each call with an inline
//! `syscall` instruction (no libc wrapper, no `errno`), in safe functions
//! over `OwnedFd`/`BorrowedFd`; and bingfa-pool uses it too.
//!
//! What stays on `libc` is what only the C library can do, each marked
//! where it is called: `fork` (the C library's runs the `pthread_atfork`
//! handlers and resets its own locks, malloc's and stdio's, in the child;
//! rustix has only the raw system call, in its unstable `runtime` API),
//! `_exit` (likewise), `pthread_atfork` and `atexit`, the robust
//! process-shared `pthread_mutex_t` under [`Lock`] (the kernel walks the
//! list of robust mutexes that the C library keeps for each thread), the
//! `clock_gettime` that gives that mutex its absolute deadline (rustix
//! reads the clock through its own vDSO parser, which crashes under
//! valgrind: rustix#1559), and `SIGRTMIN`/`SIGRTMAX`, which are the C
//! library's choice.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(all(bingfa_loom, not(feature = "loom")))]
compile_error!("`--cfg bingfa_loom` is the model-checking build and needs the internal `loom` feature too: run `cargo xtask loom`");

#[cfg(not(target_os = "linux"))]
compile_error!(
    "bingfa-process runs on Linux only (kernel 5.4 or later, glibc): its processes and IPC are \
     built on Linux's pidfd, memfd, futex and membarrier system calls. The portable crates \
     (bingfa-sync, bingfa-queue, bingfa-trace, and bingfa-pool's thread pool) build everywhere."
);

/// Declares each item on Linux only: elsewhere the crate is the one
/// `compile_error!` above, not hundreds of errors.
macro_rules! linux_only {
    ($($item:item)*) => { $( #[cfg(target_os = "linux")] $item )* };
}

linux_only! {
    // The wire format: internal, not for users, no stability promise.
    // Hidden but still `pub` because bingfa-cluster frames its task
    // arguments and results with it (bingfa-pool has its own codec now); it
    // goes private (visible only under the `__test-hooks` feature, for this
    // crate's own tests and benches) once bingfa-cluster has its own too.
    // `encode_frame_into` is used by codec.rs's own unit tests and by
    // the benches (`spsc_lamport_framed`) only.
    #[doc(hidden)]
    pub mod codec;
    mod condition;
    mod error;
    mod fnref;
    mod joinable;
    mod lock;
    mod pipe;
    mod process;
    mod queue;
    mod ring;
    mod rlock;
    mod semaphore;
    mod shm;
    mod sys;
    mod value;

    #[cfg(all(test, bingfa_loom))]
    mod loom_tests;

    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    #[path = "test_hooks.rs"]
    pub mod __test_hooks;

    #[doc = include_str!("../PARITY.md")]
    pub mod parity {}

    pub use condition::{Condition, ConditionGuard, Held, MAX_CONDITION_WAITERS};
    pub use error::{Error, LockError, PutError};
    pub use fnref::{FnPtr, FnRef};
    pub use joinable::JoinableQueue;
    pub use lock::{Lock, LockGuard};
    pub use pipe::{Pipe, PipeReader, PipeWriter, MAX_PIPE_MESSAGE};
    pub use process::child::fork;
    pub use process::exit::{active_children, exit_guard, ExitGuard};
    #[doc(hidden)]
    pub use process::spawn::{__register_test_support, TEST_ENTRY};
    pub use process::spawn::{can_spawn, init, spawn};
    pub use process::{
        current_process, parent_process, Builder, ExitStatus, ParentProcess, Process, ProcessInfo,
    };
    pub use codec::{Codec, Postcard, Raw};
    pub use queue::{Queue, DEFAULT_MAX_MESSAGE};
    /// The crate whose `Pod` trait (and, with its `derive` feature,
    /// `#[derive(Pod, Zeroable)]`) marks the items of a [`Raw`] queue.
    pub use bytemuck;
    pub use rlock::{RLock, RLockGuard};
    pub use semaphore::{Event, Semaphore, SemaphorePermit};
    pub use value::{Array, ArrayGuard, Plain, Value, ValueGuard};
}
