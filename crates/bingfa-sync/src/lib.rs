//! # bingfa-sync
//!
//! Thread primitives with the semantics of Python's `threading` module, and a
//! deadlock detector.
//!
//! (Tutorial: being written.)

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

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
