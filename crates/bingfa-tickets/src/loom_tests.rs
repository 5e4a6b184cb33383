//! Loom models of the race: threads stand in for buyers, `MemoryStore` for
//! `data.json`, and loom explores every interleaving of `buy`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loom::sync::Arc;
use loom::thread;

use crate::{buy, MemoryStore, Outcome, TicketStore};

/// Two buyers, one ticket. Returns how many were told "yes" and what is left.
fn sale(guarded: bool) -> (u32, u32) {
    let store = Arc::new(MemoryStore::new(1));
    let lock = Arc::new(bingfa_sync::Mutex::new(()));
    let buyers: Vec<_> = (0..2)
        .map(|i| {
            let (store, lock) = (store.clone(), lock.clone());
            thread::spawn(move || {
                let name = format!("buyer-{i}");
                let outcome = if guarded {
                    let _g = lock.lock();
                    buy(&*store, &name, Duration::ZERO)
                } else {
                    buy(&*store, &name, Duration::ZERO)
                };
                outcome.unwrap() == Outcome::Bought
            })
        })
        .collect();
    let sold = buyers.into_iter().map(|b| b.join().unwrap() as u32).sum();
    (sold, store.read().unwrap())
}

#[test]
fn loom_unguarded_sale_can_oversell() {
    static OVERSOLD: AtomicBool = AtomicBool::new(false);
    loom::model(|| {
        let (sold, left) = sale(false);
        if sold > 1 - left {
            OVERSOLD.store(true, Ordering::Relaxed);
        }
    });
    assert!(
        OVERSOLD.load(Ordering::Relaxed),
        "loom found no interleaving that oversells without a lock"
    );
}

#[test]
fn loom_guarded_sale_never_oversells() {
    loom::model(|| {
        let (sold, left) = sale(true);
        assert_eq!(sold, 1, "exactly one buyer gets the ticket");
        assert_eq!(left, 0);
    });
}
