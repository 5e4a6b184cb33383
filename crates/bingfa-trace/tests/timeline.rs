//! The terminal timeline draws hand-made event lists as expected.

use std::time::Duration;

use bingfa_trace::{Colour, Event, EventKind, EventKind::*, Timeline};

fn ev(us: u64, lane: &str, kind: EventKind, object: &str) -> Event {
    Event::new(Duration::from_micros(us), lane, kind, object)
}

/// Two threads take two locks in opposite orders and deadlock.
fn deadlock() -> Vec<Event> {
    vec![
        ev(0, "t1", Blocked, "lock_a"),
        ev(0, "t1", Acquired, "lock_a"),
        ev(1_000, "t2", Blocked, "lock_b"),
        ev(1_000, "t2", Acquired, "lock_b"),
        ev(3_000, "t1", Blocked, "lock_b"),
        ev(4_000, "t2", Blocked, "lock_a"),
        ev(12_000, "main", Mark, "deadlock detected"),
    ]
}

fn plain(events: &[Event], width: usize) -> Timeline {
    Timeline::new(events).width(width).colour(Colour::Never)
}

#[test]
fn deadlock_renders_held_and_waiting_to_the_right_edge() {
    let text = plain(&deadlock(), 24).title("deadlock").render();
    println!("{text}");
    let expected_chart = "\
deadlock
      0          6.0ms    12.0ms
t1   |A███████████████████████>
t1   |      B░░░░░░░░░░░░░░░░░>
t2   |  B█████████████████████>
t2   |        A░░░░░░░░░░░░░░░>
main |                        |
           deadlock detected ^

legend: █ holds   ░ waits for   ^ a moment   > still so at the end
        A lock_a  B lock_b
";
    assert!(text.starts_with(expected_chart), "{text}");
    assert!(text.contains(
        "at the end (t=12.0ms):\n  t1 holds lock_a, waits for lock_b (held by t2)\n  t2 holds lock_b, waits for lock_a (held by t1)\n"
    ), "{text}");
    assert!(!text.contains("events:"), "the event list only on request");
    let listed = plain(&deadlock(), 24).max_events(10).render();
    assert!(
        listed.contains("  t=3.0ms   t1    waits for lock_b\n"),
        "{listed}"
    );
    assert!(
        listed.contains("  t=12.0ms  main  says deadlock detected\n"),
        "{listed}"
    );
}

#[test]
fn display_is_render_and_colour_never_has_no_escapes() {
    let t = plain(&deadlock(), 30);
    assert_eq!(t.to_string(), t.render());
    assert!(!t.render().contains('\x1b'));
    let coloured = Timeline::new(&deadlock()).colour(Colour::Always).render();
    assert!(coloured.contains("\x1b[1;31mA"), "{coloured}");
    assert!(coloured.contains("\x1b[0m"), "{coloured}");
}

#[test]
fn ascii_nested_spans_and_a_release_stay_in_their_columns() {
    let events = [
        ev(0, "g1", Begin, "run"),
        ev(2_000, "g1", Begin, "sleep"),
        ev(4_000, "g1", End, "sleep"),
        ev(6_000, "g1", Acquired, "mutex"),
        ev(8_000, "g1", Released, "mutex"),
        ev(10_000, "g1", End, "run"),
    ];
    let text = plain(&events, 10).ascii(true).render();
    let expected = concat!(
        "    0     10.0ms\n",
        "g1 |r---------|\n",
        "g1 |  s-  M#  |\n",
        "\n",
        "legend: # holds   - inside a span\n",
        "        r run  s sleep  M mutex\n",
    );
    assert_eq!(text, expected);
}

#[test]
fn one_row_per_lane_shows_what_covers_most_of_each_column() {
    let text = plain(&deadlock(), 24).rows_per_lane(1).ascii(true).render();
    assert!(text.contains("t1   |A#####B.................>\n"), "{text}");
    assert!(text.contains("t2   |  B#####A...............>\n"), "{text}");
}

#[test]
fn zero_length_runs_draw_nothing_and_open_no_row() {
    let events = [
        ev(0, "t1", Acquired, "a"),
        ev(5_000, "t1", Blocked, "b"),
        ev(5_000, "t1", Acquired, "b"),
        ev(5_000, "t1", Released, "b"),
        ev(10_000, "t1", Released, "a"),
    ];
    let text = plain(&events, 10).ascii(true).render();
    assert!(text.contains("\nt1 |A#########|\n\n"), "{text:?}");
    assert!(
        !text.contains("B b"),
        "nothing drawn, nothing in the legend: {text}"
    );
    assert!(!text.contains("at the end (t="), "{text}");
}

/// The false long bars: round trips of 10 µs back to back, drawn on
/// a chart whose columns are 100 µs wide. Each column shows a key of its
/// own (a new round trip began there); no column is drawn as the middle of
/// a long one.
#[test]
fn spans_shorter_than_a_column_never_merge_into_a_long_bar() {
    let mut events = Vec::new();
    for k in 0..100u64 {
        events.push(ev(k * 10, "client", Begin, "round trip"));
        events.push(ev(k * 10 + 9, "client", End, "round trip"));
    }
    let text = plain(&events, 10).ascii(true).render();
    assert!(text.contains("client |rrrrrrrrrr|\n"), "{text}");
    assert_eq!(text.matches("client |").count(), 1, "one row: {text}");
    assert!(text.contains("AAA is a new one in each column"), "{text}");

    // One long span next to short ones: the long one is a bar, each short
    // one starts with its key.
    let events = [
        ev(0, "w", Begin, "job"),
        ev(500, "w", End, "job"),
        ev(500, "w", Begin, "job"),
        ev(510, "w", End, "job"),
        ev(600, "w", Begin, "job"),
        ev(610, "w", End, "job"),
        ev(900, "w", Begin, "job"),
        ev(1000, "w", End, "job"),
    ];
    let text = plain(&events, 10).ascii(true).render();
    assert!(text.contains("w |j----jj  j|\n"), "{text}");
}

#[test]
fn holding_then_waiting_for_the_same_object_changes_the_fill_not_the_key() {
    let events = [
        ev(0, "p", Acquired, "CPU"),
        ev(300, "p", Released, "CPU"),
        ev(300, "p", Blocked, "CPU"),
        ev(500, "p", Acquired, "CPU"),
        ev(1000, "p", Released, "CPU"),
    ];
    let text = plain(&events, 10).ascii(true).render();
    assert!(text.contains("p |C##..#####|\n"), "{text}");
}

#[test]
fn the_legend_can_be_left_out() {
    let text = plain(&deadlock(), 24).legend(false).render();
    assert!(!text.contains("legend:"), "{text}");
    assert!(text.contains("at the end (t="), "{text}");
}

#[test]
fn every_row_of_a_lane_is_labelled() {
    let text = plain(&deadlock(), 24).render();
    let rows: Vec<&str> = text.lines().filter(|l| l.contains('|')).collect();
    assert!(
        rows.iter().all(|r| !r.starts_with(' ')),
        "a lane row without a label: {text}"
    );
    assert_eq!(rows.iter().filter(|r| r.starts_with("t1 ")).count(), 2);
}

#[test]
fn keys_are_the_numbers_that_tell_names_apart() {
    let mut events = Vec::new();
    for i in 1..=12u64 {
        let lane = format!("w{}", i % 3);
        events.push(ev(i * 100, &lane, Begin, &format!("task {i}")));
        events.push(ev(i * 100 + 300, &lane, End, &format!("task {i}")));
    }
    let text = plain(&events, 60).ascii(true).render();
    assert!(
        text.contains("1 task 1") && text.contains("10 task 10") && text.contains("12 task 12"),
        "{text}"
    );
    assert!(text.contains("-10---"), "{text}");
    // Names that share nothing keep their initials.
    let text = plain(&deadlock(), 24).render();
    assert!(text.contains("A lock_a  B lock_b"), "{text}");
}

#[test]
fn marks_never_overlap_and_close_ones_share_a_caret() {
    let events = [
        ev(0, "q", Mark, "put 1"),
        ev(1, "q", Mark, "put 2"),
        ev(2, "q", Mark, "put 3"),
        ev(300, "q", Mark, "reads x = 200"),
        ev(320, "q", Mark, "writes x = 100"),
        ev(1000, "q", Mark, "end"),
    ];
    let text = plain(&events, 40).ascii(true).render();
    println!("{text}");
    assert!(text.contains("^put 1, put 2, put 3"), "{text}");
    // Two marks in one column share a caret.
    assert!(text.contains("^reads x = 200, writes x = 100"), "{text}");
    assert!(text.contains("end ^") || text.contains("^end"), "{text}");
    // No text written over another: each appears whole exactly once.
    for t in ["reads x = 200", "writes x = 100", "put 3"] {
        assert_eq!(text.matches(t).count(), 1, "{text}");
    }
}

#[test]
fn counting_rows_count_holders_and_spans() {
    let mut events = Vec::new();
    for i in 0..4u64 {
        let lane = format!("t{i}");
        events.push(ev(i * 100, &lane, Acquired, "sem"));
        events.push(ev(i * 100 + 250, &lane, Released, "sem"));
    }
    events.push(ev(700, "t0", Mark, "done"));
    let text = plain(&events, 14)
        .ascii(true)
        .count("sem", "holding sem")
        .render();
    assert!(
        text.contains("holding sem |11223232211   | at most 3 at once\n"),
        "{text}"
    );
    // Asked for: spans whose names start with "task ".
    let events = [
        ev(0, "w1", Begin, "task 1"),
        ev(0, "w2", Begin, "task 2"),
        ev(50, "w1", End, "task 1"),
        ev(50, "w1", Begin, "task 3"),
        ev(100, "w1", End, "task 3"),
        ev(100, "w2", End, "task 2"),
    ];
    let text = plain(&events, 4).ascii(true).count("task", "busy").render();
    assert!(text.contains("busy |22222222| at most 2 at once"), "{text}");
}

#[test]
fn lanes_are_grouped_by_process() {
    let events = [
        ev(0, "main", Begin, "fork"),
        ev(100, "main", End, "fork"),
        ev(100, "main", ProcessName, "child").in_process(7),
        ev(100, "main", Acquired, "lock").in_process(7),
        ev(300, "main", Released, "lock").in_process(7),
        ev(400, "main", Mark, "joined"),
    ];
    let text = plain(&events, 8).ascii(true).render();
    let me = std::process::id();
    assert!(
        text.contains(&format!("pid {me}\n  main |f-      |\n")),
        "{text}"
    );
    assert!(
        text.contains("child (pid 7)\n  main |  L###  |\n"),
        "{text}"
    );
}

#[test]
fn many_lanes_in_first_appearance_order_with_an_event_limit() {
    let mut events = Vec::new();
    for i in 0..30u64 {
        let lane = format!("worker-{i:02}");
        events.push(ev(i * 100, &lane, Acquired, "sem"));
        events.push(ev(i * 100 + 50, &lane, Released, "sem"));
    }
    let text = plain(&events, 40).max_events(5).render();
    let positions: Vec<usize> = (0..30)
        .map(|i| text.find(&format!("worker-{i:02} |")).expect("lane row"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.contains("  ... and 55 more\n"), "{text}");
    assert_eq!(text.matches(" acquired sem").count(), 3, "{text}");
}

#[test]
fn blocked_forever_waits_to_the_right_edge_and_names_no_holder() {
    let events = [
        ev(0, "car", Blocked, "green light"),
        ev(8_000, "main", Mark, "x"),
    ];
    let text = plain(&events, 8).ascii(true).render();
    assert!(text.contains("car  |G.......>"), "{text}");
    assert!(text.contains("  car waits for green light\n"), "{text}");
}

#[test]
fn no_events_renders_a_note() {
    assert_eq!(
        plain(&[], 20).title("empty").render(),
        "empty\n(no events)\n"
    );
}
