//! # Lesson 16: a semaphore lets five in at a time
//!
//! `cargo xtask demo semaphore [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003): twenty threads, five places.
//!
//! ```python
//! from threading import Semaphore, Thread, current_thread
//! import time
//! sm = Semaphore(5)
//! def task():
//!     sm.acquire()
//!     print(f'{current_thread().name} 执行任务')
//!     time.sleep(1)
//!     sm.release()
//! for i in range(20):
//!     t = Thread(target=task)
//!     t.start()
//! ```
//!
//! A lock is a private toilet: one user at a time. A semaphore is a public
//! toilet with five stalls: five at a time, the sixth waits until one leaves.
//! The demo counts how many are inside at every moment and shows that the
//! count never goes above five, and the timeline shows the waves.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bingfa::sync::Semaphore;
use bingfa::trace::{record, EventKind};
use common::Demo;

const PYTHON: &str = r#"
sm = Semaphore(5)
def task():
    sm.acquire()
    print(f'{current_thread().name} 执行任务')
    time.sleep(1)
    sm.release()
for i in range(20):
    Thread(target=task).start()
"#;

const THREADS: usize = 20;
const PLACES: usize = 5;

fn main() {
    let mut demo = Demo::from_args(
        "semaphore",
        "Twenty threads share a Semaphore(5): never more than five inside at once.",
    );
    demo.intro("Lesson 16: a semaphore lets five in at a time", PYTHON);
    let nap = demo.pause(Duration::from_millis(500));
    demo.say(&format!(
        "{THREADS} threads, {PLACES} places; each stays inside {nap:?} (the course: 1 s).\n"
    ));

    let sm = Arc::new(Semaphore::named("sm", PLACES));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    demo.record();
    let start = Instant::now();
    let handles: Vec<_> = (1..=THREADS)
        .map(|i| {
            let (sm, inside, most) = (sm.clone(), inside.clone(), most.clone());
            thread::Builder::new()
                .name(format!("Thread-{i}"))
                .spawn(move || {
                    let permit = sm.acquire(); // sm.acquire()
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    println!(
                        "  {:>9} runs its task ({} inside)   ({} 执行任务)",
                        thread::current().name().unwrap_or("?"),
                        now,
                        thread::current().name().unwrap_or("?"),
                    );
                    record(EventKind::Begin, "task");
                    thread::sleep(nap); // time.sleep(1)
                    record(EventKind::End, "task");
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(permit); // sm.release()
                })
                .expect("spawn")
        })
        .collect();
    for h in handles {
        h.join().expect("a task panicked");
    }
    let took = start.elapsed();
    // One row per thread (the task runs inside the hold), and a row that
    // counts the tasks running: the task span is recorded after acquire and
    // before release, so it counts exactly who is inside.
    let events = bingfa::trace::stop();
    demo.show_with("twenty threads, five places", events, |tl| {
        tl.rows_per_lane(1).count("task", "inside")
    });
    let most = most.load(Ordering::SeqCst);
    demo.say(&format!(
        "At most {most} threads were inside at once (the row \"inside\" counts them in each\n\
         column). The run took {took:.1?}, {:.1} times the {nap:?} one thread stays inside:\n\
         the threads went in in waves, because only {PLACES} can hold a permit at a time.",
        took.as_secs_f64() / nap.as_secs_f64()
    ));
    demo.section("What to remember");
    demo.say(
        "Semaphore(n) bounds concurrency: a pool of n permits. acquire() takes one or waits;\n\
         dropping the permit (Python's release()) gives it back and wakes one waiter.\n\
         Semaphore::bounded(n) (BoundedSemaphore) also refuses a release beyond n.",
    );
    println!("\nResult: at most {most} of {THREADS} threads inside at once (limit {PLACES}).");
    demo.finish();
    if most > PLACES {
        std::process::exit(1);
    }
}
