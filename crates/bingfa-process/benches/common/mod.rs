//! What the IPC benches share: the 64-byte message, CPU pinning, the
//! floors (bare shared-memory rings written as well as we can) and the
//! kernel peers, and one function per (load, member) that runs one sample
//! and returns the time it took. `ipc.rs` (criterion) and `ipc_rounds.rs`
//! (interleaved rounds, the figures quoted in `NOTES.md`) both use them.

#![allow(dead_code)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bingfa_process::{Codec, Pipe, Queue};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 64-byte message, serialized as one byte string (what `serde_bytes`
/// does): postcard writes a one-byte length and copies the bytes, instead
/// of 64 separate `u8` elements (several times slower, for every peer
/// alike). Plain data too, for the queue's `Raw` codec (its own bytes, no
/// serde).
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub struct Msg(pub [u8; 64]);

impl Serialize for Msg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Msg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Msg;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("64 bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Msg, E> {
                v.try_into()
                    .map(Msg)
                    .map_err(|_| E::invalid_length(v.len(), &self))
            }
        }
        d.deserialize_bytes(V)
    }
}

pub fn msg(i: u64) -> Msg {
    let mut a = [7u8; 64];
    a[..8].copy_from_slice(&i.to_le_bytes());
    Msg(a)
}

/// Tells a ping-pong child to stop.
pub const STOP: Msg = Msg([0xff; 64]);

/// The largest encoded `Msg` (a one-byte length and 64 bytes).
pub const MSG_ENCODED: usize = 65;

/// The CPU model, from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The CPUs this process may run on.
pub fn usable_cpus() -> Vec<usize> {
    let Ok(set) = rustix::thread::sched_getaffinity(None) else {
        return Vec::new();
    };
    (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| set.is_set(c))
        .collect()
}

/// Pins the calling thread to CPU `c`; whether that worked.
pub fn pin(c: usize) -> bool {
    let mut set = rustix::thread::CpuSet::new();
    set.set(c);
    rustix::thread::sched_setaffinity(None, &set).is_ok()
}

/// Pins this thread to one CPU (`taskset -c`) and says which CPU a child
/// should pin itself to: another one (`apart`, when there are two), or the
/// same one. Restores the old affinity when dropped.
pub struct Pinned {
    /// The affinity before (`None`: could not be read, nothing to restore).
    old: Option<rustix::thread::CpuSet>,
    child: Option<usize>,
}

impl Pinned {
    /// Parent and child on two different CPUs (when there are two).
    pub fn apart() -> Pinned {
        Pinned::new(false)
    }

    /// Parent and child both on the first usable CPU.
    pub fn together() -> Pinned {
        Pinned::new(true)
    }

    fn new(together: bool) -> Pinned {
        // The first fork may start bingfa's reaper thread, which would
        // inherit this thread's pinning for good: fork once before pinning.
        // SAFETY: the bench programs (ipc.rs under criterion, ipc_rounds.rs) start
        // no thread of their own and measure on the main thread, so this
        // process is single-threaded when it forks: the child may do anything.
        unsafe { bingfa_process::fork(|| {}) }
            .unwrap()
            .join()
            .unwrap();
        let old = rustix::thread::sched_getaffinity(None).ok();
        let cpus = usable_cpus();
        let child = if together {
            cpus.first().copied().filter(|&c| pin(c))
        } else if cpus.len() >= 2 && pin(cpus[0]) {
            Some(cpus[1])
        } else {
            None
        };
        if child.is_none() {
            eprintln!("ipc bench: not pinned (fewer than two CPUs usable, or no affinity)");
        }
        Pinned { old, child }
    }

    /// For the child: pins it to its CPU.
    pub fn child(&self) {
        if let Some(c) = self.child {
            pin(c);
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            let _ = rustix::thread::sched_setaffinity(None, old);
        }
    }
}

/// Anonymous shared memory of `len` bytes (zeroed), unmapped on drop.
pub struct SharedMem {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: plain memory; what is stored in it is accessed atomically or
// handed over by the protocols below.
unsafe impl Sync for SharedMem {}
// SAFETY: as above.
unsafe impl Send for SharedMem {}

impl SharedMem {
    pub fn new(len: usize) -> SharedMem {
        // SAFETY: an anonymous shared mapping, zero-filled.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        SharedMem {
            ptr: ptr.cast(),
            len,
        }
    }

    /// The 8-aligned atomic at byte `off`.
    pub fn u64_at(&self, off: usize) -> &AtomicU64 {
        assert!(off.is_multiple_of(8) && off + 8 <= self.len);
        // SAFETY: aligned, inside the mapping, only ever used atomically.
        unsafe { &*self.ptr.add(off).cast::<AtomicU64>() }
    }

    pub fn u32_at(&self, off: usize) -> &AtomicU32 {
        assert!(off.is_multiple_of(4) && off + 4 <= self.len);
        // SAFETY: as above.
        unsafe { &*self.ptr.add(off).cast::<AtomicU32>() }
    }

    /// The address of byte `off` (not checked: the callers' offsets are
    /// computed from the sizes they mapped).
    #[inline(always)]
    pub fn at(&self, off: usize) -> *mut u8 {
        debug_assert!(off < self.len);
        self.ptr.wrapping_add(off)
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Waits for something another process does: spins a little, then yields
/// (on a 2-CPU machine shared with other work, pure spinning would starve
/// the very process being waited for).
#[inline]
pub fn spin(n: &mut u32) {
    *n += 1;
    if *n < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Whether the floors' consumers write back the lines they read, as
/// bingfa's does (see [`write_back_lines`]): on an AMD CPU (CPUID vendor
/// `AuthenticAMD`), unless `BINGFA_WRITE_BACK` says otherwise (`1` on,
/// `0` off), as for bingfa.
pub fn write_back() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        match std::env::var_os("BINGFA_WRITE_BACK") {
            Some(v) if v == "1" => return true,
            Some(v) if v == "0" => return false,
            _ => {}
        }
        #[cfg(target_arch = "x86_64")]
        {
            // `__cpuid` is safe on recent compilers, `unsafe` on older ones.
            #[allow(unused_unsafe)]
            // SAFETY: `cpuid` leaf 0 exists on every x86-64 CPU.
            let r = unsafe { std::arch::x86_64::__cpuid(0) };
            (r.ebx, r.edx, r.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163)
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// What bingfa's consumer does on AMD before it gives a slot back
/// (`Ring::write_back_lines` in the crate): a zero byte into each cache
/// line of `[p, p + len)` (after the first one if `skip_first`, a line
/// the consumer has written anyway), so that the producer takes each line
/// back from a line the other CPU wrote, in one transfer. On an AMD EPYC
/// (Zen 4) this alone moved the 64-byte Lamport ring from 57-76 to 87-160
/// M msg/s (NOTES.md, "a fifth session"): a floor that left it out would
/// not be the best ring we can write there. Nothing where [`write_back`]
/// says no.
///
/// # Safety
/// `p` is valid for writes of `len` bytes that no one else reads or
/// writes meanwhile.
#[inline(always)]
pub unsafe fn write_back_lines(p: *mut u8, len: usize, skip_first: bool) {
    if !write_back() {
        return;
    }
    let start = p as usize;
    let mut at = if skip_first {
        (start | 63) + 1 - start
    } else {
        0
    };
    while at < len {
        // SAFETY: inside `[p, p + len)` (the caller's contract).
        unsafe { p.add(at).write_volatile(0) };
        at = (((start + at) | 63) + 1) - start;
    }
}

/// Ring capacity of every floor and of bingfa's queues in these loads.
pub const CAP: u64 = 1024;

/// The SPSC floor: a Lamport ring of raw `SLOT`-byte slots (64 unless
/// said) in shared memory, written as carefully as we know how
/// (MCRingBuffer / FastForward-style):
///
/// - the producer's `tail` and the consumer's `head` each sit alone in
///   their own 128-byte pair of cache lines (so the adjacent-line
///   prefetcher pairs them with nothing), and the slots start after them
///   on a 128-byte boundary;
/// - each side keeps a private copy of the other's index and reads the
///   shared one only when its copy says the ring is full (empty);
/// - each side publishes its own index once per [`BATCH`] messages, and
///   before it waits (so neither waits on the other with messages or
///   slots unpublished), and at the end of a run ([`Producer::flush`]).
///
/// No serialization, no checksum, no crash safety, no sleeping. (With
/// 128-byte slots and bingfa's frames in them, [`spsc_lamport_framed`]
/// adds the first two back.)
pub struct LamportRing<const SLOT: usize = 64> {
    mem: SharedMem,
}

/// How many messages a side handles before it publishes its index.
pub const BATCH: u64 = 32;
const TAIL_AT: usize = 0;
const HEAD_AT: usize = 128;
const SLOTS_AT: usize = 256;

impl<const SLOT: usize> Default for LamportRing<SLOT> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SLOT: usize> LamportRing<SLOT> {
    pub fn new() -> Self {
        LamportRing {
            mem: SharedMem::new(SLOTS_AT + CAP as usize * SLOT),
        }
    }

    #[inline(always)]
    fn slot(&self, pos: u64) -> *mut u8 {
        self.mem.at(SLOTS_AT + (pos % CAP) as usize * SLOT)
    }

    /// The producer side (one process), starting where the ring is now.
    pub fn producer(&self) -> Producer<'_, SLOT> {
        let tail = self.mem.u64_at(TAIL_AT).load(Ordering::Relaxed);
        Producer {
            ring: self,
            tail,
            published: tail,
            head: self.mem.u64_at(HEAD_AT).load(Ordering::Acquire),
        }
    }

    /// The consumer side (one process), starting where the ring is now.
    pub fn consumer(&self) -> Consumer<'_, SLOT> {
        let head = self.mem.u64_at(HEAD_AT).load(Ordering::Relaxed);
        Consumer {
            ring: self,
            head,
            published: head,
            tail: self.mem.u64_at(TAIL_AT).load(Ordering::Acquire),
        }
    }
}

pub struct Producer<'r, const SLOT: usize = 64> {
    ring: &'r LamportRing<SLOT>,
    /// Next position to write.
    tail: u64,
    /// The tail the consumer can see.
    published: u64,
    /// The consumer's head, as last read.
    head: u64,
}

impl Producer<'_, 64> {
    #[inline]
    pub fn push(&mut self, m: &[u8; 64]) {
        self.push_with(|slot| *slot = *m);
    }
}

impl<const SLOT: usize> Producer<'_, SLOT> {
    /// Waits for a free slot, lets `write` fill it, and moves on.
    #[inline]
    pub fn push_with(&mut self, write: impl FnOnce(&mut [u8; SLOT])) {
        if self.tail - self.head == CAP {
            self.flush();
            let mut spins = 0;
            loop {
                self.head = self.ring.mem.u64_at(HEAD_AT).load(Ordering::Acquire);
                if self.tail - self.head < CAP {
                    break;
                }
                spin(&mut spins);
            }
        }
        // SAFETY: the slot is free (the consumer's published head is past
        // it) and only this producer touches it until it publishes.
        write(unsafe { &mut *self.ring.slot(self.tail).cast::<[u8; SLOT]>() });
        self.tail += 1;
        if self.tail - self.published >= BATCH {
            self.flush();
        }
    }

    /// Publishes every message written so far.
    #[inline]
    pub fn flush(&mut self) {
        self.ring
            .mem
            .u64_at(TAIL_AT)
            .store(self.tail, Ordering::Release);
        self.published = self.tail;
    }
}

impl<const SLOT: usize> Drop for Producer<'_, SLOT> {
    fn drop(&mut self) {
        self.flush();
    }
}

pub struct Consumer<'r, const SLOT: usize = 64> {
    ring: &'r LamportRing<SLOT>,
    head: u64,
    published: u64,
    tail: u64,
}

impl Consumer<'_, 64> {
    #[inline]
    pub fn pop(&mut self) -> [u8; 64] {
        self.pop_with(|slot| *slot)
    }
}

impl<const SLOT: usize> Consumer<'_, SLOT> {
    /// Waits for a message, lets `read` read it in its slot, and gives the
    /// slot back.
    #[inline]
    pub fn pop_with<R>(&mut self, read: impl FnOnce(&[u8; SLOT]) -> R) -> R {
        if self.head == self.tail {
            self.flush();
            let mut spins = 0;
            loop {
                self.tail = self.ring.mem.u64_at(TAIL_AT).load(Ordering::Acquire);
                if self.tail != self.head {
                    break;
                }
                spin(&mut spins);
            }
        }
        // SAFETY: the slot was published by the producer's Release store
        // of a tail past it, which we acquired, and the producer does not
        // touch it again until our head is past it.
        let r = read(unsafe { &*self.ring.slot(self.head).cast::<[u8; SLOT]>() });
        // SAFETY: the slot is this consumer's until it publishes a head
        // past it; `read`'s borrow has ended.
        unsafe { write_back_lines(self.ring.slot(self.head), SLOT, false) };
        self.head += 1;
        if self.head - self.published >= BATCH {
            self.flush();
        }
        r
    }

    /// Gives back every slot read so far.
    #[inline]
    pub fn flush(&mut self) {
        self.ring
            .mem
            .u64_at(HEAD_AT)
            .store(self.head, Ordering::Release);
        self.published = self.head;
    }
}

impl<const SLOT: usize> Drop for Consumer<'_, SLOT> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The MPMC floor: Vyukov's bounded MPMC queue of raw 64-byte messages in
/// shared memory (a sequence word per slot, a CAS on a shared ticket per
/// put and per get), slots and tickets on their own 128-byte pairs. No
/// serialization, no checksum, no crash safety, no sleeping.
pub struct VyukovRing {
    mem: SharedMem,
}

const V_TAIL_AT: usize = 0;
const V_HEAD_AT: usize = 128;
const V_SLOTS_AT: usize = 256;
/// A slot: its sequence word, then the message (72 bytes, in a 128-byte
/// cell so that no two slots share a line or a prefetch pair).
const V_CELL: usize = 128;

impl Default for VyukovRing {
    fn default() -> Self {
        Self::new()
    }
}

impl VyukovRing {
    pub fn new() -> VyukovRing {
        let r = VyukovRing {
            mem: SharedMem::new(V_SLOTS_AT + CAP as usize * V_CELL),
        };
        for i in 0..CAP {
            r.seq(i).store(i, Ordering::Relaxed);
        }
        r
    }

    #[inline(always)]
    fn seq(&self, pos: u64) -> &AtomicU64 {
        self.mem.u64_at(V_SLOTS_AT + (pos % CAP) as usize * V_CELL)
    }

    #[inline(always)]
    fn data(&self, pos: u64) -> *mut u8 {
        self.mem.at(V_SLOTS_AT + (pos % CAP) as usize * V_CELL + 8)
    }

    pub fn push(&self, m: &[u8; 64]) {
        let tail = self.mem.u64_at(V_TAIL_AT);
        let mut spins = 0;
        let mut pos = tail.load(Ordering::Relaxed);
        loop {
            let seq = self.seq(pos).load(Ordering::Acquire);
            let d = seq as i64 - pos as i64;
            if d == 0 {
                match tail.compare_exchange_weak(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => break,
                    Err(p) => pos = p,
                }
            } else if d < 0 {
                spin(&mut spins);
                pos = tail.load(Ordering::Relaxed);
            } else {
                pos = tail.load(Ordering::Relaxed);
            }
        }
        // SAFETY: the CAS gave us the slot of `pos`.
        unsafe { std::ptr::copy_nonoverlapping(m.as_ptr(), self.data(pos), 64) };
        self.seq(pos).store(pos + 1, Ordering::Release);
    }

    pub fn pop(&self) -> [u8; 64] {
        let head = self.mem.u64_at(V_HEAD_AT);
        let mut spins = 0;
        let mut pos = head.load(Ordering::Relaxed);
        loop {
            let seq = self.seq(pos).load(Ordering::Acquire);
            let d = seq as i64 - (pos + 1) as i64;
            if d == 0 {
                match head.compare_exchange_weak(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => break,
                    Err(p) => pos = p,
                }
            } else if d < 0 {
                spin(&mut spins);
                pos = head.load(Ordering::Relaxed);
            } else {
                pos = head.load(Ordering::Relaxed);
            }
        }
        let mut m = [0u8; 64];
        // SAFETY: the CAS gave us the slot, published by the Release store
        // of its sequence we acquired.
        unsafe { std::ptr::copy_nonoverlapping(self.data(pos), m.as_mut_ptr(), 64) };
        // SAFETY: as above; the sequence store below writes the first line.
        unsafe { write_back_lines(self.data(pos), 64, true) };
        self.seq(pos).store(pos + CAP, Ordering::Release);
        m
    }
}

/// A POSIX message queue (`mq_overview(7)`): the kernel's own MPMC queue of
/// whole messages. Raw 64-byte messages, no serialization.
pub struct PosixMq {
    fd: libc::mqd_t,
}

impl PosixMq {
    /// A fresh queue of `cap` messages, or of as many as the kernel allows
    /// without privileges (`/proc/sys/fs/mqueue/msg_max`, 10 by default)
    /// if it refuses `cap`; `None` (with the reason on stderr) where the
    /// kernel refuses both.
    pub fn new(cap: i64) -> Option<PosixMq> {
        let max = std::fs::read_to_string("/proc/sys/fs/mqueue/msg_max")
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok());
        let mut err = None;
        for cap in [Some(cap), max.map(|m| m.min(cap))].into_iter().flatten() {
            match PosixMq::open(cap) {
                Ok(q) => return Some(q),
                Err(e) => err = Some(e),
            }
        }
        eprintln!("POSIX message queue refused: {err:?}");
        None
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> i64 {
        // SAFETY: a zeroed mq_attr is valid; mq_getattr fills it.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        // SAFETY: our descriptor and a valid attr.
        unsafe { libc::mq_getattr(self.fd, &mut attr) };
        attr.mq_maxmsg
    }

    fn open(cap: i64) -> std::io::Result<PosixMq> {
        let name = format!("/bingfa-bench-{}\0", std::process::id());
        // SAFETY: a zeroed mq_attr is valid; the fields set are the ones
        // mq_open reads.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = cap;
        attr.mq_msgsize = 64;
        // SAFETY: a NUL-terminated name and a valid attr.
        let fd = unsafe {
            libc::mq_open(
                name.as_ptr().cast(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
                0o600 as libc::mode_t,
                &attr as *const libc::mq_attr,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The descriptor stays valid (and is inherited by forks) once the
        // name is gone.
        // SAFETY: the same name.
        unsafe { libc::mq_unlink(name.as_ptr().cast()) };
        Ok(PosixMq { fd })
    }

    pub fn send(&self, m: &[u8; 64]) {
        // SAFETY: 64 readable bytes.
        let r = unsafe { libc::mq_send(self.fd, m.as_ptr().cast(), 64, 0) };
        assert_eq!(r, 0, "mq_send: {}", std::io::Error::last_os_error());
    }

    pub fn recv(&self) -> [u8; 64] {
        let mut m = [0u8; 64];
        // SAFETY: 64 writable bytes, the queue's message size.
        let r =
            unsafe { libc::mq_receive(self.fd, m.as_mut_ptr().cast(), 64, std::ptr::null_mut()) };
        assert_eq!(r, 64, "mq_receive: {}", std::io::Error::last_os_error());
        m
    }
}

impl Drop for PosixMq {
    fn drop(&mut self) {
        // SAFETY: our descriptor.
        unsafe { libc::mq_close(self.fd) };
    }
}

// ---------------------------------------------------------------------
// One sample of each load. Each returns the time from the moment every
// process is ready until the last message is taken.
// ---------------------------------------------------------------------

/// 1 -> 1: a forked producer puts `n` messages, this process takes them.
pub fn spsc(cpus: &Pinned, n: u64, put: impl Fn(u64), get: impl FnMut()) -> Duration {
    spsc_with(cpus, n, |_| {}, put, get)
}

/// As [`spsc`], with `done` run in the producer after its last put.
pub fn spsc_with(
    cpus: &Pinned,
    n: u64,
    done: impl FnOnce(u64),
    put: impl Fn(u64),
    mut get: impl FnMut(),
) -> Duration {
    // SAFETY: the bench programs (ipc.rs under criterion, ipc_rounds.rs) start
    // no thread of their own and measure on the main thread, so this
    // process is single-threaded when it forks: the child may do anything.
    let p = unsafe {
        bingfa_process::fork(|| {
            cpus.child();
            for i in 0..n {
                put(i);
            }
            done(n);
        })
    }
    .unwrap();
    let t = Instant::now();
    for _ in 0..n {
        get();
    }
    let d = t.elapsed();
    assert!(p.join().unwrap().success());
    d
}

pub fn spsc_queue<C: Codec<Msg>>(cpus: &Pinned, q: &Queue<Msg, C>, n: u64) -> Duration {
    spsc(
        cpus,
        n,
        |i| q.put(msg(i)).unwrap(),
        || {
            black_box(q.get().unwrap());
        },
    )
}

pub fn spsc_pipe(cpus: &Pinned, n: u64) -> Duration {
    let (tx, rx) = Pipe::<Msg>::new().unwrap();
    spsc(
        cpus,
        n,
        |i| tx.send(&msg(i)).unwrap(),
        || {
            black_box(rx.recv().unwrap());
        },
    )
}

pub fn spsc_ipc_channel(cpus: &Pinned, n: u64) -> Duration {
    let (tx, rx) = ipc_channel::ipc::channel::<Msg>().unwrap();
    spsc(
        cpus,
        n,
        |i| tx.send(msg(i)).unwrap(),
        || {
            black_box(rx.recv().unwrap());
        },
    )
}

pub fn spsc_lamport(cpus: &Pinned, ring: &LamportRing, n: u64) -> Duration {
    // SAFETY: the bench programs (ipc.rs under criterion, ipc_rounds.rs) start
    // no thread of their own and measure on the main thread, so this
    // process is single-threaded when it forks: the child may do anything.
    let p = unsafe {
        bingfa_process::fork(|| {
            cpus.child();
            let mut tx = ring.producer();
            for i in 0..n {
                tx.push(&msg(i).0);
            }
            tx.flush();
        })
    }
    .unwrap();
    let t = Instant::now();
    {
        let mut rx = ring.consumer();
        for _ in 0..n {
            black_box(rx.pop());
        }
    }
    let d = t.elapsed();
    assert!(p.join().unwrap().success());
    d
}

/// The Lamport ring with what a queue's message needs beyond its 64 bytes:
/// a 128-byte slot per message (the size of bingfa's cell for it: the
/// message and a header do not fit one line), and, if `codec`, bingfa's own
/// work per message: each put encodes the message as bingfa's frame
/// (postcard, then the checksum) straight into its slot, as the queue
/// does (less the size pass a put makes first, about 1 ns), each get
/// checks the frame in its slot and decodes it. Without `codec` the same 73
/// bytes (a frame's length) are copied raw.
///
/// Together with the plain ring they split the gap between bingfa and the
/// floor: two lines a message instead of one, serialization and checksum,
/// and what is left, bingfa's own protocol (the slot's state word, the
/// claim, crash safety, waking), which a queue with Lamport indices would
/// save.
pub fn spsc_lamport_framed(
    cpus: &Pinned,
    ring: &LamportRing<128>,
    n: u64,
    codec: bool,
) -> Duration {
    use bingfa_process::codec::{decode_frame, encode_frame_into, frame_len, HEADER};
    // SAFETY: as in `spsc_lamport`.
    let p = unsafe {
        bingfa_process::fork(|| {
            cpus.child();
            let mut tx = ring.producer();
            for i in 0..n {
                if codec {
                    // Straight into the slot, as the queue's put does
                    // (since 6fec783; through a buffer and a copy this
                    // member ran at less than half the rate on an AMD
                    // EPYC: see NOTES.md, "a fourth session").
                    tx.push_with(|slot| {
                        encode_frame_into(&msg(i), &mut slot[..]).unwrap();
                    });
                } else {
                    let m = msg(i);
                    tx.push_with(|slot| {
                        slot[..HEADER].fill(0);
                        slot[HEADER..HEADER + 64].copy_from_slice(&m.0);
                    });
                }
            }
            tx.flush();
        })
    }
    .unwrap();
    let t = Instant::now();
    {
        let mut rx = ring.consumer();
        for _ in 0..n {
            if codec {
                black_box(rx.pop_with(|slot| {
                    let len = frame_len(slot).unwrap();
                    decode_frame::<Msg>(&slot[..len]).unwrap()
                }));
            } else {
                black_box(rx.pop_with(|slot| {
                    let mut m = [0u8; 64];
                    m.copy_from_slice(&slot[HEADER..HEADER + 64]);
                    Msg(m)
                }));
            }
        }
    }
    let d = t.elapsed();
    assert!(p.join().unwrap().success());
    d
}

/// `producers` -> `consumers` processes, `n` messages in all (each producer
/// puts `n / producers`, each consumer takes `n / consumers`). Not pinned.
/// The clock runs from the moment every child is ready (a start flag in
/// shared memory) until the last consumer is done.
pub fn mpmc(
    producers: u64,
    consumers: u64,
    n: u64,
    put: impl Fn(u64) + Sync,
    get: impl Fn() + Sync,
) -> Duration {
    assert!(n.is_multiple_of(producers) && n.is_multiple_of(consumers));
    let ctl = SharedMem::new(256);
    let ready = ctl.u32_at(0);
    let go = ctl.u32_at(64);
    let done = ctl.u32_at(128);
    let wait_go = || {
        ready.fetch_add(1, Ordering::SeqCst);
        let mut s = 0;
        while go.load(Ordering::Acquire) == 0 {
            spin(&mut s);
        }
    };
    let mut children = Vec::new();
    for p in 0..producers {
        let (put, wait_go) = (&put, &wait_go);
        children.push(
            // SAFETY: the bench programs (ipc.rs under criterion, ipc_rounds.rs) start
            // no thread of their own and measure on the main thread, so this
            // process is single-threaded when it forks: the child may do anything.
            unsafe {
                bingfa_process::fork(move || {
                    wait_go();
                    let per = n / producers;
                    for i in p * per..(p + 1) * per {
                        put(i);
                    }
                })
            }
            .unwrap(),
        );
    }
    for _ in 0..consumers {
        let (get, wait_go) = (&get, &wait_go);
        children.push(
            // SAFETY: the bench programs (ipc.rs under criterion, ipc_rounds.rs) start
            // no thread of their own and measure on the main thread, so this
            // process is single-threaded when it forks: the child may do anything.
            unsafe {
                bingfa_process::fork(move || {
                    wait_go();
                    for _ in 0..n / consumers {
                        get();
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                })
            }
            .unwrap(),
        );
    }
    let mut s = 0;
    while ready.load(Ordering::SeqCst) != (producers + consumers) as u32 {
        spin(&mut s);
    }
    let t = Instant::now();
    go.store(1, Ordering::Release);
    while done.load(Ordering::SeqCst) != consumers as u32 {
        std::thread::sleep(Duration::from_micros(50));
    }
    let d = t.elapsed();
    for c in children {
        assert!(c.join().unwrap().success());
    }
    d
}

pub fn mpmc_queue<C: Codec<Msg>>(
    q: &Queue<Msg, C>,
    producers: u64,
    consumers: u64,
    n: u64,
) -> Duration {
    mpmc(
        producers,
        consumers,
        n,
        |i| q.put(msg(i)).unwrap(),
        || {
            black_box(q.get().unwrap());
        },
    )
}

pub fn mpmc_vyukov(ring: &VyukovRing, producers: u64, consumers: u64, n: u64) -> Duration {
    mpmc(
        producers,
        consumers,
        n,
        |i| ring.push(&msg(i).0),
        || {
            black_box(ring.pop());
        },
    )
}

pub fn mpmc_mq(mq: &PosixMq, producers: u64, consumers: u64, n: u64) -> Duration {
    mpmc(
        producers,
        consumers,
        n,
        |i| mq.send(&msg(i).0),
        || {
            black_box(mq.recv());
        },
    )
}

/// `n` round trips with a forked echo child, after one untimed one.
pub fn pingpong_queue(cpus: &Pinned, n: u64) -> Duration {
    let ping = Queue::<Msg>::with_max_message(4, MSG_ENCODED).unwrap();
    let pong = Queue::<Msg>::with_max_message(4, MSG_ENCODED).unwrap();
    // SAFETY: the bench programs (ipc.rs under criterion, ipc_rounds.rs) start
    // no thread of their own and measure on the main thread, so this
    // process is single-threaded when it forks: the child may do anything.
    let p = unsafe {
        bingfa_process::fork(|| {
            cpus.child();
            while let Ok(m) = ping.get() {
                pong.put(m).unwrap();
            }
        })
    }
    .unwrap();
    ping.put(msg(0)).unwrap();
    pong.get().unwrap();
    let t = Instant::now();
    for i in 0..n {
        ping.put(msg(i)).unwrap();
        black_box(pong.get().unwrap());
    }
    let d = t.elapsed();
    ping.close();
    assert!(p.join().unwrap().success());
    d
}

/// As [`pingpong_queue`], over bingfa's `Pipe` (a socket pair).
pub fn pingpong_pipe(cpus: &Pinned, n: u64) -> Duration {
    let (a, z) = Pipe::<Msg>::new().unwrap();
    // The forked child holds a copy of `a` too (fork copies every
    // descriptor), so it would never see end-of-stream: stop it with a
    // sentinel message instead.
    // SAFETY: the bench programs (ipc.rs under criterion, ipc_rounds.rs) start
    // no thread of their own and measure on the main thread, so this
    // process is single-threaded when it forks: the child may do anything.
    let p = unsafe {
        bingfa_process::fork(|| {
            cpus.child();
            loop {
                let m = z.recv().unwrap();
                if m.0 == STOP.0 {
                    break;
                }
                z.send(&m).unwrap();
            }
        })
    }
    .unwrap();
    a.send(&msg(0)).unwrap();
    a.recv().unwrap();
    let t = Instant::now();
    for i in 0..n {
        a.send(&msg(i)).unwrap();
        black_box(a.recv().unwrap());
    }
    let d = t.elapsed();
    a.send(&STOP).unwrap();
    assert!(p.join().unwrap().success());
    d
}

/// As [`pingpong_queue`], over two bare OS pipes (`pipe(2)`) carrying raw
/// 64-byte messages: the kernel's floor for a round trip.
pub fn pingpong_os_pipe(cpus: &Pinned, n: u64) -> Duration {
    let mut ab = [0; 2];
    let mut ba = [0; 2];
    // SAFETY: two-element arrays for the descriptors.
    unsafe {
        assert_eq!(libc::pipe(ab.as_mut_ptr()), 0);
        assert_eq!(libc::pipe(ba.as_mut_ptr()), 0);
    }
    let write = |fd: i32, m: &[u8; 64]| {
        // SAFETY: 64 readable bytes; a write of at most PIPE_BUF is whole.
        assert_eq!(unsafe { libc::write(fd, m.as_ptr().cast(), 64) }, 64);
    };
    let read = |fd: i32| {
        let mut m = [0u8; 64];
        let mut got = 0;
        while got < 64 {
            // SAFETY: writing into the rest of `m`.
            let r = unsafe { libc::read(fd, m[got..].as_mut_ptr().cast(), 64 - got) };
            assert!(r > 0);
            got += r as usize;
        }
        m
    };
    // SAFETY: the bench programs (ipc.rs under criterion, ipc_rounds.rs) start
    // no thread of their own and measure on the main thread, so this
    // process is single-threaded when it forks: the child may do anything.
    let p = unsafe {
        bingfa_process::fork(|| {
            cpus.child();
            loop {
                let m = read(ab[0]);
                if m == STOP.0 {
                    break;
                }
                write(ba[1], &m);
            }
        })
    }
    .unwrap();
    write(ab[1], &msg(0).0);
    read(ba[0]);
    let t = Instant::now();
    for i in 0..n {
        write(ab[1], &msg(i).0);
        black_box(read(ba[0]));
    }
    let d = t.elapsed();
    write(ab[1], &STOP.0);
    assert!(p.join().unwrap().success());
    // SAFETY: our four descriptors, closed once.
    unsafe {
        for fd in ab.into_iter().chain(ba) {
            libc::close(fd);
        }
    }
    d
}

/// The time a cache line takes to go from one CPU to the other and back:
/// two processes pinned as `cpus` says bounce a counter in shared memory
/// `n` times; the median of 5 tries, in ns per round trip. It tells what
/// the two CPUs share: tens of ns for two hardware threads of one core
/// (the line stays in their common L1/L2), 100 and more for two cores (it
/// crosses the mesh or ring, or between chiplets).
pub fn line_round_trip_ns(cpus: &Pinned) -> f64 {
    let n = 20_000u64;
    let mem = SharedMem::new(128);
    let word = mem.u64_at(0);
    let mut tries: Vec<f64> = (0..5)
        .map(|_| {
            word.store(0, Ordering::SeqCst);
            // SAFETY: the bench programs (ipc.rs under criterion, ipc_rounds.rs) start
            // no thread of their own and measure on the main thread, so this
            // process is single-threaded when it forks: the child may do anything.
            let p = unsafe {
                bingfa_process::fork(|| {
                    cpus.child();
                    for i in 0..n {
                        let mut s = 0;
                        while word.load(Ordering::Acquire) != 2 * i + 1 {
                            spin(&mut s);
                        }
                        word.store(2 * i + 2, Ordering::Release);
                    }
                })
            }
            .unwrap();
            let t = Instant::now();
            for i in 0..n {
                word.store(2 * i + 1, Ordering::Release);
                let mut s = 0;
                while word.load(Ordering::Acquire) != 2 * i + 2 {
                    spin(&mut s);
                }
            }
            let d = t.elapsed();
            assert!(p.join().unwrap().success());
            d.as_nanos() as f64 / n as f64
        })
        .collect();
    tries.sort_by(f64::total_cmp);
    tries[2]
}
