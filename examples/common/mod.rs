//! What every demo shares: its command line (`--quick`, `--events`,
//! `--trace FILE`, `--html FILE`), narration, and showing what the recorder
//! saw as a terminal timeline, a Chrome trace and an HTML page.
//!
//! Each demo includes it with `mod common;` (it is not a demo itself: cargo
//! only takes `examples/*.rs` and `examples/*/main.rs` as examples).

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
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
    /// `--html FILE`: where to write the narration and the timelines as one
    /// HTML page.
    pub html: Option<PathBuf>,
    /// With `--html`: what the demo prints, captured on its way to the
    /// terminal, and the place in it of each timeline.
    tee: Option<Tee>,
    /// Arguments the demo itself understands (everything not taken here).
    pub rest: Vec<String>,
    /// The demo's name, for the title of its own lane group.
    name: String,
    phases: Vec<Phase>,
}

/// A phase of the demo: its timeline's title, events and counting rows
/// (`(name, label)`, as `Timeline::count` took them).
struct Phase {
    name: String,
    events: Vec<Event>,
    counts: Vec<(String, String)>,
}

impl Demo {
    /// Parses the command line. `usage` is printed for `--help`.
    pub fn from_args(name: &str, usage: &str) -> Demo {
        let mut quick = false;
        let mut trace = None;
        let mut events = false;
        let mut html = None;
        let mut rest = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => quick = true,
                "--events" => events = true,
                "--html" => match args.next() {
                    Some(p) => html = Some(PathBuf::from(p)),
                    None => fail(name, "--html needs a file name, e.g. --html lesson.html"),
                },
                "--trace" => match args.next() {
                    Some(p) => trace = Some(PathBuf::from(p)),
                    None => fail(name, "--trace needs a file name, e.g. --trace trace.json"),
                },
                "-h" | "--help" => {
                    println!("cargo xtask demo {name} [--quick] [--trace FILE]\n\n{usage}");
                    println!("  --quick        shorter sleeps, for a fast run");
                    println!("  --events       list every recorded event under each timeline");
                    println!("  --trace FILE   also write a Chrome trace (open it in https://ui.perfetto.dev)");
                    println!("  --html FILE    also write the narration and the timelines as one HTML page");
                    std::process::exit(0);
                }
                _ => rest.push(a),
            }
        }
        Demo {
            quick,
            trace,
            events,
            tee: html.as_ref().map(|_| Tee::start()),
            html,
            rest,
            name: name.to_string(),
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

    /// Starts recording a phase (this process's lanes are titled with the
    /// demo's name when children record beside it).
    pub fn record(&self) {
        trace::start();
        trace::name_process(&format!("this demo, {}", self.name));
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
        if let Some(tee) = &self.tee {
            tee.mark(); // the narration so far ends here
        }
        println!("\n{}", tl.render());
        if let Some(tee) = &self.tee {
            tee.mark(); // the timeline's text ends here
        }
        self.phases.push(Phase {
            name: phase.to_string(),
            counts: tl
                .counts()
                .map(|(n, l)| (n.to_string(), l.to_string()))
                .collect(),
            events: events.clone(),
        });
        events
    }

    /// Writes the Chrome trace if `--trace` was given; every phase one after
    /// the other, its lanes prefixed with the phase's name.
    pub fn finish(mut self) {
        if let (Some(path), Some(tee)) = (self.html.clone(), self.tee.take()) {
            let text = tee.stop();
            self.write_html(&path, &text);
        }
        let Some(path) = &self.trace else { return };
        let mut all = Vec::new();
        let mut offset = Duration::ZERO;
        for Phase {
            name: phase,
            events,
            ..
        } in &self.phases
        {
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

impl Demo {
    /// The page of `--html`: the printed text cut at each timeline, each
    /// part with its narration beside its chart.
    fn write_html(&self, path: &std::path::Path, tee: &(String, Vec<usize>)) {
        let (text, marks) = tee;
        let title = text
            .lines()
            .find(|l| l.trim_start().starts_with("Lesson") || l.trim_start().starts_with("Lessons"))
            .map_or("bingfa lesson", str::trim)
            .to_string();
        let mut page = trace::html::Page::new(&title);
        let mut from = 0;
        // Marks come in pairs around each timeline's text.
        for (k, phase) in self.phases.iter().enumerate() {
            let (Some(&before), Some(&after)) = (marks.get(2 * k), marks.get(2 * k + 1)) else {
                break;
            };
            page.section(
                &format!("timeline: {}", phase.name),
                &text[from.min(before)..before],
                Some(phase.events.clone()),
            );
            // The same counting rows as the terminal's timeline.
            for (name, label) in &phase.counts {
                page.count(name, label);
            }
            from = after;
        }
        page.section("", &text[from.min(text.len())..], None);
        match page.write(path) {
            Ok(()) => println!(
                "\nHTML page written to {} (one file, opens in any browser, no network needed)",
                path.display()
            ),
            Err(e) => fail("demo", &format!("cannot write {}: {e}", path.display())),
        }
    }
}

/// Standard output, captured on its way to the terminal: file descriptor 1
/// becomes a pipe (forked children write into it too) that a thread copies
/// to the real output and into a buffer. A line that starts with `\x01` is
/// a mark: it is not shown, and notes the buffer's length.
struct Tee {
    saved: i32,
    state: Arc<(Mutex<Captured>, Condvar)>,
}

/// What the reader has seen: the text, the places of the marks, and whether
/// the end mark came.
type Captured = (String, Vec<usize>, bool);

const MARK: &str = "\x01bingfa-html-mark";

impl Tee {
    fn start() -> Tee {
        let _ = std::io::stdout().flush();
        let mut fds = [0; 2];
        // SAFETY: plain descriptor calls on valid arrays and descriptors.
        let saved = unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "pipe for --html");
            let saved = libc::dup(1);
            libc::dup2(fds[1], 1);
            libc::close(fds[1]);
            saved
        };
        let state = Arc::new((
            Mutex::new((String::new(), Vec::new(), false)),
            Condvar::new(),
        ));
        let st = state.clone();
        let read_fd = fds[0];
        std::thread::Builder::new()
            .name("html-tee".into())
            .spawn(move || {
                use std::io::{BufRead, BufReader};
                use std::os::fd::FromRawFd;
                // SAFETY: the read end is ours alone from here on.
                let pipe = unsafe { std::fs::File::from_raw_fd(read_fd) };
                // SAFETY: a duplicate of the real standard output, kept open
                // while the demo runs (ManuallyDrop: `Tee::stop` closes it).
                let out = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(saved) });
                for line in BufReader::new(pipe).split(b'\n') {
                    let Ok(line) = line else { break };
                    let text = String::from_utf8_lossy(&line);
                    let (lock, cv) = &*st;
                    let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(rest) = text.strip_prefix(MARK) {
                        let at = g.0.len();
                        g.1.push(at);
                        g.2 = rest == " end";
                        cv.notify_all();
                        continue;
                    }
                    let _ = (&*out).write_all(&line);
                    let _ = (&*out).write_all(b"\n");
                    g.0.push_str(&text);
                    g.0.push('\n');
                }
            })
            .expect("start the --html reader");
        Tee { saved, state }
    }

    /// Notes the place of everything printed so far.
    fn mark(&self) {
        println!("{MARK}");
        let _ = std::io::stdout().flush();
    }

    /// Waits for the reader to have everything, gives standard output back,
    /// and returns the text and its marks.
    fn stop(self) -> (String, Vec<usize>) {
        println!("{MARK} end");
        let _ = std::io::stdout().flush();
        let (lock, cv) = &*self.state;
        let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !g.2 && std::time::Instant::now() < deadline {
            g = cv
                .wait_timeout(g, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        g.1.pop(); // the end mark
        let out = (g.0.clone(), g.1.clone());
        drop(g);
        // SAFETY: puts the saved descriptor back as standard output.
        unsafe {
            libc::dup2(self.saved, 1);
        }
        out
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
