//! # Lesson 24: asyncio and async/await: one thread, many coroutines
//!
//! `cargo xtask demo async [--quick] [--trace FILE]`
//!
//! The course's Python (seed 001):
//!
//! ```python
//! import threading
//! import asyncio
//! async def hello():
//!     print('Hello world! (%s)' % threading.currentThread())
//!     await asyncio.sleep(1)       # a coroutine that completes in 1 s
//!     print('Hello again! (%s)' % threading.currentThread())
//! loop = asyncio.get_event_loop()
//! tasks = [hello(), hello()]
//! loop.run_until_complete(asyncio.wait(tasks))
//! loop.close()
//! # Hello world! (<_MainThread(MainThread, started 140735195337472)>)
//! # Hello world! (<_MainThread(MainThread, started 140735195337472)>)
//! # (about 1 s)
//! # Hello again! (<_MainThread(MainThread, started 140735195337472)>)
//! # Hello again! (<_MainThread(MainThread, started 140735195337472)>)
//! ```
//!
//! Both coroutines print the same thread: one thread runs them, switching
//! while one awaits. The demo runs the lesson twice on bingfa's hub: as two
//! green threads that call the green `sleep` (gevent's way: plain calls,
//! switching inside), and as two `async fn`s awaited together inside one
//! green thread with `block_on` (asyncio's way: the switch points are the
//! `.await`s). Both take about 1 s, not 2, on one thread.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use bingfa::green::{self, block_on, joinall, sleep_async, Builder};
use bingfa::trace::{record_in, EventKind};
use common::Demo;

const PYTHON: &str = r#"
async def hello():
    print('Hello world! (%s)' % threading.currentThread())
    await asyncio.sleep(1)
    print('Hello again! (%s)' % threading.currentThread())
loop = asyncio.get_event_loop()
loop.run_until_complete(asyncio.wait([hello(), hello()]))
"#;

/// The current OS thread as Python's `threading.current_thread()` prints
/// it: `<Thread(name, id N)>`.
fn thread_label() -> String {
    let t = thread::current();
    let id = format!("{:?}", t.id());
    let id = id.trim_start_matches("ThreadId(").trim_end_matches(')');
    format!("<Thread({}, id {id})>", t.name().unwrap_or("?"))
}

/// `asyncio.wait([a, b])` for two futures: polls both until both are ready.
struct Both<A: Future, B: Future> {
    a: Pin<Box<A>>,
    b: Pin<Box<B>>,
    a_out: Option<A::Output>,
    b_out: Option<B::Output>,
}

impl<A: Future, B: Future> Future for Both<A, B>
where
    A::Output: Unpin,
    B::Output: Unpin,
{
    type Output = (A::Output, B::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.a_out.is_none() {
            if let Poll::Ready(v) = this.a.as_mut().poll(cx) {
                this.a_out = Some(v);
            }
        }
        if this.b_out.is_none() {
            if let Poll::Ready(v) = this.b.as_mut().poll(cx) {
                this.b_out = Some(v);
            }
        }
        match (this.a_out.take(), this.b_out.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                this.a_out = a;
                this.b_out = b;
                Poll::Pending
            }
        }
    }
}

fn both<A: Future, B: Future>(a: A, b: B) -> Both<A, B> {
    Both {
        a: Box::pin(a),
        b: Box::pin(b),
        a_out: None,
        b_out: None,
    }
}

async fn hello(lane: &'static str, nap: Duration) -> String {
    let who = thread_label();
    println!("    {lane}: Hello world! ({who})");
    record_in(lane, EventKind::Begin, "await sleep");
    sleep_async(nap).await; // await asyncio.sleep(1)
    record_in(lane, EventKind::End, "await sleep");
    println!("    {lane}: Hello again! ({})", thread_label());
    who
}

fn main() {
    let mut demo = Demo::from_args(
        "async",
        "Two hello tasks that sleep 1 s, on the green hub (gevent style) and as async fns\n\
         awaited together (asyncio style): about 1 s each way, one thread.",
    );
    demo.intro(
        "Lesson 24: asyncio and async/await: one thread, many coroutines",
        PYTHON,
    );
    let nap = demo.pause(Duration::from_secs(1));
    demo.record();

    demo.section("1. Two green threads with the green sleep (gevent's way)");
    let (green_took, green_threads) = green::run(move || {
        let start = Instant::now();
        let hs: Vec<_> = ["green hello 1", "green hello 2"]
            .into_iter()
            .map(|lane| {
                Builder::new()
                    .name(lane)
                    .spawn(move || {
                        let who = thread_label();
                        println!("    {lane}: Hello world! ({who})");
                        record_in(lane, EventKind::Begin, "sleep");
                        green::sleep(nap);
                        record_in(lane, EventKind::End, "sleep");
                        println!("    {lane}: Hello again! ({})", thread_label());
                        who
                    })
                    .expect("spawn")
            })
            .collect();
        joinall(&hs);
        let who: Vec<String> = hs.iter().map(|h| h.value().expect("done")).collect();
        (start.elapsed(), who)
    })
    .expect("the hub ran");
    println!("  both done in {green_took:.2?}");

    demo.section("2. Two async fns awaited together (asyncio's way), inside the hub");
    let (async_took, async_threads) = green::run(move || {
        let start = Instant::now();
        // block_on parks only this green thread until the future is ready.
        let (a, b) = block_on(both(
            hello("async hello 1", nap),
            hello("async hello 2", nap),
        ));
        (start.elapsed(), vec![a, b])
    })
    .expect("the hub ran");
    println!("  both done in {async_took:.2?}");
    demo.show("two hellos, twice");

    let main_thread = thread_label();
    let one_thread = green_threads
        .iter()
        .chain(&async_threads)
        .all(|t| *t == main_thread);
    let overlapped = |took: Duration| took < nap * 2 * 9 / 10;
    let how = |took: Duration| {
        if overlapped(took) {
            format!("{took:.1?}, about one sleep: they overlapped")
        } else {
            format!("{took:.1?}, about two sleeps: they did not overlap")
        }
    };
    let threads: std::collections::BTreeSet<&String> =
        green_threads.iter().chain(&async_threads).collect();
    demo.say(&format!(
        "The hellos printed {} OS thread(s): {}.\n\
         Each way, two coroutines each slept {nap:?}:\n  on the green hub {};\n  with async/await {}.",
        threads.len(),
        threads.into_iter().cloned().collect::<Vec<_>>().join(", "),
        how(green_took),
        how(async_took)
    ));
    demo.section("What to remember");
    demo.say(
        "asyncio and gevent are the same idea: one thread, many coroutines, a switch whenever\n\
         one waits. asyncio marks the switch points with await (async fn in Rust); gevent\n\
         hides them in green IO calls. bingfa's hub runs both: green threads, and futures\n\
         through block_on, which parks only the green thread that waits.",
    );
    let units = |d: Duration| d.as_secs_f64() / nap.as_secs_f64();
    println!(
        "\nResult: one thread = {one_thread}; two sleeps of 1 unit took: green {:.1} units, async {:.1} units.",
        units(green_took),
        units(async_took)
    );
    demo.finish();
    if !one_thread || units(green_took) >= 1.8 || units(async_took) >= 1.8 {
        std::process::exit(1);
    }
}
