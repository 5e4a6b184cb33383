//! A sale: buyers racing for the tickets of a store.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bingfa_process::{Process, Queue};
use bingfa_trace::{record, EventKind};

use crate::report::{Outcome, Report};
use crate::store::{FileStore, TicketStore};
use crate::Error;

/// What guards `buy`'s read-think-write, from nothing to every level.
///
/// The guards are layered: each one also takes the ones below it, so that a
/// green thread never blocks its whole hub on a lock that another green
/// thread of the same hub holds (it queues on the hub's green lock first),
/// and threads of one process queue on the process's thread lock before
/// they wait for the process lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Guard {
    /// Nothing: the race of the lesson. Buyers oversell.
    Unguarded,
    /// A green lock per hub (Python: `gevent.lock.Semaphore`): guards the
    /// green threads of one OS thread from each other, nothing more.
    GreenLock,
    /// A `bingfa_sync::Mutex` per process (Python: `threading.Lock`), behind
    /// the green lock: guards the threads of one process, not processes.
    ThreadLock,
    /// A robust `bingfa_process::Lock` in shared memory (Python:
    /// `multiprocessing.Lock`), behind the thread and green locks: guards
    /// everyone. A buyer killed while holding it does not block the others:
    /// the next one is told the owner died and goes on.
    ProcessLock,
    /// An exclusive `flock` of `data.json.lock`, behind the thread and green
    /// locks: guards everyone; the kernel releases it when its holder dies.
    FileLock,
}

impl Guard {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Guard::Unguarded => "no lock",
            Guard::GreenLock => "a green lock",
            Guard::ThreadLock => "a thread lock",
            Guard::ProcessLock => "a process lock",
            Guard::FileLock => "a file lock",
        }
    }

    fn takes_green(self) -> bool {
        !matches!(self, Guard::Unguarded)
    }

    fn takes_thread(self) -> bool {
        matches!(
            self,
            Guard::ThreadLock | Guard::ProcessLock | Guard::FileLock
        )
    }
}

/// How the buyers are spread: `processes` x `threads` x `green` buyers.
/// Zero means "that level is not used": no child processes (the buyers run
/// in this process), no extra threads (one per process), no hub (one buyer
/// per thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mix {
    /// Buyer processes (forked).
    pub processes: usize,
    /// Buyer threads per process.
    pub threads: usize,
    /// Green buyers per thread, on a hub of their own.
    pub green: usize,
}

impl Mix {
    /// How many buyers in all.
    pub fn buyers(&self) -> usize {
        self.processes.max(1) * self.threads.max(1) * self.green.max(1)
    }

    /// The buyers' names, in order: `p{i}-t{j}-g{k}`, dropping unused levels
    /// (`buyer-{j}` for threads alone).
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.buyers());
        for p in 0..self.processes.max(1) {
            out.extend(self.names_in(p));
        }
        out
    }

    fn names_in(&self, p: usize) -> Vec<String> {
        let mut out = Vec::new();
        for t in 0..self.threads.max(1) {
            for g in 0..self.green.max(1) {
                out.push(self.name(p, t, g));
            }
        }
        out
    }

    fn name(&self, p: usize, t: usize, g: usize) -> String {
        let mut parts = Vec::new();
        if self.processes > 0 {
            parts.push(format!("p{p}"));
        }
        if self.threads > 0 || (self.processes == 0 && self.green == 0) {
            parts.push(format!("t{t}"));
        }
        if self.green > 0 {
            parts.push(format!("g{g}"));
        }
        if parts.len() == 1 && parts[0].starts_with('t') {
            return format!("buyer-{t}");
        }
        parts.join("-")
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
/// `time.sleep(0.1)`, the gap where the race happens; a green sleep inside a
/// green thread), and if a ticket was left, writes one less.
///
/// # Errors
/// The store's errors.
pub fn buy(store: &impl TicketStore, user: &str, think: Duration) -> Result<Outcome, Error> {
    record(EventKind::Begin, "buy");
    let n = store.read()?;
    if !think.is_zero() {
        if bingfa_green::in_green_thread() {
            bingfa_green::sleep(think);
        } else {
            thread::sleep(think);
        }
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
    record(EventKind::Released, "file lock");
    drop(f); // closing the file releases the lock
    outcome
}

/// The longest a buyer process waits for its siblings to be forked before
/// it starts buying anyway.
const GATE_TIMEOUT: Duration = Duration::from_secs(60);

/// The locks every buyer may take, made before any buyer process starts.
struct Locks {
    thread: Arc<bingfa_sync::Mutex<()>>,
    process: bingfa_process::Lock,
    file: PathBuf,
}

/// One buyer: `search`, then `buy` under the guard's locks.
fn one_buyer(
    guard: Guard,
    green_lock: Option<&bingfa_green::sync::Lock>,
    locks: &Locks,
    store: &FileStore,
    name: &str,
    think: Duration,
) -> Result<Outcome, Error> {
    search(store, name)?;
    let _green = match green_lock {
        Some(l) if guard.takes_green() => Some(l.lock()),
        _ => None,
    };
    let _thread = guard.takes_thread().then(|| locks.thread.lock());
    match guard {
        Guard::ProcessLock => {
            // The process lock records nothing itself: say when it was waited
            // for and held, for the timeline.
            record(EventKind::Blocked, "process lock");
            let _held = match locks.process.lock() {
                Ok(g) => g,
                // The last holder died: the lock is ours and stays usable.
                Err(e) => e.into_guard().ok_or_else(|| {
                    Error::Invariant(
                        "the process lock failed for a reason other than its owner's death".into(),
                    )
                })?,
            };
            record(EventKind::Acquired, "process lock");
            let outcome = buy(store, name, think);
            record(EventKind::Released, "process lock");
            outcome
        }
        Guard::FileLock => buy_with_file_lock(store, &locks.file, name, think),
        _ => buy(store, name, think),
    }
}

/// Runs process `p`'s share of the buyers, putting each outcome on `results`.
fn run_process(sale: &Sale, p: usize, locks: &Arc<Locks>, results: &Queue<(String, Outcome)>) {
    bingfa_trace::name_process(&format!("buyer process {p}"));
    let mix = sale.mix;
    let store = FileStore::open(&sale.path);
    let handles: Vec<_> = (0..mix.threads.max(1))
        .map(|t| {
            let (locks, results, store) = (locks.clone(), results.clone(), store.clone());
            let names: Vec<String> = (0..mix.green.max(1)).map(|g| mix.name(p, t, g)).collect();
            let (guard, think, green) = (sale.guard, sale.think, mix.green);
            thread::Builder::new()
                .name(names[0].clone())
                .spawn(move || {
                    let report = move |name: String, r: Result<Outcome, Error>| {
                        let outcome = r.unwrap_or_else(|e| Outcome::Failed(e.to_string()));
                        let _ = results.put((name, outcome));
                    };
                    if green == 0 {
                        let name = names[0].clone();
                        let r = one_buyer(guard, None, &locks, &store, &name, think);
                        report(name, r);
                        return;
                    }
                    let run = bingfa_green::run(move || {
                        let lock = std::rc::Rc::new(bingfa_green::sync::Lock::new(()));
                        let buyers: Vec<_> = names
                            .into_iter()
                            .map(|name| {
                                let (lock, locks, store) =
                                    (lock.clone(), locks.clone(), store.clone());
                                let report = report.clone();
                                bingfa_green::Builder::new()
                                    .name(name.clone())
                                    .spawn(move || {
                                        let r = one_buyer(
                                            guard,
                                            Some(&lock),
                                            &locks,
                                            &store,
                                            &name,
                                            think,
                                        );
                                        report(name, r);
                                    })
                                    .expect("room for a green buyer")
                            })
                            .collect();
                        bingfa_green::joinall(&buyers);
                    });
                    if let Err(e) = run {
                        eprintln!("bingfa-tickets: a buyer hub failed: {e}");
                    }
                })
                .expect("spawn a buyer thread")
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

/// A small xorshift generator for the random kills (no dependency needed).
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A sale on a `data.json`: how many tickets, which buyers, think time and
/// guard.
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
///     .run()
///     .unwrap();
/// assert_eq!(report.sold(), 1);
/// report.check().unwrap();
/// # std::fs::remove_dir_all(&dir).ok();
/// ```
#[derive(Debug, Clone)]
pub struct Sale {
    path: PathBuf,
    tickets: u32,
    mix: Mix,
    think: Duration,
    guard: Guard,
    kill: usize,
    watch: bool,
}

impl Sale {
    /// A sale on the store at `path` (created when the sale runs): by
    /// default 1 ticket, 10 buyer threads, 100 ms of thinking, unguarded.
    pub fn new(path: impl Into<PathBuf>) -> Sale {
        Sale {
            path: path.into(),
            tickets: 1,
            mix: Mix {
                processes: 0,
                threads: 10,
                green: 0,
            },
            think: Duration::from_millis(100),
            guard: Guard::Unguarded,
            kill: 0,
            watch: false,
        }
    }

    /// Tickets at the start.
    pub fn tickets(mut self, n: u32) -> Sale {
        self.tickets = n;
        self
    }

    /// `n` buyer threads in this process.
    pub fn buyers(mut self, n: usize) -> Sale {
        self.mix = Mix {
            processes: 0,
            threads: n,
            green: 0,
        };
        self
    }

    /// Buyers as `processes` x `threads` x `green` (see [`Mix`]). The course
    /// uses ten processes: `mix(10, 0, 0)`.
    pub fn mix(mut self, processes: usize, threads: usize, green: usize) -> Sale {
        self.mix = Mix {
            processes,
            threads,
            green,
        };
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

    /// Kills `n` buyer processes (SIGKILL) at random moments of the sale,
    /// to show that nothing breaks: the store stays whole, the lock stays
    /// usable, and no buyer is told "yes" for a ticket that is not there.
    /// Needs buyer processes.
    pub fn kill_random(mut self, n: usize) -> Sale {
        self.kill = n;
        self
    }

    /// Reads the store over and over from a watcher thread during the sale,
    /// counting corrupt reads (there must be none).
    pub fn watch_store(mut self, on: bool) -> Sale {
        self.watch = on;
        self
    }

    /// The store's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the sale: creates the store, starts the buyers (each runs
    /// `search` then `buy` under the guard), waits for them all and returns
    /// the report; call [`Report::check`] on it.
    ///
    /// # Threads
    /// Buyer processes are forked (`bingfa_process::Builder::fork`) before
    /// this call starts threads of its own. A buyer records events and may
    /// print, so call `run` when no other thread of your program may hold
    /// the recorder's lock or stdout's at that moment (a single-threaded
    /// program, or a test whose other threads do not record): otherwise a
    /// buyer may hang on that lock, and the sale with it.
    ///
    /// # Errors
    /// [`Error::Io`] when the store cannot be created or read at the end;
    /// [`Error::Ipc`] when the shared-memory lock or result queue cannot be
    /// made or a buyer process cannot be started. A buyer's own error, or
    /// its death, is its [`Outcome::Failed`], not an error here.
    pub fn run(&self) -> Result<Report, Error> {
        let store = FileStore::create(&self.path, self.tickets)?;
        let locks = Arc::new(Locks {
            thread: Arc::new(bingfa_sync::Mutex::named("ticket lock", ())),
            process: bingfa_process::Lock::new().map_err(Error::ipc)?,
            file: lock_path(&self.path),
        });
        let names = self.mix.names();
        let results: Queue<(String, Outcome)> =
            Queue::new(names.len().max(1)).map_err(Error::ipc)?;
        // Every buyer process waits here until all of them exist, so that
        // they start buying together however slowly the machine forks (a
        // race the lesson shows must not depend on fork speed).
        let gate = Arc::new(bingfa_process::Event::new().map_err(Error::ipc)?);

        // Buyer processes first, before this process starts threads of its own.
        let mut children = Vec::new();
        if self.mix.processes > 0 {
            for p in 0..self.mix.processes {
                let (sale, locks, results, child_gate) =
                    (self.clone(), locks.clone(), results.clone(), gate.clone());
                let builder = Process::builder().name(format!("p{p}"));
                let body = move || {
                    // Bounded: a parent that died before opening the gate
                    // must not leave its buyers waiting forever.
                    child_gate.wait_timeout(GATE_TIMEOUT);
                    run_process(&sale, p, &locks, &results)
                };
                // SAFETY: the buyers are forked before this call starts any
                // thread, and the locks a buyer takes are made by this call
                // (the thread Mutex, not yet shared with any thread), live in
                // shared memory (the process Lock, the result Queue) or in
                // the kernel (file locks); it allocates with glibc's malloc,
                // which glibc's fork keeps usable. What the caller's own
                // threads may hold (the recorder's lock, stdout's) is the
                // condition stated under "Threads" on this method.
                let forked = unsafe { builder.fork(body) };
                let child = match forked {
                    Ok(child) => child,
                    Err(e) => {
                        // The buyers already forked start now instead of
                        // waiting out the gate's time limit.
                        gate.set();
                        return Err(Error::ipc(e));
                    }
                };
                children.push((p, child));
            }
        }
        let done = Arc::new(AtomicBool::new(false));
        let reads = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let watcher = self.watch.then(|| {
            let (done, reads, store) = (done.clone(), reads.clone(), store.clone());
            thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    reads.0.fetch_add(1, Ordering::Relaxed);
                    if store.read().is_err() {
                        reads.1.fetch_add(1, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_micros(200));
                }
            })
        });
        gate.set();
        let mut killed = 0;
        if self.mix.processes == 0 {
            run_process(self, 0, &locks, &results);
        } else if self.kill > 0 {
            let mut seed = (std::process::id() as u64) << 20
                | Instant::now().elapsed().subsec_nanos() as u64
                | 1;
            let per_process = (self.mix.buyers() / self.mix.processes).max(1) as u32;
            let span = (self.think * per_process).max(Duration::from_millis(1));
            let mut victims: Vec<usize> = (0..children.len()).collect();
            for _ in 0..self.kill.min(children.len()) {
                let i = (next_random(&mut seed) as usize) % victims.len();
                let victim = victims.swap_remove(i);
                let delay = span.mul_f64((next_random(&mut seed) % 1000) as f64 / 1000.0);
                thread::sleep(delay / self.kill as u32);
                if children[victim].1.kill().is_ok() {
                    killed += 1;
                }
            }
        }
        let mut deaths = Vec::new();
        for (p, child) in &children {
            match child.join() {
                Ok(status) if status.success() => {}
                Ok(status) => deaths.push((*p, format!("its process ended with {status:?}"))),
                Err(e) => deaths.push((*p, format!("its process could not be joined: {e}"))),
            }
        }
        done.store(true, Ordering::Relaxed);
        if let Some(w) = watcher {
            let _ = w.join();
        }
        let mut got = std::collections::HashMap::new();
        while let Ok((name, outcome)) = results.try_get() {
            got.insert(name, outcome);
        }
        let outcomes = names
            .into_iter()
            .map(|name| {
                let outcome = got.remove(&name).unwrap_or_else(|| {
                    let why = deaths
                        .iter()
                        .find(|(p, _)| {
                            name.starts_with(&format!("p{p}-")) || name == format!("p{p}")
                        })
                        .map(|(_, why)| why.clone())
                        .unwrap_or_else(|| "no outcome was reported".into());
                    Outcome::Failed(why)
                });
                (name, outcome)
            })
            .collect();
        self.remove_temp_files();
        let mut report = Report::new(self.guard, self.tickets, store.read()?, outcomes);
        report.killed = killed;
        report.store_reads = (
            reads.0.load(Ordering::Relaxed),
            reads.1.load(Ordering::Relaxed),
        );
        Ok(report)
    }

    /// Removes temporary files that killed writers left next to the store.
    fn remove_temp_files(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = format!(".{}.", name.to_string_lossy());
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&prefix) && n.ends_with(".tmp") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
}
