//! The terminal timeline draws hand-made event lists as expected.

use std::time::Duration;

use bingfa_trace::{Colour, Event, EventKind, EventKind::*, Timeline};

fn ev(us: u64, lane: &str, kind: EventKind, object: &str) -> Event {
    Event {
        t: Duration::from_micros(us),
        lane: lane.into(),
        kind,
        object: object.into(),
    }
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
     |      B░░░░░░░░░░░░░░░░░>
t2   |  B█████████████████████>
     |        A░░░░░░░░░░░░░░░>
main |                        |
           deadlock detected ^

legend: █ holds   ░ waits for   ─ span   ^ mark   > still so at the end
        A lock_a  B lock_b
";
    assert!(text.starts_with(expected_chart), "{text}");
    assert!(text.contains(
        "at the end (t=12.0ms):\n  t1 holds lock_a, waits for lock_b (held by t2)\n  t2 holds lock_b, waits for lock_a (held by t1)\n"
    ), "{text}");
    assert!(
        text.contains("  t=3.0ms   t1    waits for lock_b\n"),
        "{text}"
    );
    assert!(
        text.contains("  t=12.0ms  main  says deadlock detected\n"),
        "{text}"
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
    let text = plain(&events, 10).ascii(true).max_events(0).render();
    let expected = concat!(
        "    0     10.0ms\n",
        "g1 |r---------|\n",
        "   |  s-  M#  |\n",
        "\n",
        "legend: # holds   . waits for   - span   ^ mark   > still so at the end\n",
        "        r run  s sleep  M mutex\n",
    );
    assert_eq!(text, expected);
}

#[test]
fn one_row_per_lane_shows_waiting_over_holding() {
    let text = plain(&deadlock(), 24).rows_per_lane(1).ascii(true).render();
    assert!(text.contains("t1   |A#####B.................>\n"), "{text}");
    assert!(text.contains("t2   |  B#####A...............>\n"), "{text}");
}

#[test]
fn zero_length_runs_take_one_column_and_no_extra_row() {
    let events = [
        ev(0, "t1", Acquired, "a"),
        ev(5_000, "t1", Blocked, "b"),
        ev(5_000, "t1", Acquired, "b"),
        ev(5_000, "t1", Released, "b"),
        ev(10_000, "t1", Released, "a"),
    ];
    let text = plain(&events, 10).ascii(true).render();
    assert!(text.contains("\nt1 |A####BA###|\n\n"), "{text:?}");
    assert!(!text.contains("at the end (t="), "{text}");
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
    assert!(text.contains("car  |L.......>"), "{text}");
    assert!(text.contains("  car waits for green light\n"), "{text}");
}

#[test]
fn no_events_renders_a_note() {
    assert_eq!(
        plain(&[], 20).title("empty").render(),
        "empty\n(no events)\n"
    );
}
