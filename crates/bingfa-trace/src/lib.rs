//! # bingfa-trace
//!
//! The instrumentation switchboard shared by every bingfa crate, an event
//! recorder (which child processes join), a terminal timeline and a Chrome
//! trace writer.
//!
//! Every primitive of bingfa checks [`active`] once per operation: a single
//! relaxed atomic load. When it returns zero (the default) nothing else
//! happens. When a flag is on, the primitive takes its instrumented path:
//! [`flags::TRACE`] feeds this crate's recorder, [`flags::DEADLOCK`] feeds
//! `bingfa_sync::deadlock`.
//!
//! A lesson records what its threads do, then shows it: [`Timeline`] draws
//! who held what and who waited for whom in the terminal, [`chrome::write`]
//! saves the same events for Perfetto (<https://ui.perfetto.dev>), and
//! [`html::Page`] writes them with their narration as one self-contained
//! HTML file, for a classroom without internet.
//!
//! ```
//! use bingfa_trace::{chrome, record, EventKind, Timeline, Colour};
//! use std::thread;
//!
//! bingfa_trace::start();
//! let worker = thread::Builder::new()
//!     .name("worker".into())
//!     .spawn(|| {
//!         record(EventKind::Blocked, "lock_a");
//!         record(EventKind::Acquired, "lock_a");
//!         record(EventKind::Mark, "counting");
//!         record(EventKind::Released, "lock_a");
//!     })
//!     .unwrap();
//! worker.join().unwrap();
//! let events = bingfa_trace::stop();
//! assert_eq!(events.len(), 4);
//!
//! let timeline = Timeline::new(&events)
//!     .title("one worker, one lock")
//!     .width(40)
//!     .colour(Colour::Never)
//!     .max_events(10); // the event list under the chart
//! let text = timeline.render();
//! assert!(text.contains("worker"));
//! assert!(text.contains("acquired lock_a"));
//! print!("{timeline}");
//!
//! let json = chrome::to_json(&events);
//! assert!(json.contains("\"holds lock_a\""));
//! # let path = std::env::temp_dir().join("bingfa-trace-doc.json");
//! chrome::write(&path, &events).unwrap(); // open it in Perfetto
//! # std::fs::remove_file(&path).ok();
//! ```
//!
//! The timeline of a deadlock ends with both threads waiting to the right
//! edge, and says so:
//!
//! ```text
//! t1 |A███████████████████████████████████████>
//! t1 |          B░░░░░░░░░░░░░░░░░░░░░░░░░░░░░>
//! t2 |    B███████████████████████████████████>
//! t2 |              A░░░░░░░░░░░░░░░░░░░░░░░░░>
//!
//! at the end (t=12.0ms):
//!   t1 holds lock_a, waits for lock_b (held by t2)
//!   t2 holds lock_b, waits for lock_a (held by t1)
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod chrome;
pub mod flags;
pub mod html;
mod model;
pub mod record;
mod timeline;

pub use flags::active;
pub use record::{
    attach, current_lane, name_process, record, record_in, snapshot, start, stop, Event, EventKind,
};
pub use timeline::{Colour, Timeline};
