//! The Chrome trace writer: the Trace Event Format JSON that Perfetto
//! (<https://ui.perfetto.dev>) and `chrome://tracing` open.
//!
//! Each OS process of the trace becomes a Perfetto process with its real
//! `pid` and a `process_name` (the name given with
//! [`name_process`](crate::record::name_process), else `bingfa`), and each
//! of its lanes a thread (`tid`) with a `thread_name` metadata event. Holding `X` is a duration slice named
//! `holds X`, waiting for it `waits for X`, a span keeps its own name; a mark
//! is an instant event. Duration events must nest on a thread, so a lane
//! whose intervals overlap without nesting (it holds `A` from 0 to 6 and waits
//! for `B` from 3 to 10) spreads over extra threads named `lane (2)`, ...,
//! sorted right under it. Anything still open at the end of the trace is
//! closed at its end time, so every `B` has its `E`.
//!
//! Python: viztracer and `sys.setprofile`-based tracers write the same format.

use std::io;
use std::path::Path;
use std::time::Duration;

use crate::model::{Interval, Model, State};
use crate::record::Event;

/// The trace of `events` as Trace Event Format JSON:
/// `{"traceEvents": [...], "displayTimeUnit": "ms"}`, `ts` in microseconds.
///
/// ```
/// use std::time::Duration;
/// use bingfa_trace::{chrome, Event, EventKind};
///
/// let json = chrome::to_json(&[Event::new(
///     Duration::from_micros(10),
///     "main",
///     EventKind::Mark,
///     "say \"hi\"",
/// )]);
/// assert!(json.contains(r#""name":"say \"hi\"","cat":"mark","ph":"i""#));
/// ```
///
/// Python: `viztracer.VizTracer.save` (same format).
#[doc(alias = "perfetto")]
#[doc(alias = "chrome://tracing")]
pub fn to_json(events: &[Event]) -> String {
    let m = Model::build(events);
    let mut out = Vec::<(Duration, String)>::new();
    let mut meta = String::new();
    let mut next_tid = 1;

    for p in &m.processes {
        let name = p.name.as_deref().unwrap_or("bingfa");
        meta += &format!(
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{},\"tid\":0,\"args\":{{\"name\":{}}}}},\n",
            p.pid,
            string(name)
        );
    }
    for lane in &m.lanes {
        let pid = lane.pid;
        let mut tracks = tracks(&lane.intervals);
        if tracks.is_empty() {
            // A lane with no intervals still gets its thread, for its marks.
            tracks.push(Vec::new());
        }
        let first_tid = next_tid;
        for (k, track) in tracks.iter().enumerate() {
            let tid = next_tid;
            next_tid += 1;
            let name = if k == 0 {
                lane.name.to_string()
            } else {
                format!("{} ({})", lane.name, k + 1)
            };
            meta += &format!(
                "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":{}}}}},\n",
                string(&name)
            );
            meta += &format!(
                "{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"sort_index\":{}}}}},\n",
                tid
            );
            for &(t, begin, i) in track {
                let iv = &lane.intervals[i];
                let obj = &m.objects[iv.object].name;
                let (name, cat) = match iv.state {
                    State::Held => (format!("holds {obj}"), "held"),
                    State::Waiting => (format!("waits for {obj}"), "wait"),
                    State::Span => (obj.to_string(), "span"),
                };
                let ev = if begin {
                    format!(
                        "{{\"name\":{},\"cat\":\"{cat}\",\"ph\":\"B\",\"ts\":{},\"pid\":{pid},\"tid\":{tid},\"args\":{{\"object\":{},\"open_at_end\":{}}}}}",
                        string(&name),
                        micros(t),
                        string(obj),
                        iv.open
                    )
                } else {
                    format!(
                        "{{\"name\":{},\"cat\":\"{cat}\",\"ph\":\"E\",\"ts\":{},\"pid\":{pid},\"tid\":{tid}}}",
                        string(&name),
                        micros(t)
                    )
                };
                out.push((t, ev));
            }
        }
        for (t, text) in &lane.marks {
            out.push((
                *t,
                format!(
                    "{{\"name\":{},\"cat\":\"mark\",\"ph\":\"i\",\"s\":\"t\",\"ts\":{},\"pid\":{pid},\"tid\":{first_tid}}}",
                    string(text),
                    micros(*t)
                ),
            ));
        }
    }
    // Each track's events are in time order already; a stable sort keeps
    // their order at equal times (an `E` before the `B` that follows it).
    out.sort_by_key(|e| e.0);

    let mut json = String::from("{\"traceEvents\":[\n");
    json += &meta;
    for (_, e) in &out {
        json += e;
        json += ",\n";
    }
    if json.ends_with(",\n") {
        json.truncate(json.len() - 2); // the last ",\n"
    }
    json += "\n],\"displayTimeUnit\":\"ms\"}\n";
    json
}

/// Writes [`to_json`] of `events` to the file at `path`, replacing it.
///
/// # Errors
/// Any error of creating or writing the file.
///
/// Python: `viztracer.VizTracer.save(output_file)`.
pub fn write(path: impl AsRef<Path>, events: &[Event]) -> io::Result<()> {
    std::fs::write(path, to_json(events))
}

/// A begin or end point of a track: `(time, is_begin, interval index)`.
type Point = (Duration, bool, usize);

/// Spreads a lane's intervals (sorted by start, longer first) over tracks on
/// which they nest, and lists each track's begin/end points in order:
/// `(time, is_begin, interval index)`.
fn tracks(intervals: &[Interval]) -> Vec<Vec<Point>> {
    // Per track: the points so far and the stack of open intervals.
    let mut tracks: Vec<(Vec<Point>, Vec<usize>)> = Vec::new();
    for (i, iv) in intervals.iter().enumerate() {
        let fits = |stack: &[usize]| {
            // After closing what ends by `iv.start`, the innermost still open
            // interval must enclose `iv`.
            stack
                .iter()
                .rev()
                .find(|&&j| intervals[j].end > iv.start)
                .is_none_or(|&j| intervals[j].end >= iv.end)
        };
        let k = match tracks.iter().position(|(_, st)| fits(st)) {
            Some(k) => k,
            None => {
                tracks.push((Vec::new(), Vec::new()));
                tracks.len() - 1
            }
        };
        let (points, stack) = &mut tracks[k];
        while let Some(&j) = stack.last() {
            if intervals[j].end > iv.start {
                break;
            }
            points.push((intervals[j].end, false, j));
            stack.pop();
        }
        points.push((iv.start, true, i));
        stack.push(i);
    }
    tracks
        .into_iter()
        .map(|(mut points, stack)| {
            for &j in stack.iter().rev() {
                points.push((intervals[j].end, false, j));
            }
            points
        })
        .collect()
}

/// Microseconds with nanosecond precision.
fn micros(t: Duration) -> String {
    let ns = t.as_nanos();
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// `s` as a JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            '\n' => out += "\\n",
            '\r' => out += "\\r",
            '\t' => out += "\\t",
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out += &format!("\\u{:04x}", c as u32)
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_json_strings() {
        assert_eq!(string("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    #[test]
    fn micros_keep_nanoseconds() {
        assert_eq!(micros(Duration::from_nanos(1_234_567)), "1234.567");
        assert_eq!(micros(Duration::ZERO), "0.000");
    }
}
