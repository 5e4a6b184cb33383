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

/// A 32-bit checksum: a multiply-xorshift hash over 8-byte words in two
/// independent lanes, seeded with the length. It detects random corruption
/// (a 2^-32 miss rate), not forgery.
pub fn checksum(bytes: &[u8]) -> u32 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    let mut a: u64 = 0x243F_6A88_85A3_08D3 ^ (bytes.len() as u64).wrapping_mul(K);
    let mut b: u64 = 0x1319_8A2E_0370_7344;
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
    let mut pairs = bytes.chunks_exact(16);
    for c in &mut pairs {
        a = (a ^ word(&c[..8])).wrapping_mul(K);
        a ^= a >> 29;
        b = (b ^ word(&c[8..])).wrapping_mul(K2);
        b ^= b >> 31;
    }
    let rest = pairs.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 16];
        last[..rest.len()].copy_from_slice(rest);
        a = (a ^ word(&last[..8])).wrapping_mul(K);
        a ^= a >> 29;
        b = (b ^ word(&last[8..])).wrapping_mul(K2);
        b ^= b >> 31;
    }
    let h = (a ^ b.rotate_left(23)).wrapping_mul(K);
    (h ^ (h >> 32)) as u32
}

/// Encodes `value` as a frame at the start of `out`; returns the frame's
/// length. A frame that does not fit `out` is [`Error::TooLarge`] (whose
/// `size` is then a lower bound).
pub fn encode_frame_into<T: Serialize + ?Sized>(value: &T, out: &mut [u8]) -> Result<usize, Error> {
    let max = out.len();
    if max < HEADER {
        return Err(Error::TooLarge {
            size: HEADER + 1,
            max,
        });
    }
    let (head, body) = out.split_at_mut(HEADER);
    let len = match postcard::to_slice(value, body) {
        Ok(used) => used.len(),
        Err(postcard::Error::SerializeBufferFull) => {
            return Err(Error::TooLarge { size: max + 1, max })
        }
        Err(e) => return Err(Error::Encode(e.to_string())),
    };
    let sum = checksum(&body[..len]);
    head[..4].copy_from_slice(&(len as u32).to_le_bytes());
    head[4..].copy_from_slice(&sum.to_le_bytes());
    Ok(HEADER + len)
}

/// Encodes `value` as a frame into `buf` (cleared first). A frame larger
/// than `max` bytes is [`Error::TooLarge`].
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
        *buf = payload;
        return Err(Error::TooLarge { size, max });
    }
    buf.reserve(size);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&checksum(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
    Ok(())
}

/// The total size of the frame that starts `bytes`, read from its header,
/// or `None` if fewer than [`HEADER`] bytes are given.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    let len: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    if bytes.len() < HEADER {
        return None;
    }
    Some(HEADER + u32::from_le_bytes(len) as usize)
}

/// Checks a frame (exactly one, nothing after it) and returns its payload.
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
pub fn decode_frame<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    decode_plain(check_frame(bytes)?)
}

/// Decodes a payload (no frame header) that must hold exactly one `T`.
pub fn decode_plain<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(Error::Corrupt(format!(
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
        let e = encode_frame(&vec![0u8; 100], &mut buf, 50).unwrap_err();
        assert!(matches!(e, Error::TooLarge { max: 50, .. }), "{e:?}");
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
