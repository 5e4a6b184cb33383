//! [`Conn`]: one Redis connection that reconnects by itself, with back-off,
//! reporting each outage as [`Event`]s, and reloads the scripts and the
//! consumer group each time (a restarted server has neither in its script
//! cache; the group comes back from the append-only file, or is made anew).

use std::thread;
use std::time::{Duration, Instant};

use redis::{Client, Connection, ErrorKind, RedisError, ServerErrorKind, Value};

use crate::error::Error;
use crate::event::{emit, Event, EventFn};
use crate::scripts;
use crate::wire::GROUP;

/// The first wait after a failure, doubled up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Why a call did not happen.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The caller's `give_up` said stop while Redis was unreachable.
    GaveUp,
    /// The server answered with an error that retrying will not cure.
    Server(String),
}

/// A connection, its settings, and its outage bookkeeping.
pub(crate) struct Conn {
    client: Client,
    shown: String,
    role: String,
    events: Option<EventFn>,
    io_timeout: Duration,
    /// The task stream whose group is made on connect, if any.
    tasks: Option<String>,
    con: Option<Connection>,
    down_since: Option<Instant>,
    tries: u32,
}

/// The URL without its password, for messages.
pub(crate) fn shown_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Whether `e` is cured by reconnecting or waiting (the connection broke,
/// timed out, the server is loading its data or refuses writes for now).
fn transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::BusyLoading)
                | ErrorKind::Server(ServerErrorKind::TryAgain)
                | ErrorKind::Server(ServerErrorKind::MasterDown)
                | ErrorKind::Server(ServerErrorKind::NoScript)
                | ErrorKind::Server(ServerErrorKind::ReadOnly)
        )
}

impl Conn {
    /// Parses `url` and connects once: an unreachable server is an error
    /// here (so that `connect` fails fast); later losses are retried.
    pub(crate) fn open(
        url: &str,
        role: &str,
        events: Option<EventFn>,
        io_timeout: Duration,
        tasks: Option<String>,
    ) -> Result<Conn, Error> {
        let shown = shown_url(url);
        let client = Client::open(url).map_err(|e| Error::InvalidUrl {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        let mut conn = Conn {
            client,
            shown,
            role: role.to_owned(),
            events,
            io_timeout,
            tasks,
            con: None,
            down_since: None,
            tries: 0,
        };
        let con = conn.connect().map_err(|e| Error::Connect {
            url: conn.shown.clone(),
            reason: e.to_string(),
        })?;
        conn.con = Some(con);
        Ok(conn)
    }

    /// A second connection to the same server, for another role.
    pub(crate) fn sibling(&self, role: &str) -> Result<Conn, Error> {
        let mut conn = Conn {
            client: self.client.clone(),
            shown: self.shown.clone(),
            role: role.to_owned(),
            events: self.events.clone(),
            io_timeout: self.io_timeout,
            tasks: self.tasks.clone(),
            con: None,
            down_since: None,
            tries: 0,
        };
        let con = conn.connect().map_err(|e| Error::Connect {
            url: conn.shown.clone(),
            reason: e.to_string(),
        })?;
        conn.con = Some(con);
        Ok(conn)
    }

    fn connect(&self) -> Result<Connection, RedisError> {
        let timeout = self.io_timeout.min(Duration::from_secs(2));
        let mut con = self.client.get_connection_with_timeout(timeout)?;
        con.set_read_timeout(Some(self.io_timeout))?;
        con.set_write_timeout(Some(self.io_timeout))?;
        for s in scripts::all() {
            s.load(&mut con)?;
        }
        if let Some(tasks) = &self.tasks {
            let r: Result<Value, RedisError> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(tasks)
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query(&mut con);
            if let Err(e) = r {
                if e.code() != Some("BUSYGROUP") {
                    return Err(e);
                }
            }
        }
        Ok(con)
    }

    /// Drops the connection: the next call connects anew (and makes the
    /// consumer group again if it vanished).
    pub(crate) fn reset(&mut self) {
        self.con = None;
    }

    /// The URL, without a password.
    pub(crate) fn url(&self) -> &str {
        &self.shown
    }

    /// Runs `f` on the connection. A broken connection (or a server that
    /// is restarting) is replaced, with back-off, and `f` runs again, until
    /// it succeeds or `give_up()` says stop: so `f` must be safe to repeat
    /// (each call here is: an `XADD` repeated is a duplicate task, which
    /// the at-least-once design absorbs; the scripts check before acting).
    pub(crate) fn call<T>(
        &mut self,
        give_up: &dyn Fn() -> bool,
        mut f: impl FnMut(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, CallError> {
        let mut backoff = BACKOFF_MIN;
        loop {
            if self.con.is_none() {
                match self.connect() {
                    Ok(c) => {
                        self.con = Some(c);
                        if let Some(since) = self.down_since.take() {
                            let (role, attempts) = (self.role.clone(), self.tries);
                            emit(&self.events, || Event::Reconnected {
                                role,
                                down_for: since.elapsed(),
                                attempts,
                            });
                        }
                        self.tries = 0;
                    }
                    Err(e) => {
                        self.note_failure(&e, backoff);
                        if give_up() {
                            return Err(CallError::GaveUp);
                        }
                        thread::sleep(backoff);
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                }
            }
            let con = self.con.as_mut().expect("connected above");
            match f(con) {
                Ok(v) => return Ok(v),
                Err(e) if transient(&e) => {
                    self.con = None;
                    self.note_failure(&e, backoff);
                    if give_up() {
                        return Err(CallError::GaveUp);
                    }
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                Err(e) => return Err(CallError::Server(e.to_string())),
            }
        }
    }

    fn note_failure(&mut self, e: &RedisError, retry_in: Duration) {
        self.tries += 1;
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
        }
        // The first failure of an outage, then one report in ten.
        if self.tries == 1 || self.tries.is_multiple_of(10) {
            let (role, error) = (self.role.clone(), e.to_string());
            emit(&self.events, || Event::Disconnected {
                role,
                error,
                retry_in,
            });
        }
    }
}
