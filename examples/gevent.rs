//! # Lesson 22: gevent: green threads that switch on IO
//!
//! `cargo xtask demo gevent [--quick] [--trace FILE]`
//!
//! The course's Python (seeds 000, 002, 003, 004):
//!
//! ```python
//! from gevent import monkey; monkey.patch_all()
//! from gevent import spawn, joinall
//! import time
//! def func1():
//!     print('1')
//!     time.sleep(1)
//! def func2():
//!     print('2')
//!     time.sleep(3)
//! def func3():
//!     print('3')
//!     time.sleep(5)
//! start = time.time()
//! s1 = spawn(func1); s2 = spawn(func2); s3 = spawn(func3)
//! s1.join(); s2.join(); s3.join()      # or joinall([s1, s2, s3])
//! end = time.time()
//! print(end - start)                   # about 5, not 1 + 3 + 5 = 9
//!
//! g1 = gevent.spawn(func, 1, 2, 3, x=4, y=5)
//! g1.join()
//! g1.value     # func's return value
//! ```
//!
//! gevent runs green threads on one OS thread and switches whenever one
//! would block on IO (a sleep, a socket): the three sleeps overlap, and the
//! whole takes as long as the longest. `monkey.patch_all()` makes
//! `time.sleep` green; in Rust, call the green `sleep` (or use
//! `bingfa::green::net` sockets). A blocking call that is not green, like
//! `std::thread::sleep`, blocks the whole hub: the demo shows that too.

mod common;

use std::time::{Duration, Instant};

use bingfa::green::{self, joinall, spawn, Builder};
use bingfa::trace::{record_in, EventKind};
use common::Demo;

const PYTHON: &str = r#"
from gevent import monkey; monkey.patch_all()
def func1(): print('1'); time.sleep(1)
def func2(): print('2'); time.sleep(3)
def func3(): print('3'); time.sleep(5)
s1 = spawn(func1); s2 = spawn(func2); s3 = spawn(func3)
joinall([s1, s2, s3])
print(end - start)        # about 5 s, not 9
"#;

/// Runs func1..func3 as green threads, sleeping `unit` x 1, 3, 5, with the
/// green sleep (`green = true`) or with the blocking `std::thread::sleep`.
/// Returns the wall time and the three return values.
fn three_sleeps(unit: Duration, green_sleep: bool, label: &'static str) -> (Duration, Vec<u32>) {
    green::run(move || {
        let start = Instant::now();
        let handles: Vec<_> = [1u32, 3, 5]
            .into_iter()
            .map(|n| {
                Builder::new()
                    .name(format!("{label} func{}", n / 2 + 1))
                    .spawn(move || {
                        let lane = green::current_name().unwrap_or_default();
                        println!("    {lane}: prints {} and sleeps {:?}", n / 2 + 1, unit * n);
                        record_in(&lane, EventKind::Begin, "sleep");
                        if green_sleep {
                            green::sleep(unit * n); // switches to the others
                        } else {
                            std::thread::sleep(unit * n); // blocks the whole hub
                        }
                        record_in(&lane, EventKind::End, "sleep");
                        n
                    })
                    .expect("spawn a green thread")
            })
            .collect();
        joinall(&handles);
        let values = handles
            .iter()
            .map(|h| h.value().expect("finished"))
            .collect();
        (start.elapsed(), values)
    })
    .expect("the hub ran")
}

fn main() {
    let mut demo = Demo::from_args(
        "gevent",
        "Three green threads sleep 1, 3 and 5 units: with green sleeps it takes 5, with a\n\
         blocking sleep 9. Also spawn/join/value and the course's eat/play order.",
    );
    demo.intro("Lesson 22: gevent: green threads that switch on IO", PYTHON);
    let unit = demo.pause(Duration::from_secs(1));

    demo.section("1. spawn, join, value; who runs when (the course's eat and play)");
    // Each line carries the name of the OS thread that printed it, as the
    // course's `threading.current_thread().name` does.
    let os_thread = || std::thread::current().name().unwrap_or("?").to_string();
    let (order, value, names) = green::run(move || {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let (l1, l2) = (log.clone(), log.clone());
        let g1 = spawn(move || {
            l1.borrow_mut().push((os_thread(), "egon eat 1"));
            green::sleep(unit * 2); // gevent.sleep(2)
            l1.borrow_mut().push((os_thread(), "egon eat 2"));
            "eat's return value"
        });
        let g2 = spawn(move || {
            l2.borrow_mut().push((os_thread(), "egon play 1"));
            green::sleep(unit); // gevent.sleep(1)
            l2.borrow_mut().push((os_thread(), "egon play 2"));
        });
        joinall([&g1]);
        g2.join().expect("play finished");
        let value = g1.value();
        let log = log.borrow().clone();
        let order: Vec<&str> = log.iter().map(|l| l.1).collect();
        let mut names: Vec<String> = log.iter().map(|l| l.0.clone()).collect();
        for (name, line) in &log {
            println!("  {name} {line}");
        }
        names.dedup();
        (order, value, names)
    })
    .expect("the hub ran");
    match &value {
        Some(v) => println!("  g1.value = {v:?}"),
        None => println!("  g1.value = None"),
    }
    println!(
        "  {} OS thread(s) ran both green threads: {} (Python prints MainThread there)",
        names.len(),
        names.join(", ")
    );

    demo.section("1b. The same without join: the main program ends first");
    let printed = green::run(move || {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::<&str>::new()));
        let (l1, l2) = (log.clone(), log.clone());
        spawn(move || l1.borrow_mut().push("egon eat 1"));
        spawn(move || l2.borrow_mut().push("egon play 1"));
        // No join: main returns at once, the green threads never got a turn.
        log
    })
    .expect("the hub ran");
    let printed = printed.borrow().len();
    println!(
        "  g1 = spawn(eat); g2 = spawn(play); and no join: {printed} line(s) printed. Nothing\n  \
         waits, so nothing switches to them: they are killed unstarted when main ends."
    );

    demo.section("2. Three sleeps, with the green sleep (monkey-patched time.sleep)");
    demo.record();
    let (green_took, values) = three_sleeps(unit, true, "green");
    println!("  joinall took {green_took:.2?}; values {values:?}");

    demo.section("3. The same with a blocking sleep (no monkey patch)");
    let (blocking_took, _) = three_sleeps(unit, false, "blocking");
    println!("  joinall took {blocking_took:.2?}");
    demo.show("three sleeps, green then blocking");
    let (gu, bu) = (
        green_took.as_secs_f64() / unit.as_secs_f64(),
        blocking_took.as_secs_f64() / unit.as_secs_f64(),
    );
    demo.say(&format!(
        "With green sleeps the three bars overlap: {green_took:.1?} = {gu:.1} units of {unit:?}, the\n\
         longest sleep (5). With std::thread::sleep each green thread blocked the hub's only OS\n\
         thread, so the bars run one after the other: {blocking_took:.1?} = {bu:.1} units, the sum\n\
         1 + 3 + 5 = 9."
    ));

    demo.section("What to remember");
    demo.say(
        "A hub runs many green threads on one OS thread and switches when one waits (green\n\
         sleep, green sockets, green locks and queues). The waits overlap; CPU work does not.\n\
         Anything that blocks the OS thread (std::thread::sleep, blocking IO) stops every\n\
         green thread of the hub: use the green versions or bingfa::green::block_in_thread.",
    );
    println!(
        "\nResult: green {gu:.1} units, blocking {bu:.1} units; without join {printed} lines; eat/play order {}.",
        order.join(" | ")
    );
    demo.finish();
    let green_units = green_took.as_secs_f64() / unit.as_secs_f64();
    let blocking_units = blocking_took.as_secs_f64() / unit.as_secs_f64();
    if !(5.0..8.0).contains(&green_units)
        || blocking_units < 9.0
        || order != ["egon eat 1", "egon play 1", "egon play 2", "egon eat 2"]
        || printed != 0
    {
        std::process::exit(1);
    }
}
