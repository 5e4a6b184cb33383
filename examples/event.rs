//! # Lesson 18: an Event, a traffic light and ten cars
//!
//! `cargo xtask demo event [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from threading import Event, Thread
//! import time
//! e = Event()
//! def light():
//!     print('红灯亮...')
//!     time.sleep(5)
//!     e.set()
//!     print('绿灯亮...')
//! def car(name):
//!     print('正在等红灯...')
//!     e.wait()
//!     print(f'{name} 正在加速飘逸...')
//! t = Thread(target=light)
//! t.start()
//! for i in range(10):
//!     t = Thread(target=car, args=(f'汽车{i}号',))
//!     t.start()
//! ```
//!
//! Some threads control others through an Event: the cars block in
//! `wait()` until the light thread calls `set()`, which wakes all of them at
//! once.

mod common;

use std::sync::{Arc, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

use bingfa::sync::Event;
use bingfa::trace::{record, EventKind};
use common::Demo;

const PYTHON: &str = r#"
e = Event()
def light():
    print('红灯亮...')        # red light
    time.sleep(5)
    e.set()
    print('绿灯亮...')        # green light
def car(name):
    print('正在等红灯...')    # waiting at the red light
    e.wait()
    print(f'{name} 正在加速飘逸...')   # off it goes
Thread(target=light).start()
for i in range(10):
    Thread(target=car, args=(f'汽车{i}号',)).start()
"#;

const CARS: usize = 10;

fn main() {
    let mut demo = Demo::from_args(
        "event",
        "A light thread sets an Event after a red phase; ten car threads wait on it, then all go.",
    );
    demo.intro("Lesson 18: an Event, a traffic light and ten cars", PYTHON);
    let red = demo.pause(Duration::from_secs(2));
    demo.say(&format!(
        "The light stays red for {red:?} (the course: 5 s).\n"
    ));

    let e = Arc::new(Event::named("green light"));
    let set_at = Arc::new(StdMutex::new(None::<Instant>));
    let went_at = Arc::new(StdMutex::new(Vec::new()));
    demo.record();
    let light = {
        let (e, set_at) = (e.clone(), set_at.clone());
        thread::Builder::new()
            .name("light".into())
            .spawn(move || {
                println!("  light: red   (红灯亮...)");
                record(EventKind::Begin, "red");
                thread::sleep(red);
                record(EventKind::End, "red");
                *set_at.lock().unwrap() = Some(Instant::now());
                e.set();
                record(EventKind::Mark, "set()");
                println!("  light: green (绿灯亮...)");
            })
            .expect("spawn")
    };
    let cars: Vec<_> = (0..CARS)
        .map(|i| {
            let (e, went_at) = (e.clone(), went_at.clone());
            thread::Builder::new()
                .name(format!("car-{i}"))
                .spawn(move || {
                    println!("  car-{i}: waiting at the red light (正在等红灯...)");
                    e.wait();
                    went_at.lock().unwrap().push(Instant::now());
                    record(EventKind::Begin, "driving");
                    println!("  car-{i} accelerates away (汽车{i}号 正在加速飘逸...)");
                    thread::sleep(Duration::from_millis(5));
                    record(EventKind::End, "driving");
                })
                .expect("spawn")
        })
        .collect();
    light.join().expect("the light panicked");
    for c in cars {
        c.join().expect("a car panicked");
    }
    demo.show("the light and ten cars");
    let set_at = set_at.lock().unwrap().expect("the light was set");
    let went = went_at.lock().unwrap();
    let early = went.iter().filter(|t| **t < set_at).count();
    let spread = went
        .iter()
        .map(|t| t.duration_since(set_at))
        .max()
        .unwrap_or_default();
    demo.say(&format!(
        "{} cars went, {early} before the light turned green; the last one left {spread:.1?}\n\
         after set(). Every car's lane waits (shaded) on \"green light\" until the light's\n\
         red span ends, then they all drive at once.",
        went.len()
    ));
    demo.section("What to remember");
    demo.say(
        "Event is a flag threads can wait for: wait() returns at once if it is set, else\n\
         blocks; set() wakes every waiter; clear() makes later waits block again.\n\
         wait_timeout(d) gives up after d and returns whether the flag was set.",
    );
    println!(
        "\nResult: {} of {CARS} cars waited for the green light; {early} jumped it.",
        went.len() - early
    );
    demo.finish();
    if early > 0 || went.len() != CARS {
        std::process::exit(1);
    }
}
