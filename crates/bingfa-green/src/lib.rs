//! Green threads (work in progress).
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod blocking;
mod error;
mod fiber;
mod generator;
mod greenlet;
mod handle;
mod hub;
pub mod net;
mod overflow;
mod remote;
mod sched;
mod stack;
pub mod sync;
mod timeout;
mod watchdog;

pub use blocking::{block_in_thread, block_on, sleep_async, SleepAsync};
pub use error::{Error, Result};
pub use generator::{Co, Generator, GeneratorState};
pub use greenlet::Greenlet;
pub use handle::{joinall, joinall_timeout, Handle};
pub use hub::{current_name, in_green_thread, live_green_threads, run, sleep, spawn, yield_now, Builder, Hub};
pub use stack::{live_stacks, trim_stack_pool, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
pub use timeout::{with_timeout, Timeout};
pub use watchdog::WatchdogReport;
