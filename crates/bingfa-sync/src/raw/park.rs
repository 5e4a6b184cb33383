//! The parking lot: park a thread on an address, unpark one, some or all of
//! the threads parked on it.
//!
//! Real: `parking_lot_core`, the same global hash table of queues that
//! parking_lot's own primitives use. Under `--cfg bingfa_loom`: a small
//! queue built from loom's `Mutex` and `Condvar`, with the same contract, so
//! that loom explores every wake-up and timeout of the code above it.
//!
//! Tokens are plain `usize`s on both sides.

use super::Deadline;

/// What a [`park`] ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkResult {
    /// Another thread unparked us and passed this token.
    Unparked(usize),
    /// `validate` returned `false`: we never slept.
    Invalid,
    /// The deadline passed (under loom: the model called `clock::advance`).
    TimedOut,
}

/// What an unpark call did, given to its callback and returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnparkResult {
    /// How many threads were unparked.
    pub unparked_threads: usize,
    /// Whether threads are still parked on the key afterwards.
    pub have_more_threads: bool,
}

/// The verdict of an [`unpark_filter`] filter on one parked thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// Unpark this thread.
    Unpark,
    /// Leave it parked and look at the next one.
    Skip,
    /// Leave it and every later one parked.
    Stop,
}

#[cfg(not(bingfa_loom))]
mod imp {
    use super::*;
    use parking_lot_core as plc;

    fn result(r: plc::UnparkResult) -> UnparkResult {
        UnparkResult {
            unparked_threads: r.unparked_threads,
            have_more_threads: r.have_more_threads,
        }
    }

    /// Parks the current thread on `key` if `validate` returns `true`.
    ///
    /// `validate` runs with the key's queue locked; if it returns `false`,
    /// `Invalid` comes back at once. `before_sleep` runs after the queue is
    /// unlocked, just before sleeping. `timed_out(key, was_last_thread)` runs
    /// with the queue locked when the deadline passes.
    ///
    /// # Safety
    /// `key` must be an address the caller's primitive owns (no other
    /// primitive may park on it). `validate` and `timed_out` run with a
    /// queue lock held: they must not panic and must not park, unpark or
    /// call anything that does.
    #[inline]
    pub unsafe fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        park_token: usize,
        deadline: Option<Deadline>,
    ) -> ParkResult {
        // SAFETY: the caller upholds parking_lot_core's contract, which is
        // this function's contract word for word.
        let r = unsafe {
            plc::park(
                key,
                validate,
                before_sleep,
                timed_out,
                plc::ParkToken(park_token),
                deadline.map(|d| d.instant()),
            )
        };
        match r {
            plc::ParkResult::Unparked(t) => ParkResult::Unparked(t.0),
            plc::ParkResult::Invalid => ParkResult::Invalid,
            plc::ParkResult::TimedOut => ParkResult::TimedOut,
        }
    }

    /// Unparks one thread parked on `key` (the longest waiting). `callback`
    /// runs with the queue locked, whether or not a thread was found, and
    /// returns the token the woken thread receives.
    ///
    /// # Safety
    /// As for [`park`]: `callback` must not panic, park or unpark.
    #[inline]
    pub unsafe fn unpark_one(
        key: usize,
        callback: impl FnOnce(UnparkResult) -> usize,
    ) -> UnparkResult {
        // SAFETY: forwarded contract, see above.
        let r = unsafe { plc::unpark_one(key, |r| plc::UnparkToken(callback(result(r)))) };
        result(r)
    }

    /// Unparks every thread parked on `key`, passing each `token`; returns
    /// how many.
    ///
    /// # Safety
    /// `key` must belong to the caller's primitive.
    #[inline]
    pub unsafe fn unpark_all(key: usize, token: usize) -> usize {
        // SAFETY: forwarded contract, see above.
        unsafe { plc::unpark_all(key, plc::UnparkToken(token)) }
    }

    /// Goes through the threads parked on `key` in order, asking `filter`
    /// (with each one's park token) whether to unpark it; `callback` then
    /// runs with the queue locked and returns the token the woken threads
    /// receive.
    ///
    /// # Safety
    /// As for [`unpark_one`]; `filter` must not panic, park or unpark.
    #[inline]
    pub unsafe fn unpark_filter(
        key: usize,
        mut filter: impl FnMut(usize) -> FilterOp,
        callback: impl FnOnce(UnparkResult) -> usize,
    ) -> UnparkResult {
        // SAFETY: forwarded contract, see above.
        let r = unsafe {
            plc::unpark_filter(
                key,
                |t| match filter(t.0) {
                    FilterOp::Unpark => plc::FilterOp::Unpark,
                    FilterOp::Skip => plc::FilterOp::Skip,
                    FilterOp::Stop => plc::FilterOp::Stop,
                },
                |r| plc::UnparkToken(callback(result(r))),
            )
        };
        result(r)
    }
}

#[cfg(bingfa_loom)]
mod imp {
    //! The loom model of the parking lot: one global queue (per model
    //! execution) of waiters, each with its own loom `Mutex` + `Condvar`.

    use super::*;
    use loom::sync::{Arc, Condvar, Mutex};

    #[derive(Default)]
    struct Slot {
        /// Set (under the queue lock) by the thread that unparks us.
        token: Option<usize>,
        /// Set by `clock::advance` on a timed waiter.
        timeout: bool,
    }

    struct Waiter {
        key: usize,
        park_token: usize,
        timed: bool,
        slot: Mutex<Slot>,
        cv: Condvar,
    }

    impl Waiter {
        fn wake(&self, token: usize) {
            self.slot.lock().unwrap().token = Some(token);
            self.cv.notify_one();
        }
    }

    loom::lazy_static! {
        static ref QUEUE: Mutex<Vec<Arc<Waiter>>> = Mutex::new(Vec::new());
    }

    /// See the real implementation's docs.
    ///
    /// # Safety
    /// Same contract as the real implementation.
    pub unsafe fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        park_token: usize,
        deadline: Option<Deadline>,
    ) -> ParkResult {
        let me = {
            let mut q = QUEUE.lock().unwrap();
            if !validate() {
                return ParkResult::Invalid;
            }
            let me = Arc::new(Waiter {
                key,
                park_token,
                timed: deadline.is_some(),
                slot: Mutex::new(Slot::default()),
                cv: Condvar::new(),
            });
            q.push(me.clone());
            me
        };
        before_sleep();
        let mut slot = me.slot.lock().unwrap();
        loop {
            if let Some(t) = slot.token {
                return ParkResult::Unparked(t);
            }
            if slot.timeout {
                break;
            }
            slot = me.cv.wait(slot).unwrap();
        }
        drop(slot);
        // The timeout fired: leave the queue unless an unparker took us out
        // first, in which case its token is (or is about to be) in the slot.
        let mut q = QUEUE.lock().unwrap();
        if let Some(i) = q.iter().position(|w| Arc::ptr_eq(w, &me)) {
            q.remove(i);
            let was_last = !q.iter().any(|w| w.key == key);
            timed_out(key, was_last);
            return ParkResult::TimedOut;
        }
        drop(q);
        let mut slot = me.slot.lock().unwrap();
        loop {
            if let Some(t) = slot.token {
                return ParkResult::Unparked(t);
            }
            slot = me.cv.wait(slot).unwrap();
        }
    }

    /// See the real implementation's docs.
    ///
    /// # Safety
    /// Same contract as the real implementation.
    pub unsafe fn unpark_one(
        key: usize,
        callback: impl FnOnce(UnparkResult) -> usize,
    ) -> UnparkResult {
        let mut q = QUEUE.lock().unwrap();
        let found = q.iter().position(|w| w.key == key).map(|i| q.remove(i));
        let r = UnparkResult {
            unparked_threads: found.is_some() as usize,
            have_more_threads: q.iter().any(|w| w.key == key),
        };
        let token = callback(r);
        if let Some(w) = found {
            w.wake(token);
        }
        r
    }

    /// See the real implementation's docs.
    ///
    /// # Safety
    /// Same contract as the real implementation.
    pub unsafe fn unpark_all(key: usize, token: usize) -> usize {
        let mut q = QUEUE.lock().unwrap();
        let mut woken = Vec::new();
        q.retain(|w| {
            if w.key == key {
                woken.push(w.clone());
                false
            } else {
                true
            }
        });
        for w in &woken {
            w.wake(token);
        }
        woken.len()
    }

    /// See the real implementation's docs.
    ///
    /// # Safety
    /// Same contract as the real implementation.
    pub unsafe fn unpark_filter(
        key: usize,
        mut filter: impl FnMut(usize) -> FilterOp,
        callback: impl FnOnce(UnparkResult) -> usize,
    ) -> UnparkResult {
        let mut q = QUEUE.lock().unwrap();
        let mut woken = Vec::new();
        let mut i = 0;
        while i < q.len() {
            if q[i].key != key {
                i += 1;
                continue;
            }
            match filter(q[i].park_token) {
                FilterOp::Unpark => woken.push(q.remove(i)),
                FilterOp::Skip => i += 1,
                FilterOp::Stop => break,
            }
        }
        let r = UnparkResult {
            unparked_threads: woken.len(),
            have_more_threads: q.iter().any(|w| w.key == key),
        };
        let token = callback(r);
        for w in &woken {
            w.wake(token);
        }
        r
    }

    /// Flags every timed waiter parked right now as timed out.
    pub(crate) fn fire_timeouts() {
        let q = QUEUE.lock().unwrap();
        for w in q.iter().filter(|w| w.timed) {
            w.slot.lock().unwrap().timeout = true;
            w.cv.notify_one();
        }
    }
}

#[cfg(bingfa_loom)]
pub(crate) use imp::fire_timeouts;
pub use imp::{park, unpark_all, unpark_filter, unpark_one};
