//! Ported from CPython's `Lib/test/_test_multiprocessing.py`, classes
//! `_TestValue`, `_TestArray` and `_TestSharedMemory` (CPython main, commit
//! 00811485ee5ffa6d719cd4058ba3651ee9cd207b, the 3.15 development branch).
//! Copyright (c) 2001-2025 Python Software Foundation; licensed under the
//! PSF License Agreement, version 2 (PSF-2.0).
//!
//! One Rust test per upstream test that applies, named after it; the
//! others are listed with the reason in the crate's `PARITY.md`. Python's
//! type codes are Rust types here (`'i'` is `i32`, `'d'` `f64`, `'h'`
//! `i16`, `'q'` `i64`, `'c'` `u8`); a shared memory block of bytes
//! (`shared_memory.SharedMemory`) is an `Array<u8>`.

use std::time::Duration;

use bingfa_process::{Array, ExitStatus, Process, Value};

bingfa_process::enable_test_support!();

fn ok(p: &Process) {
    assert_eq!(
        p.join().unwrap(),
        ExitStatus::Code(0),
        "{:?}",
        p.panic_message()
    );
}

/// Upstream's `_TestValue`.
mod _test_value {
    use super::*;

    type Values = (Value<i32>, Value<f64>, Value<i16>, Value<i64>, Value<u8>);

    /// The upstream `codes_values`: each value's first and second value.
    const FIRST: (i32, f64, i16, i64, u8) = (4343, 3.625, -232, 1 << 33, b'x');
    const SECOND: (i32, f64, i16, i64, u8) = (24234, -4.25, 234, 1 << 34, b'y');

    fn set_second(values: Values) {
        values.0.set(SECOND.0);
        values.1.set(SECOND.1);
        values.2.set(SECOND.2);
        values.3.set(SECOND.3);
        values.4.set(SECOND.4);
    }

    fn get(values: &Values) -> (i32, f64, i16, i64, u8) {
        (
            values.0.get(),
            values.1.get(),
            values.2.get(),
            values.3.get(),
            values.4.get(),
        )
    }

    #[test]
    fn test_value() {
        // With both start methods: a forked child shares the mapping, a
        // spawned one maps the memory again.
        for spawn in [false, true] {
            let values: Values = (
                Value::new(FIRST.0).unwrap(),
                Value::new(FIRST.1).unwrap(),
                Value::new(FIRST.2).unwrap(),
                Value::new(FIRST.3).unwrap(),
                Value::new(FIRST.4).unwrap(),
            );
            assert_eq!(get(&values), FIRST);
            let proc = if spawn {
                bingfa_process::Builder::new()
                    .daemon(true)
                    .spawn(set_second, values.clone())
                    .unwrap()
            } else {
                let v = values.clone();
                bingfa_process::Builder::new()
                    .daemon(true)
                    .fork(move || set_second(v))
                    .unwrap()
            };
            ok(&proc);
            assert_eq!(get(&values), SECOND);
        }
    }
}

/// Upstream's `_TestArray`.
mod _test_array {
    use super::*;

    /// Upstream's `f`: running sums, in place.
    fn f(seq: &mut [i32]) {
        for i in 1..seq.len() {
            seq[i] += seq[i - 1];
        }
    }

    fn f_shared(arr: Array<i32>) {
        f(&mut arr.lock().unwrap());
    }

    #[test]
    fn test_array() {
        for spawn in [false, true] {
            let mut seq = vec![680, 626, 934, 821, 150, 233, 548, 982, 714, 831];
            let arr = Array::from_slice(&seq).unwrap();
            assert_eq!(arr.len(), seq.len());
            assert_eq!(arr.get(3), seq[3]);
            assert_eq!(arr.to_vec()[2..7], seq[2..7]);

            // arr[4:8] = seq[4:8] = array('i', [1, 2, 3, 4])
            arr.lock().unwrap()[4..8].copy_from_slice(&[1, 2, 3, 4]);
            seq[4..8].copy_from_slice(&[1, 2, 3, 4]);
            assert_eq!(arr.to_vec(), seq);

            f(&mut seq);
            let p = if spawn {
                bingfa_process::Builder::new()
                    .daemon(true)
                    .spawn(f_shared, arr.clone())
                    .unwrap()
            } else {
                let a = arr.clone();
                bingfa_process::Builder::new()
                    .daemon(true)
                    .fork(move || f_shared(a))
                    .unwrap()
            };
            ok(&p);
            assert_eq!(arr.to_vec(), seq);
        }
    }

    #[test]
    fn test_array_from_size() {
        let size = 10;
        // Zeroed every time (upstream issue #11675: a reused block).
        for _ in 0..3 {
            let arr = Array::new(size, 0i32).unwrap();
            assert_eq!(arr.len(), size);
            assert_eq!(arr.to_vec(), vec![0; size]);
            let range: Vec<i32> = (0..10).collect();
            arr.lock().unwrap().copy_from_slice(&range);
            assert_eq!(arr.to_vec(), range);
            drop(arr);
        }
    }
}

/// Upstream's `_TestSharedMemory`, where it applies: this crate's shared
/// memory is anonymous (a memfd), shared by handles, never by name.
mod _test_shared_memory {
    use super::*;

    /// Upstream's `_attach_existing_shmem_then_write`.
    fn write(args: (Array<u8>, Vec<u8>)) {
        let (shm, data) = args;
        shm.lock().unwrap()[..data.len()].copy_from_slice(&data);
    }

    #[test]
    fn test_shared_memory_across_processes() {
        let sms = Array::new(512, 0u8).unwrap();
        // A spawned child attaches to the block (upstream: by its name).
        let p = bingfa_process::Builder::new()
            .daemon(true)
            .spawn(write, (sms.clone(), b"howdy".to_vec()))
            .unwrap();
        ok(&p);
        assert_eq!(sms.to_vec()[..5], *b"howdy");
        // A forked child shares the handle itself (upstream: a pickled
        // SharedMemory object).
        let p = {
            let sms = sms.clone();
            bingfa_process::Builder::new()
                .daemon(true)
                .fork(move || write((sms, b"HELLO".to_vec())))
                .unwrap()
        };
        assert!(p.join_timeout(Duration::from_secs(60)).unwrap().is_some());
        ok(&p);
        assert_eq!(sms.to_vec()[..5], *b"HELLO");
    }
}
