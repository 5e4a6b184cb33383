//! The load client: many connections on one green hub, each sending a
//! message, waiting for its upper-cased echo, and timing the round trip.

use std::cell::RefCell;
use std::fmt;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bingfa::green::{self, net};
use bingfa::trace::{record_in, EventKind};

/// What one load run measured.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub clients: usize,
    pub round_trips: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Stats {
    pub fn per_second(&self) -> f64 {
        self.round_trips as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} clients: {} round trips in {:.2?} = {:.0}/s, latency p50 {:.1?}, p99 {:.1?}, {} errors",
            self.clients,
            self.round_trips,
            self.elapsed,
            self.per_second(),
            self.p50,
            self.p99,
            self.errors
        )
    }
}

/// One client: connect, then round trips until `deadline`. Latencies go to
/// `lat` (microseconds); returns (round trips, errors).
fn client(
    port: u16,
    i: usize,
    deadline: Instant,
    lat: &RefCell<Vec<u32>>,
    traced: bool,
    rounds: Option<(u64, Duration)>,
) -> (u64, u64) {
    let lane = format!("client-{i}");
    let mut conn = None;
    for _ in 0..50 {
        match net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(_) => green::sleep(Duration::from_millis(20)),
        }
    }
    let Some(mut conn) = conn else { return (0, 1) };
    let _ = conn.set_nodelay(true);
    conn.set_read_timeout(Some(Duration::from_secs(5)));
    let (mut n, mut errors) = (0u64, 0u64);
    let mut reply = [0u8; 64];
    while Instant::now() < deadline && rounds.is_none_or(|(r, _)| n < r) {
        if let Some((_, pause)) = rounds.filter(|_| n > 0) {
            green::sleep(pause);
        }
        let msg = format!("client-{i} say hello {n}");
        let t = Instant::now();
        if traced {
            record_in(&lane, EventKind::Begin, "round trip");
        }
        if conn.write_all(msg.as_bytes()).is_err() {
            errors += 1;
            break;
        }
        let mut got = 0;
        while got < msg.len() {
            match conn.read(&mut reply[got..msg.len()]) {
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
        if traced {
            record_in(&lane, EventKind::End, "round trip");
        }
        if got < msg.len() || reply[..got] != *msg.to_ascii_uppercase().as_bytes() {
            errors += 1;
            break;
        }
        lat.borrow_mut()
            .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        n += 1;
    }
    (n, errors)
}

fn measure(
    port: u16,
    clients: usize,
    duration: Duration,
    traced: bool,
    rounds: Option<(u64, Duration)>,
) -> Stats {
    green::run(move || {
        let lat = Rc::new(RefCell::new(Vec::new()));
        let start = Instant::now();
        let deadline = start + duration;
        let hs: Vec<_> = (0..clients)
            .map(|i| {
                let lat = lat.clone();
                green::spawn(move || client(port, i, deadline, &lat, traced, rounds))
            })
            .collect();
        green::joinall(&hs);
        let elapsed = start.elapsed();
        let (mut round_trips, mut errors) = (0, 0);
        for h in &hs {
            let (n, e) = h.value().unwrap_or((0, 1));
            round_trips += n;
            errors += e;
        }
        let mut lat = lat.borrow_mut();
        lat.sort_unstable();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                .map_or(Duration::ZERO, |&us| Duration::from_micros(us.into()))
        };
        Stats {
            clients,
            round_trips,
            errors,
            elapsed,
            p50: pct(0.50),
            p99: pct(0.99),
        }
    })
    .expect("the load hub ran")
}

/// Drives the server on `port` with `clients` connections for `duration`.
pub fn run(port: u16, clients: usize, duration: Duration) -> Stats {
    measure(port, clients, duration, false, None)
}

/// `clients` connections of `rounds` round trips each, `pause` apart, with
/// every round trip recorded as a span in its client's lane, for the
/// timeline.
pub fn run_traced(port: u16, clients: usize, rounds: u64, pause: Duration) -> Stats {
    measure(
        port,
        clients,
        Duration::from_secs(10),
        true,
        Some((rounds, pause)),
    )
}
