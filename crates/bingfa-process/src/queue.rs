//! [`Queue`]: a bounded multi-producer multi-consumer queue between
//! processes, in shared memory.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bingfa_sync::raw::Deadline;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{self, Codec, Postcard, Raw};
use crate::error::{Error, PutError};
use crate::ring::{self, Header, Modulus, PopError, PushError, Ring, Slot};
use crate::shm::{self, Shm};
use crate::sys;

/// The largest message a [`Queue::new`] queue takes, in encoded bytes
/// (Python has no limit).
pub const DEFAULT_MAX_MESSAGE: usize = 1016;

static ALIVE: fn(u32) -> bool = sys::pid_alive;

/// A bounded FIFO queue shared by processes. Python:
/// `multiprocessing.Queue`.
///
/// Items are encoded into the slots of a ring in shared memory; any
/// number of processes and threads put and get at once. The codec `C`
/// says how: serde with postcard, a compact binary format, by default
/// ([`Postcard`], any `Serialize + DeserializeOwned` item, as Python
/// pickles any item); for plain data (`bytemuck::Pod`: numbers, arrays,
/// `#[repr(C)]` structs of them) the item's own bytes, copied in and out
/// without serde ([`Raw`], a queue made with [`Queue::raw`]); or a
/// [`Codec`] of your own ([`Queue::with_codec`]). A full queue blocks
/// `put`, an empty one blocks `get`, by sleeping on a futex in the shared
/// memory (no busy spin).
///
/// A forked child inherits the queue (clone it into the closure); a spawned
/// child receives it as an argument of [`Builder::spawn`](crate::Builder::spawn).
///
/// Crash safety: a process killed at any point of a `put` never lets a torn
/// or partial item out, and the queue keeps working for the others (its
/// half-written slot is skipped once its death is seen); a process killed
/// in the middle of a `get` loses only that one item. A `get` decodes the
/// item in place, in its slot, which it holds meanwhile: if the item's
/// `Deserialize` panics, the panic reaches the caller, the item is lost
/// and the slot goes back to the producers. Each frame carries a checksum
/// (a torn frame cannot happen; the checksum is for bytes damaged by a
/// stray write into the shared memory): damage gives [`Error::Corrupt`].
/// A `put` measures the item's encoding first, so an item too large or
/// that cannot be encoded fails before any slot is taken, then encodes it
/// straight into the slot it claimed (no buffer, no copy); the gets of
/// that slot and the ones after it wait for the encoding to end, so a
/// `Serialize` that blocks holds up the consumers. The item's `Serialize`
/// thus runs twice a put (Python pickles once): one with side effects
/// sees both runs. It must not put into the same queue: the second run
/// holds a claimed slot, and a put from there into a full queue would
/// wait for gets that wait for it (nothing detects that deadlock; a
/// `put_timeout` would end it with [`Error::Timeout`]). If the item's
/// `Serialize` fails or panics in the slot (only one that behaves
/// differently the second time can), the slot becomes a hole that gets
/// skip: the put reports [`Error::Encode`] (or the panic reaches its
/// caller), no other item is lost or held up, and [`len`](Queue::len)
/// counts the hole until a get passes it.
///
/// Cost: on the fast path a `get` takes one locked instruction (the claim
/// of its slot) and no fence, and so does a `put` while several producers
/// share the queue. A thread that is the queue's only producer holds the
/// *producer lease* and claims its slots with a plain store and a fence
/// instead (on an AMD EPYC the locked claim, on a line the consumer works
/// next to, cost a quarter to half of the 1 -> 1 rate; on an Intel Xeon
/// it made no measurable difference). The first put of any other thread
/// or process revokes the lease for good, once the holder's claim in
/// progress (a few instructions) is over; a dead holder's lease is taken
/// over. A process about to sleep pays with a `membarrier(2)` call (on
/// kernels that refuse it, the waker side falls back to a fence and
/// sleeps re-check every 20 ms).
/// Measured on a 2-vCPU Intel Xeon (Emerald Rapids class, 2026-12-08)
/// with 64-byte items between two processes on two CPUs: 15-25 M items
/// a second, 0.28-0.69x a bare shared-memory ring of raw 64-byte slots
/// (0.6-0.7x in most runs, where that ring moved 36-39 M; 0.28-0.41x in
/// others, mostly when it moved 47-72 M; about 0.14x when the host put
/// the two vCPUs close enough for a cache-line round trip of 27 ns and
/// the ring moved 150-160 M, while bingfa, bound by its own
/// instructions, stayed at 20 M), and 1.0-1.6x that ring carrying the
/// same checked frames in 128-byte slots (1.5x in the median of five
/// runs). On a 2-vCPU AMD EPYC (Zen 4), with the lease and items
/// encoded straight into their slots: 21-22 M items a second; with
/// the consumer's write-back below too, 24-38 M, 0.2-0.35x the raw ring
/// (whose consumer does the same; it then runs at 90-140 M there) and
/// 0.6x that ring carrying the same frames. See `BENCHMARKS.md` and this
/// crate's `benches/NOTES.md`.
///
/// The codec's share: in one process on that AMD EPYC, a `[u64; 8]` item
/// took 42 ns to put and 42 to get with [`Postcard`], 16 and 14 ns with
/// [`Raw`] (no size pass, no serde: one copy each way); a `u64`, 22.5
/// and 12.7 ns against 11 and 10.7. Between processes the cache lines a
/// message moves cost more than either: in the same session the 64-byte
/// bench item ran 1 -> 1 at about the serde queue's rate with `Raw`
/// (0.94-1.02x), and 1.10-1.59x of it with 2 or 4 producers and as many
/// consumers, where 8 processes share 2 CPUs (medians of 3 interleaved
/// rounds). On the Intel Xeon `Raw` ran 1 -> 1 at 1.23-1.61x the serde
/// queue's rate (five runs), 2x2 at 0.95-1.13x, 4x4 at 1.20-1.30x.
///
/// On AMD CPUs a get, before it gives its slot back, writes one byte
/// into each cache line of the frame after the first (the first holds
/// the slot's state word, which it writes anyway): a line the producer
/// wrote and the consumer only read was measured slow for the producer
/// to write again (a put of a 64-byte item cost 41-46 ns against lines
/// the consumer had read on another CPU, 24 ns once it wrote them back).
/// Elsewhere it is off (on an Intel Xeon it made no difference). The
/// environment variable
/// `BINGFA_WRITE_BACK` (`1` on, `0` off, read once per process)
/// overrides the rule, for measuring it.
///
/// On AMD CPUs, too, a put does not prefetch the slot 8 tickets ahead of
/// its own (it does elsewhere): when the ring is nearly full that slot
/// is one a consumer has not given back, and taking its lines for
/// writing slowed the 1 -> 1 stream by half to two thirds when the
/// host's cache-line transfers were slow (no difference when they were
/// fast). `BINGFA_PRODUCER_PREFETCH` (`1` on, `0` off) overrides it.
///
/// Limits of the crash safety: a slot left half-written is skipped once its
/// producer's pid no longer exists (checked every 20 ms while a consumer
/// waits on it); if that pid is reused by a new process before a consumer
/// looks, the consumers wait until that process ends too. Processes must
/// share one pid namespace. A lease holder stopped (`SIGSTOP`, or off its
/// CPU) inside the few instructions of a claim holds up the put that
/// revokes its lease until it runs again or dies; a `try_put` meanwhile
/// reports [`Error::Full`], as for a slot in progress.
///
/// Differences from Python: the capacity is required (no unbounded queue);
/// an item's encoding is limited to [`max_message_size`](Queue::max_message_size)
/// bytes; there is no feeder thread, so a `put` is in the queue when it
/// returns; [`Raw`] items skip encoding altogether.
///
/// ```
/// let q = bingfa_process::Queue::<String>::new(8).unwrap();
/// let child = {
///     let q = q.clone();
///     // SAFETY: a doctest is a program of its own, with no other thread.
///     unsafe { bingfa_process::fork(move || q.put("hello from the child".to_string()).unwrap()) }
///         .unwrap()
/// };
/// assert_eq!(q.get().unwrap(), "hello from the child");
/// assert!(child.join().unwrap().success());
/// ```
pub struct Queue<T, C = Postcard> {
    shm: Arc<Shm>,
    /// The ring's sizes, checked against the mapping when the queue was
    /// made or received, and never read from the shared header again (see
    /// [`Ring::in_cells`]).
    cap: Modulus,
    slot_bytes: usize,
    /// The largest encoded item, as the queue's maker set it.
    max_message: usize,
    _items: PhantomData<Marker<T, C>>,
}

/// The item type and the codec, as `fn` pointers: a queue holds bytes,
/// not values, so it is `Send` and `Sync` whatever `T` and `C` are (as it
/// was with `T` alone).
type Marker<T, C> = (fn(T) -> T, fn() -> C);

impl<T, C> Clone for Queue<T, C> {
    fn clone(&self) -> Self {
        Queue {
            shm: self.shm.clone(),
            cap: self.cap,
            slot_bytes: self.slot_bytes,
            max_message: self.max_message,
            _items: PhantomData,
        }
    }
}

impl<T, C> fmt::Debug for Queue<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.ring();
        f.debug_struct("Queue")
            .field("len", &r.len())
            .field("capacity", &r.capacity())
            .field("closed", &r.is_closed())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue of `capacity` items of at most [`DEFAULT_MAX_MESSAGE`]
    /// encoded bytes each, encoded with serde ([`Postcard`]). Python:
    /// `multiprocessing.Queue(maxsize)`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a capacity of 0; [`Error::Os`] if the shared
    /// memory cannot be made.
    pub fn new(capacity: usize) -> Result<Queue<T>, Error> {
        Self::with_max_message(capacity, DEFAULT_MAX_MESSAGE)
    }

    /// A queue of `capacity` items of at most `max_message` encoded bytes
    /// each. Memory: about `capacity * (max_message + 24)` bytes, each slot
    /// rounded up to whole pairs of cache lines (128 bytes). Python:
    /// `multiprocessing.Queue(maxsize)`, whose items have no size limit.
    ///
    /// # Errors
    /// As for [`new`](Queue::new); [`Error::Invalid`] also when the sizes
    /// overflow.
    pub fn with_max_message(capacity: usize, max_message: usize) -> Result<Queue<T>, Error> {
        Self::with_codec(capacity, max_message)
    }
}

impl<T: bytemuck::Pod> Queue<T, Raw> {
    /// A queue of `capacity` plain-data items, each copied as its own
    /// bytes ([`Raw`]: no serde; `size_of::<T>()` bytes a slot). No Python
    /// counterpart: its queues pickle every item.
    ///
    /// Cheaper a message than a [`Postcard`] queue: no size pass, no
    /// encoding, one copy in and one out (see [`Queue`]'s cost paragraph).
    ///
    /// ```
    /// use bingfa_process::{Queue, Raw};
    /// let q: Queue<[f64; 3], Raw> = Queue::raw(16).unwrap();
    /// q.put([1.0, 2.0, 3.0]).unwrap();
    /// assert_eq!(q.get().unwrap(), [1.0, 2.0, 3.0]);
    /// assert_eq!(q.max_message_size(), 24);
    /// ```
    ///
    /// # Errors
    /// As for [`new`](Queue::new).
    pub fn raw(capacity: usize) -> Result<Queue<T, Raw>, Error> {
        Self::with_codec(capacity, std::mem::size_of::<T>())
    }
}

impl<T, C: Codec<T>> Queue<T, C> {
    /// A queue of `capacity` items of at most `max_message` payload bytes
    /// each, encoded with codec `C` ([`Postcard`], [`Raw`] or one of your
    /// own). Memory as for [`with_max_message`](Queue::with_max_message).
    ///
    /// Every process using the queue must name the same item type and
    /// codec, which nothing checks (as with a wrong item type): a payload
    /// the other codec or type cannot take is [`Error::Corrupt`] on the
    /// get (a `Raw` payload of another length, say); one it can take is
    /// read as that type (a `[u32; 2]` as a `u64`).
    ///
    /// # Errors
    /// As for [`with_max_message`](Queue::with_max_message).
    pub fn with_codec(capacity: usize, max_message: usize) -> Result<Queue<T, C>, Error> {
        if capacity == 0 || capacity > u32::MAX as usize / 2 {
            return Err(Error::Invalid("queue capacity must be in 1..=2^31-1"));
        }
        let slot_bytes =
            ring::slot_bytes_for(max_message).ok_or(Error::Invalid("message size too large"))?;
        let total = ring::layout(capacity, slot_bytes).ok_or(Error::Invalid("queue too large"))?;
        let shm = Shm::create(total)?;
        let base = shm.ptr();
        // SAFETY: the fresh mapping is `total` bytes, page-aligned, and
        // nobody else sees it yet; the header fits at its start, and each
        // slot at the start of its cell (see `layout`; cells are 64-aligned).
        unsafe {
            base.cast::<Header>().write(Header::new(
                capacity as u64,
                slot_bytes as u64,
                max_message as u64,
            ));
        }
        let cell = ring::cell(slot_bytes).ok_or(Error::Invalid("queue too large"))?;
        for i in 0..capacity {
            // SAFETY: as above; cell `i` lies inside the mapping.
            unsafe {
                base.add(ring::CELLS_AT + i * cell)
                    .cast::<Slot>()
                    .write(Slot::new(i as u64));
            }
        }
        Ok(Queue {
            shm,
            cap: Modulus::new(capacity as u64),
            slot_bytes,
            max_message,
            _items: PhantomData,
        })
    }

    /// Puts `item`, waiting while the queue is full. Python: `Queue.put`.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Queue::close); [`Error::TooLarge`]
    /// or [`Error::Encode`] if the item cannot be encoded into a slot. The
    /// item is handed back in every case.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_with(item, Some(None))
    }

    /// Puts `item`, waiting at most `timeout` for room. Python:
    /// `Queue.put(item, timeout=t)`.
    ///
    /// # Errors
    /// As for [`put`](Queue::put), and [`Error::Timeout`].
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_with(item, Some(Deadline::after(timeout)))
    }

    /// Puts `item` if there is room now. Python: `Queue.put_nowait`.
    ///
    /// # Errors
    /// As for [`put`](Queue::put), and [`Error::Full`].
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_with(item, None)
    }

    /// Puts `item`: without waiting (`wait` is `None`), or waiting until
    /// the deadline. The item is encoded straight into its slot once the
    /// slot is claimed (see `codec::encode_frame_into` for why not through
    /// a buffer); its size is measured first, so an item that does not
    /// fit, or that cannot be encoded, fails before any slot is claimed.
    #[inline]
    fn put_with(&self, item: T, wait: Option<Option<Deadline>>) -> Result<(), PutError<T>> {
        let ring = self.ring();
        let me = sys::getpid();
        let r = match C::size(&item) {
            Err(error) => Err(error),
            Ok(size) if size > self.max_message => Err(Error::TooLarge {
                size,
                max: self.max_message,
            }),
            Ok(_) => {
                // The room of the largest item allowed (which fits a slot).
                let room = codec::HEADER + self.max_message;
                // Only a `Serialize` that writes something else the second
                // time can fail here: its error, and a hole in the ring.
                let mut failed = None;
                let write = |dst: &mut [u8]| match codec::encode_frame_with::<C, T>(
                    &item,
                    &mut dst[..room],
                ) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        failed = Some(e);
                        None
                    }
                };
                let pushed = match wait {
                    None => ring.try_push_with(me, write),
                    Some(deadline) => ring.push_with(me, deadline, write),
                };
                pushed.map_err(|e| match e {
                    PushError::Full => Error::Full,
                    PushError::Closed => Error::Closed,
                    PushError::Timeout => Error::Timeout,
                    PushError::Unwritten => failed
                        .take()
                        .unwrap_or_else(|| Error::Encode("the item could not be encoded".into())),
                })
            }
        };
        r.map_err(|error| PutError { error, item })
    }

    /// Takes the oldest item, waiting while the queue is empty. Python:
    /// `Queue.get`.
    ///
    /// # Errors
    /// [`Error::Closed`] once the queue is closed and drained;
    /// [`Error::Corrupt`] if the item's bytes were damaged (the queue goes
    /// on working; the item is lost).
    pub fn get(&self) -> Result<T, Error> {
        self.get_with(Some(None))
    }

    /// Takes the oldest item, waiting at most `timeout`. Python:
    /// `Queue.get(timeout=t)`.
    ///
    /// # Errors
    /// As for [`get`](Queue::get), and [`Error::Timeout`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        let deadline = Deadline::after(timeout);
        self.get_with(Some(deadline))
    }

    /// Takes the oldest item if there is one now. Python:
    /// `Queue.get_nowait`.
    ///
    /// # Errors
    /// As for [`get`](Queue::get), and [`Error::Empty`].
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, Error> {
        self.get_with(None)
    }

    /// Takes an item: without waiting (`wait` is `None`), or waiting until
    /// the deadline. The frame is decoded in place, in its slot (the slot
    /// is held for this consumer while it decodes, and given back after).
    #[inline]
    fn get_with(&self, wait: Option<Option<Deadline>>) -> Result<T, Error> {
        let ring = self.ring();
        let me = sys::getpid();
        let popped = match wait {
            None => ring.try_pop_slot(me),
            Some(deadline) => ring.pop_slot(me, deadline),
        };
        match popped {
            Ok(frame) => codec::decode_frame_with::<C, T>(&frame),
            Err(PopError::Empty) => Err(Error::Empty),
            Err(PopError::Closed) => Err(Error::Closed),
            Err(PopError::Timeout) => Err(Error::Timeout),
        }
    }
}

impl<T, C: Codec<T>> Queue<T, C> {
    /// For crash tests only: starts a put of `item` and stops for good in
    /// the middle of it, after claiming a slot and writing `upto` bytes of
    /// the frame, as a process killed at that point would leave it. Never
    /// returns once a slot is claimed (the caller is meant to be killed);
    /// returns `false` at once if the queue is full.
    // Reached through `crate::__test_hooks` (feature `__test-hooks`).
    #[allow(dead_code)]
    pub(crate) fn __crash_test_partial_put(&self, item: &T, upto: usize) -> bool {
        let ring = self.ring();
        let mut buf = vec![0; codec::HEADER + self.max_message];
        match codec::encode_frame_with::<C, T>(item, &mut buf) {
            Ok(n) => buf.truncate(n),
            Err(_) => return false,
        }
        if !ring.claim_and_stop(&buf, sys::getpid(), upto) {
            return false;
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

impl<T, C> Queue<T, C> {
    /// For crash tests only: claims the oldest item for reading and stops
    /// for good, as a consumer killed in the middle of its get would leave
    /// it. Never returns once an item is claimed; returns `false` at once
    /// if there is none.
    // Reached through `crate::__test_hooks` (feature `__test-hooks`).
    #[allow(dead_code)]
    pub(crate) fn __crash_test_partial_get(&self) -> bool {
        if !self.ring().claim_read_and_stop(sys::getpid()) {
            return false;
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    /// For fault tests only: damages byte `at` of the oldest item's frame in
    /// the shared memory. Returns whether there was an item.
    // Reached through `crate::__test_hooks` (feature `__test-hooks`).
    #[allow(dead_code)]
    pub(crate) fn __fault_test_damage_oldest(&self, at: usize) -> bool {
        self.ring().damage_oldest(at)
    }
}

impl<T, C> Queue<T, C> {
    #[inline]
    fn ring(&self) -> Ring<'_> {
        // SAFETY: the mapping was laid out and initialized by
        // `with_max_message` (here or in the process that made it) for
        // these sizes, which were checked against its length when it was
        // received (`layout` is Some and fits; cap > 0); it lives as long
        // as `self.shm`.
        unsafe { Ring::in_cells(self.shm.ptr(), self.cap, self.slot_bytes, &ALIVE) }
    }

    /// How many items are in the queue now (a snapshot). Python:
    /// `Queue.qsize`.
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.ring().len()
    }

    /// Whether the queue is empty now. Python: `Queue.empty`.
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue is full now. Python: `Queue.full`.
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        let r = self.ring();
        r.len() >= r.capacity()
    }

    /// The most items the queue holds. Python: the `maxsize` argument.
    pub fn capacity(&self) -> usize {
        self.ring().capacity()
    }

    /// The largest encoded item a put accepts, in bytes (Python has no
    /// limit).
    pub fn max_message_size(&self) -> usize {
        self.max_message
    }

    /// Closes the queue for every process: puts fail with
    /// [`Error::Closed`], gets take what is left and then fail with
    /// [`Error::Closed`], and every blocked caller wakes up. Python:
    /// `Queue.close` is per process; this is Python 3.13's
    /// `queue.Queue.shutdown`.
    #[doc(alias = "shutdown")]
    pub fn close(&self) {
        self.ring().close()
    }

    /// Closes the queue like [`close`](Queue::close) and drops every item
    /// left in it, so that gets fail with [`Error::Closed`] at once;
    /// returns how many items were dropped. Python 3.13:
    /// `Queue.shutdown(immediate=True)`.
    ///
    /// A put that was under way in another process when the queue closed
    /// is waited for (briefly) and its item dropped too; gets under way
    /// meanwhile may still take items.
    #[doc(alias = "shutdown")]
    pub fn close_immediate(&self) -> usize {
        let ring = self.ring();
        ring.close();
        let me = sys::getpid();
        let mut dropped = 0;
        // Closed: a pop waits only for a put in progress (a live producer's
        // slot), then reports Closed once the ring is empty.
        while ring
            .pop_slot(me, Deadline::after(Duration::from_millis(100)))
            .is_ok()
        {
            dropped += 1;
        }
        dropped
    }

    /// Whether the queue is closed. Python 3.13: `Queue.is_shutdown`.
    pub fn is_closed(&self) -> bool {
        self.ring().is_closed()
    }
}

/// A queue serializes as its shared memory descriptor: only as an argument
/// of [`Builder::spawn`](crate::Builder::spawn).
impl<T, C> Serialize for Queue<T, C> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

impl<'de, T, C> Deserialize<'de> for Queue<T, C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shm = shm::deserialize_shm(d)?;
        let not_a_queue = || shm::refuse("shared memory is not a bingfa-process Queue");
        if shm.len() < std::mem::size_of::<Header>() {
            return Err(not_a_queue());
        }
        // SAFETY: reading the capacity fields of a header the parent wrote
        // before spawning us. They are copied and checked here, and only
        // the copies are used from now on.
        let (cap, slot_bytes, max_message) = unsafe {
            let h = &*shm.ptr().cast::<Header>();
            (h.cap, h.slot_bytes, h.max_message)
        };
        // What `with_max_message` can have made: a capacity in
        // 1..=2^31-1, the slot its maximum message size rounds up to.
        let (Ok(cap_n), Ok(slot_n), Ok(max_n)) = (
            usize::try_from(cap),
            usize::try_from(slot_bytes),
            usize::try_from(max_message),
        ) else {
            return Err(not_a_queue());
        };
        let sizes_ok = (1..=u64::from(u32::MAX / 2)).contains(&cap)
            && ring::slot_bytes_for(max_n) == Some(slot_n);
        match ring::layout(cap_n, slot_n) {
            Some(total) if sizes_ok && total <= shm.len() => Ok(Queue {
                shm,
                cap: Modulus::new(cap),
                slot_bytes: slot_n,
                max_message: max_n,
                _items: PhantomData,
            }),
            _ => Err(not_a_queue()),
        }
    }
}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    use super::*;

    #[test]
    fn sizes_written_into_the_shared_header_change_nothing() {
        // Any process mapping the queue can write its header. The sizes
        // are taken once, when the queue is made or received: a stray
        // write to them later must not send an access out of the mapping
        // (nor divide by a capacity of 0).
        let q = Queue::<u64>::with_max_message(4, 16).unwrap();
        q.put(1).unwrap();
        // SAFETY: the header is at the start of the mapping; nothing reads
        // these two plain fields concurrently in this test.
        unsafe {
            let h = q.shm.ptr().cast::<Header>();
            (*h).cap = 0;
            (*h).slot_bytes = 1 << 40;
            (*h).max_message = 1 << 40;
        }
        for i in 2..=4 {
            q.try_put(i).unwrap();
        }
        assert!(q.try_put(5).unwrap_err().is_full());
        assert_eq!(q.capacity(), 4);
        assert_eq!(q.len(), 4);
        for i in 1..=4 {
            assert_eq!(q.try_get().unwrap(), i);
        }
        assert_eq!(q.max_message_size(), 16);
    }
}
