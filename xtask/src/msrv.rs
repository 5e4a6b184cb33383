//! `cargo xtask msrv`: checks that the workspace's declared minimum Rust
//! version (`rust-version` in `[workspace.package]`) is true.
//!
//! 1. Every workspace member declares the same version.
//! 2. No package in the dependency graph (`cargo metadata`, every target and
//!    dev-dependency included) declares a newer one.
//! 3. When a toolchain of exactly that version is installed (`rustup
//!    toolchain list`), `cargo +VERSION check --workspace --all-targets`
//!    builds with it (in `target/msrv`). When it is not, the step says so
//!    and how to install it. When the default toolchain is that version,
//!    every other build already checks it and this step builds nothing.

use std::process::{Command, ExitCode, Stdio};

use crate::json::Json;
use crate::{cargo, show, target_dir, Result};

/// A `major.minor[.patch]` version, compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(u32, u32, u32);

impl Version {
    pub(crate) fn parse(s: &str) -> Option<Version> {
        let mut it = s.trim().split('.').map(|p| p.parse::<u32>());
        let major = it.next()?.ok()?;
        let minor = it.next().map_or(Some(0), |p| p.ok())?;
        let patch = it.next().map_or(Some(0), |p| p.ok())?;
        it.next().is_none().then_some(Version(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// (name, version, declared rust-version, is a workspace member) of every
/// package in `cargo metadata`'s output.
pub(crate) fn packages(metadata: &Json) -> Vec<(String, String, Option<Version>, bool)> {
    let members: Vec<&str> = match metadata.get("workspace_members") {
        Some(Json::Arr(m)) => m.iter().filter_map(Json::str).collect(),
        _ => Vec::new(),
    };
    let Some(Json::Arr(pkgs)) = metadata.get("packages") else {
        return Vec::new();
    };
    pkgs.iter()
        .map(|p| {
            let s = |k: &str| p.get(k).and_then(Json::str).unwrap_or("").to_string();
            let rv = p
                .get("rust_version")
                .and_then(Json::str)
                .and_then(Version::parse);
            let id = s("id");
            (s("name"), s("version"), rv, members.contains(&id.as_str()))
        })
        .collect()
}

/// The problems with the declared version, given the packages.
pub(crate) fn problems(
    pkgs: &[(String, String, Option<Version>, bool)],
) -> (Option<Version>, Vec<String>) {
    let mut out = Vec::new();
    // The members that publish (xtask does not, and declares none).
    let declared: Vec<(&str, Option<Version>)> = pkgs
        .iter()
        .filter(|p| p.3 && p.0 != "xtask")
        .map(|p| (p.0.as_str(), p.2))
        .collect();
    let msrv = declared.iter().filter_map(|d| d.1).min();
    let Some(msrv) = msrv else {
        out.push("no workspace member declares a rust-version".to_string());
        return (None, out);
    };
    for (name, v) in &declared {
        if *v != Some(msrv) {
            out.push(format!(
                "{name} declares rust-version {}, the workspace {msrv}: inherit it (`rust-version.workspace = true`)",
                v.map_or("nothing".to_string(), |v| v.to_string())
            ));
        }
    }
    for (name, version, rv, member) in pkgs {
        if let (Some(rv), false) = (rv, member) {
            if *rv > msrv {
                out.push(format!(
                    "dependency {name} {version} needs Rust {rv}, newer than the declared {msrv}"
                ));
            }
        }
    }
    (Some(msrv), out)
}

fn metadata() -> Result<Json> {
    let mut cmd = cargo(["metadata", "--format-version", "1"]);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
    if !out.status.success() {
        return Err(format!("`{}` failed", show(&cmd)));
    }
    Json::parse(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| format!("cargo metadata's output: {e}"))
}

/// The installed toolchain of exactly `v`, if any (`1.95.0-x86_64-...`).
fn installed(v: Version) -> Option<String> {
    let out = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .ok()?;
    let want = v.to_string();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .find(|t| t.split('-').next() == Some(want.as_str()))
        .map(|t| t.split('-').next().unwrap_or(t).to_string())
}

/// The version of the `rustc` cargo uses by default here.
fn current_rustc() -> Option<Version> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().ok()?;
    // `rustc 1.95.0 (59807616e 2026-04-14)`
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().nth(1)?;
    Version::parse(v.split('-').next()?)
}

/// `cargo xtask msrv`.
pub(crate) fn run() -> Result<ExitCode> {
    let meta = metadata()?;
    let pkgs = packages(&meta);
    let (msrv, problems) = problems(&pkgs);
    let Some(msrv) = msrv else {
        return Err(problems.join("\n"));
    };
    let newest = pkgs
        .iter()
        .filter(|p| !p.3)
        .filter_map(|p| p.2.map(|v| (v, p.0.as_str())))
        .max();
    println!(
        "msrv: declared {msrv}; {} dependencies, the newest need {}",
        pkgs.iter().filter(|p| !p.3).count(),
        newest.map_or("nothing".into(), |(v, n)| format!("{v} ({n})"))
    );
    if !problems.is_empty() {
        return Err(format!(
            "the declared rust-version {msrv} is not true:\n  {}",
            problems.join("\n  ")
        ));
    }
    if current_rustc() == Some(msrv) {
        println!(
            "msrv: the default toolchain is Rust {msrv} itself, so every other build checks it"
        );
        return Ok(ExitCode::SUCCESS);
    }
    match installed(msrv) {
        Some(tc) => {
            let mut cmd = Command::new("cargo");
            cmd.arg(format!("+{tc}"))
                .args(["check", "--workspace", "--all-targets", "--target-dir"])
                .arg(target_dir().join("msrv"))
                .current_dir(crate::project_root())
                .env_remove("RUSTUP_TOOLCHAIN")
                .env_remove("CARGO")
                .env_remove("RUSTC");
            println!("$ {}", show(&cmd));
            let st = cmd
                .status()
                .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
            if !st.success() {
                return Err(format!("the workspace does not build with Rust {msrv}"));
            }
            println!("msrv: the workspace builds with Rust {msrv}");
        }
        None => println!(
            "msrv: no Rust {msrv} toolchain installed, so the build with it is not checked \
             (`rustup toolchain install {msrv} --profile minimal` adds it)"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, rv: Option<&str>, member: bool) -> (String, String, Option<Version>, bool) {
        (
            name.into(),
            "1.0.0".into(),
            rv.and_then(Version::parse),
            member,
        )
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(Version::parse("1.95").unwrap() > Version::parse("1.89.1").unwrap());
        assert!(Version::parse("1.100").unwrap() > Version::parse("1.95").unwrap());
        assert_eq!(Version::parse("1.95"), Version::parse("1.95.0"));
        assert_eq!(Version::parse("x"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
    }

    #[test]
    fn a_dependency_newer_than_declared_is_a_problem() {
        let pkgs = [
            p("bingfa-sync", Some("1.89"), true),
            p("xtask", None, true),
            p("parking_lot", Some("1.95"), false),
            p("libc", None, false),
        ];
        let (msrv, probs) = problems(&pkgs);
        assert_eq!(msrv, Version::parse("1.89"));
        assert_eq!(probs.len(), 1);
        assert!(probs[0].contains("parking_lot"), "{probs:?}");
    }

    #[test]
    fn members_must_agree() {
        let pkgs = [
            p("bingfa-sync", Some("1.95"), true),
            p("bingfa-queue", Some("1.96"), true),
            p("parking_lot", Some("1.95"), false),
        ];
        let (_, probs) = problems(&pkgs);
        assert_eq!(probs.len(), 1);
        assert!(probs[0].contains("bingfa-queue"), "{probs:?}");
    }
}
