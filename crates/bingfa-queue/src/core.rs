//! The blocking layer shared by the three queues: waiting when full or
//! empty, timeouts, `close`, and the task counter of `task_done`/`join`.
//!
//! It is generic over a [`Flavor`] (the store), so FIFO, LIFO and priority
//! queues share one tested implementation of every wait.

use core::marker::PhantomData;
use core::time::Duration;

use bingfa_sync::raw::atomic::{AtomicU64, Ordering};
use bingfa_sync::raw::{Deadline, ParkResult};

use crate::error::{
    GetError, GetTimeoutError, PutError, PutTimeoutError, TaskDoneError, TryGetError, TryPutError,
};
use crate::raw::waiters::Waiters;
use crate::raw::{seq_cst_atomic_u64, Backoff, CachePadded, Flavor, PopFail, PushFail};

/// How long a blocking call may wait.
#[derive(Clone, Copy)]
enum Wait {
    Forever,
    Until(Deadline),
}

impl Wait {
    /// `None`: do not wait at all (a zero timeout means "try").
    fn from_timeout(timeout: Duration) -> Option<Wait> {
        if timeout.is_zero() {
            return None;
        }
        Some(match Deadline::after(timeout) {
            Some(deadline) => Wait::Until(deadline),
            None => Wait::Forever,
        })
    }

    fn deadline(self) -> Option<Deadline> {
        match self {
            Wait::Forever => None,
            Wait::Until(d) => Some(d),
        }
    }

    fn has_passed(self) -> bool {
        match self {
            Wait::Forever => false,
            Wait::Until(d) => d.has_passed(),
        }
    }
}

/// Why a wait ended without success.
enum Stop {
    Closed,
    Timeout,
}

/// How many `task_done` calls succeeded (unfinished = pushed - done), and
/// a recent reading of the store's push count, so that `task_done` need
/// not read the store's tail (a cache line the producers keep writing)
/// while `done` is below it.
struct Tasks {
    done: AtomicU64,
    /// Some past value of `Flavor::pushed`, so at most the current one
    /// (the count only grows): `done < pushed_seen` proves a task is
    /// unfinished. Any thread may store a fresher (or, racing, an older)
    /// reading; both stay below the truth.
    pushed_seen: AtomicU64,
}

/// A queue's shared state: the store, who waits on it, and the tasks.
pub(crate) struct Core<T, F> {
    flavor: F,
    /// Consumers waiting for an item.
    not_empty: CachePadded<Waiters>,
    /// Producers waiting for room (bounded queues only).
    not_full: CachePadded<Waiters>,
    /// Threads in `join`.
    joiners: Waiters,
    /// The task counter, written by consumers only.
    tasks: CachePadded<Tasks>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T, F: Flavor<T>> Core<T, F> {
    pub(crate) fn new(flavor: F) -> Self {
        Self {
            flavor,
            not_empty: CachePadded(Waiters::new()),
            not_full: CachePadded(Waiters::new()),
            joiners: Waiters::new(),
            tasks: CachePadded(Tasks {
                // Joiners' condition reads it (see `waiters`).
                done: seq_cst_atomic_u64(0),
                pushed_seen: AtomicU64::new(0),
            }),
            _items: PhantomData,
        }
    }

    // ---- put ----

    #[inline]
    pub(crate) fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.push(item, false)
    }

    /// Pushes `item` unless the store is full or closed, waiting only for
    /// another thread's operation in progress ([`PushFail::Pending`]), and
    /// wakes whom the push concerns. `waited`: this call has parked before
    /// (see [`Core::pop`] for why that matters).
    #[inline]
    fn push(&self, mut item: T, mut waited: bool) -> Result<(), TryPutError<T>> {
        let mut backoff = Backoff::new();
        loop {
            match self.flavor.try_push(item) {
                Ok(wake_peers) => {
                    self.not_empty.notify_one();
                    if wake_peers {
                        self.not_full.notify_all();
                    } else if waited && self.has_room() {
                        self.not_full.notify_one();
                    }
                    return Ok(());
                }
                Err(PushFail::Full(back)) => return Err(TryPutError::Full(back)),
                Err(PushFail::Closed(back)) => return Err(TryPutError::Closed(back)),
                Err(PushFail::Panicked(back, panic)) => {
                    // The user's `Ord` panicked: nothing was put. A wake-up
                    // this producer may have taken goes to another one.
                    drop(back);
                    self.not_full.notify_one();
                    std::panic::resume_unwind(panic);
                }
                Err(PushFail::Pending(back, pending)) => {
                    item = back;
                    if backoff.is_completed() {
                        self.not_full.wait(|| pending.is_pending(), None);
                        waited = true;
                    } else {
                        backoff.snooze();
                    }
                }
            }
        }
    }

    /// Whether a producer could push now (used to pass a wake-up on).
    #[inline]
    fn has_room(&self) -> bool {
        let cap = self.flavor.capacity();
        cap == 0 || self.flavor.len() < cap
    }

    #[inline]
    pub(crate) fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, Wait::Forever)
            .map_err(|(item, _)| PutError(item))
    }

    pub(crate) fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        let Some(wait) = Wait::from_timeout(timeout) else {
            return self.try_put(item).map_err(|err| match err {
                TryPutError::Full(item) => PutTimeoutError::Timeout(item),
                TryPutError::Closed(item) => PutTimeoutError::Closed(item),
            });
        };
        self.put_until(item, wait)
            .map_err(|(item, stop)| match stop {
                Stop::Closed => PutTimeoutError::Closed(item),
                Stop::Timeout => PutTimeoutError::Timeout(item),
            })
    }

    fn put_until(&self, mut item: T, wait: Wait) -> Result<(), (T, Stop)> {
        let mut backoff = Backoff::new();
        let mut timed_out = false;
        let mut waited = false;
        loop {
            match self.push(item, waited) {
                Ok(()) => return Ok(()),
                Err(TryPutError::Closed(back)) => return Err((back, Stop::Closed)),
                Err(TryPutError::Full(back)) => item = back,
            }
            if timed_out || wait.has_passed() {
                return Err((item, Stop::Timeout));
            }
            if !backoff.is_completed() {
                // Room may come at once (a consumer is running): spin and
                // yield a little before parking.
                backoff.snooze();
                self.spin_for_room(&mut backoff, wait);
                continue;
            }
            let cap = self.flavor.capacity();
            let result = self.not_full.wait(
                || self.flavor.len() >= cap && !self.flavor.is_closed(),
                wait.deadline(),
            );
            match result {
                // One more try after a timeout: the room may have come with it.
                ParkResult::TimedOut => timed_out = true,
                // There was room by the time we registered: try again (a
                // pop made room, so this is progress, not a spin).
                ParkResult::Invalid => {}
                ParkResult::Unparked(_) => waited = true,
            }
            // Spin again before the next park: after a wake-up, room often
            // comes and goes while consumers are running.
            backoff = Backoff::new();
        }
    }

    /// While a full queue's producer spins, waits for a batch of free
    /// slots ([`Flavor::room_batch`]: for a ring, an eighth of it, at most
    /// 64) rather than for the first one (or until the spinning is over, or
    /// the deadline passes).
    ///
    /// Why: a producer that takes each slot as soon as it is freed writes
    /// the cache line the consumer has just written, so every item moves
    /// lines both ways between their CPUs, and the pair runs at the speed
    /// of those transfers instead of the consumer's own (1 -> 1, 1024
    /// slots, a consumer slowed by `task_done`, Intel Xeon: 124-166 ns an
    /// item, 30-37 with this). Latency does not suffer: the item waits
    /// behind a full queue anyway. Once the spinning is over, any room is
    /// taken, so a slow consumer's single `get` still lets a producer in
    /// (the upstream tests of `queue.Queue` count on that).
    #[inline]
    fn spin_for_room(&self, backoff: &mut Backoff, wait: Wait) {
        let batch = self.flavor.room_batch();
        if batch <= 1 {
            return;
        }
        let cap = self.flavor.capacity();
        while !backoff.is_completed()
            && self.flavor.len() + batch > cap
            && !self.flavor.is_closed()
            && !wait.has_passed()
        {
            backoff.snooze();
        }
    }

    // ---- get ----

    #[inline]
    pub(crate) fn try_get(&self) -> Result<T, TryGetError> {
        self.pop(false)
    }

    /// Pops an item unless the store is empty, waiting only for another
    /// thread's operation in progress ([`PopFail::Pending`]), and wakes
    /// whom the pop concerns.
    ///
    /// `waited`: this call has parked before. A consumer that parked may
    /// have been woken for an item that another one took, while a third
    /// sleeps on a condition that went stale (it waited for a slot that has
    /// since been filled and emptied). So a consumer that parked and then
    /// got an item passes the wake-up on while items are left: every item
    /// gets a consumer awake for it. Producers do the same for room.
    #[inline]
    fn pop(&self, mut waited: bool) -> Result<T, TryGetError> {
        let mut backoff = Backoff::new();
        loop {
            match self.flavor.try_pop() {
                Ok((item, wake_peers)) => {
                    if self.flavor.capacity() != 0 {
                        self.not_full.notify_one();
                    }
                    if wake_peers {
                        self.not_empty.notify_all();
                    } else if waited && self.flavor.len() != 0 {
                        self.not_empty.notify_one();
                    }
                    return Ok(item);
                }
                Err(PopFail::Empty) => return Err(TryGetError::Empty),
                Err(PopFail::Closed) => return Err(TryGetError::Closed),
                Err(PopFail::Panicked(panic)) => {
                    // The user's `Ord` panicked: the item is still in. The
                    // wake-up this consumer may have taken for it goes to
                    // another one.
                    self.not_empty.notify_one();
                    std::panic::resume_unwind(panic);
                }
                Err(PopFail::Pending(pending)) => {
                    if backoff.is_completed() {
                        self.not_empty.wait(|| pending.is_pending(), None);
                        waited = true;
                    } else {
                        backoff.snooze();
                    }
                }
            }
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> Result<T, GetError> {
        self.get_until(Wait::Forever).map_err(|_| GetError)
    }

    pub(crate) fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        let Some(wait) = Wait::from_timeout(timeout) else {
            return self.try_get().map_err(|err| match err {
                TryGetError::Empty => GetTimeoutError::Timeout,
                TryGetError::Closed => GetTimeoutError::Closed,
            });
        };
        self.get_until(wait).map_err(|stop| match stop {
            Stop::Closed => GetTimeoutError::Closed,
            Stop::Timeout => GetTimeoutError::Timeout,
        })
    }

    fn get_until(&self, wait: Wait) -> Result<T, Stop> {
        let mut backoff = Backoff::new();
        let mut timed_out = false;
        let mut waited = false;
        loop {
            match self.pop(waited) {
                Ok(item) => return Ok(item),
                Err(TryGetError::Closed) => return Err(Stop::Closed),
                Err(TryGetError::Empty) => {}
            }
            if timed_out || wait.has_passed() {
                return Err(Stop::Timeout);
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let result = self.not_empty.wait(
                || self.flavor.len() == 0 && !self.flavor.is_closed(),
                wait.deadline(),
            );
            match result {
                ParkResult::TimedOut => timed_out = true,
                // An item came (or close) by the time we registered.
                ParkResult::Invalid => {}
                ParkResult::Unparked(_) => waited = true,
            }
        }
    }

    // ---- state ----

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.flavor.len()
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.flavor.capacity()
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        let cap = self.flavor.capacity();
        cap != 0 && self.flavor.len() >= cap
    }

    // ---- close ----

    pub(crate) fn close(&self) -> bool {
        let first = self.flavor.close();
        // Every blocked thread wakes and sees `Closed` (producers) or drains
        // and then sees it (consumers).
        self.not_full.notify_all_unconditionally();
        self.not_empty.notify_all_unconditionally();
        first
    }

    /// Closes the store and takes every item out (Python 3.13's
    /// `shutdown(immediate=True)`): each counts as done for `join`, and
    /// every blocked thread wakes.
    pub(crate) fn close_immediately(&self) -> Vec<T> {
        self.close();
        let (items, panic) = match self.flavor.drain() {
            Some(drained) => drained,
            None => {
                let mut items = Vec::new();
                // Closed: no new push can start, and `pop` waits for those
                // under way, so this ends once the store is empty.
                while let Ok(item) = self.pop(false) {
                    items.push(item);
                }
                (items, None)
            }
        };
        // Producers of a full bounded store and consumers woken by `close`
        // see `Closed` now; joiners look again.
        self.not_full.notify_all_unconditionally();
        self.not_empty.notify_all_unconditionally();
        self.finish_tasks(items.len() as u64);
        if let Some(panic) = panic {
            // The user's `Ord` panicked while the items were ordered: they
            // are all out and counted, and the panic goes on.
            drop(items);
            std::panic::resume_unwind(panic);
        }
        items
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.flavor.is_closed()
    }

    // ---- tasks ----

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let tasks = &*self.tasks;
        // `Acquire`: `done` also counts the items `close_immediately` took
        // out, whose puts this thread may not have seen. Reading its count
        // with `Acquire` makes those puts visible to the `pushed` read
        // below, so `done` is never compared with an older `pushed` than
        // the one it was counted against.
        let mut done = tasks.done.load(Ordering::Acquire);
        let mut pushed = tasks.pushed_seen.load(Ordering::Relaxed);
        loop {
            if done >= pushed {
                // Catching up with our reading: read the store itself.
                pushed = self.flavor.pushed();
                tasks.pushed_seen.store(pushed, Ordering::Relaxed);
                if done >= pushed {
                    return Err(TaskDoneError);
                }
            }
            match tasks.done.compare_exchange_weak(
                done,
                done + 1,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(d) => done = d,
            }
        }
        // Below our reading, tasks remain for sure; at it, this may have
        // been the last one: look at the store (a put in between means it
        // was not, and the joiners keep waiting for that one).
        if done + 1 >= pushed && done + 1 == self.flavor.pushed() {
            self.joiners.notify_all();
        }
        Ok(())
    }

    /// Marks up to `n` unfinished tasks done at once (the items
    /// `close_immediately` took out), never more than are unfinished, and
    /// wakes the joiners.
    fn finish_tasks(&self, n: u64) {
        let tasks = &*self.tasks;
        let mut done = tasks.done.load(Ordering::Relaxed);
        loop {
            let pushed = self.flavor.pushed();
            let new = done.saturating_add(n).min(pushed);
            if new <= done {
                break;
            }
            match tasks
                .done
                .compare_exchange_weak(done, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(d) => done = d,
            }
        }
        self.joiners.notify_all();
    }

    #[inline]
    pub(crate) fn unfinished_tasks(&self) -> u64 {
        // `done` first: read the other way round, a put and its task_done
        // landing between the two loads could make `done` exceed `pushed`.
        let done = self.tasks.done.load(Ordering::SeqCst);
        self.flavor.pushed().saturating_sub(done)
    }

    pub(crate) fn join(&self) {
        self.join_until(Wait::Forever);
    }

    pub(crate) fn join_timeout(&self, timeout: Duration) -> bool {
        match Wait::from_timeout(timeout) {
            None => self.unfinished_tasks() == 0,
            Some(wait) => self.join_until(wait),
        }
    }

    fn join_until(&self, wait: Wait) -> bool {
        loop {
            if self.unfinished_tasks() == 0 {
                return true;
            }
            if wait.has_passed() {
                return false;
            }
            let result = self
                .joiners
                .wait(|| self.unfinished_tasks() != 0, wait.deadline());
            if result == ParkResult::TimedOut {
                return self.unfinished_tasks() == 0;
            }
        }
    }
}
