//! Measurements that criterion does not take: resident memory, an echo
//! server's round trips per second and latency percentiles. The benches that
//! take them (`harness = false`, no criterion) print one line per figure:
//!
//! ```text
//! bingfa-bench: GROUP MEMBER VALUE UNIT lower|higher
//! bingfa-bench: green/memory-per-idle bingfa 4712 B/thread lower
//! bingfa-bench: green/echo-1000/round-trips tokio-current-thread 98000 rt/s higher
//! ```
//!
//! `lower` or `higher` says which way is better. `cargo xtask bench` echoes
//! everything a bench prints, keeps these lines (in
//! `target/bingfa-bench/CRATE.txt`, so `--table` can show them again) and
//! adds a second table whose **ratio** reads like the criterion table's:
//! how many times bingfa's cost the row's member costs, so above `1.00x`
//! bingfa is better, below it the member is.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

use crate::{show, target_dir, Result};

/// The prefix of a measurement line.
pub(crate) const PREFIX: &str = "bingfa-bench:";

/// One figure a harness-less bench printed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figure {
    pub group: String,
    pub member: String,
    pub value: f64,
    pub unit: String,
    /// Lower values are better (memory, latency) rather than higher (rates).
    pub lower_is_better: bool,
}

/// Reads one `bingfa-bench:` line; `None` for any other line, an error for a
/// line with the prefix that does not follow the format.
pub(crate) fn parse_line(line: &str) -> Option<Result<Figure>> {
    let rest = line.trim().strip_prefix(PREFIX)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let parsed = match fields[..] {
        [group, member, value, unit, better] => {
            let lower_is_better = match better {
                "lower" => Ok(true),
                "higher" => Ok(false),
                other => Err(format!("`{other}` is neither `lower` nor `higher`")),
            };
            lower_is_better.and_then(|lower_is_better| {
                value
                    .parse::<f64>()
                    .map_err(|e| format!("value `{value}`: {e}"))
                    .map(|value| Figure {
                        group: group.into(),
                        member: member.into(),
                        value,
                        unit: unit.into(),
                        lower_is_better,
                    })
            })
        }
        _ => Err(format!("{} fields, expected 5", fields.len())),
    };
    Some(parsed.map_err(|e| format!("bad bench line `{}`: {e}", line.trim())))
}

/// Runs `cmd`, echoing its standard output line by line as it comes, and
/// returns its exit status and the figures it printed.
pub(crate) fn run_capturing(mut cmd: Command) -> Result<(ExitStatus, Vec<Figure>)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run `{}`: {e}", show(&cmd)))?;
    let mut figures = Vec::new();
    let mut bad = None;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading `{}`: {e}", show(&cmd)))?;
        let _ = writeln!(out, "{line}");
        match parse_line(&line) {
            Some(Ok(f)) => figures.push(f),
            Some(Err(e)) => bad = bad.or(Some(e)),
            None => {}
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `{}`: {e}", show(&cmd)))?;
    match bad {
        Some(e) => Err(e),
        None => Ok((status, figures)),
    }
}

fn store_dir() -> PathBuf {
    target_dir().join("bingfa-bench")
}

/// Keeps the figures of `krate`'s run, replacing those of its last run.
pub(crate) fn store(krate: &str, figures: &[Figure]) -> Result<()> {
    let dir = store_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{krate}.txt"));
    let text: String = figures
        .iter()
        .map(|f| {
            format!(
                "{PREFIX} {} {} {} {} {}\n",
                f.group,
                f.member,
                f.value,
                f.unit,
                if f.lower_is_better { "lower" } else { "higher" }
            )
        })
        .collect();
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The figures kept by earlier runs, every crate's.
pub(crate) fn load_all() -> Vec<Figure> {
    let mut files = crate::files_with_ext(&store_dir(), ".txt");
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| parse_line(l).and_then(|r| r.ok()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Each figure's ratio inside one run: how many times bingfa's cost the
/// member costs (above 1.00x bingfa is better). Groups without a `bingfa`
/// row have none.
pub(crate) fn ratios(figures: &[Figure]) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    for f in figures {
        let reference = figures
            .iter()
            .filter(|r| r.group == f.group && r.member.starts_with("bingfa"))
            .min_by(|a, b| a.member.cmp(&b.member));
        if let Some(r) = reference {
            let ratio = if f.lower_is_better {
                f.value / r.value
            } else {
                r.value / f.value
            };
            out.insert((f.group.clone(), f.member.clone()), ratio);
        }
    }
    out
}

/// The groups with a member whose ratio, each taken inside one round,
/// falls on both sides of 1.00x, as criterion groups
/// ([`crate::bench::unsettled_groups`]). A round may hold only some groups
/// (a repeat of a few).
pub(crate) fn unsettled_groups(rounds: &[Vec<Figure>]) -> Vec<String> {
    crate::bench::groups_on_both_sides(rounds.iter().map(|round| ratios(round)))
}

/// Over several rounds: each (group, member)'s median value, and its
/// ratio's median, lowest, highest and count, each ratio taken inside its
/// own round.
pub(crate) fn summarize(rounds: &[Vec<Figure>]) -> (Vec<Figure>, crate::bench::Spread) {
    let mut values: BTreeMap<(String, String), Vec<&Figure>> = BTreeMap::new();
    let mut rs: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for round in rounds {
        for f in round {
            values
                .entry((f.group.clone(), f.member.clone()))
                .or_default()
                .push(f);
        }
        for (k, r) in ratios(round) {
            rs.entry(k).or_default().push(r);
        }
    }
    let figures = values
        .into_values()
        .map(|list| {
            let mut v: Vec<f64> = list.iter().map(|f| f.value).collect();
            Figure {
                value: crate::bench::median(&mut v),
                ..list[0].clone()
            }
        })
        .collect();
    let spread = rs
        .into_iter()
        .map(|(k, v)| (k, crate::bench::spread_of(v)))
        .collect();
    (figures, spread)
}

/// The second table: one block per group, bingfa's row first.
pub(crate) fn table(figures: &[Figure]) -> String {
    table_with_spread(figures, None)
}

/// [`table`], with each ratio as median (range) over several rounds
/// where `spread` has more than one.
pub(crate) fn table_with_spread(
    figures: &[Figure],
    spread: Option<&crate::bench::Spread>,
) -> String {
    let mut groups: BTreeMap<&str, Vec<&Figure>> = BTreeMap::new();
    for f in figures {
        groups.entry(&f.group).or_default().push(f);
    }
    let ratio = ratios(figures);
    let is_ref = |f: &Figure| f.member.starts_with("bingfa");
    let mut out = String::from("| group | member | value | ratio |\n|---|---|---:|---:|\n");
    for (group, mut members) in groups {
        members.sort_by(|a, b| (!is_ref(a), &a.member).cmp(&(!is_ref(b), &b.member)));
        for (i, f) in members.iter().enumerate() {
            let key = (f.group.clone(), f.member.clone());
            let ratio = crate::bench::ratio_cell(spread.and_then(|s| s.get(&key)), ratio.get(&key))
                .unwrap_or_default();
            out += &format!(
                "| {} | {} | {} {} | {ratio} |\n",
                if i == 0 { group } else { "" },
                f.member,
                fmt_value(f.value),
                f.unit
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        assert_eq!(parse_line("Benchmarking x"), None);
        let f = parse_line("bingfa-bench: green/mem may 8800 B/thread lower")
            .unwrap()
            .unwrap();
        assert_eq!(
            f,
            Figure {
                group: "green/mem".into(),
                member: "may".into(),
                value: 8800.0,
                unit: "B/thread".into(),
                lower_is_better: true,
            }
        );
        assert!(parse_line("bingfa-bench: g m x B lower").unwrap().is_err());
        assert!(parse_line("bingfa-bench: g m 1 B sideways")
            .unwrap()
            .is_err());
        assert!(parse_line("bingfa-bench: g m 1").unwrap().is_err());
    }

    #[test]
    fn figure_groups_on_both_sides_of_one_are_unsettled() {
        let f = |group: &str, member: &str, value: f64| Figure {
            group: group.into(),
            member: member.into(),
            value,
            unit: "rt/s".into(),
            lower_is_better: false,
        };
        let rounds = vec![
            vec![
                f("echo", "bingfa", 100.0),
                f("echo", "tokio", 90.0),
                f("mem", "bingfa", 100.0),
                f("mem", "may", 50.0),
            ],
            vec![
                f("echo", "bingfa", 100.0),
                f("echo", "tokio", 120.0),
                f("mem", "bingfa", 100.0),
                f("mem", "may", 60.0),
            ],
            // A repeat of one group only; a tie (within 2%) takes no side.
            vec![f("tie", "bingfa", 100.0), f("tie", "tokio", 101.0)],
        ];
        // `mem`: may always below bingfa; `echo`: tokio on both sides.
        assert_eq!(unsettled_groups(&rounds), vec!["echo".to_string()]);
        assert!(unsettled_groups(&rounds[..1]).is_empty());
        // Two peers on either side of bingfa in every round: settled.
        let apart = vec![
            vec![
                f("g", "bingfa", 100.0),
                f("g", "a", 50.0),
                f("g", "b", 200.0),
            ],
            vec![
                f("g", "bingfa", 100.0),
                f("g", "a", 60.0),
                f("g", "b", 150.0),
            ],
        ];
        assert!(unsettled_groups(&apart).is_empty());
    }

    #[test]
    fn ratios_read_like_criterion() {
        let f = |member: &str, value: f64, lower: bool| Figure {
            group: "g".into(),
            member: member.into(),
            value,
            unit: "u".into(),
            lower_is_better: lower,
        };
        // Memory: may uses twice bingfa's, so it costs 2x.
        let t = table(&[f("may", 200.0, true), f("bingfa", 100.0, true)]);
        assert!(t.contains("| g | bingfa | 100 u | 1.00x |"), "{t}");
        assert!(t.contains("|  | may | 200 u | 2.00x |"), "{t}");
        // Rates: tokio does twice bingfa's, so it costs 0.5x.
        let t = table(&[f("bingfa", 100.0, false), f("tokio", 200.0, false)]);
        assert!(t.contains("|  | tokio | 200 u | 0.50x |"), "{t}");
        // Three rounds: the ratio of each round, then their median (range);
        // the value is the median value.
        let rounds = vec![
            vec![f("bingfa", 100.0, false), f("tokio", 200.0, false)],
            vec![f("bingfa", 300.0, false), f("tokio", 200.0, false)],
            vec![f("bingfa", 100.0, false), f("tokio", 100.0, false)],
        ];
        let (figs, spread) = summarize(&rounds);
        let t = table_with_spread(&figs, Some(&spread));
        assert!(t.contains("| g | bingfa | 100 u | 1.00x |"), "{t}");
        assert!(
            t.contains("|  | tokio | 200 u | 1.00x (0.50-1.50, 3 runs) |"),
            "{t}"
        );
    }
}
