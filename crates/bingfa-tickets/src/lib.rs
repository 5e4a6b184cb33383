//! # bingfa-tickets
//!
//! The course's ticket race (lesson 9), as a library that demos and tests
//! drive: a store of `data.json` holding `{"ticket_num": N}`, `search` and
//! `buy` with a think time between reading and writing, buyers racing for
//! the tickets, guarded by nothing or by a lock, and a [`Report`] that
//! checks the invariant.
//!
//! The course's Python (seed 003), run by ten processes at once:
//!
//! ```python
//! def search(user):
//!     with open('data.json', 'r', encoding='utf-8') as f:
//!         dic = json.load(f)
//!     print(f'用户{user} 查看余票,还剩{dic.get("ticket_num")}...')
//! def buy(user):
//!     with open('data.json', 'r', encoding='utf-8') as f:
//!         dic = json.load(f)
//!     time.sleep(0.1)
//!     if dic['ticket_num'] > 0:
//!         dic['ticket_num'] -= 1
//!         with open('data.json', 'w', encoding='utf-8') as f:
//!             json.dump(dic, f)
//!         print(f'用户{user} 抢票成功!')
//!     else:
//!         print(f'用户{user} 抢票失败')
//! ```
//!
//! Buyers can be threads ([`Sale::buyers`]), or any mix of processes x
//! threads x green threads ([`Sale::mix`]); the [`Guard`] goes from nothing
//! to a lock at every level they share (a green lock per hub, a thread lock
//! per process, and a robust process lock or a file lock across processes).
//! [`Sale::kill_random`] kills buyer processes in the middle of the sale,
//! and [`Sale::watch_store`] reads the store all along to prove it is never
//! seen half-written.
//!
//! Without a lock every buyer reads "1 left" during the others' 0.1 s of
//! thinking, and all of them are told they got the last ticket:
//!
//! ```
//! use bingfa_tickets::{Guard, Sale};
//! use std::time::Duration;
//!
//! let dir = std::env::temp_dir().join(format!("tickets-lib-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let sale = Sale::new(dir.join("data.json")).tickets(1).buyers(5).think(Duration::from_millis(50));
//!
//! let racy = sale.clone().guard(Guard::Unguarded).run().unwrap();
//! assert!(racy.oversold() > 0, "{racy}");
//! assert!(racy.check().is_err());
//!
//! // The course's way: ten processes and a process lock.
//! let locked = sale.mix(10, 0, 0).guard(Guard::ProcessLock).run().unwrap();
//! assert_eq!(locked.sold(), 1);
//! assert!(locked.check().is_ok(), "{locked}");
//! # std::fs::remove_dir_all(&dir).ok();
//! ```
//!
//! The store writes through a temporary file and a rename, so a reader
//! never sees half a file; what it reads is parsed strictly
//! ([`FileStore::parse`]), and anything but `{"ticket_num": N}` is an
//! [`Error::Corrupt`].
//!
//! Loom: `MemoryStore` runs the same `buy` under loom (`cargo xtask loom`):
//! one model finds the interleaving that oversells when unguarded, another
//! shows that none exists under `bingfa_sync::Mutex`.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(all(bingfa_loom, not(feature = "loom")))]
compile_error!("`--cfg bingfa_loom` is the model-checking build and needs the internal `loom` feature too: run `cargo xtask loom`");
mod report;
mod sale;
mod store;

#[cfg(all(test, bingfa_loom))]
mod loom_tests;

pub use report::{Outcome, Report};
pub use sale::{buy, buy_with_file_lock, lock_path, search, Guard, Mix, Sale};
pub use store::{FileStore, MemoryStore, TicketStore};

/// The atomics of the in-memory store: loom's under `--cfg bingfa_loom`.
mod facade {
    pub(crate) use bingfa_sync::raw::atomic::{AtomicU32, Ordering};
}

use std::path::Path;

/// What went wrong in a sale.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store or a lock file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The store does not hold `{"ticket_num": N}`.
    #[error("the ticket store is corrupt: {0}")]
    Corrupt(String),
    /// More buyers were told "yes" than tickets left the store.
    #[error(
        "OVERSOLD: {sold} buyers were told they got a ticket, but only {taken} ticket(s) left \
         the store (it started with {start}): {} buyer(s) hold a ticket that does not exist",
        sold - taken
    )]
    Oversold {
        /// Buyers told "yes".
        sold: u32,
        /// Tickets that really left the store.
        taken: u32,
        /// Tickets at the start.
        start: u32,
    },
    /// The store's count does not add up otherwise.
    #[error("the sale broke its invariant: {0}")]
    Invariant(String),
    /// A shared-memory lock or queue, or a buyer process, failed.
    #[error("inter-process machinery failed: {0}")]
    Ipc(String),
}

impl Error {
    fn ipc(e: impl std::fmt::Display) -> Error {
        Error::Ipc(e.to_string())
    }

    fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
