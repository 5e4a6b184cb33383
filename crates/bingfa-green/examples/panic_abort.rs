//! What the calls that unwind a green thread do under each panic strategy.
//!
//! Kills, `Timeout`s and dropping a suspended greenlet or generator unwind
//! a stack. Built with `panic = "abort"`, an unwind aborts the process, so
//! there those calls refuse instead (an error, or a panic whose message
//! says why), and what cannot refuse (a drop) leaks the stack without
//! running its destructors. This program checks both behaviours:
//!
//! ```text
//! cargo run -p bingfa-green --example panic_abort
//! RUSTFLAGS="-C panic=abort" cargo run -p bingfa-green --example panic_abort \
//!     --target-dir target/panic-abort
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bingfa_green::{
    run, sleep, spawn, with_timeout, yield_now, Error, Generator, Greenlet, Timeout,
};

/// Counts its drops.
struct Dropped(Rc<Cell<u32>>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn main() {
    let abort = cfg!(panic = "abort");
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    run(move || {
        // A Timeout.
        let r = with_timeout(Duration::from_millis(10), || {
            sleep(Duration::from_secs(3600))
        });
        if abort {
            assert!(matches!(r, Err(Error::NeedsUnwind("Timeout"))), "{r:?}");
            assert!(matches!(
                Timeout::new(Duration::from_millis(1)).start(),
                Err(Error::NeedsUnwind(_))
            ));
        } else {
            assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
        }

        // A green thread killed before it started never runs: no unwind.
        let h = spawn(|| 1);
        h.kill();
        assert!(matches!(h.join(), Err(Error::Killed)));

        // A started one.
        let d2 = d.clone();
        let h = spawn(move || {
            let _d = Dropped(d2);
            sleep(Duration::from_millis(200));
            "finished"
        });
        yield_now();
        let r = h.try_kill();
        if abort {
            assert!(matches!(r, Err(Error::NeedsUnwind(_))), "{r:?}");
            assert!(!h.is_dead(), "left running");
            assert_eq!(h.join().unwrap(), "finished");
        } else {
            r.unwrap();
            assert!(matches!(h.join(), Err(Error::Killed)));
        }
        assert_eq!(
            d.get(),
            1,
            "its destructor ran, at its end or in the unwind"
        );

        // One still running when main returns: unwound, or left and leaked.
        let d2 = d.clone();
        spawn(move || {
            let _d = Dropped(d2);
            sleep(Duration::from_secs(3600));
        });
        yield_now();
    })
    .unwrap();
    assert_eq!(drops.get(), if abort { 1 } else { 2 });

    // A greenlet and a generator dropped while suspended.
    let d = drops.clone();
    let g = Greenlet::new(move |()| {
        let _d = Dropped(d);
        let root = Greenlet::<()>::root();
        root.switch(());
    });
    g.switch(());
    drop(g);
    let d = drops.clone();
    let mut gen: Generator<u32> = Generator::new(move |co| {
        let _d = Dropped(d);
        co.yield_(1);
    });
    assert_eq!(gen.next(), Some(1));
    drop(gen);
    assert_eq!(drops.get(), if abort { 1 } else { 4 });

    println!(
        "panic_abort: every check passed with panic = \"{}\"",
        if abort { "abort" } else { "unwind" }
    );
}
