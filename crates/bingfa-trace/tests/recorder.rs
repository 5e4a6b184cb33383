//! The recorder keeps every event from every thread. The log is global, so
//! this file holds a single test.

use std::collections::HashMap;
use std::thread;

use bingfa_trace::{flags, record, record_in, EventKind};

#[test]
fn records_every_event_from_several_threads_in_time_order() {
    const THREADS: usize = 8;
    const EACH: usize = 500;

    record(EventKind::Mark, "before start: not recorded");
    bingfa_trace::start();
    assert!(flags::is_on(flags::TRACE));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            thread::Builder::new()
                .name(format!("rec-{i}"))
                .spawn(move || {
                    assert_eq!(&*bingfa_trace::current_lane(), format!("rec-{i}"));
                    for k in 0..EACH {
                        record(EventKind::Acquired, &format!("o{k}"));
                    }
                })
                .unwrap()
        })
        .collect();
    record_in("green-1", EventKind::Begin, "run");
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(bingfa_trace::snapshot().len(), THREADS * EACH + 1);
    let events = bingfa_trace::stop();
    assert!(!flags::is_on(flags::TRACE));
    record(EventKind::Mark, "after stop: not recorded");

    assert_eq!(events.len(), THREADS * EACH + 1);
    assert!(
        events.windows(2).all(|w| w[0].t <= w[1].t),
        "times go forward"
    );
    let mut per_lane: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &events {
        per_lane.entry(&e.lane).or_default().push(&e.object);
    }
    assert_eq!(per_lane["green-1"], ["run"]);
    for i in 0..THREADS {
        let got = &per_lane[format!("rec-{i}").as_str()];
        let want: Vec<String> = (0..EACH).map(|k| format!("o{k}")).collect();
        assert_eq!(got, &want, "each thread's events, complete and in order");
    }
    assert!(bingfa_trace::stop().is_empty(), "stop takes the events");
}
