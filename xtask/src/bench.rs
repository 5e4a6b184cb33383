//! `cargo xtask bench`: runs the criterion benches and prints one table.
//!
//! # The convention the benches follow
//!
//! A criterion **group is one comparison**: group `mutex/uncontended` has one
//! function per contender, `bingfa`, `parking_lot`, `std`, ... (a
//! `BenchmarkId::new("bingfa", 8)` parameter makes `mutex/contended/8` a
//! comparison of its own). The function named `bingfa` (or starting with
//! `bingfa`) is the reference: each row's **ratio is its median time over the
//! reference's median time**, so `parking_lot 1.25x` means parking_lot takes
//! 1.25 times as long as bingfa (bingfa is faster) and `0.80x` means it takes
//! 0.8 times as long (bingfa is slower). A group without a `bingfa` member
//! compares to its fastest member. Throughput is shown when the group set one
//! (`group.throughput(Throughput::Elements(n))`).
//!
//! Benches that measure what criterion cannot (resident memory, an echo
//! server under a load generator) print `bingfa-bench:` lines instead; they
//! get a second table, see [`crate::extra`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use crate::extra;
use crate::json::Json;
use crate::{cargo, crates, files_with_ext, project_root, show, target_dir, Result};

/// How much work one iteration does, as criterion recorded it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Throughput {
    Elements(f64),
    Bytes(f64),
    BytesDecimal(f64),
}

/// One benchmark's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BenchResult {
    /// The comparison: the group id, plus `/value` for a parameter.
    pub group: String,
    /// The contender: the function id.
    pub member: String,
    pub median_ns: f64,
    pub mean_ns: f64,
    pub throughput: Option<Throughput>,
    /// The regular expression that makes criterion run this group alone
    /// (its argument after `--`).
    pub filter: String,
}

/// Reads one result from the contents of criterion's `benchmark.json` and
/// `estimates.json`.
pub(crate) fn parse_result(benchmark: &str, estimates: &str) -> Result<BenchResult> {
    let b = Json::parse(benchmark).map_err(|e| format!("benchmark.json: {e}"))?;
    let e = Json::parse(estimates).map_err(|e| format!("estimates.json: {e}"))?;
    let group_id = b
        .get("group_id")
        .and_then(Json::str)
        .ok_or("benchmark.json: no group_id")?;
    let function = b.get("function_id").and_then(Json::str);
    let value = b.get("value_str").and_then(Json::str);
    let whole_group = format!("^{}/", regex_escape(group_id));
    let (group, member, filter) = match (function, value) {
        // `BenchmarkId::new(f, v)`: criterion's id is `group_id/f/v`, and
        // the comparison is every `f` of one `v`.
        (Some(f), Some(v)) => (
            format!("{group_id}/{v}"),
            f.to_string(),
            format!("^{}/[^/]+/{}$", regex_escape(group_id), regex_escape(v)),
        ),
        (Some(f), None) => (group_id.to_string(), f.to_string(), whole_group),
        // `bench_with_input(BenchmarkId::from_parameter(v))`: the values
        // are the contenders.
        (None, Some(v)) => (group_id.to_string(), v.to_string(), whole_group),
        (None, None) => (group_id.to_string(), String::new(), whole_group),
    };
    let point = |stat: &str| {
        e.at(&[stat, "point_estimate"])
            .and_then(Json::num)
            .ok_or(format!("estimates.json: no {stat}.point_estimate"))
    };
    let throughput = b.get("throughput").and_then(|t| {
        let n = |k: &str| t.get(k).and_then(Json::num);
        n("Elements")
            .map(Throughput::Elements)
            .or_else(|| n("Bytes").map(Throughput::Bytes))
            .or_else(|| n("BytesDecimal").map(Throughput::BytesDecimal))
            .or_else(|| {
                t.at(&["ElementsAndBytes", "elements"])
                    .and_then(Json::num)
                    .map(Throughput::Elements)
            })
    });
    Ok(BenchResult {
        group,
        member,
        median_ns: point("median")?,
        mean_ns: point("mean")?,
        throughput,
        filter,
    })
}

/// Formats nanoseconds in a readable unit.
pub(crate) fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

/// Formats a rate per second with an SI (or binary, for bytes) prefix.
pub(crate) fn fmt_throughput(t: Throughput, ns: f64) -> String {
    let (per_iter, unit, base, prefixes) = match t {
        Throughput::Elements(n) => (n, "elem/s", 1000.0, ["", "K", "M", "G", "T"]),
        Throughput::Bytes(n) => (n, "B/s", 1024.0, ["", "Ki", "Mi", "Gi", "Ti"]),
        Throughput::BytesDecimal(n) => (n, "B/s", 1000.0, ["", "K", "M", "G", "T"]),
    };
    let mut rate = per_iter / (ns * 1e-9);
    let mut p = 0;
    while rate >= base && p + 1 < prefixes.len() {
        rate /= base;
        p += 1;
    }
    format!("{rate:.2} {}{unit}", prefixes[p])
}

/// Each row's ratio over several runs: median, lowest, highest, runs.
pub(crate) type Spread = BTreeMap<(String, String), (f64, f64, f64, usize)>;

/// The table: one block of rows per comparison, the reference first.
pub(crate) fn table(results: &[BenchResult]) -> String {
    render(results, None)
}

/// The table of several runs: each row's median figures, and its ratio as
/// the median of the per-run ratios with their range.
pub(crate) fn table_with_spread(results: &[BenchResult], spread: &Spread) -> String {
    render(results, Some(spread))
}

fn render(results: &[BenchResult], spread: Option<&Spread>) -> String {
    let mut groups: BTreeMap<&str, Vec<&BenchResult>> = BTreeMap::new();
    for r in results {
        groups.entry(&r.group).or_default().push(r);
    }
    let is_ref = |r: &BenchResult| r.member.starts_with("bingfa");
    let ratio = ratios(results);
    let mut rows = vec![[
        "group".to_string(),
        "member".into(),
        "median".into(),
        "mean".into(),
        "throughput".into(),
        "ratio".into(),
    ]];
    for (group, mut members) in groups {
        members.sort_by(|a, b| (!is_ref(a), &a.member).cmp(&(!is_ref(b), &b.member)));
        for (i, r) in members.iter().enumerate() {
            rows.push([
                if i == 0 {
                    group.to_string()
                } else {
                    String::new()
                },
                r.member.clone(),
                fmt_ns(r.median_ns),
                fmt_ns(r.mean_ns),
                r.throughput
                    .map_or(String::new(), |t| fmt_throughput(t, r.median_ns)),
                {
                    let key = (group.to_string(), r.member.clone());
                    ratio_cell(spread.and_then(|s| s.get(&key)), ratio.get(&key))
                        .unwrap_or_else(|| "?".into())
                },
            ]);
        }
    }
    let mut widths = [0; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: &[String; 6]| {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(k, (c, w))| {
                if k >= 2 {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = line(&rows[0]);
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(k, &w)| {
            if k >= 2 {
                format!("{}:", "-".repeat(w + 1))
            } else {
                "-".repeat(w + 2)
            }
        })
        .collect();
    out += &format!("|{}|\n", rule.join("|"));
    for row in &rows[1..] {
        out += &line(row);
    }
    out
}

/// Where criterion keeps its results.
fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(d) if !d.is_empty() => project_root().join(d),
        _ => target_dir().join("criterion"),
    }
}

/// Every result under `dir` whose estimates are not older than `since`.
fn collect(dir: &Path, since: Option<SystemTime>) -> Result<Vec<BenchResult>> {
    let mut out = Vec::new();
    for est in files_with_ext(dir, "/new/estimates.json") {
        if let Some(since) = since {
            let modified = std::fs::metadata(&est).and_then(|m| m.modified());
            if modified.map_or(true, |m| m < since) {
                continue;
            }
        }
        let bench = est.with_file_name("benchmark.json");
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        let r = parse_result(&read(&bench)?, &read(&est)?)
            .map_err(|e| format!("{}: {e}", est.display()))?;
        out.push(r);
    }
    Ok(out)
}

/// `cargo xtask bench [CRATE] [--rounds N]`.
pub(crate) fn run_args(args: &[String]) -> Result<ExitCode> {
    let usage = "usage: cargo xtask bench [CRATE] [--rounds N] | --table";
    let mut krate = None;
    let mut rounds = 1;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => {
                rounds = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n: &usize| n >= 1)
                    .ok_or("--rounds takes a number, 1 or more")?;
            }
            k if krate.is_none() && !k.starts_with('-') => krate = Some(k),
            _ => return Err(usage.into()),
        }
    }
    run(krate, rounds)
}

/// Runs the benches of `only`, or of every crate with a `benches/`, then
/// prints and writes the table of this run's results.
///
/// With `rounds` above one, every crate's benches run that many times in
/// turn (round 1 of every crate, then round 2, ...: a slow minute of the
/// machine falls on one round of every group, not on every round of one),
/// each row's ratio is taken inside its own round, and the table shows the
/// median ratio with its range. A group whose ratios disagree on the side
/// of 1.00x across rounds (bingfa faster in one, slower in another) is run
/// again, alone, up to [`MAX_REPEATS`] more times: a criterion group, and
/// a group of figures (echo, memory, IPC rounds) alike.
///
/// With `only`, the groups of BENCHMARKS.md that this run did not measure
/// keep their rows, and the file's head says which run they came from.
pub(crate) fn run(only: Option<&str>, rounds: usize) -> Result<ExitCode> {
    let with_benches: Vec<String> = crates()?
        .into_iter()
        .filter(|(_, dir)| !files_with_ext(&dir.join("benches"), ".rs").is_empty())
        .map(|(name, _)| name)
        .collect();
    let chosen = match only {
        Some(name) if with_benches.iter().any(|c| c == name) => vec![name.to_string()],
        Some(name) => {
            return Err(format!(
                "crate `{name}` has no benches (crates with benches: {})",
                with_benches.join(", ")
            ))
        }
        None => with_benches,
    };
    if chosen.is_empty() {
        return Err("no crate has a benches/ directory with a bench in it".into());
    }
    let args = std::env::var("BENCH_ARGS")
        .unwrap_or_else(|_| "--warm-up-time 1 --measurement-time 3".into());
    let rounds = rounds.max(1);
    let conditions_before = conditions();
    // Every round's figures outside criterion (echo, memory, IPC rounds).
    let mut figure_rounds: Vec<Vec<extra::Figure>> = Vec::new();
    // Every round's results, and which crate each group came from.
    let mut runs: Vec<Vec<BenchResult>> = Vec::new();
    // group -> (its crate, the filter that runs it alone)
    let mut home: BTreeMap<String, (String, String)> = BTreeMap::new();
    // figure group -> its crate
    let mut figure_home: BTreeMap<String, String> = BTreeMap::new();
    for round in 1..=rounds {
        let mut this_round = Vec::new();
        let mut these_figures = Vec::new();
        for krate in &chosen {
            let label = if rounds > 1 {
                format!("{krate}, round {round}/{rounds}")
            } else {
                krate.clone()
            };
            let (results, these) = bench_once(krate, &label, &args, None)?;
            for r in &results {
                home.insert(r.group.clone(), (krate.clone(), r.filter.clone()));
            }
            for f in &these {
                figure_home.insert(f.group.clone(), krate.clone());
            }
            this_round.extend(results);
            these_figures.extend(these);
        }
        runs.push(this_round);
        figure_rounds.push(these_figures);
    }
    if rounds > 1 {
        for repeat in 1..=MAX_REPEATS {
            let unsettled = unsettled_groups(&runs);
            let unsettled_figures = extra::unsettled_groups(&figure_rounds);
            if unsettled.is_empty() && unsettled_figures.is_empty() {
                break;
            }
            for group in unsettled {
                let Some((krate, filter)) = home.get(&group) else {
                    continue;
                };
                let label = format!("{krate}, group {group} again ({repeat}/{MAX_REPEATS})");
                let (results, _) = bench_once(krate, &label, &args, Some(filter))?;
                runs.push(results.into_iter().filter(|r| r.group == group).collect());
            }
            // The figures (echo, memory, IPC rounds) the same way. Their
            // benches take the group's name as their filter (each runs
            // when the name asks for it, and criterion's benches match
            // nothing, or the same group); a bench that makes several
            // groups makes them all, so one run serves every unsettled
            // group it prints. They form one more round together.
            let mut fresh: Vec<extra::Figure> = Vec::new();
            for group in &unsettled_figures {
                if fresh.iter().any(|f| &f.group == group) {
                    continue;
                }
                let Some(krate) = figure_home.get(group) else {
                    continue;
                };
                let label = format!("{krate}, figures {group} again ({repeat}/{MAX_REPEATS})");
                let (_, these) = bench_once(krate, &label, &args, Some(group))?;
                let new_groups: Vec<String> = these
                    .iter()
                    .map(|f| f.group.clone())
                    .filter(|g| {
                        unsettled_figures.contains(g) && !fresh.iter().any(|f| &f.group == g)
                    })
                    .collect();
                fresh.extend(these.into_iter().filter(|f| new_groups.contains(&f.group)));
            }
            if !fresh.is_empty() {
                figure_rounds.push(fresh);
            }
        }
    }
    let conditions_after = conditions();
    let measured = match only {
        Some(krate) => format!("- measured: the groups of {krate} only\n"),
        None => String::new(),
    };
    let conditions = format!(
        "{measured}- before the run: {conditions_before}\n- after the run: {conditions_after}\n- rounds: {rounds}{}\n",
        if rounds > 1 {
            format!(
                " (a group whose ratio fell on both sides of 1.00x was run up to {MAX_REPEATS} more times)"
            )
        } else {
            String::new()
        }
    );
    if only.is_some() {
        // The other crates' figures: the file's rows where it has them
        // (`report` keeps those, with the spread of their rounds), else as
        // their last run stored them on this machine (once: one run's; a
        // stored run is only a crate's last round, or the repeat of one
        // group, so it must not replace a summary of several rounds).
        let measured: Vec<(String, String)> = figure_rounds
            .iter()
            .flatten()
            .map(|f| (f.group.clone(), f.member.clone()))
            .collect();
        let old = std::fs::read_to_string(project_root().join("BENCHMARKS.md")).unwrap_or_default();
        let in_file = figure_groups(&old);
        figure_rounds[0].extend(extra::load_all().into_iter().filter(|f| {
            !measured.contains(&(f.group.clone(), f.member.clone())) && !in_file.contains(&f.group)
        }));
    }
    report(&runs, &figure_rounds, &args, &conditions, only.is_some())
}

/// How many more times a group whose rounds disagree is run, at most.
const MAX_REPEATS: usize = 2;

/// Runs one crate's benches once (only those `filter`, a criterion
/// filter such as `^group/`, matches, when given) and returns the results this run wrote, with the
/// `bingfa-bench:` figures it printed.
fn bench_once(
    krate: &str,
    label: &str,
    args: &str,
    filter: Option<&str>,
) -> Result<(Vec<BenchResult>, Vec<extra::Figure>)> {
    let started = SystemTime::now();
    // `--bench '*'`: the bench targets only. Plain `cargo bench` (and
    // `--benches`, which includes the lib) also runs the lib's unit tests
    // under libtest, which refuses criterion's arguments.
    let mut cmd = cargo(["bench", "-p", krate, "--bench", "*", "--"]);
    cmd.args(args.split_whitespace());
    if let Some(f) = filter {
        cmd.arg(f);
    }
    println!("\n=== bench: {label} ===\n$ {}", show(&cmd));
    let shown = show(&cmd);
    let (status, these) = extra::run_capturing(cmd)?;
    if filter.is_none() {
        extra::store(krate, &these)?;
    }
    if !status.success() {
        return Err(format!(
            "`{shown}` failed; rerun `cargo xtask bench {krate}`"
        ));
    }
    Ok((collect(&criterion_dir(), Some(started))?, these))
}

/// `s` with the characters a regular expression gives a meaning escaped.
fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The groups with a member whose ratio, taken inside each round, falls
/// on both sides of 1.00x (beyond a 2% tie band): one run says bingfa is
/// faster than that member, another that it is slower. (Two members on
/// either side of bingfa in every round are settled.)
pub(crate) fn unsettled_groups(runs: &[Vec<BenchResult>]) -> Vec<String> {
    groups_on_both_sides(runs.iter().map(|run| ratios(run)))
}

/// The groups of the `(group, member) -> ratio` maps, one a round, that
/// have a member above 1.02 in one round and below 0.98 in another.
pub(crate) fn groups_on_both_sides(
    rounds: impl Iterator<Item = BTreeMap<(String, String), f64>>,
) -> Vec<String> {
    let mut sides: BTreeMap<(String, String), (bool, bool)> = BTreeMap::new();
    for round in rounds {
        for (key, ratio) in round {
            let e = sides.entry(key).or_default();
            e.0 |= ratio > 1.02;
            e.1 |= ratio < 0.98;
        }
    }
    let mut out: Vec<String> = sides
        .into_iter()
        .filter(|(_, (above, below))| *above && *below)
        .map(|((g, _), _)| g)
        .collect();
    out.dedup();
    out
}

/// Each row's ratio inside one run: its median over its group's
/// reference's (the `bingfa` row, else the fastest).
pub(crate) fn ratios(run: &[BenchResult]) -> BTreeMap<(String, String), f64> {
    let mut groups: BTreeMap<&str, Vec<&BenchResult>> = BTreeMap::new();
    for r in run {
        groups.entry(&r.group).or_default().push(r);
    }
    let mut out = BTreeMap::new();
    for (group, members) in groups {
        let reference = members
            .iter()
            .filter(|r| r.member.starts_with("bingfa"))
            .min_by(|a, b| a.member.cmp(&b.member))
            .or_else(|| {
                members
                    .iter()
                    .min_by(|a, b| a.median_ns.total_cmp(&b.median_ns))
            });
        let Some(reference) = reference else { continue };
        for m in &members {
            out.insert(
                (group.to_string(), m.member.clone()),
                m.median_ns / reference.median_ns,
            );
        }
    }
    out
}

/// One row per (group, member) over several runs: the median of its
/// medians and means, and its ratios' median, minimum and maximum.
pub(crate) fn summarize(runs: &[Vec<BenchResult>]) -> (Vec<BenchResult>, Spread) {
    let mut rows: BTreeMap<(String, String), Vec<&BenchResult>> = BTreeMap::new();
    let mut rs: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for run in runs {
        for r in run {
            rows.entry((r.group.clone(), r.member.clone()))
                .or_default()
                .push(r);
        }
        for (k, v) in ratios(run) {
            rs.entry(k).or_default().push(v);
        }
    }
    let mut results = Vec::new();
    for ((group, member), list) in &rows {
        let mut medians: Vec<f64> = list.iter().map(|r| r.median_ns).collect();
        let mut means: Vec<f64> = list.iter().map(|r| r.mean_ns).collect();
        results.push(BenchResult {
            group: group.clone(),
            member: member.clone(),
            median_ns: median(&mut medians),
            mean_ns: median(&mut means),
            throughput: list[0].throughput,
            filter: list[0].filter.clone(),
        });
    }
    let spread = rs.into_iter().map(|(k, v)| (k, spread_of(v))).collect();
    (results, spread)
}

/// One row's ratios over several runs: (median, lowest, highest, runs).
pub(crate) fn spread_of(mut v: Vec<f64>) -> (f64, f64, f64, usize) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median(&mut v), lo, hi, v.len())
}

/// A table's ratio cell: `1.00x` for the reference row, the median with
/// its range over several runs, else the one run's ratio (`None`: none).
pub(crate) fn ratio_cell(
    spread: Option<&(f64, f64, f64, usize)>,
    single: Option<&f64>,
) -> Option<String> {
    match spread {
        Some(&(_, lo, hi, _)) if lo == 1.0 && hi == 1.0 => Some("1.00x".into()),
        Some(&(med, lo, hi, n)) if n > 1 => Some(format!("{med:.2}x ({lo:.2}-{hi:.2}, {n} runs)")),
        _ => single.map(|x| format!("{x:.2}x")),
    }
}

/// The median of `v` (sorts it); NaN when empty.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `cargo xtask bench --table`: the table of every result criterion keeps.
pub(crate) fn table_only() -> Result<ExitCode> {
    let results = collect(&criterion_dir(), None)?;
    report(
        &[results],
        &[extra::load_all()],
        "(from earlier runs)",
        &format!("- now: {}\n", conditions()),
        false,
    )
}

fn report(
    runs: &[Vec<BenchResult>],
    figure_rounds: &[Vec<extra::Figure>],
    args: &str,
    conditions: &str,
    partial: bool,
) -> Result<ExitCode> {
    if runs.iter().all(|r| r.is_empty()) {
        return Err(format!(
            "no criterion results in {}: run `cargo xtask bench`",
            criterion_dir().display()
        ));
    }
    let mut table = if runs.len() > 1 {
        let (results, spread) = summarize(runs);
        table_with_spread(&results, &spread)
    } else {
        table(&runs[0])
    };
    let mut figures = if figure_rounds.iter().all(|f| f.is_empty()) {
        String::new()
    } else if figure_rounds.len() > 1 {
        let (figures, spread) = extra::summarize(figure_rounds);
        extra::table_with_spread(&figures, Some(&spread))
    } else {
        extra::table(&figure_rounds[0])
    };
    println!("\n{table}\n{figures}");
    let path = project_root().join("BENCHMARKS.md");
    let mut conditions = conditions.to_string();
    if partial {
        // One crate's run: the other groups keep their rows from the file
        // (the figures outside criterion: from each crate's last run stored
        // on this machine, else from the file).
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        figures = align_table(&merge_figures(&figures, &old));
        let (merged, kept) = merge_tables(&table, &old);
        if kept > 0 {
            // The kept rows were padded for their own run's widths.
            table = align_table(&merged);
            conditions += &earlier_runs_items(kept, &earlier_runs(&header_items(&old)));
        }
    }
    if !figures.is_empty() {
        table += &format!("\n{OUTSIDE_INTRO}\n\n{figures}");
    }
    // Hand-written notes on the figures live in benches/NOTES.md and are
    // appended, so that a new run keeps them.
    let notes_path = project_root().join("benches").join("NOTES.md");
    let notes = std::fs::read_to_string(&notes_path)
        .map(|n| format!("\n{n}"))
        .unwrap_or_default();
    let md = format!(
        "# Benchmarks\n\nWritten by `cargo xtask bench` (the notes at the end come from \
         `benches/NOTES.md`); do not edit by hand.\n\n{}{conditions}\
         - criterion arguments: `{args}`\n\n\
         Each group is one comparison. **ratio** = the row's median time / the median time \
         of the group's `bingfa` row (of its fastest row when it has no `bingfa` row): \
         `1.25x` takes 1.25 times as long as bingfa, `0.80x` takes 0.8 times as long.\n\n{table}{notes}",
        machine()
    );
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("written to {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// A table's row lines by group.
type Blocks<'a> = BTreeMap<String, Vec<&'a str>>;

/// The first Markdown table of `md` (the criterion table of a
/// BENCHMARKS.md): its header and rule lines, and each group's row lines,
/// verbatim (a row with an empty first cell continues the group above).
fn table_blocks(md: &str) -> Option<(Vec<&str>, Blocks<'_>)> {
    let mut lines = table_lines(md);
    let head = vec![lines.next()?, lines.next()?];
    let mut blocks = Blocks::new();
    let mut current = String::new();
    for line in lines {
        let first = line
            .trim_start_matches('|')
            .split('|')
            .next()
            .unwrap_or("")
            .trim();
        if !first.is_empty() {
            current = first.to_string();
        }
        blocks.entry(current.clone()).or_default().push(line);
    }
    Some((head, blocks))
}

/// `table` (this run's) with the groups of `old_md`'s table that it does
/// not have, in group order; and how many groups were kept.
pub(crate) fn merge_tables(table: &str, old_md: &str) -> (String, usize) {
    let (Some((head, mut blocks)), Some((_, old))) = (table_blocks(table), table_blocks(old_md))
    else {
        return (table.to_string(), 0);
    };
    let mut kept = 0;
    for (group, lines) in old {
        if let std::collections::btree_map::Entry::Vacant(e) = blocks.entry(group) {
            e.insert(lines);
            kept += 1;
        }
    }
    let mut out: String = head.iter().map(|l| format!("{l}\n")).collect();
    for lines in blocks.values() {
        for l in lines {
            out += l;
            out.push('\n');
        }
    }
    (out, kept)
}

/// `table` (Markdown lines: a header, a rule, rows) with every column
/// padded to its widest cell again, keeping each column's alignment (a
/// rule cell ending in `:` is right-aligned); lines that are not table
/// rows pass through. Rows merged from two runs then line up.
pub(crate) fn align_table(table: &str) -> String {
    let cells = |l: &str| -> Vec<String> {
        let inner = l.trim().trim_start_matches('|').trim_end_matches('|');
        inner.split('|').map(|c| c.trim().to_string()).collect()
    };
    let rows: Vec<Option<Vec<String>>> = table
        .lines()
        .map(|l| l.trim_start().starts_with('|').then(|| cells(l)))
        .collect();
    let is_rule = |r: &[String]| {
        !r.is_empty()
            && r.iter()
                .all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-' || ch == ':'))
    };
    let n = rows.iter().flatten().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![3; n];
    let mut right = vec![false; n];
    for r in rows.iter().flatten() {
        if is_rule(r) {
            for (k, c) in r.iter().enumerate() {
                right[k] = c.ends_with(':');
            }
        } else {
            for (k, c) in r.iter().enumerate() {
                widths[k] = widths[k].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for (line, row) in table.lines().zip(&rows) {
        let Some(r) = row else {
            out += line;
            out.push('\n');
            continue;
        };
        let rule = is_rule(r);
        let padded: Vec<String> = (0..n)
            .map(|k| {
                let c = r.get(k).map_or("", String::as_str);
                let w = widths[k];
                if rule {
                    // The rule spans the cell's two spaces too.
                    if right[k] {
                        format!("{}:", "-".repeat(w + 1))
                    } else {
                        "-".repeat(w + 2)
                    }
                } else if right[k] {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        if rule {
            out += &format!("|{}|\n", padded.join("|"));
        } else {
            out += &format!("| {} |\n", padded.join(" | "));
        }
    }
    out
}

/// The first line of the section of BENCHMARKS.md that holds the figures
/// measured outside criterion.
const OUTSIDE_INTRO: &str = "Measurements outside criterion (memory, echo servers; see \
    `xtask/src/extra.rs`). **ratio**: how many times bingfa's cost the member costs (for a \
    rate, bingfa's rate / the member's), so above 1.00x bingfa is better.";

/// `figures` (this run's table of figures outside criterion, maybe empty)
/// with the groups of `old_md`'s figures table that it does not have: a
/// one-crate run keeps the other crates' figures (the echo servers, the
/// memory, the IPC rounds) instead of dropping the table.
pub(crate) fn merge_figures(figures: &str, old_md: &str) -> String {
    let Some(old) = figures_section(old_md) else {
        return figures.to_string();
    };
    if figures.trim().is_empty() {
        // The old table alone: its header, rule and rows.
        return table_lines(old).map(|l| format!("{l}\n")).collect();
    }
    merge_tables(figures, old).0
}

/// The groups of `md`'s table of figures outside criterion (none when it
/// has no such table).
pub(crate) fn figure_groups(md: &str) -> std::collections::BTreeSet<String> {
    let Some(section) = figures_section(md) else {
        return Default::default();
    };
    table_lines(section)
        .skip(2)
        .filter_map(|l| l.split('|').nth(1).map(str::trim))
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

/// `md` from its section of figures measured outside criterion on, if it
/// has one.
fn figures_section(md: &str) -> Option<&str> {
    md.find("Measurements outside criterion")
        .map(|at| &md[at..])
}

/// The lines of the first table in `md` whose header starts with
/// `| group `: header, rule and rows.
fn table_lines(md: &str) -> impl Iterator<Item = &str> {
    md.lines()
        .skip_while(|l| !l.starts_with("| group "))
        .take_while(|l| l.starts_with('|'))
}

/// The line of a partial run's head that introduces the earlier runs whose
/// rows it kept.
const KEPT: &str = "groups that this run did not measure keep their rows from";
/// The item that opens one of those earlier runs.
const EARLIER: &str = "- an earlier run:";

/// The runs a BENCHMARKS.md head describes (its [`header_items`]), newest
/// first, each as its own list items without indentation: the run that
/// wrote the file, then the earlier runs whose rows it kept. Reads the flat
/// list [`earlier_runs_items`] writes and the nested form of older files
/// (each run's head inside the next one's), so that the list does not nest
/// one level deeper with every one-crate run.
fn earlier_runs(items: &[&str]) -> Vec<Vec<String>> {
    let mut own = Vec::new();
    let mut kept = Vec::new();
    let mut in_kept = false;
    for line in items {
        if let Some(rest) = line.strip_prefix("  ").filter(|_| in_kept) {
            kept.push(rest);
            continue;
        }
        in_kept = line.starts_with("- ") && line.contains(KEPT);
        if !in_kept {
            own.push(line.to_string());
        }
    }
    let mut runs = vec![own];
    if kept.first() == Some(&EARLIER) {
        // The flat form: one block per run, its items indented under it.
        for block in kept.split(|l| *l == EARLIER).filter(|b| !b.is_empty()) {
            let block: Vec<&str> = block
                .iter()
                .map(|l| l.strip_prefix("  ").unwrap_or(l))
                .collect();
            runs.extend(earlier_runs(&block));
        }
    } else if !kept.is_empty() {
        runs.extend(earlier_runs(&kept));
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// The items a partial run adds to its head: how many groups it kept, and
/// every earlier run (`runs`, newest first, from [`earlier_runs`]) as one
/// flat list.
fn earlier_runs_items(kept: usize, runs: &[Vec<String>]) -> String {
    let mut out = format!(
        "- {kept} {KEPT} earlier runs, newest first (a later run may have replaced some \
         of an earlier one's rows):\n"
    );
    for run in runs {
        out += &format!("  {EARLIER}\n");
        for item in run {
            out += &format!("    {item}\n");
        }
    }
    out
}

/// The list items at the head of a BENCHMARKS.md (machine, commit, date,
/// load...), nested ones included.
fn header_items(md: &str) -> Vec<&str> {
    md.lines()
        .skip_while(|l| !l.starts_with("- "))
        .take_while(|l| l.starts_with("- ") || l.starts_with("  "))
        .collect()
}

/// The machine, compiler, commit and date, as Markdown list items.
fn machine() -> String {
    let output = |prog: &str, args: &[&str]| {
        std::process::Command::new(prog)
            .args(args)
            .current_dir(project_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let dirty = if output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (with uncommitted changes)"
    };
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "- machine: {cpus} CPUs available, {cpu}\n- kernel: Linux {}\n- compiler: {}\n- commit: {}{dirty}\n- date: {} UTC\n",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().to_string()),
        output("rustc", &["-V"]),
        output("git", &["rev-parse", "--short", "HEAD"]),
        utc(secs)
    )
}

/// How busy the machine is now: the load averages (1, 5, 15 minutes) and
/// the runnable and total threads, from `/proc/loadavg`.
fn conditions() -> String {
    let Ok(l) = std::fs::read_to_string("/proc/loadavg") else {
        return "load unknown (no /proc/loadavg)".into();
    };
    let f: Vec<&str> = l.split_whitespace().collect();
    if f.len() < 4 {
        return format!("load `{}`", l.trim());
    }
    let (running, total) = f[3].split_once('/').unwrap_or((f[3], "?"));
    format!(
        "load average {} {} {} (1, 5, 15 min), {running} of {total} threads runnable",
        f[0], f[1], f[2]
    )
}

/// `YYYY-MM-DD HH:MM` for seconds since the Unix epoch (Howard Hinnant's
/// days-to-civil algorithm).
pub(crate) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESTIMATES: &str = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":19.1,"upper_bound":20.3},"point_estimate":19.7,"standard_error":0.3},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":18.9,"upper_bound":19.4},"point_estimate":19.2,"standard_error":0.1},"median_abs_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":0.1,"upper_bound":0.3},"point_estimate":0.2,"standard_error":0.05},"slope":null,"std_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.2}}"#;

    fn r(group: &str, member: &str, median: f64) -> BenchResult {
        BenchResult {
            group: group.into(),
            member: member.into(),
            median_ns: median,
            mean_ns: median * 1.1,
            throughput: None,
            filter: format!("^{group}/"),
        }
    }

    #[test]
    fn parses_criterion_files() {
        let bench = r#"{"group_id":"mutex/uncontended","function_id":"bingfa","value_str":null,"throughput":{"Elements":1000},"full_id":"mutex/uncontended/bingfa","directory_name":"mutex_uncontended/bingfa","title":"mutex/uncontended/bingfa"}"#;
        let got = parse_result(bench, ESTIMATES).unwrap();
        assert_eq!(
            got,
            BenchResult {
                group: "mutex/uncontended".into(),
                member: "bingfa".into(),
                median_ns: 19.2,
                mean_ns: 19.7,
                throughput: Some(Throughput::Elements(1000.0)),
                filter: "^mutex/uncontended/".into(),
            }
        );
        let param = r#"{"group_id":"mutex/contended","function_id":"std","value_str":"8","throughput":null}"#;
        let got = parse_result(param, ESTIMATES).unwrap();
        assert_eq!(
            (got.group.as_str(), got.member.as_str(), got.throughput),
            ("mutex/contended/8", "std", None)
        );
        // Run alone again, a parameterized comparison must match
        // criterion's id `mutex/contended/std/8`, not `mutex/contended/8/`.
        assert_eq!(got.filter, "^mutex/contended/[^/]+/8$");
        assert!(parse_result("{}", ESTIMATES).is_err());
        assert!(parse_result(param, "{\"mean\":{}}").is_err());
    }

    #[test]
    fn table_puts_bingfa_first_and_divides_by_it() {
        let mut fast = r("queue/spsc", "crossbeam", 50.0);
        fast.throughput = Some(Throughput::Elements(1000.0));
        let t = table(&[
            r("mutex", "std", 30.0),
            r("mutex", "bingfa", 20.0),
            r("mutex", "parking_lot", 25.0),
            fast,
            r("queue/spsc", "bingfa", 100.0),
            r("solo", "x", 10.0),
            r("solo", "y", 40.0),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 9, "{t}");
        let expected = "\
| group      | member      |   median |     mean |    throughput | ratio |
|------------|-------------|---------:|---------:|--------------:|------:|
| mutex      | bingfa      |  20.0 ns |  22.0 ns |               | 1.00x |
|            | parking_lot |  25.0 ns |  27.5 ns |               | 1.25x |
|            | std         |  30.0 ns |  33.0 ns |               | 1.50x |
| queue/spsc | bingfa      | 100.0 ns | 110.0 ns |               | 1.00x |
|            | crossbeam   |  50.0 ns |  55.0 ns | 20.00 Gelem/s | 0.50x |
";
        assert!(t.starts_with(expected), "{t}");
        assert!(
            lines[7].starts_with("| solo ") && lines[7].ends_with("| 1.00x |"),
            "{t}"
        );
        assert!(lines[8].ends_with("| 4.00x |"), "{t}");
    }

    #[test]
    fn rounds_take_each_ratio_inside_its_run_and_flag_disagreement() {
        // Round 1: bingfa faster than std; round 2: the machine is slower
        // for both, bingfa still faster; round 3: bingfa slower.
        let runs = vec![
            vec![
                r("m", "bingfa", 10.0),
                r("m", "std", 12.0),
                r("q", "bingfa", 5.0),
                r("q", "x", 9.0),
            ],
            vec![
                r("m", "bingfa", 20.0),
                r("m", "std", 30.0),
                r("q", "bingfa", 6.0),
                r("q", "x", 9.0),
            ],
            vec![
                r("m", "bingfa", 11.0),
                r("m", "std", 10.0),
                r("q", "bingfa", 5.0),
                r("q", "x", 8.0),
            ],
        ];
        assert_eq!(unsettled_groups(&runs), vec!["m".to_string()]);
        assert!(unsettled_groups(&runs[..2]).is_empty());
        // Two peers, one always faster than bingfa and one always slower:
        // settled, however far apart they are.
        let apart = vec![
            vec![r("s", "bingfa", 10.0), r("s", "a", 5.0), r("s", "b", 20.0)],
            vec![r("s", "bingfa", 10.0), r("s", "a", 4.0), r("s", "b", 30.0)],
        ];
        assert!(unsettled_groups(&apart).is_empty());
        let (rows, spread) = summarize(&runs);
        let std = rows
            .iter()
            .find(|r| r.group == "m" && r.member == "std")
            .unwrap();
        assert_eq!(std.median_ns, 12.0);
        let (med, lo, hi, n) = spread[&("m".to_string(), "std".to_string())];
        assert_eq!(n, 3);
        assert!(
            (med - 1.2).abs() < 1e-9 && (lo - 10.0 / 11.0).abs() < 1e-9 && (hi - 1.5).abs() < 1e-9
        );
        let t = table_with_spread(&rows, &spread);
        assert!(t.contains("| 1.20x (0.91-1.50, 3 runs) |"), "{t}");
        assert_eq!(regex_escape("ipc/queue-spsc-64B"), "ipc/queue\\-spsc\\-64B");
    }

    #[test]
    fn one_crates_run_keeps_the_other_groups_rows() {
        let old = format!(
            "# Benchmarks\n\n- machine: old\n  - nested\n- commit: abc\n\nEach group...\n\n{}\nnotes\n",
            table(&[
                r("a", "bingfa", 1.0),
                r("a", "x", 2.0),
                r("m", "bingfa", 10.0),
                r("m", "std", 20.0),
                r("z", "bingfa", 3.0),
            ])
        );
        let new = table(&[r("m", "bingfa", 10.0), r("m", "std", 5.0)]);
        let (merged, kept) = merge_tables(&new, &old);
        assert_eq!(kept, 2);
        let groups: Vec<&str> = merged
            .lines()
            .skip(2)
            .map(|l| l.split('|').nth(1).unwrap().trim())
            .collect();
        assert_eq!(groups, ["a", "", "m", "", "z"], "{merged}");
        assert!(merged.contains("| 0.50x |"), "the new m/std row: {merged}");
        assert!(
            !merged.contains("| 2.00x |\n|            | std"),
            "{merged}"
        );
        assert_eq!(
            header_items(&old),
            ["- machine: old", "  - nested", "- commit: abc"]
        );
        assert_eq!(merge_tables(&new, "no table here"), (new.clone(), 0));
    }

    #[test]
    fn earlier_runs_are_listed_flat() {
        // A head as one-crate runs used to nest it: each run's head inside
        // the next one's.
        let nested = "# Benchmarks\n\ntext\n\n- machine: c\n- date: 3\n\
                      - 5 groups that this run did not measure keep their rows from the \
                      file's earlier run, which said:\n\
                      \x20 - machine: b\n  - date: 2\n\
                      \x20 - 4 groups that this run did not measure keep their rows from the \
                      file's earlier run, which said:\n\
                      \x20   - machine: a\n    - date: 1\n    - note:\n      - by hand\n\
                      \x20 - criterion arguments: b\n\
                      - criterion arguments: c\n\nEach group...\n";
        let runs = earlier_runs(&header_items(nested));
        let want = [
            vec!["- machine: c", "- date: 3", "- criterion arguments: c"],
            vec!["- machine: b", "- date: 2", "- criterion arguments: b"],
            vec!["- machine: a", "- date: 1", "- note:", "  - by hand"],
        ];
        assert_eq!(runs, want, "{runs:#?}");

        // A new one-crate run lists them flat, and reads its own list back
        // the same: the next run does not nest one level deeper.
        let head = format!(
            "# Benchmarks\n\n- machine: d\n- measured: the groups of x only\n{}\
             - criterion arguments: d\n\nEach group...\n",
            earlier_runs_items(7, &runs)
        );
        assert!(
            head.contains(
                "- 7 groups that this run did not measure keep their rows from earlier runs"
            ),
            "{head}"
        );
        assert!(
            head.lines()
                .all(|l| !l.starts_with("      -") || l.ends_with("by hand")),
            "nothing deeper than a run's own nested items: {head}"
        );
        let again = earlier_runs(&header_items(&head));
        assert_eq!(again[0][0], "- machine: d");
        assert_eq!(again[1..], want[..], "{again:#?}");
        // And once more, one run later.
        let next = earlier_runs_items(9, &again);
        let again2 = earlier_runs(&header_items(&format!("- machine: e\n{next}")));
        assert_eq!(again2.len(), 5);
        assert_eq!(again2[2..], want[..]);
    }

    #[test]
    fn merged_rows_line_up_again() {
        let t = "| group | member | value | ratio |\n|---|---|---:|---:|\n\
                 | echo-long-name | bingfa | 5 us | 1.00x |\n|  | tokio | 16 us | 3.20x |\n";
        let a = align_table(t);
        assert_eq!(
            a,
            "| group          | member | value | ratio |\n\
             |----------------|--------|------:|------:|\n\
             | echo-long-name | bingfa |  5 us | 1.00x |\n\
             |                | tokio  | 16 us | 3.20x |\n"
        );
        // Every line of an aligned table is equally long, and aligning is
        // idempotent; a line that is not a row passes through.
        assert!(a
            .lines()
            .all(|l| l.len() == a.lines().next().unwrap().len()));
        assert_eq!(align_table(&a), a);
        assert_eq!(align_table("text\n"), "text\n");
        // The criterion table as render() writes it is already aligned.
        let t = table(&[r("a", "bingfa", 1.0), r("a", "x", 2.0)]);
        assert_eq!(align_table(&t), t);
    }

    #[test]
    fn one_crates_run_keeps_the_figures_outside_criterion() {
        let fig = "| group | member | value | ratio |\n|---|---|---:|---:|\n";
        let old = format!(
            "# Benchmarks\n\n{}\n{OUTSIDE_INTRO}\n\n{fig}| echo | bingfa | 5 us | 1.00x |\n\
             |  | tokio | 6 us | 1.20x |\n| mem | bingfa | 4 KiB | 1.00x |\n\n## Notes\n",
            table(&[r("a", "bingfa", 1.0)])
        );
        // A run that measured no figures keeps the old table as it was.
        let kept = merge_figures("", &old);
        assert_eq!(
            kept,
            format!("{fig}| echo | bingfa | 5 us | 1.00x |\n|  | tokio | 6 us | 1.20x |\n| mem | bingfa | 4 KiB | 1.00x |\n")
        );
        // A run that measured one group replaces that group only.
        let new = format!("{fig}| mem | bingfa | 3 KiB | 1.00x |\n");
        let merged = merge_figures(&new, &old);
        assert!(merged.contains("| mem | bingfa | 3 KiB |"), "{merged}");
        assert!(!merged.contains("4 KiB"), "{merged}");
        assert!(merged.contains("|  | tokio | 6 us | 1.20x |"), "{merged}");
        // No old figures: this run's, as they are.
        assert_eq!(merge_figures(&new, "# Benchmarks\n"), new);
        // The groups the file has figures for: a one-crate run takes the
        // other crates' stored figures only for groups not among them.
        let groups: Vec<String> = figure_groups(&old).into_iter().collect();
        assert_eq!(groups, ["echo", "mem"]);
        assert!(figure_groups("# Benchmarks\n").is_empty());
    }

    #[test]
    fn units() {
        assert_eq!(fmt_ns(999.0), "999.0 ns");
        assert_eq!(fmt_ns(1_500.0), "1.50 µs");
        assert_eq!(fmt_ns(2.5e6), "2.50 ms");
        assert_eq!(fmt_ns(3e9), "3.000 s");
        assert_eq!(
            fmt_throughput(Throughput::Bytes(1024.0 * 1024.0), 1e9),
            "1.00 MiB/s"
        );
        assert_eq!(
            fmt_throughput(Throughput::Elements(1.0), 1e9),
            "1.00 elem/s"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13");
    }
}
