//! `cargo xtask ci`: what `.ci/run` checks, in the same order, stopping at the
//! first failure.

use std::process::ExitCode;

use crate::{cargo, loom, msrv, show, stress, Result};

/// Rounds of `cargo xtask stress` in CI: one of each mode (plain, pinned to
/// one CPU, beside a CPU hog). A short, bounded pass; run more by hand.
pub(crate) const CI_STRESS_ROUNDS: &str = "3";

/// The cargo steps before the loom run, and whether each runs on the loom
/// build (`--cfg bingfa_loom`, in the loom target directory).
const STEPS: &[(&[&str], bool)] = &[
    (&["fmt", "--all", "--", "--check"], false),
    (
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        false,
    ),
    // The loom build compiles other code (the models, loom-only helpers):
    // lint it too, or dead code and warnings there go unseen.
    (
        &[
            "clippy",
            "--workspace",
            "--lib",
            "--tests",
            "--",
            "-D",
            "warnings",
        ],
        true,
    ),
    (&["test", "--workspace"], false),
];

/// Runs every step; the first that fails ends the run with its name.
pub(crate) fn run() -> Result<ExitCode> {
    let total = STEPS.len() + 3;
    println!("\n=== [1/{total}] cargo xtask msrv ===");
    msrv::run().map_err(|e| format!("`cargo xtask ci` stopped at the msrv step: {e}"))?;
    for (i, (args, on_loom)) in STEPS.iter().enumerate() {
        let mut cmd = cargo(args.iter());
        if *on_loom {
            cmd.arg("--target-dir")
                .arg(crate::target_dir().join("loom"))
                .env("RUSTFLAGS", loom::rustflags());
        }
        let loom_note = if *on_loom {
            "RUSTFLAGS=\"--cfg bingfa_loom\" "
        } else {
            ""
        };
        println!("\n=== [{}/{total}] {loom_note}{} ===", i + 2, show(&cmd));
        let status = cmd
            .status()
            .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
        if !status.success() {
            return Err(format!("`cargo xtask ci` stopped: `{}` failed", show(&cmd)));
        }
    }
    println!(
        "\n=== [{}/{total}] cargo xtask stress {CI_STRESS_ROUNDS} ===",
        STEPS.len() + 2
    );
    stress::run(&[CI_STRESS_ROUNDS.to_string()])
        .map_err(|e| format!("`cargo xtask ci` stopped at the stress step: {e}"))?;
    println!("\n=== [{total}/{total}] cargo xtask loom ===");
    loom::run(None).map_err(|e| format!("`cargo xtask ci` stopped at the loom step: {e}"))?;
    println!("\ncargo xtask ci: all steps passed");
    Ok(ExitCode::SUCCESS)
}
