//! # Lesson 17: thread queues, FIFO, LIFO and priority
//!
//! `cargo xtask demo queues [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! import queue
//! q = queue.Queue()
//! q.put(1); q.put(2); q.put(3)
//! print(q.get())          # 1
//! print(q.get())          # 2
//! q = queue.LifoQueue()
//! q.put(1); q.put(2); q.put(3)
//! print(q.get())          # 3
//! q = queue.PriorityQueue()
//! q.put((4, '我')); q.put((2, '你')); q.put((3, 'ta'))
//! print(q.get())          # (2, '你'): the smallest tuple first
//! ```
//!
//! The same puts go into three queues; a producer thread puts, a consumer
//! thread gets, and the order of the gets is the lesson. Then a bounded
//! queue shows `Full` (giving the item back) and `Empty`.

mod common;

use std::thread;
use std::time::Duration;

use bingfa::queue::{LifoQueue, PriorityQueue, Queue, TryGetError, TryPutError};
use bingfa::trace::{record, EventKind};
use common::Demo;

const PYTHON: &str = r#"
q = queue.Queue();         q.put(1); q.put(2); q.put(3); q.get()   # 1, then 2, 3
q = queue.LifoQueue();     q.put(1); q.put(2); q.put(3); q.get()   # 3, then 2, 1
q = queue.PriorityQueue(); q.put((4, '我')); q.put((2, '你')); q.put((3, 'ta'))
q.get()                                                             # (2, '你')
"#;

/// What the three queues have in common, for this demo.
trait DemoQueue<T>: Clone + Send + 'static {
    fn put(&self, item: T);
    fn get(&self) -> T;
}

macro_rules! demo_queue {
    ($q:ident) => {
        impl<T: Send + Ord + 'static> DemoQueue<T> for $q<T> {
            fn put(&self, item: T) {
                $q::put(self, item).expect("queue open");
            }
            fn get(&self) -> T {
                $q::get(self).expect("queue open")
            }
        }
    };
}
demo_queue!(Queue);
demo_queue!(LifoQueue);
demo_queue!(PriorityQueue);

/// A producer thread puts `items`; then a consumer thread gets as many.
/// Returns the order of the gets.
fn put_then_get<T, Q>(name: &str, q: Q, items: Vec<T>, nap: Duration) -> Vec<T>
where
    T: std::fmt::Debug + Send + Ord + 'static,
    Q: DemoQueue<T>,
{
    let n = items.len();
    let producer = {
        let q = q.clone();
        thread::Builder::new()
            .name(format!("{name}-producer"))
            .spawn(move || {
                for item in items {
                    let label = format!("put {item:?}");
                    println!("  producer: {label}");
                    q.put(item);
                    record(EventKind::Mark, &label);
                    thread::sleep(nap);
                }
            })
            .expect("spawn")
    };
    producer.join().expect("producer panicked");
    let consumer = thread::Builder::new()
        .name(format!("{name}-consumer"))
        .spawn(move || {
            (0..n)
                .map(|_| {
                    let item = q.get();
                    let label = format!("got {item:?}");
                    println!("  consumer: {label}");
                    record(EventKind::Mark, &label);
                    thread::sleep(nap);
                    item
                })
                .collect::<Vec<T>>()
        })
        .expect("spawn");
    consumer.join().expect("consumer panicked")
}

fn main() {
    let mut demo = Demo::from_args(
        "queues",
        "The same puts into a Queue (FIFO), a LifoQueue and a PriorityQueue; three orders of gets.",
    );
    demo.intro("Lesson 17: thread queues, FIFO, LIFO and priority", PYTHON);
    let nap = demo.pause(Duration::from_millis(20));
    demo.record();

    demo.section("1. Queue: first in, first out");
    let fifo = put_then_get("fifo", Queue::unbounded(), vec![1, 2, 3], nap);
    demo.section("2. LifoQueue: last in, first out (a stack)");
    let lifo = put_then_get("lifo", LifoQueue::unbounded(), vec![1, 2, 3], nap);
    demo.section("3. PriorityQueue: the smallest first");
    demo.say("Tuples compare field by field, like Python's: (2, '你') < (3, 'ta') < (4, '我').\n");
    let prio = put_then_get(
        "priority",
        PriorityQueue::unbounded(),
        vec![(4, "我"), (2, "你"), (3, "ta")],
        nap,
    );
    demo.show("three queues, the same puts");

    demo.section("4. Full and Empty: put_nowait and get_nowait");
    let q = Queue::new(2);
    q.put("a").expect("open");
    q.put("b").expect("open");
    print!(
        "  Queue::new(2) holds 2 items; is_full() = {}; ",
        q.is_full()
    );
    let full = match q.try_put("c") {
        Err(TryPutError::Full(item)) => {
            println!("try_put(\"c\") -> Full, and we get {item:?} back");
            true
        }
        other => {
            println!("try_put(\"c\") -> {other:?} (unexpected)");
            false
        }
    };
    while q.try_get().is_ok() {}
    let empty = match q.try_get() {
        Err(TryGetError::Empty) => {
            println!(
                "  after two gets: is_empty() = {}; try_get() -> Empty",
                q.is_empty()
            );
            true
        }
        other => {
            println!("  try_get() -> {other:?} (unexpected)");
            false
        }
    };

    demo.section("What to remember");
    demo.say(
        "Queue hands items out in the order they came, LifoQueue in reverse, PriorityQueue\n\
         smallest first (and, unlike Python's, equal items in the order they came). All three\n\
         are safe for many producers and consumers; put blocks while a bounded queue is full,\n\
         get while it is empty, and the try_ forms say Full or Empty instead of waiting.",
    );
    println!("\nResult: FIFO {fifo:?}, LIFO {lifo:?}, priority {prio:?}.");
    demo.finish();
    if fifo != [1, 2, 3] || lifo != [3, 2, 1] || prio[0] != (2, "你") || !full || !empty {
        std::process::exit(1);
    }
}
