//! # Lesson 11: producers and consumers around a queue
//!
//! `cargo xtask demo producer-consumer [--mode thread|process|both] [--quick] [--trace FILE]`
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
//! The demo runs it twice: with processes and `bingfa::process::Queue` (in
//! shared memory), as the course does, and with threads and
//! `bingfa::queue::Queue`. The course's consumers are daemons that die with
//! the main process, whatever is still in the queue; the clean way, shown
//! here, is to `close()` the queue once the producers are done: consumers
//! drain what is left, then `get` fails and they end. Nothing is lost, and
//! the demo checks it: every item made is eaten once.

mod common;

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use bingfa::process::Process;
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

/// Made, eaten, distinct eaten.
type Tally = (usize, usize, usize);

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "producer-consumer",
        "Two producers, two consumers, one queue; clean shutdown with close(), no item lost.\n\
         \x20 --mode thread|process|both   (default both)",
    );
    let mode = match demo.rest.as_slice() {
        [] => "both".to_string(),
        [flag, m] if flag == "--mode" && ["thread", "process", "both"].contains(&m.as_str()) => {
            m.clone()
        }
        other => common::fail(
            "producer-consumer",
            &format!("unknown arguments {other:?}; use --mode thread|process|both"),
        ),
    };
    demo.intro("Lesson 11: producers and consumers around a queue", PYTHON);
    let nap = demo.pause(Duration::from_millis(100));
    let mut results = Vec::new();
    if mode != "thread" {
        demo.section("1. With processes and a queue in shared memory (the course's way)");
        results.push(("processes", with_processes(&mut demo, nap)));
    }
    if mode != "process" {
        demo.section("2. With threads and bingfa::queue::Queue");
        results.push(("threads", with_threads(&mut demo, nap)));
    }
    let mut daemons = None;
    if mode != "thread" {
        demo.section("3. The course's shutdown: daemon consumers die with main");
        daemons = Some(with_daemons(&mut demo, nap));
    }
    demo.section("What to remember");
    demo.say(
        "The queue decouples who makes from who uses: producers put, consumers get, and the\n\
         bounded queue makes fast producers wait. Shut down by closing the queue (or by\n\
         sending one sentinel per consumer, as the course's `if not data: break`), not by\n\
         killing daemon consumers: a daemon killed at exit loses what it had not eaten.",
    );
    let mut ok = true;
    for (how, (made, eaten, distinct)) in &results {
        println!(
            "\nResult ({how}): made {made}, eaten {eaten}, lost {}, eaten twice {}.",
            made - distinct,
            eaten - distinct
        );
        ok &= eaten == made && distinct == made;
    }
    if let Some((made, eaten)) = daemons {
        println!(
            "Result (daemon consumers, no close): made {made}, eaten {eaten}, lost {}.",
            made - eaten
        );
    }
    demo.finish();
    if !ok {
        std::process::exit(1);
    }
}

/// The course's program with processes: producers and daemon consumers,
/// a shared-memory queue, and a result queue that brings what each consumer
/// ate back to the parent.
fn with_processes(demo: &mut Demo, nap: Duration) -> Tally {
    let q: bingfa::process::Queue<(String, usize)> =
        bingfa::process::Queue::new(4).expect("a queue in shared memory");
    let eaten_q: bingfa::process::Queue<(String, usize)> =
        bingfa::process::Queue::new(64).expect("a queue in shared memory");
    demo.record();
    let producers: Vec<_> = [("neo", "煎饼"), ("wick", "肉包")]
        .into_iter()
        .map(|(name, food)| {
            let q = q.clone();
            let p = Process::builder()
                .name(name)
                .fork(move || {
                    bingfa::trace::name_process(&format!("producer {name}"));
                    for i in 0..ITEMS {
                        println!(
                            "  {name} (pid {}) makes ({food}, {i})   (用户{name} 开始制作)",
                            std::process::id()
                        );
                        // A put waits while the queue is full.
                        record(EventKind::Begin, "put");
                        q.put((food.to_string(), i))
                            .expect("the queue is open while producing");
                        record(EventKind::End, "put");
                        thread::sleep(nap);
                    }
                })
                .expect("fork a producer");
            (name, p)
        })
        .collect();
    let consumers: Vec<_> = ["cwz", "woods"]
        .into_iter()
        .map(|name| {
            let (q, eaten_q) = (q.clone(), eaten_q.clone());
            let p = Process::builder()
                .name(name)
                .daemon(true) // as the course: c1.daemon = True
                .fork(move || {
                    bingfa::trace::name_process(&format!("consumer {name} (daemon)"));
                    // get() fails once the queue is closed and drained.
                    record(EventKind::Blocked, "an item");
                    while let Ok(item) = q.get() {
                        record(EventKind::Unblocked, "an item");
                        println!(
                            "      {name} (pid {}) eats {item:?}   (用户{name} 开始吃)",
                            std::process::id()
                        );
                        record(EventKind::Begin, "eat");
                        thread::sleep(nap / 4);
                        record(EventKind::End, "eat");
                        eaten_q.put(item).expect("room for the tally");
                        record(EventKind::Blocked, "an item");
                    }
                    record(EventKind::Unblocked, "an item");
                })
                .expect("fork a consumer");
            (name, p)
        })
        .collect();
    for (_, p) in &producers {
        p.join().expect("join a producer");
    }
    println!("\n  producers done: main closes the queue (Python 3.13: q.shutdown())");
    q.close();
    let mut eaten = Vec::new();
    for (name, p) in &consumers {
        let status = p.join().expect("join a consumer");
        assert!(status.success(), "consumer {name} failed: {status:?}");
    }
    while let Ok(item) = eaten_q.try_get() {
        eaten.push(item);
    }
    demo.show("producer and consumer processes");
    demo.say(
        "Each process recorded its own lanes. A producer's put (p) is long only if it had to\n\
         wait for room in the full queue; a consumer waits (shaded) while the queue is empty,\n\
         and the e bars are it eating.",
    );
    tally(demo, eaten)
}

/// The course's own shutdown: consumers are daemons, the main program joins
/// the producers and ends, and its daemon consumers die with it, with
/// whatever was still in the queue. A middle process plays the course's
/// main program, so that this demo can count what was lost.
fn with_daemons(demo: &mut Demo, nap: Duration) -> (usize, usize) {
    demo.say(&format!(
        "The course ends differently: main joins the producers and ends; the consumers are\n\
         daemons, so they die with it. Here a process the demo forks plays main, the\n\
         consumers eat slowly ({:?} an item), and the demo counts what was eaten.\n",
        nap * 3
    ));
    let eaten_q: bingfa::process::Queue<(String, usize)> =
        bingfa::process::Queue::new(64).expect("a queue in shared memory");
    let tally_q = eaten_q.clone();
    let main = Process::builder()
        .name("main")
        .fork(move || {
            let q: bingfa::process::Queue<(String, usize)> =
                bingfa::process::Queue::new(4).expect("a queue in shared memory");
            let producers: Vec<_> = [("neo", "煎饼"), ("wick", "肉包")]
                .into_iter()
                .map(|(name, food)| {
                    let q = q.clone();
                    Process::builder()
                        .name(name)
                        .fork(move || {
                            for i in 0..ITEMS {
                                q.put((food.to_string(), i)).expect("open");
                                thread::sleep(nap);
                            }
                        })
                        .expect("fork a producer")
                })
                .collect();
            let _consumers: Vec<_> = ["cwz", "woods"]
                .into_iter()
                .map(|name| {
                    let (q, eaten_q) = (q.clone(), tally_q.clone());
                    Process::builder()
                        .name(name)
                        .daemon(true)
                        .fork(move || {
                            while let Ok(item) = q.get() {
                                thread::sleep(nap * 3); // eating
                                eaten_q.put(item).expect("room for the tally");
                            }
                        })
                        .expect("fork a consumer")
                })
                .collect();
            for p in producers {
                p.join().expect("join a producer");
            }
            // The end of the course's main: no close, no sentinel; the
            // daemon consumers are killed as this process exits.
        })
        .expect("fork main");
    main.join().expect("join main");
    // Give a consumer killed in the middle of its tally put no chance to
    // be counted late: the daemons are gone once main is.
    thread::sleep(nap);
    let mut eaten = 0;
    while eaten_q.try_get().is_ok() {
        eaten += 1;
    }
    let made = 2 * ITEMS;
    println!(
        "  made {made}, eaten {eaten}: {} item(s) lost with the daemon consumers",
        made - eaten
    );
    (made, eaten)
}

fn tally<T: Ord>(demo: &Demo, eaten: Vec<T>) -> Tally {
    let distinct: BTreeSet<_> = eaten.iter().collect();
    demo.say(&format!(
        "{} items eaten, {} distinct, of {} made.",
        eaten.len(),
        distinct.len(),
        2 * ITEMS
    ));
    (2 * ITEMS, eaten.len(), distinct.len())
}

/// The same with threads and bingfa::queue::Queue.
fn with_threads(demo: &mut Demo, nap: Duration) -> Tally {
    demo.say(&format!(
        "Producers make {ITEMS} items each, napping {nap:?} between items; the queue holds at\n\
         most 4, so a producer would wait if the consumers fell behind. (The course's prints\n\
         are left out here: the timeline shows every item.)\n"
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
                        record(EventKind::Begin, "put");
                        q.put((food, i)).expect("the queue is open while producing");
                        record(EventKind::End, "put");
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
                    record(EventKind::Blocked, "an item");
                    // get() fails once the queue is closed and drained.
                    while let Ok(item) = q.get() {
                        record(EventKind::Unblocked, "an item");
                        record(EventKind::Begin, "eat");
                        thread::sleep(nap / 4);
                        record(EventKind::End, "eat");
                        eaten.push(item);
                        record(EventKind::Blocked, "an item");
                    }
                    record(EventKind::Unblocked, "an item");
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
    demo.show("producer and consumer threads");
    demo.say(&format!(
        "cwz ate {}, woods ate {}.",
        per_consumer[0], per_consumer[1]
    ));
    tally(demo, eaten)
}
