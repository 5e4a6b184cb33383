//! Processes with Python's `multiprocessing` semantics (work in progress).

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod codec;
mod fnref;
mod error;
mod lock;
mod pipe;
mod process;
mod queue;
mod ring;
mod semaphore;
mod shm;
mod sys;
mod value;

#[cfg(all(test, bingfa_loom))]
mod loom_tests;

pub use error::{Error, LockError, PutError};
pub use fnref::{FnPtr, FnRef};
pub use process::child::fork;
pub use process::spawn::{init, spawn};
#[doc(hidden)]
pub use process::spawn::TEST_ENTRY;
pub use process::{current_process, Builder, ExitStatus, Process, ProcessInfo};
pub use lock::{Lock, LockGuard};
pub use pipe::{Pipe, MAX_PIPE_MESSAGE};
pub use queue::{Queue, DEFAULT_MAX_MESSAGE};
pub use semaphore::{Event, Semaphore, SemaphorePermit};
pub use value::{Array, ArrayGuard, Plain, Value, ValueGuard};
