//! A test crate that lacks `enable_test_support!()`: a pool with the
//! default start method (the fork server) cannot start, and says what to
//! add instead of hanging.

use bingfa_pool::ProcessPool;

#[test]
fn building_a_pool_without_init_says_what_to_add() {
    let e = ProcessPool::builder().max_workers(1).build().unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("bingfa_pool::init()"), "{msg}");
    assert!(msg.contains("enable_test_support!()"), "{msg}");
}
