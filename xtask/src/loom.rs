//! `cargo xtask loom`: runs the loom models of every crate that has them, and
//! fails when one fails or when none ran at all (a mis-set cfg compiles the
//! models away, and an empty run must not look like a pass).

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};

use crate::stress::{test_binaries, Binary};
use crate::{cargo, crates, files_with_ext, show, target_dir, Result};

/// The totals of one `test result:` line of libtest.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TestResult {
    pub ok: bool,
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub filtered: u64,
}

/// Parses `test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 12
/// filtered out; finished in 0.52s`.
pub(crate) fn parse_test_result(line: &str) -> Option<TestResult> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (status, counts) = rest.split_once(". ")?;
    let mut r = TestResult {
        ok: status == "ok",
        ..TestResult::default()
    };
    for part in counts.split(';') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => r.passed = n,
            "failed" => r.failed = n,
            "ignored" => r.ignored = n,
            "filtered" => r.filtered = n,
            _ => {}
        }
    }
    Some(r)
}

/// Adds up the `test result:` lines of a test run's output.
pub(crate) fn sum_results(output: &str) -> (TestResult, usize) {
    let mut total = TestResult {
        ok: true,
        ..TestResult::default()
    };
    let mut binaries = 0;
    for r in output.lines().filter_map(parse_test_result) {
        binaries += 1;
        total.ok &= r.ok;
        total.passed += r.passed;
        total.failed += r.failed;
        total.ignored += r.ignored;
        total.filtered += r.filtered;
    }
    (total, binaries)
}

/// The crates whose sources mention `bingfa_loom`: the models live in each
/// crate's unit tests, so only the lib test targets are built (the
/// integration tests mention the cfg only to leave themselves out of it).
fn loom_crates() -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut misplaced = Vec::new();
    for (name, dir) in crates()? {
        let files = files_with_ext(&dir.join("src"), ".rs");
        if files
            .iter()
            .any(|f| std::fs::read_to_string(f).is_ok_and(|s| s.contains("bingfa_loom")))
        {
            out.push(name);
        }
        for f in files_with_ext(&dir.join("tests"), ".rs") {
            if std::fs::read_to_string(&f).is_ok_and(|s| has_model(&s)) {
                misplaced.push(f.display().to_string());
            }
        }
    }
    if !misplaced.is_empty() {
        return Err(format!(
            "loom models (`fn loom_*`) in integration tests, which `cargo xtask loom` does not \
             build (it builds each crate's lib tests only): move them into the crate's \
             `src/` under `#[cfg(all(test, bingfa_loom))]`: {}",
            misplaced.join(", ")
        ));
    }
    Ok(out)
}

/// Whether a source file defines a loom model (a function `loom_*`).
fn has_model(src: &str) -> bool {
    src.contains("fn loom_")
}

/// Runs the loom models of `only`, or of every crate that has some.
pub(crate) fn run(only: Option<&str>) -> Result<ExitCode> {
    let all = loom_crates()?;
    let chosen: Vec<String> = match only {
        Some(name) if all.iter().any(|c| c == name) => vec![name.to_string()],
        Some(name) => {
            return Err(format!(
                "crate `{name}` has no loom models (crates that mention `bingfa_loom`: {})",
                all.join(", ")
            ))
        }
        None => all,
    };
    let preemptions = std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "2".into());
    let bins = build(&chosen)?;

    let mut summary = Vec::new();
    for krate in &chosen {
        eprintln!("\n=== loom: {krate} ===");
        let mut output = String::new();
        let mut ran = true;
        for bin in bins.iter().filter(|b| &b.package == krate) {
            // As `cargo test` runs it: from the package's directory.
            let mut cmd = Command::new(&bin.path);
            cmd.arg("loom")
                .current_dir(&bin.dir)
                .env("LOOM_MAX_PREEMPTIONS", &preemptions);
            eprintln!(
                "$ cd {} && LOOM_MAX_PREEMPTIONS={preemptions} {}",
                bin.dir.display(),
                show(&cmd)
            );
            let mut child = cmd
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
            for line in BufReader::new(child.stdout.take().unwrap()).lines() {
                let line = line.map_err(|e| e.to_string())?;
                println!("{line}");
                output += &line;
                output.push('\n');
            }
            let status = child.wait().map_err(|e| e.to_string())?;
            ran &= status.success();
        }
        let (mut r, binaries) = sum_results(&output);
        r.ok &= ran;
        summary.push((krate.clone(), r, binaries));
    }

    println!("\nloom summary (LOOM_MAX_PREEMPTIONS={preemptions}):");
    let w = summary.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    for (krate, r, binaries) in &summary {
        let verdict = match (r.ok, r.passed, binaries) {
            (false, _, 0) => "FAILED (no test result: a build error or an abort, see above)",
            (false, _, _) => "FAILED",
            (true, 0, _) => "no models",
            (true, _, _) => "ok",
        };
        println!(
            "  {krate:<w$}  {:>4} models passed, {} failed, {} ignored  {verdict}",
            r.passed, r.failed, r.ignored
        );
    }
    let total: u64 = summary.iter().map(|(_, r, _)| r.passed).sum();
    let failed: Vec<&str> = summary
        .iter()
        .filter(|(_, r, _)| !r.ok)
        .map(|(k, _, _)| k.as_str())
        .collect();
    println!("  total: {total} models passed");
    if !failed.is_empty() {
        return Err(format!(
            "loom models failed in {}: rerun `cargo xtask loom {}` and read the failing model above",
            failed.join(", "),
            failed[0]
        ));
    }
    if total == 0 {
        return Err(
            "`cargo xtask loom`: zero loom models ran. Loom tests are named `loom_*` inside a \
             `#[cfg(bingfa_loom)]` module; are they written, and compiled with --cfg bingfa_loom?"
                .into(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds the loom tests of `chosen` in one cargo call (one feature set, so
/// every dependency is built once, not once per crate) and returns the
/// test executables.
fn build(chosen: &[String]) -> Result<Vec<Binary>> {
    let rustflags = rustflags();
    let mut cmd = cargo([
        "test",
        "--release",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    for krate in chosen {
        cmd.args(["-p", krate]);
    }
    let features: Vec<String> = chosen.iter().map(|c| format!("{c}/loom")).collect();
    // The lib tests only: the models are unit tests (see `loom_crates`), and
    // building every integration test in release too took most of the
    // step's time (436 s against 150 s cold, on 2 CPUs).
    cmd.args(["--lib", "--features"])
        .arg(features.join(","))
        .arg("--target-dir")
        .arg(target_dir().join("loom"))
        .env("RUSTFLAGS", &rustflags);
    eprintln!("$ RUSTFLAGS=\"{rustflags}\" {}", show(&cmd));
    test_binaries(&mut cmd, chosen)
}

/// `--features` for a workspace build with loom: every loom crate's
/// internal `loom` feature (`bingfa-sync/loom,bingfa-queue/loom,...`).
pub(crate) fn features() -> Result<String> {
    Ok(loom_crates()?
        .iter()
        .map(|c| format!("{c}/loom"))
        .collect::<Vec<_>>()
        .join(","))
}

/// `cargo xtask loom --clippy`: clippy `-D warnings` on the loom build of the
/// whole workspace (the models and loom-only code are compiled only there).
pub(crate) fn clippy() -> Result<ExitCode> {
    let mut cmd = cargo(["clippy", "--workspace", "--lib", "--tests", "--features"]);
    cmd.arg(features()?)
        .arg("--target-dir")
        .arg(target_dir().join("loom"))
        .args(["--", "-D", "warnings"])
        .env("RUSTFLAGS", rustflags());
    eprintln!("$ RUSTFLAGS=\"{}\" {}", rustflags(), show(&cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
    if !status.success() {
        return Err("clippy on the loom build failed: rerun `cargo xtask loom --clippy`".into());
    }
    Ok(ExitCode::SUCCESS)
}

/// `RUSTFLAGS` for the loom build: the caller's, plus `--cfg bingfa_loom`.
pub(crate) fn rustflags() -> String {
    match std::env::var("RUSTFLAGS") {
        Ok(f) if !f.trim().is_empty() => format!("{f} --cfg bingfa_loom"),
        _ => "--cfg bingfa_loom".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_models_by_their_name() {
        assert!(has_model("#[test]\nfn loom_lock_is_exclusive() {}"));
        assert!(!has_model(
            "#![cfg(not(bingfa_loom))]\nfn lock_is_exclusive() {}"
        ));
    }

    #[test]
    fn parses_libtest_summaries() {
        let r = parse_test_result(
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 12 filtered out; finished in 0.52s",
        )
        .unwrap();
        assert_eq!(
            r,
            TestResult {
                ok: true,
                passed: 3,
                failed: 0,
                ignored: 1,
                filtered: 12
            }
        );
        let f = parse_test_result("test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 9.1s").unwrap();
        assert!(!f.ok);
        assert_eq!((f.passed, f.failed), (1, 2));
        assert_eq!(parse_test_result("test loom_tests::loom_x ... ok"), None);
    }

    #[test]
    fn sums_over_test_binaries() {
        let out = "\
running 2 tests
test a::loom_one ... ok
test a::loom_two ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out; finished in 1.00s

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.00s
";
        let (r, n) = sum_results(out);
        assert_eq!(n, 2);
        assert!(r.ok);
        assert_eq!((r.passed, r.filtered), (2, 8));
        let (r, _) = sum_results(&format!("{out}test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.1s\n"));
        assert!(!r.ok);
        assert_eq!(r.failed, 1);
    }
}
