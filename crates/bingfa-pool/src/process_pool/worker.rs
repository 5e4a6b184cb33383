//! The worker process's side of the process pool: the messages on a
//! worker's pipe, the monomorphic glue that decodes a task's argument,
//! calls its `fn(A) -> R` and encodes the result, and the worker's loop.
//!
//! # Protocol (one duplex link per worker: a `bingfa_process::Pipe`, or a
//! framed Unix stream for fork-server workers; see `link`)
//!
//! ```text
//! worker -> parent   Ready | InitFailed(message)       once, after the initializer
//! parent -> worker   Task { call, entry, args }         at most one outstanding
//! worker -> parent   Done(Ok(result bytes) | Err(Failure)) one per Task, in order
//! parent -> worker   Exit                               retire (max_tasks_per_child, shutdown)
//! ```
//!
//! `call` and `entry` are [`FnRef`] offsets: `call` names a [`Call`]
//! instance ([`call_one`] or [`call_chunk`] for the task's `A` and `R`),
//! `entry` the user's `fn(A) -> R`. Both were made in the parent, which is
//! the same executable (a forked copy, or a spawned child whose executable
//! fingerprint `bingfa_process::spawn` checked).

use std::panic::{catch_unwind, AssertUnwindSafe};

use bingfa_process::{FnRef, Pipe};

use super::codec;
use super::link::{Link, LinkError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{panic_message, Error};

/// A message on a worker's pipe (both directions; see the module docs).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Msg {
    /// Parent to worker: run `entry` on `args` through `call`.
    Task {
        /// [`FnRef<Call>`] raw offset.
        call: u64,
        /// [`FnRef`] raw offset of the user's function.
        entry: u64,
        /// The argument (or chunk of arguments), encoded.
        args: Vec<u8>,
    },
    /// Parent to worker: exit now (the worker is idle).
    Exit,
    /// Worker to parent: the initializer ran; tasks may come.
    Ready,
    /// Worker to parent: the initializer panicked with this message; the
    /// worker exits.
    InitFailed(String),
    /// Worker to parent: the outcome of the task just sent: the encoded
    /// result, or why there is none.
    Done(Result<Vec<u8>, Failure>),
}

/// Why a task (or one item of a chunk) has no result, as the worker saw it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// The function panicked with this message.
    Panicked(String),
    /// The argument could not be deserialized, or the result serialized
    /// or sent (too large for the pipe).
    Serialization(String),
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::Panicked(message) => Error::Panicked { message },
            Failure::Serialization(message) => Error::Serialization { message },
        }
    }
}

/// The glue a worker calls for one task: `(entry, args) -> outcome`.
pub(crate) type Call = fn(u64, Vec<u8>) -> Result<Vec<u8>, Failure>;

/// What a spawned worker receives as its entry point's argument.
#[derive(Serialize, Deserialize)]
pub(crate) struct SpawnArgs {
    pub(crate) pipe: Pipe<Msg>,
    pub(crate) init: Option<FnRef<fn()>>,
}

/// Runs `entry` on one decoded argument, catching its panic.
fn run_one<A: DeserializeOwned, R>(f: fn(A) -> R, arg: A) -> Result<R, Failure> {
    catch_unwind(AssertUnwindSafe(|| f(arg))).map_err(|p| Failure::Panicked(panic_message(&*p)))
}

/// Encodes a result (a `Serialize` impl that panics is a failed
/// serialization too).
fn encode_result<R: Serialize>(r: &R) -> Result<Vec<u8>, Failure> {
    match catch_unwind(AssertUnwindSafe(|| codec::encode(r))) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(Failure::Serialization(format!(
            "could not serialize the task's result: {e}"
        ))),
        Err(p) => Err(Failure::Serialization(format!(
            "serializing the task's result panicked: {}",
            panic_message(&*p)
        ))),
    }
}

/// Decodes an argument (a `Deserialize` impl that panics is a failed
/// deserialization too).
fn decode_args<A: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<A, Failure> {
    match catch_unwind(AssertUnwindSafe(|| codec::decode(bytes))) {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(e)) => Err(Failure::Serialization(format!(
            "could not deserialize the task's {what}: {e}"
        ))),
        Err(p) => Err(Failure::Serialization(format!(
            "deserializing the task's {what} panicked: {}",
            panic_message(&*p)
        ))),
    }
}

/// The user's function named by `entry`.
///
/// # Safety
/// `entry` must be `FnRef::<fn(A) -> R>::new(..).into_raw()` made in this
/// executable (see the module docs).
unsafe fn entry_fn<A, R>(entry: u64) -> fn(A) -> R {
    // SAFETY: forwarded to the caller.
    unsafe { FnRef::<fn(A) -> R>::from_raw(entry).get() }
}

/// [`Call`] for one argument: decode `A`, call, encode `R`.
pub(crate) fn call_one<A: DeserializeOwned, R: Serialize>(
    entry: u64,
    args: Vec<u8>,
) -> Result<Vec<u8>, Failure> {
    let arg: A = decode_args(&args, "argument")?;
    // SAFETY: the parent built this task with `call_one::<A, R>` as `call`
    // and a `fn(A) -> R` as `entry` (ProcessPool::submit), in this
    // executable.
    let f = unsafe { entry_fn::<A, R>(entry) };
    let r = run_one(f, arg)?;
    encode_result(&r)
}

/// [`Call`] for a chunk: decode `Vec<A>`, call on each item (each panic
/// caught on its own), encode each result on its own, so that one item's
/// failure fails only that item.
pub(crate) fn call_chunk<A: DeserializeOwned, R: Serialize>(
    entry: u64,
    args: Vec<u8>,
) -> Result<Vec<u8>, Failure> {
    let items: Vec<A> = decode_args(&args, "arguments")?;
    // SAFETY: as in `call_one` (ProcessPool::map_chunked pairs
    // `call_chunk::<A, R>` with a `fn(A) -> R`).
    let f = unsafe { entry_fn::<A, R>(entry) };
    let results: Vec<Result<Vec<u8>, Failure>> = items
        .into_iter()
        .map(|item| encode_result(&run_one(f, item)?))
        .collect();
    codec::encode(&results)
        .map_err(|e| Failure::Serialization(format!("could not serialize the chunk: {e}")))
}

/// The entry point of a worker started with the spawn start method.
pub(crate) fn spawned_main(args: SpawnArgs) {
    run(Link::Pipe(args.pipe), args.init);
}

/// The worker's life: initializer, `Ready`, then one task at a time until
/// `Exit` or until the parent's end closes.
pub(crate) fn run(pipe: Link, init: Option<FnRef<fn()>>) {
    if let Some(init) = init {
        // SAFETY: the parent made it with `FnRef::new` of a `fn()` (the
        // builder's initializer) in this executable.
        let init = unsafe { init.get() };
        if let Err(p) = catch_unwind(init) {
            let _ = pipe.send(&Msg::InitFailed(panic_message(&*p)));
            return;
        }
    }
    if pipe.send(&Msg::Ready).is_err() {
        return;
    }
    loop {
        let (call, entry, args) = match pipe.recv(None) {
            Ok(Msg::Task { call, entry, args }) => (call, entry, args),
            // Exit, the parent gone, or a damaged stream: end.
            _ => return,
        };
        // SAFETY: `call` is a `FnRef<Call>` the parent made of `call_one` or
        // `call_chunk` (a `Call`) in this executable.
        let call = unsafe { FnRef::<Call>::from_raw(call).get() };
        let outcome = call(entry, args);
        match pipe.send(&Msg::Done(outcome)) {
            Ok(()) => {}
            // Too large, or not encodable (nothing was sent): say so instead.
            Err(LinkError::Unsendable(e)) => {
                let msg = Msg::Done(Err(Failure::Serialization(format!(
                    "could not send the task's result: {e}"
                ))));
                if pipe.send(&msg).is_err() {
                    return;
                }
            }
            // The parent gone, or the stream damaged: end.
            Err(_) => return,
        }
    }
}
