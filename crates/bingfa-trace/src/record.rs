//! The event recorder: a global, append-only log of what every thread did,
//! fed by the primitives when [`crate::flags::TRACE`] is on.
//!
//! # Child processes
//!
//! The log lives in the memory of the process that called [`start`]. A
//! child forked while recording is on inherits the switch and records into a
//! file that [`start`] opened (one line per event, appended with one
//! `write`), without touching any lock its parent may have held at the fork.
//! [`stop`] reads that file back, so the parent's events and its children's
//! come out as one trace, each event with the [`pid`](Event::pid) of the
//! process that recorded it. A child started by re-executing the program
//! (bingfa-process's spawn) joins with [`attach`]. [`name_process`] gives a
//! process the name its lane group is shown under.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::flags;

/// What happened, from the point of view of one lane (thread, process or
/// green thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// Started waiting for `object` (a lock, a permit, an event...).
    Blocked,
    /// Now holds `object`.
    Acquired,
    /// Stopped waiting for `object` without holding it (timeout, event set,
    /// notified, barrier passed).
    Unblocked,
    /// Gave `object` back.
    Released,
    /// A span named `object` begins on this lane ("running", "sleep", ...).
    Begin,
    /// The innermost span named `object` ends on this lane.
    End,
    /// An instant worth showing, `object` is its text.
    Mark,
    /// The process that recorded it is called `object` from now on (its
    /// lane group's title). Drawn as nothing; see [`name_process`].
    ProcessName,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time since [`start`].
    pub t: Duration,
    /// The id of the OS process that recorded it.
    pub pid: u32,
    /// The lane it happened on: a thread's name, or a name given with
    /// [`record_in`].
    pub lane: Arc<str>,
    /// What happened.
    pub kind: EventKind,
    /// The object it happened to (a primitive's name), or a span's label or a
    /// mark's text.
    pub object: Arc<str>,
}

impl Event {
    /// An event of the current process (for traces made by hand: a
    /// scheduler's simulation, a test).
    ///
    /// Python: no standard equivalent.
    pub fn new(t: Duration, lane: &str, kind: EventKind, object: &str) -> Event {
        Event {
            t,
            pid: std::process::id(),
            lane: Arc::from(lane),
            kind,
            object: Arc::from(object),
        }
    }

    /// The same event, recorded by process `pid`.
    ///
    /// Python: no standard equivalent.
    pub fn in_process(mut self, pid: u32) -> Event {
        self.pid = pid;
        self
    }
}

/// Time zero of the current recording, as nanoseconds after [`base`]; read
/// without a lock so that a forked child can record.
static START_NS: AtomicU64 = AtomicU64::new(0);
/// The process that owns the in-memory log (0: none yet). A recording
/// process whose id differs is a child: it writes to the shared file.
static OWNER: AtomicU32 = AtomicU32::new(0);
/// The shared file's descriptor for children, -1 when there is none.
#[cfg(unix)]
static CHILD_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
/// Set by [`attach`]: this process records to the file whatever its id.
static ATTACHED: AtomicBool = AtomicBool::new(false);

/// A fixed instant of this process (inherited by a fork), so that times are
/// kept as plain numbers.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Added to this process's clock by [`attach`]: how far the parent's time
/// zero lies before this process's [`base`].
static SHIFT_NS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Nanoseconds since [`start`]'s time zero (zero before it).
fn now_ns() -> u64 {
    let since_base = base().elapsed().as_nanos() as i64 + SHIFT_NS.load(Ordering::Relaxed);
    (since_base.max(0) as u64).saturating_sub(START_NS.load(Ordering::Relaxed))
}

struct Log {
    events: Vec<Event>,
    /// The file children append to, and where it is.
    shared: Option<(File, PathBuf)>,
}

fn log() -> &'static Mutex<Log> {
    static LOG: OnceLock<Mutex<Log>> = OnceLock::new();
    LOG.get_or_init(|| {
        Mutex::new(Log {
            events: Vec::new(),
            shared: None,
        })
    })
}

fn lock() -> std::sync::MutexGuard<'static, Log> {
    log().lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the shared file of the recording owned by process `pid` lives.
fn shared_path(pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("bingfa-trace-{pid}.events"))
}

/// Clears the log, sets time zero to now and turns [`flags::TRACE`] on.
/// Also opens the file that this process's children record into (if it
/// cannot, children's events are lost; the parent's are kept).
///
/// Python: `sys.settrace(...)` / `viztracer.VizTracer.start`.
#[doc(alias = "settrace")]
pub fn start() {
    {
        let mut l = lock();
        l.events.clear();
        let me = std::process::id();
        OWNER.store(me, Ordering::SeqCst);
        ATTACHED.store(false, Ordering::SeqCst);
        START_NS.store(base().elapsed().as_nanos() as u64, Ordering::SeqCst);
        if let Some((_, old)) = l.shared.take() {
            std::fs::remove_file(old).ok();
        }
        let path = shared_path(me);
        // A file left by a process of the same id that did not stop.
        std::fs::remove_file(&path).ok();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path);
        match file {
            Ok(mut f) => {
                // The header: time zero as wall-clock time, for spawned
                // children, which have another monotonic base.
                let zero = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos();
                let _ = f.write_all(format!("H\t{zero}\n").as_bytes());
                #[cfg(unix)]
                {
                    use std::os::fd::AsRawFd;
                    CHILD_FD.store(f.as_raw_fd(), Ordering::SeqCst);
                }
                l.shared = Some((f, path));
            }
            Err(_) => {
                #[cfg(unix)]
                CHILD_FD.store(-1, Ordering::SeqCst);
            }
        }
    }
    flags::set(flags::TRACE, true);
}

/// Turns [`flags::TRACE`] off and takes every event recorded since [`start`]
/// by this process and by its children, sorted by time (stably: one
/// thread's events keep their order).
///
/// Python: `viztracer.VizTracer.stop`.
pub fn stop() -> Vec<Event> {
    flags::set(flags::TRACE, false);
    let mut l = lock();
    let mut events = std::mem::take(&mut l.events);
    if let Some((file, path)) = l.shared.take() {
        #[cfg(unix)]
        CHILD_FD.store(-1, Ordering::SeqCst);
        events.extend(read_shared(&file));
        std::fs::remove_file(path).ok();
    }
    events.sort_by_key(|e| e.t);
    events
}

/// A copy of the events recorded so far (children's included), recording
/// going on.
///
/// Python: no standard equivalent.
pub fn snapshot() -> Vec<Event> {
    let l = lock();
    let mut events = l.events.clone();
    if let Some((file, _)) = &l.shared {
        events.extend(read_shared(file));
    }
    events.sort_by_key(|e| e.t);
    events
}

/// The current thread's lane name: its name, or `thread-N` from its id.
///
/// Python: `threading.current_thread().name`.
#[doc(alias = "current_thread")]
pub fn current_lane() -> Arc<str> {
    thread_local! {
        static LANE: Arc<str> = {
            let t = std::thread::current();
            match t.name() {
                Some(n) => Arc::from(n),
                None => Arc::from(format!("{:?}", t.id()).replace("ThreadId(", "thread-").replace(')', "")),
            }
        };
    }
    LANE.with(|l| l.clone())
}

/// Records `kind` on `object` for the current thread, if recording is on
/// (one relaxed atomic load when it is off).
///
/// Python: no standard equivalent.
#[inline]
pub fn record(kind: EventKind, object: &str) {
    if flags::is_on(flags::TRACE) {
        record_in(&current_lane(), kind, object);
    }
}

/// This process's id, cached once a fork's child handler is in place to
/// forget it: `std::process::id()` is a system call (glibc stopped caching
/// `getpid`), and a recording makes an event of every lock and unlock.
/// A child made by a raw `fork` system call that skips the C library's
/// fork handlers would keep its parent's id: bingfa-process and the pool
/// fork with `libc::fork`, which runs them.
fn current_pid() -> u32 {
    #[cfg(unix)]
    {
        /// The cached id; 0: ask the kernel.
        static PID: AtomicU32 = AtomicU32::new(0);
        /// 0: no fork handler yet, 1: being registered, 2: registered.
        static HANDLER: AtomicU32 = AtomicU32::new(0);
        extern "C" fn forget_in_child() {
            // Async-signal-safe: one atomic store.
            PID.store(0, Ordering::Relaxed);
        }
        let cached = PID.load(Ordering::Relaxed);
        if cached != 0 {
            return cached;
        }
        if HANDLER
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // SAFETY: registers a handler that only stores to an atomic;
            // it is never unregistered and lives as long as the program.
            let ok = unsafe { libc::pthread_atfork(None, None, Some(forget_in_child)) } == 0;
            HANDLER.store(if ok { 2 } else { 0 }, Ordering::Release);
        }
        let me = std::process::id();
        // Cached only once the handler is in place, so that no child can
        // inherit a cache it will not forget.
        if HANDLER.load(Ordering::Acquire) == 2 {
            PID.store(me, Ordering::Relaxed);
        }
        me
    }
    #[cfg(not(unix))]
    std::process::id()
}

/// Records `kind` on `object` in the lane named `lane` (a green thread, a
/// process...), if recording is on.
///
/// Python: no standard equivalent.
pub fn record_in(lane: &str, kind: EventKind, object: &str) {
    if !flags::is_on(flags::TRACE) {
        return;
    }
    let me = current_pid();
    if me != OWNER.load(Ordering::Relaxed) || ATTACHED.load(Ordering::Relaxed) {
        // A child: no lock (a thread of the parent may have held it at the
        // fork), one append of one line.
        write_shared(me, lane, kind, object);
        return;
    }
    let t = Duration::from_nanos(now_ns());
    let mut l = lock();
    l.events.push(Event {
        t,
        pid: me,
        lane: Arc::from(lane),
        kind,
        object: Arc::from(object),
    });
}

/// Names the current process in the trace: its lane group is titled `name`
/// (Python's `multiprocessing.current_process().name`). Recorded only while
/// recording is on.
///
/// Python: `multiprocessing.current_process().name = name`.
pub fn name_process(name: &str) {
    record_in("", EventKind::ProcessName, name);
}

/// Joins the recording of the process `parent` from a process that was not
/// forked from it (one that re-executed the program, such as
/// bingfa-process's spawn): turns recording on here, writing into the
/// parent's file, on the parent's time axis. Returns whether the parent is
/// recording.
///
/// Python: no standard equivalent.
pub fn attach(parent: u32) -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::IntoRawFd;
        let path = shared_path(parent);
        let Ok(file) = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
        else {
            return false;
        };
        let mut header = String::new();
        if BufReader::new(&file).read_line(&mut header).is_err() {
            return false;
        }
        let Some(zero) = header
            .strip_prefix("H\t")
            .and_then(|z| z.trim().parse::<u128>().ok())
        else {
            return false;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        // The parent's time zero on this process's monotonic base.
        let since_zero = now.saturating_sub(zero) as i64;
        let here = base().elapsed().as_nanos() as i64;
        START_NS.store(0, Ordering::SeqCst);
        SHIFT_NS.store(since_zero - here, Ordering::SeqCst);
        let old = CHILD_FD.swap(file.into_raw_fd(), Ordering::SeqCst);
        if old >= 0 {
            use std::os::fd::FromRawFd;
            // SAFETY: `old` came from `into_raw_fd` of a file this process
            // opened in an earlier `attach`, and nothing else owns it.
            drop(unsafe { File::from_raw_fd(old) });
        }
        ATTACHED.store(true, Ordering::SeqCst);
        flags::set(flags::TRACE, true);
        true
    }
    #[cfg(not(unix))]
    {
        let _ = parent;
        false
    }
}

/// Escapes tabs, newlines and backslashes of a field of the shared file.
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(c) => out.push(c),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

const KINDS: [(EventKind, &str); 8] = [
    (EventKind::Blocked, "blocked"),
    (EventKind::Acquired, "acquired"),
    (EventKind::Unblocked, "unblocked"),
    (EventKind::Released, "released"),
    (EventKind::Begin, "begin"),
    (EventKind::End, "end"),
    (EventKind::Mark, "mark"),
    (EventKind::ProcessName, "process"),
];

/// Appends one event line to the shared file, in one `write`.
fn write_shared(pid: u32, lane: &str, kind: EventKind, object: &str) {
    #[cfg(unix)]
    {
        use std::os::fd::FromRawFd;
        let fd = CHILD_FD.load(Ordering::Relaxed);
        if fd < 0 {
            return;
        }
        let t = now_ns();
        let name = KINDS.iter().find(|k| k.0 == kind).map_or("mark", |k| k.1);
        let mut line = format!("E\t{pid}\t{t}\t{name}\t");
        escape(lane, &mut line);
        line.push('\t');
        escape(object, &mut line);
        line.push('\n');
        // SAFETY: `fd` is the shared file, open for as long as this process
        // records (a forked child inherited it; `attach` opened it); the
        // `ManuallyDrop` never closes it.
        let file = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
        // One write of a short line to a file opened for appending: lines of
        // several processes do not interleave.
        let _ = (&*file).write_all(line.as_bytes());
    }
    #[cfg(not(unix))]
    let _ = (pid, lane, kind, object);
}

/// The events children wrote to the shared file.
fn read_shared(file: &File) -> Vec<Event> {
    use std::io::{Seek, SeekFrom};
    let mut file = file;
    if file.seek(SeekFrom::Start(0)).is_err() {
        return Vec::new();
    }
    let mut events = Vec::new();
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        let f: Vec<&str> = line.split('\t').collect();
        let [tag, pid, t, kind, lane, object] = f[..] else {
            continue; // the header, or a line cut short by a killed child
        };
        let (Ok(pid), Ok(t), Some(kind)) = (
            pid.parse::<u32>(),
            t.parse::<u64>(),
            KINDS.iter().find(|k| k.1 == kind).map(|k| k.0),
        ) else {
            continue;
        };
        if tag != "E" {
            continue;
        }
        events.push(Event {
            t: Duration::from_nanos(t),
            pid,
            lane: Arc::from(unescape(lane)),
            kind,
            object: Arc::from(unescape(object)),
        });
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_survive_escaping() {
        let mut s = String::new();
        escape("a\tb\nc\\d", &mut s);
        assert!(!s.contains('\t') && !s.contains('\n'));
        assert_eq!(unescape(&s), "a\tb\nc\\d");
    }
}
