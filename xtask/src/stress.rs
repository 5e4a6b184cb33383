//! `cargo xtask stress`: run the test binaries of the concurrency crates many
//! times, under three kinds of scheduling, and report every failure with
//! what is needed to rerun it.
//!
//! A timing-sensitive test that fails once in 50 runs is a bug, not noise
//! (the project's brief). One `cargo test` shows none of that; this does:
//!
//! - **rounds**: each test binary runs `N` times (`--rounds N`, default 10);
//! - **modes**: round `i` runs in mode `i % 3`: `plain`; `pinned` (the whole
//!   binary on one CPU, `taskset -c 0`, where wake-ups and preemption
//!   interleave differently); `hog` (one spinning thread per CPU beside the
//!   tests, so they are descheduled at odd points);
//! - **hangs**: a binary that runs longer than `--timeout SECS` (default
//!   300) is killed with its whole process group, and the tests that had
//!   started but not finished are named, with every process of the group,
//!   its kernel wait channel and (when `gdb` is installed) each thread's
//!   stack, taken just before the kill;
//! - **seeds**: every run gets `BINGFA_STRESS_SEED` (a test that draws
//!   random choices may seed from it) and `BINGFA_STRESS=1`; a failure is
//!   printed with its round, mode, seed and the command that reruns it.
//!
//! It builds with `cargo test --no-run` (the same profile as `cargo test`,
//! so after `cargo test` nothing is rebuilt) and runs the binaries itself
//! with libtest's JSON output (`RUSTC_BOOTSTRAP=1 ... --format json
//! -Z unstable-options`), which says when each test starts.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::json::Json;
use crate::{cargo, crates, show, Result};

/// How the binaries of one round are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// As `cargo test` runs them.
    Plain,
    /// The binary and every thread and child of it on CPU 0.
    Pinned,
    /// One busy thread per CPU spinning beside the tests.
    Hog,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Plain, Mode::Pinned, Mode::Hog];

    /// The mode of round `round` (0-based).
    pub(crate) fn of_round(round: u32) -> Mode {
        Mode::ALL[round as usize % Mode::ALL.len()]
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Pinned => "pinned",
            Mode::Hog => "hog",
        }
    }
}

/// The options of one `cargo xtask stress` call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    /// Packages to stress (empty: every crate under `crates/` and the facade `bingfa`).
    pub crates: Vec<String>,
    /// Runs of each binary.
    pub rounds: u32,
    /// Time one run of a binary may take before it counts as hung.
    pub timeout: Duration,
    /// Passed to each test binary as its name filter.
    pub filter: Option<String>,
    /// Build and run with `--release`.
    pub release: bool,
}

pub(crate) const USAGE: &str = "\
usage: cargo xtask stress [CRATE...] [N] [--rounds N] [--timeout SECS] [--filter NAME] [--release]
  runs every test binary of CRATE (default: every crate under crates/ and the facade, bingfa) N times (default 10),
  round i in mode i%3: plain, pinned to one CPU (taskset -c 0), beside a CPU hog;
  a run longer than --timeout (default 300 s) is killed and its unfinished tests named";

/// Reads the command line after `stress`.
pub(crate) fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        crates: Vec::new(),
        rounds: 10,
        timeout: Duration::from_secs(300),
        filter: None,
        release: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--rounds" | "-n" => o.rounds = number(&value(a)?)?,
            "--timeout" => o.timeout = Duration::from_secs(number(&value(a)?)?.into()),
            "--filter" => o.filter = Some(value(a)?),
            "--release" => o.release = true,
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag `{flag}`\n{USAGE}")),
            n if n.bytes().all(|b| b.is_ascii_digit()) => o.rounds = number(n)?,
            krate => o.crates.push(krate.to_string()),
        }
    }
    if o.rounds == 0 {
        return Err(format!("the number of rounds must be at least 1\n{USAGE}"));
    }
    Ok(o)
}

fn number(s: &str) -> Result<u32> {
    s.parse()
        .map_err(|_| format!("`{s}` is not a whole number\n{USAGE}"))
}

/// A test executable cargo built.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Binary {
    pub package: String,
    /// The target's name (`lib` for unit tests, else the test file's name).
    pub target: String,
    pub path: PathBuf,
    /// The package's directory, where `cargo test` runs the binary.
    pub dir: PathBuf,
}

/// The test executables in cargo's `--message-format=json` output (also
/// `json-render-diagnostics`, which prints the compiler's errors as text
/// on standard error, so that a failed build shows them).
pub(crate) fn parse_artifacts(output: &str) -> Vec<Binary> {
    let mut out = Vec::new();
    for line in output.lines().filter(|l| l.starts_with('{')) {
        let Ok(msg) = Json::parse(line) else { continue };
        if msg.get("reason").and_then(Json::str) != Some("compiler-artifact")
            || msg.at(&["profile", "test"]) != Some(&Json::Bool(true))
        {
            continue;
        }
        let (Some(path), Some(manifest), Some(id)) = (
            msg.get("executable").and_then(Json::str),
            msg.get("manifest_path").and_then(Json::str),
            msg.get("package_id").and_then(Json::str),
        ) else {
            continue;
        };
        let kinds: Vec<&str> = match msg.at(&["target", "kind"]) {
            Some(Json::Arr(k)) => k.iter().filter_map(Json::str).collect(),
            _ => Vec::new(),
        };
        let target = if kinds.contains(&"test") {
            msg.at(&["target", "name"])
                .and_then(Json::str)
                .unwrap_or("?")
                .to_string()
        } else {
            "lib".to_string()
        };
        out.push(Binary {
            package: package_name(id),
            target,
            path: PathBuf::from(path),
            dir: Path::new(manifest)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        });
    }
    out
}

/// The package name in a package id: `path+file:///w/crates/bingfa-sync#0.1.0`
/// (or `...#name@0.1.0` when the directory differs from the name).
fn package_name(id: &str) -> String {
    let tail = id.rsplit('/').next().unwrap_or(id);
    match tail.split_once('#') {
        Some((dir, rest)) => match rest.split_once('@') {
            Some((name, _)) => name.to_string(),
            None => dir.to_string(),
        },
        None => tail.split(' ').next().unwrap_or(tail).to_string(),
    }
}

/// What libtest's JSON said about one run.
#[derive(Debug, Default)]
pub(crate) struct RunLog {
    pub started: BTreeSet<String>,
    pub finished: BTreeSet<String>,
    /// Failed tests with what they printed.
    pub failed: Vec<(String, String)>,
    pub passed: u64,
    /// Lines that were not libtest JSON (a test's own prints when it does
    /// not capture, a crash message), kept for the report.
    pub other: Vec<String>,
    /// The start of a JSON event that another process's write cut in two
    /// (see [`RunLog::line`]), waiting for its rest.
    cut: String,
}

/// The most of a cut event kept while waiting for its rest.
const CUT_MAX: usize = 1 << 20;

impl RunLog {
    /// Takes one line of a test binary's standard output.
    ///
    /// The children a test starts write to the same pipe: a spawned
    /// `bingfa-process` child runs the test binary's own harness, whose
    /// human-readable lines (`running 1 test`, `test result: ...`) land
    /// between libtest's JSON events. An event longer than the pipe's
    /// atomic write (4 KiB: a failure with its captured output) can be cut
    /// by such a line. So a line that starts an event but does not parse is
    /// kept, and the lines after it are tried as its rest; a line that
    /// does not complete it is a child's (and reported as such) unless it
    /// starts with neither `{` nor a harness word, when it is taken as a
    /// middle piece of the event.
    pub(crate) fn line(&mut self, line: &str) {
        if !self.cut.is_empty() {
            let joined = format!("{}{line}", self.cut);
            if let Ok(ev) = Json::parse(&joined) {
                self.cut.clear();
                return self.event(&ev);
            }
            if !line.starts_with('{') && !is_harness_line(line) {
                if joined.len() <= CUT_MAX {
                    self.cut = joined;
                } else {
                    // Too long to wait for: both go to the report as text.
                    self.end();
                    self.other_line(line);
                }
                return;
            }
        }
        if line.starts_with('{') {
            match Json::parse(line) {
                Ok(ev) => return self.event(&ev),
                Err(_) if self.cut.is_empty() && line.len() <= CUT_MAX => {
                    self.cut = line.to_string();
                    return;
                }
                Err(_) => {}
            }
        }
        self.other_line(line);
    }

    fn other_line(&mut self, line: &str) {
        if !line.trim().is_empty() && self.other.len() < 200 {
            self.other.push(line.to_string());
        }
    }

    /// Ends the output: a cut event whose rest never came is reported as
    /// the text it is.
    pub(crate) fn end(&mut self) {
        let cut = std::mem::take(&mut self.cut);
        if !cut.is_empty() {
            self.other_line(&cut);
        }
    }

    fn event(&mut self, ev: &Json) {
        if ev.get("type").and_then(Json::str) != Some("test") {
            return;
        }
        let name = ev
            .get("name")
            .and_then(Json::str)
            .unwrap_or("?")
            .to_string();
        match ev.get("event").and_then(Json::str) {
            Some("started") => {
                self.started.insert(name);
            }
            Some("ok") => {
                self.passed += 1;
                self.finished.insert(name);
            }
            Some("failed") | Some("timeout") => {
                let out = ev
                    .get("stdout")
                    .and_then(Json::str)
                    .unwrap_or("")
                    .to_string();
                self.failed.push((name.clone(), out));
                self.finished.insert(name);
            }
            Some(_) => {
                self.finished.insert(name);
            }
            None => {}
        }
    }

    /// Tests that started and never finished.
    pub(crate) fn unfinished(&self) -> Vec<&str> {
        self.started
            .difference(&self.finished)
            .map(String::as_str)
            .collect()
    }
}

/// A line libtest's human format writes (what a spawned child's harness
/// prints), or an empty one.
fn is_harness_line(line: &str) -> bool {
    let l = line.trim();
    l.is_empty()
        || l.chars().all(|c| c == '.')
        || [
            "running ",
            "test result: ",
            "test ",
            "successes:",
            "failures:",
        ]
        .iter()
        .any(|p| l.starts_with(p))
}

/// One failed run, for the report.
struct Failure {
    binary: Binary,
    round: u32,
    mode: Mode,
    seed: u64,
    what: String,
    rerun: String,
}

/// The seed of one run: different for every round and binary, the same
/// for the same round and binary in every call.
fn seed(round: u32, bin: &Binary) -> u64 {
    // FNV-1a over the names and the round.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bin
        .package
        .bytes()
        .chain(bin.target.bytes())
        .chain(round.to_le_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Spinning threads, one per CPU, until dropped.
struct Hog {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Hog {
    fn start() -> Hog {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                        }
                    }
                })
            })
            .collect();
        Hog { stop, threads }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn have_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The command that runs `bin` once in `mode`.
fn command(bin: &Binary, mode: Mode, seed: u64, filter: Option<&str>, pin: bool) -> Command {
    let mut cmd = if mode == Mode::Pinned && pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&bin.path);
        c
    } else {
        Command::new(&bin.path)
    };
    cmd.args(["--format", "json", "-Z", "unstable-options"]);
    if let Some(f) = filter {
        cmd.arg(f);
    }
    if std::env::var_os("RUSTC_BOOTSTRAP").is_none() {
        // Only libtest needs it (for `--format json`). Cargo fingerprints
        // it: a test that runs cargo itself (the facade's demo tests build
        // the examples) would rebuild them, and the next plain build would
        // rebuild them back. This tells such a test to leave it out.
        cmd.env("BINGFA_STRESS_ADDED_RUSTC_BOOTSTRAP", "1");
    }
    cmd.current_dir(&bin.dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("BINGFA_STRESS", "1")
        .env("BINGFA_STRESS_SEED", seed.to_string())
        .env("CARGO_MANIFEST_DIR", &bin.dir)
        .env("CARGO_PKG_NAME", &bin.package)
        .env("RUST_BACKTRACE", "1");
    cmd
}

/// Runs one binary once; `Some(what)` when it failed.
fn run_once(cmd: &mut Command, timeout: Duration) -> Result<Option<String>> {
    use std::os::unix::process::CommandExt;
    // A group of its own, so a hang is ended with every child it forked.
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not run `{}`: {e}", show(cmd)))?;
    let log = Arc::new(Mutex::new(RunLog::default()));
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                log.lock().unwrap().line(&line);
            }
            log.lock().unwrap().end();
        })
    };
    let err_reader = std::thread::spawn(move || {
        let mut tail: Vec<String> = Vec::new();
        for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
            tail.push(line);
            if tail.len() > 40 {
                tail.remove(0);
            }
        }
        tail
    });
    let start = Instant::now();
    let mut hang_report = String::new();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(st);
        }
        if start.elapsed() > timeout {
            // Before ending it, say where every process of the group waits.
            hang_report = stacks_of_group(child.id());
            // The whole group: the binary and whatever it forked.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // A grandchild that kept the pipes open must not stall the report.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr_tail = if err_reader.is_finished() {
        err_reader.join().unwrap_or_default()
    } else {
        Vec::new()
    };
    let log = log.lock().unwrap();
    let mut what = String::new();
    match status {
        None => {
            what += &format!(
                "HUNG: still running after {} s; unfinished tests: {}\n",
                timeout.as_secs(),
                join_or(&log.unfinished(), "(none had started)")
            );
            what += &hang_report;
        }
        Some(st) if !st.success() && log.failed.is_empty() => {
            what += &format!(
                "CRASHED ({}); tests running at the time: {}\n",
                describe(st),
                join_or(&log.unfinished(), "(none)")
            );
        }
        _ => {}
    }
    for (name, out) in &log.failed {
        what += &format!("FAILED: {name}\n");
        what += &head_and_tail(out, 20, 20, "    ");
    }
    if what.is_empty() {
        return Ok(None);
    }
    if status.is_none_or(|s| !s.success()) && log.failed.is_empty() {
        for l in log.other.iter().rev().take(20).rev() {
            what += &format!("    | {l}\n");
        }
        for l in &stderr_tail {
            what += &format!("    ! {l}\n");
        }
    }
    Ok(Some(what))
}

/// `text`'s first `head` and last `tail` lines, each after `indent`, with
/// one line saying how many were left out between them: a failure's
/// message comes first and its cause (the end of a demo's output, a
/// backtrace's last frames) often last.
fn head_and_tail(text: &str, head: usize, tail: usize, indent: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    if lines.len() <= head + tail {
        for l in &lines {
            out += &format!("{indent}{l}\n");
        }
        return out;
    }
    for l in &lines[..head] {
        out += &format!("{indent}{l}\n");
    }
    out += &format!(
        "{indent}[... {} lines left out ...]\n",
        lines.len() - head - tail
    );
    for l in &lines[lines.len() - tail..] {
        out += &format!("{indent}{l}\n");
    }
    out
}

fn join_or(names: &[&str], empty: &str) -> String {
    if names.is_empty() {
        empty.to_string()
    } else {
        names.join(", ")
    }
}

fn describe(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "unknown status".into(),
    }
}

/// The facade package, at the workspace's root (not under crates/).
const FACADE: &str = "bingfa";

/// Builds the test binaries of `opts.crates` (all: every crate and the
/// facade).
fn build(opts: &Options) -> Result<Vec<Binary>> {
    // Every crate under crates/, and the facade at the root, whose tests run
    // the demos a learner runs.
    let mut known: Vec<String> = crates()?.into_iter().map(|(n, _)| n).collect();
    known.push(FACADE.to_string());
    let chosen: Vec<String> = if opts.crates.is_empty() {
        known
    } else {
        for c in &opts.crates {
            if !known.contains(c) {
                return Err(format!(
                    "no crate `{c}` in the workspace (there are: {})",
                    known.join(", ")
                ));
            }
        }
        opts.crates.clone()
    };
    let mut cmd = cargo([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    if opts.release {
        cmd.arg("--release");
    }
    if opts.crates.is_empty() {
        // The same packages as `cargo test --workspace`, so the same feature
        // set: after it nothing is rebuilt.
        cmd.arg("--workspace");
    } else {
        for c in &chosen {
            cmd.args(["-p", c]);
        }
    }
    cmd.args(["--lib", "--tests"]);
    eprintln!("$ {}", show(&cmd));
    test_binaries(&mut cmd, &chosen)
}

/// Runs `cmd`, a `cargo test --no-run --message-format=json...`, and returns
/// the test executables it built for the packages in `chosen`.
pub(crate) fn test_binaries(cmd: &mut Command, chosen: &[String]) -> Result<Vec<Binary>> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run `{}`: {e}", show(cmd)))?;
    if !out.status.success() {
        return Err(format!("`{}` failed: its errors are above", show(cmd)));
    }
    let bins: Vec<Binary> = parse_artifacts(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .filter(|b| chosen.contains(&b.package))
        .collect();
    if bins.is_empty() {
        return Err(format!("`{}` built no test binary", show(cmd)));
    }
    Ok(bins)
}

/// `cargo xtask stress ...`.
pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    let opts = parse_args(args)?;
    let bins = build(&opts)?;
    let pin = have_taskset();
    if !pin {
        eprintln!("stress: `taskset` not found (util-linux): the pinned rounds run unpinned");
    }
    println!(
        "stress: {} test binaries x {} rounds (modes plain, pinned, hog in turn), timeout {} s a run",
        bins.len(),
        opts.rounds,
        opts.timeout.as_secs()
    );
    let started = Instant::now();
    let mut failures: Vec<Failure> = Vec::new();
    let mut runs = 0u64;
    for round in 0..opts.rounds {
        let mode = Mode::of_round(round);
        let round_start = Instant::now();
        let _hog = (mode == Mode::Hog).then(Hog::start);
        let mut failed_now = 0;
        for bin in &bins {
            let seed = seed(round, bin);
            let mut cmd = command(bin, mode, seed, opts.filter.as_deref(), pin);
            let rerun = format!(
                "cd {} && BINGFA_STRESS_SEED={seed} {}",
                bin.dir.display(),
                show(&command(bin, mode, seed, opts.filter.as_deref(), pin))
                    .replace(" --format json -Z unstable-options", "")
            );
            runs += 1;
            if let Some(what) = run_once(&mut cmd, opts.timeout)? {
                failed_now += 1;
                failures.push(Failure {
                    binary: bin.clone(),
                    round,
                    mode,
                    seed,
                    what,
                    rerun,
                });
                let f = failures.last().unwrap();
                println!(
                    "\n--- failure: {} [{}], round {}, mode {}, seed {} ---\n{}rerun: {}\n",
                    f.binary.package,
                    f.binary.target,
                    f.round + 1,
                    f.mode.name(),
                    f.seed,
                    f.what,
                    f.rerun
                );
            }
        }
        println!(
            "round {:>3}/{} ({:<6}) {:>6.1} s  {}",
            round + 1,
            opts.rounds,
            mode.name(),
            round_start.elapsed().as_secs_f64(),
            if failed_now == 0 {
                "ok".to_string()
            } else {
                format!("{failed_now} binaries failed")
            }
        );
    }
    println!(
        "\nstress: {runs} runs of {} binaries in {:.0} s, {} failed",
        bins.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for f in &failures {
        let first = f.what.lines().next().unwrap_or("");
        println!(
            "  {} [{}] round {} {} seed {}: {first}",
            f.binary.package,
            f.binary.target,
            f.round + 1,
            f.mode.name(),
            f.seed
        );
    }
    Err(format!(
        "{} of {runs} runs failed (each is printed above with the command that reruns it)",
        failures.len()
    ))
}

/// Where each process of the hung run's group waits: its state and kernel
/// wait channel from `ps`, and each thread's stack from `gdb` when it is
/// installed (the top frames only, at most eight processes).
fn stacks_of_group(pgid: u32) -> String {
    let ps = Command::new("ps")
        .args(["-e", "-o", "pid=,pgid=,stat=,wchan:30=,args="])
        .output();
    let Ok(ps) = ps else {
        return "    (ps is not available: no stacks)\n".into();
    };
    let mut out = String::from("    processes of the run (pid, state, kernel wait, command):\n");
    let mut pids = Vec::new();
    for line in String::from_utf8_lossy(&ps.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 && f[1] == pgid.to_string() {
            out += &format!("      {}  {}  {}  {}\n", f[0], f[2], f[3], f[4..].join(" "));
            pids.push(f[0].to_string());
        }
    }
    let has_gdb = Command::new("gdb")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_gdb {
        out += "    (install gdb to see each thread's stack here)\n";
        return out;
    }
    for pid in pids.iter().take(8) {
        let bt = Command::new("timeout")
            .args(["30", "gdb", "-p", pid, "-batch", "-nx"])
            .args(["-ex", "set pagination off", "-ex", "thread apply all bt 12"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        out += &format!("    stacks of {pid}:\n");
        if let Ok(bt) = bt {
            for l in String::from_utf8_lossy(&bt.stdout).lines() {
                if l.starts_with("Thread") || l.starts_with('#') {
                    out += &format!("      {l}\n");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_take_crate_and_rounds() {
        let o = parse_args(&["bingfa-sync".into(), "50".into()]).unwrap();
        assert_eq!(o.crates, vec!["bingfa-sync".to_string()]);
        assert_eq!(o.rounds, 50);
        let o = parse_args(&[
            "--rounds".into(),
            "3".into(),
            "--timeout".into(),
            "9".into(),
        ])
        .unwrap();
        assert_eq!((o.rounds, o.timeout), (3, Duration::from_secs(9)));
        assert!(o.crates.is_empty());
        assert!(parse_args(&["0".into()]).is_err());
        assert!(parse_args(&["--bogus".into()]).is_err());
        assert!(parse_args(&["--rounds".into()]).is_err());
    }

    #[test]
    fn a_failure_shows_its_first_and_last_lines() {
        let short = "a\nb\n";
        assert_eq!(head_and_tail(short, 2, 2, "  "), "  a\n  b\n");
        let long: String = (1..=10).map(|i| format!("l{i}\n")).collect();
        assert_eq!(
            head_and_tail(&long, 2, 3, ""),
            "l1\nl2\n[... 5 lines left out ...]\nl8\nl9\nl10\n"
        );
        assert_eq!(head_and_tail(&long, 5, 5, ""), long);
    }

    #[test]
    fn modes_turn_by_round() {
        let m: Vec<Mode> = (0..4).map(Mode::of_round).collect();
        assert_eq!(m, [Mode::Plain, Mode::Pinned, Mode::Hog, Mode::Plain]);
    }

    #[test]
    fn reads_test_executables_from_cargo_json() {
        let out = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/bingfa-sync#0.1.0","manifest_path":"/w/crates/bingfa-sync/Cargo.toml","target":{"kind":["lib"],"name":"bingfa_sync"},"profile":{"test":true},"executable":"/w/target/debug/deps/bingfa_sync-1"}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/bingfa-sync#0.1.0","manifest_path":"/w/crates/bingfa-sync/Cargo.toml","target":{"kind":["lib"],"name":"bingfa_sync"},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","package_id":"path+file:///w#bingfa@0.1.0","manifest_path":"/w/Cargo.toml","target":{"kind":["test"],"name":"demos"},"profile":{"test":true},"executable":"/w/target/debug/deps/demos-2"}
{"reason":"build-finished","success":true}"#;
        let bins = parse_artifacts(out);
        assert_eq!(bins.len(), 2);
        assert_eq!(bins[0].package, "bingfa-sync");
        assert_eq!(bins[0].target, "lib");
        assert_eq!(bins[0].dir, PathBuf::from("/w/crates/bingfa-sync"));
        assert_eq!(bins[1].package, "bingfa");
        assert_eq!(bins[1].target, "demos");
    }

    #[test]
    fn names_the_tests_a_hung_run_left_unfinished() {
        let mut log = RunLog::default();
        for l in [
            r#"{ "type": "suite", "event": "started", "test_count": 3 }"#,
            r#"{ "type": "test", "event": "started", "name": "a" }"#,
            r#"{ "type": "test", "event": "started", "name": "b" }"#,
            r#"{ "type": "test", "name": "a", "event": "ok" }"#,
            r#"{ "type": "test", "event": "started", "name": "c" }"#,
            r#"{ "type": "test", "name": "c", "event": "failed", "stdout": "boom\n" }"#,
            "thread 'x' panicked",
        ] {
            log.line(l);
        }
        assert_eq!(log.unfinished(), vec!["b"]);
        assert_eq!(log.passed, 1);
        assert_eq!(log.failed, vec![("c".to_string(), "boom\n".to_string())]);
        assert_eq!(log.other, vec!["thread 'x' panicked".to_string()]);
    }

    #[test]
    fn mends_an_event_a_child_cut_in_two() {
        // A failure event (long, so written in more than one piece) with a
        // spawned child's harness lines in the middle, as seen in CI.
        let mut log = RunLog::default();
        for l in [
            r#"{ "type": "test", "event": "started", "name": "c" }"#,
            r#"{ "type": "test", "name": "c", "event": "failed", "stdout": "bo"#,
            "",
            "running 1 test",
            ".",
            r#"om\n" }"#,
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out; finished in 0.01s",
            r#"{ "type": "test", "event": "started", "name": "d" }"#,
        ] {
            log.line(l);
        }
        log.end();
        assert_eq!(log.failed, vec![("c".to_string(), "boom\n".to_string())]);
        assert_eq!(log.unfinished(), vec!["d"]);
        assert_eq!(log.other.len(), 3, "{:?}", log.other);
        assert!(log.other.iter().all(|l| is_harness_line(l)));
    }

    #[test]
    fn mends_an_event_cut_more_than_once_and_reports_one_never_finished() {
        let mut log = RunLog::default();
        for l in [
            r#"{ "type": "test", "name": "c", "event": "failed", "stdout": "a"#,
            "running 1 test",
            "b",
            "test result: ok. 1 passed",
            r#"c" }"#,
        ] {
            log.line(l);
        }
        assert_eq!(log.failed, vec![("c".to_string(), "abc".to_string())]);

        let mut log = RunLog::default();
        log.line(r#"{ "type": "test", "name": "c", "event": "failed", "stdout": "a"#);
        log.end();
        assert!(log.failed.is_empty());
        assert_eq!(log.other.len(), 1);
        assert!(log.other[0].contains(r#""name": "c""#));
    }

    #[test]
    fn seeds_differ_by_round_and_binary() {
        let b = |t: &str| Binary {
            package: "p".into(),
            target: t.into(),
            path: PathBuf::new(),
            dir: PathBuf::new(),
        };
        assert_ne!(seed(0, &b("x")), seed(1, &b("x")));
        assert_ne!(seed(0, &b("x")), seed(0, &b("y")));
        assert_eq!(seed(3, &b("x")), seed(3, &b("x")));
    }
}
