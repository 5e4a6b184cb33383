//! [`Future`]: the result of a task that may not have run yet, and
//! [`Completer`]: the executor's half that gives it its outcome.
//!
//! # The state machine
//!
//! One atomic word holds everything that changes:
//!
//! ```text
//!  bits 0-1  PENDING -> RUNNING -> FINISHED        (set_running, then set_result/set_error)
//!            PENDING ------------> CANCELLED       (cancel, or the completer dropped unused)
//!  bit 2     PARKED:   some thread may be parked on the state's address
//!  bit 3     RELEASED: done, and the executor no longer reads the result slot
//!  bits 4..  while not done: the head of a stack of done-callbacks (16-aligned nodes)
//! ```
//!
//! Whoever moves the state out of `PENDING` owns the result slot until it
//! publishes a done state with a release swap; every reader first observes a
//! done state with an acquire load, so the result is visible to every waiter.
//! That same swap takes the whole callback stack: a callback pushed before it
//! runs on the completing thread, one that arrives after it sees a done state
//! and runs at once on its own thread, so each runs exactly once.
//!
//! The word is an `AtomicPtr` (strict provenance): a callback stack's head
//! keeps the provenance of its node, the state bits are put on and taken off
//! with `map_addr`, and a word with no stack is a pointer without
//! provenance. Miri checks the module with strict provenance.
//!
//! Everything is written against `bingfa_sync::raw`, which is loom's types
//! under `--cfg bingfa_loom`, so the loom models in `loom_tests` check this
//! very code.

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::time::Duration;

use bingfa_sync::raw::atomic::{fence, AtomicPtr, AtomicUsize, Ordering};
use bingfa_sync::raw::cell::UnsafeCell;
use bingfa_sync::raw::{self, Deadline, SpinWait};

use crate::completer::Completer;
use crate::error::{panic_message, Error};
use crate::task::{self, Prefix, TaskRef};

const STATE: usize = 0b11;
const PENDING: usize = 0;
const RUNNING: usize = 1;
const FINISHED: usize = 2;
const CANCELLED: usize = 3;
const PARKED: usize = 0b100;
const RELEASED: usize = 0b1000;
const PTR: usize = !0b1111;

#[inline]
fn is_done(s: usize) -> bool {
    s & STATE >= FINISHED
}

#[inline]
fn is_released(s: usize) -> bool {
    is_done(s) && s & RELEASED != 0
}

type Callback<R> = Box<dyn FnOnce(&Result<R, Error>) + Send>;

/// A state word with no callback stack: the bits, no provenance.
#[inline]
fn bits<R>(b: usize) -> *mut Node<R> {
    ptr::without_provenance_mut(b)
}

/// The callback stack's head in the word `w`, with `w`'s provenance.
#[inline]
fn stack<R>(w: *mut Node<R>) -> *mut Node<R> {
    w.map_addr(|a| a & PTR)
}

/// One entry of the callback stack. The alignment frees the low four bits
/// of its address for the state.
#[repr(align(16))]
struct Node<R> {
    callback: Callback<R>,
    next: *mut Node<R>,
}

/// The shared part of a future: its state word and its result.
pub(crate) struct Inner<R> {
    /// The state word (see the module docs).
    state: AtomicPtr<Node<R>>,
    /// How many [`Future`] handles exist (the completer is not one), so that
    /// [`Future::into_result`] knows when it may move the result out.
    handles: AtomicUsize,
    /// Written once by the thread that moved the state out of `PENDING`,
    /// before it publishes `FINISHED`; `None` for a cancelled future.
    slot: UnsafeCell<Option<Result<R, Error>>>,
}

// SAFETY: the slot is written by one thread before the state publishes it
// (release swap) and only read after an acquire load of a done state; the
// value may be read by several threads at once (`&R`), hence `R: Sync`, and
// is moved in from (and out to) other threads, hence `R: Send`. Callback
// nodes hold `Send` closures and are handed over through the state word.
unsafe impl<R: Send + Sync> Send for Inner<R> {}
// SAFETY: as above.
unsafe impl<R: Send + Sync> Sync for Inner<R> {}

impl<R> Drop for Inner<R> {
    fn drop(&mut self) {
        // A completer always completes or cancels before it goes, which
        // empties the stack; free whatever is left all the same.
        let mut p = stack(self.state.load(Ordering::Relaxed));
        while !p.is_null() {
            // SAFETY: nodes on the stack came from `Box::into_raw` and are
            // owned by the stack; `&mut self` means nobody else sees them.
            let node = unsafe { Box::from_raw(p) };
            p = node.next;
        }
    }
}

/// Runs one done-callback; a panic does not reach the executor and is
/// reported (`tracing` feature) instead (Python logs "exception calling
/// callback for ...").
fn run_callback<R>(cb: Callback<R>, outcome: &Result<R, Error>) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || cb(outcome))) {
        let message = panic_message(&*payload);
        report!(error, "a done-callback panicked (ignored): {message}");
    }
}

impl<R> Inner<R> {
    /// A pending future with one handle.
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicPtr::new(bits(PENDING)),
            handles: AtomicUsize::new(1),
            slot: UnsafeCell::new(None),
        }
    }

    /// The state word's bits (no pointer to follow).
    #[inline]
    fn word(&self, order: Ordering) -> usize {
        self.state.load(order).addr()
    }

    /// The key this future parks on: its state word's address.
    fn key(&self) -> usize {
        ptr::from_ref(&self.state).addr()
    }

    /// The outcome, by reference, once the caller has seen a done state
    /// with an acquire load.
    fn outcome_ref(&self, s: usize) -> Result<&R, Error> {
        debug_assert!(is_done(s));
        if s & STATE == CANCELLED {
            return Err(Error::Cancelled);
        }
        // SAFETY: a done state was observed with acquire ordering, so the
        // completer's write to the slot happened before, and nobody writes
        // it again until the last handle takes it in `into_result` (which
        // needs `self` by value, so no `&self` borrow can be alive).
        let slot = self.slot.with(|p| unsafe { &*p });
        match slot {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(e.clone()),
            None => unreachable!("a finished future always holds its outcome"),
        }
    }

    /// Blocks until `want(state)` holds or the deadline passes; returns the
    /// last state seen and whether `want` held.
    fn wait_until(&self, want: fn(usize) -> bool, deadline: Option<Deadline>) -> (usize, bool) {
        let mut spin = SpinWait::new();
        loop {
            let w = self.state.load(Ordering::Acquire);
            let s = w.addr();
            if want(s) {
                return (s, true);
            }
            if s & PARKED == 0 {
                if spin.spin() {
                    continue;
                }
                if self
                    .state
                    .compare_exchange_weak(
                        w,
                        w.map_addr(|a| a | PARKED),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    continue;
                }
            }
            if deadline.is_some_and(|d| d.has_passed()) {
                let s = self.word(Ordering::Acquire);
                return (s, want(s));
            }
            let key = self.key();
            // SAFETY: the key is this future's own state word, on which only
            // futures park; `validate` only loads an atomic and calls a
            // bit test, so it neither panics nor parks.
            let r = unsafe {
                raw::park::park(
                    key,
                    || {
                        let s = self.word(Ordering::Relaxed);
                        s & PARKED != 0 && !want(s)
                    },
                    || {},
                    |_, _| {},
                    0,
                    deadline,
                )
            };
            if r == raw::ParkResult::TimedOut {
                let s = self.word(Ordering::Acquire);
                return (s, want(s));
            }
        }
    }

    /// Wakes every thread parked on this future if `prev` says one may be.
    fn wake(&self, prev: usize) {
        if prev & PARKED != 0 {
            // SAFETY: the key is this future's own state word.
            unsafe { raw::park::unpark_all(self.key(), 0) };
        }
    }

    /// Moves the state from `from` (the current state kind) to the done
    /// state `to`, taking the callback stack; returns the previous word.
    fn publish(&self, to: usize) -> *mut Node<R> {
        let mut w = self.state.load(Ordering::Relaxed);
        loop {
            let s = w.addr();
            debug_assert!(!is_done(s));
            // With no callbacks to run, the executor is done with the slot
            // right away.
            let new = if s & PTR == 0 { to | RELEASED } else { to };
            match self.state.compare_exchange_weak(
                w,
                bits(new),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return w,
                Err(cur) => w = cur,
            }
        }
    }

    /// After [`publish`](Self::publish): runs the callbacks taken from the
    /// stack in the order they were added, then marks the slot released.
    fn run_taken_callbacks(&self, prev: *mut Node<R>, done: usize, outcome: &Result<R, Error>) {
        let mut p = stack(prev);
        if p.is_null() {
            return;
        }
        // The stack is newest first; reverse it so callbacks run in the
        // order they were added, as in Python.
        let mut list = Vec::new();
        while !p.is_null() {
            // SAFETY: the publishing swap (acquire) took these nodes off the
            // stack, so this thread owns them; each came from `Box::into_raw`
            // and was fully written before the release CAS that pushed it.
            let node = unsafe { Box::from_raw(p) };
            p = node.next;
            list.push(node.callback);
        }
        for cb in list.into_iter().rev() {
            run_callback(cb, outcome);
        }
        let prev = self.state.swap(bits(done | RELEASED), Ordering::AcqRel);
        self.wake(prev.addr());
    }

    /// PENDING -> RUNNING; `false` if the future was cancelled.
    pub(crate) fn set_running(&self) -> bool {
        let mut w = self.state.load(Ordering::Relaxed);
        loop {
            match w.addr() & STATE {
                PENDING => {}
                RUNNING => return true,
                CANCELLED => return false,
                _ => panic!("Completer: the future is already finished"),
            }
            match self.state.compare_exchange_weak(
                w,
                w.map_addr(|a| (a & !STATE) | RUNNING),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(cur) => w = cur,
            }
        }
    }

    /// RUNNING -> FINISHED with `outcome`.
    pub(crate) fn finish(&self, outcome: Result<R, Error>) {
        // SAFETY: the caller moved the state out of PENDING (`set_running`),
        // which makes it the only writer; no reader touches the slot before
        // the release in `publish`.
        self.slot.with_mut(|p| unsafe { *p = Some(outcome) });
        let prev = self.publish(FINISHED);
        self.wake(prev.addr());
        if prev.addr() & PTR != 0 {
            // SAFETY: written above by this thread; others only read it.
            let outcome = self.slot.with(|p| unsafe { &*p });
            let outcome = outcome.as_ref().expect("the slot was just filled");
            self.run_taken_callbacks(prev, FINISHED, outcome);
        }
    }

    /// Whether the future was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.word(Ordering::Acquire) & STATE == CANCELLED
    }

    /// For an executor that drops a task without completing it: cancels the
    /// future if it is pending, fails it with [`Error::Abandoned`] if it is
    /// running, so that no waiter blocks forever.
    pub(crate) fn abandon(&self) {
        if !self.cancel() {
            // Running: a finished future has no live completer.
            self.finish(Err(Error::Abandoned));
        }
    }

    /// PENDING -> CANCELLED; `true` if the future is cancelled afterwards.
    pub(crate) fn cancel(&self) -> bool {
        let mut w = self.state.load(Ordering::Relaxed);
        loop {
            let s = w.addr();
            match s & STATE {
                PENDING => {}
                CANCELLED => return true,
                _ => return false,
            }
            let new = if s & PTR == 0 {
                CANCELLED | RELEASED
            } else {
                CANCELLED
            };
            match self.state.compare_exchange_weak(
                w,
                bits(new),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(cur) => w = cur,
            }
        }
        self.wake(w.addr());
        self.run_taken_callbacks(w, CANCELLED, &Err(Error::Cancelled));
        true
    }
}

/// The result of a task that may not have run yet: a shared handle.
///
/// Clones share one future (as Python's `Future` object is shared): any
/// handle can wait for it, read it, cancel it or add a callback.
///
/// Reading the result: [`result`](Self::result) clones it (`R: Clone`),
/// [`result_ref`](Self::result_ref) borrows it, and
/// [`into_result`](Self::into_result) moves it out of the last handle.
///
/// `Future<R>` is `Send` and `Sync` when `R: Send + Sync`: several threads
/// may read `&R` at once.
///
/// Python: `concurrent.futures.Future`.
#[doc(alias = "concurrent.futures.Future")]
pub struct Future<R> {
    /// The cell (`crate::task`): a bare future's, or a thread-pool task's
    /// that also holds the closure. The handles share one of its
    /// references; `Inner::handles` counts them.
    ptr: NonNull<Prefix<R>>,
    _marker: PhantomData<R>,
}

// SAFETY: handles on several threads share the cell, whose state is atomic;
// they move the result in and out (`R: Send`) and lend `&R` to several
// threads at once (`R: Sync`).
unsafe impl<R: Send + Sync> Send for Future<R> {}
// SAFETY: as above.
unsafe impl<R: Send + Sync> Sync for Future<R> {}

impl<R: Send + Sync + 'static> Future<R> {
    /// A new pending future and the completer that will give it its
    /// outcome. Executors use this; so can tests and adapters.
    ///
    /// Python: `concurrent.futures.Future()`.
    #[doc(alias = "__init__")]
    pub fn pending() -> (Future<R>, Completer<R>) {
        let (future, cell) = TaskRef::bare();
        (future, Completer::new(cell))
    }
}

impl<R> Future<R> {
    /// The first handle on the future in the cell at `ptr`.
    ///
    /// # Safety
    /// `ptr` is a live cell whose `Inner` was made by [`Inner::new`] (its
    /// handle count starts at one: this handle) and whose handles own one
    /// of its references, which this handle takes over.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Prefix<R>>) -> Self {
        Future {
            ptr,
            _marker: PhantomData,
        }
    }

    #[inline]
    fn inner(&self) -> &Inner<R> {
        // SAFETY: the handles' reference keeps the cell alive.
        unsafe { &self.ptr.as_ref().inner }
    }

    /// Whether the future is finished or cancelled. Never blocks.
    ///
    /// Python: `Future.done`.
    #[doc(alias = "done")]
    pub fn is_done(&self) -> bool {
        is_done(self.inner().word(Ordering::Acquire))
    }

    /// Whether the future was cancelled. Never blocks.
    ///
    /// Python: `Future.cancelled`.
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        self.inner().word(Ordering::Acquire) & STATE == CANCELLED
    }

    /// Whether the task is running right now (started, not finished).
    ///
    /// Python: `Future.running`.
    #[doc(alias = "running")]
    pub fn is_running(&self) -> bool {
        self.inner().word(Ordering::Acquire) & STATE == RUNNING
    }

    /// Cancels the future if it has not started. Returns `true` if the
    /// future is cancelled when the call returns (it was pending, or had
    /// been cancelled before, as in Python), `false` if it is running or
    /// finished: a task that has started always runs to its end.
    ///
    /// Callbacks run on this thread, with `Err(Error::Cancelled)`, before
    /// `cancel` returns.
    ///
    /// Python: `Future.cancel`.
    pub fn cancel(&self) -> bool {
        self.inner().cancel()
    }

    /// Blocks until the future is done (finished or cancelled).
    ///
    /// Python: `concurrent.futures.wait([f])`.
    pub fn wait(&self) {
        self.inner().wait_until(is_done, None);
    }

    /// Blocks until the future is done or `timeout` has passed; returns
    /// whether it is done.
    ///
    /// Python: `concurrent.futures.wait([f], timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.inner().wait_until(is_done, Deadline::after(timeout)).1
    }

    /// Waits for the outcome and borrows the value.
    ///
    /// # Errors
    /// [`Error::Cancelled`] if the future was cancelled, else the error the
    /// task failed with ([`Error::Panicked`] for a panic).
    ///
    /// Python: `Future.result()`, without the copy.
    pub fn result_ref(&self) -> Result<&R, Error> {
        let (s, _) = self.inner().wait_until(is_done, None);
        self.inner().outcome_ref(s)
    }

    /// As [`result_ref`](Self::result_ref), giving up after `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the future is not done in time (it is not
    /// cancelled by this), else as [`result_ref`](Self::result_ref).
    ///
    /// Python: `Future.result(timeout)`.
    pub fn result_ref_timeout(&self, timeout: Duration) -> Result<&R, Error> {
        match self.inner().wait_until(is_done, Deadline::after(timeout)) {
            (s, true) => self.inner().outcome_ref(s),
            (_, false) => Err(Error::Timeout(timeout)),
        }
    }

    /// The outcome if the future is done, without blocking; `None` if not.
    ///
    /// Python: `Future.result(timeout=0)`.
    pub fn try_result_ref(&self) -> Option<Result<&R, Error>> {
        let s = self.inner().word(Ordering::Acquire);
        is_done(s).then(|| self.inner().outcome_ref(s))
    }

    /// Waits for the outcome and returns a clone of the value.
    ///
    /// # Errors
    /// As [`result_ref`](Self::result_ref).
    ///
    /// Python: `Future.result()`.
    pub fn result(&self) -> Result<R, Error>
    where
        R: Clone,
    {
        self.result_ref().cloned()
    }

    /// As [`result`](Self::result), giving up after `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the future is not done in time, else as
    /// [`result_ref`](Self::result_ref).
    ///
    /// Python: `Future.result(timeout)`.
    pub fn result_timeout(&self, timeout: Duration) -> Result<R, Error>
    where
        R: Clone,
    {
        self.result_ref_timeout(timeout).cloned()
    }

    /// The outcome, cloned, if the future is done; `None` if not.
    ///
    /// Python: `Future.result(timeout=0)`.
    pub fn try_result(&self) -> Option<Result<R, Error>>
    where
        R: Clone,
    {
        self.try_result_ref().map(|r| r.cloned())
    }

    /// Waits for the outcome and returns the error, or `None` if the task
    /// succeeded. A cancelled future gives `Some(Error::Cancelled)` (Python
    /// raises `CancelledError` instead).
    ///
    /// Python: `Future.exception()`.
    pub fn exception(&self) -> Option<Error> {
        self.result_ref().err()
    }

    /// As [`exception`](Self::exception), giving up after `timeout`:
    /// `Ok(None)` if the task succeeded, `Ok(Some(error))` if it failed or
    /// was cancelled.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the future is not done in time (it is not
    /// cancelled by this).
    ///
    /// Python: `Future.exception(timeout)`.
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<Error>, Error> {
        match self.inner().wait_until(is_done, Deadline::after(timeout)) {
            (s, true) => Ok(self.inner().outcome_ref(s).err()),
            (_, false) => Err(Error::Timeout(timeout)),
        }
    }

    /// Waits for the outcome and moves it out, if this is the last handle
    /// of the future; returns `None` (and drops this handle) if other
    /// handles still exist, which keep the value. Of several handles
    /// calling this at once exactly one gets `Some` (as `Arc::into_inner`).
    ///
    /// It also waits until the executor has finished running the future's
    /// done-callbacks, which read the result: a callback that blocks delays
    /// this call.
    ///
    /// # Errors
    /// The inner `Result` is as for [`result_ref`](Self::result_ref).
    ///
    /// Python: `Future.result()`, moving instead of sharing.
    pub fn into_result(self) -> Option<Result<R, Error>> {
        let (s, _) = self.inner().wait_until(is_released, None);
        // This handle goes here: no `Drop`, its count is given up below.
        let this = ManuallyDrop::new(self);
        let inner = this.inner();
        if inner.handles.fetch_sub(1, Ordering::AcqRel) != 1 {
            return None;
        }
        let outcome = if s & STATE == CANCELLED {
            Err(Error::Cancelled)
        } else {
            // SAFETY: this was the last handle, and every other handle's
            // reads happened before its release decrement, which our acquire
            // decrement follows; the executor released the slot (acquire load
            // of RELEASED above) and never touches it again. So the access is
            // exclusive.
            let taken = inner.slot.with_mut(|p| unsafe { (*p).take() });
            taken.expect("a finished future holds its outcome until the last handle takes it")
        };
        // SAFETY: the last handle gives up the handles' reference, once.
        unsafe { task::release_handles(this.ptr) };
        Some(outcome)
    }

    /// The outcome of a done future: moved out if this is the last handle
    /// and the executor has released the slot (so `into_result` does not
    /// block), else cloned.
    pub(crate) fn take_or_clone(self) -> Result<R, Error>
    where
        R: Clone,
    {
        let s = self.inner().word(Ordering::Acquire);
        debug_assert!(is_done(s));
        // Only this handle can make more handles, so a count of one stays
        // one; acquire orders the other handles' reads before the move.
        if is_released(s) && self.inner().handles.load(Ordering::Acquire) == 1 {
            return self
                .into_result()
                .expect("the last handle takes the outcome");
        }
        self.try_result_ref().expect("the future is done").cloned()
    }

    /// Runs `f` with the future's outcome once it is done: at once, on this
    /// thread, if it is done already; otherwise on the thread that completes
    /// it (a pool's worker, or the thread that cancels it). Each callback
    /// runs exactly once, in the order they were added.
    ///
    /// A callback that panics is reported on stderr and otherwise ignored:
    /// the other callbacks, the worker and the future are unaffected.
    ///
    /// Python: `Future.add_done_callback` (whose callback receives the
    /// future; this one receives its outcome).
    pub fn add_done_callback<F>(&self, f: F)
    where
        F: FnOnce(&Result<R, Error>) + Send + 'static,
    {
        let mut w = self.inner().state.load(Ordering::Acquire);
        if is_done(w.addr()) {
            return self.run_now(Box::new(f), w.addr());
        }
        let node = Box::into_raw(Box::new(Node {
            callback: Box::new(f) as Callback<R>,
            next: ptr::null_mut(),
        }));
        loop {
            let s = w.addr();
            if is_done(s) {
                // SAFETY: the node was never published; we still own it.
                let node = unsafe { Box::from_raw(node) };
                return self.run_now(node.callback, s);
            }
            // SAFETY: not yet published, so this thread has exclusive access.
            unsafe { (*node).next = stack(w) };
            match self.inner().state.compare_exchange_weak(
                w,
                node.map_addr(|a| a | (s & !PTR)),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(cur) => w = cur,
            }
        }
    }

    fn run_now(&self, cb: Callback<R>, s: usize) {
        if s & STATE == CANCELLED {
            return run_callback(cb, &Err(Error::Cancelled));
        }
        // SAFETY: a finished state was observed with acquire ordering (see
        // `outcome_ref`); the slot is only read here.
        let slot = self.inner().slot.with(|p| unsafe { &*p });
        run_callback(
            cb,
            slot.as_ref().expect("a finished future holds its outcome"),
        );
    }

    /// The address of the shared state: equal for handles of one future.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr().addr()
    }

    /// Whether two handles share one future.
    pub fn ptr_eq(&self, other: &Future<R>) -> bool {
        self.addr() == other.addr()
    }
}

impl<R> Clone for Future<R> {
    fn clone(&self) -> Self {
        self.inner().handles.fetch_add(1, Ordering::Relaxed);
        Future {
            ptr: self.ptr,
            _marker: PhantomData,
        }
    }
}

impl<R> Drop for Future<R> {
    fn drop(&mut self) {
        let handles = &self.inner().handles;
        // A count of one read with acquire ordering means this is the only
        // handle (`&mut self`: nobody is cloning it), so it needs no
        // read-modify-write; the acquire orders the reads of handles
        // dropped before (their release decrements) before what follows.
        if handles.load(Ordering::Acquire) != 1 {
            if handles.fetch_sub(1, Ordering::Release) != 1 {
                return;
            }
            fence(Ordering::Acquire);
        }
        // SAFETY: the last handle gives up the handles' reference, once.
        unsafe { task::release_handles(self.ptr) };
    }
}

impl<R> fmt::Debug for Future<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner().word(Ordering::Acquire) & STATE {
            PENDING => "pending",
            RUNNING => "running",
            FINISHED => "finished",
            _ => "cancelled",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    //! The callback stack's tagged pointers (Miri runs these with strict
    //! provenance: `cargo xtask miri`).

    use std::sync::{Arc, Mutex};
    use std::thread;

    use super::*;

    /// Callbacks pushed from several threads while another completes:
    /// each runs once.
    #[test]
    fn callbacks_race_the_completion_and_each_runs_once() {
        let rounds = if cfg!(miri) { 3 } else { 200 };
        for _ in 0..rounds {
            let (f, c) = Future::<u32>::pending();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let pushers: Vec<_> = (0..3)
                .map(|t| {
                    let (f, seen) = (f.clone(), seen.clone());
                    thread::spawn(move || {
                        for k in 0..2 {
                            let seen = seen.clone();
                            f.add_done_callback(move |r| {
                                assert_eq!(r.as_ref().ok(), Some(&7));
                                seen.lock().unwrap().push((t, k));
                            });
                        }
                    })
                })
                .collect();
            let completer = thread::spawn(move || c.set_result(7));
            for p in pushers {
                p.join().unwrap();
            }
            assert!(completer.join().unwrap());
            // (One thread's two callbacks may run out of order: the first
            // taken with the stack, the second run at once on its own
            // thread before the completer gets to the first.)
            let mut seen = seen.lock().unwrap().clone();
            seen.sort();
            let all: Vec<_> = (0..3).flat_map(|t| [(t, 0), (t, 1)]).collect();
            assert_eq!(seen, all, "each callback once");
            assert_eq!(f.result(), Ok(7));
        }
    }

    /// Cancelling a future with callbacks runs them with `Cancelled`, in
    /// the order they were added; a callback added afterwards runs at once.
    #[test]
    fn cancel_takes_the_stack() {
        let (f, c) = Future::<u32>::pending();
        let runs = Arc::new(AtomicUsize::new(0));
        for k in 0..3 {
            let runs = runs.clone();
            f.add_done_callback(move |r| {
                assert_eq!(r, &Err(Error::Cancelled));
                assert_eq!(runs.fetch_add(1, Ordering::SeqCst), k, "in order");
            });
        }
        assert!(f.cancel());
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let r = runs.clone();
        f.add_done_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 4);
        assert!(!c.set_running(), "a cancelled future does not start");
        assert!(f.is_cancelled() && f.is_done());
    }
}
