//! # bingfa-sync
//!
//! Thread primitives with the semantics of Python's `threading` module, and a
//! deadlock detector ([`deadlock`]).
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
//! let start = Barrier::new(4); // everyone starts selling together
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
//! ```
//!
//! Every blocking call has a `try_` form that never blocks and a `_timeout`
//! form that gives up; a timeout of zero is a `try_`. Errors are one enum,
//! [`Error`].
//!
//! ## Python name -> Rust
//!
//! | Python (`threading`) | bingfa-sync |
//! |---|---|
//! | `Lock()` | [`Mutex::new(data)`](Mutex::new) |
//! | `lock.acquire()` / `with lock:` | [`Mutex::lock`] -> [`MutexGuard`] |
//! | `lock.acquire(blocking=False)` | [`Mutex::try_lock`] |
//! | `lock.acquire(timeout=t)` | [`Mutex::lock_timeout`] |
//! | `lock.release()` | drop the guard |
//! | `lock.locked()` | [`Mutex::is_locked`] |
//! | `RLock()` | [`RLock::new(data)`](RLock::new) (same methods, guard gives `&T`) |
//! | `Semaphore(n)` / `BoundedSemaphore(n)` | [`Semaphore::new(n)`](Semaphore::new) / [`Semaphore::bounded(n)`](Semaphore::bounded) |
//! | `sem.acquire()` / `with sem:` | [`Semaphore::acquire`] -> [`SemaphorePermit`] |
//! | `sem.release(n)` | [`Semaphore::release`], [`Semaphore::release_n`] |
//! | `Event()`: `set`, `clear`, `is_set`, `wait(t)` | [`Event`]: [`set`](Event::set), [`clear`](Event::clear), [`is_set`](Event::is_set), [`wait`](Event::wait), [`wait_timeout`](Event::wait_timeout) |
//! | `Condition()`: `wait`, `wait_for`, `notify(n)`, `notify_all` | [`Condition`]: [`wait`](Condition::wait), [`wait_while`](Condition::wait_while), [`notify`](Condition::notify), [`notify_all`](Condition::notify_all) |
//! | `Barrier(n)`: `wait`, `abort`, `reset`, `broken`, `n_waiting` | [`Barrier`]: [`wait`](Barrier::wait), [`abort`](Barrier::abort), [`reset`](Barrier::reset), [`is_broken`](Barrier::is_broken), [`n_waiting`](Barrier::n_waiting) |
//! | `BrokenBarrierError` | [`Error::Broken`] |
//! | `ValueError: Semaphore released too many times` | [`Error::ReleasedTooMany`] |
//!
//! ## Differences from Python
//!
//! - **The data lives in the lock.** `Mutex<T>`, `RLock<T>` and
//!   `Condition<T>` own what they protect; you cannot forget to lock.
//! - **Release is a drop.** Guards are released when they go out of scope,
//!   also when a panic unwinds; they cannot be sent to another thread, so a
//!   lock is always released by the thread that took it. An `RLock` is
//!   therefore released only by its owner and exactly as many times as it
//!   was taken, by construction (Python checks this at run time and raises
//!   `RuntimeError`).
//! - **Semaphores** keep a free-standing [`Semaphore::release`] for the
//!   producer/consumer pattern, callable from any thread; it returns an
//!   error instead of raising.
//! - **`wait_while` is `wait_for` negated**: it waits *while* the closure is
//!   true (Rust's `Condvar` convention); Python waits *for* the predicate.
//! - **`notify` does not require the lock**, and returns how many threads
//!   it woke.
//! - **`Barrier`** has no `action` callable and no default timeout; the
//!   [`BarrierWaitResult`] says which thread is the leader (the last to
//!   arrive), which can run the action.
//! - **No poisoning**: a panic while holding a lock releases it.
//! - A zero timeout is a `try_` everywhere (Python agrees), and a `_timeout`
//!   call always reports [`Error::Timeout`] when it gives up, even for zero.
//!
//! ## How it is built
//!
//! Each primitive is a few atomic words plus parking on their address in
//! the global parking lot of `parking_lot_core`, like parking_lot's own
//! locks, through the [`raw`] layer, which switches to loom's types under
//! `--cfg bingfa_loom` so that the loom models check this very code. When
//! deadlock detection and tracing are off, the only extra work on a lock
//! operation is one relaxed atomic load.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(all(bingfa_loom, not(feature = "loom")))]
compile_error!("`--cfg bingfa_loom` is the model-checking build and needs the internal `loom` feature too: run `cargo xtask loom`");
mod barrier;
mod condition;
pub mod deadlock;
pub mod error;
mod event;
mod instrument;
#[cfg(all(test, bingfa_loom))]
mod loom_tests;
mod mutex;
pub mod raw;
mod rlock;
mod semaphore;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condition::Condition;
pub use error::Error;
pub use event::Event;
pub use mutex::{Mutex, MutexGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
