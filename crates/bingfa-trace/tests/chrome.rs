//! The Chrome trace is valid JSON that Perfetto accepts: metadata per lane,
//! balanced and nested B/E per thread, escaped names.

use std::collections::HashMap;
use std::time::Duration;

use bingfa_trace::{chrome, Event, EventKind, EventKind::*};
use serde_json::Value;

fn ev(us: u64, lane: &str, kind: EventKind, object: &str) -> Event {
    Event::new(Duration::from_micros(us), lane, kind, object)
}

fn parse(events: &[Event]) -> Vec<Value> {
    let json = chrome::to_json(events);
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    v["traceEvents"].as_array().expect("traceEvents").clone()
}

/// Replays B/E per tid as a stack: each E must close the innermost B (same
/// name), times never go back, and nothing stays open.
fn check_balanced(events: &[Value]) -> usize {
    let mut stacks: HashMap<u64, Vec<(String, f64)>> = HashMap::new();
    let mut pairs = 0;
    for e in events {
        let tid = e["tid"].as_u64().unwrap();
        match e["ph"].as_str().unwrap() {
            "B" => stacks.entry(tid).or_default().push((
                e["name"].as_str().unwrap().into(),
                e["ts"].as_f64().unwrap(),
            )),
            "E" => {
                let (name, ts) = stacks
                    .get_mut(&tid)
                    .and_then(|s| s.pop())
                    .expect("E without B");
                assert_eq!(name, e["name"].as_str().unwrap(), "E closes another slice");
                assert!(e["ts"].as_f64().unwrap() >= ts);
                pairs += 1;
            }
            "M" | "i" => {}
            ph => panic!("unexpected ph {ph}"),
        }
    }
    assert!(stacks.values().all(Vec::is_empty), "unclosed B: {stacks:?}");
    pairs
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn deadlock_trace_has_thread_names_and_closes_what_is_open() {
    let events = [
        ev(0, "t1", Acquired, "lock_a"),
        ev(1_000, "t2", Acquired, "lock_b"),
        ev(3_000, "t1", Blocked, "lock_b"),
        ev(4_000, "t2", Blocked, "lock_a"),
        ev(12_000, "main", Mark, "deadlock"),
    ];
    let evs = parse(&events);
    // t1 holds A from 0 to the end and waits for B from 3 ms: they nest.
    assert_eq!(check_balanced(&evs), 4);
    let thread_names: Vec<&str> = evs
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(thread_names, ["t1", "t2", "main"]);
    let me = std::process::id();
    assert!(evs.iter().all(|e| e["pid"] == me), "the real pid");
    let n = names(&evs);
    assert!(n.contains(&"holds lock_a".into()) && n.contains(&"waits for lock_b".into()));
    let ends: Vec<f64> = evs
        .iter()
        .filter(|e| e["ph"] == "E")
        .map(|e| e["ts"].as_f64().unwrap())
        .collect();
    assert!(
        ends.iter().all(|&t| t == 12_000.0),
        "open slices end at the last event: {ends:?}"
    );
    let mark = evs.iter().find(|e| e["ph"] == "i").unwrap();
    assert_eq!(
        (mark["name"].as_str(), mark["ts"].as_f64()),
        (Some("deadlock"), Some(12_000.0))
    );
}

#[test]
fn overlapping_intervals_spread_over_nesting_tracks() {
    // Holds A 0..6, waits for B 3..10: not nested, so two threads.
    let events = [
        ev(0, "t1", Acquired, "A"),
        ev(3, "t1", Blocked, "B"),
        ev(6, "t1", Released, "A"),
        ev(10, "t1", Acquired, "B"),
        ev(10, "t1", Released, "B"),
        ev(10, "t1", Begin, "zero"),
        ev(10, "t1", End, "zero"),
    ];
    let evs = parse(&events);
    assert_eq!(check_balanced(&evs), 4);
    let thread_names: Vec<&str> = evs
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(thread_names, ["t1", "t1 (2)"]);
}

#[test]
fn nested_spans_stay_on_one_thread() {
    let events = [
        ev(0, "g", Begin, "outer"),
        ev(1, "g", Begin, "inner"),
        ev(2, "g", Acquired, "L"),
        ev(3, "g", Released, "L"),
        ev(4, "g", End, "inner"),
        ev(5, "g", Begin, "unended"),
    ];
    let evs = parse(&events);
    assert_eq!(check_balanced(&evs), 4);
    assert!(evs.iter().filter(|e| e["ph"] != "M").all(|e| e["tid"] == 1));
}

#[test]
fn names_with_quotes_newlines_and_unicode_survive() {
    let weird = "lock \"α\"\n\\ \t\u{1} 锁 🦀";
    let events = [
        ev(0, weird, Acquired, weird),
        ev(1, weird, Mark, weird),
        ev(2, weird, Released, weird),
    ];
    let evs = parse(&events);
    check_balanced(&evs);
    let thread = evs.iter().find(|e| e["name"] == "thread_name").unwrap();
    assert_eq!(thread["args"]["name"], weird);
    assert_eq!(evs.iter().find(|e| e["ph"] == "i").unwrap()["name"], weird);
    assert!(names(&evs).contains(&format!("holds {weird}")));
}

#[test]
fn empty_trace_is_still_valid() {
    let evs = parse(&[]);
    assert!(evs.is_empty());
}

#[test]
fn each_os_process_is_a_perfetto_process_with_its_pid_and_name() {
    let events = [
        ev(0, "main", Begin, "fork"),
        ev(1, "main", End, "fork"),
        ev(2, "main", ProcessName, "child-1").in_process(4242),
        ev(2, "main", Acquired, "lock").in_process(4242),
        ev(5, "main", Released, "lock").in_process(4242),
    ];
    let evs = parse(&events);
    let procs: Vec<(u64, &str)> = evs
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| {
            (
                e["pid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        procs,
        [(u64::from(std::process::id()), "bingfa"), (4242, "child-1")]
    );
    let held = evs.iter().find(|e| e["name"] == "holds lock").unwrap();
    assert_eq!(held["pid"], 4242);
    let threads = evs.iter().filter(|e| e["name"] == "thread_name").count();
    assert_eq!(threads, 2, "a `main` lane in each process");
}

#[test]
fn write_puts_the_json_in_a_file() {
    let path = std::env::temp_dir().join(format!("bingfa-trace-test-{}.json", std::process::id()));
    let events = [ev(0, "t", Mark, "m")];
    chrome::write(&path, &events).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(text, chrome::to_json(&events));
}
