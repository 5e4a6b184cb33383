//! The `tracing` feature: a deadlock report that no handler takes becomes a
//! `tracing` event (target `bingfa_sync::deadlock`, level WARN), caught here
//! by a subscriber of the test's own, instead of lines on standard error.
#![cfg(all(feature = "detect", feature = "tracing"))]

use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::thread;

use bingfa_sync::{deadlock, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// (level, target, message) of every event caught.
static CAUGHT: StdMutex<Vec<(Level, String, String)>> = StdMutex::new(Vec::new());

struct Catcher;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
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
        let mut m = Message(String::new());
        event.record(&mut m);
        let meta = event.metadata();
        CAUGHT
            .lock()
            .unwrap()
            .push((*meta.level(), meta.target().to_owned(), m.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn an_unhandled_report_is_a_tracing_event() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| tracing::subscriber::set_global_default(Catcher).unwrap());
    deadlock::enable();
    deadlock::reset();
    deadlock::reset_handler();
    let a = Arc::new(Mutex::named("A", 0));
    let b = Arc::new(Mutex::named("B", 0));
    let (a1, b1) = (a.clone(), b.clone());
    thread::spawn(move || {
        let _a = a1.lock();
        let _b = b1.lock();
    })
    .join()
    .unwrap();
    // The opposite order: cannot hang now, but is reported.
    thread::spawn(move || {
        let _b = b.lock();
        let _a = a.lock();
    })
    .join()
    .unwrap();
    let reports = deadlock::take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let caught = CAUGHT.lock().unwrap().clone();
    let ours: Vec<_> = caught
        .iter()
        .filter(|(_, target, _)| target == "bingfa_sync::deadlock")
        .collect();
    assert_eq!(ours.len(), 1, "{caught:?}");
    let (level, _, message) = ours[0];
    assert_eq!(*level, Level::WARN);
    assert!(
        message.contains("POTENTIAL DEADLOCK (lock order inversion)")
            && message.contains("\"A\"")
            && message.contains("\"B\""),
        "{message}"
    );
    assert_eq!(message, &reports[0].to_string());
}
