//! `cargo xtask publish-check`: the workspace could be published as it is.
//!
//! 1. Every package that publishes (`cargo metadata`: `publish` is not
//!    `[]`) has a description, a licence, a repository, a readme, keywords
//!    and categories, and each of its path dependencies carries a
//!    `version` (crates.io refuses a bare path).
//! 2. `cargo publish --dry-run --workspace --allow-dirty`: cargo packages
//!    every publishable crate in dependency order and builds each package
//!    on its own, against the packages of its siblings, as crates.io would
//!    (it needs the crates.io index, and uploads nothing). Its output goes
//!    to the terminal as it comes; on failure the crate that broke and the
//!    error lines are printed again at the end.

use std::io::{BufRead, BufReader};
use std::process::{ExitCode, Stdio};

use crate::json::Json;
use crate::{cargo, msrv, show, Result};

/// What a package's manifest lacks for crates.io.
pub(crate) fn manifest_problems(pkg: &Json) -> Vec<String> {
    let name = pkg.get("name").and_then(Json::str).unwrap_or("?");
    let mut out = Vec::new();
    for key in ["description", "license", "repository", "readme"] {
        if pkg.get(key).and_then(Json::str).is_none_or(str::is_empty) {
            out.push(format!("{name}: no `{key}` in its Cargo.toml"));
        }
    }
    for key in ["keywords", "categories"] {
        match pkg.get(key) {
            Some(Json::Arr(items)) if !items.is_empty() => {}
            _ => out.push(format!("{name}: no `{key}` in its Cargo.toml")),
        }
    }
    if let Some(Json::Arr(deps)) = pkg.get("dependencies") {
        for dep in deps {
            let is_path = dep.get("path").and_then(Json::str).is_some();
            let dev = dep.get("kind").and_then(Json::str) == Some("dev");
            let req = dep.get("req").and_then(Json::str).unwrap_or("*");
            // A dev-dependency by path alone is dropped from the package;
            // any other must name the version crates.io will resolve.
            if is_path && !dev && req == "*" {
                let dep_name = dep.get("name").and_then(Json::str).unwrap_or("?");
                out.push(format!(
                    "{name}: the path dependency {dep_name} has no `version`"
                ));
            }
        }
    }
    out
}

/// Whether cargo metadata's package `pkg` publishes (`publish = false`
/// shows as an empty list of registries).
fn publishes(pkg: &Json) -> bool {
    !matches!(pkg.get("publish"), Some(Json::Arr(r)) if r.is_empty())
}

/// The package a line of `cargo publish`'s output is about, if it starts
/// work on one (`Packaging`, `Verifying`, `Uploading`).
pub(crate) fn package_of(line: &str) -> Option<&str> {
    let rest = line.trim_start();
    let rest = ["Packaging ", "Verifying ", "Uploading "]
        .iter()
        .find_map(|p| rest.strip_prefix(p))?;
    rest.split_whitespace().next()
}

/// Removes the sources that an earlier dry run extracted from its
/// temporary registry (`$CARGO_HOME/registry/src/-<hash>/NAME-VERSION`).
/// Cargo extracts a registry package once and reuses the directory for
/// the same name and version, so a sibling built against them would see
/// the workspace as it was then (a function added since "not found").
/// crates.io's own directories (`index.*`) are left alone.
fn forget_extracted_packages(names: &[&str]) {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return;
    };
    for registry in registries.flatten() {
        if registry.file_name().to_string_lossy().starts_with("index.") {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            let ours = names.iter().any(|n| {
                file.strip_prefix(n)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
            });
            if ours {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// `cargo xtask publish-check`.
pub(crate) fn run() -> Result<ExitCode> {
    let meta = msrv::metadata()?;
    let members: Vec<&str> = match meta.get("workspace_members") {
        Some(Json::Arr(m)) => m.iter().filter_map(Json::str).collect(),
        _ => Vec::new(),
    };
    let Some(Json::Arr(pkgs)) = meta.get("packages") else {
        return Err("cargo metadata lists no packages".into());
    };
    let mut problems = Vec::new();
    let mut names = Vec::new();
    for pkg in pkgs {
        let id = pkg.get("id").and_then(Json::str).unwrap_or("");
        if members.contains(&id) && publishes(pkg) {
            names.push(pkg.get("name").and_then(Json::str).unwrap_or("?"));
            problems.extend(manifest_problems(pkg));
        }
    }
    println!(
        "publish-check: {} packages publish: {}",
        names.len(),
        names.join(", ")
    );
    if !problems.is_empty() {
        for p in &problems {
            println!("  {p}");
        }
        return Err(format!(
            "{} manifest problem(s) above; fix them, then `cargo xtask publish-check`",
            problems.len()
        ));
    }

    forget_extracted_packages(&names);
    let mut cmd = cargo(["publish", "--dry-run", "--workspace", "--allow-dirty"]);
    println!("$ {}", show(&cmd));
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
    let mut current: Option<String> = None;
    let mut errors = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line.map_err(|e| e.to_string())?;
            eprintln!("{line}");
            if let Some(pkg) = package_of(&line) {
                current = Some(pkg.to_string());
            }
            if line.starts_with("error") || line.starts_with("Caused by") {
                errors.push(line);
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        println!("publish-check: every package packages and builds on its own");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "\npublish-check: `{}` failed (last package it worked on: {})",
        show(&cmd),
        current.as_deref().unwrap_or("none")
    );
    for e in &errors {
        println!("  {e}");
    }
    Ok(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_package_of_a_progress_line() {
        assert_eq!(
            package_of("   Verifying bingfa-sync v0.1.0 (/w/crates/bingfa-sync)"),
            Some("bingfa-sync")
        );
        assert_eq!(package_of("  Packaging bingfa v0.1.0 (/w)"), Some("bingfa"));
        assert_eq!(package_of("   Compiling libc v0.2.191"), None);
    }

    #[test]
    fn a_bare_manifest_lacks_every_field_and_a_path_dependency_its_version() {
        let pkg = Json::parse(
            r#"{"name": "x", "description": "d", "license": null, "keywords": [],
                "dependencies": [
                  {"name": "y", "path": "/w/y", "req": "*", "kind": null},
                  {"name": "z", "path": "/w/z", "req": "*", "kind": "dev"},
                  {"name": "w", "path": "/w/w", "req": "^0.1.0", "kind": null}
                ]}"#,
        )
        .unwrap();
        let p = manifest_problems(&pkg);
        assert!(p.contains(&"x: no `license` in its Cargo.toml".to_string()));
        assert!(p.contains(&"x: no `repository` in its Cargo.toml".to_string()));
        assert!(p.contains(&"x: no `readme` in its Cargo.toml".to_string()));
        assert!(p.contains(&"x: no `keywords` in its Cargo.toml".to_string()));
        assert!(p.contains(&"x: no `categories` in its Cargo.toml".to_string()));
        assert!(p.contains(&"x: the path dependency y has no `version`".to_string()));
        assert!(!p
            .iter()
            .any(|l| l.contains("description") || l.contains(" z ") || l.contains(" w ")));
        assert_eq!(p.len(), 6);
    }
}
