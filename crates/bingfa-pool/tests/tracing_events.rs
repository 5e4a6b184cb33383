//! The `tracing` feature: what the crate notices by itself and can return
//! to no caller becomes a `tracing` event (target `bingfa_pool`), caught
//! here by a subscriber of the test's own. (Without the feature the crate
//! reports nothing; that build has no event to catch, and prints nothing:
//! the crate has no `eprintln!` left.)

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bingfa_pool::{Error, ProcessPool, ThreadPool};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

bingfa_pool::enable_test_support!();

const PATIENCE: Duration = Duration::from_secs(30);

/// One event: its level, target, message and other fields (`name=value`).
#[derive(Debug, Clone)]
struct Caught {
    level: Level,
    target: String,
    message: String,
    fields: Vec<String>,
}

static CAUGHT: Mutex<Vec<Caught>> = Mutex::new(Vec::new());

struct Catcher;

#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }
}

impl Subscriber for Catcher {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        CAUGHT.lock().unwrap().push(Caught {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message: f.message,
            fields: f.fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installs the catcher as the global subscriber (the pool's threads
/// emit the events), once for the binary.
fn catch() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| tracing::subscriber::set_global_default(Catcher).unwrap());
}

/// Waits until an event whose message contains `needle` was caught.
fn caught(needle: &str) -> Caught {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(c) = CAUGHT
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.message.contains(needle))
        {
            return c.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no event with {needle:?}; caught: {:?}",
            CAUGHT.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_panicking_done_callback_is_an_error_event() {
    catch();
    let pool = ThreadPool::new(1);
    let f = pool.submit(|| 1).unwrap();
    f.add_done_callback(|_| panic!("callback-boom-17"));
    assert_eq!(f.result_timeout(PATIENCE), Ok(1));
    let c = caught("callback-boom-17");
    assert_eq!(c.level, Level::ERROR);
    assert_eq!(c.target, "bingfa_pool");
    assert!(c.message.contains("done-callback panicked"), "{c:?}");
}

#[test]
fn a_panicking_execute_task_is_an_error_event() {
    catch();
    let pool = ThreadPool::new(1);
    pool.execute(|| panic!("execute-boom-23")).unwrap();
    let c = caught("execute-boom-23");
    assert_eq!(c.level, Level::ERROR);
    assert_eq!(c.target, "bingfa_pool");
    assert!(c.message.contains("execute panicked"), "{c:?}");
}

fn exit_with(code: i32) -> i32 {
    std::process::exit(code)
}

#[test]
fn a_worker_that_dies_in_a_task_is_a_warn_event_with_its_pid_and_code() {
    catch();
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let Err(Error::WorkerDied { pid, exit_code, .. }) =
        pool.submit(exit_with, 41).unwrap().result_timeout(PATIENCE)
    else {
        panic!("the task should have killed its worker");
    };
    assert_eq!(exit_code, Some(41));
    let c = caught("died during a task");
    assert_eq!(c.level, Level::WARN);
    assert_eq!(c.target, "bingfa_pool");
    assert!(c.fields.contains(&format!("pid={pid}")), "{c:?}");
    assert!(c.fields.contains(&"exit_code=Some(41)".to_owned()), "{c:?}");
    assert!(c.fields.contains(&"signal=None".to_owned()), "{c:?}");
    // The pool goes on with a replacement.
    assert_eq!(pool.submit(|x: i32| x + 1, 1).unwrap().result(), Ok(2));
}

#[test]
fn a_broken_pool_is_an_error_event() {
    catch();
    fn bad_init() {
        panic!("init-boom-31");
    }
    let pool = ProcessPool::builder()
        .max_workers(1)
        .initializer(bad_init)
        .build()
        .unwrap();
    let r = pool
        .submit(|x: i32| x, 1)
        .and_then(|f| f.result_timeout(PATIENCE));
    assert!(matches!(r, Err(Error::BrokenPool { .. })), "{r:?}");
    let c = caught("the process pool is broken");
    assert_eq!(c.level, Level::ERROR);
    assert!(c.message.contains("init-boom-31"), "{c:?}");
}
