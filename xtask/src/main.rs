//! `cargo xtask`: bingfa's task runner, in the manner of rust-analyzer's: no
//! dependencies, each subcommand a plain function, policy checks as
//! `#[test]`s.
//!
//! ```text
//! cargo xtask demo NAME [ARGS...]   run the lesson NAME (examples/NAME.rs)
//! cargo xtask demo --list           the catalogue of lessons
//! cargo xtask loom [CRATE]          the loom models, failing when none ran
//! cargo xtask bench [CRATE] [--rounds N]  criterion benches, one table, BENCHMARKS.md
//! cargo xtask stress [CRATE] [N]   the tests of CRATE N times: plain, pinned, beside a CPU hog
//! cargo xtask features [CRATE]     each crate alone: no-default, default, all features; off Linux; downstream lockfiles
//! cargo xtask msrv                  the declared rust-version against the dependencies and a build
//! cargo xtask miri                  the unsafe code Miri can run (sync, queue, pool's task and slab) under Miri
//! cargo xtask publish-check         manifests ready for crates.io; cargo publish --dry-run --workspace
//! cargo xtask ci                    what .ci/run checks, in order
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod bench;
mod ci;
mod demo;
mod extra;
mod features;
mod json;
mod loom;
mod miri;
mod msrv;
mod publish;
mod stress;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A failure to report: the message is printed after `error: `.
type Result<T> = std::result::Result<T, String>;

const USAGE: &str = "\
cargo xtask: bingfa's task runner

USAGE:
    cargo xtask demo NAME [ARGS...]   run a lesson: cargo run --release -p bingfa --example NAME -- ARGS
    cargo xtask demo --list           list the lessons of the course and their demos
    cargo xtask loom [CRATE]          run the loom models of every crate that has them (or of CRATE)
                                      env: LOOM_MAX_PREEMPTIONS (default 2)
    cargo xtask loom --clippy         clippy -D warnings on the loom build of the workspace
    cargo xtask bench [CRATE]         run the criterion benches (cargo bench -p CRATE --bench '*'),
                                      print one table, write BENCHMARKS.md; benches without
                                      criterion print `bingfa-bench: GROUP MEMBER VALUE UNIT lower|higher`
                                      lines, which get a second table
                                      env: BENCH_ARGS (default: --warm-up-time 1 --measurement-time 3)
    cargo xtask bench [CRATE] --rounds N
                                      N rounds in turn; ratios taken inside each round, shown
                                      as median (range); a group whose rounds disagree on the
                                      side of 1.00x runs again, alone, up to 2 more times
    cargo xtask bench --table         only print and write the table of the last results
    cargo xtask stress [CRATE...] [N] run every test binary of CRATE (default: all crates and the facade) N times (10),
                                      in turn plain, pinned to one CPU, beside a CPU hog; names hung
                                      tests; flags: --rounds N --timeout SECS --filter NAME --release
    cargo xtask features [CRATE...]   check each crate (and the facade) alone with --no-default-features,
                                      the defaults and --all-features, and a downstream crate on it (default
                                      and no default features) whose Cargo.lock must hold no loom; then the
                                      portable crates for x86_64-apple-darwin, and a Linux-only crate's
                                      compile_error! there
    cargo xtask features --off-linux  only the x86_64-apple-darwin part
    cargo xtask msrv                  check the declared rust-version: every dependency's against it,
                                      and `cargo +VERSION check` when that toolchain is installed
    cargo xtask miri                  cargo +nightly miri test on bingfa-sync, bingfa-queue and bingfa-pool's
                                      task, slab and future (needs nightly with miri and rust-src)
    cargo xtask publish-check         every publishing manifest has description, licence, repository, readme,
                                      keywords, categories and versioned path dependencies; then
                                      cargo publish --dry-run --workspace --allow-dirty (needs the crates.io index)
    cargo xtask ci                    fmt check, clippy -D warnings (also on the loom build), tests, loom: what .ci/run does
    cargo xtask help                  this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((cmd, rest)) => (cmd.as_str(), rest),
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd {
        "demo" => demo::run(rest),
        "loom" => match rest {
            [] => loom::run(None),
            [flag] if flag == "--clippy" => loom::clippy(),
            [krate] => loom::run(Some(krate)),
            _ => Err("usage: cargo xtask loom [CRATE | --clippy]".into()),
        },
        "bench" => match rest {
            [flag] if flag == "--table" => bench::table_only(),
            _ => bench::run_args(rest),
        },
        "stress" => stress::run(rest),
        "msrv" => msrv::run(),
        "miri" => miri::run(),
        "features" => features::run(rest),
        "publish-check" => publish::run(),
        "ci" => ci::run(),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!("cargo xtask: unknown command `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The root of the workspace (the parent of `xtask/`).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in a workspace")
        .to_path_buf()
}

/// The cargo that runs us (so `+toolchain` carries over), in the project root.
fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args).current_dir(project_root());
    cmd
}

/// The build directory: `$CARGO_TARGET_DIR` or `target/` in the root.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => project_root().join(dir),
        _ => project_root().join("target"),
    }
}

/// A command line as the user would type it, for messages.
fn show(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let mut s = match program.file_name() {
        Some(name) if name == "cargo" => "cargo".to_string(),
        _ => program.to_string_lossy().into_owned(),
    };
    for a in cmd.get_args() {
        s.push(' ');
        s += &a.to_string_lossy();
    }
    s
}

/// The exit code a shell would report for `status`: the code, or 128 plus
/// the signal that ended the process.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return code as u8;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128u8.wrapping_add(sig as u8);
        }
    }
    1
}

/// The crates under `crates/`: (package name, directory). The package name
/// is the directory name, which is the workspace's convention.
fn crates() -> Result<Vec<(String, PathBuf)>> {
    let dir = project_root().join("crates");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.join("Cargo.toml").is_file() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Every file under `dir` whose name ends with `ext`, recursively.
fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_with_ext(&path, ext));
        } else if path.to_string_lossy().ends_with(ext) {
            out.push(path);
        }
    }
    out.sort();
    out
}
