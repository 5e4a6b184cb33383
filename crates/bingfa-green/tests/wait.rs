//! `sync::wait`: waiting for several events, results, green threads and
//! semaphores at once; registrations withdrawn on every way out; wake-ups
//! of one-at-a-time objects passed on.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bingfa_green::sync::{wait, wait_timeout, AsyncResult, Event, Semaphore, Waitable};
use bingfa_green::{run, sleep, spawn, yield_now, Error, Timeout};

/// Green threads are reported as they finish (several that finish within
/// one round of the wait come in index order).
#[test]
fn green_threads_in_completion_order() {
    run(|| {
        let evs: Vec<Rc<Event>> = (0..3).map(|_| Rc::new(Event::new())).collect();
        let hs: Vec<_> = evs
            .iter()
            .map(|e| {
                let e = e.clone();
                spawn(move || e.wait())
            })
            .collect();
        let (evs2, watch): (Vec<_>, Vec<_>) =
            (evs.clone(), hs.iter().map(|h| h.is_dead()).collect());
        assert_eq!(watch, [false; 3]);
        // Finishes them in the order 1, 2, 0, one at a time: after each
        // set it yields until that green thread is done, then once more so
        // that the waiter (woken by it, queued before this driver) runs.
        let order = [1usize, 2, 0];
        let done = Rc::new(std::cell::Cell::new(0usize));
        let d2 = done.clone();
        let driver = spawn(move || {
            for i in order {
                evs2[i].set();
                while d2.get() == 0 {
                    yield_now();
                }
                d2.set(0);
                yield_now();
            }
        });
        let objs: Vec<&dyn Waitable> = hs.iter().map(|h| h as &dyn Waitable).collect();
        // A watcher per green thread tells the driver when it is done.
        let watchers: Vec<_> = (0..3)
            .map(|_| {
                let d = done.clone();
                move || d.set(1)
            })
            .collect();
        let mut got = Vec::new();
        for (_, w) in (0..3).zip(watchers) {
            let pending: Vec<usize> = (0..3).filter(|i| !got.contains(i)).collect();
            let sub: Vec<&dyn Waitable> = pending.iter().map(|&i| objs[i]).collect();
            let r = wait(&sub, Some(1));
            assert_eq!(r.len(), 1);
            got.push(pending[r[0]]);
            w();
        }
        assert_eq!(got, order);
        driver.join().unwrap();
        assert_eq!(
            wait(&objs, None),
            [0, 1, 2],
            "all ready at once: index order"
        );
    })
    .unwrap();
}

/// `wait` on a semaphore takes no permit; when a release woke the waiter
/// of `wait` rather than an acquirer queued behind it, the wake-up goes on
/// to that acquirer.
#[test]
fn semaphore_wakeup_is_passed_on() {
    run(|| {
        let sem = Rc::new(Semaphore::new(0));
        let s1 = sem.clone();
        let watcher = spawn(move || wait(&[&*s1], None));
        yield_now();
        let s2 = sem.clone();
        let acquirer = spawn(move || s2.acquire().forget());
        yield_now();
        sem.release().unwrap(); // pops the watcher, first in line
        acquirer
            .join_timeout(Duration::from_secs(5))
            .expect("the acquirer got the permit the watcher did not take");
        assert_eq!(watcher.join().unwrap(), [0]);
        assert_eq!(sem.available(), 0);
    })
    .unwrap();
}

/// A wait cut short by a `Timeout` (or a timeout of its own) leaves no
/// registration behind in any object.
#[test]
fn registrations_are_withdrawn() {
    run(|| {
        let (e, r, s) = (Event::new(), AsyncResult::<u8>::new(), Semaphore::new(0));
        let t = Timeout::new(Duration::from_millis(10)).run(|| wait(&[&e, &r, &s], None));
        assert!(matches!(t, Err(Error::Timeout(_))));
        assert_eq!((e.waiters(), r.waiters()), (0, 0));
        assert!(wait_timeout(&[&e, &r, &s], Some(1), Duration::from_millis(5)).is_empty());
        assert_eq!((e.waiters(), r.waiters()), (0, 0));
        // The semaphore's list is empty too: a release finds nobody.
        s.release().unwrap();
        assert_eq!(wait(&[&s], None), [0]);
    })
    .unwrap();
}

/// A plain OS thread (no hub) waits on events and results set by green
/// threads of another OS thread's hub.
#[test]
fn a_plain_thread_waits_for_green_threads() {
    let e = Arc::new(Event::new());
    let r = Arc::new(AsyncResult::<u32>::new());
    let go = Arc::new(Event::new());
    let (e2, r2, go2) = (e.clone(), r.clone(), go.clone());
    let hub = std::thread::spawn(move || {
        run(move || {
            sleep(Duration::from_millis(5));
            r2.set(7);
            go2.wait();
            // Set and clear once the plain thread waits for the event.
            while e2.waiters() == 0 {
                sleep(Duration::from_millis(1));
            }
            e2.set();
            e2.clear();
        })
        .unwrap()
    });
    assert_eq!(
        wait_timeout(&[&e, &r], Some(1), Duration::from_secs(10)),
        [1]
    );
    go.set();
    // The result at once, and the event, set and cleared while this waits
    // (within the first round, or in a later one): both count.
    let mut all = wait_timeout(&[&e, &r], None, Duration::from_secs(10));
    all.sort_unstable();
    assert_eq!(all, [0, 1]);
    assert_eq!(r.get().unwrap(), 7);
    hub.join().unwrap();
}

#[test]
fn zero_timeout_and_empty_list() {
    run(|| {
        let (a, b) = (Event::new(), Event::new());
        b.set();
        assert_eq!(wait_timeout(&[&a, &b], None, Duration::ZERO), [1]);
        assert!(wait(&[], None).is_empty());
        assert_eq!(
            wait(&[&b, &b], Some(5)),
            [0, 1],
            "count capped at the number of objects"
        );
        let rc = Rc::new(Event::new());
        rc.set();
        assert_eq!(
            wait(&[&rc, &Box::new(AsyncResult::<()>::new())], Some(1)),
            [0]
        );
    })
    .unwrap();
}

/// A wait inside a generator run by a green thread would block the hub's
/// OS thread for good (nothing could ever run the setter): it panics with
/// the reason instead, like every blocking green call there.
#[test]
fn a_wait_inside_a_generator_panics() {
    let r = run(|| {
        let e = Rc::new(Event::new());
        let e2 = e.clone();
        let mut g = bingfa_green::Generator::<(), ()>::new(move |_co| {
            e2.wait();
        });
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.resume()))
            .map(|_| ())
            .map_err(|p| bingfa_green_panic_message(&*p))
    })
    .unwrap();
    let msg = r.unwrap_err();
    assert!(msg.contains("inside a generator or greenlet"), "{msg}");
}

fn bingfa_green_panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
