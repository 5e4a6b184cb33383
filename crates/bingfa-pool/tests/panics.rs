//! A panicking task fails its own future with the panic message; the
//! worker survives.

use bingfa_pool::{Error, ThreadPool};

#[test]
fn panic_message_becomes_the_error() {
    let pool = ThreadPool::new(1);
    let a = pool.submit(|| -> u8 { panic!("static message") }).unwrap();
    let b = pool
        .submit(|| -> u8 { panic!("formatted {}", 42) })
        .unwrap();
    let c = pool
        .submit(|| -> u8 { std::panic::panic_any(17_u32) })
        .unwrap();
    assert_eq!(
        a.result(),
        Err(Error::Panicked {
            message: "static message".into()
        })
    );
    assert_eq!(
        b.exception(),
        Some(Error::Panicked {
            message: "formatted 42".into()
        })
    );
    assert!(
        matches!(c.result(), Err(Error::Panicked { message }) if message.contains("not a string"))
    );
}

#[test]
fn the_worker_survives_a_panic() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .thread_name_prefix("survivor")
        .build()
        .unwrap();
    for i in 0..20 {
        let f = pool.submit(move || -> usize {
            if i % 2 == 0 {
                panic!("even {i}");
            }
            i
        });
        let r = f.unwrap().result();
        if i % 2 == 0 {
            assert!(r.is_err());
        } else {
            assert_eq!(r, Ok(i));
        }
    }
    // Still the same single worker thread.
    let name = pool
        .submit(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .result()
        .unwrap();
    assert_eq!(name.as_deref(), Some("survivor_0"));
}

#[test]
fn panic_error_display_names_the_message() {
    let e = Error::Panicked {
        message: "boom".into(),
    };
    assert_eq!(e.to_string(), "the task panicked: boom");
    let e = Error::WorkerDied {
        pid: 7,
        signal: Some(9),
        exit_code: None,
    };
    assert_eq!(
        e.to_string(),
        "the worker process 7 died while running the task (signal 9)"
    );
    let e = Error::WorkerDied {
        pid: 7,
        signal: None,
        exit_code: Some(99),
    };
    assert_eq!(
        e.to_string(),
        "the worker process 7 died while running the task (exit code 99)"
    );
}

/// A closure whose `Drop` panics, dropped unrun because its future was
/// cancelled while queued, harms nothing: the future stays cancelled and
/// the worker goes on to the next task.
#[test]
fn a_cancelled_closure_that_panics_on_drop_does_not_kill_the_worker() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop of a task that never ran");
        }
    }
    let pool = ThreadPool::new(1);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let blocker = pool.submit(move || rx.recv().is_ok()).unwrap();
    let doomed = PanicOnDrop;
    let b = pool
        .submit(move || {
            let _keep = &doomed;
        })
        .unwrap();
    assert!(b.cancel(), "pending, so cancellable");
    tx.send(()).unwrap();
    assert_eq!(blocker.result(), Ok(true));
    let after = pool.submit(|| 7).unwrap();
    assert_eq!(
        after.result_timeout(std::time::Duration::from_secs(10)),
        Ok(7),
        "the worker survived the panicking drop"
    );
    assert!(b.is_cancelled());
}
