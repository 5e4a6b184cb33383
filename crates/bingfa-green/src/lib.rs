//! Green threads with the semantics of Python's `greenlet` and `gevent`:
//! symmetric [`Greenlet`]s, [`Generator`]s, and a [`Hub`] per OS thread that
//! runs green threads with timers, green sync ([`sync`]) and green IO
//! ([`net`]).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bingfa_green::{joinall, run, sleep, spawn};
//!
//! // The course's gevent lesson: sleeping 1, 3 and 5 (here 10, 30, 50 ms)
//! // together takes the longest one, not the sum.
//! let elapsed = run(|| {
//!     let start = Instant::now();
//!     let hs: Vec<_> = [10, 30, 50]
//!         .map(|ms| spawn(move || { sleep(Duration::from_millis(ms)); ms }))
//!         .into_iter()
//!         .collect();
//!     joinall(&hs);
//!     assert_eq!(hs.iter().map(|h| h.value().unwrap()).sum::<u64>(), 90);
//!     start.elapsed()
//! })
//! .unwrap();
//! assert!(elapsed < Duration::from_millis(90));
//! ```
//!
//! # greenlet and gevent names
//!
//! | Python | here |
//! |---|---|
//! | `greenlet.greenlet`, `switch`, `throw`, `parent`, `dead`, `getcurrent()` | [`Greenlet`], [`switch`](Greenlet::switch), [`throw`](Greenlet::throw), [`parent`](Greenlet::parent) / [`set_parent`](Greenlet::set_parent), [`is_dead`](Greenlet::is_dead), [`Greenlet::current`] |
//! | `greenlet.GreenletExit` (`g.throw()`, collection) | [`GreenletExit`] ([`Greenlet::kill`], dropping the last handle) |
//! | a generator function, `next`, `send` | [`Generator`], [`resume`](Generator::resume), [`send`](Generator::send) |
//! | `gevent.spawn`, `Greenlet(...)` | [`spawn`], [`Builder`] |
//! | `g.join()`, `g.get()`, `g.join(timeout)`, `g.value`, `g.successful()`, `g.dead` | [`Handle::join`], [`Handle::join_timeout`], [`Handle::value`], [`Handle::successful`], [`Handle::is_dead`] |
//! | `g.kill()`, `g.kill(block=False)`, `g.kill(exception)` | [`Handle::kill`], [`Handle::kill_nowait`], [`Handle::kill_with`] (and [`Handle::try_kill`]) |
//! | `g.link`, `link_value`, `link_exception`, `rawlink`, `unlink`, `has_links` | [`Handle::link`], [`Handle::link_value`], [`Handle::link_exception`], [`Handle::rawlink`], [`Handle::unlink`], [`Handle::has_links`] |
//! | `gevent.joinall(gs, timeout, raise_error, count)`, `gevent.killall` | [`joinall`], [`joinall_timeout`], [`JoinAll`], [`killall`] |
//! | `gevent.sleep`, `sleep(0)` / `idle` | [`sleep`], [`yield_now`] |
//! | `gevent.Timeout`, `start`, `start_new`, `cancel`, `pending`, `with`, `with_timeout` | [`Timeout`], [`Timeout::start`], [`Timeout::start_new`], [`Timeout::cancel`], [`Timeout::pending`], [`Timeout::run`] / [`Timeout::catch`], [`with_timeout`] |
//! | `gevent.exceptions.LoopExit` | [`Error::LoopExit`] |
//! | `gevent.get_hub()`, the hub's loop | [`Hub`], [`run`] |
//! | `gevent.socket`, `gevent.select.select` / `poll` | [`net`], [`net::select`] |
//! | the hub's threadpool, `loop.run_until_complete` | [`block_in_thread`], [`block_on`] |
//! | `gevent.local.local` | [`green_local!`], [`GreenLocal`] |
//! | `gevent.event`, `gevent.lock`, `gevent.queue`, `gevent.pool` | [`sync`] |
//!
//! # Python parity
//!
//! greenlet's and gevent's own tests are ported one by one (`tests/upstream_*.rs`);
//! the module [`parity`] (the crate's `PARITY.md`) lists every upstream
//! test as ported, differing by design (and why) or not applicable (and
//! why). The green sync types have their own table, `PARITY-sync.md`.
//!
//! # Features
//!
//! One, off by default: **`tracing`** turns the reports of the watchdog's
//! default printer ([`Hub::watchdog`]) into `tracing` events (target
//! `bingfa_green::watchdog`, level WARN) instead of lines on standard
//! error. The crate prints nothing else by itself, except the message
//! before it aborts when it cannot protect a stack.
//!
//! # Caveats (differences from Python, and limits)
//!
//! - **No migration.** A green thread runs on its hub's OS thread from
//!   start to end, so `thread_local!` values are stable across switches
//!   (all green threads of a hub share them; [`green_local!`] gives each
//!   green thread its own value, Python's `gevent.local.local`). Handles, sockets, greenlets
//!   and generators are `!Send`. Scale out with one hub per OS thread and
//!   one process per core on one port ([`net::TcpListener::bind_reuseport`]).
//! - **Blocking calls block the whole hub.** `std::thread::sleep`, blocking
//!   file or socket IO, a long computation: use [`block_in_thread`], the
//!   green types, or [`yield_now`] in long loops. [`Hub::watchdog`] names
//!   the green thread that hogs its hub.
//! - **Stacks** are carved from large `MAP_NORESERVE` regions (only
//!   touched pages cost memory), each with a guard page, and pooled per OS
//!   thread for reuse; a green thread takes its stack when it first runs
//!   and gives it back when it ends, so short green threads spawned in bulk
//!   share a few warm stacks. Default [`DEFAULT_STACK_SIZE`] (256 KiB of address
//!   space), settable per hub ([`Hub::stack_size`]) and per green thread
//!   ([`Builder::stack_size`]). An overflow aborts the process with
//!   `green thread 'NAME' overflowed its stack of N KiB`, never silently
//!   corrupts memory.
//! - **How many live green threads.** Linux allows `vm.max_map_count`
//!   (65 530 by default) memory mappings per process. On Linux 6.13 and
//!   later the guard page is a page-table marker
//!   (`madvise(MADV_GUARD_INSTALL)`) that leaves the stack's mapping whole,
//!   and the kernel merges neighbouring stacks into a few mappings: 100 000
//!   and more green threads (and generators and greenlets) fit, each with
//!   its guard page, limited by memory (an idle one is resident in about
//!   5 KiB: one touched stack page and its task; `cargo bench --bench
//!   memory`). On older kernels the guard page is `PROT_NONE`, which
//!   splits the mapping: two mappings per stack, a ceiling near 32 000 per
//!   process. No sound layout does better there: a fault between two stacks
//!   needs a protection change or a hole, each a mapping boundary; stacks
//!   without one overflow silently into each other; and moving stacks
//!   (copying them in and out) breaks pointers into a switched-out stack.
//!   Past the ceiling, [`Builder::spawn`] returns [`Error::OutOfStacks`]
//!   (and [`spawn`] panics with that message), which names
//!   `vm.max_map_count` and the fixes; nothing crashes. Raise the limit
//!   (`sysctl vm.max_map_count=262144`) or use several processes.
//! - **A hub that can only wait for ever says so (LoopExit).** When every
//!   green thread of a hub waits and nothing can wake one (no timer, no
//!   socket, no async sleep, no other OS thread that could end a wait on a
//!   `Send + Sync` primitive), the main green thread's blocking call gets
//!   [`Error::LoopExit`], naming what it and each other green thread wait
//!   on, instead of the hub hanging (Python: `gevent.exceptions.LoopExit`).
//!   Every blocking wait takes part: joins, [`block_on`], and the waits of
//!   the [`sync`] objects. A call that returns a `Result` returns the
//!   error (`AsyncResult::get`, the queues' and `Channel`'s `get`, `put`
//!   (with the item back) and `peek`); one that returns none
//!   (`Event::wait`, `Semaphore::acquire`, `Lock::lock`, `RLock::lock`,
//!   `AsyncResult::wait`, `Queue::join`, queue iteration, `Group::join`,
//!   a `Pool`'s `spawn` waiting for a slot, `sync::wait`, [`block_on`])
//!   unwinds its green thread with it, so that thread's `join` (or [`run`],
//!   for the main one) returns it. A wait with a timeout never gets it (its
//!   timer can end it). The `Send + Sync` objects may be held by another
//!   OS thread: while another OS thread lives that might end such a wait,
//!   the hub cannot know that nobody will, and keeps waiting (looking
//!   again, at most once a second, whether that thread is gone). A plain
//!   OS thread waiting on a green object never gets a LoopExit.
//! - **Kill and Timeout unwind.** A killed green thread, or one whose
//!   [`Timeout`] expired, unwinds from its switch point with a private
//!   panic payload (destructors run); a `catch_unwind` in user code can
//!   see it and should re-raise it.
//! - **`panic = "abort"`.** Kills, [`Timeout`]s and dropping a suspended
//!   greenlet or generator unwind a stack, and in a build with
//!   `panic = "abort"` an unwind aborts the process. There (detected at
//!   compile time, `cfg(panic = "abort")`) those calls refuse instead:
//!   [`Timeout::start`], [`Timeout::run`] and [`with_timeout`] return
//!   [`Error::NeedsUnwind`] (without running the code);
//!   [`Handle::try_kill`] returns it for a green thread that has started
//!   (one not yet started is killed: it never runs), while
//!   [`Handle::kill`], `kill_nowait`, `kill_with`, [`killall`] and
//!   [`Greenlet::kill`] panic with that message (which aborts, saying
//!   why); what cannot refuse, a drop, leaks: a suspended greenlet or
//!   generator dropped, or a green thread still running when [`Hub::run`]
//!   returns, keeps its stack mapped for ever and its destructors never
//!   run. `examples/panic_abort.rs` checks all of this in both builds.
//! - **Greenlets and generators are not hub-aware:** a blocking green call
//!   inside them panics.
//! - **Miri** cannot run this crate (context switching and `mmap`); the
//!   concurrency of the cross-thread wake queue is checked with loom.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(all(bingfa_loom, not(feature = "loom")))]
compile_error!("`--cfg bingfa_loom` is the model-checking build and needs the internal `loom` feature too: run `cargo xtask loom`");

// The hub polls with epoll (through mio) and Linux-only poll flags, and the
// stacks use Linux's mmap flags and guard pages: say so once, up front, on
// any other target instead of a list of missing names.
#[cfg(not(target_os = "linux"))]
compile_error!("bingfa-green supports Linux only: its hub and stacks use Linux-only system calls and flags (epoll, POLLRDHUP, MAP_STACK, MADV_GUARD_INSTALL); bingfa-sync and bingfa-queue are the portable crates");
// Every item of the crate exists on Linux only, so that another target
// gets the one error above and not a list of missing Linux names after it.
macro_rules! linux_only {
    ($($item:item)*) => { $( #[cfg(target_os = "linux")] $item )* };
}

linux_only! {
    mod blocking;
    mod error;
    mod fiber;
    mod generator;
    mod greenlet;
    mod handle;
    mod hub;
    mod joinall;
    mod link;
    mod local;
    pub mod net;
    #[doc = include_str!("../PARITY.md")]
    pub mod parity {}
    mod overflow;
    mod remote;
    mod sched;
    mod stack;
    pub mod sync;
    mod timeout;
    mod watchdog;

    pub use blocking::{block_in_thread, block_on, sleep_async, SleepAsync};
    pub use error::{Error, PanicPayload, Result};
    pub use generator::{Co, Generator, GeneratorState};
    pub use greenlet::{Greenlet, GreenletExit};
    pub use handle::{joinall, joinall_timeout, Handle};
    pub use hub::{
        current_name, in_green_thread, live_green_threads, run, sleep, spawn, yield_now, Builder, Hub,
    };
    pub use joinall::{killall, JoinAll};
    pub use link::{Finished, LinkId};
    pub use local::GreenLocal;
    #[doc(hidden)]
    pub use stack::__force_mprotect_guards;
    pub use stack::{live_stacks, trim_stack_pool, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
    pub use timeout::{with_timeout, Timeout};
    pub use watchdog::WatchdogReport;
}
