//! [`Modulus`]: a ticket's slot index without a division instruction.

/// A ring's capacity with its reciprocal, so that `pos % cap` costs two
/// multiplications and a conditional subtraction instead of a 64-bit
/// `div` (20 to 90 cycles, depending on the CPU, on the path of every put
/// and get: the slot's address depends on it).
///
/// With `m = floor((2^64 - 1) / cap)`, `q = floor(pos * m / 2^64)` is the
/// quotient or one less: `pos * m / 2^64 > pos * (2^64 / cap - 1) / 2^64 =
/// pos / cap - pos / 2^64 > pos / cap - 1`, and `q <= pos / cap`. So
/// `pos - q * cap` is the remainder or the remainder plus `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Modulus {
    cap: u64,
    m: u64,
}

impl Modulus {
    /// # Panics
    /// If `cap` is 0.
    pub(crate) fn new(cap: u64) -> Modulus {
        assert!(cap > 0, "a ring has at least one slot");
        Modulus {
            cap,
            m: u64::MAX / cap,
        }
    }

    #[inline]
    pub(crate) fn get(self) -> u64 {
        self.cap
    }

    /// `pos % cap`.
    #[inline]
    pub(crate) fn rem(self, pos: u64) -> u64 {
        let q = ((u128::from(pos) * u128::from(self.m)) >> 64) as u64;
        let r = pos - q * self.cap;
        if r >= self.cap {
            r - self.cap
        } else {
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Modulus;

    #[test]
    fn rem_is_the_remainder() {
        let caps = [1u64, 2, 3, 5, 7, 8, 10, 63, 64, 100, 1000, 1024, 4095]
            .into_iter()
            .chain([
                (1 << 31) - 1,
                1 << 31,
                u32::MAX as u64,
                u64::MAX / 3,
                u64::MAX,
            ]);
        for cap in caps {
            let m = Modulus::new(cap);
            let edges = [
                0u64,
                1,
                cap - 1,
                cap,
                cap.wrapping_add(1),
                u64::MAX,
                u64::MAX - 1,
            ];
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            let randoms = (0..2000).map(move |_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            });
            let near = (0..3 * cap.min(1000)).chain((0..1000).map(|k| u64::MAX - k));
            for pos in edges.into_iter().chain(randoms).chain(near) {
                assert_eq!(m.rem(pos), pos % cap, "{pos} % {cap}");
            }
        }
    }
}
