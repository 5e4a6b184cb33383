//! A sale: buyers racing for the tickets of a store, and its report.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bingfa_sync::Mutex;
use bingfa_trace::{record, EventKind};

use crate::store::{FileStore, TicketStore};
use crate::Error;

/// What guards `buy`'s read-think-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Guard {
    /// Nothing: the race of the lesson. Buyers oversell.
    Unguarded,
    /// A `bingfa_sync::Mutex` shared by the buyer threads of one process
    /// (Python: `threading.Lock`). Does not guard other processes.
    ThreadLock,
    /// An exclusive lock on a file next to the store (`data.json.lock`,
    /// `flock`): guards threads and processes alike, and the kernel releases
    /// it when its holder dies. Python: `multiprocessing.Lock` in the
    /// course's lesson.
    FileLock,
}

impl Guard {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Guard::Unguarded => "no lock",
            Guard::ThreadLock => "a thread lock",
            Guard::FileLock => "a file lock",
        }
    }
}

/// What one buyer got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The buyer was told it got a ticket (Python: `抢票成功`).
    Bought,
    /// The buyer saw no ticket left (Python: `抢票失败`).
    SoldOut,
    /// The buyer failed: an error, or its process died. Counted as not sold.
    Failed(String),
}

/// What a sale did. [`Report::check`] tells whether it kept the invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// How the buyers were guarded.
    pub guard: Guard,
    /// Tickets in the store at the start.
    pub start: u32,
    /// Tickets left in the store at the end.
    pub remaining: u32,
    /// Each buyer's name and outcome, in buyer order.
    pub outcomes: Vec<(String, Outcome)>,
}

impl Report {
    /// How many buyers there were.
    pub fn buyers(&self) -> usize {
        self.outcomes.len()
    }

    /// How many buyers were told they got a ticket.
    pub fn sold(&self) -> u32 {
        let n = self
            .outcomes
            .iter()
            .filter(|(_, o)| *o == Outcome::Bought)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// How many tickets really left the store: `start - remaining`.
    pub fn taken(&self) -> u32 {
        self.start.saturating_sub(self.remaining)
    }

    /// Buyers told "yes" beyond the tickets that left the store: `sold -
    /// taken`. Zero in a correct sale.
    pub fn oversold(&self) -> u32 {
        self.sold().saturating_sub(self.taken())
    }

    /// How many buyers failed (error or death).
    pub fn failed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .count()
    }

    /// Checks the invariant: every "yes" took one ticket out of the store
    /// (`sold == start - remaining`), and the store never went below zero
    /// (`remaining <= start`).
    ///
    /// # Errors
    /// [`Error::Oversold`] when buyers were told "yes" for tickets that were
    /// not there; [`Error::Invariant`] when the store lost tickets nobody was
    /// told they bought (a buyer that died between its write and its report
    /// can do that) or gained some.
    pub fn check(&self) -> Result<(), Error> {
        if self.remaining > self.start {
            return Err(Error::Invariant(format!(
                "the store holds {} tickets, more than the {} it started with",
                self.remaining, self.start
            )));
        }
        if self.oversold() > 0 {
            return Err(Error::Oversold {
                sold: self.sold(),
                taken: self.taken(),
                start: self.start,
            });
        }
        if self.sold() < self.taken() && self.failed() == 0 {
            return Err(Error::Invariant(format!(
                "{} tickets left the store but only {} buyers were told they got one",
                self.taken(),
                self.sold()
            )));
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} buyers, {} ticket(s) at the start, guarded by {}: {} told \"yes\", {} left the store, {} left",
            self.buyers(),
            self.start,
            self.guard.name(),
            self.sold(),
            self.taken(),
            self.remaining
        )?;
        if self.failed() > 0 {
            write!(f, ", {} buyer(s) failed", self.failed())?;
        }
        match self.check() {
            Ok(()) => write!(f, ". Correct: every \"yes\" is a real ticket."),
            Err(e) => write!(f, ".\n{e}"),
        }
    }
}

/// Python: `search(user)`: reads the store and reports what is left.
///
/// # Errors
/// The store's errors.
pub fn search(store: &impl TicketStore, user: &str) -> Result<u32, Error> {
    let n = store.read()?;
    record(EventKind::Mark, &format!("{user} sees {n} left"));
    Ok(n)
}

/// Python: `buy(user)`: reads the store, thinks for `think` (the course's
/// `time.sleep(0.1)`, the gap where the race happens), and if a ticket was
/// left, writes one less.
///
/// # Errors
/// The store's errors.
pub fn buy(store: &impl TicketStore, user: &str, think: Duration) -> Result<Outcome, Error> {
    record(EventKind::Begin, "buy");
    let n = store.read()?;
    if !think.is_zero() {
        thread::sleep(think);
    }
    let outcome = if n > 0 {
        store.write(n - 1)?;
        record(
            EventKind::Mark,
            &format!("{user} bought ({} -> {})", n, n - 1),
        );
        Outcome::Bought
    } else {
        record(EventKind::Mark, &format!("{user}: sold out"));
        Outcome::SoldOut
    };
    record(EventKind::End, "buy");
    Ok(outcome)
}

/// The lock file next to a store: `data.json` -> `data.json.lock`.
pub fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Runs `buy` under an exclusive `flock` of `lock_file`.
///
/// # Errors
/// [`Error::Io`] when the lock file cannot be opened or locked; the store's
/// errors.
pub fn buy_with_file_lock(
    store: &impl TicketStore,
    lock_file: &Path,
    user: &str,
    think: Duration,
) -> Result<Outcome, Error> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_file)
        .map_err(|e| Error::io(lock_file, e))?;
    record(EventKind::Blocked, "file lock");
    f.lock().map_err(|e| Error::io(lock_file, e))?;
    record(EventKind::Acquired, "file lock");
    let outcome = buy(store, user, think);
    // Closing the file releases the lock; say so in the trace first.
    record(EventKind::Released, "file lock");
    drop(f);
    outcome
}

/// A sale on a `data.json`: how many tickets, buyers, think time and guard.
///
/// ```
/// use bingfa_tickets::{Guard, Sale};
/// use std::time::Duration;
///
/// let dir = std::env::temp_dir().join(format!("tickets-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let report = Sale::new(dir.join("data.json"))
///     .tickets(1)
///     .buyers(10)
///     .think(Duration::from_millis(20))
///     .guard(Guard::ThreadLock)
///     .run_threads()
///     .unwrap();
/// assert_eq!(report.sold(), 1);
/// report.check().unwrap();
/// # std::fs::remove_dir_all(&dir).ok();
/// ```
#[derive(Debug, Clone)]
pub struct Sale {
    path: PathBuf,
    tickets: u32,
    buyers: usize,
    think: Duration,
    guard: Guard,
}

impl Sale {
    /// A sale on the store at `path` (created when the sale runs): by
    /// default 1 ticket, 10 buyers, 100 ms of thinking, unguarded.
    pub fn new(path: impl Into<PathBuf>) -> Sale {
        Sale {
            path: path.into(),
            tickets: 1,
            buyers: 10,
            think: Duration::from_millis(100),
            guard: Guard::Unguarded,
        }
    }

    /// Tickets at the start.
    pub fn tickets(mut self, n: u32) -> Sale {
        self.tickets = n;
        self
    }

    /// Number of buyers.
    pub fn buyers(mut self, n: usize) -> Sale {
        self.buyers = n;
        self
    }

    /// Time between reading and writing the store.
    pub fn think(mut self, d: Duration) -> Sale {
        self.think = d;
        self
    }

    /// The guard around `buy`.
    pub fn guard(mut self, g: Guard) -> Sale {
        self.guard = g;
        self
    }

    /// The store's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the sale with one OS thread per buyer (`用户0`, `用户1`, ...
    /// in the course; here `buyer-0`, ...): each runs `search` then `buy`,
    /// under the guard. Returns the report; call [`Report::check`] on it.
    ///
    /// # Errors
    /// [`Error::Io`] when the store cannot be created or read at the end.
    /// A buyer's own error is its [`Outcome::Failed`], not an error here.
    pub fn run_threads(&self) -> Result<Report, Error> {
        let store = Arc::new(FileStore::create(&self.path, self.tickets)?);
        let lock = Arc::new(Mutex::named("ticket lock", ()));
        let lock_file = lock_path(&self.path);
        let handles: Vec<_> = (0..self.buyers)
            .map(|i| {
                let (store, lock, lock_file) = (store.clone(), lock.clone(), lock_file.clone());
                let (guard, think) = (self.guard, self.think);
                let name = format!("buyer-{i}");
                thread::Builder::new()
                    .name(name.clone())
                    .spawn(move || {
                        let result = search(&*store, &name).and_then(|_| match guard {
                            Guard::Unguarded => buy(&*store, &name, think),
                            Guard::ThreadLock => {
                                let _held = lock.lock();
                                buy(&*store, &name, think)
                            }
                            Guard::FileLock => {
                                buy_with_file_lock(&*store, &lock_file, &name, think)
                            }
                        });
                        (
                            name,
                            result.unwrap_or_else(|e| Outcome::Failed(e.to_string())),
                        )
                    })
                    .map_err(|e| Error::io(Path::new("<thread spawn>"), e))
            })
            .collect::<Result<_, _>>()?;
        let outcomes = handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                h.join().unwrap_or_else(|_| {
                    (
                        format!("buyer-{i}"),
                        Outcome::Failed("the buyer thread panicked".into()),
                    )
                })
            })
            .collect();
        Ok(Report {
            guard: self.guard,
            start: self.tickets,
            remaining: store.read()?,
            outcomes,
        })
    }
}
