//! # Lesson 11: producers and consumers around a queue
//!
//! `cargo xtask demo producer-consumer [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003), with processes:
//!
//! ```python
//! from multiprocessing import Process, Queue
//! import time
//! def producer(name, food, q):
//!     for i in range(10):
//!         data = food, i
//!         msg = f'用户{name} 开始制作{data}'
//!         print(msg)
//!         q.put(data)
//!         time.sleep(0.1)
//! def consumer(name, q):
//!     while True:
//!         data = q.get()
//!         if not data:
//!             break
//!         print(f'用户{name} 开始吃{data}')
//! if __name__ == '__main__':
//!     q = Queue()
//!     p1 = Process(target=producer, args=('neo', '煎饼', q))
//!     p2 = Process(target=producer, args=('wick', '肉包', q))
//!     c1 = Process(target=consumer, args=('cwz', q))
//!     c2 = Process(target=consumer, args=('woods', q))
//!     p1.start(); p2.start()
//!     c1.daemon = True; c2.daemon = True
//!     c1.start(); c2.start()
//!     print('主')
//! ```
//!
//! Here with threads and `bingfa::queue::Queue`. The course's consumers are
//! daemons that die with the main process, whatever is still in the queue;
//! the clean way, shown here, is to `close()` the queue once the producers
//! are done: consumers drain what is left, then `get` fails and they end.
//! Nothing is lost, and the demo checks it: every item made is eaten once.

mod common;

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use bingfa::queue::Queue;
use bingfa::trace::{record, EventKind};
use common::Demo;

const PYTHON: &str = r#"
def producer(name, food, q):
    for i in range(10):
        q.put((food, i)); print(f'用户{name} 开始制作{(food, i)}')
        time.sleep(0.1)
def consumer(name, q):
    while True:
        data = q.get()
        if not data: break
        print(f'用户{name} 开始吃{data}')
q = Queue()
producers: neo makes 煎饼 (pancakes), wick makes 肉包 (meat buns)
consumers: cwz and woods, daemon = True
"#;

const ITEMS: usize = 10;

fn main() {
    let mut demo = Demo::from_args(
        "producer-consumer",
        "Two producers, two consumers, one queue; clean shutdown with close(), no item lost.",
    );
    demo.intro("Lesson 11: producers and consumers around a queue", PYTHON);
    let nap = demo.pause(Duration::from_millis(100));
    demo.say(&format!(
        "Producers make {ITEMS} items each, napping {nap:?} between items; the queue holds at\n\
         most 4, so a producer would wait if the consumers fell behind.\n"
    ));

    let q: Queue<(&'static str, usize)> = Queue::new(4);
    demo.record();
    let producers: Vec<_> = [("neo", "煎饼"), ("wick", "肉包")]
        .into_iter()
        .map(|(name, food)| {
            let q = q.clone();
            thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    for i in 0..ITEMS {
                        println!("  {name} makes ({food}, {i})   (用户{name} 开始制作)");
                        record(EventKind::Begin, "make");
                        q.put((food, i)).expect("the queue is open while producing");
                        record(EventKind::End, "make");
                        thread::sleep(nap);
                    }
                })
                .expect("spawn")
        })
        .collect();
    let consumers: Vec<_> = ["cwz", "woods"]
        .into_iter()
        .map(|name| {
            let q = q.clone();
            thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let mut eaten = Vec::new();
                    record(EventKind::Blocked, "queue");
                    // get() fails once the queue is closed and drained.
                    while let Ok(item) = q.get() {
                        record(EventKind::Unblocked, "queue");
                        println!("      {name} eats {item:?}   (用户{name} 开始吃)");
                        record(EventKind::Begin, "eat");
                        thread::sleep(nap / 4);
                        record(EventKind::End, "eat");
                        eaten.push(item);
                        record(EventKind::Blocked, "queue");
                    }
                    record(EventKind::Unblocked, "queue");
                    eaten
                })
                .expect("spawn")
        })
        .collect();
    for p in producers {
        p.join().expect("a producer panicked");
    }
    demo.say("\n  producers done: main closes the queue (Python 3.13: q.shutdown())");
    q.close();
    let mut eaten = Vec::new();
    let mut per_consumer = Vec::new();
    for c in consumers {
        let got = c.join().expect("a consumer panicked");
        per_consumer.push(got.len());
        eaten.extend(got);
    }
    demo.show("two producers, two consumers");

    let distinct: BTreeSet<_> = eaten.iter().collect();
    let made = 2 * ITEMS;
    demo.say(&format!(
        "{} items eaten ({} by cwz, {} by woods), {} distinct, of {made} made.",
        eaten.len(),
        per_consumer[0],
        per_consumer[1],
        distinct.len()
    ));
    demo.section("What to remember");
    demo.say(
        "The queue decouples who makes from who uses: producers put, consumers get, and the\n\
         bounded queue makes fast producers wait. Shut down by closing the queue (or by\n\
         sending one sentinel per consumer, as the course's `if not data: break`), not by\n\
         killing daemon consumers: a daemon killed at exit loses what it had not eaten.",
    );
    println!(
        "\nResult: made {made}, eaten {}, lost {}, eaten twice {}.",
        eaten.len(),
        made - distinct.len(),
        eaten.len() - distinct.len()
    );
    demo.finish();
    if eaten.len() != made || distinct.len() != made {
        std::process::exit(1);
    }
}
