//! The pool's job queue: a FIFO injector that submitters push to, a local
//! FIFO per worker that takes jobs from it in batches, and stealing between
//! workers (crossbeam-deque, as rayon does), plus the protocol by which idle
//! workers sleep.
//!
//! The injector is a crossbeam-deque `Worker` behind a lock: submitters
//! take the (usually uncontended) lock to push, and the pool's workers steal
//! from it without the lock, in batches. Unlike crossbeam's `Injector`,
//! whose 63-slot blocks are allocated by the producer and freed by the
//! consumer, its ring buffer is reused, so a submit allocates nothing in the
//! queue and no worker frees memory into the submitter's malloc arena (with
//! glibc that cross-thread free took the arena lock, and every new block was
//! a large request that consolidated the arena's fast bins).
//!
//! Batches cut the traffic on the injector's shared cache lines: a worker
//! takes up to half of what is queued in one step. A worker whose local
//! batch holds more than one job wakes a sleeping sibling, and an idle
//! worker steals from its siblings' batches, so no job waits behind a busy
//! worker while another is free.
//!
//! A worker that finds no job spins briefly, then yields its CPU a number of
//! times (as rayon's workers do) while it keeps looking, and only then
//! registers as a sleeper and parks. While it is awake and looking, a
//! producer wakes nobody, so a steady stream of small tasks costs no system
//! call per task: without the yielding phase, workers that drained the queue
//! went to sleep within microseconds and the submitter paid a futex wake for
//! a large share of its submissions. A producer wakes a sleeper only when one
//! is registered and no worker is awake looking for work. A submitter reads
//! the sleeper count under the injector's lock, which a worker takes (and
//! releases at once) after raising the count and before its last look at
//! the queues: one of the two critical sections comes first, so either the
//! worker sees the job or the producer sees the sleeper, and no job is left
//! with every worker asleep. That keeps the submit path free of fences: its
//! only atomic read-modify-writes are the lock and the unlock. A worker that
//! moves a batch of several jobs into its local queue wakes a sibling with
//! Dekker's check instead (a sequentially consistent fence on both sides).
//!
//! A worker whose local batch is empty looks once more before registering
//! as searching, so while jobs keep coming it never writes the shared
//! `searching` count that producers read.

use std::cell::UnsafeCell;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, Thread};

use crossbeam_deque::{Steal, Stealer, Worker};

/// Rounds of busy spinning (with exponential backoff) before yielding.
const SPIN_ROUNDS: u32 = 7;
/// Rounds of `yield_now` after spinning, before going to sleep (rayon's
/// `ROUNDS_UNTIL_SLEEPY` is also 32).
const YIELD_ROUNDS: u32 = 32;

/// Keeps a value on cache lines of its own (128 bytes: two lines, as
/// adjacent-line prefetchers pull pairs), so that writes to it do not
/// invalidate its neighbours in other cores' caches.
#[repr(align(128))]
struct CachePadded<T>(T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The injector's lock: taken with one compare-and-swap, released with a
/// plain store. A `Mutex` releases with a read-modify-write (to learn
/// whether anyone sleeps on it), and on x86 every locked instruction waits
/// until the submitter's earlier stores (the new task's cell) have reached
/// the cache: two such waits per submit instead of one. Waiters spin, then
/// yield, and never park: the lock is held only for a push (a few stores;
/// growing the ring allocates) or to set the closed flag, so nobody waits
/// long for it.
struct PushLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and one guard exists
// at a time (the flag's acquire/release orders their accesses); it moves
// between threads with the lock, hence `T: Send`.
unsafe impl<T: Send> Sync for PushLock<T> {}

/// Access to a [`PushLock`]'s value; dropping it releases the lock.
struct PushGuard<'a, T>(&'a PushLock<T>);

impl<T> PushLock<T> {
    fn new(value: T) -> Self {
        PushLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    fn lock(&self) -> PushGuard<'_, T> {
        let mut round = 0;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Wait until it looks free before trying again.
            while self.locked.load(Ordering::Relaxed) {
                if round < SPIN_ROUNDS {
                    for _ in 0..1 << round {
                        std::hint::spin_loop();
                    }
                    round += 1;
                } else {
                    thread::yield_now();
                }
            }
        }
        PushGuard(self)
    }
}

impl<T> std::ops::Deref for PushGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock: no other access is alive.
        unsafe { &*self.0.value.get() }
    }
}

impl<T> Drop for PushGuard<'_, T> {
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::Release);
    }
}

/// A multi-producer FIFO served by a fixed set of workers.
pub(crate) struct JobQueue<T> {
    /// Where submitters push (under the lock); `injector_stealer` is its
    /// lock-free consumer end. Padded: submitters write its lock on every
    /// push, workers write `searching` whenever they run dry.
    injector: CachePadded<PushLock<Worker<T>>>,
    injector_stealer: Stealer<T>,
    stealers: Vec<Stealer<T>>,
    /// Set by [`close`](Self::close), under the injector's lock: pushes are
    /// refused, and workers exit once no job is left.
    closed: AtomicBool,
    /// How many workers are looking for a job, awake.
    searching: CachePadded<AtomicUsize>,
    /// How many workers are registered in `sleepers`.
    idle: AtomicUsize,
    sleepers: Mutex<Vec<Thread>>,
}

/// A worker's own batch of jobs, taken from the injector.
pub(crate) struct Local<T>(Worker<T>);

impl<T> JobQueue<T> {
    /// A queue for `workers` workers, and each worker's local batch.
    pub(crate) fn new(workers: usize) -> (Self, Vec<Local<T>>) {
        let locals: Vec<_> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let injector = Worker::new_fifo();
        let q = JobQueue {
            injector_stealer: injector.stealer(),
            injector: CachePadded(PushLock::new(injector)),
            stealers: locals.iter().map(Worker::stealer).collect(),
            closed: AtomicBool::new(false),
            searching: CachePadded(AtomicUsize::new(0)),
            idle: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::new()),
        };
        (q, locals.into_iter().map(Local).collect())
    }

    /// Appends `item` and wakes a sleeping worker if there is one; gives
    /// `item` back if the queue is closed.
    ///
    /// The closed flag is checked under the injector's lock, which
    /// [`close`](Self::close) also takes to set it: every push either lands
    /// before the close (and is seen by the workers' last look) or is
    /// refused, without a counter of pushes in flight.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let wake = {
            let injector = self.injector.lock();
            if self.closed.load(Ordering::Relaxed) {
                return Err(item);
            }
            injector.push(item);
            // Read under the lock, which a worker going to sleep takes after
            // registering (see `sleep`): no fence needed on this path.
            self.should_wake()
        };
        if wake {
            self.wake_one();
        }
        Ok(())
    }

    /// Whether a sleeping worker should be woken for a new job: one is
    /// registered and no worker is awake looking for work (that one will
    /// find the job). `idle` first: it changes only when a worker goes to
    /// sleep or wakes, so the common case (nobody asleep) reads a line that
    /// stays in the producer's cache, while `searching` changes whenever a
    /// worker runs dry.
    fn should_wake(&self) -> bool {
        self.idle.load(Ordering::SeqCst) > 0 && self.searching.load(Ordering::SeqCst) == 0
    }

    /// Wakes one sleeping worker if [`should_wake`](Self::should_wake),
    /// after a worker took a batch of several jobs into its local queue.
    /// The fence pairs with the one in `sleep` (Dekker's check).
    fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.should_wake() {
            self.wake_one();
        }
    }

    /// Refuses further pushes, lets the workers exit once every queued job
    /// is taken, and wakes the sleeping ones. Calling it again does nothing
    /// more.
    pub(crate) fn close(&self) {
        {
            let _injector = self.injector.lock();
            self.closed.store(true, Ordering::SeqCst);
        }
        let sleepers = std::mem::take(&mut *self.lock());
        self.idle.store(0, Ordering::SeqCst);
        sleepers.iter().for_each(Thread::unpark);
    }

    /// Takes some queued job from anywhere (the injector, then the workers'
    /// batches), without blocking: for draining the queue.
    pub(crate) fn steal_any(&self) -> Option<T> {
        loop {
            let mut retry = false;
            for s in std::iter::once(self.injector_stealer.steal())
                .chain(self.stealers.iter().map(Stealer::steal))
            {
                match s {
                    Steal::Success(item) => return Some(item),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Fills `local` with a batch and returns its first job, taking from
    /// the injector first and then from the siblings.
    fn find_work(&self, local: &Local<T>) -> Option<T> {
        loop {
            let mut retry = false;
            match self.injector_stealer.steal_batch_and_pop(&local.0) {
                Steal::Success(item) => return Some(item),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            for s in &self.stealers {
                match s.steal_batch_and_pop(&local.0) {
                    Steal::Success(item) => return Some(item),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Whether jobs are still queued after the last searching worker took
    /// one and stopped searching. Producers wake nobody while a worker
    /// searches, counting on it to find their jobs; but it starts only one
    /// (a batch from an injector of two jobs is one job), so without this
    /// look a second job could wait, a worker asleep, until the next push
    /// (two tasks of a two-worker pool that wait for each other would then
    /// never run together). Taking the injector's lock orders this look
    /// against pushes as in [`sleep`](Self::sleep): a push either came
    /// first, and is seen here, or comes after, and sees `searching` at
    /// zero and wakes a sleeper itself.
    fn left_behind(&self) -> bool {
        drop(self.injector.lock());
        !self.is_empty()
    }

    fn is_empty(&self) -> bool {
        self.injector_stealer.is_empty() && self.stealers.iter().all(Stealer::is_empty)
    }

    /// The worker's next job, sleeping while there is none; `None` once
    /// the queue is closed and no job is left.
    pub(crate) fn pop(&self, local: &Local<T>) -> Option<T> {
        if let Some(item) = local.0.pop() {
            return Some(item);
        }
        // One look before registering as searching: while work keeps coming
        // the worker finds it here and never writes the shared counter. (The
        // count only spares sleepers needless wake-ups; no job depends on it.)
        if let Some(item) = self.find_work(local) {
            if !local.0.is_empty() {
                self.notify();
            }
            return Some(item);
        }
        self.searching.fetch_add(1, Ordering::SeqCst);
        let mut round = 0;
        loop {
            if let Some(item) = self.find_work(local) {
                let was_last = self.searching.fetch_sub(1, Ordering::SeqCst) == 1;
                if !local.0.is_empty() || (was_last && self.left_behind()) {
                    // More work than this worker can start now: let a
                    // sleeping sibling steal some.
                    self.notify();
                }
                return Some(item);
            }
            if self.closed.load(Ordering::SeqCst) {
                // Nothing can be pushed any more; look once more.
                self.searching.fetch_sub(1, Ordering::SeqCst);
                return self.find_work(local);
            }
            if round < SPIN_ROUNDS {
                for _ in 0..1 << round {
                    std::hint::spin_loop();
                }
                round += 1;
            } else if round < SPIN_ROUNDS + YIELD_ROUNDS {
                // Still searching: producers wake nobody meanwhile.
                thread::yield_now();
                round += 1;
            } else {
                self.searching.fetch_sub(1, Ordering::SeqCst);
                self.sleep();
                self.searching.fetch_add(1, Ordering::SeqCst);
                round = 0;
            }
        }
    }

    /// Registers as a sleeper, parks unless a job or the close arrived,
    /// and unregisters.
    fn sleep(&self) {
        let me = thread::current();
        {
            let mut s = self.lock();
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            s.push(me.clone());
            self.idle.fetch_add(1, Ordering::SeqCst);
        }
        // A push reads `idle` under the injector's lock: either it held the
        // lock before us, and its job is visible to the look below, or
        // after us, and it sees our registration and wakes a sleeper.
        drop(self.injector.lock());
        // Jobs also reach the workers' local batches, whose takers call
        // `notify`: its fence and this one make Dekker's check.
        fence(Ordering::SeqCst);
        if self.is_empty() {
            // A push after our registration finds us and unparks us; an
            // unpark that came early makes `park` return at once.
            thread::park();
        }
        let mut s = self.lock();
        if let Some(i) = s.iter().position(|t| t.id() == me.id()) {
            s.swap_remove(i);
            self.idle.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn wake_one(&self) {
        let t = {
            let mut s = self.lock();
            let t = s.pop();
            if t.is_some() {
                self.idle.fetch_sub(1, Ordering::SeqCst);
            }
            t
        };
        if let Some(t) = t {
            t.unpark();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Thread>> {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> JobQueue<T> {
    /// Whether [`close`](Self::close) has been called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}
