//! Green synchronisation: `Event`, `Semaphore`, `Lock`, `Queue`, `Group`,
//! `Pool`. A wait switches to other green threads instead of blocking the
//! OS thread.
//!
//! `Event`, `Semaphore`, `Lock` and `Queue` are `Send + Sync`: an OS
//! thread outside any hub (or a green thread of another hub) may set,
//! release or put, and it wakes the waiting green thread on its own hub
//! through that hub's cross-thread queue. Waiting on them from a plain OS
//! thread blocks that thread, so they also join green and thread worlds.
//!
//! Python: `gevent.event`, `gevent.lock`, `gevent.queue`, `gevent.pool`.

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
