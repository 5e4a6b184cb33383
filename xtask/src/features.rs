//! `cargo xtask features`: every crate builds alone with each feature set a
//! user can pick, and a crate that depends on it gets none of our
//! development tools in its lockfile.
//!
//! 1. For each publishable crate under `crates/`: `cargo check -p CRATE
//!    --lib` with `--no-default-features`, with the defaults, and with
//!    `--all-features`.
//! 2. For each of them, a downstream crate (made in `target/downstream/`,
//!    outside the workspace) that depends on it by path, once with default
//!    features and once with `default-features = false`: its `Cargo.lock`
//!    must hold no `loom` (nor criterion or any other dev tool of ours), and
//!    it must build.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::{cargo, crates, project_root, show, target_dir, Result};

/// Packages that must never reach a downstream lockfile.
const FORBIDDEN: &[&str] = &["loom", "criterion", "generator"];

/// The crates whose manifests say they publish (`publish = false` does not).
fn publishable() -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (name, dir) in crates()? {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        if !manifest.contains("publish = false") {
            out.push(name);
        }
    }
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

/// `cargo xtask features [CRATE...]`.
pub(crate) fn run(only: &[String]) -> Result<ExitCode> {
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
            .unwrap_or_else(|| project_root().join("crates").join(krate));
        downstream(krate, &dir, true)?;
        downstream(krate, &dir, false)?;
    }
    println!("\nfeatures: {} crates checked", chosen.len());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_package_names_of_a_lockfile() {
        let lock = "version = 4\n\n[[package]]\nname = \"loom\"\nversion = \"0.7.2\"\n\n[[package]]\nname = \"libc\"\n";
        assert_eq!(locked_names(lock), vec!["loom", "libc"]);
    }
}
