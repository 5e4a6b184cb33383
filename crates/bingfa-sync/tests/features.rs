//! What the `detect` and `trace` features cost in memory: with both
//! compiled out a `Mutex<()>` is as small as parking_lot's; with either
//! compiled in, each primitive carries its kind, name and id (the sizes the
//! crate docs state, on 64-bit targets).

#![cfg(not(bingfa_loom))]

use std::mem::size_of;

#[cfg(not(any(feature = "detect", feature = "trace")))]
#[test]
fn mutex_is_as_small_as_parking_lots_without_detection() {
    assert_eq!(
        size_of::<bingfa_sync::Mutex<()>>(),
        size_of::<parking_lot::Mutex<()>>()
    );
    assert_eq!(size_of::<bingfa_sync::Mutex<()>>(), 1);
    assert_eq!(
        size_of::<bingfa_sync::Mutex<u64>>(),
        size_of::<parking_lot::Mutex<u64>>()
    );
}

#[cfg(all(
    any(feature = "detect", feature = "trace"),
    target_pointer_width = "64"
))]
#[test]
fn detection_costs_what_the_docs_say() {
    // The raw lock (1 byte, padded to 8) and the identity: the name
    // (`Option<Cow<str>>`, 24 bytes), the id (8) and the kind (1, padded
    // to 8).
    assert_eq!(size_of::<bingfa_sync::Mutex<()>>(), 48);
    assert_eq!(size_of::<parking_lot::Mutex<()>>(), 1);
}

#[test]
fn print_sizes() {
    // Shown with `--nocapture`, for the docs.
    println!(
        "Mutex<()> {} Lock {} RLock<()> {} Semaphore {} Event {} Condvar {} Barrier {}",
        size_of::<bingfa_sync::Mutex<()>>(),
        size_of::<bingfa_sync::Lock>(),
        size_of::<bingfa_sync::RLock<()>>(),
        size_of::<bingfa_sync::Semaphore>(),
        size_of::<bingfa_sync::Event>(),
        size_of::<bingfa_sync::Condvar>(),
        size_of::<bingfa_sync::Barrier>(),
    );
}
