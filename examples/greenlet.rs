//! # Lesson 21: greenlet: switching by hand, passing values
//!
//! `cargo xtask demo greenlet [--quick] [--trace FILE]`
//!
//! The course's Python (seeds 001 and 002):
//!
//! ```python
//! from greenlet import greenlet
//! def eat(name):
//!     print('%s eat 1' % name)
//!     g2.switch('jack')
//!     print('%s eat 2' % name)
//!     g2.switch()
//! def play(name):
//!     print('%s play 1' % name)
//!     g1.switch()
//!     print('%s play 2' % name)
//! g1 = greenlet(eat)
//! g2 = greenlet(play)
//! g1.switch('rose')     # the first switch passes eat's argument
//!
//! def Producer():
//!     while True:
//!         print('我是生产者我会生产大肉包')
//!         time.sleep(1)
//!         c.switch()  # 切换到消费者
//!         print('生产结束')
//! def Consumer():
//!     while True:
//!         print('我是消费者我就会吃')
//!         time.sleep(1)
//!         p.switch()  # 切换到生产者
//!         print('消费结束')
//! c = greenlet(Consumer)
//! p = greenlet(Producer)
//! c.switch()   # consumer first
//! ```
//!
//! A greenlet runs until it switches to another one by name; `switch(v)`
//! hands `v` over, and the switch that resumes us returns the value the
//! other side passed. Nothing switches by itself: every switch is in the
//! code. (The producer/consumer loops forever in the course; here three
//! rounds, then the producer switches back to the main greenlet.)

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bingfa::green::Greenlet;
use bingfa::trace::{record_in, EventKind};
use common::Demo;

const PYTHON: &str = r#"
def eat(name):
    print('%s eat 1' % name); g2.switch('jack'); print('%s eat 2' % name); g2.switch()
def play(name):
    print('%s play 1' % name); g1.switch(); print('%s play 2' % name)
g1 = greenlet(eat); g2 = greenlet(play)
g1.switch('rose')    # 可以在第一次switch时传入参数,以后都不需要再次传
"#;

/// A greenlet that is created later than the one that switches to it.
type Slot<T> = Rc<RefCell<Option<Greenlet<T>>>>;

/// Prints a step and keeps it for the result line.
fn step(log: &RefCell<Vec<String>>, lane: &str, text: String) {
    println!("  {lane:>9}: {text}");
    log.borrow_mut().push(text);
}

/// The greenlet of `lane` gets the CPU (its lane shows "running").
fn resumed(lane: &str) {
    record_in(lane, EventKind::Begin, "running");
}

/// The greenlet of `lane` switches away.
fn leaves(lane: &str) {
    record_in(lane, EventKind::End, "running");
}

fn main() {
    let mut demo = Demo::from_args(
        "greenlet",
        "The course's eat/play and producer/consumer greenlets, switching by hand with values.",
    );
    demo.intro(
        "Lesson 21: greenlet: switching by hand, passing values",
        PYTHON,
    );
    let nap = demo.pause(Duration::from_millis(200));
    demo.record();

    demo.section("1. eat and play");
    let log = Rc::new(RefCell::new(Vec::new()));
    let g2_slot: Slot<Option<String>> = Rc::default();
    let (l, slot) = (log.clone(), g2_slot.clone());
    let g1 = Greenlet::new(move |name: Option<String>| {
        let name = name.unwrap_or_default();
        resumed("g1 (eat)");
        step(&l, "g1 (eat)", format!("{name} eat 1"));
        let g2 = slot.borrow().clone().expect("g2 exists");
        leaves("g1 (eat)");
        g2.switch(Some("jack".into())); // g2.switch('jack'): play's name
        resumed("g1 (eat)");
        step(&l, "g1 (eat)", format!("{name} eat 2"));
        leaves("g1 (eat)");
        g2.switch(None); // g2.switch()
        None
    });
    let (l, g1c) = (log.clone(), g1.clone());
    let g2 = Greenlet::new(move |name: Option<String>| {
        let name = name.unwrap_or_default();
        resumed("g2 (play)");
        step(&l, "g2 (play)", format!("{name} play 1"));
        leaves("g2 (play)");
        g1c.switch(None); // g1.switch()
        resumed("g2 (play)");
        step(&l, "g2 (play)", format!("{name} play 2"));
        leaves("g2 (play)");
        None
    });
    *g2_slot.borrow_mut() = Some(g2.clone());
    g1.switch(Some("rose".into())); // g1.switch('rose'): eat's name
    println!(
        "  back in main: g2 is dead = {}, g1 is dead = {}",
        if g2.is_dead() { "True" } else { "False" },
        if g1.is_dead() { "True" } else { "False" }
    );
    println!(
        "  The first switch into each greenlet passed its argument: rose became eat's name,\n  \
         jack play's; later switches passed nothing."
    );
    g1.kill(); // g1 still waits in its last switch; end it (destructors run)
    g2_slot.borrow_mut().take();
    let eat_play = log.borrow().clone();

    demo.section("2. producer and consumer (three rounds)");
    let log = Rc::new(RefCell::new(Vec::new()));
    let c_slot: Slot<()> = Rc::default();
    let p_slot: Slot<()> = Rc::default();
    let (l, cs) = (log.clone(), c_slot.clone());
    let p = Greenlet::new(move |()| {
        resumed("producer");
        for round in 1..=3 {
            step(
                &l,
                "producer",
                format!("round {round}: 我是生产者我会生产大肉包 (I make buns)"),
            );
            std::thread::sleep(nap);
            let c = cs.borrow().clone().expect("consumer exists");
            leaves("producer");
            c.switch(()); // 切换到消费者
            resumed("producer");
            step(&l, "producer", "生产结束 (done making)".into());
        }
        leaves("producer");
        Greenlet::<()>::root().switch(());
    });
    let (l, ps) = (log.clone(), p_slot.clone());
    let c = Greenlet::new(move |()| {
        resumed("consumer");
        loop {
            step(&l, "consumer", "我是消费者我就会吃 (I eat)".into());
            std::thread::sleep(nap);
            let p = ps.borrow().clone().expect("producer exists");
            leaves("consumer");
            p.switch(()); // 切换到生产者
            resumed("consumer");
            step(&l, "consumer", "消费结束 (done eating)".into());
        }
    });
    *c_slot.borrow_mut() = Some(c.clone());
    *p_slot.borrow_mut() = Some(p.clone());
    c.switch(()); // consumer first
    p.kill();
    c.kill();
    c_slot.borrow_mut().take();
    p_slot.borrow_mut().take();
    let prod_cons = log.borrow().clone();
    demo.show("greenlets switching by hand");
    demo.say(
        "One OS thread ran all of it: the \"running\" bars never overlap, and they hand over\n\
         exactly where the code says switch(). The sleeps block everybody: a greenlet switches\n\
         only when told to (gevent adds switching on IO).",
    );

    demo.section("What to remember");
    demo.say(
        "A greenlet is a function with its own stack that you enter and leave with switch().\n\
         switch(v) passes v both ways: the first switch gives the function its argument, later\n\
         ones become the return value of the other side's switch. When a greenlet's function\n\
         returns, control goes to its parent (here, main).",
    );
    println!("\nResult: eat/play order: {}.", eat_play.join(" | "));
    println!("Result: producer/consumer steps: {}.", prod_cons.len());
    demo.finish();
    let expected = ["rose eat 1", "jack play 1", "rose eat 2", "jack play 2"];
    if eat_play != expected || prod_cons.len() != 13 {
        std::process::exit(1);
    }
}
