//! Processes and inter-process communication with the semantics of
//! Python's `multiprocessing`: [`Process`] with the **fork** and **spawn**
//! start methods, and a shared-memory [`Queue`] and [`JoinableQueue`], a
//! [`Pipe`] (duplex, or [one-way](Pipe::one_way)), robust [`Lock`] and
//! [`RLock`], a [`Condition`], [`Semaphore`], [`Event`], [`Value`] and
//! [`Array`], all usable across processes. Linux only.
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
//! let child = bingfa_process::fork(|| {
//!     let me = bingfa_process::current_process();
//!     q.put(format!("hello from {} (pid {})", me.name(), me.pid())).unwrap();
//! })
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
//! # Spawn
//!
//! [`spawn`] executes the current binary again and runs a plain function
//! with serde arguments; it is the safe choice when the parent has other
//! threads. The program calls [`init`] first thing in `main`:
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
//! as Python does at exit. No handle, joined, dropped or leaked, leaves a
//! zombie: a reaper thread collects every child's status when it ends.
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
//!   closes it for every process (Python 3.13's `shutdown`).
//! - The spawn start method runs a function of the same binary (Python
//!   imports the main module); arguments are serde values. There is no
//!   forkserver start method.
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
//! Between `fork` and the closure, the child runs only async-signal-safe
//! code and touches no lock another thread may have held. The closure
//! itself inherits the problem: see [`Builder::fork`] for when to prefer
//! spawn.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(all(bingfa_loom, not(feature = "loom")))]
compile_error!("`--cfg bingfa_loom` is the model-checking build and needs the internal `loom` feature too: run `cargo xtask loom`");
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
pub use process::spawn::{init, spawn};
pub use process::{
    current_process, parent_process, Builder, ExitStatus, ParentProcess, Process, ProcessInfo,
};
pub use queue::{Queue, DEFAULT_MAX_MESSAGE};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{Event, Semaphore, SemaphorePermit};
pub use value::{Array, ArrayGuard, Plain, Value, ValueGuard};
