//! `cargo xtask ci`: what `.ci/run` checks, in the same order, stopping at the
//! first failure.

use std::process::ExitCode;

use crate::{cargo, loom, show, Result};

/// The cargo steps before the loom run.
const STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &["test", "--workspace"],
];

/// Runs every step; the first that fails ends the run with its name.
pub(crate) fn run() -> Result<ExitCode> {
    for (i, args) in STEPS.iter().enumerate() {
        let mut cmd = cargo(args.iter());
        println!("\n=== [{}/{}] {} ===", i + 1, STEPS.len() + 1, show(&cmd));
        let status = cmd
            .status()
            .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
        if !status.success() {
            return Err(format!("`cargo xtask ci` stopped: `{}` failed", show(&cmd)));
        }
    }
    println!("\n=== [{n}/{n}] cargo xtask loom ===", n = STEPS.len() + 1);
    loom::run(None).map_err(|e| format!("`cargo xtask ci` stopped at the loom step: {e}"))?;
    println!("\ncargo xtask ci: all steps passed");
    Ok(ExitCode::SUCCESS)
}
