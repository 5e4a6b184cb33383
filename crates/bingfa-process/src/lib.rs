//! Processes with Python's `multiprocessing` semantics (work in progress).

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod codec;
mod error;
mod process;
mod queue;
mod ring;
mod shm;
mod sys;

pub use error::{Error, LockError, PutError};
pub use process::child::fork;
pub use process::spawn::{init, spawn};
#[doc(hidden)]
pub use process::spawn::TEST_ENTRY;
pub use process::{current_process, Builder, ExitStatus, Process, ProcessInfo};
pub use queue::{Queue, DEFAULT_MAX_MESSAGE};
