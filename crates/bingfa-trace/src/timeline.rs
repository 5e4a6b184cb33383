//! The terminal timeline: one lane per thread, process or green thread, time
//! flowing left to right, lanes grouped by OS process, counting rows for
//! what several lanes hold at once, and below it a legend and what was still
//! held or awaited when the trace ended (a deadlock, spelled out). The event
//! list is there on request ([`Timeline::max_events`]).

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
/// appearance, grouped under a title per OS process when the trace holds
/// several. A lane whose intervals overlap in time (it holds `A` while it
/// waits for `B`) gets up to [`rows_per_lane`](Timeline::rows_per_lane)
/// rows, each labelled with the lane's name. Each interval starts with the
/// key of its object, listed in the legend:
///
/// | cells      | ASCII      | meaning                                 |
/// |------------|------------|-----------------------------------------|
/// | `A███`     | `A###`     | holds `A`                               |
/// | `B░░░`     | `B...`     | waits for `B`                           |
/// | `r───`     | `r---`     | inside the span `r` (`Begin`..`End`)    |
/// | `rrr`      | `rrr`      | a new `r` begins in each column: many short ones |
/// | `A██░░██`  | `A##..##`  | holds `A`, waits for it, holds it again: the fill changes, no key |
/// | `^text`    | `^text`    | a mark                                  |
/// | `>` at the right edge | `>` | still so when the trace ended       |
///
/// A column shows the interval that covers most of its time, so an interval
/// shorter than a column never stretches into a long bar. Keys are a
/// name's one-letter last word (`mutex_a` -> `A`), the number that tells
/// names apart (`task 10` -> `10`), or the initial of its first word
/// (`round trip` -> `r`); objects in upper case, spans in lower case.
///
/// [`count`](Timeline::count) adds a counting row under the lanes: how many
/// lanes at most were inside a span or held an object of a given name in
/// each column (a semaphore's permits, a pool's tasks).
///
/// Below the chart come the legend and the lanes that still held or waited
/// for something when the trace ended (with who held what they waited for:
/// the cycle of a deadlock); the event list only when asked for with
/// [`max_events`](Timeline::max_events).
///
/// ```
/// use std::time::Duration;
/// use bingfa_trace::{Event, EventKind, Timeline, Colour};
///
/// let ev = |ms, lane: &str, kind, obj: &str| {
///     Event::new(Duration::from_millis(ms), lane, kind, obj)
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
    counts: Vec<(String, String)>,
    legend: bool,
}

const PALETTE: [u8; 6] = [31, 32, 33, 34, 35, 36];

/// Marks' text may run this far past the chart's right edge.
const OVERHANG: usize = 30;

impl Timeline {
    /// A timeline of `events`, which need not be sorted (they are sorted
    /// stably by time). Defaults: 60 columns of chart, no title,
    /// [`Colour::Auto`], Unicode blocks, 4 rows per lane, no event list.
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
            max_events: 0,
            label_width: 22,
            counts: Vec::new(),
            legend: true,
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

    /// Sets how many rows a lane may use for intervals that overlap in time
    /// (at least 1). Beyond that, intervals share the lane's last row, where
    /// each column shows the one that covers most of it.
    ///
    /// Python: no standard equivalent.
    #[doc(alias = "compact")]
    pub fn rows_per_lane(mut self, rows: usize) -> Timeline {
        self.rows_per_lane = rows.max(1);
        self
    }

    /// Sets how many events the list below the chart shows; `0` (the
    /// default) hides the list. The first `n` are shown, then a count of the
    /// rest.
    ///
    /// Python: no standard equivalent.
    pub fn max_events(mut self, n: usize) -> Timeline {
        self.max_events = n;
        self
    }

    /// Whether to print the legend under the chart (default: yes). Several
    /// charts of one kind need it once.
    ///
    /// Python: no standard equivalent.
    pub fn legend(mut self, on: bool) -> Timeline {
        self.legend = on;
        self
    }

    /// Adds a counting row labelled `label`: in each column, how many lanes
    /// at most were at once inside a span or holding an object named `name`,
    /// or whose name starts with `name` and a space (`"task"` counts
    /// `task 1`, `task 2`...).
    ///
    /// The count is as exact as the recorded times: a primitive that
    /// records its release after handing the object over shows one holder
    /// too many for that instant. Count a span recorded inside the hold
    /// instead (after acquiring, before releasing) for an exact bound.
    ///
    /// Python: no standard equivalent.
    pub fn count(mut self, name: &str, label: &str) -> Timeline {
        self.counts.push((name.to_string(), label.to_string()));
        self
    }

    /// The counting rows asked for with [`count`](Timeline::count), in
    /// order: `(name, label)`. A program that draws the same events
    /// elsewhere (an HTML page: [`crate::html::Page::count`]) asks for the
    /// same rows there.
    ///
    /// Python: no standard equivalent.
    pub fn counts(&self) -> impl Iterator<Item = (&str, &str)> {
        self.counts.iter().map(|(n, l)| (n.as_str(), l.as_str()))
    }

    /// Renders the timeline as text, ending in a newline.
    ///
    /// Python: no standard equivalent.
    pub fn render(&self) -> String {
        let m = &self.model;
        let colour = self.colour.enabled();
        let keys = self.keys();
        let groups = m.processes.len() > 1;
        let indent = if groups { 2 } else { 0 };
        let counts = self.count_rows();
        let label_w = m
            .lanes
            .iter()
            .map(|l| l.name.chars().count() + indent)
            .chain(counts.iter().map(|c| c.0.chars().count()))
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

        let mut repeats = false;
        let mut drawn: Vec<(usize, State)> = Vec::new();
        let mut pid = None;
        for (li, lane) in m.lanes.iter().enumerate() {
            if groups && pid != Some(lane.pid) {
                pid = Some(lane.pid);
                out += &format!("{}\n", m.process_title(lane.pid));
            }
            let label = fit(&format!("{}{}", " ".repeat(indent), lane.name), label_w);
            let rows = self.lane_rows(&lane.intervals);
            for row in &rows {
                out += &format!("{label:<label_w$} |");
                let cells = self.cells(&lane.intervals, row);
                for &i in cells.iter().flatten() {
                    let iv = &lane.intervals[i];
                    if !drawn.contains(&(iv.object, iv.state)) {
                        drawn.push((iv.object, iv.state));
                    }
                }
                repeats |= self.draw_row(&mut out, &lane.intervals, &cells, &keys, colour);
                let open_end = cells[self.width - 1].is_some_and(|i| lane.intervals[i].open);
                out += if open_end { ">\n" } else { "|\n" };
            }
            if rows.is_empty() {
                out += &format!("{label:<label_w$} |{}|\n", " ".repeat(self.width));
            }
            for line in self.marks_rows(li) {
                out += &format!("{pad} {}\n", line.trim_end());
            }
        }
        for (label, row, max) in &counts {
            out += &format!(
                "{:<label_w$} |{row}| at most {max} at once\n",
                fit(label, label_w)
            );
        }

        if self.legend {
            out += &self.legend_text(&keys, colour, label_w, &drawn, repeats, !counts.is_empty());
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
                let who = if groups {
                    format!("{} (pid {})", lane.name, lane.pid)
                } else {
                    lane.name.to_string()
                };
                tail += &format!("  {who} {}\n", parts.join(", "));
            }
        }
        if !tail.is_empty() {
            out += &format!("\nat the end (t={}):\n{tail}", fmt_time(m.end));
        }

        if self.max_events > 0 {
            out += &self.event_list(groups);
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

    /// The legend: only the states that the chart shows, then the keys.
    /// The legend of what was `drawn` (object, state): its states, then
    /// its keys.
    fn legend_text(
        &self,
        keys: &[String],
        colour: bool,
        label_w: usize,
        drawn: &[(usize, State)],
        repeats: bool,
        counted: bool,
    ) -> String {
        let m = &self.model;
        let (held, wait, span) = self.fills();
        let has = |s: State| drawn.iter().any(|d| d.1 == s);
        let shown = |o: usize| drawn.iter().any(|d| d.0 == o);
        let mut parts = Vec::new();
        if has(State::Held) {
            parts.push(format!("{held} holds"));
        }
        if has(State::Waiting) {
            parts.push(format!("{wait} waits for"));
        }
        if has(State::Span) {
            parts.push(format!("{span} inside a span"));
        }
        if m.lanes.iter().any(|l| !l.marks.is_empty()) {
            parts.push("^ a moment".to_string());
        }
        if m.lanes.iter().any(|l| l.intervals.iter().any(|i| i.open)) {
            parts.push("> still so at the end".to_string());
        }
        let mut out = format!("\nlegend: {}\n", parts.join("   "));
        let mut notes = Vec::new();
        if repeats {
            notes.push("a key starts each interval: AAA is a new one in each column");
        }
        if counted {
            notes.push("digits: how many lanes at once");
        }
        if !notes.is_empty() {
            out += &format!("        {}\n", notes.join("; "));
        }
        let mut line = String::from("      ");
        for (o, obj) in m.objects.iter().enumerate() {
            if !shown(o) {
                continue;
            }
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
        out
    }

    fn event_list(&self, groups: bool) -> String {
        let m = &self.model;
        let mut out = String::from("\nevents:\n");
        let who = |e: &Event| {
            if groups {
                format!("{} (pid {})", e.lane, e.pid)
            } else {
                e.lane.to_string()
            }
        };
        let shown: Vec<&Event> = m
            .events
            .iter()
            .filter(|e| e.kind != EventKind::ProcessName)
            .collect();
        let name_w = shown
            .iter()
            .map(|e| who(e).chars().count())
            .max()
            .unwrap_or(0);
        let times: Vec<String> = shown
            .iter()
            .take(self.max_events)
            .map(|e| format!("t={}", fmt_time(e.t)))
            .collect();
        let time_w = times.iter().map(|t| t.len()).max().unwrap_or(0);
        for (e, t) in shown.iter().zip(&times) {
            let what = match e.kind {
                EventKind::Blocked => "waits for",
                EventKind::Acquired => "acquired",
                EventKind::Unblocked => "stopped waiting for",
                EventKind::Released => "released",
                EventKind::Begin => "begins",
                EventKind::End => "ends",
                EventKind::Mark => "says",
                EventKind::ProcessName => "is named",
            };
            out += &format!("  {t:<time_w$}  {:<name_w$}  {what} {}\n", who(e), e.object);
        }
        if shown.len() > self.max_events {
            out += &format!("  ... and {} more\n", shown.len() - self.max_events);
        }
        out
    }

    /// The column of time `t`.
    fn col(&self, t: Duration) -> usize {
        let end = self.model.end.as_nanos();
        if end == 0 {
            return 0;
        }
        ((t.as_nanos() * self.width as u128 / end) as usize).min(self.width - 1)
    }

    /// The time span of column `c`: `[from, to)`.
    fn window(&self, c: usize) -> (u128, u128) {
        let end = self.model.end.as_nanos();
        let w = self.width as u128;
        (end * c as u128 / w, end * (c as u128 + 1) / w)
    }

    /// Packs a lane's intervals into rows in which they do not overlap in
    /// time; returns the indices of each row's intervals. Intervals of no
    /// length (an uncontended wait) are left out: there is nothing to draw.
    fn lane_rows(&self, intervals: &[Interval]) -> Vec<Vec<usize>> {
        let mut rows: Vec<Vec<usize>> = Vec::new();
        let mut last_end: Vec<Duration> = Vec::new();
        for (i, iv) in intervals.iter().enumerate() {
            if iv.start == iv.end && !iv.open {
                continue;
            }
            let r = match last_end.iter().position(|&e| e <= iv.start) {
                Some(r) => r,
                None if rows.len() < self.rows_per_lane => {
                    rows.push(Vec::new());
                    last_end.push(Duration::ZERO);
                    rows.len() - 1
                }
                None => rows.len() - 1,
            };
            rows[r].push(i);
            last_end[r] = last_end[r].max(iv.end);
        }
        rows
    }

    /// For each column, the interval of `row` that covers most of its time
    /// (on a tie, waiting over holding over spans).
    fn cells(&self, intervals: &[Interval], row: &[usize]) -> Vec<Option<usize>> {
        let mut cells = vec![None; self.width];
        let mut best = vec![(0u128, None::<State>); self.width];
        for &i in row {
            let iv = &intervals[i];
            // The last column is the one of the last instant before the end.
            let last = iv.end.saturating_sub(Duration::from_nanos(1)).max(iv.start);
            let (c0, c1) = (self.col(iv.start), self.col(last));
            let (s, e) = (iv.start.as_nanos(), iv.end.as_nanos());
            for c in c0..=c1 {
                let (from, to) = self.window(c);
                // At least 1: a very short interval still shows where
                // nothing longer is.
                let cover = e.min(to).saturating_sub(s.max(from)).max(1);
                let better = cover > best[c].0
                    || (cover == best[c].0 && best[c].1.is_none_or(|b| iv.state > b));
                if better {
                    best[c] = (cover, Some(iv.state));
                    cells[c] = Some(i);
                }
            }
        }
        cells
    }

    fn draw_row(
        &self,
        out: &mut String,
        intervals: &[Interval],
        cells: &[Option<usize>],
        keys: &[String],
        colour: bool,
    ) -> bool {
        let (held, wait, span) = self.fills();
        let mut repeats = false;
        let mut prev: Option<usize> = None;
        let mut c = 0;
        while c < cells.len() {
            let Some(i) = cells[c] else {
                out.push(' ');
                prev = None;
                c += 1;
                continue;
            };
            // The run of columns this interval shows in.
            let run = cells[c..].iter().take_while(|&&x| x == Some(i)).count();
            let iv = &intervals[i];
            // The key marks where an interval starts, unless the fill
            // already shows it: the same object right before, in the other
            // state (held, then waited for).
            let same_object = prev.is_some_and(|p| intervals[p].object == iv.object);
            let same_state = prev.is_some_and(|p| intervals[p].state == iv.state);
            let keyed = !same_object || same_state;
            repeats |= same_object && same_state;
            prev = Some(i);
            let fill = match iv.state {
                State::Held => held,
                State::Waiting => wait,
                State::Span => span,
            };
            let key: Vec<char> = if keyed {
                keys[iv.object].chars().collect()
            } else {
                Vec::new()
            };
            let text: String = (0..run)
                .map(|k| key.get(k).copied().unwrap_or(fill))
                .collect();
            if colour && iv.state != State::Span {
                let style = if iv.state == State::Held { "1;" } else { "" };
                *out += &format!("\x1b[{style}{}m{text}\x1b[0m", PALETTE[iv.object % 6]);
            } else {
                *out += &text;
            }
            c += run;
        }
        repeats
    }

    /// The lines of lane `li`'s marks: a caret at each mark (marks one
    /// column apart or less are taken together, their texts joined), its
    /// text right of it on the caret line if it fits, else on a line below
    /// under a caret of its own; never over another text.
    fn marks_rows(&self, li: usize) -> Vec<String> {
        let marks = &self.model.lanes[li].marks;
        if marks.is_empty() {
            return Vec::new();
        }
        let mut groups: Vec<(usize, Vec<&str>)> = Vec::new();
        for (t, text) in marks {
            let c = self.col(*t);
            match groups.last_mut() {
                Some((gc, texts)) if c <= *gc + 1 => {
                    if !texts.contains(&&**text) {
                        texts.push(text);
                    }
                }
                _ => groups.push((c, vec![text])),
            }
        }
        let len = self.width + OVERHANG;
        let mut lines: Vec<Vec<char>> = vec![vec![' '; len]];
        for (c, _) in &groups {
            lines[0][*c] = '^';
        }
        let free = |line: &[char], from: usize, to: usize| {
            to <= line.len() && line[from..to].iter().all(|&ch| ch == ' ')
        };
        for (k, (c, texts)) in groups.iter().enumerate() {
            let c = *c;
            let mut text = texts.join(", ");
            if text.chars().count() > self.width {
                text = fit(&text, self.width);
            }
            let chars: Vec<char> = text.chars().collect();
            let n = chars.len();
            let next = groups.get(k + 1).map_or(len, |g| g.0);
            // Inline, left of the caret, when it is the last one and its
            // text would run past the chart's edge.
            let past_edge = c + 1 + n > self.width;
            if past_edge && k + 1 == groups.len() && c > n + 1 && free(&lines[0], c - n - 2, c) {
                lines[0][c - n - 1..c - 1].copy_from_slice(&chars);
                continue;
            }
            // Inline, right of the caret, a space before the next caret.
            if c + 1 + n < next && free(&lines[0], c + 1, (c + 2 + n).min(len)) {
                lines[0][c + 1..c + 1 + n].copy_from_slice(&chars);
                continue;
            }
            // On a line below: `^text` under the caret.
            let mut placed = false;
            for line in lines.iter_mut().skip(1) {
                if free(line, c.saturating_sub(1), (c + 2 + n).min(len)) && c + 1 + n <= len {
                    line[c] = '^';
                    line[c + 1..c + 1 + n].copy_from_slice(&chars);
                    placed = true;
                    break;
                }
            }
            if !placed {
                let mut line = vec![' '; len];
                line[c] = '^';
                let n = n.min(len - c - 1);
                line[c + 1..c + 1 + n].copy_from_slice(&chars[..n]);
                lines.push(line);
            }
        }
        lines.into_iter().map(|l| l.into_iter().collect()).collect()
    }

    /// The counting rows: `(label, row, max)`, for the names asked for with
    /// [`count`](Timeline::count).
    fn count_rows(&self) -> Vec<(String, String, i32)> {
        let mut rows = Vec::new();
        for (name, label) in &self.counts {
            let steps = self.model.count_steps(name);
            let mut row = String::new();
            let (mut cur, mut k, mut max) = (0i32, 0usize, 0i32);
            for c in 0..self.width {
                let (from, to) = self.window(c);
                // The count at the column's first instant (a release at
                // that instant included), then its peak inside.
                while k < steps.len() && steps[k].0.as_nanos() <= from {
                    cur += steps[k].1;
                    k += 1;
                }
                let mut col_max = cur;
                while k < steps.len() && (steps[k].0.as_nanos() < to || c == self.width - 1) {
                    cur += steps[k].1;
                    col_max = col_max.max(cur);
                    k += 1;
                }
                max = max.max(col_max);
                row.push(match col_max {
                    n if n <= 0 => ' ',
                    n @ 1..=9 => char::from(b'0' + n as u8),
                    _ => '+',
                });
            }
            rows.push((label.clone(), row, max));
        }
        rows
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

    /// A short key for each object and span name. A name ending in a number
    /// that tells it apart from the others (`task 10`) gets that number;
    /// a name ending in a one-letter word gets that letter (`lock_a` ->
    /// `A`); otherwise the initial of its first word (`round trip` -> `r`),
    /// else of its other words, else any of its letters, else the first
    /// free letter; objects in upper case, spans in lower case.
    fn keys(&self) -> Vec<String> {
        let objects = &self.model.objects;
        let words = |name: &str| -> Vec<String> {
            name.split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        };
        let number = |name: &str| {
            words(name)
                .last()
                .filter(|w| w.len() <= 3 && w.chars().all(|c| c.is_ascii_digit()))
                .cloned()
        };
        let mut used: Vec<String> = Vec::new();
        let mut keys = Vec::new();
        for obj in objects {
            let case = |c: char| {
                if obj.span {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            };
            // The names that differ from this one only by their number.
            let stem = |n: &str| {
                let w = words(n);
                w[..w.len().saturating_sub(1)].join(" ")
            };
            let siblings = objects
                .iter()
                .filter(|o| o.span == obj.span && number(&o.name).is_some())
                .filter(|o| stem(&o.name) == stem(&obj.name))
                .count();
            let by_number = number(&obj.name).filter(|n| siblings > 1 && !used.contains(n));
            let key = by_number.or_else(|| {
                // A one-letter last word names the object (`lock_a`);
                // otherwise the first word says what it is (`round trip`).
                let mut w = words(&obj.name);
                if w.last().is_some_and(|l| l.chars().count() == 1) {
                    w.reverse();
                }
                let initials = w.iter().filter_map(|w| w.chars().next());
                let letters = obj.name.chars().filter(char::is_ascii_alphanumeric);
                let pool = ('A'..='Z').chain('0'..='9');
                initials
                    .chain(letters)
                    .chain(pool)
                    .map(|c| case(c).to_string())
                    .find(|c| !used.contains(c))
            });
            let key = key.unwrap_or_else(|| "?".to_string());
            used.push(key.clone());
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
