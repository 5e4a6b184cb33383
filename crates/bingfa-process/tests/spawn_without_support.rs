//! A test binary that lacks `enable_test_support!()` and spawns: `spawn`
//! says what to add, at once, instead of starting a child that runs the
//! test binary's own tests and never the entry point (which left the
//! parent blocked in a `get` that nothing would ever answer).

use std::time::{Duration, Instant};

use bingfa_process::{Error, Queue};

fn answer(q: Queue<u32>) {
    q.put(42).unwrap();
}

#[test]
fn spawn_without_the_test_support_macro_is_refused_with_what_to_add() {
    let q = Queue::<u32>::new(1).unwrap();
    let t = Instant::now();
    let e = bingfa_process::spawn(answer, q.clone()).unwrap_err();
    assert!(matches!(e, Error::InitMissing), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("bingfa_process::enable_test_support!();"),
        "{text}"
    );
    assert!(text.contains("bingfa_process::init()"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(5), "spawn waited");
    // Nothing was started, so nothing answers.
    assert!(matches!(q.try_get(), Err(Error::Empty)));
}
