//! [`Channel`]: a green queue of capacity 0.

use std::fmt;
use std::time::Duration;

use super::core::{Core, Fifo, Wait};
use super::{Iter, PutError};
use crate::error::Error;

/// A queue of capacity 0, a rendezvous: [`put`](Self::put) waits until a
/// green thread [`get`](Self::get)s its item, and then the getter runs
/// before the putter goes on; [`try_put`](Self::try_put) succeeds only
/// when a getter is waiting, [`try_get`](Self::try_get) only when a
/// putter is. It is [`Queue::bounded(0)`](super::Queue::bounded) with the part
/// of the API that makes sense without a buffer.
///
/// Python: `gevent.queue.Channel`.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use bingfa_green::{run, spawn, sync::Channel};
///
/// run(|| {
///     let ch = Rc::new(Channel::new());
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let (c, l) = (ch.clone(), log.clone());
///     let getter = spawn(move || {
///         for _ in 0..2 {
///             let v = c.get().unwrap();
///             l.borrow_mut().push(v);
///         }
///     });
///     for v in ["hello", "world"] {
///         ch.put(v).unwrap(); // returns once the getter has it
///         log.borrow_mut().push("sent");
///     }
///     getter.join().unwrap();
///     assert_eq!(*log.borrow(), ["hello", "sent", "world", "sent"]);
/// })
/// .unwrap();
/// ```
pub struct Channel<T> {
    core: Core<T, Fifo<T>>,
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel::new()
    }
}

impl<T> Channel<T> {
    /// A channel.
    ///
    /// Python: `gevent.queue.Channel()`.
    pub fn new() -> Channel<T> {
        Channel {
            core: Core::new(Some(0)),
        }
    }

    /// Hands `item` to a getter, waiting until one takes it.
    ///
    /// Python: `channel.put(item)`.
    ///
    /// # Errors
    /// [`PutError`] with [`Error::Closed`] and the item if the channel
    /// is closed before a getter took it.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.core.put(item, Wait::Forever)
    }

    /// Hands `item` to a getter that is waiting now. If that getter is
    /// cancelled before it runs, the item goes to the next getter (it is
    /// never lost).
    ///
    /// Python: `channel.put_nowait(item)`.
    ///
    /// # Errors
    /// [`PutError`] with the item: [`Error::Full`] when no getter waits,
    /// [`Error::Closed`] when closed.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        self.core.put(item, Wait::No)
    }

    /// As [`put`](Self::put), waiting at most `timeout` for a getter.
    ///
    /// Python: `channel.put(item, timeout=t)`.
    ///
    /// # Errors
    /// [`PutError`] with the item: [`Error::Timeout`], [`Error::Closed`].
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.core.put(item, Wait::For(timeout))
    }

    /// Takes an item from a putter, waiting for one.
    ///
    /// Python: `channel.get()`.
    ///
    /// # Errors
    /// [`Error::Closed`] once closed (and no item handed over by
    /// `try_put` is left).
    pub fn get(&self) -> Result<T, Error> {
        self.core.get(Wait::Forever)
    }

    /// Takes the item of a putter that is waiting now.
    ///
    /// Python: `channel.get_nowait()`.
    ///
    /// # Errors
    /// [`Error::Empty`] when no putter waits, [`Error::Closed`].
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, Error> {
        self.core.get(Wait::No)
    }

    /// As [`get`](Self::get), waiting at most `timeout`.
    ///
    /// Python: `channel.get(timeout=t)`.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Closed`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.core.get(Wait::For(timeout))
    }

    /// Always 0: a channel holds no item (an item handed over by
    /// [`try_put`](Self::try_put) to a getter that was then cancelled waits
    /// for the next getter, counted in [`balance`](Self::balance)).
    ///
    /// Python: `channel.qsize()`.
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Always `true` (see [`len`](Self::len)).
    ///
    /// Python: `channel.empty()`.
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Always `true`: a put waits for a getter.
    ///
    /// Python: `channel.full()`.
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        self.core.is_full()
    }

    /// Waiting putters (and items handed over to a getter not yet taken)
    /// minus waiting getters.
    ///
    /// Python: `channel.balance`.
    pub fn balance(&self) -> isize {
        self.core.balance()
    }

    /// Closes the channel: blocked putters fail and get their items back,
    /// getters fail with [`Error::Closed`]. Returns whether this call
    /// closed it.
    #[doc(alias = "shutdown")]
    pub fn close(&self) -> bool {
        self.core.close()
    }

    /// Whether it is closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// An iterator that [`get`](Self::get)s items until the channel is
    /// closed.
    ///
    /// Python: `for item in channel:`.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            next: Box::new(move || self.get().ok()),
        }
    }
}

impl<'a, T> IntoIterator for &'a Channel<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("balance", &self.balance())
            .field("closed", &self.is_closed())
            .finish()
    }
}
