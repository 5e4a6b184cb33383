//! Green synchronisation: events, results, locks, semaphores, queues,
//! groups and pools. A wait switches to other green threads instead of
//! blocking the OS thread.
//!
//! The objects that hold no green thread ([`Event`], [`AsyncResult`],
//! [`Semaphore`], [`Lock`], [`RLock`], the queues and [`Channel`]) are
//! `Send + Sync` (for a `Send` payload): an OS thread outside any hub, or
//! a green thread of another hub, may set, release or put, and that wakes
//! the waiting green thread on its own hub through the hub's cross-thread
//! queue. Waiting on them from a plain OS thread blocks that thread, so
//! they also join the green and the thread worlds. [`Group`] and [`Pool`]
//! hold green threads' handles and stay on their hub (`!Send`).
//!
//! A wait cut short by a kill or a [`Timeout`](crate::Timeout) takes
//! nothing and loses nothing: a wake-up it was given passes on to the next
//! waiter, a blocked put takes its item back, and a put whose item was
//! taken just before reports success (the interrupt then comes at the next
//! switch point).
//!
//! # gevent names
//!
//! | gevent | here |
//! |---|---|
//! | `gevent.event.Event` | [`Event`] (`set`, `clear`, `is_set`, `wait`, `wait_timeout`) |
//! | `gevent.event.AsyncResult` | [`AsyncResult`] (`set`, `set_exception`, `get`, `get_timeout`, `get_nowait` = `try_get`, `ready`, `successful`, `value`, `exception`) |
//! | `gevent.wait(objects, count, timeout)` | [`wait`], [`wait_timeout`] over [`Waitable`] objects (events, results, green threads' handles, semaphores) |
//! | `gevent.lock.Semaphore`, `BoundedSemaphore` | [`Semaphore::new`], [`Semaphore::bounded`] (`acquire`, `try_acquire`, `acquire_timeout`, `release` → `Result`) |
//! | `gevent.lock.Lock` | [`Lock<T>`](Lock) (the data inside) |
//! | `gevent.lock.RLock` | [`RLock<T>`](RLock) |
//! | `gevent.queue.Queue`, `SimpleQueue`, `JoinableQueue` | [`Queue`] (`put`, `get`, `peek`, their `try_`/`_timeout` forms, `task_done`, `join`, `close` = `shutdown`, iteration) |
//! | `gevent.queue.LifoQueue`, `PriorityQueue` | [`LifoQueue`], [`PriorityQueue`] |
//! | `gevent.queue.Channel` | [`Channel`] (also `Queue::bounded(0)`) |
//! | `queue.Full`, `queue.Empty`, `queue.ShutDown` | [`PutError`] (with the item) holding [`Error::Full`](crate::Error::Full) / `Timeout` / `Closed`; [`Error::Empty`](crate::Error::Empty) |
//! | `gevent.pool.Group` | [`Group`] (`spawn` → `Handle`, `add`, `discard`, `join`, `kill`, `killone`, `members`, `apply`, `apply_async`, `map`, `map_async`, `imap`, `imap_unordered`) |
//! | `gevent.pool.Pool` | [`Pool`] (a bounded group: `free_count`, `wait_available`, `full` = `is_full`; `PoolFull` = `Error::Full`) |
//!
//! Every upstream test of gevent's `test__event.py`, `test__semaphore.py`,
//! `test__lock.py`, `test__queue.py`, `test__pool.py` and
//! `test__greenletset.py` is ported or accounted for in the crate's
//! `PARITY-sync.md`.

mod event;
mod imap;
mod pool;
mod queue;
mod result;
mod rlock;
mod semaphore;
mod wait;
pub(crate) mod waiter;

pub use event::Event;
pub use imap::{IMap, IMapUnordered};
pub use pool::{Group, GroupMember, Pool};
pub use queue::{Channel, Iter, JoinableQueue, LifoQueue, PriorityQueue, PutError, Queue};
pub use result::{AsyncResult, Failure};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{Lock, LockGuard, Semaphore, SemaphorePermit};
pub use wait::{wait, wait_timeout, Waitable};
