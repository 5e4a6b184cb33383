//! The producer lease: while one thread is the ring's only producer, it
//! claims its slots with a plain store instead of a compare-and-swap.
//!
//! # Why
//!
//! A put's claim is a locked instruction on the slot's state word, a line
//! the consumer has just written (it gave the slot back) and may still be
//! working next to. Measured on an AMD EPYC (Zen 4) with a throw-away
//! build, one producer and one consumer: that locked instruction alone
//! cost a quarter to half of the queue's rate; a plain store, even
//! followed by a full fence, did not (`benches/NOTES.md`, "a third
//! session"). A plain store is only safe when no other producer can claim
//! the same slot at the same time, which is what the lease guarantees.
//!
//! # Protocol
//!
//! The header's `lease` word is `[tag: 2 | pid: 30 | tid: 32]`:
//!
//! ```text
//!   FREE --first producer CAS--> HELD(pid, tid) --another producer CAS--> REVOKED(pid, tid)
//!   REVOKED(pid, tid) --the holder's claim in progress has ended, or pid is dead--> SHARED
//!   HELD(pid, tid) with pid dead --a producer CAS--> FREE
//! ```
//!
//! - The holder marks each claim it makes under the lease in the header's
//!   `busy` word, which only it writes: odd from before it looks at the
//!   lease until its plain store has claimed the slot (a few loads and a
//!   store: no system call, no user code, nothing that blocks; the copy
//!   of the frame comes after, when the slot already says `WRITING`, so
//!   a holder stopped there holds up no other producer). Between the
//!   mark and its look at the lease it issues a full fence
//!   (`mark_then_fence`); a revoker issues one between its CAS to
//!   `REVOKED` and its look at `busy` (Dekker): either the holder sees
//!   the revocation and claims with a CAS like everyone else, or the
//!   revoker sees the claim in progress and waits until `busy` changes
//!   (with `Acquire`, so it then sees the claimed slot).
//! - `SHARED` is for good: once two producers have met, every put claims
//!   with a CAS, as before the lease existed. Only a holder found dead
//!   gives the lease back (`FREE`), because a dead process stores nothing
//!   more. (Its mark may stay odd: the next holder's first mark keeps the
//!   same odd value and its end changes it, so revokers wait for the
//!   right thing; and a revoked holder that is the calling thread shares
//!   at once, without looking at the mark, because a mark is only ever
//!   held inside a put.)
//! - A slot claimed with the plain store is in the same `WRITING(pid)`
//!   state as one claimed with a CAS, so a holder that dies mid-put leaves
//!   what any producer leaves (see the parent module): consumers skip the
//!   hole.
//! - Who the holder is: a thread (`gettid`; under loom, the fake pid),
//!   with its process's pid for the liveness check. A forked child's
//!   threads have other ids, so a child that puts revokes its parent's
//!   lease instead of sharing it.

use bingfa_sync::raw::atomic::{fence, AtomicU64, Ordering};

use super::layout::Slot;
use super::word::WRITING;
use super::Ring;

const TAG_FREE: u64 = 0;
const TAG_HELD: u64 = 1;
const TAG_REVOKED: u64 = 2;
const TAG_SHARED: u64 = 3;
const PID_MASK: u64 = (1 << 30) - 1;

/// The lease word for `tag`, process `pid` and thread `tid`.
#[inline]
fn lease(tag: u64, pid: u32, tid: u32) -> u64 {
    (tag << 62) | ((pid as u64 & PID_MASK) << 32) | tid as u64
}

#[inline]
fn tag(w: u64) -> u64 {
    w >> 62
}

/// Lease word `w` with its tag replaced by `tag` (the holder kept).
#[inline]
fn with_tag(w: u64, tag: u64) -> u64 {
    w & !(3 << 62) | (tag << 62)
}

#[inline]
fn pid_of(w: u64) -> u32 {
    ((w >> 32) & PID_MASK) as u32
}

/// How many looks at the holder's `busy` word a revoker makes before it
/// reports the put blocked (the holder's claim is a few loads and a
/// store; it only lasts this long when the holder lost its CPU in the
/// middle of it).
#[cfg(not(bingfa_loom))]
const REVOKE_LOOKS: u32 = 64;

/// Stores the holder's mark `odd` into `busy`, then a full fence: the
/// holder's side of the Dekker handshake with a revoker.
///
/// On x86-64 both in one `xchg`: a locked instruction is a full barrier
/// there, and on a line only the holder writes it costs about what the
/// CAS of a shared claim did, where an `mfence` is slower on several
/// Intel cores (crossbeam-epoch's pin makes the same choice). Elsewhere,
/// and under loom (whose models check this handshake), a store and a
/// SeqCst fence.
#[inline(always)]
fn mark_then_fence(busy: &AtomicU64, odd: u64) {
    #[cfg(all(target_arch = "x86_64", not(bingfa_loom)))]
    busy.swap(odd, Ordering::SeqCst);
    #[cfg(not(all(target_arch = "x86_64", not(bingfa_loom))))]
    {
        busy.store(odd, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }
}

/// How this put may claim its slot.
pub(super) enum Claim<'r> {
    /// With a plain store: this thread holds the lease. The claim is
    /// marked in progress until the guard drops (it is only held for
    /// that).
    Alone(#[allow(dead_code)] Busy<'r>),
    /// With a CAS: there is more than one producer.
    Shared,
}

impl Claim<'_> {
    /// Claims `slot`, seen `EMPTY` as `w` at ticket `pos`, for producer
    /// `me`: with a plain store under the lease, else with the CAS.
    /// Whether the slot is now this producer's (a CAS can lose a race).
    #[inline]
    pub(super) fn take(&self, slot: &Slot, w: u64, pos: u64, me: u32) -> bool {
        match self {
            Claim::Alone(_) => {
                slot.claim_alone(pos, me);
                true
            }
            Claim::Shared => slot.claim(w, pos, WRITING, me),
        }
    }
}

/// The holder's mark of a claim in progress; ends it when dropped: once
/// the slot is claimed (the rest of the put races with no producer: the
/// slot says `WRITING`), or when the put gives up or unwinds.
pub(super) struct Busy<'r> {
    busy: &'r AtomicU64,
    odd: u64,
}

impl Drop for Busy<'_> {
    #[inline]
    fn drop(&mut self) {
        // `Release`: a revoker that sees the mark gone sees the claim.
        self.busy.store(self.odd + 1, Ordering::Release);
    }
}

impl<'a> Ring<'a> {
    /// The calling thread's id for the lease.
    #[inline]
    fn lease_tid(me: u32) -> u32 {
        #[cfg(bingfa_loom)]
        {
            me
        }
        #[cfg(not(bingfa_loom))]
        {
            let _ = me;
            crate::sys::gettid()
        }
    }

    /// How producer `me` (a pid) may claim a slot now: alone under the
    /// lease, taking it if nobody has it, or shared, revoking another
    /// thread's lease first. `None` while the revoked holder is still in
    /// the middle of a claim: the caller treats the ring as blocked by a
    /// slot in progress, and tries again.
    #[inline]
    pub(super) fn producer_claim(&self, me: u32) -> Option<Claim<'_>> {
        let lease_word = &self.hdr.lease.0;
        let w = lease_word.load(Ordering::Relaxed);
        if tag(w) == TAG_SHARED {
            return Some(Claim::Shared);
        }
        let tid = Self::lease_tid(me);
        let mine = lease(TAG_HELD, me, tid);
        if w == mine {
            let busy = &self.hdr.busy.0;
            // Only this thread writes `busy` while it holds the lease (a
            // dead holder may have left it odd: `| 1` keeps it odd).
            let odd = busy.load(Ordering::Relaxed) | 1;
            mark_then_fence(busy, odd);
            let guard = Busy { busy, odd };
            if lease_word.load(Ordering::Relaxed) == mine {
                return Some(Claim::Alone(guard));
            }
            drop(guard);
            return self.producer_claim_slow(me, tid);
        }
        self.producer_claim_slow(me, tid)
    }

    /// [`producer_claim`](Ring::producer_claim) when this thread does not
    /// hold the lease (or has just lost it).
    #[cold]
    #[inline(never)]
    fn producer_claim_slow(&self, me: u32, tid: u32) -> Option<Claim<'_>> {
        let lease_word = &self.hdr.lease.0;
        loop {
            let w = lease_word.load(Ordering::Acquire);
            match tag(w) {
                TAG_SHARED => return Some(Claim::Shared),
                TAG_FREE => {
                    let mine = lease(TAG_HELD, me, tid);
                    if lease_word
                        .compare_exchange(w, mine, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                    {
                        // Taken: claim through the fast path's mark.
                        return self.producer_claim(me);
                    }
                }
                TAG_HELD if w == lease(TAG_HELD, me, tid) => return self.producer_claim(me),
                TAG_HELD => {
                    // A dead holder gives the lease back; a live one is
                    // revoked for good.
                    let next = if (self.alive)(pid_of(w)) {
                        with_tag(w, TAG_REVOKED)
                    } else {
                        lease(TAG_FREE, 0, 0)
                    };
                    let _ =
                        lease_word.compare_exchange(w, next, Ordering::AcqRel, Ordering::Relaxed);
                }
                _ => {
                    // REVOKED: wait until the claim the holder may have in
                    // progress is over, then share. A revoked holder that
                    // is this very thread has none (a mark is only held
                    // inside a put, never around this call); the mark it
                    // may find on is a dead holder's, left before this
                    // thread took the lease over, which would never
                    // change.
                    let own = w == lease(TAG_REVOKED, me, tid);
                    if !own && !self.holder_quiet(pid_of(w)) {
                        return None;
                    }
                    let _ = lease_word.compare_exchange(
                        w,
                        lease(TAG_SHARED, 0, 0),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                }
            }
        }
    }

    /// Whether a put must wait for a revoked lease's holder, which is alive
    /// and in the middle of a claim (a blocked producer's re-check before
    /// it sleeps: it then sleeps in slices instead of spinning on it).
    pub(super) fn lease_blocks(&self) -> bool {
        let w = self.hdr.lease.0.load(Ordering::SeqCst);
        tag(w) == TAG_REVOKED
            && self.hdr.busy.0.load(Ordering::SeqCst) & 1 == 1
            && (self.alive)(pid_of(w))
    }

    /// For loom models: makes the mark of a claim under the lease and
    /// stops there, as a holder killed inside its claim would leave it.
    /// Whether this thread held the lease.
    #[cfg(all(test, bingfa_loom))]
    pub(crate) fn stop_mid_claim(&self, me: u32) -> bool {
        match self.producer_claim(me) {
            Some(Claim::Alone(mark)) => {
                std::mem::forget(mark);
                true
            }
            _ => false,
        }
    }

    /// Whether the holder `pid` of a revoked lease has no claim in
    /// progress that could still be a plain store: its `busy` mark is even
    /// or changes while we look (every claim it starts after our fence
    /// sees the revocation), or it is dead.
    fn holder_quiet(&self, pid: u32) -> bool {
        // Pairs with the holder's fence between its mark and its look at
        // the lease (Dekker).
        fence(Ordering::SeqCst);
        let busy = &self.hdr.busy.0;
        let seen = busy.load(Ordering::Acquire);
        if seen & 1 == 0 {
            return true;
        }
        #[cfg(not(bingfa_loom))]
        for _ in 0..REVOKE_LOOKS {
            if busy.load(Ordering::Acquire) != seen || !(self.alive)(pid) {
                return true;
            }
            std::thread::yield_now();
        }
        #[cfg(bingfa_loom)]
        loop {
            if busy.load(Ordering::Acquire) != seen || !(self.alive)(pid) {
                return true;
            }
            loom::thread::yield_now();
        }
        #[cfg(not(bingfa_loom))]
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real (not loom) code on a ring in heap memory, with "processes"
    /// as pids whose liveness the test decides: every put here runs on
    /// the test's thread, so pids tell the producers apart.
    #[cfg(not(bingfa_loom))]
    mod on_a_ring {
        use std::sync::atomic::AtomicBool;

        use super::*;
        use crate::ring::{test_ring, Modulus, PushError};

        const CAP: usize = 4;
        const SLOT_BYTES: usize = 16;

        struct Fixture {
            base: usize,
            dead: [AtomicBool; 4],
        }

        impl Fixture {
            fn new() -> Fixture {
                Fixture {
                    base: test_ring::leaked(CAP, SLOT_BYTES),
                    dead: Default::default(),
                }
            }

            fn with<R>(&self, f: impl FnOnce(&Ring<'_>) -> R) -> R {
                let alive = |pid: u32| !self.dead[pid as usize].load(Ordering::SeqCst);
                // SAFETY: laid out and initialized by `test_ring::leaked`
                // for these sizes, never freed.
                let ring = unsafe {
                    Ring::in_cells(
                        self.base as *mut u8,
                        Modulus::new(CAP as u64),
                        SLOT_BYTES,
                        &alive,
                    )
                };
                f(&ring)
            }

            fn put(&self, me: u32, x: u8) -> Result<(), PushError> {
                self.with(|r| r.try_push_with(me, crate::ring::push::copy_of(&[x])))
            }

            fn get(&self) -> u8 {
                self.with(|r| r.try_pop_slot(3).map(|f| f[0])).unwrap()
            }

            /// Pid `me`, which holds the lease, stops inside a claim (as
            /// if stopped or killed there): its mark stays on.
            fn stop_mid_claim(&self, me: u32) {
                self.with(|r| match r.producer_claim(me) {
                    Some(Claim::Alone(mark)) => std::mem::forget(mark),
                    _ => panic!("pid {me} holds the lease"),
                });
            }

            fn lease(&self) -> u64 {
                self.with(|r| r.hdr.lease.0.load(Ordering::SeqCst))
            }
        }

        #[test]
        fn the_first_producer_takes_the_lease_and_the_second_revokes_it() {
            let f = Fixture::new();
            assert_eq!(tag(f.lease()), TAG_FREE);
            f.put(1, 10).unwrap();
            assert_eq!(tag(f.lease()), TAG_HELD);
            assert_eq!(pid_of(f.lease()), 1);
            f.put(1, 11).unwrap();
            // Pid 1 is alive and between claims: revoked, then shared.
            f.put(2, 20).unwrap();
            assert_eq!(tag(f.lease()), TAG_SHARED);
            // Both still put (with a CAS now), and nothing is lost.
            f.put(1, 12).unwrap();
            assert_eq!([f.get(), f.get(), f.get(), f.get()], [10, 11, 20, 12]);
            // Shared for good, also once pid 2 is dead.
            f.dead[2].store(true, Ordering::SeqCst);
            f.put(1, 13).unwrap();
            assert_eq!(tag(f.lease()), TAG_SHARED);
            assert_eq!(f.get(), 13);
        }

        #[test]
        fn a_dead_holders_lease_is_given_back_and_taken_again() {
            let f = Fixture::new();
            f.put(1, 10).unwrap();
            f.dead[1].store(true, Ordering::SeqCst);
            f.put(2, 20).unwrap();
            assert_eq!(tag(f.lease()), TAG_HELD);
            assert_eq!(pid_of(f.lease()), 2);
            assert_eq!([f.get(), f.get()], [10, 20]);
        }

        #[test]
        fn a_claim_in_progress_holds_the_revoker_back_until_its_holder_dies() {
            let f = Fixture::new();
            f.put(1, 10).unwrap();
            // Pid 1 stops inside a claim under the lease, its mark on.
            f.stop_mid_claim(1);
            // A put of pid 2 cannot know which slot pid 1 is claiming:
            // the ring is blocked (as by a slot in progress), not broken.
            assert_eq!(f.put(2, 20), Err(PushError::Full));
            assert_eq!(tag(f.lease()), TAG_REVOKED);
            assert_eq!(f.put(2, 20), Err(PushError::Full));
            // A blocking put would sleep (in slices) rather than spin.
            assert!(f.with(|r| r.lease_blocks()));
            // Once pid 1 is dead, pid 2 goes on; the lease is shared.
            f.dead[1].store(true, Ordering::SeqCst);
            assert!(!f.with(|r| r.lease_blocks()));
            f.put(2, 20).unwrap();
            assert_eq!(tag(f.lease()), TAG_SHARED);
            assert_eq!([f.get(), f.get()], [10, 20]);
        }

        #[test]
        fn a_holder_revoked_before_its_first_claim_does_not_wait_for_itself() {
            let f = Fixture::new();
            f.put(1, 10).unwrap();
            // Pid 1 dies inside a claim: its mark stays on.
            f.stop_mid_claim(1);
            f.dead[1].store(true, Ordering::SeqCst);
            // Pid 2 has just taken the dead holder's lease back and not
            // made its first claim yet: the mark left on is pid 1's.
            let two = lease(TAG_HELD, 2, Ring::lease_tid(2));
            f.with(|r| r.hdr.lease.0.store(two, Ordering::SeqCst));
            // Pid 3 revokes it, and cannot tell that mark from one of pid
            // 2's: it waits.
            assert_eq!(f.put(3, 30), Err(PushError::Full));
            assert_eq!(tag(f.lease()), TAG_REVOKED);
            // Pid 2 knows it has no claim in progress: it shares at once
            // (it waited for itself, and pid 3 for it, for good, before).
            f.put(2, 20).unwrap();
            assert_eq!(tag(f.lease()), TAG_SHARED);
            f.put(3, 30).unwrap();
            assert_eq!([f.get(), f.get(), f.get()], [10, 20, 30]);
        }

        #[test]
        fn a_claim_in_progress_that_ends_lets_the_revoker_through() {
            let f = Fixture::new();
            f.put(1, 10).unwrap();
            let mark = f.with(|r| match r.producer_claim(1) {
                Some(Claim::Alone(mark)) => mark.odd,
                _ => panic!("pid 1 holds the lease"),
            });
            // (The guard above already ended the claim as it dropped.)
            assert_eq!(f.with(|r| r.hdr.busy.0.load(Ordering::SeqCst)), mark + 1);
            f.put(2, 20).unwrap();
            assert_eq!(tag(f.lease()), TAG_SHARED);
            assert_eq!([f.get(), f.get()], [10, 20]);
        }
    }

    #[test]
    fn lease_words_keep_their_parts() {
        let w = lease(TAG_REVOKED, (1 << 30) - 2, u32::MAX);
        assert_eq!(tag(w), TAG_REVOKED);
        assert_eq!(pid_of(w), (1 << 30) - 2);
        assert_eq!(w as u32, u32::MAX);
        assert_eq!(tag(lease(TAG_SHARED, 0, 0)), TAG_SHARED);
        assert_eq!(lease(TAG_FREE, 0, 0), 0);
        // Revoking changes the tag only.
        let held = lease(TAG_HELD, 77, 78);
        assert_eq!(with_tag(held, TAG_REVOKED), lease(TAG_REVOKED, 77, 78));
    }
}
