//! The frame decoder never panics: random bytes and damaged frames decode
//! to `Error::Corrupt` (or, for random bytes that happen to be a valid
//! frame, to a value), never to a panic or undefined behaviour.

use bingfa_process::codec::{decode_frame, encode_frame, HEADER};
use bingfa_process::Error;

type Msg = (u32, String, Vec<u64>, Option<i16>, (bool, char));

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn sample(r: &mut Rng) -> Msg {
    let s: String = (0..r.below(20))
        .map(|i| char::from(b'a' + (i as u8 % 26)))
        .collect();
    let v = (0..r.below(10)).map(|_| r.next()).collect();
    (
        r.next() as u32,
        s,
        v,
        Some(r.next() as i16),
        (r.next() & 1 == 0, 'λ'),
    )
}

#[test]
fn random_bytes_never_panic() {
    let mut r = Rng(0x1234_5678_9ABC_DEF1);
    let n = if cfg!(debug_assertions) {
        20_000
    } else {
        200_000
    };
    for _ in 0..n {
        let len = r.below(96);
        let mut bytes: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        // Half of the time, give it a consistent length header so the
        // checksum and payload checks are reached.
        if len >= HEADER && r.next() & 1 == 0 {
            let l = (len - HEADER) as u32;
            bytes[..4].copy_from_slice(&l.to_le_bytes());
            // And a quarter of the time a correct checksum, so that postcard
            // itself decodes random payloads.
            if r.next() & 1 == 0 {
                let sum = bingfa_process::codec::checksum(&bytes[HEADER..]);
                bytes[4..8].copy_from_slice(&sum.to_le_bytes());
            }
        }
        match decode_frame::<Msg>(&bytes) {
            Ok(_) | Err(Error::Corrupt(_)) => {}
            Err(e) => panic!("unexpected error kind {e:?}"),
        }
    }
}

#[test]
fn mutated_frames_are_corrupt() {
    let mut r = Rng(42);
    let mut buf = Vec::new();
    let n = if cfg!(debug_assertions) {
        5_000
    } else {
        50_000
    };
    for _ in 0..n {
        let m = sample(&mut r);
        encode_frame(&m, &mut buf, 1 << 16).unwrap();
        assert_eq!(decode_frame::<Msg>(&buf).unwrap(), m);
        let mut bad = buf.clone();
        match r.below(4) {
            0 => {
                let i = r.below(bad.len());
                bad[i] ^= 1 << r.below(8);
            }
            1 => {
                let cut = r.below(bad.len());
                bad.truncate(cut);
            }
            2 => bad.push(r.next() as u8),
            _ => {
                for _ in 0..1 + r.below(4) {
                    let i = r.below(bad.len());
                    bad[i] = bad[i].wrapping_add(1 + r.below(255) as u8);
                }
            }
        }
        match decode_frame::<Msg>(&bad) {
            Err(Error::Corrupt(_)) => {}
            other => panic!("damaged frame decoded as {other:?}"),
        }
    }
}

#[test]
fn forged_huge_lengths_are_corrupt() {
    // A payload whose varint length prefix claims a gigantic vector.
    let mut payload = vec![0u8; 4]; // u32 0
    payload.push(0); // empty string
    payload.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // Vec len ~ 2^32
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&bingfa_process::codec::checksum(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    assert!(matches!(
        decode_frame::<Msg>(&frame),
        Err(Error::Corrupt(_))
    ));
    let mut frame = u32::MAX.to_le_bytes().to_vec();
    frame.extend_from_slice(&[0; 12]);
    assert!(matches!(
        decode_frame::<Msg>(&frame),
        Err(Error::Corrupt(_))
    ));
}
