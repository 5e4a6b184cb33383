//! Sales with buyer processes, threads and green threads, guarded at every
//! level, with buyer processes killed at random.

use std::path::PathBuf;
use std::time::Duration;

use bingfa_tickets::{FileStore, Guard, Mix, Outcome, Sale, TicketStore};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bingfa-tickets-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn mix_names_follow_the_levels() {
    let m = Mix {
        processes: 2,
        threads: 2,
        green: 2,
    };
    assert_eq!(m.buyers(), 8);
    let names = m.names();
    assert_eq!(names[0], "p0-t0-g0");
    assert_eq!(names[7], "p1-t1-g1");
    let only_threads = Mix {
        processes: 0,
        threads: 3,
        green: 0,
    };
    assert_eq!(only_threads.names(), ["buyer-0", "buyer-1", "buyer-2"]);
    let only_processes = Mix {
        processes: 2,
        threads: 0,
        green: 0,
    };
    assert_eq!(only_processes.names(), ["p0", "p1"]);
    let only_green = Mix {
        processes: 0,
        threads: 0,
        green: 2,
    };
    assert_eq!(only_green.names(), ["g0", "g1"]);
}

#[test]
fn the_courses_ten_processes_with_a_process_lock_sell_one_ticket() {
    let dir = temp_dir("ten-processes");
    let report = Sale::new(dir.join("data.json"))
        .tickets(1)
        .mix(10, 0, 0)
        .think(Duration::from_millis(5))
        .guard(Guard::ProcessLock)
        .run()
        .unwrap();
    assert_eq!(report.buyers(), 10);
    assert_eq!(report.sold(), 1, "{report}");
    assert_eq!(report.remaining, 0);
    report.check().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn file_lock_guards_processes_and_threads() {
    let dir = temp_dir("file-lock-mix");
    let report = Sale::new(dir.join("data.json"))
        .tickets(4)
        .mix(3, 3, 0)
        .think(Duration::from_micros(500))
        .guard(Guard::FileLock)
        .run()
        .unwrap();
    assert_eq!(report.buyers(), 9);
    assert_eq!(report.sold(), 4, "{report}");
    report.check().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn green_lock_guards_green_buyers_of_one_hub() {
    let dir = temp_dir("green");
    let report = Sale::new(dir.join("data.json"))
        .tickets(3)
        .mix(0, 0, 20)
        .think(Duration::from_millis(1))
        .guard(Guard::GreenLock)
        .run()
        .unwrap();
    assert_eq!(report.buyers(), 20);
    assert_eq!(report.sold(), 3, "{report}");
    report.check().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unguarded_green_buyers_report_consistently() {
    // Green threads switch inside buy's think time, so the race is there too;
    // whether this run oversells is up to timing, the report must add up.
    let dir = temp_dir("green-unguarded");
    let report = Sale::new(dir.join("data.json"))
        .tickets(1)
        .mix(0, 0, 10)
        .think(Duration::from_millis(2))
        .guard(Guard::Unguarded)
        .run()
        .unwrap();
    assert_eq!(report.taken(), 1);
    assert_eq!(report.oversold(), report.sold() - 1, "{report}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_thousand_buyers_across_processes_threads_and_green_threads_sell_exactly_ten() {
    let dir = temp_dir("thousand");
    let report = Sale::new(dir.join("data.json"))
        .tickets(10)
        .mix(10, 4, 25)
        .think(Duration::from_micros(100))
        .guard(Guard::ProcessLock)
        .watch_store(true)
        .run()
        .unwrap();
    assert_eq!(report.buyers(), 1000);
    assert_eq!(report.sold(), 10, "{report}");
    assert_eq!(report.remaining, 0);
    assert_eq!(report.failed(), 0, "{report}");
    assert!(report.store_reads.0 > 0, "the watcher read the store");
    assert_eq!(report.store_reads.1, 0, "never a corrupt read");
    report.check().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn buyers_killed_at_random_break_nothing() {
    let dir = temp_dir("killed");
    let path = dir.join("data.json");
    let report = Sale::new(&path)
        .tickets(10)
        .mix(20, 2, 5)
        .think(Duration::from_millis(2))
        .guard(Guard::ProcessLock)
        .kill_random(5)
        .watch_store(true)
        .run()
        .unwrap();
    assert_eq!(report.buyers(), 200);
    assert!(report.killed >= 1, "{report}");
    // Survivors keep buying through the robust lock until the store is empty.
    assert_eq!(report.remaining, 0, "{report}");
    assert_eq!(report.oversold(), 0, "{report}");
    assert_eq!(report.store_reads.1, 0, "never a corrupt read");
    report.check().unwrap();
    for (name, outcome) in &report.outcomes {
        if let Outcome::Failed(why) = outcome {
            assert!(why.contains("Signal(9)"), "{name}: {why}");
        }
    }
    // The store is valid JSON at the end, and no temporary file is left.
    assert_eq!(FileStore::open(&path).read().unwrap(), 0);
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
    std::fs::remove_dir_all(&dir).ok();
}
