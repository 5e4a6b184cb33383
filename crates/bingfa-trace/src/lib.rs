//! # bingfa-trace
//!
//! The instrumentation switchboard shared by every bingfa crate, an event
//! recorder, a terminal timeline and a Chrome trace writer.
//!
//! Every primitive of bingfa checks [`active`] once per operation: a single
//! relaxed atomic load. When it returns zero (the default) nothing else
//! happens. When a flag is on, the primitive takes its instrumented path:
//! [`flags::TRACE`] feeds this crate's recorder, [`flags::DEADLOCK`] feeds
//! `bingfa_sync::deadlock`.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod flags;

pub use flags::active;
pub mod record;

pub use record::{record, record_in, start, stop, Event, EventKind};
