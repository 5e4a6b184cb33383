//! Greenlets: the course's eat/play and producer/consumer, values both ways,
//! parent, dead, kill.

use std::cell::RefCell;
use std::rc::Rc;

use bingfa_green::Greenlet;

type Log = Rc<RefCell<Vec<String>>>;

#[test]
fn eat_play_interleaving() {
    // Python (course lesson 21):
    //   def eat(name): print('%s eat 1' % name); g2.switch('jack'); print('%s eat 2' % name); g2.switch()
    //   def play(name): print('%s play 1' % name); g1.switch(); print('%s play 2' % name)
    //   g1.switch('rose')
    let log: Log = Rc::default();
    let g2_slot: Rc<RefCell<Option<Greenlet<Option<&'static str>>>>> = Rc::default();
    let (l, slot) = (log.clone(), g2_slot.clone());
    let g1 = Greenlet::new(move |name: Option<&str>| {
        let name = name.unwrap();
        l.borrow_mut().push(format!("{name} eat 1"));
        let g2 = slot.borrow().clone().unwrap();
        g2.switch(Some("jack"));
        l.borrow_mut().push(format!("{name} eat 2"));
        g2.switch(None);
        None
    });
    let (l, g1c) = (log.clone(), g1.clone());
    let g2 = Greenlet::new(move |name: Option<&str>| {
        let name = name.unwrap();
        l.borrow_mut().push(format!("{name} play 1"));
        g1c.switch(None);
        l.borrow_mut().push(format!("{name} play 2"));
        None
    });
    *g2_slot.borrow_mut() = Some(g2.clone());
    let back = g1.switch(Some("rose"));
    // g2 finished: its return value went to its parent, the root.
    assert_eq!(back, None);
    assert_eq!(
        *log.borrow(),
        ["rose eat 1", "jack play 1", "rose eat 2", "jack play 2"]
    );
    assert!(g2.is_dead());
    assert!(!g1.is_dead(), "g1 is still suspended in its second switch");
    g1.kill();
    assert!(g1.is_dead());
    g2_slot.borrow_mut().take();
}

#[test]
fn producer_consumer_interleaving() {
    // Python (course, lesson 21): Producer prints, c.switch(); Consumer
    // prints, p.switch(); c.switch() starts the consumer. Bounded here to
    // three rounds, then the producer switches back to the root.
    let log: Log = Rc::default();
    let c_slot: Rc<RefCell<Option<Greenlet<()>>>> = Rc::default();
    let p_slot: Rc<RefCell<Option<Greenlet<()>>>> = Rc::default();
    let (l, cs) = (log.clone(), c_slot.clone());
    let p = Greenlet::new(move |()| {
        for round in 0..3 {
            l.borrow_mut().push(format!("produce {round}"));
            let c = cs.borrow().clone().unwrap();
            c.switch(());
            l.borrow_mut().push(format!("produce end {round}"));
        }
        Greenlet::<()>::root().switch(());
    });
    let (l, ps) = (log.clone(), p_slot.clone());
    let c = Greenlet::new(move |()| loop {
        l.borrow_mut().push("consume".to_string());
        let p = ps.borrow().clone().unwrap();
        p.switch(());
        l.borrow_mut().push("consume end".to_string());
    });
    *c_slot.borrow_mut() = Some(c.clone());
    *p_slot.borrow_mut() = Some(p.clone());
    c.switch(());
    assert_eq!(
        *log.borrow(),
        [
            "consume",
            "produce 0",
            "consume end",
            "consume",
            "produce end 0",
            "produce 1",
            "consume end",
            "consume",
            "produce end 1",
            "produce 2",
            "consume end",
            "consume",
            "produce end 2",
        ]
    );
    c.kill();
    p.kill();
    c_slot.borrow_mut().take();
    p_slot.borrow_mut().take();
}

#[test]
fn values_go_both_ways_and_return_to_parent() {
    let g = Greenlet::new(|x: i32| {
        let y = Greenlet::<i32>::root().switch(x + 1); // hands 11 out, gets 100
        y * 2 // to the parent (root)
    });
    assert!(!g.is_active());
    assert_eq!(g.switch(10), 11);
    assert!(g.is_active());
    assert_eq!(g.switch(100), 200);
    assert!(g.is_dead());
    // Switching to a dead greenlet goes to its parent: the root, at once.
    assert_eq!(g.switch(5), 5);
}

#[test]
fn parent_gets_the_result_of_a_child() {
    let log: Log = Rc::default();
    let l = log.clone();
    let outer = Greenlet::new(move |_: u32| {
        // Created inside `outer`: its parent is `outer`.
        let inner = Greenlet::new(|v: u32| v * 3);
        assert_eq!(inner.parent().unwrap(), Greenlet::current());
        let r = inner.switch(7);
        l.borrow_mut().push(format!("child returned {r}"));
        r + 1
    });
    assert_eq!(outer.parent().unwrap(), Greenlet::root());
    assert_eq!(outer.switch(0), 22);
    assert_eq!(*log.borrow(), ["child returned 21"]);
}

#[test]
fn set_parent_rejects_cycles() {
    let a = Greenlet::new(|v: ()| v);
    let b = Greenlet::new(|v: ()| v);
    b.set_parent(&a).unwrap();
    assert!(matches!(
        a.set_parent(&b),
        Err(bingfa_green::Error::ParentCycle)
    ));
    assert!(matches!(
        a.set_parent(&a),
        Err(bingfa_green::Error::ParentCycle)
    ));
    assert_eq!(b.parent().unwrap(), a);
}

#[test]
fn kill_runs_destructors_of_a_suspended_greenlet() {
    struct Flag(Rc<RefCell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            *self.0.borrow_mut() = true;
        }
    }
    let dropped = Rc::new(RefCell::new(false));
    let d = dropped.clone();
    let g = Greenlet::new(move |()| {
        let _f = Flag(d);
        Greenlet::<()>::root().switch(());
        unreachable!("killed while suspended");
    });
    g.switch(());
    assert!(!*dropped.borrow());
    g.kill();
    assert!(g.is_dead());
    assert!(*dropped.borrow());
    // A greenlet killed before it started never runs.
    let ran = Rc::new(RefCell::new(false));
    let r = ran.clone();
    let h = Greenlet::new(move |()| *r.borrow_mut() = true);
    h.kill();
    assert!(h.is_dead());
    assert_eq!(h.switch(()), ());
    assert!(!*ran.borrow());
}

#[test]
fn a_panic_in_a_greenlet_reaches_the_root_and_kills_it() {
    let g = Greenlet::new(|()| panic!("boom in greenlet"));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.switch(()))).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"boom in greenlet"));
    assert!(g.is_dead());
}

mod throw {
    use std::cell::{Cell, RefCell};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::rc::Rc;

    use bingfa_green::Greenlet;

    #[derive(Debug, PartialEq)]
    struct Boom(u32);

    struct SetOnDrop(Rc<Cell<bool>>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }

    #[test]
    fn uncaught_it_unwinds_the_target_and_comes_out_of_the_roots_switch() {
        let dropped = Rc::new(Cell::new(false));
        let d = dropped.clone();
        let after = Rc::new(Cell::new(false));
        let a = after.clone();
        let g = Greenlet::new(move |v: u32| {
            let _guard = SetOnDrop(d);
            let v = Greenlet::root().switch(v + 1);
            a.set(true);
            v
        });
        assert_eq!(g.switch(1), 2);
        let err = catch_unwind(AssertUnwindSafe(|| g.throw(Boom(7)))).unwrap_err();
        assert_eq!(*err.downcast::<Boom>().unwrap(), Boom(7));
        assert!(dropped.get(), "the target's destructors ran");
        assert!(!after.get(), "the target did not go on past its switch");
        assert!(g.is_dead());
    }

    #[test]
    fn a_greenlet_not_started_never_runs() {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let g = Greenlet::new(move |v: u32| {
            r.set(true);
            v
        });
        let err = catch_unwind(AssertUnwindSafe(|| g.throw(Boom(1)))).unwrap_err();
        assert!(err.is::<Boom>());
        assert!(!ran.get());
        assert!(g.is_dead());
    }

    #[test]
    fn into_a_dead_greenlet_it_goes_to_the_parent() {
        let g = Greenlet::new(|v: u32| v * 2);
        assert_eq!(g.switch(4), 8);
        assert!(g.is_dead());
        // The parent is the root, the caller: it raises right here.
        let err = catch_unwind(AssertUnwindSafe(|| g.throw(Boom(3)))).unwrap_err();
        assert_eq!(*err.downcast::<Boom>().unwrap(), Boom(3));
    }

    #[test]
    fn between_greenlets_caught_and_answered() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let (l, slot): (_, Rc<RefCell<Option<Greenlet<u32>>>>) = (log.clone(), Rc::default());
        let s2 = slot.clone();
        let worker = Greenlet::new(move |first: u32| {
            l.borrow_mut().push(format!("worker got {first}"));
            let r = catch_unwind(AssertUnwindSafe(|| Greenlet::root().switch(0)));
            let code = match r {
                Ok(v) => v,
                Err(p) => p.downcast::<Boom>().unwrap().0,
            };
            l.borrow_mut().push(format!("worker caught {code}"));
            // Answer the thrower.
            let boss = s2.borrow().clone().unwrap();
            boss.switch(code * 10)
        });
        let w = worker.clone();
        let l = log.clone();
        let boss = Greenlet::new(move |_: u32| {
            let answer = w.throw(Boom(5));
            l.borrow_mut().push(format!("boss got {answer}"));
            answer + 1
        });
        *slot.borrow_mut() = Some(boss.clone());
        assert_eq!(worker.switch(1), 0);
        // boss throws into worker, worker answers boss, boss returns to
        // its parent, the root.
        assert_eq!(boss.switch(0), 51);
        assert_eq!(
            *log.borrow(),
            ["worker got 1", "worker caught 5", "boss got 50"]
        );
        assert!(!worker.is_dead());
        worker.kill();
        slot.borrow_mut().take();
    }

    #[test]
    fn into_the_running_greenlet_it_raises_at_once() {
        let g = Greenlet::new(|_: u32| {
            let me = Greenlet::<u32>::current();
            let r = catch_unwind(AssertUnwindSafe(|| me.throw(Boom(9))));
            r.unwrap_err().downcast::<Boom>().unwrap().0
        });
        assert_eq!(g.switch(0), 9);
    }
}

/// Regression: a panic leaving a greenlet went to the root, past its
/// parent, which stayed suspended forever. It goes to the parent, whose
/// pending `switch` raises it (greenlet: the exception propagates to the
/// parent).
#[test]
fn a_panic_goes_to_the_parent_not_the_root() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let log: Log = Rc::default();
    let l = log.clone();
    let parent = Greenlet::new(move |_: u32| {
        let child = Greenlet::new(|_: u32| -> u32 { std::panic::panic_any(41u32) });
        let r = catch_unwind(AssertUnwindSafe(|| child.switch(0)));
        let caught = *r.unwrap_err().downcast::<u32>().unwrap();
        l.borrow_mut().push(format!("parent caught {caught}"));
        assert!(child.is_dead());
        caught + 1
    });
    assert_eq!(parent.switch(0), 42, "the parent went on and returned");
    assert_eq!(*log.borrow(), ["parent caught 41"]);
    assert!(parent.is_dead());
}

/// Regression: `throw` into a greenlet that does not catch it: the error
/// goes to its parent (here a greenlet), not to the root.
#[test]
fn an_uncaught_throw_goes_to_the_parent() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let slot: Rc<RefCell<Option<Greenlet<u32>>>> = Rc::default();
    let s2 = slot.clone();
    let parent = Greenlet::new(move |_: u32| {
        // The child hands control straight to the root.
        let child = Greenlet::new(|v: u32| Greenlet::<u32>::root().switch(v));
        *s2.borrow_mut() = Some(child.clone());
        // Pending here while the root throws into the child.
        let r = catch_unwind(AssertUnwindSafe(|| child.switch(5)));
        assert!(child.is_dead());
        *r.unwrap_err().downcast::<u32>().unwrap() + 100
    });
    assert_eq!(parent.switch(0), 5, "the child switched to the root");
    let child = slot.borrow_mut().take().unwrap();
    // The child does not catch it: its parent does, and returns to the
    // root, whose `throw` call gets that value.
    assert_eq!(child.throw(7u32), 107);
    assert!(parent.is_dead());
}

/// Regression: while a killed greenlet unwound, `Greenlet::current()`
/// reported the root. It reports the greenlet itself, and the killer is
/// its parent meanwhile (greenlet's test_parent_restored_on_kill); the
/// parent is restored afterwards.
#[test]
fn current_during_a_kill_is_the_dying_greenlet() {
    struct Probe(Rc<RefCell<Vec<String>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            let me = Greenlet::<()>::current();
            let parent = me.parent().map(|p| p.name().to_owned());
            self.0
                .borrow_mut()
                .push(format!("{} (parent {parent:?})", me.name()));
        }
    }
    let log: Log = Rc::default();
    let l = log.clone();
    let hub = Greenlet::try_with_stack_size("hub", 64 * 1024, |()| ()).unwrap();
    let g = Greenlet::try_with_stack_size("worker", 64 * 1024, move |()| {
        let _p = Probe(l);
        Greenlet::<()>::root().switch(());
    })
    .unwrap();
    g.set_parent(&hub).unwrap();
    g.switch(());
    g.kill();
    assert!(g.is_dead());
    assert_eq!(*log.borrow(), ["worker (parent Some(\"root\"))"]);
    assert_eq!(g.parent().unwrap(), hub, "the parent is restored");

    // Killed from inside another greenlet: that one is the parent meanwhile.
    let log: Log = Rc::default();
    let l = log.clone();
    let victim = Greenlet::try_with_stack_size("victim", 64 * 1024, move |()| {
        let _p = Probe(l);
        Greenlet::<()>::root().switch(());
    })
    .unwrap();
    victim.switch(());
    let v = victim.clone();
    let killer = Greenlet::try_with_stack_size("killer", 64 * 1024, move |()| {
        v.kill();
        assert!(v.is_dead());
    })
    .unwrap();
    killer.switch(());
    assert!(killer.is_dead());
    assert_eq!(*log.borrow(), ["victim (parent Some(\"killer\"))"]);
}

/// Regression: dropping the last handle of a suspended greenlet leaked it:
/// its destructors never ran and its stack was never freed (it held a
/// handle to itself on its own stack while suspended). Now, as greenlet
/// does when one is collected, `GreenletExit` is raised in it, on the
/// thread that drops the handle, and it unwinds as the current greenlet.
#[test]
fn dropping_the_last_handle_of_a_suspended_greenlet_unwinds_it() {
    use bingfa_green::GreenletExit;
    struct Probe(Rc<RefCell<Vec<String>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            let me = Greenlet::<u32>::current();
            self.0
                .borrow_mut()
                .push(format!("unwound as {}", me.name()));
        }
    }
    let log: Log = Rc::default();
    let l = log.clone();
    // A stack size no other test on this thread uses: the stack goes back
    // to this thread's pool, and the next greenlet of that size gets it.
    const SIZE: usize = 88 * 1024;
    let addr = Rc::new(RefCell::new(Vec::new()));
    let a = addr.clone();
    let g = Greenlet::try_with_stack_size("doomed", SIZE, move |v: u32| {
        let _p = Probe(l.clone());
        let local = 0u8;
        a.borrow_mut().push(&local as *const u8 as usize);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Greenlet::<u32>::root().switch(v + 1)
        }));
        let exit = r.as_ref().err().is_some_and(|p| p.is::<GreenletExit>());
        l.borrow_mut().push(format!("caught GreenletExit: {exit}"));
        7
    })
    .unwrap();
    assert_eq!(g.switch(1), 2);
    drop(g);
    assert_eq!(
        *log.borrow(),
        ["caught GreenletExit: true", "unwound as doomed"]
    );
    let a = addr.clone();
    let next = Greenlet::try_with_stack_size("next", SIZE, move |()| {
        let local = 0u8;
        a.borrow_mut().push(&local as *const u8 as usize);
    })
    .unwrap();
    next.switch(());
    let addr = addr.borrow();
    assert!(
        addr[0].abs_diff(addr[1]) < SIZE,
        "its stack went back to the pool and was reused: {addr:x?}"
    );

    // A greenlet that was never started is simply dropped.
    let ran = Rc::new(RefCell::new(false));
    let r = ran.clone();
    drop(Greenlet::new(move |()| *r.borrow_mut() = true));
    assert!(!*ran.borrow());
}

/// Dropping the last handle from inside another greenlet of the family:
/// the dying one's end comes back to the dropper, which goes on.
#[test]
fn dropping_a_greenlet_from_inside_another_one() {
    let log: Log = Rc::default();
    let l = log.clone();
    let outer = Greenlet::new(move |()| {
        let l2 = l.clone();
        let inner = Greenlet::new(move |()| {
            struct Bye(Log);
            impl Drop for Bye {
                fn drop(&mut self) {
                    self.0.borrow_mut().push("inner unwound".into());
                }
            }
            let _b = Bye(l2);
            // Not `Greenlet::current().parent().unwrap().switch(())`: that
            // temporary handle to itself would live through the switch.
            let parent = Greenlet::<()>::current().parent().unwrap();
            parent.switch(());
        });
        inner.switch(());
        drop(inner);
        l.borrow_mut().push("outer goes on".into());
    });
    outer.switch(());
    assert!(outer.is_dead());
    assert_eq!(*log.borrow(), ["inner unwound", "outer goes on"]);
}
