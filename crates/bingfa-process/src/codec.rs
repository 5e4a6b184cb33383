//! The wire format of every message: a frame of `[len: u32 LE][sum: u32
//! LE][payload: len bytes]`, where the payload is the value encoded with
//! postcard (a compact, non-self-describing serde format: varints, no field
//! names) and `sum` a 32-bit checksum of `len` and the payload.
//!
//! Decoding is total: any byte string gives a value or [`Error::Corrupt`],
//! never a panic (postcard is safe code; lengths are checked before any
//! slice is taken; serde caps the memory a forged length prefix can
//! preallocate).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;

/// The frame header: length and checksum.
pub const HEADER: usize = 8;

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
///
/// Why not a crate's hash: measured in one run (`benches/ipc_cost.rs`,
/// Intel Xeon, a 64-byte item's 65-byte payload), XXH3 (`xxhash-rust`)
/// takes 5.6 ns and 88 instructions against these sums' 5.1 ns and 76, and
/// `crc32fast` 8.6 ns and 111; and these sums were then computed while a
/// put copied its frame into the slot, in the same pass, which a hash
/// that mixes 16 bytes at a time could not share. With XXH3 in
/// its own pass a put and a get took 616 -> 666 instructions and 93 -> 103
/// to 111 ns in that run: the hand-written sums stay, with the tests below
/// (every single flipped bit, every length, swapped words).
// Always: see "One body a put, one body a get" in the ring's docs.
#[inline(always)]
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

/// The size of `value`'s payload (its postcard encoding), measured without
/// writing it anywhere: a put learns before it claims a slot whether the
/// item fits, and meets an item that cannot be encoded at all, so neither
/// error leaves a claimed slot behind.
#[inline]
pub(crate) fn payload_size<T: Serialize + ?Sized>(value: &T) -> Result<usize, Error> {
    postcard::serialize_with_flavor::<T, postcard::ser_flavors::Size, usize>(
        value,
        postcard::ser_flavors::Size::default(),
    )
    .map_err(|e| Error::Encode(e.to_string()))
}

/// The error for `value`, whose encoding does not fit `max` payload bytes:
/// it names the encoding's real size (measured again, off the fast path).
#[cold]
fn too_large<T: Serialize + ?Sized>(value: &T, max: usize) -> Error {
    match payload_size(value) {
        Ok(size) => Error::TooLarge { size, max },
        Err(e) => e,
    }
}

/// How a [`Queue`](crate::Queue) turns its items into bytes and back: the
/// payload of each frame. [`Postcard`] (serde) is the default; [`Raw`]
/// copies plain-data items as they are, without serde.
///
/// A codec of your own (another serde format, say) is safe to write: a
/// wrong answer gives an error, never a torn or foreign item. Every frame
/// still carries [`HEADER`]'s length and checksum around the payload.
pub trait Codec<T> {
    /// The exact size of `item`'s payload, measured before a put claims a
    /// slot: an item larger than the queue's
    /// [`max_message_size`](crate::Queue::max_message_size), or one that
    /// cannot be encoded, fails here with nothing claimed.
    ///
    /// # Errors
    /// [`Error::Encode`] for an item this codec cannot encode.
    fn size(item: &T) -> Result<usize, Error>;

    /// Writes `item`'s payload at the start of `out`; returns its length.
    /// `out` is the whole room of a slot, at least [`size`](Codec::size)
    /// bytes for an item whose size was measured.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the payload does not fit `out`;
    /// [`Error::Encode`] for an item that cannot be encoded. Either one
    /// leaves a hole that gets skip (see [`Queue`](crate::Queue)), and the
    /// put reports it.
    fn encode(item: &T, out: &mut [u8]) -> Result<usize, Error>;

    /// The item a payload holds (the whole of `payload`, nothing after it).
    ///
    /// # Errors
    /// [`Error::Corrupt`] for bytes that are not one item's payload.
    fn decode(payload: &[u8]) -> Result<T, Error>;
}

/// The default [`Codec`]: serde with postcard, a compact binary format
/// (varints, no field names). Any `Serialize + DeserializeOwned` item;
/// its `Serialize` runs twice a put (to measure, then to write). Python:
/// pickling, which `multiprocessing.Queue` does to every item.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

impl<T: Serialize + DeserializeOwned> Codec<T> for Postcard {
    #[inline]
    fn size(item: &T) -> Result<usize, Error> {
        payload_size(item)
    }

    #[inline]
    fn encode(item: &T, out: &mut [u8]) -> Result<usize, Error> {
        match postcard::to_slice(item, out) {
            Ok(used) => Ok(used.len()),
            Err(postcard::Error::SerializeBufferFull) => Err(too_large(item, out.len())),
            Err(e) => Err(Error::Encode(e.to_string())),
        }
    }

    #[inline]
    fn decode(payload: &[u8]) -> Result<T, Error> {
        decode_plain(payload)
    }
}

/// A [`Codec`] for plain data: the item's own bytes, copied in and out
/// (`size_of::<T>()` bytes, no serde, no size pass). For
/// [`bytemuck::Pod`] types (no padding, no pointers, every bit pattern a
/// valid value): numbers, arrays of them, `#[repr(C)]` structs of them
/// with `#[derive(Pod, Zeroable)]`. Python has no counterpart (its queues
/// pickle everything); `multiprocessing`'s `Array` and `Value` share such
/// data in place.
///
/// The bytes are the sender's native ones (endianness, layout): every
/// process of a queue runs this same binary (fork and spawn both do), so
/// they agree. A payload of the wrong length is [`Error::Corrupt`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl<T: bytemuck::Pod> Codec<T> for Raw {
    #[inline]
    fn size(_: &T) -> Result<usize, Error> {
        Ok(std::mem::size_of::<T>())
    }

    #[inline(always)]
    fn encode(item: &T, out: &mut [u8]) -> Result<usize, Error> {
        let bytes = bytemuck::bytes_of(item);
        match out.get_mut(..bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                Ok(bytes.len())
            }
            None => Err(Error::TooLarge {
                size: bytes.len(),
                max: out.len(),
            }),
        }
    }

    #[inline]
    fn decode(payload: &[u8]) -> Result<T, Error> {
        bytemuck::try_pod_read_unaligned(payload).map_err(|_| {
            Error::Corrupt(format!(
                "a {}-byte payload for a {}-byte item",
                payload.len(),
                std::mem::size_of::<T>()
            ))
        })
    }
}

/// Encodes `value` as a frame at the start of `out`; returns the frame's
/// length. A frame that does not fit `out` is [`Error::TooLarge`], with
/// the payload's size and the payload room of `out` (its length less
/// [`HEADER`]).
///
/// A put encodes straight into its claimed slot this way (see "encoding
/// into the slot" in the process bench notes for why not through a
/// buffer), with its queue's codec ([`encode_frame_with`]).
#[inline]
pub fn encode_frame_into<T: Serialize + DeserializeOwned>(
    value: &T,
    out: &mut [u8],
) -> Result<usize, Error> {
    encode_frame_with::<Postcard, T>(value, out)
}

/// [`encode_frame_into`] with codec `C`.
// Always: as `checksum`.
#[inline(always)]
pub fn encode_frame_with<C: Codec<T>, T>(value: &T, out: &mut [u8]) -> Result<usize, Error> {
    let room = out.len().saturating_sub(HEADER);
    let Some((head, body)) = out.split_at_mut_checked(HEADER) else {
        return Err(match C::size(value) {
            Ok(size) => Error::TooLarge { size, max: room },
            Err(e) => e,
        });
    };
    let len = C::encode(value, body)?;
    if len > body.len() || len > u32::MAX as usize {
        return Err(Error::Encode(format!(
            "the codec wrote {len} bytes into a room of {}",
            body.len()
        )));
    }
    let sum = checksum(&body[..len]);
    head[..4].copy_from_slice(&(len as u32).to_le_bytes());
    head[4..].copy_from_slice(&sum.to_le_bytes());
    Ok(HEADER + len)
}

/// Encodes `value` as a frame into `buf` (cleared first). A frame larger
/// than `max` bytes is [`Error::TooLarge`], with the payload's size and the
/// payload room (`max` less [`HEADER`]).
pub fn encode_frame<T: Serialize + ?Sized>(
    value: &T,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), Error> {
    buf.clear();
    let payload = postcard::to_extend(value, std::mem::take(buf));
    let payload = payload.map_err(|e| Error::Encode(e.to_string()))?;
    let size = HEADER + payload.len();
    if size > max || payload.len() > u32::MAX as usize {
        let error = Error::TooLarge {
            size: payload.len(),
            max: max.saturating_sub(HEADER).min(u32::MAX as usize),
        };
        *buf = payload;
        return Err(error);
    }
    buf.reserve(size);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&checksum(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
    Ok(())
}

/// The total size of the frame that starts `bytes`, read from its header,
/// or `None` if fewer than [`HEADER`] bytes are given.
#[inline]
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    let len: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    if bytes.len() < HEADER {
        return None;
    }
    Some(HEADER + u32::from_le_bytes(len) as usize)
}

/// Checks a frame (exactly one, nothing after it) and returns its payload.
// Always: as `checksum`.
#[inline(always)]
pub fn check_frame(bytes: &[u8]) -> Result<&[u8], Error> {
    let total = frame_len(bytes).ok_or_else(|| corrupt("frame shorter than its header"))?;
    if total != bytes.len() {
        return Err(corrupt("frame length does not match its header"));
    }
    let sum = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let payload = &bytes[HEADER..];
    if checksum(payload) != sum {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(payload)
}

/// Decodes one frame into a `T`: [`Error::Corrupt`] for a bad length or
/// checksum, or a payload that is not a `T` (trailing bytes included).
#[inline]
pub fn decode_frame<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    decode_plain(check_frame(bytes)?)
}

/// [`decode_frame`] with codec `C`.
#[inline]
pub fn decode_frame_with<C: Codec<T>, T>(bytes: &[u8]) -> Result<T, Error> {
    C::decode(check_frame(bytes)?)
}

/// Decodes a payload (no frame header) that must hold exactly one `T`.
#[inline]
pub fn decode_plain<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let v = match T::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => return Err(Error::Corrupt(e.to_string())),
    };
    match de.finalize() {
        Ok([]) => Ok(v),
        Ok(rest) => Err(Error::Corrupt(format!(
            "{} bytes left after the value",
            rest.len()
        ))),
        Err(e) => Err(Error::Corrupt(e.to_string())),
    }
}

/// Encodes a value with no frame header.
pub fn encode_plain<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    postcard::to_stdvec(value).map_err(|e| Error::Encode(e.to_string()))
}

fn corrupt(what: &str) -> Error {
    Error::Corrupt(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        let v = (7u32, String::from("hello"), vec![1u8, 2, 3]);
        encode_frame(&v, &mut buf, 1024).unwrap();
        assert_eq!(frame_len(&buf), Some(buf.len()));
        let back: (u32, String, Vec<u8>) = decode_frame(&buf).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn too_large() {
        let mut buf = Vec::new();
        // A Vec of 100 bytes encodes as its length (1 byte) and the bytes.
        let e = encode_frame(&vec![0u8; 100], &mut buf, 50).unwrap_err();
        assert!(matches!(e, Error::TooLarge { size: 101, max: 42 }), "{e:?}");
        let mut out = [0u8; 50];
        let e = encode_frame_into(&vec![0u8; 100], &mut out).unwrap_err();
        assert!(matches!(e, Error::TooLarge { size: 101, max: 42 }), "{e:?}");
        let e = encode_frame_into(&vec![0u8; 100], &mut out[..3]).unwrap_err();
        assert!(matches!(e, Error::TooLarge { size: 101, max: 0 }), "{e:?}");
    }

    #[test]
    fn encode_frame_into_makes_the_frame_encode_frame_makes() {
        for n in 0..40usize {
            let v: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37) ^ 0x5c).collect();
            let mut dst = [0x11u8; 80];
            let len = encode_frame_into(&v, &mut dst).unwrap();
            let mut buf = Vec::new();
            encode_frame(&v, &mut buf, 80).unwrap();
            assert_eq!(&dst[..len], &buf[..], "length {n}");
            assert!(dst[len..].iter().all(|&b| b == 0x11), "wrote past the frame");
            assert_eq!(decode_frame::<Vec<u8>>(&dst[..len]).unwrap(), v);
            assert_eq!(payload_size(&v).unwrap(), len - HEADER);
        }
    }

    #[test]
    fn raw_frames_round_trip_and_refuse_what_does_not_fit() {
        let v: [u32; 3] = [1, 0xdead_beef, 7];
        let mut out = [0x11u8; 40];
        let n = encode_frame_with::<Raw, _>(&v, &mut out).unwrap();
        assert_eq!(n, HEADER + 12);
        assert_eq!(&out[HEADER..n], bytemuck::bytes_of(&v));
        assert!(out[n..].iter().all(|&b| b == 0x11), "wrote past the frame");
        assert_eq!(decode_frame_with::<Raw, [u32; 3]>(&out[..n]).unwrap(), v);
        // The same frame, taken as a frame of another item size.
        let r = decode_frame_with::<Raw, [u32; 2]>(&out[..n]);
        assert!(matches!(r, Err(Error::Corrupt(_))), "{r:?}");
        // Too little room: for the payload, and for the header itself.
        let e = encode_frame_with::<Raw, _>(&v, &mut out[..HEADER + 11]).unwrap_err();
        assert!(matches!(e, Error::TooLarge { size: 12, max: 11 }), "{e:?}");
        let e = encode_frame_with::<Raw, _>(&v, &mut out[..3]).unwrap_err();
        assert!(matches!(e, Error::TooLarge { size: 12, max: 0 }), "{e:?}");
        // The postcard codec through the same generic path makes the frame
        // `encode_frame_into` makes.
        let mut a = [0u8; 40];
        let mut b = [0u8; 40];
        let na = encode_frame_with::<Postcard, _>(&v, &mut a).unwrap();
        let nb = encode_frame_into(&v, &mut b).unwrap();
        assert_eq!(a[..na], b[..nb]);
    }

    #[test]
    fn checksum_changes_with_every_single_bit_and_length() {
        for n in 0..48usize {
            let bytes: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(91) ^ 0xa7).collect();
            let sum = checksum(&bytes);
            for bit in 0..n * 8 {
                let mut b = bytes.clone();
                b[bit / 8] ^= 1 << (bit % 8);
                assert_ne!(checksum(&b), sum, "length {n}, bit {bit}");
            }
            if n > 0 {
                assert_ne!(checksum(&bytes[..n - 1]), sum, "length {n} vs {}", n - 1);
            }
            // Two words swapped (the sums alone would not see it).
            if n >= 16 && bytes[..8] != bytes[8..16] {
                let mut b = bytes.clone();
                b[..16].rotate_left(8);
                assert_ne!(checksum(&b), sum, "length {n}, swapped words");
            }
        }
    }

    #[test]
    fn flipped_bit_is_corrupt() {
        let mut buf = Vec::new();
        encode_frame(&String::from("some text here"), &mut buf, 1024).unwrap();
        for i in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[i / 8] ^= 1 << (i % 8);
            let r: Result<String, _> = decode_frame(&b);
            assert!(matches!(r, Err(Error::Corrupt(_))), "bit {i}: {r:?}");
        }
    }
}
