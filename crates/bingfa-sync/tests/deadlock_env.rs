//! `BINGFA_DEADLOCK=1` turns detection on at the first call of any function
//! of `bingfa_sync::deadlock` (its own process: this file has one test).
#![cfg(feature = "detect")]

use bingfa_sync::deadlock;

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn the_environment_variable_is_read_by_the_first_deadlock_call() {
    // Edition 2021: `set_var` is safe; this test is alone in its process,
    // so no other thread reads the environment meanwhile.
    std::env::set_var("BINGFA_DEADLOCK", "1");
    assert!(!bingfa_trace::flags::is_on(bingfa_trace::flags::DEADLOCK));
    assert!(deadlock::is_enabled(), "read on the first call");
    deadlock::disable();
    assert!(
        !deadlock::is_enabled(),
        "read once: disable() wins afterwards"
    );
    assert!(
        deadlock::enable_from_env(),
        "enable_from_env reads it again"
    );
    std::env::set_var("BINGFA_DEADLOCK", "0");
    deadlock::disable();
    assert!(!deadlock::enable_from_env(), "0 leaves it off");
}
