//! A timeline you can open anywhere: one self-contained HTML file (no
//! network, no external script, style sheet or font) with, for each part of
//! a lesson, its narration beside an SVG timeline: a lane per thread, green
//! thread or process (grouped by OS process), a tooltip on every interval
//! and mark, and zoom (buttons, or the mouse wheel over a chart).
//!
//! ```
//! use std::time::Duration;
//! use bingfa_trace::{html, Event, EventKind};
//!
//! let events = vec![
//!     Event::new(Duration::ZERO, "t1", EventKind::Acquired, "lock_a"),
//!     Event::new(Duration::from_millis(5), "t1", EventKind::Released, "lock_a"),
//! ];
//! let mut page = html::Page::new("one lock");
//! page.section("holding a lock", "t1 takes lock_a and gives it back.", Some(events));
//! let text = page.render();
//! assert!(text.contains("<svg") && text.contains("t1 holds lock_a"));
//! assert!(!text.contains("src=\"http"));
//! ```
//!
//! Python: no standard equivalent (viztracer's HTML report needs its web
//! assets).

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::model::{Interval, Model, State};
use crate::record::Event;
use crate::timeline::fmt_time;

/// One part of the page: a heading, the narration printed for it, and the
/// timeline of its events, if it recorded any.
#[derive(Debug, Clone)]
struct Section {
    heading: String,
    narration: String,
    events: Option<Vec<Event>>,
    /// Counting rows under the chart: `(name, label)`.
    counts: Vec<(String, String)>,
}

/// A page of narrated timelines, written with [`Page::write`].
///
/// Python: no standard equivalent.
#[derive(Debug, Clone)]
pub struct Page {
    title: String,
    sections: Vec<Section>,
}

/// Colours of objects, by their order of appearance.
const PALETTE: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Width of a chart's drawing, in SVG units (it is stretched to the page).
const W: f64 = 1000.0;
/// Height of one row of a lane.
const ROW: f64 = 18.0;

impl Page {
    /// An empty page titled `title`.
    ///
    /// Python: no standard equivalent.
    pub fn new(title: &str) -> Page {
        Page {
            title: title.to_string(),
            sections: Vec::new(),
        }
    }

    /// Adds a part: its heading, its narration (plain text, kept as
    /// printed) and the events of its timeline, if any. Returns the page,
    /// so that [`count`](Page::count) can add counting rows to this part.
    ///
    /// Python: no standard equivalent.
    pub fn section(
        &mut self,
        heading: &str,
        narration: &str,
        events: Option<Vec<Event>>,
    ) -> &mut Page {
        self.sections.push(Section {
            heading: heading.to_string(),
            narration: narration.to_string(),
            events,
            counts: Vec::new(),
        });
        self
    }

    /// Adds a counting row under the chart of the section added last, as
    /// [`Timeline::count`](crate::Timeline::count) does in the terminal:
    /// over time, how many lanes at once were inside a span or held an
    /// object named `name`, or whose name is `name`, a space and more
    /// (`"task"` counts `task 1`, `task 2`...). The row is labelled `label`
    /// and its peak; a tooltip on each step says how many and when.
    ///
    /// # Panics
    /// If no section was added yet (there is no chart to count under).
    ///
    /// Python: no standard equivalent.
    pub fn count(&mut self, name: &str, label: &str) -> &mut Page {
        let section = self
            .sections
            .last_mut()
            .expect("html::Page::count: add a section (with events) first");
        section.counts.push((name.to_string(), label.to_string()));
        self
    }

    /// The page as one HTML document.
    ///
    /// Python: no standard equivalent.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let title = escape(&self.title);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>{STYLE}</style></head>\n\
             <body data-ready=\"no\" data-errors=\"0\">\n<h1>{title}</h1>\n\
             <p class=\"help\">Hover over a bar or a mark for what happened and when; zoom with \
             the buttons or the mouse wheel over a chart, drag to move along it.</p>\n"
        );
        let mut chart = 0;
        for s in &self.sections {
            out += "<section>\n";
            if !s.heading.is_empty() {
                let _ = writeln!(out, "<h2>{}</h2>", escape(&s.heading));
            }
            out += "<div class=\"part\">\n";
            let _ = writeln!(
                out,
                "<pre class=\"narration\">{}</pre>",
                escape(s.narration.trim_matches('\n'))
            );
            if let Some(events) = &s.events {
                out += &svg_chart(chart, events, &s.counts);
                chart += 1;
            }
            out += "</div>\n</section>\n";
        }
        let _ = write!(out, "<script>{SCRIPT}</script>\n</body></html>\n");
        out
    }

    /// Writes [`render`](Page::render) to `path`, replacing it.
    ///
    /// # Errors
    /// Any error of creating or writing the file.
    ///
    /// Python: no standard equivalent.
    pub fn write(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.render())
    }
}

/// One chart: lane labels on the left, the SVG of the lanes on the right
/// (and under them the counting rows `counts` asks for), an axis and zoom
/// buttons above.
fn svg_chart(id: usize, events: &[Event], counts: &[(String, String)]) -> String {
    let m = Model::build(events);
    if m.lanes.is_empty() {
        return "<p class=\"empty\">(no events)</p>\n".to_string();
    }
    let end = m.end.as_nanos().max(1) as f64;
    let x = |t: Duration| t.as_nanos() as f64 / end * W;
    let groups = m.processes.len() > 1;

    // Rows: (label, is a group title, intervals of the lane in this row).
    let mut labels = String::new();
    let mut body = String::new();
    let mut y = 0.0;
    let mut pid = None;
    for lane in &m.lanes {
        if groups && pid != Some(lane.pid) {
            pid = Some(lane.pid);
            let _ = writeln!(
                labels,
                "<div class=\"group\" style=\"height:{ROW}px\">{}</div>",
                escape(&m.process_title(lane.pid))
            );
            let _ = writeln!(
                body,
                "<rect class=\"groupband\" x=\"0\" y=\"{y}\" width=\"{W}\" height=\"{ROW}\"/>"
            );
            y += ROW;
        }
        let rows = rows(&lane.intervals);
        let n = rows.len().max(1);
        for (r, row) in rows.iter().enumerate() {
            let _ = writeln!(
                labels,
                "<div class=\"lane\" data-lane=\"{}\" style=\"height:{ROW}px\">{}{}</div>",
                escape(&lane.name),
                if groups { "&nbsp;&nbsp;" } else { "" },
                escape(&lane.name)
            );
            for &i in row {
                let iv = &lane.intervals[i];
                let obj = &m.objects[iv.object].name;
                let colour = PALETTE[iv.object % PALETTE.len()];
                let (what, class) = match iv.state {
                    State::Held => (format!("holds {obj}"), "held"),
                    State::Waiting => (format!("waits for {obj}"), "wait"),
                    State::Span => (obj.to_string(), "span"),
                };
                let x0 = x(iv.start);
                let w = (x(iv.end) - x0).max(0.5);
                let tip = format!(
                    "{} {what}: {} to {}{} ({})",
                    lane.name,
                    fmt_time(iv.start),
                    fmt_time(iv.end),
                    if iv.open { ", still at the end" } else { "" },
                    fmt_time(iv.end.saturating_sub(iv.start))
                );
                let ry = y + r as f64 * ROW + 2.0;
                let _ = writeln!(
                    body,
                    "<rect class=\"{class}\" x=\"{x0:.3}\" y=\"{ry}\" width=\"{w:.3}\" height=\"{}\" \
                     fill=\"{colour}\"><title>{}</title></rect>",
                    ROW - 4.0,
                    escape(&tip)
                );
            }
        }
        if rows.is_empty() {
            let _ = writeln!(
                labels,
                "<div class=\"lane\" data-lane=\"{}\" style=\"height:{ROW}px\">{}</div>",
                escape(&lane.name),
                escape(&lane.name)
            );
        }
        for (t, text) in &lane.marks {
            let mx = x(*t);
            let tip = format!("{} at {}: {text}", lane.name, fmt_time(*t));
            let _ = writeln!(
                body,
                "<path class=\"mark\" d=\"M{mx:.3},{my} l-5,7 l10,0 z\"><title>{}</title></path>",
                escape(&tip),
                my = y + ROW * n as f64 - 8.0,
            );
        }
        y += ROW * n as f64;
    }
    for (name, label) in counts {
        y = count_row(&m, name, label, y, &x, &mut labels, &mut body);
    }
    let height = y.max(ROW);
    let mut legend = String::new();
    for (o, obj) in m.objects.iter().enumerate() {
        let class = if obj.span { "span" } else { "held" };
        let _ = write!(
            legend,
            "<span class=\"key\"><svg width=\"14\" height=\"10\"><rect class=\"{class}\" width=\"14\" \
             height=\"10\" fill=\"{}\"/></svg> {}</span>",
            PALETTE[o % PALETTE.len()],
            escape(&obj.name)
        );
    }
    format!(
        "<div class=\"chart\" id=\"chart-{id}\" data-end-ns=\"{}\">\n\
         <div class=\"tools\"><button data-zoom=\"in\">+</button><button data-zoom=\"out\">&minus;</button>\
         <button data-zoom=\"reset\">whole run</button> <span class=\"axis\"></span></div>\n\
         <div class=\"lanes\"><div class=\"labels\">\n{labels}</div>\n\
         <svg class=\"plot\" viewBox=\"0 0 {W} {height}\" preserveAspectRatio=\"none\" \
         height=\"{height}\" role=\"img\">\n{body}</svg></div>\n\
         <div class=\"legend\">solid: holds &middot; pale: waits for &middot; thin: inside a span \
         &middot; &#9650;: a moment &middot; {legend}</div>\n\
         <div class=\"info\">&nbsp;</div>\n</div>\n",
        m.end.as_nanos()
    )
}

/// Height of a counting row.
const COUNT_ROW: f64 = 2.0 * ROW;

/// Draws the counting row of `name` at height `y` (its label into
/// `labels`, a step area into `body`: one bar per stretch of time at one
/// count, as tall as the count against the row's peak, with a tooltip),
/// and returns the height under it.
fn count_row(
    m: &Model,
    name: &str,
    label: &str,
    y: f64,
    x: &dyn Fn(Duration) -> f64,
    labels: &mut String,
    body: &mut String,
) -> f64 {
    let steps = m.count_steps(name);
    // Stretches of constant count: (from, to, count). Steps at one instant
    // are applied together: a hand-over at that instant is no peak.
    let mut stretches = Vec::new();
    let (mut cur, mut since, mut k) = (0i32, Duration::ZERO, 0);
    while k < steps.len() {
        let t = steps[k].0;
        let mut next = cur;
        while k < steps.len() && steps[k].0 == t {
            next += steps[k].1;
            k += 1;
        }
        if next != cur {
            if cur > 0 {
                stretches.push((since, t, cur));
            }
            cur = next;
            since = t;
        }
    }
    if cur > 0 {
        stretches.push((since, m.end, cur));
    }
    let peak = stretches.iter().map(|s| s.2).max().unwrap_or(0);
    let _ = writeln!(
        labels,
        "<div class=\"count\" data-count=\"{}\" data-peak=\"{peak}\" style=\"height:{COUNT_ROW}px;\
         line-height:{COUNT_ROW}px\">{} (at most {peak})</div>",
        escape(name),
        escape(label)
    );
    let _ = writeln!(
        body,
        "<rect class=\"countband\" x=\"0\" y=\"{y}\" width=\"{W}\" height=\"{COUNT_ROW}\"/>"
    );
    for (from, to, n) in stretches {
        let x0 = x(from);
        let w = (x(to) - x0).max(0.5);
        let h = (COUNT_ROW - 2.0) * f64::from(n) / f64::from(peak.max(1));
        let tip = format!(
            "{label}: {n} from {} to {} ({})",
            fmt_time(from),
            fmt_time(to),
            fmt_time(to.saturating_sub(from))
        );
        let _ = writeln!(
            body,
            "<rect class=\"count\" x=\"{x0:.3}\" y=\"{:.3}\" width=\"{w:.3}\" height=\"{h:.3}\">\
             <title>{}</title></rect>",
            y + COUNT_ROW - h,
            escape(&tip)
        );
    }
    y + COUNT_ROW
}

/// A lane's intervals packed into rows in which they do not overlap in time
/// (zero-length ones left out, as in the terminal).
fn rows(intervals: &[Interval]) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut last: Vec<Duration> = Vec::new();
    for (i, iv) in intervals.iter().enumerate() {
        if iv.start == iv.end && !iv.open {
            continue;
        }
        match last.iter().position(|&e| e <= iv.start) {
            Some(r) => {
                rows[r].push(i);
                last[r] = iv.end;
            }
            None => {
                rows.push(vec![i]);
                last.push(iv.end);
            }
        }
    }
    rows
}

/// `s` with `&`, `<`, `>` and `"` escaped for HTML text and attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
.help { color: #555; }
.part { display: grid; grid-template-columns: minmax(22em, 46em) minmax(30em, 1fr); gap: 1.2em; align-items: start; }
.narration { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre; margin: 0;
  background: #f6f6f6; padding: .6em; border-radius: 4px; overflow-x: auto; }
.chart { border: 1px solid #ddd; border-radius: 4px; padding: .4em; min-width: 0; }
.tools { font-size: 12px; margin-bottom: .3em; } .tools button { margin-right: .3em; }
.axis { color: #555; font-family: ui-monospace, monospace; }
.lanes { display: flex; }
.labels { flex: 0 0 auto; font-family: ui-monospace, monospace; font-size: 12px; padding-right: .5em;
  white-space: nowrap; max-width: 16em; overflow: hidden; }
.labels div { line-height: 18px; } .labels .group { font-weight: bold; color: #555; }
.plot { flex: 1 1 auto; width: 100%; background: repeating-linear-gradient(90deg, #fafafa 0 10%, #fff 10% 20%);
  cursor: grab; }
.plot rect.wait { fill-opacity: .28; stroke-opacity: .9; stroke-width: 1; vector-effect: non-scaling-stroke; }
.plot rect.span { fill-opacity: .55; }
.plot rect.held { fill-opacity: .95; }
.plot rect.groupband { fill: #eee; }
.plot rect.countband { fill: #f3f3f3; }
.plot rect.count { fill: #555; fill-opacity: .75; }
.labels .count { color: #333; font-style: italic; border-top: 1px solid #ddd; }
.plot .mark { fill: #000; }
.plot rect:hover, .plot path:hover { stroke: #000; stroke-width: 2; vector-effect: non-scaling-stroke; }
.legend { font-size: 12px; color: #444; margin-top: .3em; }
.legend .key { margin-right: .8em; white-space: nowrap; }
.legend rect.wait { fill-opacity: .28; } .legend rect.span { fill-opacity: .55; }
.info { font-size: 12px; font-family: ui-monospace, monospace; color: #333; min-height: 1.2em; }
.empty { color: #777; }
@media (max-width: 70em) { .part { grid-template-columns: 1fr; } }
"#;

const SCRIPT: &str = r#"
(function () {
  var errors = 0;
  window.addEventListener('error', function () {
    errors += 1; document.body.dataset.errors = String(errors);
  });
  function fmt(ns) {
    if (ns <= 0) return '0';
    if (ns < 1e3) return ns.toFixed(0) + 'ns';
    if (ns < 1e6) return (ns / 1e3).toFixed(1) + '\u00b5s';
    if (ns < 1e9) return (ns / 1e6).toFixed(1) + 'ms';
    return (ns / 1e9).toFixed(3) + 's';
  }
  document.querySelectorAll('.chart').forEach(function (chart) {
    var svg = chart.querySelector('svg.plot');
    var axis = chart.querySelector('.axis');
    var info = chart.querySelector('.info');
    var endNs = Number(chart.dataset.endNs) || 1;
    var vb = svg.viewBox.baseVal;
    var H = vb.height;
    var view = { x: 0, w: 1000 };
    function apply() {
      view.w = Math.min(1000, Math.max(1000 / 4096, view.w));
      view.x = Math.min(1000 - view.w, Math.max(0, view.x));
      svg.setAttribute('viewBox', view.x + ' 0 ' + view.w + ' ' + H);
      var from = view.x / 1000 * endNs, to = (view.x + view.w) / 1000 * endNs;
      axis.textContent = fmt(from) + ' \u2026 ' + fmt(to) +
        (view.w < 1000 ? '  (zoomed ' + (1000 / view.w).toFixed(1) + 'x)' : '');
    }
    function zoom(f, at) {
      var c = at === undefined ? view.x + view.w / 2 : at;
      var w = view.w / f;
      view.x = c - (c - view.x) * (w / view.w);
      view.w = w;
      apply();
    }
    chart.querySelectorAll('button').forEach(function (b) {
      b.addEventListener('click', function () {
        if (b.dataset.zoom === 'in') zoom(2);
        else if (b.dataset.zoom === 'out') zoom(0.5);
        else { view.x = 0; view.w = 1000; apply(); }
      });
    });
    svg.addEventListener('wheel', function (e) {
      e.preventDefault();
      var r = svg.getBoundingClientRect();
      var at = view.x + (e.clientX - r.left) / r.width * view.w;
      zoom(e.deltaY < 0 ? 1.25 : 0.8, at);
    }, { passive: false });
    var drag = null;
    svg.addEventListener('mousedown', function (e) { drag = { x: e.clientX, vx: view.x }; });
    window.addEventListener('mouseup', function () { drag = null; });
    window.addEventListener('mousemove', function (e) {
      if (!drag) return;
      var r = svg.getBoundingClientRect();
      view.x = drag.vx - (e.clientX - drag.x) / r.width * view.w;
      apply();
    });
    svg.querySelectorAll('rect, path').forEach(function (el) {
      var t = el.querySelector('title');
      if (!t) return;
      el.addEventListener('mouseenter', function () { info.textContent = t.textContent; });
    });
    apply();
  });
  document.body.dataset.ready = 'yes';
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::EventKind;

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_page_has_a_lane_per_lane_a_group_per_process_and_no_outside_resource() {
        let events = vec![
            Event::new(Duration::ZERO, "main", EventKind::Begin, "fork"),
            Event::new(Duration::from_millis(1), "main", EventKind::End, "fork"),
            Event::new(
                Duration::from_millis(1),
                "main",
                EventKind::ProcessName,
                "child",
            )
            .in_process(7),
            Event::new(Duration::from_millis(1), "worker", EventKind::Blocked, "q").in_process(7),
            Event::new(
                Duration::from_millis(3),
                "worker",
                EventKind::Mark,
                "<got it>",
            )
            .in_process(7),
        ];
        let mut page = Page::new("a <test>");
        page.section("part 1", "some narration & more", Some(events));
        page.section("", "only words", None);
        let html = page.render();
        assert!(html.contains("<title>a &lt;test&gt;</title>"));
        assert!(html.contains("data-lane=\"main\""));
        assert!(html.contains("data-lane=\"worker\""));
        assert!(html.contains("child (pid 7)"));
        assert!(html.contains("worker waits for q: 1.0ms to 3.0ms, still at the end"));
        assert!(html.contains("worker at 3.0ms: &lt;got it&gt;"));
        assert!(html.contains("some narration &amp; more"));
        assert_eq!(html.matches("<svg class=\"plot\"").count(), 1);
        for outside in ["src=\"http", "href=\"http", "@import", "url(http", "<link"] {
            assert!(!html.contains(outside), "{outside}");
        }
        assert!(
            !html.contains("class=\"count\""),
            "no counting row asked for"
        );
    }

    #[test]
    fn a_counting_row_shows_how_many_were_inside_and_when() {
        let ms = Duration::from_millis;
        let ev = |t, lane, kind, obj| Event::new(ms(t), lane, kind, obj);
        // t1 holds slot 0-4 ms, t2 2-6 ms, t3 4-8 ms (taking it at the
        // instant t1 gives it back: no third holder then); t3 waits first,
        // which does not count; "slots" is another object.
        let events = vec![
            ev(0, "t1", EventKind::Acquired, "slot"),
            ev(1, "t3", EventKind::Blocked, "slot"),
            ev(2, "t2", EventKind::Begin, "slot 2"),
            ev(3, "t4", EventKind::Acquired, "slots"),
            ev(4, "t1", EventKind::Released, "slot"),
            ev(4, "t3", EventKind::Acquired, "slot"),
            ev(6, "t2", EventKind::End, "slot 2"),
            ev(8, "t3", EventKind::Released, "slot"),
        ];
        let mut page = Page::new("counting");
        page.section("part", "words", Some(events))
            .count("slot", "inside");
        let html = page.render();
        assert!(
            html.contains("data-count=\"slot\" data-peak=\"2\""),
            "{html}"
        );
        assert!(html.contains(">inside (at most 2)</div>"), "{html}");
        for tip in [
            "inside: 1 from 0 to 2.0ms (2.0ms)",
            "inside: 2 from 2.0ms to 6.0ms (4.0ms)",
            "inside: 1 from 6.0ms to 8.0ms (2.0ms)",
        ] {
            assert!(html.contains(tip), "{tip} in {html}");
        }
        assert_eq!(html.matches("<rect class=\"count\"").count(), 3);
    }

    #[test]
    #[should_panic(expected = "add a section")]
    fn counting_needs_a_section() {
        Page::new("empty").count("slot", "inside");
    }
}
