//! # Lesson 9: many processes buy the last ticket
//!
//! `cargo xtask demo tickets [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! import json, time
//! from multiprocessing import Process, Lock
//! def search(user):
//!     with open('data.json', 'r', encoding='utf-8') as f:
//!         dic = json.load(f)
//!     print(f'用户{user} 查看余票,还剩{dic.get("ticket_num")}...')
//! def buy(user):
//!     with open('data.json', 'r', encoding='utf-8') as f:
//!         dic = json.load(f)
//!     time.sleep(0.1)
//!     if dic['ticket_num'] > 0:
//!         dic['ticket_num'] -= 1
//!         with open('data.json', 'w', encoding='utf-8') as f:
//!             json.dump(dic, f)
//!         print(f'用户{user} 抢票成功!')
//!     else:
//!         print(f'用户{user} 抢票失败')
//! def run(user, mutex):
//!     search(user)
//!     mutex.acquire()          # the fix: 进程互斥锁
//!     buy(user)
//!     mutex.release()
//! if __name__ == '__main__':
//!     mutex = Lock()
//!     for i in range(10):
//!         p = Process(target=run, args=(f'用户{i}', mutex))
//!         p.start()
//! ```
//!
//! `data.json` holds `{"ticket_num": 1}`. Without the lock, all ten buyers
//! read 1 during the others' 0.1 s of thinking, and all of them are told
//! they got it. With a process lock, read-think-write is one step, and
//! exactly one buyer gets the ticket. The store, the buyers and the report
//! are the `bingfa-tickets` crate (`bingfa::tickets` with the facade's
//! `tickets` feature).

mod common;
#[path = "common/explore.rs"]
mod explore;

use std::time::Duration;

use bingfa_tickets::{Guard, Report, Sale};
use common::Demo;
use explore::Shared;

const PYTHON: &str = r#"
def buy(user):
    dic = json.load(open('data.json'))      # {"ticket_num": 1}
    time.sleep(0.1)                          # think: the others read 1 too
    if dic['ticket_num'] > 0:
        dic['ticket_num'] -= 1
        json.dump(dic, open('data.json', 'w'))
        print(f'用户{user} 抢票成功!')
def run(user, mutex):
    search(user)
    mutex.acquire(); buy(user); mutex.release()   # without these two: oversold
for i in range(10):
    Process(target=run, args=(f'用户{i}', mutex)).start()
"#;

fn show(report: &Report) {
    let yes: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|(_, o)| *o == bingfa_tickets::Outcome::Bought)
        .map(|(n, _)| n.as_str())
        .collect();
    println!(
        "  told \"抢票成功!\" (got it): {}",
        if yes.is_empty() {
            "nobody".into()
        } else {
            yes.join(", ")
        }
    );
    println!("  {report}");
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "tickets",
        "Ten processes buy the last ticket from data.json: oversold without a lock, exactly\n\
         one with a process lock; a thread lock does not help processes; 1000 buyers.\n  \
         --explore      let a model checker (loom) try every schedule of two buyers instead;\n                        with --buyers N (3 to 8), a randomized scheduler (shuttle) tries\n                        1000 schedules of N buyers",
    );
    if let Some(n) = explore::explore_count(&demo, "tickets", "--buyers") {
        if n == 2 {
            explore_tickets(demo);
        } else {
            explore_tickets_random(demo, n);
        }
        return;
    }
    demo.intro("Lesson 9: many processes buy the last ticket", PYTHON);
    let think = demo.pause(Duration::from_millis(100));
    let dir = std::env::temp_dir().join(format!("bingfa-demo-tickets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let sale = Sale::new(dir.join("data.json")).tickets(1).think(think);
    println!("  data.json: {}", dir.join("data.json").display());

    demo.section("1. Ten processes, no lock");
    // Recording on before the buyers are forked: each buyer process records
    // into this trace, a lane group of its own.
    demo.record();
    let racy = sale
        .clone()
        .mix(10, 0, 0)
        .guard(Guard::Unguarded)
        .run()
        .expect("the sale ran");
    let events = demo.show("ten buyer processes, no lock");
    show(&racy);
    let sees_one = events
        .iter()
        .filter(|e| e.object.ends_with("sees 1 left"))
        .count();
    let before_first_write = {
        let first_write = events
            .iter()
            .find(|e| e.object.contains("bought"))
            .map(|e| e.t);
        events
            .iter()
            .filter(|e| e.object.ends_with("sees 1 left") && first_write.is_some_and(|w| e.t < w))
            .count()
    };
    demo.say(&format!(
        "{sees_one} buyers saw 1 ticket left; {before_first_write} of them read it before the first buyer\n\
         wrote 0, so they all went on to \"buy\" it: their buy bars overlap."
    ));

    demo.section("2. Ten processes, a process lock (multiprocessing.Lock)");
    demo.record();
    let locked = sale
        .clone()
        .mix(10, 0, 0)
        .guard(Guard::ProcessLock)
        .run()
        .expect("the sale ran");
    // (Each buyer also takes its process's own copy of a thread lock, which
    // guards nothing across processes: left out of the picture.)
    let events: Vec<_> = bingfa::trace::stop()
        .into_iter()
        .filter(|e| &*e.object != "ticket lock")
        .collect();
    demo.show_with("ten buyer processes, a process lock", events, |tl| {
        tl.count("process lock", "holding the lock")
    });
    show(&locked);
    demo.say(
        "One holder at a time (the counting row): each buyer's buy reads the store only once it\n\
         holds the lock, so after the first buyer wrote 0 the others found it sold out.",
    );

    demo.section("3. Ten processes, a thread lock: the wrong kind of lock");
    demo.say(
        "A threading.Lock lives in one process's memory; each process gets its own copy at\n\
         fork, so every buyer takes a different lock, and nothing is guarded.\n",
    );
    let wrong = sale
        .clone()
        .mix(10, 0, 0)
        .guard(Guard::ThreadLock)
        .run()
        .expect("the sale ran");
    show(&wrong);
    let threads_locked = sale
        .clone()
        .buyers(10)
        .guard(Guard::ThreadLock)
        .run()
        .expect("the sale ran");
    println!("  the same thread lock among ten threads of one process:");
    show(&threads_locked);

    demo.section("4. A thousand buyers: 10 processes x 4 threads x 25 green threads, 10 tickets");
    let big = Sale::new(dir.join("data.json"))
        .tickets(10)
        .mix(10, 4, 25)
        .think(think / 100)
        .guard(Guard::ProcessLock)
        .watch_store(true)
        .run()
        .expect("the sale ran");
    println!("  {big}");
    println!(
        "  a watcher read data.json {} times during the sale: {} corrupt reads (every write goes\n  through a temporary file and a rename)",
        big.store_reads.0, big.store_reads.1
    );

    demo.section("What to remember");
    demo.say(
        "Read, think, write on shared data is a race, between processes as between threads.\n\
         A lock makes it one step, but it must be shared by everyone who races: a process\n\
         lock (or a file lock) for processes, a thread lock for threads of one process, a\n\
         green lock for green threads of one hub. bingfa-tickets layers them for a mix.",
    );
    println!(
        "\nResult: no lock oversold {}; process lock sold {} of 1; thread lock across processes oversold {}; 1000 buyers sold {} of 10, check {}.",
        racy.oversold(),
        locked.sold(),
        wrong.oversold(),
        big.sold(),
        if big.check().is_ok() { "ok" } else { "FAILED" }
    );
    demo.finish();
    std::fs::remove_dir_all(&dir).ok();
    let ok = racy.oversold() > 0
        && locked.sold() == 1
        && locked.check().is_ok()
        && threads_locked.check().is_ok()
        && big.sold() == 10
        && big.check().is_ok();
    if !ok {
        std::process::exit(1);
    }
}

/// One buyer of the last ticket, unguarded: reads `ticket_num` and, seeing
/// one left, writes it minus one and is told "yes" (the course's `buy`,
/// with data.json as a cell whose every read and write is atomic on its
/// own). Whether it was told "yes".
fn buy_racy(store: &impl Shared, me: usize) -> bool {
    let n = store.access(|cell| {
        explore::log(me, explore::Act::Read(*cell));
        *cell
    }); // dic = json.load(open('data.json'))
    if n > 0 {
        store.access(|cell| {
            *cell = n - 1; // json.dump(dic, open('data.json', 'w'))
            explore::log(me, explore::Act::Write(n - 1));
        });
        true // print('抢票成功!')
    } else {
        false
    }
}

/// The same with `mutex.acquire(); buy(); mutex.release()`: one atomic
/// step.
fn buy_locked(store: &impl Shared, me: usize) -> bool {
    store.access(|cell| {
        explore::log(me, explore::Act::Lock);
        let n = *cell;
        explore::log(me, explore::Act::Read(n));
        let told_yes = n > 0;
        if told_yes {
            *cell = n - 1;
            explore::log(me, explore::Act::Write(n - 1));
        }
        explore::log(me, explore::Act::Unlock);
        told_yes
    })
}

/// Two unguarded buyers under loom, one ticket: whether at most one was
/// told "yes".
fn buy_unguarded() -> bool {
    let store = loom::sync::Arc::new(loom::sync::Mutex::new(1i64));
    let yes = explore::two_threads(move |me| buy_racy(&*store, me));
    yes.iter().filter(|&&y| y).count() <= 1
}

/// Two locked buyers under loom: whether exactly one was told "yes".
fn buy_guarded() -> bool {
    let store = loom::sync::Arc::new(loom::sync::Mutex::new(1i64));
    let yes = explore::two_threads(move |me| buy_locked(&*store, me));
    yes.iter().filter(|&&y| y).count() == 1
}

/// How many buyers the shuttle models run (`--explore --buyers N`).
static MODEL_BUYERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(3);

/// N unguarded buyers under shuttle, one ticket.
fn buy_unguarded_n() -> bool {
    let buyers = MODEL_BUYERS.load(std::sync::atomic::Ordering::SeqCst);
    let store = std::sync::Arc::new(shuttle::sync::Mutex::new(1i64));
    let yes = explore::shuttle_threads(buyers, move |me| buy_racy(&*store, me));
    yes.iter().filter(|&&y| y).count() <= 1
}

/// N locked buyers under shuttle, one ticket.
fn buy_guarded_n() -> bool {
    let buyers = MODEL_BUYERS.load(std::sync::atomic::Ordering::SeqCst);
    let store = std::sync::Arc::new(shuttle::sync::Mutex::new(1i64));
    let yes = explore::shuttle_threads(buyers, move |me| buy_locked(&*store, me));
    yes.iter().filter(|&&y| y).count() == 1
}

/// `--explore --buyers N`: the oversell with N buyers found by shuttle's
/// randomized scheduler, replayed from the file it saved, then the lock
/// tried on as many schedules.
fn explore_tickets_random(mut demo: Demo, buyers: usize) {
    const SCHEDULES: usize = 1000;
    const SEED: u64 = 9;
    MODEL_BUYERS.store(buyers, std::sync::atomic::Ordering::SeqCst);
    demo.intro(
        &format!(
            "Lesson 9, explored: {buyers} buyers of the last ticket, on a randomized scheduler"
        ),
        PYTHON,
    );
    demo.say(&format!(
        "With two buyers loom can run every schedule (--explore alone). With {buyers}, shuttle, a\n\
         randomized scheduler (PCT), runs {SCHEDULES} schedules from a fixed seed, {SEED}, and checks\n\
         each time that at most one buyer was told \"抢票成功!\" (got it) for the one ticket."
    ));
    demo.section("1. Without a lock");
    let dir = std::env::temp_dir().join(format!("bingfa-tickets-schedules-{}", std::process::id()));
    let found = explore::explore_random(buy_unguarded_n, SCHEDULES, SEED, &dir);
    println!(
        "  shuttle ran {} schedules: {} oversold the ticket.",
        found.schedules, found.failing
    );
    let oversold = explore::show_failing(
        &mut demo,
        &found,
        ("shuttle", "shuttle::replay_from_file"),
        ("ticket_num", &|t| format!("buyer {t}")),
        "the oversold schedule, step by step (1 ms = 1 step)",
    );
    if let Some(steps) = oversold {
        let yes = steps
            .iter()
            .filter(|s| matches!(s.what, explore::Act::Write(_)))
            .count();
        demo.say(&format!(
            "{yes} of {buyers} buyers wrote ticket_num = 0 and were told \"yes\" for the one ticket:\n\
             each read 1 before the first write."
        ));
    }
    demo.section("2. With a lock around buy");
    let checked = explore::explore_random(buy_guarded_n, SCHEDULES, SEED, &dir);
    explore::print_locked_random(&checked, "exactly one buyer was told \"yes\"", "buyers");
    std::fs::remove_dir_all(&dir).ok();
    explore::finish(demo, &found, &checked, "oversell");
}

/// `--explore`: the oversell found by loom, replayed, then the lock checked.
fn explore_tickets(mut demo: Demo) {
    demo.intro(
        "Lesson 9, explored: every schedule of two buyers, tried by a model checker",
        PYTHON,
    );
    demo.say(
        "loom runs the buy step once for every way two buyers can interleave their reads and\n\
         writes of data.json (one ticket left), and checks each time that at most one buyer\n\
         was told \"抢票成功!\" (got it).",
    );
    demo.section("1. Without a lock");
    let key = explore::key_path("tickets");
    let found = explore::explore(buy_unguarded, &key);
    println!(
        "  loom ran {} schedules: {} oversold the ticket.",
        found.schedules, found.failing
    );
    let oversold = explore::show_failing(
        &mut demo,
        &found,
        ("loom", "loom::model::Builder::checkpoint_file"),
        ("ticket_num", &|t| format!("buyer {t}")),
        "the oversold schedule, step by step (1 ms = 1 step)",
    );
    if let Some(steps) = oversold {
        let yes = steps
            .iter()
            .filter(|s| matches!(s.what, explore::Act::Write(_)))
            .count();
        demo.say(&format!(
            "{yes} buyers wrote ticket_num = 0 and were told \"yes\" for the one ticket: both read 1\n\
             before either wrote."
        ));
    }
    demo.section("2. With a lock around buy");
    let checked = explore::explore(buy_guarded, &key);
    println!(
        "  loom ran {} schedules of the locked version (loom's model of a mutex): {} failing{}.",
        checked.schedules,
        checked.failing,
        if checked.failing == 0 {
            ";\n  exactly one buyer was told \"yes\" in every one"
        } else {
            ""
        }
    );
    std::fs::remove_file(&key).ok();
    explore::finish(demo, &found, &checked, "oversell");
}
