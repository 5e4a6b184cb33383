//! The frame checksum the queue used before XXH3 (a copy, for
//! `ipc_cost.rs`'s comparison): Fletcher-style sums over 8-byte words.

/// A 32-bit checksum of a frame's payload: Fletcher-style running sums
/// over 8-byte words (two additions a word, seeded with the length), mixed
/// by multiplication at the end. It changes with any single flipped bit,
/// and catches random damage with a 2^-32 miss rate; it does not resist
/// forgery.
///
/// What it is for: in the queue, a torn or partial frame never reaches a
/// reader (the slot's state word publishes a frame only once it is whole),
/// so the checksum only guards against foreign writes into the shared
/// memory (a stray pointer in some process); in a pipe, against a peer
/// that writes garbage. It is kept cheap because every message pays it
/// twice (once to write, once to check).
#[inline]
pub fn checksum(bytes: &[u8]) -> u32 {
    let mut s = Sum::new(bytes.len());
    let mut words = bytes.chunks_exact(8);
    for c in &mut words {
        s.add(word(c));
    }
    if !words.remainder().is_empty() {
        s.add(last_word(bytes, words.remainder()));
    }
    s.finish()
}

/// The running state of [`checksum`].
struct Sum {
    a: u64,
    b: u64,
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

impl Sum {
    #[inline]
    fn new(len: usize) -> Sum {
        Sum {
            a: 0x243F_6A88_85A3_08D3 ^ (len as u64).wrapping_mul(K1),
            b: 0x1319_8A2E_0370_7344,
        }
    }

    #[inline]
    fn add(&mut self, w: u64) {
        self.a = self.a.wrapping_add(w);
        self.b = self.b.wrapping_add(self.a);
    }

    #[inline]
    fn finish(&self) -> u32 {
        let h = self.a.wrapping_mul(K1) ^ self.b.wrapping_mul(K2).rotate_left(31);
        let h = (h ^ (h >> 29)).wrapping_mul(K1);
        (h >> 32) as u32
    }
}

#[inline]
fn word(c: &[u8]) -> u64 {
    u64::from_le_bytes(c.try_into().expect("8-byte chunk"))
}

/// The last, partial word of `bytes` (whose last `rest.len()` bytes, 1 to
/// 7, are `rest`), zero-extended.
#[inline]
fn last_word(bytes: &[u8], rest: &[u8]) -> u64 {
    let n = bytes.len();
    if n >= 8 {
        // The last 8 bytes in one load, shifted so that only the
        // remainder's bytes are left (the value of the loop below).
        word(&bytes[n - 8..]) >> (8 * (8 - rest.len()))
    } else {
        rest.iter()
            .enumerate()
            .fold(0u64, |w, (i, &x)| w | (u64::from(x) << (8 * i)))
    }
}
