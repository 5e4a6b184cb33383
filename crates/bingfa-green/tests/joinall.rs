//! `JoinAll` (gevent's `joinall` with `raise_error`, `count`, `timeout`)
//! and `killall`.

use std::time::{Duration, Instant};

use bingfa_green::{killall, run, sleep, spawn, yield_now, Error, JoinAll};

#[test]
fn raise_error_gives_the_earliest_failure_by_completion_time() {
    run(|| {
        let first = spawn(|| -> u32 {
            sleep(Duration::from_secs(3));
            panic!("first");
        });
        let second = spawn(|| -> u32 { panic!("second") });
        let hs = [first, second];
        let start = Instant::now();
        match JoinAll::new().raise_error(true).wait(&hs) {
            Err(Error::JoinFailed { index, message, .. }) => {
                assert_eq!(index, 1);
                assert!(message.ends_with("second"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(3), "did not wait");
        // Both failed now (the first one killed): still the one that
        // failed first.
        hs[0].kill();
        let Err(Error::JoinFailed { index, .. }) = JoinAll::new().raise_error(true).wait(&hs)
        else {
            panic!("expected Failed")
        };
        assert_eq!(index, 1);
    })
    .unwrap();
}

#[test]
fn count_returns_once_that_many_finished_without_raising() {
    run(|| {
        let sleeper = spawn(|| -> u32 {
            loop {
                sleep(Duration::from_millis(100));
            }
        });
        let raiser = spawn(|| -> u32 { panic!("count") });
        let hs = [sleeper, raiser];
        assert_eq!(JoinAll::new().count(1).wait(&hs).unwrap(), [1]);
        assert!(hs[1].is_dead());
        assert!(!hs[0].is_dead());
        killall(&hs);
        assert!(hs.iter().all(|h| h.is_dead()));
    })
    .unwrap();
}

#[test]
fn timeout_returns_those_finished_in_order() {
    run(|| {
        let hs: Vec<_> = [30u64, 0, 3_600_000, 10]
            .into_iter()
            .map(|ms| spawn(move || sleep(Duration::from_millis(ms))))
            .collect();
        let done = JoinAll::new()
            .timeout(Duration::from_millis(300))
            .wait(&hs)
            .unwrap();
        assert_eq!(done, [1, 3, 0]);
        killall(&hs);
    })
    .unwrap();
}

#[test]
fn joinall_with_no_error_returns_all_in_completion_order() {
    run(|| {
        let hs: Vec<_> = [20u64, 0, 10]
            .into_iter()
            .map(|ms| {
                spawn(move || {
                    sleep(Duration::from_millis(ms));
                    ms
                })
            })
            .collect();
        let done = JoinAll::new().raise_error(true).wait(&hs).unwrap();
        assert_eq!(done, [1, 2, 0]);
        assert_eq!(
            hs.iter().map(|h| h.value().unwrap()).collect::<Vec<_>>(),
            [20, 0, 10]
        );
        // Nothing to wait for: at once.
        assert!(JoinAll::new().wait(&hs[..0]).unwrap().is_empty());
    })
    .unwrap();
}

#[test]
fn killall_kills_them_all() {
    run(|| {
        let hs: Vec<_> = (0..5)
            .map(|_| spawn(|| sleep(Duration::from_secs(3600))))
            .collect();
        yield_now();
        killall(&hs);
        for h in hs {
            assert!(matches!(h.join(), Err(Error::Killed)));
        }
    })
    .unwrap();
}

#[test]
fn joinall_that_can_never_end_gets_loop_exit() {
    let r = run(|| {
        let stuck = spawn(|| bingfa_green::block_on(std::future::pending::<()>()));
        JoinAll::new().wait([&stuck])
    })
    .unwrap();
    assert!(matches!(
        r,
        Err(Error::LoopExit {
            waited_on: "JoinAll::wait",
            ..
        })
    ));
}

#[test]
fn joinall_function_that_can_never_end_unwinds_with_loop_exit() {
    // Before: the LoopExit was dropped and joinall returned as if the
    // stuck green thread had finished.
    let r = run(|| {
        let stuck = spawn(|| bingfa_green::block_on(std::future::pending::<()>()));
        bingfa_green::joinall([&stuck]);
        unreachable!("joinall returned though its green thread never ends");
    });
    assert!(
        matches!(
            r,
            Err(Error::LoopExit {
                waited_on: "joinall",
                ..
            })
        ),
        "{r:?}"
    );
}
