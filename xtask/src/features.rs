//! `cargo xtask features`: every crate builds alone with each feature set a
//! user can pick, the portable ones build off Linux, and a crate that
//! depends on one gets none of our development tools in its lockfile.
//!
//! 1. For each publishable crate under `crates/` and the `bingfa` facade
//!    (the root package): `cargo check -p CRATE --lib` with
//!    `--no-default-features`, with the defaults, and with `--all-features`.
//! 2. For each of them, a downstream crate (made in `target/downstream/`,
//!    outside the workspace) that depends on it by path, once with default
//!    features and once with `default-features = false`: its `Cargo.lock`
//!    must hold no `loom` (nor criterion or any other dev tool of ours), and
//!    it must build.
//! 3. Off Linux (`cargo check --target x86_64-apple-darwin`, whose std
//!    `rustup target add` installs; checking needs no linker): the portable
//!    crates (bingfa-sync, bingfa-queue, bingfa-trace; bingfa-pool without
//!    its process support; the facade with only portable features) build,
//!    and a Linux-only crate stops at its `compile_error!`, whose message
//!    must name the crate and Linux. A check that the manifests cannot
//!    support yet (no `process` feature in bingfa-pool) is skipped with the
//!    reason printed.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::{cargo, crates, project_root, show, target_dir, Result};

/// The non-Linux target the portable crates are checked for.
const OTHER_TARGET: &str = "x86_64-apple-darwin";

/// The facade: the workspace's root package.
const FACADE: &str = "bingfa";

/// Packages that must never reach a downstream lockfile.
const FORBIDDEN: &[&str] = &["loom", "criterion", "generator"];

/// The crates whose manifests say they publish (`publish = false` does not),
/// and the facade.
fn publishable() -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (name, dir) in crates()? {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        if !manifest.contains("publish = false") {
            out.push(name);
        }
    }
    out.push(FACADE.to_string());
    Ok(out)
}

fn run_cmd(cmd: &mut Command) -> Result<()> {
    println!("$ {}", show(cmd));
    let st = cmd
        .status()
        .map_err(|e| format!("could not run `{}`: {e}", show(cmd)))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed", show(cmd)))
    }
}

/// The names of the packages in a `Cargo.lock`.
pub(crate) fn locked_names(lock: &str) -> Vec<&str> {
    lock.lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .collect()
}

/// `rust-version` of `[workspace.package]` in the root manifest.
fn declared_rust_version() -> Result<String> {
    let root =
        std::fs::read_to_string(project_root().join("Cargo.toml")).map_err(|e| e.to_string())?;
    root.lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|l| l.strip_suffix('"'))
        .map(str::to_string)
        .ok_or_else(|| "the root Cargo.toml declares no rust-version".into())
}

/// Writes a downstream crate on `krate` and checks its lockfile and build.
fn downstream(krate: &str, dir_of: &Path, default_features: bool) -> Result<()> {
    let flavour = if default_features {
        "default"
    } else {
        "no-default"
    };
    let root = target_dir()
        .join("downstream")
        .join(format!("{krate}-{flavour}"));
    std::fs::create_dir_all(root.join("src")).map_err(|e| e.to_string())?;
    // The workspace's declared minimum, so the resolver picks what it builds.
    let msrv = declared_rust_version()?;
    let manifest = format!(
        "[package]\nname = \"downstream-{krate}-{flavour}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\
         rust-version = \"{msrv}\"\n\n\
         [dependencies]\n{krate} = {{ path = \"{}\", default-features = {default_features} }}\n\n\
         [workspace]\n# A resolver that picks versions this Rust can build, as a user's would.\nresolver = \"3\"\n",
        dir_of.display()
    );
    std::fs::write(root.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
    let lib = format!("pub use {}::*;\n", krate.replace('-', "_"));
    std::fs::write(root.join("src/lib.rs"), lib).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(root.join("Cargo.lock"));
    let cargo_bin = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_cmd(
        Command::new(&cargo_bin)
            .args(["generate-lockfile", "--quiet"])
            .current_dir(&root)
            .stdout(Stdio::null()),
    )?;
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| e.to_string())?;
    let names = locked_names(&lock);
    let bad: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| FORBIDDEN.contains(n))
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "a crate that depends on {krate} ({flavour} features) gets {} in its Cargo.lock ({})",
            bad.join(", "),
            root.join("Cargo.lock").display()
        ));
    }
    println!(
        "  {krate} ({flavour} features): {} locked packages, none of {}",
        names.len(),
        FORBIDDEN.join(", ")
    );
    run_cmd(
        Command::new(&cargo_bin)
            .args(["check", "--quiet", "--target-dir"])
            .arg(target_dir().join("downstream-build"))
            .current_dir(&root),
    )
}

/// `cargo xtask features [CRATE... | --off-linux]`: `--off-linux` runs
/// step 3 alone; crates named run steps 1 and 2 for those alone.
pub(crate) fn run(only: &[String]) -> Result<ExitCode> {
    if only == ["--off-linux"] {
        non_linux()?;
        return Ok(ExitCode::SUCCESS);
    }
    let all = publishable()?;
    let chosen: Vec<String> = if only.is_empty() {
        all.clone()
    } else {
        for c in only {
            if !all.contains(c) {
                return Err(format!(
                    "no publishable crate `{c}` (there are: {})",
                    all.join(", ")
                ));
            }
        }
        only.to_vec()
    };
    let dirs: Vec<(String, std::path::PathBuf)> = crates()?;
    for krate in &chosen {
        println!("\n=== features: {krate} ===");
        for flags in [&["--no-default-features"][..], &[], &["--all-features"]] {
            let mut cmd = cargo(["check", "--quiet", "--lib", "-p", krate]);
            cmd.args(flags)
                .arg("--target-dir")
                .arg(target_dir().join("features"));
            run_cmd(&mut cmd)?;
        }
        let dir = dirs
            .iter()
            .find(|(n, _)| n == krate)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| {
                if krate == FACADE {
                    project_root()
                } else {
                    project_root().join("crates").join(krate)
                }
            });
        downstream(krate, &dir, true)?;
        downstream(krate, &dir, false)?;
    }
    if only.is_empty() {
        non_linux()?;
    }
    println!("\nfeatures: {} crates checked", chosen.len());
    Ok(ExitCode::SUCCESS)
}

/// Whether the `[features]` table of `manifest` declares `feature`.
pub(crate) fn declares_feature(manifest: &str, feature: &str) -> bool {
    let mut in_features = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features {
            if let Some((name, _)) = line.split_once('=') {
                if name.trim() == feature {
                    return true;
                }
            }
        }
    }
    false
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `cargo check --lib --target OTHER_TARGET` with `args`.
fn check_other(args: &[&str]) -> Command {
    let mut cmd = cargo(["check", "--quiet", "--lib", "--target", OTHER_TARGET]);
    cmd.args(args)
        .arg("--target-dir")
        .arg(target_dir().join("features-other"));
    cmd
}

/// The first `error` line of a failed build's stderr.
pub(crate) fn first_error(stderr: &str) -> Option<&str> {
    stderr.lines().find(|l| l.starts_with("error"))
}

/// Checks that `krate` fails to build for OTHER_TARGET with its own
/// `compile_error!`: the first error names the crate and Linux.
fn refuses_off_linux(krate: &str) -> Result<()> {
    let mut cmd = check_other(&["-p", krate]);
    println!(
        "$ {}   (must fail with {krate}'s compile_error!)",
        show(&cmd)
    );
    let out = cmd
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Err(format!(
            "`{}` built, but {krate} is Linux-only and must stop with a compile_error! off Linux",
            show(&cmd)
        ));
    }
    // That one error, not a list of missing Linux names after it.
    let errors = stderr
        .lines()
        .filter(|l| l.starts_with("error") && !l.starts_with("error: could not compile"))
        .count();
    match first_error(&stderr) {
        Some(line) if line.contains(krate) && line.contains("Linux") && errors == 1 => {
            println!("  {krate} on {OTHER_TARGET}: {line}");
            Ok(())
        }
        Some(line) if line.contains(krate) && line.contains("Linux") => Err(format!(
            "`{}`: {krate}'s compile_error! is followed by {} more errors; gate the \
             Linux-only items so that it stands alone",
            show(&cmd),
            errors - 1
        )),
        other => Err(format!(
            "`{}` failed, but its first error is not {krate}'s compile_error! naming Linux: {}",
            show(&cmd),
            other.unwrap_or("(no error line)")
        )),
    }
}

/// Step 3: the portable crates build for a non-Linux target; a Linux-only
/// crate says why it does not.
fn non_linux() -> Result<()> {
    println!("\n=== features: off Linux ({OTHER_TARGET}) ===");
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("could not run rustc: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(OTHER_TARGET)
        .is_dir()
    {
        return Err(format!(
            "the std of {OTHER_TARGET} is not installed: run `rustup target add {OTHER_TARGET}`, then `cargo xtask features`"
        ));
    }
    for krate in ["bingfa-sync", "bingfa-queue", "bingfa-trace"] {
        for flags in [&["--no-default-features"][..], &[], &["--all-features"]] {
            let mut cmd = check_other(&["-p", krate]);
            cmd.args(flags);
            run_cmd(&mut cmd)?;
        }
    }
    let root = project_root();
    let pool = read(&root.join("crates/bingfa-pool/Cargo.toml"))?;
    if declares_feature(&pool, "process") {
        run_cmd(&mut check_other(&[
            "-p",
            "bingfa-pool",
            "--no-default-features",
        ]))?;
    } else {
        println!(
            "  skipped: bingfa-pool --no-default-features on {OTHER_TARGET}: bingfa-pool has no \
             `process` feature yet, so its thread half cannot be built without bingfa-process"
        );
    }
    run_cmd(&mut check_other(&[
        "-p",
        FACADE,
        "--no-default-features",
        "--features",
        "sync,queue,trace",
    ]))?;
    let facade = read(&root.join("Cargo.toml"))?;
    if facade.contains("bingfa-pool?/process") {
        run_cmd(&mut check_other(&[
            "-p",
            FACADE,
            "--no-default-features",
            "--features",
            "sync,queue,trace,pool",
        ]))?;
    } else {
        println!(
            "  skipped: {FACADE} --no-default-features --features sync,queue,trace,pool on {OTHER_TARGET}: \
             the facade's `pool` takes bingfa-pool with its default features (process support \
             included) until bingfa-pool has a `process` feature for the facade's `process` to turn on"
        );
    }
    refuses_off_linux("bingfa-green")?;
    let process_lib = read(&root.join("crates/bingfa-process/src/lib.rs"))?;
    if process_lib.contains("not(target_os = \"linux\")") && process_lib.contains("compile_error!")
    {
        refuses_off_linux("bingfa-process")?;
    } else {
        println!(
            "  skipped: bingfa-process on {OTHER_TARGET}: its lib.rs has no compile_error! for \
             other targets yet"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_package_names_of_a_lockfile() {
        let lock = "version = 4\n\n[[package]]\nname = \"loom\"\nversion = \"0.7.2\"\n\n[[package]]\nname = \"libc\"\n";
        assert_eq!(locked_names(lock), vec!["loom", "libc"]);
    }

    #[test]
    fn finds_a_feature_only_in_the_features_table() {
        let manifest = "[dependencies]\nprocess = \"1\"\n\n[features]\ndefault = [\"process\"]\nprocess = [\"dep:bingfa-process\"]\n\n[lints]\nworkspace = true\n";
        assert!(declares_feature(manifest, "process"));
        assert!(declares_feature(manifest, "default"));
        assert!(!declares_feature(manifest, "workspace"));
        let without = "[dependencies]\nprocess = \"1\"\n[features]\nloom = [\"dep:loom\"]\n";
        assert!(!declares_feature(without, "process"));
    }

    #[test]
    fn the_first_error_line_is_the_one_reported() {
        let stderr = "   Compiling x\nerror: bingfa-green supports Linux only: ...\n --> src/lib.rs\nerror[E0425]: cannot find value\n";
        assert_eq!(
            first_error(stderr),
            Some("error: bingfa-green supports Linux only: ...")
        );
        assert_eq!(first_error("warning: x\n"), None);
    }
}
