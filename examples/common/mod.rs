//! What every demo shares: its command line (`--quick`, `--trace FILE`),
//! narration, and showing what the recorder saw as a terminal timeline and a
//! Chrome trace.
//!
//! Each demo includes it with `mod common;` (it is not a demo itself: cargo
//! only takes `examples/*.rs` and `examples/*/main.rs` as examples).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bingfa::trace::{self, Event, Timeline};

/// The demo's options and the phases it recorded.
pub struct Demo {
    /// `--quick`: shorter sleeps and fewer rounds, for the smoke test.
    pub quick: bool,
    /// `--trace FILE`: where to write a Chrome trace of every phase.
    pub trace: Option<PathBuf>,
    /// `--events`: list the recorded events under each timeline.
    pub events: bool,
    /// Arguments the demo itself understands (everything not taken here).
    pub rest: Vec<String>,
    phases: Vec<(String, Vec<Event>)>,
}

impl Demo {
    /// Parses the command line. `usage` is printed for `--help`.
    pub fn from_args(name: &str, usage: &str) -> Demo {
        let mut quick = false;
        let mut trace = None;
        let mut events = false;
        let mut rest = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => quick = true,
                "--events" => events = true,
                "--trace" => match args.next() {
                    Some(p) => trace = Some(PathBuf::from(p)),
                    None => fail(name, "--trace needs a file name, e.g. --trace trace.json"),
                },
                "-h" | "--help" => {
                    println!("cargo xtask demo {name} [--quick] [--trace FILE]\n\n{usage}");
                    println!("  --quick        shorter sleeps, for a fast run");
                    println!("  --events       list every recorded event under each timeline");
                    println!("  --trace FILE   also write a Chrome trace (open it in https://ui.perfetto.dev)");
                    std::process::exit(0);
                }
                _ => rest.push(a),
            }
        }
        Demo {
            quick,
            trace,
            events,
            rest,
            phases: Vec::new(),
        }
    }

    /// The lesson's title and the Python original it reproduces.
    pub fn intro(&self, title: &str, python: &str) {
        println!("{}", banner(title));
        println!("The course's Python:\n");
        for line in python.trim_matches('\n').lines() {
            println!("    {line}");
        }
        println!();
    }

    /// A heading for one part of the demo.
    pub fn section(&self, title: &str) {
        println!("\n--- {title} ---\n");
    }

    /// Narration, in plain words.
    pub fn say(&self, text: &str) {
        println!("{text}");
    }

    /// `normal` in a full run, `quick` with `--quick`.
    pub fn pick<T>(&self, normal: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            normal
        }
    }

    /// A sleep the course takes, shortened by `--quick`.
    pub fn pause(&self, normal: Duration) -> Duration {
        if self.quick {
            normal / 10
        } else {
            normal
        }
    }

    /// Starts recording a phase.
    pub fn record(&self) {
        trace::start();
    }

    /// Stops recording, prints the phase's timeline and keeps its events for
    /// the Chrome trace. Returns the events.
    pub fn show(&mut self, phase: &str) -> Vec<Event> {
        let events = trace::stop();
        self.show_events(phase, events)
    }

    /// Prints the timeline of `events` (recording may go on).
    pub fn show_events(&mut self, phase: &str, events: Vec<Event>) -> Vec<Event> {
        self.show_with(phase, events, |tl| tl)
    }

    /// Stops recording and prints the phase's timeline with a counting row:
    /// how many lanes were inside `name` at once, labelled `label`.
    pub fn show_counted(&mut self, phase: &str, name: &str, label: &str) -> Vec<Event> {
        let events = trace::stop();
        self.show_with(phase, events, |tl| tl.count(name, label))
    }

    /// Prints the timeline of `events`, set up further by `more`.
    pub fn show_with(
        &mut self,
        phase: &str,
        events: Vec<Event>,
        more: impl FnOnce(Timeline) -> Timeline,
    ) -> Vec<Event> {
        let tl = Timeline::new(&events)
            .title(format!("timeline: {phase}"))
            .max_events(if self.events { usize::MAX } else { 0 });
        let tl = more(tl);
        println!("\n{}", tl.render());
        self.phases.push((phase.to_string(), events.clone()));
        events
    }

    /// Writes the Chrome trace if `--trace` was given; every phase one after
    /// the other, its lanes prefixed with the phase's name.
    pub fn finish(self) {
        let Some(path) = &self.trace else { return };
        let mut all = Vec::new();
        let mut offset = Duration::ZERO;
        for (phase, events) in &self.phases {
            let end = events.iter().map(|e| e.t).max().unwrap_or_default();
            for e in events {
                let mut e = e.clone();
                e.t += offset;
                e.lane = Arc::from(format!("{phase} / {}", e.lane));
                all.push(e);
            }
            offset += end + Duration::from_millis(10);
        }
        match trace::chrome::write(path, &all) {
            Ok(()) => println!(
                "\nChrome trace written to {} (open it in https://ui.perfetto.dev)",
                path.display()
            ),
            Err(e) => fail("demo", &format!("cannot write {}: {e}", path.display())),
        }
    }
}

fn banner(title: &str) -> String {
    let line = "=".repeat(title.chars().count().max(20) + 4);
    format!("{line}\n  {title}\n{line}")
}

/// Ends the demo with a message and exit code 2.
pub fn fail(name: &str, msg: &str) -> ! {
    eprintln!("{name}: {msg}");
    std::process::exit(2);
}
