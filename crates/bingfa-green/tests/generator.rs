//! Generators: resume/yield, send, iterator, the course's `yield` example.

use std::cell::RefCell;
use std::rc::Rc;

use bingfa_green::{Generator, GeneratorState};

#[test]
fn course_task1_task2_interleave() {
    // Python (course lesson 20):
    //   def task1():
    //       while True: yield; print("task1 run")
    //   def task2():
    //       g = task1()
    //       while True: next(g); print("task2 run")
    // Bounded to three rounds.
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let mut g: Generator<()> = Generator::new(move |co| loop {
        co.yield_(());
        l.borrow_mut().push("task1 run");
    });
    for _ in 0..3 {
        assert_eq!(g.resume(), GeneratorState::Yielded(()));
        log.borrow_mut().push("task2 run");
    }
    assert_eq!(
        *log.borrow(),
        [
            "task2 run",
            "task1 run",
            "task2 run",
            "task1 run",
            "task2 run"
        ]
    );
    assert!(!g.is_done());
}

#[test]
fn yields_then_completes_with_a_value() {
    let mut g = Generator::new(|co| {
        co.yield_("a");
        co.yield_("b");
        42
    });
    assert!(!g.is_started());
    assert_eq!(g.resume(), GeneratorState::Yielded("a"));
    assert!(g.is_started());
    assert_eq!(g.resume(), GeneratorState::Yielded("b"));
    assert_eq!(g.resume(), GeneratorState::Complete(42));
    assert!(g.is_done());
}

#[test]
fn send_passes_values_in() {
    // Python: a consumer generator driven with send (the course's
    // producer/consumer with yield).
    let mut g: Generator<i32, i32, i32> = Generator::new(|co| {
        let mut total = 0;
        loop {
            let v = co.yield_(total);
            if v < 0 {
                return total;
            }
            total += v;
        }
    });
    assert_eq!(g.send(999), GeneratorState::Yielded(0)); // first send's value is dropped
    assert_eq!(g.send(5), GeneratorState::Yielded(5));
    assert_eq!(g.send(7), GeneratorState::Yielded(12));
    assert_eq!(g.send(-1), GeneratorState::Complete(12));
}

#[test]
fn iterator_and_fused() {
    let mut g = Generator::new(|co| {
        for i in 0..5u64 {
            co.yield_(i * 10);
        }
    });
    assert_eq!(g.by_ref().take(2).collect::<Vec<_>>(), [0, 10]);
    assert_eq!(g.by_ref().collect::<Vec<_>>(), [20, 30, 40]);
    assert_eq!(g.next(), None);
    assert_eq!(g.next(), None);
}

#[test]
#[should_panic(expected = "already complete")]
fn resuming_a_complete_generator_panics() {
    let mut g = Generator::new(|_co: &bingfa_green::Co<()>| 1);
    assert_eq!(g.resume(), GeneratorState::Complete(1));
    let _ = g.resume();
}

#[test]
fn dropping_a_suspended_generator_runs_its_destructors() {
    struct Flag(Rc<RefCell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            *self.0.borrow_mut() = true;
        }
    }
    let dropped = Rc::new(RefCell::new(false));
    let d = dropped.clone();
    let mut g = Generator::new(move |co| {
        let _f = Flag(d);
        co.yield_(1);
        co.yield_(2);
    });
    assert_eq!(g.next(), Some(1));
    drop(g);
    assert!(*dropped.borrow());
}

#[test]
fn stacks_are_reused() {
    // Run many generators one after another: the pool hands the same stack
    // back, so the number of mapped stacks stays small.
    for _ in 0..2000 {
        let mut g = Generator::new(|co| co.yield_(1u8));
        assert_eq!(g.next(), Some(1));
    }
    assert!(
        bingfa_green::live_stacks() < 64,
        "{}",
        bingfa_green::live_stacks()
    );
}

#[test]
fn hub_calls_inside_a_generator_inside_a_green_thread_are_refused() {
    let (msg, after) = bingfa_green::run(|| {
        let mut g: Generator<(), ()> = Generator::new(|_co| bingfa_green::yield_now());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.resume()));
        let p = r.expect_err("yield_now inside a generator must panic");
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        // Back in the green thread itself, hub calls work again.
        let h = bingfa_green::spawn(|| 7);
        bingfa_green::yield_now();
        (msg, h.join().unwrap())
    })
    .unwrap();
    assert!(
        msg.contains("cannot run inside a generator or greenlet"),
        "{msg}"
    );
    assert_eq!(after, 7);
}
