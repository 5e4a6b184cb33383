//! The terminal timeline: one lane per thread, process or green thread, time
//! flowing left to right, and below it a legend, what was still held or
//! awaited when the trace ended (a deadlock, spelled out) and the events in
//! order.

use std::fmt;
use std::io::IsTerminal;
use std::time::Duration;

use crate::model::{Interval, Model, State};
use crate::record::{Event, EventKind};

/// When [`Timeline`] uses ANSI colours.
///
/// Python: no standard equivalent (`rich`'s `Console(no_color=...)` is close).
#[doc(alias = "color")]
#[doc(alias = "NO_COLOR")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colour {
    /// Colour when standard output is a terminal and `NO_COLOR` is unset or
    /// empty (<https://no-color.org>).
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl Colour {
    /// Whether this choice means colour here and now.
    ///
    /// Python: no standard equivalent.
    pub fn enabled(self) -> bool {
        match self {
            Colour::Always => true,
            Colour::Never => false,
            Colour::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }
}

/// A terminal rendering of a list of [`Event`]s, in the manner of a Gantt
/// chart.
///
/// Each lane (thread, process, green thread) gets a row, in order of first
/// appearance; a lane whose intervals overlap (it holds `A` while it waits
/// for `B`) gets up to [`rows_per_lane`](Timeline::rows_per_lane) rows. Each
/// run of cells starts with the key of its object, listed in the legend:
///
/// | cells      | ASCII      | meaning                                 |
/// |------------|------------|-----------------------------------------|
/// | `A███`     | `A###`     | holds `A`                               |
/// | `B░░░`     | `B...`     | waits for `B`                           |
/// | `r───`     | `r---`     | inside the span `r` (`Begin`..`End`)    |
/// | `^text`    | `^text`    | a mark                                  |
/// | `>` at the right edge | `>` | still so when the trace ended       |
///
/// Below the chart come the legend, the lanes that still held or waited for
/// something when the trace ended (with who held what they waited for: the
/// cycle of a deadlock) and the event list, `t=12.3ms  t1  acquired lock_a`.
///
/// ```
/// use std::time::Duration;
/// use bingfa_trace::{Event, EventKind, Timeline, Colour};
///
/// let ev = |ms, lane: &str, kind, obj: &str| Event {
///     t: Duration::from_millis(ms), lane: lane.into(), kind, object: obj.into(),
/// };
/// let events = [
///     ev(0, "t1", EventKind::Acquired, "lock_a"),
///     ev(5, "t1", EventKind::Released, "lock_a"),
///     ev(5, "t2", EventKind::Acquired, "lock_a"),
///     ev(10, "t2", EventKind::Released, "lock_a"),
/// ];
/// let text = Timeline::new(&events).width(20).colour(Colour::Never).ascii(true).render();
/// assert!(text.contains("t1 |A#########          |"), "{text}");
/// assert!(text.contains("t2 |          A#########|"), "{text}");
/// ```
///
/// Python: no standard equivalent (the course draws these by hand).
#[doc(alias = "gantt")]
#[derive(Debug, Clone)]
pub struct Timeline {
    model: Model,
    width: usize,
    title: Option<String>,
    colour: Colour,
    ascii: bool,
    rows_per_lane: usize,
    max_events: usize,
    label_width: usize,
}

/// A cell of the chart: what state, for which object key, and whether the
/// interval was still open at the end.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Cell {
    state: State,
    object: usize,
    open: bool,
}

const PALETTE: [u8; 6] = [31, 32, 33, 34, 35, 36];

impl Timeline {
    /// A timeline of `events`, which need not be sorted (they are sorted
    /// stably by time). Defaults: 60 columns of chart, no title,
    /// [`Colour::Auto`], Unicode blocks, 4 rows per lane, at most 60 listed
    /// events.
    ///
    /// Python: no standard equivalent.
    pub fn new(events: &[Event]) -> Timeline {
        Timeline {
            model: Model::build(events),
            width: 60,
            title: None,
            colour: Colour::Auto,
            ascii: false,
            rows_per_lane: 4,
            max_events: 60,
            label_width: 20,
        }
    }

    /// Sets the number of columns that the time axis spans (at least 8).
    ///
    /// Python: no standard equivalent.
    #[doc(alias = "columns")]
    pub fn width(mut self, columns: usize) -> Timeline {
        self.width = columns.max(8);
        self
    }

    /// Sets a title printed above the chart.
    ///
    /// Python: no standard equivalent.
    pub fn title(mut self, title: impl Into<String>) -> Timeline {
        self.title = Some(title.into());
        self
    }

    /// Chooses when to use ANSI colours; see [`Colour`].
    ///
    /// Python: no standard equivalent.
    #[doc(alias = "color")]
    pub fn colour(mut self, colour: Colour) -> Timeline {
        self.colour = colour;
        self
    }

    /// Draws with ASCII (`#`, `.`, `-`) instead of Unicode blocks.
    ///
    /// Python: no standard equivalent.
    pub fn ascii(mut self, ascii: bool) -> Timeline {
        self.ascii = ascii;
        self
    }

    /// Sets how many rows a lane may use for overlapping intervals (at least
    /// 1). Beyond that, intervals are drawn over the lane's last row, waiting
    /// over holding over spans; `1` gives one row per lane.
    ///
    /// Python: no standard equivalent.
    #[doc(alias = "compact")]
    pub fn rows_per_lane(mut self, rows: usize) -> Timeline {
        self.rows_per_lane = rows.max(1);
        self
    }

    /// Sets how many events the list below the chart shows; `0` hides the
    /// list. The first `n` are shown, then a count of the rest.
    ///
    /// Python: no standard equivalent.
    pub fn max_events(mut self, n: usize) -> Timeline {
        self.max_events = n;
        self
    }

    /// Renders the timeline as text, ending in a newline.
    ///
    /// Python: no standard equivalent.
    pub fn render(&self) -> String {
        let m = &self.model;
        let colour = self.colour.enabled();
        let keys = self.keys();
        let label_w = m
            .lanes
            .iter()
            .map(|l| l.name.chars().count())
            .max()
            .unwrap_or(0)
            .min(self.label_width);
        let pad = " ".repeat(label_w + 1);
        let mut out = String::new();

        if let Some(t) = &self.title {
            out += &format!("{t}\n");
        }
        if m.lanes.is_empty() {
            out += "(no events)\n";
            return out;
        }
        out += &format!("{pad} {}\n", self.axis());

        for (li, lane) in m.lanes.iter().enumerate() {
            let rows = self.lane_rows(&lane.intervals);
            let label = fit(&lane.name, label_w);
            for (ri, row) in rows.iter().enumerate() {
                let lbl = if ri == 0 { label.as_str() } else { &pad[1..] };
                out += &format!("{lbl:<label_w$} |");
                self.draw_row(&mut out, row, &keys, colour);
                let open_end = row.last().copied().flatten().is_some_and(|c| c.open);
                out += if open_end { ">\n" } else { "|\n" };
            }
            if rows.is_empty() {
                out += &format!("{label:<label_w$} |{}|\n", " ".repeat(self.width));
            }
            if !lane.marks.is_empty() {
                out += &format!("{pad} {}\n", self.marks_row(li).trim_end());
            }
        }

        // Legend.
        let (held, wait, span) = self.fills();
        out += &format!(
            "\nlegend: {held} holds   {wait} waits for   {span} span   ^ mark   > still so at the end\n"
        );
        let mut line = String::from("      ");
        for (o, obj) in m.objects.iter().enumerate() {
            let entry = format!("  {} {}", keys[o], obj.name);
            if line.chars().count() + entry.chars().count() > (self.width + label_w + 2).max(72)
                && !line.trim().is_empty()
            {
                out += &format!("{}\n", line.trim_end());
                line = String::from("      ");
            }
            if colour && !obj.span {
                line += &format!(
                    "  \x1b[1;{}m{}\x1b[0m {}",
                    PALETTE[o % 6],
                    keys[o],
                    obj.name
                );
            } else {
                line += &entry;
            }
        }
        if !line.trim().is_empty() {
            out += &format!("{}\n", line.trim_end());
        }

        // What was still going on at the end: the shape of a deadlock.
        let mut tail = String::new();
        for (li, lane) in m.lanes.iter().enumerate() {
            let open: Vec<&Interval> = lane.intervals.iter().filter(|i| i.open).collect();
            let mut parts = Vec::new();
            for iv in open.iter().filter(|i| i.state == State::Held) {
                parts.push(format!("holds {}", m.objects[iv.object].name));
            }
            for iv in open.iter().filter(|i| i.state == State::Waiting) {
                let who = m.holders_at_end(iv.object, li);
                let by = if who.is_empty() {
                    String::new()
                } else {
                    format!(" (held by {})", who.join(", "))
                };
                parts.push(format!("waits for {}{by}", m.objects[iv.object].name));
            }
            if !parts.is_empty() {
                tail += &format!("  {} {}\n", lane.name, parts.join(", "));
            }
        }
        if !tail.is_empty() {
            out += &format!("\nat the end (t={}):\n{tail}", fmt_time(m.end));
        }

        // The event list.
        if self.max_events > 0 {
            out += "\nevents:\n";
            let name_w = m
                .lanes
                .iter()
                .map(|l| l.name.chars().count())
                .max()
                .unwrap_or(0);
            let times: Vec<String> = m
                .events
                .iter()
                .take(self.max_events)
                .map(|e| format!("t={}", fmt_time(e.t)))
                .collect();
            let time_w = times.iter().map(|t| t.len()).max().unwrap_or(0);
            for (e, t) in m.events.iter().zip(&times) {
                let what = match e.kind {
                    EventKind::Blocked => "waits for",
                    EventKind::Acquired => "acquired",
                    EventKind::Unblocked => "stopped waiting for",
                    EventKind::Released => "released",
                    EventKind::Begin => "begins",
                    EventKind::End => "ends",
                    EventKind::Mark => "says",
                };
                out += &format!("  {t:<time_w$}  {:<name_w$}  {what} {}\n", e.lane, e.object);
            }
            if m.events.len() > self.max_events {
                out += &format!("  ... and {} more\n", m.events.len() - self.max_events);
            }
        }
        out
    }

    /// Prints [`render`](Timeline::render) to standard output.
    ///
    /// Python: `print(...)`.
    pub fn print(&self) {
        print!("{}", self.render());
    }

    fn fills(&self) -> (char, char, char) {
        if self.ascii {
            ('#', '.', '-')
        } else {
            ('█', '░', '─')
        }
    }

    /// The column of time `t`.
    fn col(&self, t: Duration) -> usize {
        let end = self.model.end.as_nanos();
        if end == 0 {
            return 0;
        }
        ((t.as_nanos() * self.width as u128 / end) as usize).min(self.width - 1)
    }

    /// The last column that `[start, end)` covers: at least its first one.
    fn end_col(&self, iv: &Interval) -> usize {
        let c0 = self.col(iv.start);
        if iv.open {
            return self.width - 1;
        }
        let end = self.model.end.as_nanos();
        if end == 0 {
            return c0;
        }
        let c1 = (iv.end.as_nanos() * self.width as u128).div_ceil(end) as usize;
        c1.saturating_sub(1).clamp(c0, self.width - 1)
    }

    /// Packs a lane's intervals into rows in which they do not overlap.
    fn lane_rows(&self, intervals: &[Interval]) -> Vec<Vec<Option<Cell>>> {
        let mut rows: Vec<Vec<Option<Cell>>> = Vec::new();
        let mut last: Vec<usize> = Vec::new(); // last used column + 1
        for iv in intervals {
            let (c0, c1) = (self.col(iv.start), self.end_col(iv));
            let cell = Cell {
                state: iv.state,
                object: iv.object,
                open: iv.open,
            };
            let r = match last.iter().position(|&l| l <= c0) {
                Some(r) => r,
                // Something that fits in one column is drawn over the first
                // row rather than opening a row of its own: an uncontended
                // lock's zero-length wait is not worth a row.
                None if c0 == c1 && !iv.open && !rows.is_empty() => 0,
                None if rows.len() < self.rows_per_lane => {
                    rows.push(vec![None; self.width]);
                    last.push(0);
                    rows.len() - 1
                }
                None => rows.len() - 1,
            };
            for slot in &mut rows[r][c0..=c1] {
                if slot.is_none_or(|s| s.state <= cell.state) {
                    *slot = Some(cell);
                }
            }
            last[r] = last[r].max(c1 + 1);
        }
        rows
    }

    fn draw_row(&self, out: &mut String, row: &[Option<Cell>], keys: &[char], colour: bool) {
        let (held, wait, span) = self.fills();
        let mut prev: Option<Cell> = None;
        let mut painting = false;
        for &c in row {
            // A run starts where the object changes; its state may change
            // within a run (a one-column wait drawn over a hold of the same
            // lock) without repeating the key.
            let same_obj = matches!((prev, c), (Some(p), Some(c)) if p.object == c.object);
            let same_run = same_obj && prev.map(|p| p.state) == c.map(|c| c.state);
            if !same_run && painting {
                *out += "\x1b[0m";
                painting = false;
            }
            match c {
                None => out.push(' '),
                Some(c) => {
                    if colour && !same_obj && c.state != State::Span {
                        let style = if c.state == State::Held { "1;" } else { "" };
                        *out += &format!("\x1b[{style}{}m", PALETTE[c.object % 6]);
                        painting = true;
                    }
                    if colour && same_obj && !same_run && c.state != State::Span {
                        let style = if c.state == State::Held { "1;" } else { "" };
                        *out += &format!("\x1b[{style}{}m", PALETTE[c.object % 6]);
                        painting = true;
                    }
                    out.push(if !same_obj {
                        keys[c.object]
                    } else {
                        match c.state {
                            State::Held => held,
                            State::Waiting => wait,
                            State::Span => span,
                        }
                    });
                }
            }
            prev = c;
        }
        if painting {
            *out += "\x1b[0m";
        }
    }

    /// The caret row under lane `li`: `^` at each mark, followed by as much
    /// of its text as fits before the next one.
    fn marks_row(&self, li: usize) -> String {
        let mut row = vec![' '; self.width + 1];
        let marks = &self.model.lanes[li].marks;
        let cols: Vec<usize> = marks.iter().map(|(t, _)| self.col(*t)).collect();
        for (i, (_, text)) in marks.iter().enumerate() {
            let c = cols[i];
            let len = text.chars().count();
            let next = cols[i + 1..].iter().find(|&&n| n > c);
            row[c] = '^';
            if next.is_none() && c + len > self.width && c > len {
                // The last mark near the right edge: its text goes on the
                // left of the caret if nothing is there.
                let from = c - len - 1;
                if row[from..c].iter().all(|&ch| ch == ' ') {
                    for (k, ch) in text.chars().enumerate() {
                        row[from + k] = ch;
                    }
                    continue;
                }
            }
            // Otherwise on its right, up to the next mark (the last one may
            // run past the chart's edge).
            let stop = next.map_or(usize::MAX, |&n| n - 1);
            for (k, ch) in text.chars().enumerate() {
                let at = c + 1 + k;
                if at >= stop {
                    break;
                }
                if at >= row.len() {
                    row.push(ch);
                } else {
                    row[at] = ch;
                }
            }
        }
        row.into_iter().collect()
    }

    /// The time axis: `0` on the left, the end time on the right, the middle
    /// time in between when it fits.
    fn axis(&self) -> String {
        let end = self.model.end;
        let mut row = vec![' '; self.width + 2];
        let put = |row: &mut Vec<char>, at: usize, s: &str| {
            let free = row[at.saturating_sub(1)..(at + s.len() + 1).min(row.len())]
                .iter()
                .all(|&c| c == ' ');
            if at + s.len() <= row.len() && free {
                for (k, ch) in s.chars().enumerate() {
                    row[at + k] = ch;
                }
            }
        };
        let last = fmt_time(end);
        put(&mut row, (self.width + 2).saturating_sub(last.len()), &last);
        row[0] = '0';
        let mid = fmt_time(end / 2);
        put(
            &mut row,
            (self.width / 2 + 1).saturating_sub(mid.len() / 2),
            &mid,
        );
        row.into_iter().collect::<String>().trim_end().to_string()
    }

    /// A one-character key for each object and span name: the initial of
    /// its last word (`lock_a` -> `A`, `left fork` -> `F`), else of its first
    /// word, else any of its letters, else the first free letter; objects in
    /// upper case, spans in lower case.
    fn keys(&self) -> Vec<char> {
        let mut used: Vec<char> = Vec::new();
        let mut keys = Vec::new();
        for obj in &self.model.objects {
            let case = |c: char| {
                if obj.span {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            };
            let words: Vec<&str> = obj
                .name
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            let initials = words.iter().rev().filter_map(|w| w.chars().next());
            let letters = obj.name.chars().filter(char::is_ascii_alphanumeric);
            let pool = ('A'..='Z').chain('0'..='9');
            let key = initials
                .chain(letters)
                .chain(pool)
                .map(case)
                .find(|c| !used.contains(c))
                .unwrap_or('?');
            used.push(key);
            keys.push(key);
        }
        keys
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// `name` cut to `w` characters, with `…` when cut.
fn fit(name: &str, w: usize) -> String {
    if name.chars().count() <= w {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(w.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// A duration in the unit that suits it: `850ns`, `12.3µs`, `12.3ms`, `1.234s`.
pub(crate) fn fmt_time(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0".to_string()
    } else if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{:.3}s", ns as f64 / 1e9)
    }
}
