//! Green threads (work in progress).
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod error;
mod fiber;
mod generator;
mod greenlet;
mod overflow;
mod stack;

pub use error::{Error, Result};
pub use generator::{Co, Generator, GeneratorState};
pub use greenlet::Greenlet;
pub use stack::{live_stacks, trim_stack_pool, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
