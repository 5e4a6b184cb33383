//! Green-local storage: each green thread its own value, dropped when it
//! ends.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bingfa_green::{green_local, run, spawn, yield_now};

green_local! {
    static NAME: RefCell<String> = RefCell::new(String::from("unset"));
    static COUNT: Cell<u32> = Cell::new(0);
}

#[test]
fn two_green_threads_keep_their_own_values_across_switches() {
    let seen = run(|| {
        let mk = |name: &'static str, n: u32| {
            spawn(move || {
                NAME.with(|v| *v.borrow_mut() = name.to_owned());
                let mut log = Vec::new();
                for _ in 0..n {
                    COUNT.with(|c| c.set(c.get() + 1));
                    yield_now();
                    log.push((NAME.with(|v| v.borrow().clone()), COUNT.with(Cell::get)));
                }
                log
            })
        };
        let a = mk("rose", 3);
        let b = mk("jack", 2);
        // The main green thread has its own, untouched value.
        yield_now();
        let main_name = NAME.with(|v| v.borrow().clone());
        (a.join().unwrap(), b.join().unwrap(), main_name)
    })
    .unwrap();
    assert_eq!(
        seen.0,
        [("rose".into(), 1), ("rose".into(), 2), ("rose".into(), 3)]
    );
    assert_eq!(seen.1, [("jack".into(), 1), ("jack".into(), 2)]);
    assert_eq!(seen.2, "unset");
}

/// Records its drop in a shared log.
struct Noisy(&'static str, Rc<RefCell<Vec<&'static str>>>);

impl Drop for Noisy {
    fn drop(&mut self) {
        self.1.borrow_mut().push(self.0);
    }
}

green_local! {
    static GUARD: RefCell<Option<Noisy>> = RefCell::new(None);
}

#[test]
fn values_are_dropped_when_the_green_thread_ends_even_killed() {
    let log = run(|| {
        let log: Rc<RefCell<Vec<&'static str>>> = Rc::default();
        let l = log.clone();
        let finishes = spawn(move || {
            GUARD.with(|g| *g.borrow_mut() = Some(Noisy("finished", l.clone())));
            yield_now();
            // Still alive while the green thread runs.
            l.borrow().len()
        });
        let l = log.clone();
        let killed = spawn(move || {
            GUARD.with(|g| *g.borrow_mut() = Some(Noisy("killed", l)));
            loop {
                yield_now();
            }
        });
        assert_eq!(finishes.join().unwrap(), 0);
        assert_eq!(*log.borrow(), ["finished"]);
        killed.kill();
        assert!(matches!(killed.join(), Err(bingfa_green::Error::Killed)));
        let out = log.borrow().clone();
        out
    })
    .unwrap();
    assert_eq!(log, ["finished", "killed"]);
}

#[test]
fn outside_a_hub_the_os_thread_has_its_own_value() {
    COUNT.with(|c| c.set(41));
    let inner = run(|| COUNT.with(Cell::get)).unwrap();
    assert_eq!(inner, 0, "a green thread starts from the initial value");
    assert_eq!(COUNT.with(Cell::get), 41);
    let other = std::thread::spawn(|| COUNT.with(Cell::get)).join().unwrap();
    assert_eq!(other, 0);
}

#[test]
fn a_generator_inside_a_green_thread_sees_that_green_threads_value() {
    let got = run(|| {
        COUNT.with(|c| c.set(7));
        let mut g = bingfa_green::Generator::new(|co| {
            co.yield_(COUNT.with(Cell::get));
        });
        g.next()
    })
    .unwrap();
    assert_eq!(got, Some(7));
}
