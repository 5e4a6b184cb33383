//! `cargo xtask demo`: the catalogue of lessons (LESSONS.md, which is not
//! part of the repository, kept here as a table) and the runner of their
//! examples.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::{cargo, exit_code, project_root, show, Result};

/// One lesson of the course and the demo that teaches it.
#[derive(Debug)]
pub(crate) struct Lesson {
    /// Its number in LESSONS.md.
    pub n: u8,
    /// The example that runs it (`examples/NAME.rs`).
    pub demo: &'static str,
    /// The arguments that pick this lesson when one example teaches several.
    pub args: &'static str,
    /// What a learner sees happen.
    pub shows: &'static str,
}

const fn l(n: u8, demo: &'static str, args: &'static str, shows: &'static str) -> Lesson {
    Lesson {
        n,
        demo,
        args,
        shows,
    }
}

/// The 25 lessons of LESSONS.md, in order, and the course's next step
/// across hosts (26, bingfa-cluster).
pub(crate) const CATALOGUE: &[Lesson] = &[
    l(
        1,
        "scheduling",
        "",
        "FCFS, SJF, round robin, multilevel feedback: a Gantt chart and waiting times each",
    ),
    l(
        2,
        "states",
        "",
        "a process moving through ready, running and blocked, in a timeline",
    ),
    l(
        3,
        "process",
        "",
        "starting a process from a closure and from a trait object; join; start vs finish order",
    ),
    l(
        4,
        "isolation",
        "",
        "a child changes a global, the parent still sees 100; with threads it changes",
    ),
    l(
        5,
        "lifecycle",
        "",
        "name, pid, ppid, exitcode, is_alive, terminate (exit code -15)",
    ),
    l(
        6,
        "zombie",
        "",
        "a zombie in the process table until reaped; an orphan adopted by init",
    ),
    l(
        7,
        "daemon",
        "",
        "a daemon child dies with its parent; a non-daemon child outlives it",
    ),
    l(
        8,
        "echo",
        "--mode process|thread|green",
        "one TCP echo server three ways, round trips per second each",
    ),
    l(
        9,
        "tickets",
        "",
        "the last ticket oversold without a lock, one buyer with a process lock (--explore)",
    ),
    l(
        10,
        "queue",
        "",
        "put, get, put_nowait, get_nowait and their Full / Empty errors across processes",
    ),
    l(
        11,
        "producer-consumer",
        "",
        "two producers, two consumers: close() loses nothing, the course's daemons lose items",
    ),
    l(
        12,
        "threads",
        "",
        "two ways to start a thread, names, is_alive before and after join",
    ),
    l(
        13,
        "race",
        "",
        "100 threads decrement n = 100: above 0 without a lock, 0 with it (--explore: loom; with --threads N: shuttle)",
    ),
    l(
        14,
        "cpu-vs-io",
        "",
        "CPU and IO tasks: processes, threads, threads under an imitation GIL, green threads",
    ),
    l(
        15,
        "deadlock",
        "",
        "two locks deadlock, detected and reported; the RLock and lock-order fixes",
    ),
    l(
        16,
        "semaphore",
        "",
        "20 threads, 5 places: never more than 5 inside, in the timeline",
    ),
    l(
        17,
        "queues",
        "",
        "the same puts, three orders of gets: FIFO, LIFO, priority",
    ),
    l(
        18,
        "event",
        "",
        "a traffic light and ten cars that wait for green, then all go",
    ),
    l(
        19,
        "pool",
        "",
        "thread and process pools: submit, results, done callbacks, bounded concurrency",
    ),
    l(
        20,
        "generator",
        "",
        "CPU work serial vs switched through yield, both timed",
    ),
    l(
        21,
        "greenlet",
        "",
        "explicit switch passing values, the interleaving step by step",
    ),
    l(
        22,
        "gevent",
        "",
        "sleeping 1, 3 and 5 s in green threads takes 5 s, not 9; no join, nothing runs",
    ),
    l(
        23,
        "echo",
        "--mode green",
        "500 clients on one thread; what one blocking call does to them",
    ),
    l(
        24,
        "async",
        "",
        "two hello tasks with sleep, on the green hub and with async/await, one thread",
    ),
    l(
        25,
        "echo",
        "--mode hybrid",
        "processes x threads x green threads on one port, and the speedup",
    ),
    l(
        26,
        "cluster",
        "",
        "three worker hosts on Redis, one killed mid-run: only its tasks retried, every result once; the ticket race across hosts: no guard and a lease lock oversell, a fencing token does not",
    ),
];

/// How to run a demo, printed by `cargo xtask demo`, `--help` and after a
/// wrong name.
const HELP: &str = "\
cargo xtask demo: run a lesson of the course

USAGE:
    cargo xtask demo NAME [--quick] [--events] [--trace FILE] [--html FILE] [ARGS...]
    cargo xtask demo --list      the lessons, one line each
    cargo xtask demo NAME --help what the demo does and the arguments it takes

    --quick        shorter sleeps and fewer rounds
    --events       list every recorded event under each timeline
    --trace FILE   also write a Chrome trace (open it in https://ui.perfetto.dev)
    --html FILE    also write the timelines and the narration as one HTML page
    race --explore, tickets --explore
                   a model checker (loom) tries every schedule of two threads,
                   replays the one that fails, then checks the locked version
    race --explore --threads N, tickets --explore --buyers N (N from 3 to 8)
                   the same with N threads on a randomized scheduler (shuttle):
                   1000 schedules from a fixed seed, the first failing one replayed

Start here: cargo xtask demo deadlock
";

/// `cargo xtask demo [--list | --help | NAME [ARGS...]]`.
pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    let root = project_root();
    let Some((name, rest)) = args.split_first() else {
        print!("{HELP}\n{}", list(&root));
        return Ok(ExitCode::SUCCESS);
    };
    if name == "--list" || name == "-l" {
        print!("{}", list(&root));
        return Ok(ExitCode::SUCCESS);
    }
    if name == "--help" || name == "-h" || name == "help" {
        print!("{HELP}\n{}", list(&root));
        return Ok(ExitCode::SUCCESS);
    }
    let Some(lesson) = find(name) else {
        match suggest(name) {
            Some(near) => eprintln!(
                "cargo xtask demo: no demo named `{name}`. Did you mean `{near}`?\n\
                 (cargo xtask demo --list shows them all)"
            ),
            None => {
                eprintln!("cargo xtask demo: no demo named `{name}`. The lessons are:\n");
                eprint!("{}", list(&root));
            }
        }
        return Ok(ExitCode::from(2));
    };
    let Some(file) = example_file(&root, lesson.demo) else {
        eprintln!(
            "cargo xtask demo: `{}` (lesson {}) is not written yet: examples/{}.rs does not exist.",
            lesson.demo, lesson.n, lesson.demo
        );
        return Ok(ExitCode::from(2));
    };
    let stem = example_name(&file);
    let rest = match rest.split_first() {
        Some((dashes, tail)) if dashes == "--" => tail,
        _ => rest,
    };
    let mut cmd = cargo(["run", "--release", "-p", "bingfa", "--example", &stem, "--"]);
    cmd.args(rest);
    eprintln!("$ {}", show(&cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
    Ok(ExitCode::from(exit_code(status)))
}

/// The demo whose name is closest to `name`, if one is close enough: within
/// a third of its length in edits, or one that contains `name` (or is
/// contained in it).
pub(crate) fn suggest(name: &str) -> Option<&'static str> {
    let name = name.to_lowercase().replace('_', "-");
    let mut best: Option<(usize, &'static str)> = None;
    for l in CATALOGUE {
        let d = if l.demo.contains(&name) || name.contains(l.demo) {
            0
        } else {
            edit_distance(&name, l.demo)
        };
        if best.is_none_or(|b| d < b.0) {
            best = Some((d, l.demo));
        }
    }
    best.filter(|&(d, demo)| d <= (demo.len().max(name.len()) / 3).max(1))
        .map(|b| b.1)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The lesson whose demo is `name`, with `-` and `_` taken as the same.
pub(crate) fn find(name: &str) -> Option<&'static Lesson> {
    let norm = |s: &str| s.replace('_', "-");
    CATALOGUE.iter().find(|l| norm(l.demo) == norm(name))
}

/// The file of demo `demo` if it is written: `examples/NAME.rs`,
/// `examples/NAME_WITH_UNDERSCORES.rs` or `examples/NAME/main.rs`.
pub(crate) fn example_file(root: &Path, demo: &str) -> Option<PathBuf> {
    let ex = root.join("examples");
    let under = demo.replace('-', "_");
    [
        ex.join(format!("{demo}.rs")),
        ex.join(format!("{under}.rs")),
        ex.join(demo).join("main.rs"),
        ex.join(&under).join("main.rs"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The example name cargo gives a file: its stem, or its directory's name
/// for `NAME/main.rs`.
fn example_name(file: &Path) -> String {
    let path = if file.file_name().is_some_and(|f| f == "main.rs") {
        file.parent().unwrap()
    } else {
        file
    };
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The catalogue, one line per lesson, marking those not written yet.
pub(crate) fn list(root: &Path) -> String {
    let cmd = |l: &Lesson| {
        if l.args.is_empty() {
            l.demo.to_string()
        } else {
            format!("{} {}", l.demo, l.args)
        }
    };
    let w = CATALOGUE.iter().map(|l| cmd(l).len()).max().unwrap_or(0);
    let mut out = String::from("Lessons of the course (cargo xtask demo NAME [ARGS...]):\n");
    for l in CATALOGUE {
        let missing = if example_file(root, l.demo).is_none() {
            "  (not yet written)"
        } else {
            ""
        };
        out += &format!("{:>3}  {:<w$}  {}{missing}\n", l.n, cmd(l), l.shows);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_the_26_lessons_in_order() {
        assert_eq!(CATALOGUE.len(), 26);
        assert!(CATALOGUE
            .iter()
            .enumerate()
            .all(|(i, l)| l.n as usize == i + 1));
        assert_eq!(find("deadlock").unwrap().n, 15);
        assert_eq!(find("producer_consumer").unwrap().n, 11);
        assert_eq!(find("echo").unwrap().n, 8);
        assert!(find("nope").is_none());
    }

    #[test]
    fn list_marks_what_is_not_written() {
        let dir = std::env::temp_dir().join(format!("xtask-demo-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("examples")).unwrap();
        std::fs::write(dir.join("examples/producer_consumer.rs"), "fn main() {}").unwrap();
        let text = list(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(text.lines().count(), 27);
        assert_eq!(text.matches("(not yet written)").count(), 25);
        let line = text
            .lines()
            .find(|l| l.contains("producer-consumer"))
            .unwrap();
        assert!(!line.contains("not yet written"), "{line}");
        assert!(
            text.contains(" 8  echo --mode process|thread|green"),
            "{text}"
        );
        assert!(text.contains("15  deadlock "), "{text}");
    }

    #[test]
    fn a_wrong_name_gets_the_nearest_demo() {
        assert_eq!(suggest("deadlok"), Some("deadlock"));
        assert_eq!(suggest("Deadlock"), Some("deadlock"));
        assert_eq!(suggest("producer"), Some("producer-consumer"));
        assert_eq!(suggest("cpu_vs_io"), Some("cpu-vs-io"));
        assert_eq!(suggest("greenlets"), Some("greenlet"));
        assert_eq!(suggest("semafore"), Some("semaphore"));
        assert_eq!(suggest("kubernetes"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn example_names_follow_cargo() {
        assert_eq!(
            example_name(Path::new("/r/examples/producer_consumer.rs")),
            "producer_consumer"
        );
        assert_eq!(example_name(Path::new("/r/examples/echo/main.rs")), "echo");
    }

    /// Policy: every example in `examples/` is a lesson of the catalogue.
    #[test]
    fn every_example_is_in_the_catalogue() {
        let dir = project_root().join("examples");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return; // no examples/ at all: nothing to check
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = if path.is_dir() {
                if !path.join("main.rs").is_file() {
                    continue; // shared code for the examples, not an example
                }
                path.file_name().unwrap().to_string_lossy().into_owned()
            } else if path.extension().is_some_and(|e| e == "rs") {
                path.file_stem().unwrap().to_string_lossy().into_owned()
            } else {
                continue;
            };
            assert!(
                find(&name).is_some(),
                "examples/{name} is not in the catalogue of xtask/src/demo.rs: add its lesson \
                 there (and to LESSONS.md), then check with `cargo xtask demo --list`"
            );
        }
    }
}
