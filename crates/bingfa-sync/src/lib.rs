//! # bingfa-sync
//!
//! Thread primitives with the semantics of Python's `threading` module, and a
//! deadlock detector.
//!
//! (Crate docs with a tutorial and a runnable example: to be written with the
//! primitives.)

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod deadlock;
pub mod error;
mod instrument;
pub mod raw;

pub use error::Error;
