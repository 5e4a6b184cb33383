//! Links: callbacks when a green thread ends (gevent's `link`,
//! `link_value`, `link_exception`, `rawlink`, `unlink`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bingfa_green::{run, sleep, spawn, yield_now, Error, Finished, LinkId};

type Log = Rc<RefCell<Vec<String>>>;

fn logger(log: &Log, tag: &'static str) -> impl FnOnce(&Finished<'_, u32>) + 'static {
    let log = log.clone();
    move |end| {
        let what = match end.result() {
            Ok(v) => format!("value {v}"),
            Err(Error::Killed) => "killed".to_owned(),
            Err(Error::Panicked { message, .. }) => format!("panicked: {message}"),
            Err(e) => format!("error {e}"),
        };
        log.borrow_mut()
            .push(format!("{tag}: {} {what}", end.name()));
    }
}

#[test]
fn links_run_when_it_returns_and_only_the_fitting_kinds() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(move || {
        let h = bingfa_green::Builder::new()
            .name("worker")
            .spawn(|| {
                sleep(Duration::from_millis(1));
                25u32
            })
            .unwrap();
        h.link(logger(&l, "link"));
        h.link_value(logger(&l, "value"));
        h.link_exception(logger(&l, "exception"));
        h.rawlink(logger(&l, "raw"));
        assert!(h.has_links());
        assert_eq!(h.join().unwrap(), 25);
    })
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "link: worker value 25",
            "value: worker value 25",
            "raw: worker value 25"
        ]
    );
}

#[test]
fn links_run_when_it_panics_or_is_killed() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(move || {
        let h = bingfa_green::Builder::new()
            .name("bad")
            .spawn(|| -> u32 { panic!("oops") })
            .unwrap();
        h.link(logger(&l, "link"));
        h.link_value(logger(&l, "value"));
        h.link_exception(logger(&l, "exception"));
        assert!(h.join().is_err());
        let h = bingfa_green::Builder::new()
            .name("sleeper")
            .spawn(|| -> u32 {
                sleep(Duration::from_secs(3600));
                0
            })
            .unwrap();
        h.link(logger(&l, "link"));
        h.link_value(logger(&l, "value"));
        h.link_exception(logger(&l, "exception"));
        yield_now();
        h.kill();
        assert!(h.is_dead());
    })
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "link: bad panicked: oops",
            "exception: bad panicked: oops",
            "link: sleeper killed",
            "exception: sleeper killed",
        ]
    );
}

#[test]
fn a_link_made_after_the_end_runs_at_once() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(move || {
        let h = spawn(|| 5u32);
        yield_now();
        assert!(h.is_dead());
        for i in 0..3 {
            let l2 = l.clone();
            h.link(move |end| l2.borrow_mut().push(format!("{i}: {:?}", end.value())));
            assert_eq!(l.borrow().len(), i + 1, "ran at once");
        }
        assert!(!h.has_links());
        assert_eq!(h.join().unwrap(), 5);
    })
    .unwrap();
    assert_eq!(*log.borrow(), ["0: Some(5)", "1: Some(5)", "2: Some(5)"]);
}

#[test]
fn a_failing_callback_does_not_stop_the_others() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(move || {
        let h = spawn(|| 5u32);
        let (a, b) = (l.clone(), l.clone());
        h.link(move |_| {
            a.borrow_mut().push("first".into());
            panic!("listener1");
        });
        h.link(move |_| {
            b.borrow_mut().push("second".into());
            panic!("listener2");
        });
        h.link(|_| panic!("listener3"));
        assert_eq!(h.join().unwrap(), 5, "the result is unchanged");
    })
    .unwrap();
    assert_eq!(*log.borrow(), ["first", "second"]);
}

#[test]
fn unlink_before_the_end_and_from_a_callback() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(move || {
        let h = spawn(|| 5u32);
        let gone = h.link(logger(&l, "gone"));
        assert!(h.unlink(gone));
        assert!(!h.unlink(gone), "already removed");
        assert!(!h.has_links());
        // Listener 1 removes listener 2 (which would remove 1): only one
        // of the two runs (gevent's test_multiple_listeners_error_unlink).
        let second: Rc<RefCell<Option<LinkId>>> = Rc::default();
        let (s, l1) = (second.clone(), l.clone());
        h.link(move |end| {
            assert!(end.unlink(s.borrow().unwrap()));
            l1.borrow_mut().push("listener1".into());
        });
        let l2 = l.clone();
        let id = h.link(move |_| l2.borrow_mut().push("listener2".into()));
        *second.borrow_mut() = Some(id);
        h.join().unwrap();
    })
    .unwrap();
    assert_eq!(*log.borrow(), ["listener1"]);
}

/// A callback may switch; the green thread's joiners wait for its links.
#[test]
fn a_callback_may_switch_and_joiners_wait_for_it() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(move || {
        let h = spawn(|| 1u32);
        let l1 = l.clone();
        h.link(move |end| {
            sleep(Duration::from_millis(10));
            l1.borrow_mut()
                .push(format!("link done, value {:?}", end.value()));
        });
        assert_eq!(h.join().unwrap(), 1);
        l.borrow_mut().push("joined".into());
    })
    .unwrap();
    assert_eq!(*log.borrow(), ["link done, value Some(1)", "joined"]);
}
