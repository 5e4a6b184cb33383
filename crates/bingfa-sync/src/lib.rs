//! # bingfa-sync
//!
//! Thread primitives with the semantics of Python's `threading` module, and a
//! deadlock detector (the `deadlock` module, feature `detect`).
//!
//! ## A short tutorial
//!
//! Python protects shared data with a lock taken around the code that uses
//! it. In Rust the data goes *inside* the lock, and the guard that
//! [`Mutex::lock`] returns is the only way to reach it; the lock is released
//! when the guard goes away, like the end of a `with` block:
//!
//! ```
//! use bingfa_sync::{Barrier, Condition, Event, Mutex, Semaphore};
//! use std::time::Duration;
//!
//! // 100 tickets, 4 sellers (the course's ticket race, done right).
//! let tickets = Mutex::named("tickets", 100);
//! let sold = Mutex::new(0);
//! let start = Barrier::new(4)?; // everyone starts selling together
//! let counter_open = Semaphore::new(2); // only two counters are staffed
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| {
//!             start.wait().unwrap();
//!             loop {
//!                 let _counter = counter_open.acquire();
//!                 let mut left = tickets.lock();
//!                 if *left == 0 {
//!                     break;
//!                 }
//!                 *left -= 1; // read and write under one lock: no overselling
//!                 *sold.lock() += 1;
//!             }
//!         });
//!     }
//! });
//! assert_eq!(*tickets.lock(), 0);
//! assert_eq!(*sold.lock(), 100);
//!
//! // An Event tells waiting threads that something happened...
//! let done = Event::new();
//! // ...a Condition lets them wait for a change in shared state.
//! let queue = Condition::new(Vec::new());
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         queue.lock().push("job");
//!         queue.notify_one();
//!         done.set();
//!     });
//!     let mut jobs = queue.lock();
//!     queue.wait_while(&mut jobs, |jobs| jobs.is_empty()); // Python: wait_for
//!     assert_eq!(jobs.pop(), Some("job"));
//! });
//! assert!(done.wait_timeout(Duration::from_secs(5)));
//! # Ok::<(), bingfa_sync::Error>(())
//! ```
//!
//! Every blocking call has a `try_` form that never blocks and a `_timeout`
//! form that gives up; a timeout of zero is a `try_`. A `try_` call fails
//! only with [`WouldBlock`], a `_timeout` call only with [`Timeout`], a
//! barrier wait only with [`BrokenBarrier`]; releases and constructors that
//! check their arguments return the crate's [`Error`], into which the
//! others convert (`?` works).
//!
//! ## Python name -> Rust
//!
//! | Python (`threading`) | bingfa-sync |
//! |---|---|
//! | `Lock()` guarding data | [`Mutex::new(data)`](Mutex::new) |
//! | `lock.acquire()` / `with lock:` | [`Mutex::lock`] -> [`MutexGuard`] |
//! | `lock.acquire(blocking=False)` | [`Mutex::try_lock`] |
//! | `lock.acquire(timeout=t)` | [`Mutex::lock_timeout`] |
//! | `lock.release()` | drop the guard |
//! | `lock.locked()` | [`Mutex::is_locked`] |
//! | `Lock()` released by another thread, or shared by conditions | [`Lock`]: [`acquire`](Lock::acquire), [`try_acquire`](Lock::try_acquire), [`acquire_timeout`](Lock::acquire_timeout), [`release`](Lock::release) (any thread), [`is_locked`](Lock::is_locked) |
//! | `RLock()` | [`RLock::new(data)`](RLock::new) (same methods, guard gives `&T`); `_is_owned`, `_recursion_count`: [`RLock::is_owned_by_current_thread`], [`RLock::count`] |
//! | `Semaphore(n)` / `BoundedSemaphore(n)` | [`Semaphore::new(n)`](Semaphore::new) / [`Semaphore::bounded(n)`](Semaphore::bounded) |
//! | `sem.acquire()` / `with sem:` | [`Semaphore::acquire`] -> [`SemaphorePermit`] |
//! | `sem.release(n)` | [`Semaphore::release`], [`Semaphore::release_n`] |
//! | `Event()`: `set`, `clear`, `is_set`, `wait(t)` | [`Event`]: [`set`](Event::set), [`clear`](Event::clear), [`is_set`](Event::is_set), [`wait`](Event::wait), [`wait_timeout`](Event::wait_timeout) |
//! | `Condition()`: `wait`, `wait_for`, `notify(n)`, `notify_all` | [`Condition`]: [`wait`](Condition::wait), [`wait_while`](Condition::wait_while), [`notify`](Condition::notify), [`notify_all`](Condition::notify_all) |
//! | `Condition(lock)`, several conditions on one lock | [`Condvar`] with the guard of a [`Mutex`], [`RLock`] or [`Lock`] |
//! | `Barrier(n, action, timeout)`: `wait`, `abort`, `reset`, `broken`, `n_waiting` | [`Barrier`]: [`new`](Barrier::new), [`with_action`](Barrier::with_action), [`with_timeout`](Barrier::with_timeout), [`wait`](Barrier::wait), [`abort`](Barrier::abort), [`reset`](Barrier::reset), [`is_broken`](Barrier::is_broken), [`n_waiting`](Barrier::n_waiting) |
//! | `BrokenBarrierError` | [`BrokenBarrier`] |
//! | `ValueError: Semaphore released too many times` | [`Error::ReleasedTooMany`] |
//! | `RuntimeError: release unlocked lock` | [`Error::NotLocked`] |
//! | `ValueError` for a bad argument | [`Error::InvalidArgument`] |
//!
//! CPython's own tests of these classes (`Lib/test/lock_tests.py`) are
//! ported one by one in `tests/lock_tests.rs`; the [`parity`] page (the
//! crate's `PARITY.md`) lists every upstream test and what became of it.
//!
//! ## Differences from Python
//!
//! - **The data lives in the lock.** `Mutex<T>`, `RLock<T>` and
//!   `Condition<T>` own what they protect; you cannot forget to lock. The
//!   data-less, release-from-anywhere lock of Python is [`Lock`].
//! - **Release is a drop.** Guards are released when they go out of scope,
//!   also when a panic unwinds. Mutex and RLock guards cannot be sent to
//!   another thread, so those locks are always released by the thread that
//!   took them. An `RLock` is therefore released only by its owner and
//!   exactly as many times as it was taken, by construction (Python checks
//!   this at run time and raises `RuntimeError`). A [`Lock`] may be
//!   released by any thread, as in Python.
//! - **Semaphores** keep a free-standing [`Semaphore::release`] for the
//!   producer/consumer pattern, callable from any thread; it returns an
//!   error instead of raising.
//! - **`wait_while` is `wait_for` negated**: it waits *while* the closure is
//!   true (Rust's `Condvar` convention); Python waits *for* the predicate.
//! - **`notify` does not require the lock**, and returns how many threads
//!   it woke.
//! - **`Condition()` locks with a `Mutex`**, not an `RLock` (a `Mutex` guard
//!   gives `&mut T`); a [`Condvar`] over an [`RLock`] is Python's default.
//! - **`Barrier::new` returns a `Result`**: 0 parties is an error, not a
//!   panic; the action must be `'static` (share state with an `Arc`).
//! - **No poisoning**: a panic while holding a lock releases it.
//! - A zero timeout is a `try_` everywhere (Python agrees), and a `_timeout`
//!   call always reports [`Timeout`] when it gives up, even for zero.
//!
//! ## How it is built
//!
//! Each primitive is a few atomic words plus parking on their address in
//! the global parking lot of `parking_lot_core`, like parking_lot's own
//! locks, through the [`raw`] layer, which switches to loom's types under
//! `--cfg bingfa_loom` so that the loom models check this very code. When
//! deadlock detection and tracing are off, the only extra work on a lock
//! operation is one relaxed atomic load.
//!
//! ## Features
//!
//! Both on by default:
//! - **`detect`**: the deadlock detector, `bingfa_sync::deadlock` (wait-for
//!   cycles, lock order inversions, locks whose owner exited), switched on
//!   at run time with `deadlock::enable()` or `BINGFA_DEADLOCK=1`.
//! - **`trace`**: the recorder hooks: while `bingfa_trace::start()` records,
//!   every block, acquire and release of a primitive is an event.
//!
//! What they cost when compiled in (64-bit, measured on an Intel Xeon, 2
//! CPUs): every primitive carries its identity (kind, name and an id), 47
//! bytes more per primitive: `Mutex<()>` is 48 bytes (parking_lot's is 1),
//! `Lock` 48, `Event` 48, `Condvar` 48, `Semaphore` 56, `RLock<()>` 72,
//! `Barrier` 104. While detection and recording are off at run time, a lock
//! operation does one relaxed atomic load more: an uncontended
//! `lock`+unlock took 20.9 and 22.1 ns against parking_lot's 20.2 and
//! 20.8 ns in the same runs (best of 15 rounds of 20 M, a loaded machine,
//! so within noise; `cargo bench -p bingfa-sync -- detection-cost` has
//! the figures with detection and recording on).
//!
//! Off by default:
//! - **`tracing`**: a deadlock report that no handler takes (see
//!   `deadlock::set_handler`) becomes a `tracing` event (target
//!   `bingfa_sync::deadlock`, level WARN) instead of lines on standard
//!   error. The crate prints nothing else by itself.
//!
//! With both compiled out (`default-features = false`) a `Mutex<()>` is as
//! small as parking_lot's (1 byte; a test checks it), `Lock` and `Event`
//! are 1 byte, the hooks are gone, and names are not kept: `name()` returns
//! `None` on every primitive, and `Debug` leaves the name out. Uncontended
//! `lock`+unlock then took 18.3 and 21.9 ns against parking_lot's 18.9 and
//! 21.3 ns. The crate builds without Linux-only code (checked for
//! `x86_64-apple-darwin`).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(all(bingfa_loom, not(feature = "loom")))]
compile_error!("`--cfg bingfa_loom` is the model-checking build and needs the internal `loom` feature too: run `cargo xtask loom`");
mod barrier;
mod condition;
mod condvar;
#[cfg(feature = "detect")]
pub mod deadlock;
pub mod error;
mod event;
mod instrument;
mod lock;
#[cfg(all(test, bingfa_loom))]
mod loom_tests;
mod mutex;
#[doc = include_str!("../PARITY.md")]
pub mod parity {}
pub mod raw;
mod rlock;
mod semaphore;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condition::Condition;
pub use condvar::{Condvar, WaitGuard};
pub use error::{BrokenBarrier, Error, Timeout, WouldBlock};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use mutex::{Mutex, MutexGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
