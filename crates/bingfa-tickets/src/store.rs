//! Where the tickets are: the course's `data.json`, or memory.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// A place that holds the number of tickets left.
///
/// `read` and `write` are separate steps on purpose: `buy` reads, thinks,
/// then writes, and that gap is the race of the lesson.
pub trait TicketStore: Send + Sync {
    /// The number of tickets left. Python: `json.load(f)['ticket_num']`.
    ///
    /// # Errors
    /// [`Error::Io`] when the store cannot be read, [`Error::Corrupt`] when
    /// what it holds is not `{"ticket_num": N}`.
    fn read(&self) -> Result<u32, Error>;

    /// Sets the number of tickets left. Python: `json.dump(dic, f)`.
    ///
    /// # Errors
    /// [`Error::Io`] when the store cannot be written.
    fn write(&self, remaining: u32) -> Result<(), Error>;
}

/// The course's `data.json`: `{"ticket_num": N}`.
///
/// Every write goes to a temporary file in the same directory and is
/// renamed over `data.json`, so a reader (another thread or process) sees
/// the old file or the new one, never half of one, even when the writer is
/// killed in the middle: `rename` replaces the name in one step.
///
/// There is no `fsync`: the lesson is about processes racing, not about
/// surviving a power cut, and an `fsync` per sale can stall for seconds on
/// a busy disk (with ext4's ordered mode it waits for every dirty page of
/// the file system), while the buyers hold the lock.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl FileStore {
    /// Creates (or overwrites) the file at `path` with `tickets` tickets.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn create(path: impl Into<PathBuf>, tickets: u32) -> Result<FileStore, Error> {
        let store = FileStore { path: path.into() };
        store.write(tickets)?;
        Ok(store)
    }

    /// A store on an existing file (checked on the first read, not here).
    pub fn open(path: impl Into<PathBuf>) -> FileStore {
        FileStore { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Parses `{"ticket_num": N}`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for anything else (not JSON, no `ticket_num`, not a
    /// whole number from 0 to `u32::MAX`).
    pub fn parse(text: &str) -> Result<u32, Error> {
        let corrupt = |why: &str| Error::Corrupt(format!("{why}: {text:?}"));
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| corrupt(&format!("not JSON ({e})")))?;
        let n = value
            .get("ticket_num")
            .ok_or_else(|| corrupt("no \"ticket_num\""))?;
        n.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| corrupt("\"ticket_num\" is not a whole number >= 0"))
    }

    /// The text written for `remaining` tickets.
    pub fn render(remaining: u32) -> String {
        serde_json::json!({ "ticket_num": remaining }).to_string()
    }
}

impl TicketStore for FileStore {
    fn read(&self) -> Result<u32, Error> {
        let text = fs::read_to_string(&self.path).map_err(|e| Error::io(&self.path, e))?;
        FileStore::parse(&text)
    }

    fn write(&self, remaining: u32) -> Result<(), Error> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data.json".into());
        let temp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut f = fs::File::create(&temp)?;
            f.write_all(FileStore::render(remaining).as_bytes())?;
            fs::rename(&temp, &self.path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(Error::io(&self.path, e));
        }
        Ok(())
    }
}

/// Tickets in memory: the same read-then-write race, with no file. Loom
/// models run on it.
#[derive(Debug)]
pub struct MemoryStore {
    remaining: crate::facade::AtomicU32,
}

impl MemoryStore {
    /// A store with `tickets` tickets.
    pub fn new(tickets: u32) -> MemoryStore {
        MemoryStore {
            remaining: crate::facade::AtomicU32::new(tickets),
        }
    }
}

impl TicketStore for MemoryStore {
    fn read(&self) -> Result<u32, Error> {
        Ok(self.remaining.load(crate::facade::Ordering::SeqCst))
    }

    fn write(&self, remaining: u32) -> Result<(), Error> {
        self.remaining
            .store(remaining, crate::facade::Ordering::SeqCst);
        Ok(())
    }
}
