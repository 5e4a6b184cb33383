//! From a flat list of events to lanes of intervals: who held what from when
//! to when, who waited for what, which spans ran. The timeline and the Chrome
//! writer both draw this model, so they always agree.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::record::{Event, EventKind};

/// What a lane is doing during an interval. The order is the drawing
/// priority: when two intervals share a column, the higher one shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum State {
    /// Inside a `Begin`/`End` span.
    Span,
    /// Holding an object (between `Acquired` and `Released`).
    Held,
    /// Waiting for an object (between `Blocked` and `Acquired`/`Unblocked`).
    Waiting,
}

/// One interval of one lane.
#[derive(Debug, Clone)]
pub(crate) struct Interval {
    pub state: State,
    /// Index into [`Model::objects`].
    pub object: usize,
    pub start: Duration,
    pub end: Duration,
    /// Still held / waiting / running when the trace ended.
    pub open: bool,
}

/// One lane: a thread, a process or a green thread.
#[derive(Debug, Clone)]
pub(crate) struct Lane {
    pub name: Arc<str>,
    /// The process it belongs to.
    pub pid: u32,
    /// Sorted by start, the longer first on equal starts (so that an
    /// enclosing interval comes before what it encloses).
    pub intervals: Vec<Interval>,
    /// Instants with their text.
    pub marks: Vec<(Duration, Arc<str>)>,
}

/// An object (lock, event...) or a span name, with whether it was ever
/// used as a span.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub name: Arc<str>,
    pub span: bool,
}

/// One OS process of the trace.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    pub pid: u32,
    /// The name it gave itself with `name_process`, if any.
    pub name: Option<Arc<str>>,
}

/// The whole trace, ready to draw.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Grouped by process (in order of first appearance), then in order of
    /// first appearance.
    pub lanes: Vec<Lane>,
    /// The processes, in order of first appearance.
    pub processes: Vec<Process>,
    /// Objects and span names, in order of first appearance.
    pub objects: Vec<Object>,
    /// The time of the last event: where open intervals are cut.
    pub end: Duration,
    /// The events, stably sorted by time.
    pub events: Vec<Event>,
}

#[derive(Default)]
struct Open {
    /// (object, nesting count, since)
    held: Vec<(usize, usize, Duration)>,
    /// (object, since)
    waiting: Vec<(usize, Duration)>,
    /// (span name, since), innermost last
    spans: Vec<(usize, Duration)>,
}

impl Model {
    /// Builds the model. Unmatched events are handled as leniently as the
    /// facts allow: `Released` without `Acquired` means "held since before
    /// the trace started"; `End` without `Begin` and `Unblocked` without
    /// `Blocked` are ignored; anything still open is cut at the end time and
    /// flagged `open`.
    pub(crate) fn build(events: &[Event]) -> Model {
        let mut events = events.to_vec();
        events.sort_by_key(|e| e.t); // stable: equal times keep their order
        let end = events.last().map_or(Duration::ZERO, |e| e.t);

        let mut lane_ix: HashMap<(u32, Arc<str>), usize> = HashMap::new();
        let mut processes: Vec<Process> = Vec::new();
        let mut obj_ix: HashMap<Arc<str>, usize> = HashMap::new();
        let mut lanes: Vec<Lane> = Vec::new();
        let mut open: Vec<Open> = Vec::new();
        let mut objects: Vec<Object> = Vec::new();

        for e in &events {
            let p = match processes.iter().position(|p| p.pid == e.pid) {
                Some(p) => p,
                None => {
                    processes.push(Process {
                        pid: e.pid,
                        name: None,
                    });
                    processes.len() - 1
                }
            };
            if e.kind == EventKind::ProcessName {
                processes[p].name = Some(e.object.clone());
                continue;
            }
            let l = *lane_ix.entry((e.pid, e.lane.clone())).or_insert_with(|| {
                lanes.push(Lane {
                    name: e.lane.clone(),
                    pid: e.pid,
                    intervals: Vec::new(),
                    marks: Vec::new(),
                });
                open.push(Open::default());
                lanes.len() - 1
            });
            if e.kind == EventKind::Mark {
                lanes[l].marks.push((e.t, e.object.clone()));
                continue;
            }
            let o = *obj_ix.entry(e.object.clone()).or_insert_with(|| {
                objects.push(Object {
                    name: e.object.clone(),
                    span: false,
                });
                objects.len() - 1
            });
            let (lane, st) = (&mut lanes[l], &mut open[l]);
            let mut close = |state, start, end| {
                lane.intervals.push(Interval {
                    state,
                    object: o,
                    start,
                    end,
                    open: false,
                })
            };
            match e.kind {
                EventKind::Blocked => {
                    if !st.waiting.iter().any(|w| w.0 == o) {
                        st.waiting.push((o, e.t));
                    }
                }
                EventKind::Unblocked | EventKind::Acquired => {
                    if let Some(i) = st.waiting.iter().position(|w| w.0 == o) {
                        let (_, since) = st.waiting.remove(i);
                        close(State::Waiting, since, e.t);
                    }
                    if e.kind == EventKind::Acquired {
                        match st.held.iter_mut().find(|h| h.0 == o) {
                            Some(h) => h.1 += 1,
                            None => st.held.push((o, 1, e.t)),
                        }
                    }
                }
                EventKind::Released => match st.held.iter().position(|h| h.0 == o) {
                    Some(i) => {
                        st.held[i].1 -= 1;
                        if st.held[i].1 == 0 {
                            let (_, _, since) = st.held.remove(i);
                            close(State::Held, since, e.t);
                        }
                    }
                    // Held since before the trace started.
                    None => close(State::Held, Duration::ZERO, e.t),
                },
                EventKind::Begin => {
                    objects[o].span = true;
                    st.spans.push((o, e.t));
                }
                EventKind::End => {
                    if let Some(i) = st.spans.iter().rposition(|s| s.0 == o) {
                        let (_, since) = st.spans.remove(i);
                        close(State::Span, since, e.t);
                    }
                }
                EventKind::Mark | EventKind::ProcessName => {
                    unreachable!("marks and names are handled above")
                }
            }
        }

        for (lane, st) in lanes.iter_mut().zip(open) {
            let cut = |state, object, start| Interval {
                state,
                object,
                start,
                end,
                open: true,
            };
            let held = st.held.into_iter().map(|(o, _, s)| cut(State::Held, o, s));
            let waiting = st
                .waiting
                .into_iter()
                .map(|(o, s)| cut(State::Waiting, o, s));
            let spans = st.spans.into_iter().map(|(o, s)| cut(State::Span, o, s));
            lane.intervals.extend(held.chain(waiting).chain(spans));
            lane.intervals
                .sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        }
        // The process that draws the trace (the one that recorded it, as a
        // rule) comes first; then the others as they appeared.
        let me = std::process::id();
        if let Some(i) = processes.iter().position(|p| p.pid == me) {
            let p = processes.remove(i);
            processes.insert(0, p);
        }
        // Group the lanes by process, keeping first-appearance order in each.
        lanes.sort_by_key(|l| processes.iter().position(|p| p.pid == l.pid));

        Model {
            lanes,
            processes,
            objects,
            end,
            events,
        }
    }

    /// The title of process `pid`'s lane group: `NAME (pid N)` or `pid N`.
    pub(crate) fn process_title(&self, pid: u32) -> String {
        match self
            .processes
            .iter()
            .find(|p| p.pid == pid)
            .and_then(|p| p.name.as_ref())
        {
            Some(name) => format!("{name} (pid {pid})"),
            None => format!("pid {pid}"),
        }
    }

    /// How many lanes are in `state` on an object that `matches`, as
    /// `(time, +1 | -1)` steps sorted by time, ends before starts at equal
    /// times (a permit handed over is not two holders at once).
    pub(crate) fn steps(
        &self,
        state: State,
        matches: impl Fn(&str) -> bool,
    ) -> Vec<(Duration, i32)> {
        let mut steps = Vec::new();
        for lane in &self.lanes {
            for iv in &lane.intervals {
                if iv.state == state && matches(&self.objects[iv.object].name) {
                    steps.push((iv.start, 1));
                    if !iv.open {
                        steps.push((iv.end, -1));
                    }
                }
            }
        }
        steps.sort();
        steps
    }

    /// The steps of a counting row (`Timeline::count`, `html::Page::count`):
    /// how many lanes are inside a span or hold an object named `name`, or
    /// whose name is `name`, a space and more (`"task"` counts `task 1`,
    /// `task 2`...), as `(time, +1 | -1)` steps sorted by time.
    pub(crate) fn count_steps(&self, name: &str) -> Vec<(Duration, i32)> {
        let matches =
            |o: &str| o == name || (o.starts_with(name) && o[name.len()..].starts_with(' '));
        let mut steps = self.steps(State::Held, matches);
        steps.extend(self.steps(State::Span, matches));
        steps.sort();
        steps
    }

    /// Who holds `object` at the end of the trace, other than lane `except`.
    pub(crate) fn holders_at_end(&self, object: usize, except: usize) -> Vec<&str> {
        self.lanes
            .iter()
            .enumerate()
            .filter(|&(i, l)| {
                i != except
                    && l.intervals
                        .iter()
                        .any(|iv| iv.open && iv.state == State::Held && iv.object == object)
            })
            .map(|(_, l)| &*l.name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ms: u64, lane: &str, kind: EventKind, object: &str) -> Event {
        Event::new(Duration::from_millis(ms), lane, kind, object)
    }

    #[test]
    fn reentrant_acquire_is_one_interval_and_unreleased_is_open() {
        use EventKind::*;
        let m = Model::build(&[
            ev(0, "t1", Acquired, "r"),
            ev(1, "t1", Acquired, "r"),
            ev(2, "t1", Released, "r"),
            ev(3, "t1", Released, "r"),
            ev(4, "t1", Acquired, "x"),
            ev(5, "t1", Mark, "done"),
        ]);
        let iv = &m.lanes[0].intervals;
        assert_eq!(iv.len(), 2);
        assert_eq!(
            (iv[0].start, iv[0].end, iv[0].open),
            (Duration::ZERO, Duration::from_millis(3), false)
        );
        assert_eq!(
            (iv[1].start, iv[1].end, iv[1].open),
            (Duration::from_millis(4), Duration::from_millis(5), true)
        );
        assert_eq!(m.lanes[0].marks.len(), 1);
    }

    #[test]
    fn unsorted_input_is_sorted_and_release_without_acquire_starts_at_zero() {
        use EventKind::*;
        let m = Model::build(&[ev(5, "b", Released, "l"), ev(1, "a", Blocked, "l")]);
        assert_eq!(&*m.lanes[0].name, "a");
        assert_eq!(m.lanes[1].intervals[0].start, Duration::ZERO);
        assert_eq!(m.lanes[0].intervals[0].state, State::Waiting);
        assert!(m.lanes[0].intervals[0].open);
        assert_eq!(m.holders_at_end(0, 0), Vec::<&str>::new());
    }
}
