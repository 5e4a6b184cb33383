//! `cargo xtask miri`: the unsafe code that Miri can run, under Miri.
//!
//! Miri interprets the program and reports undefined behaviour: use after
//! free, data races, misaligned or out-of-bounds accesses, aliasing
//! violations. It cannot fork, map shared memory between processes or
//! switch stacks, so it covers what it can:
//!
//! - bingfa-sync and bingfa-queue, their unit and integration tests (the
//!   tests whose loops are long take fewer rounds under `cfg(miri)`; those
//!   that start the deadlock detector's watchdog, a thread that outlives
//!   the test, are ignored under Miri with that reason);
//! - bingfa-pool's task, slab and future modules (the raw task layout, the
//!   slab of task pages and the future's waiter list), their unit tests.
//!
//! It needs a nightly toolchain with the `miri` and `rust-src` components
//! (`rustup component add --toolchain nightly miri rust-src`); `.ci/run`
//! installs them. Builds go to Miri's own `target/miri`.

use std::process::{Command, ExitCode};
use std::time::Instant;

use crate::{project_root, show, Result};

/// One Miri run: what it covers, the `cargo miri test` arguments, and the
/// `MIRIFLAGS` it needs.
struct Run {
    what: &'static str,
    args: &'static [&'static str],
    flags: &'static str,
}

const RUNS: &[Run] = &[
    Run {
        what: "bingfa-sync and bingfa-queue: every unit and integration test",
        args: &[
            "-p",
            "bingfa-sync",
            "-p",
            "bingfa-queue",
            "--lib",
            "--tests",
        ],
        flags: "",
    },
    Run {
        what: "bingfa-pool: task, slab and future",
        args: &[
            "-p",
            "bingfa-pool",
            "--lib",
            "--",
            "task::",
            "slab::",
            "future::",
        ],
        // Strict provenance: the future's tagged state word is an
        // AtomicPtr whose bits move with `map_addr`, with no
        // integer-to-pointer cast left for Miri to allow.
        flags: "-Zmiri-strict-provenance",
    },
];

/// `cargo +nightly miri test ...` in the project root, with a clean
/// environment for the nightly toolchain.
fn miri_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly")
        .current_dir(project_root())
        // The stable toolchain that runs xtask must not leak into the
        // nightly one.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO");
    cmd
}

pub(crate) fn run() -> Result<ExitCode> {
    let mut check = miri_cargo();
    check.args(["miri", "--version"]);
    match check.output() {
        Ok(o) if o.status.success() => {
            println!("{}", String::from_utf8_lossy(&o.stdout).trim());
        }
        _ => {
            return Err("Miri is not installed: rustup toolchain install nightly \
                 && rustup component add --toolchain nightly miri rust-src"
                .into())
        }
    }
    for run in RUNS {
        let mut cmd = miri_cargo();
        cmd.args(["miri", "test"]).args(run.args);
        if !run.flags.is_empty() {
            cmd.env("MIRIFLAGS", run.flags);
        }
        let flags = if run.flags.is_empty() {
            String::new()
        } else {
            format!("MIRIFLAGS={} ", run.flags)
        };
        println!("\n=== miri: {} ===\n$ {flags}{}", run.what, show(&cmd));
        let started = Instant::now();
        let status = cmd
            .status()
            .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
        println!("({:.0} s)", started.elapsed().as_secs_f64());
        if !status.success() {
            return Err(format!(
                "Miri failed: {}; rerun `{flags}{}`",
                run.what,
                show(&cmd)
            ));
        }
    }
    println!("\nmiri: every run passed");
    Ok(ExitCode::SUCCESS)
}
