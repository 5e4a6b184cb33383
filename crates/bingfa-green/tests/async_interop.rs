//! block_on inside green threads: only that green thread waits; wakers
//! from other OS threads; the course's asyncio hello tasks.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bingfa_green::{block_on, run, sleep, sleep_async, spawn};

/// A future completed by a plain OS thread after `ms` milliseconds.
struct Remote {
    state: Arc<Mutex<(bool, Option<Waker>)>>,
}

fn remote_future(ms: u64) -> Remote {
    let state = Arc::new(Mutex::new((false, None::<Waker>)));
    let s = state.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        let mut g = s.lock().unwrap();
        g.0 = true;
        if let Some(w) = g.1.take() {
            w.wake();
        }
    });
    Remote { state }
}

impl Future for Remote {
    type Output = &'static str;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        let mut g = self.state.lock().unwrap();
        if g.0 {
            Poll::Ready("remote done")
        } else {
            g.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

#[test]
fn block_on_parks_only_its_green_thread() {
    run(|| {
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
        let t = ticks.clone();
        let ticker = spawn(move || {
            for _ in 0..5 {
                sleep(Duration::from_millis(5));
                t.set(t.get() + 1);
            }
        });
        let v = block_on(remote_future(80));
        assert_eq!(v, "remote done");
        assert_eq!(
            ticks.get(),
            5,
            "the other green thread ran while block_on waited"
        );
        ticker.join().unwrap();
    })
    .unwrap();
}

#[test]
fn asyncio_hello_tasks_on_one_thread() {
    // The course's lesson 24: two hello() coroutines sleep 1 s each on one
    // thread and finish together (here 100 ms).
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let l = log.clone();
    let elapsed = run(move || {
        let start = Instant::now();
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let l = l.clone();
                spawn(move || {
                    block_on(async {
                        l.borrow_mut().push(format!(
                            "Hello world! ({i}, {:?})",
                            std::thread::current().id()
                        ));
                        sleep_async(Duration::from_millis(100)).await;
                        l.borrow_mut().push(format!(
                            "Hello again! ({i}, {:?})",
                            std::thread::current().id()
                        ));
                    })
                })
            })
            .collect();
        bingfa_green::joinall(&hs);
        start.elapsed()
    })
    .unwrap();
    assert!(elapsed < Duration::from_millis(180), "{elapsed:?}");
    let tid = format!("{:?}", std::thread::current().id());
    let log = log.borrow();
    assert_eq!(log.len(), 4);
    assert!(log[0].starts_with("Hello world! (0") && log[1].starts_with("Hello world! (1"));
    assert!(log[2].starts_with("Hello again!") && log[3].starts_with("Hello again!"));
    assert!(
        log.iter().all(|l| l.contains(&tid)),
        "all on the test's thread"
    );
}

#[test]
fn block_on_outside_a_hub_parks_the_thread() {
    assert_eq!(block_on(remote_future(10)), "remote done");
    let start = Instant::now();
    block_on(sleep_async(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));
}
