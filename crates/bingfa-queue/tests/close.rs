//! `close`: puts fail with the item, gets drain then fail, blocked threads wake.

mod common;

use bingfa_queue::{
    GetError, GetTimeoutError, PutError, PutTimeoutError, TryGetError, TryPutError,
};
use std::time::Duration;

#[test]
fn close_refuses_puts_and_drains_gets() {
    for_each_queue!(|make| {
        for cap in [0, 2] {
            let q = make(cap);
            q.put(1).unwrap();
            q.put(2).unwrap();
            assert!(!q.is_closed());
            assert!(q.close());
            assert!(!q.close(), "second close reports it was closed already");
            assert!(q.is_closed());
            assert_eq!(q.put(3), Err(PutError(3)));
            assert!(matches!(q.try_put(4), Err(TryPutError::Closed(4))));
            assert!(matches!(
                q.put_timeout(5, Duration::from_millis(1)),
                Err(PutTimeoutError::Closed(5))
            ));
            assert_eq!(q.len(), 2);
            let mut got = vec![q.get().unwrap(), q.try_get().unwrap()];
            got.sort();
            assert_eq!(got, vec![1, 2]);
            assert_eq!(q.get(), Err(GetError));
            assert_eq!(q.try_get(), Err(TryGetError::Closed));
            assert_eq!(
                q.get_timeout(Duration::from_millis(1)),
                Err(GetTimeoutError::Closed)
            );
        }
    });
}

#[test]
fn close_wakes_every_blocked_getter() {
    for_each_queue!(|make| {
        let q = make::<u32>(1);
        let getters: Vec<_> = (0..3)
            .map(|i| {
                let q = q.clone();
                std::thread::spawn(move || {
                    if i == 0 {
                        q.get().map_err(|_| ())
                    } else {
                        q.get_timeout(Duration::from_secs(3600)).map_err(|_| ())
                    }
                })
            })
            .collect();
        // Give them time to park (the outcome holds whether they did or not).
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        for g in getters {
            assert_eq!(g.join().unwrap(), Err(()));
        }
    });
}

#[test]
fn close_wakes_every_blocked_putter_and_returns_its_item() {
    for_each_queue!(|make| {
        let q = make::<u32>(1);
        q.put(0).unwrap();
        let putters: Vec<_> = (1..=3)
            .map(|i| {
                let q = q.clone();
                std::thread::spawn(move || {
                    if i == 1 {
                        q.put(i).map_err(PutError::into_inner)
                    } else {
                        q.put_timeout(i, Duration::from_secs(3600))
                            .map_err(PutTimeoutError::into_inner)
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        let mut back: Vec<_> = putters
            .into_iter()
            .map(|p| p.join().unwrap().unwrap_err())
            .collect();
        back.sort();
        assert_eq!(back, vec![1, 2, 3]);
        assert_eq!(q.get(), Ok(0));
        assert_eq!(q.get(), Err(GetError));
    });
}

#[test]
fn consumers_drain_everything_before_closed() {
    for_each_queue!(|make| {
        let q = make(8);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(x) = q.get() {
                        got.push(x);
                    }
                    got
                })
            })
            .collect();
        for i in 0..1000u32 {
            q.put(i).unwrap();
        }
        q.close();
        let mut all: Vec<_> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    });
}
