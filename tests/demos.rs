//! Smoke tests of the demos: each runs in `--quick` mode and must show what
//! LESSONS.md says it shows.
//!
//! The examples live next to this test's binary
//! (`target/<profile>/examples/NAME`); the first test builds them (a no-op
//! when `cargo test` already did).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/demos-HASH -> target/<profile>/examples/NAME
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    // Build the examples once per run, so that a filtered `cargo test --test
    // demos` never runs a stale demo (a no-op when they are up to date).
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "bingfa", "--examples"]);
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build --examples");
        assert!(status.success(), "cargo build --examples failed");
    });
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "example binary {} not found", path.display());
    path
}

/// Demos time what they show (sleeps overlapping, CPU shared, processes
/// scheduled on one core): they run one at a time, as a learner runs them,
/// not all at once on a small machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs a demo with `--quick` and a Chrome trace; returns its stdout after
/// checking it exited 0 and wrote a trace that parses as JSON.
fn run(name: &str, extra: &[&str]) -> String {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let trace =
        std::env::temp_dir().join(format!("bingfa-demo-{name}-{}.json", std::process::id()));
    let out = Command::new(example(name))
        .arg("--quick")
        .arg("--trace")
        .arg(&trace)
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "demo {name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let json = std::fs::read_to_string(&trace).expect("the demo wrote its trace");
    std::fs::remove_file(&trace).ok();
    assert!(
        json.trim_start().starts_with('[') || json.trim_start().starts_with('{'),
        "trace of {name} is not JSON"
    );
    assert!(json.contains("\"ph\""), "trace of {name} has no events");
    stdout
}

#[test]
fn deadlock_is_reported_then_both_fixes_finish() {
    let out = run("deadlock", &[]);
    assert!(
        out.contains("DEADLOCK: 2 threads wait for each other in a cycle"),
        "{out}"
    );
    assert!(
        out.contains("\"mutex_a\"") && out.contains("\"mutex_b\""),
        "{out}"
    );
    assert!(
        out.contains("examples/deadlock.rs:"),
        "source lines missing:\n{out}"
    );
    assert!(
        out.contains("POTENTIAL DEADLOCK (lock order inversion)"),
        "{out}"
    );
    assert_eq!(
        out.matches("All ten threads finished").count(),
        2,
        "both fixes must finish:\n{out}"
    );
    assert!(
        out.contains("both fixes ran to the end with no report"),
        "{out}"
    );
}

#[test]
fn race_loses_updates_without_the_lock_and_none_with_it() {
    let out = run("race", &["--threads", "50"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("Result:"))
        .expect("result line");
    assert!(line.ends_with("with the lock n = 0."), "{line}");
    assert!(!line.contains("without a lock n = 0;"), "{line}");
}

#[test]
fn semaphore_never_lets_more_than_five_in() {
    let out = run("semaphore", &[]);
    assert!(
        out.contains("Result: at most 5 of 20 threads inside at once (limit 5)."),
        "{out}"
    );
}

#[test]
fn event_cars_wait_for_the_green_light() {
    let out = run("event", &[]);
    assert!(
        out.contains("Result: 10 of 10 cars waited for the green light; 0 jumped it."),
        "{out}"
    );
    assert!(out.contains("green light"), "{out}");
}

#[test]
fn threads_have_names_and_liveness() {
    let out = run("threads", &[]);
    assert!(
        out.contains(
            "Result: name \"Thread-1\", alive after start = true, alive after join = false."
        ),
        "{out}"
    );
    assert!(
        out.contains("MyThread-1") && out.contains("MyThread-2"),
        "{out}"
    );
}

#[test]
fn scheduling_compares_four_policies() {
    let out = run("scheduling", &[]);
    // FCFS and SJF averages for the demo's job set, worked out by hand:
    // FCFS waits 0, 7, 10, 18, 22 (11.4); SJF waits 0, 9, 17, 11, 4 (8.2).
    assert!(
        out.contains("Result: average waiting time: FCFS 11.4, SJF 8.2, RR q=2 "),
        "{out}"
    );
    assert!(
        out.contains("Gantt: |P1 0-8|P2 8-12|P3 12-21|P4 21-26|P5 26-28|"),
        "{out}"
    );
    assert!(
        out.contains("Gantt: |P1 0-8|P5 8-10|P2 10-14|P4 14-19|P3 19-28|"),
        "{out}"
    );
    assert_eq!(
        out.matches("timeline: ").count(),
        4,
        "a Gantt chart per policy"
    );
}

#[test]
fn queues_give_three_orders() {
    let out = run("queues", &[]);
    assert!(
        out.contains(
            "Result: FIFO [1, 2, 3], LIFO [3, 2, 1], priority [(2, \"你\"), (3, \"ta\"), (4, \"我\")]."
        ),
        "{out}"
    );
    assert!(out.contains("-> Full, and we get \"c\" back"), "{out}");
    assert!(out.contains("try_get() -> Empty"), "{out}");
}

#[test]
fn producer_consumer_loses_nothing() {
    let out = run("producer-consumer", &[]);
    for how in ["processes", "threads"] {
        assert!(
            out.contains(&format!(
                "Result ({how}): made 20, eaten 20, lost 0, eaten twice 0."
            )),
            "{out}"
        );
    }
}

#[test]
fn pool_runs_callbacks_and_bounds_concurrency() {
    let out = run("pool", &[]);
    assert!(
        out.contains(
            "Result: 5 of 5 callbacks ran; results [123, 123, 123, 123, 123]; at most 3 of 3 workers busy at once."
        ),
        "{out}"
    );
    assert!(out.contains("in input order"), "{out}");
    assert!(
        out.contains("Result: process pool squares [1, 4, 9, 16, 25, 36]; killed worker failed only its task = true; pool went on = true."),
        "{out}"
    );
}

#[test]
fn process_starts_children_two_ways_and_joins() {
    let out = run("process", &[]);
    assert!(out.contains("Result: finish order B, C, A."), "{out}");
    assert!(out.contains("[neo, pid"), "the spawned child ran:\n{out}");
    assert!(out.contains("[MyProcess, pid"), "{out}");
    assert_eq!(out.matches("join() returned Code(0)").count(), 2, "{out}");
}

#[test]
fn isolation_processes_copy_threads_share() {
    let out = run("isolation", &[]);
    assert!(
        out.contains("Result: after the child process x = 100; after the thread x = 200; shared Value = 200."),
        "{out}"
    );
}

#[test]
fn lifecycle_exit_codes_follow_python() {
    let out = run("lifecycle", &[]);
    assert!(
        out.contains("Result: alive before terminate = true, after = false; exitcodes: terminated -15, normal 0, panicked 1, killed -9."),
        "{out}"
    );
    assert!(
        out.contains("panic message: \"the ticket file is gone"),
        "{out}"
    );
}

#[test]
fn zombie_and_orphan_are_shown_and_bingfa_leaves_none() {
    let out = run("zombie", &[]);
    assert!(out.contains("state Z: ZOMBIE"), "{out}");
    assert!(
        out.contains("Result: zombie seen = true, gone after waitpid = true; orphan adopted = true; bingfa reaped = true, zombies left = 0."),
        "{out}"
    );
}

#[test]
fn daemon_dies_with_its_parent_normal_child_does_not() {
    let out = run("daemon", &[]);
    assert!(
        out.contains(
            "Result: daemon ended with its parent = true; normal child outlived its parent = true."
        ),
        "{out}"
    );
}

#[test]
fn queue_between_processes_shows_every_call() {
    let out = run("queue", &[]);
    assert!(
        out.contains("Result: got [1, 2, 3, 4, 5]; full=true, put_nowait=Full, get_nowait=Empty, empty=true, get_timeout=Timeout."),
        "{out}"
    );
    assert!(out.contains("process 2: got \"hello 你好\""), "{out}");
}

#[test]
fn generator_switching_costs_time_on_cpu_work() {
    let out = run("generator", &[]);
    assert!(out.contains("Result: serial "), "{out}");
    assert!(out.contains("through yield"), "{out}");
    assert_eq!(out.matches("    func1\n").count(), 3, "{out}");
}

#[test]
fn greenlet_interleaving_is_the_courses() {
    let out = run("greenlet", &[]);
    assert!(
        out.contains(
            "Result: eat/play order: rose eat 1 | jack play 1 | rose eat 2 | jack play 2."
        ),
        "{out}"
    );
    assert!(
        out.contains("Result: producer/consumer steps: 13."),
        "{out}"
    );
}

#[test]
fn gevent_sleeps_overlap_and_blocking_ones_do_not() {
    let out = run("gevent", &[]);
    let line = out
        .lines()
        .find(|l| l.starts_with("Result: green "))
        .expect("result line");
    assert!(
        line.ends_with("eat/play order egon eat 1 | egon play 1 | egon play 2 | egon eat 2."),
        "{line}"
    );
    assert!(out.contains("g1.value = \"eat's return value\""), "{out}");
    assert!(out.contains("and no join: 0 line(s) printed"), "{out}");
    // The OS thread named is the one that ran them (this demo's main).
    assert!(out.contains("\n  main egon eat 1\n"), "{out}");
    assert!(!out.contains("MainThread egon"), "{out}");
}

#[test]
fn async_hellos_share_one_thread() {
    let out = run("async", &[]);
    assert!(out.contains("Result: one thread = true;"), "{out}");
}

#[test]
fn tickets_oversell_without_a_lock_and_sell_one_with_it() {
    let out = run("tickets", &[]);
    let line = out
        .lines()
        .find(|l| l.starts_with("Result: no lock oversold "))
        .expect("result line");
    assert!(!line.starts_with("Result: no lock oversold 0;"), "{line}");
    assert!(line.contains("process lock sold 1 of 1;"), "{line}");
    assert!(
        line.ends_with("1000 buyers sold 10 of 10, check ok."),
        "{line}"
    );
    assert!(out.contains("OVERSOLD:"), "{out}");
}

#[test]
fn cpu_vs_io_times_every_way() {
    let out = run("cpu-vs-io", &[]);
    assert!(out.contains("Result: CPU speed-up processes "), "{out}");
    assert!(out.contains("100 green threads:"), "{out}");
}

#[test]
fn states_shows_running_ready_and_blocked() {
    let out = run("states", &[]);
    assert!(
        out.contains(
            "Result: worker states seen: running, ready, blocked; async submit returned before the task ran = true."
        ),
        "{out}"
    );
}

#[test]
fn echo_serves_every_mode_without_errors() {
    let out = run("echo", &["--clients", "20", "--seconds", "0.2"]);
    assert!(
        out.contains(
            "Result: served thread, process, green, hybrid, green, blocking with 0 errors."
        ),
        "{out}"
    );
    assert!(out.contains("round trips/s"), "{out}");
}
