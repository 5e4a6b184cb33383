//! [`Task`]: a function known by a stable name and version, and the
//! [`Registry`] of the functions a worker runs.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bingfa_pool::{Future, ProcessPool};
use bingfa_process::{codec, FnRef};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest encoded argument or result (Redis's own limit for one value
/// is 512 MiB).
pub(crate) const MAX_PAYLOAD: usize = 256 << 20;

/// What a worker's process computes for one task: the encoded result (a
/// frame of `R`, or for a chunk of `Vec<Result<R, String>>`), or why the
/// argument could not be decoded.
pub(crate) type Outcome = Result<Vec<u8>, String>;

/// A function that tasks name by a stable registered name and version,
/// never by address: the client sends `name`, `version` and the function's
/// signature with the encoded argument, and a worker runs the task only if
/// its [`Registry`] has the same name with the same version and signature.
///
/// Make one with [`Task::new`] (or the [`task!`](crate::task!) macro, which
/// takes the name from the function and the version from your crate's
/// `Cargo.toml`), and use the same `Task` on both sides: the client submits
/// it ([`ClusterPool::submit`](crate::ClusterPool::submit)), the worker
/// registers it ([`Registry::add`]). A client that does not link the
/// function's code can [`declare`](Task::declare) it instead.
///
/// The argument and the result travel encoded with serde (postcard, in a
/// checksummed frame); for several arguments make `A` a tuple.
///
/// Python: a Celery task (`@app.task(name=...)`), a Ray remote function.
///
/// ```
/// use bingfa_cluster::Task;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// static SQUARE: Task<u64, u64> = Task::new("square", square).with_version("2");
/// assert_eq!(SQUARE.name(), "square");
/// assert_eq!(SQUARE.version(), "2");
/// assert_eq!(SQUARE.signature(), "fn(u64) -> u64");
/// ```
#[doc(alias = "app.task")]
#[doc(alias = "shared_task")]
pub struct Task<A, R> {
    name: &'static str,
    version: &'static str,
    f: Option<fn(A) -> R>,
    _types: PhantomData<fn(A) -> R>,
}

impl<A, R> Clone for Task<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for Task<A, R> {}

impl<A, R> fmt::Debug for Task<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("signature", &self.signature())
            .field("has_body", &self.f.is_some())
            .finish()
    }
}

impl<A, R> Task<A, R> {
    /// The task `name` that runs `f`, at version `"0"` (set another with
    /// [`with_version`](Self::with_version)). A closure that captures
    /// nothing coerces to a `fn(A) -> R`.
    ///
    /// `name` is what travels: keep it stable across builds, and unique
    /// among the functions of a pool.
    pub const fn new(name: &'static str, f: fn(A) -> R) -> Self {
        Task {
            name,
            version: "0",
            f: Some(f),
            _types: PhantomData,
        }
    }

    /// The task `name` with argument `A` and result `R`, without its code:
    /// for a client that submits work it does not link. It cannot be
    /// registered ([`Registry::add`] panics).
    ///
    /// Python: Celery's `app.send_task("name", args)`.
    #[doc(alias = "send_task")]
    pub const fn declare(name: &'static str) -> Self {
        Task {
            name,
            version: "0",
            f: None,
            _types: PhantomData,
        }
    }

    /// The same task at `version`: bump it whenever the function's meaning
    /// changes, so that a worker still running the old build refuses the
    /// task with [`Error::Remote`](bingfa_pool::Error::Remote) (kind
    /// `"version-mismatch"`) instead of running the wrong code.
    pub const fn with_version(mut self, version: &'static str) -> Self {
        self.version = version;
        self
    }

    /// The registered name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The version.
    pub const fn version(&self) -> &'static str {
        self.version
    }

    /// The function's signature, `fn(A) -> R` with the types' full names:
    /// carried with every task and checked by the worker with the version.
    pub fn signature(&self) -> String {
        signature::<A, R>()
    }

    /// The function, if this task was made with [`new`](Self::new).
    pub const fn function(&self) -> Option<fn(A) -> R> {
        self.f
    }
}

/// `fn(A) -> R` with the types' full names.
pub(crate) fn signature<A, R>() -> String {
    format!(
        "fn({}) -> {}",
        std::any::type_name::<A>(),
        std::any::type_name::<R>()
    )
}

/// A [`Task`] named after a function, at the version of the calling crate
/// (`CARGO_PKG_VERSION`), or at the version given.
///
/// ```
/// fn cube(x: i64) -> i64 {
///     x * x * x
/// }
///
/// static CUBE: bingfa_cluster::Task<i64, i64> = bingfa_cluster::task!(cube);
/// static CUBE_V2: bingfa_cluster::Task<i64, i64> = bingfa_cluster::task!(cube, version = "2");
/// assert_eq!(CUBE.name(), "cube");
/// assert_eq!(CUBE.version(), env!("CARGO_PKG_VERSION"));
/// assert_eq!(CUBE_V2.version(), "2");
/// ```
///
/// Python: the `@app.task` decorator.
#[macro_export]
macro_rules! task {
    ($f:ident) => {
        $crate::Task::new(::core::stringify!($f), $f)
            .with_version(::core::env!("CARGO_PKG_VERSION"))
    };
    ($f:ident, version = $v:expr) => {
        $crate::Task::new(::core::stringify!($f), $f).with_version($v)
    };
}

/// How a worker's agent hands one task to its process pool: the user's
/// function travels as an [`FnRef`] offset, the argument still encoded.
type Submit = fn(&ProcessPool, u64, Vec<u8>) -> Result<Future<Outcome>, bingfa_pool::Error>;

/// One registered function.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) version: String,
    pub(crate) signature: String,
    /// `FnRef::<fn(A) -> R>::new(f).into_raw()`.
    fref: u64,
    one: Submit,
    chunk: Submit,
}

impl Entry {
    /// Queues one call (or one chunk of calls) in `pool`.
    pub(crate) fn submit(
        &self,
        pool: &ProcessPool,
        chunk: bool,
        args: Vec<u8>,
    ) -> Result<Future<Outcome>, bingfa_pool::Error> {
        if chunk {
            (self.chunk)(pool, self.fref, args)
        } else {
            (self.one)(pool, self.fref, args)
        }
    }
}

/// The functions a [`Worker`](crate::Worker) runs, by name: a task naming
/// a function that is not here, or here at another version or signature,
/// fails with a clear error and nothing is called.
///
/// Python: Celery's task registry (`app.tasks`).
///
/// ```
/// use bingfa_cluster::{Registry, Task};
///
/// fn add((a, b): (i32, i32)) -> i32 {
///     a + b
/// }
///
/// static ADD: Task<(i32, i32), i32> = Task::new("add", add);
/// let mut registry = Registry::new();
/// registry.add(&ADD).register("add-v0-alias", add);
/// assert_eq!(registry.names().collect::<Vec<_>>(), ["add", "add-v0-alias"]);
/// ```
#[doc(alias = "app.tasks")]
#[derive(Clone, Default)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (name, e) in &self.entries {
            m.entry(name, &format_args!("{} {}", e.version, e.signature));
        }
        m.finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `task` (its name, version and signature) and returns
    /// `self` for chaining. A name registered again is replaced.
    ///
    /// # Panics
    /// If `task` was made by [`Task::declare`] (it has no code to run).
    pub fn add<A, R>(&mut self, task: &Task<A, R>) -> &mut Self
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        let Some(f) = task.f else {
            panic!(
                "Registry::add: task `{}` was only declared (Task::declare) and has no code to register",
                task.name
            );
        };
        self.entries.insert(
            task.name.to_owned(),
            Entry {
                version: task.version.to_owned(),
                signature: task.signature(),
                fref: FnRef::new(f).into_raw(),
                one: submit_one::<A, R>,
                chunk: submit_chunk::<A, R>,
            },
        );
        self
    }

    /// Registers `f` under `name` at version `"0"`: the same as
    /// `add(&Task::new(name, f))` for a name known only at run time.
    ///
    /// Python: `app.task(name=name)(f)`.
    pub fn register<A, R>(&mut self, name: &str, f: fn(A) -> R) -> &mut Self
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        self.register_version(name, "0", f)
    }

    /// Registers `f` under `name` at `version`.
    pub fn register_version<A, R>(&mut self, name: &str, version: &str, f: fn(A) -> R) -> &mut Self
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        self.entries.insert(
            name.to_owned(),
            Entry {
                version: version.to_owned(),
                signature: signature::<A, R>(),
                fref: FnRef::new(f).into_raw(),
                one: submit_one::<A, R>,
                chunk: submit_chunk::<A, R>,
            },
        );
        self
    }

    /// The registered names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// `(name, version, signature)` of each registered function, in order.
    pub fn functions(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.entries
            .iter()
            .map(|(n, e)| (n.as_str(), e.version.as_str(), e.signature.as_str()))
    }

    /// How many functions are registered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no function is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }
}

fn submit_one<A: DeserializeOwned + 'static, R: Serialize + 'static>(
    pool: &ProcessPool,
    fref: u64,
    args: Vec<u8>,
) -> Result<Future<Outcome>, bingfa_pool::Error> {
    pool.submit(call_one::<A, R>, (fref, args))
}

fn submit_chunk<A: DeserializeOwned + 'static, R: Serialize + 'static>(
    pool: &ProcessPool,
    fref: u64,
    args: Vec<u8>,
) -> Result<Future<Outcome>, bingfa_pool::Error> {
    pool.submit(call_chunk::<A, R>, (fref, args))
}

/// The user's function behind `fref`.
///
/// # Safety
/// `fref` must be `FnRef::<fn(A) -> R>::new(f).into_raw()` for a function
/// of this executable, made with this very `A` and `R`.
unsafe fn user_fn<A, R>(fref: u64) -> fn(A) -> R {
    // SAFETY: forwarded to the caller.
    unsafe { FnRef::<fn(A) -> R>::from_raw(fref).get() }
}

/// Runs in a worker process: decodes the argument, calls the function (a
/// panic propagates: the process pool fails the task with its message),
/// encodes the result.
fn call_one<A: DeserializeOwned, R: Serialize>((fref, args): (u64, Vec<u8>)) -> Outcome {
    let arg: A = codec::decode_frame(&args).map_err(|e| {
        format!(
            "the argument does not decode as {}: {e}",
            std::any::type_name::<A>()
        )
    })?;
    // SAFETY: `fref` comes from the `Entry` that `Registry::add` /
    // `register_version` made for this same `A` and `R` (the entry stores
    // this very monomorphic glue beside it), in the agent process this
    // worker process was forked from (or a run of the same executable).
    let f = unsafe { user_fn::<A, R>(fref) };
    let r = f(arg);
    let mut out = Vec::new();
    codec::encode_frame(&r, &mut out, MAX_PAYLOAD)
        .map_err(|e| format!("the result could not be encoded: {e}"))?;
    Ok(out)
}

/// As [`call_one`] for a chunk: each item's panic is caught and becomes
/// that item's error, so one bad item fails only itself.
fn call_chunk<A: DeserializeOwned, R: Serialize>((fref, args): (u64, Vec<u8>)) -> Outcome {
    let items: Vec<A> = codec::decode_frame(&args).map_err(|e| {
        format!(
            "the chunk does not decode as Vec<{}>: {e}",
            std::any::type_name::<A>()
        )
    })?;
    // SAFETY: as in `call_one`.
    let f = unsafe { user_fn::<A, R>(fref) };
    let results: Vec<Result<R, String>> = items
        .into_iter()
        .map(|a| catch_unwind(AssertUnwindSafe(|| f(a))).map_err(|p| panic_message(&*p)))
        .collect();
    let mut out = Vec::new();
    codec::encode_frame(&results, &mut out, MAX_PAYLOAD)
        .map_err(|e| format!("the chunk's results could not be encoded: {e}"))?;
    Ok(out)
}

/// The message of a panic payload, as `std` prints it.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a panic payload that is not a string)".to_owned()
    }
}
