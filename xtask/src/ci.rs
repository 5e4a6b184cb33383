//! `cargo xtask ci`: what `.ci/run` checks, in the same order, stopping at the
//! first failure. (`.ci/run` also installs what the steps need and, since it
//! runs on a clean clone of a machine whose disk may be short, builds without
//! incremental caches or full debug info and removes each step's own build
//! once the step is done; here your `target/` is left as it is.)

use std::process::ExitCode;

use crate::{cargo, features, loom, msrv, publish, show, stress, Result};

/// Rounds of `cargo xtask stress` in CI: one of each mode (plain, pinned to
/// one CPU, beside a CPU hog). A short, bounded pass; run more by hand.
pub(crate) const CI_STRESS_ROUNDS: &str = "3";

/// One step of the run.
enum Step {
    /// `cargo ARGS`.
    Cargo(&'static [&'static str]),
    /// An xtask subcommand, by the name it is shown under.
    Xtask(&'static str, fn() -> Result<ExitCode>),
}

const STEPS: &[Step] = &[
    Step::Xtask("cargo xtask msrv", msrv::run),
    Step::Cargo(&["fmt", "--all", "--", "--check"]),
    Step::Cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]),
    // The loom build compiles other code (the models, loom-only helpers):
    // lint it too, or dead code and warnings there go unseen.
    Step::Xtask("cargo xtask loom --clippy", loom::clippy),
    Step::Xtask("cargo xtask features", || features::run(&[])),
    Step::Xtask("cargo xtask publish-check", publish::run),
    Step::Cargo(&["test", "--workspace"]),
    // What `--workspace` leaves out: the tests of features off by default.
    Step::Cargo(&[
        "test",
        "-p",
        "bingfa-sync",
        "-p",
        "bingfa-pool",
        "--features",
        "bingfa-sync/tracing,bingfa-pool/tracing",
        "--test",
        "tracing_report",
        "--test",
        "tracing_events",
    ]),
    Step::Xtask("cargo xtask stress 3", || {
        stress::run(&[CI_STRESS_ROUNDS.to_string()])
    }),
    Step::Xtask("cargo xtask loom", || loom::run(None)),
    Step::Xtask("cargo xtask miri", crate::miri::run),
];

/// Runs every step; the first that fails ends the run with its name.
pub(crate) fn run() -> Result<ExitCode> {
    let total = STEPS.len();
    for (i, step) in STEPS.iter().enumerate() {
        match step {
            Step::Cargo(args) => {
                let mut cmd = cargo(args.iter());
                println!("\n=== [{}/{total}] {} ===", i + 1, show(&cmd));
                let status = cmd
                    .status()
                    .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
                if !status.success() {
                    return Err(format!("`cargo xtask ci` stopped: `{}` failed", show(&cmd)));
                }
            }
            Step::Xtask(name, f) => {
                println!("\n=== [{}/{total}] {name} ===", i + 1);
                match f() {
                    Ok(code) if code == ExitCode::SUCCESS => {}
                    Ok(_) => return Err(format!("`cargo xtask ci` stopped: `{name}` failed")),
                    Err(e) => return Err(format!("`cargo xtask ci` stopped at `{name}`: {e}")),
                }
            }
        }
    }
    println!("\ncargo xtask ci: all steps passed");
    Ok(ExitCode::SUCCESS)
}
