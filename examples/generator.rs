//! # Lesson 20: coroutines with `yield`: switching costs time on CPU work
//!
//! `cargo xtask demo generator [--quick] [--trace FILE]`
//!
//! The course's Python (seed 004):
//!
//! ```python
//! # serial
//! def func1():
//!     for i in range(10000000): pass
//! def func2():
//!     for i in range(10000000): pass
//! start = time.time(); func1(); func2(); stop = time.time()
//! print("串行用时：%s" % (stop - start))        # 0.45 s
//!
//! # "concurrent" through yield
//! def func1():
//!     while True:
//!         yield None
//! def func2():
//!     g = func1()
//!     for i in range(10000000):
//!         pass
//!         next(g)
//! start = time.time(); func2(); stop = time.time()
//! print("yield并发用时：%s" % (stop - start))  # 1.41 s
//!
//! # IO-bound work cannot overlap through yield
//! def func1():
//!     while True:
//!         print('func1')
//!         yield
//! def func2():
//!     g = func1()
//!     for i in range(10000000):
//!         i + 1
//!         next(g)
//!         time.sleep(3)
//!         print('func2')
//! ```
//!
//! Concurrency = switching + saving state, and `yield` does both. But on
//! CPU-bound work switching only adds time; and `yield` cannot switch while
//! one side waits for IO (the sleep blocks both). For IO, switch *on IO*:
//! that is gevent (lesson 22).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bingfa::green::{Generator, GeneratorState};
use bingfa::trace::{record_in, EventKind};
use common::Demo;

const PYTHON: &str = r#"
# 1. serial: two loops of 10 million, one after the other
def func1():
    for i in range(10000000): pass
def func2():
    for i in range(10000000): pass
func1(); func2()                    # 串行用时 0.454 s in the course

# 2. the same work through yield: func2 switches into func1 at every step
def func1():
    while True:
        yield None
def func2():
    g = func1()
    for i in range(10000000):
        pass
        next(g)
func2()                             # yield并发用时 1.409 s in the course
"#;

fn spin(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        acc = black_box(acc.wrapping_add(i));
    }
    acc
}

fn main() {
    let mut demo = Demo::from_args(
        "generator",
        "Times two CPU loops run one after the other, then interleaved through a generator's\n\
         yield at every step; then shows that yield cannot overlap a blocking sleep.",
    );
    demo.intro(
        "Lesson 20: coroutines with yield: switching costs time on CPU work",
        PYTHON,
    );
    let n: u64 = demo.pick(10_000_000, 1_000_000);

    demo.section("1. Serial: func1(), then func2()");
    let t = Instant::now();
    black_box(spin(n));
    black_box(spin(n));
    let serial = t.elapsed();
    println!("  2 x {n} steps, one after the other: {serial:.1?}   (串行用时)");

    demo.section("2. Through yield: func2 switches into func1 at every step");
    let mut g: Generator<u64> = Generator::new(|co| {
        let mut i = 0u64;
        loop {
            i = black_box(i.wrapping_add(1));
            co.yield_(i); // yield None
        }
    });
    let t = Instant::now();
    let mut acc = 0u64;
    for i in 0..n {
        acc = black_box(acc.wrapping_add(i));
        if let GeneratorState::Yielded(v) = g.resume() {
            acc = acc.wrapping_add(v); // next(g)
        }
    }
    black_box(acc);
    let switched = t.elapsed();
    let per_switch = switched.saturating_sub(serial) / (2 * n as u32).max(1);
    println!(
        "  {n} steps, each with a switch into func1 and back: {switched:.1?}   (yield并发用时)"
    );
    println!(
        "  {:.2}x the serial time; about {per_switch:?} per switch (save registers, change stack, come back)",
        switched.as_secs_f64() / serial.as_secs_f64()
    );

    demo.section("3. IO: yield cannot overlap a blocking call");
    let nap = demo.pause(Duration::from_millis(300));
    let rounds = 3;
    demo.record();
    let mut g: Generator<()> = Generator::new(|co| loop {
        record_in("func1", EventKind::Mark, "func1");
        println!("    func1");
        co.yield_(());
    });
    let t = Instant::now();
    for _ in 0..rounds {
        g.resume(); // next(g)
        record_in("func2", EventKind::Begin, "time.sleep");
        std::thread::sleep(nap);
        record_in("func2", EventKind::End, "time.sleep");
        println!("    func2 (after a {nap:?} sleep)");
    }
    let io = t.elapsed();
    demo.show("func1 and func2 through yield, with sleeps");
    demo.say(&format!(
        "{rounds} rounds took {io:.1?}: each sleep blocked the whole thread, func1 included.\n\
         A generator switches only where the code says yield, not when IO would block."
    ));

    demo.section("What to remember");
    demo.say(
        "Switching + saving state makes things look concurrent, but on CPU-bound work it only\n\
         adds the cost of the switches (Rust's switch is a few nanoseconds, Python's next()\n\
         much more, so the course saw 3x). Coroutines pay off for IO: switch while one task\n\
         waits, which is what the gevent lesson does.",
    );
    println!(
        "\nResult: serial {serial:.1?}, through yield {switched:.1?} (yield slower = {}); IO rounds {io:.1?}.",
        switched > serial
    );
    demo.finish();
    if io < nap * rounds {
        std::process::exit(1);
    }
}
