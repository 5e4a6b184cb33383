//! Helpers shared by the test files.

/// Runs the body once per queue type (and, for `Queue`, once for the ring
/// and once for the unbounded store), with `$make(cap)` bound to a
/// constructor of that type.
#[macro_export]
macro_rules! for_each_queue {
    (|$make:ident| $body:block) => {{
        {
            #[allow(unused)]
            fn $make<T: Ord + Send + 'static>(cap: usize) -> bingfa_queue::Queue<T> {
                bingfa_queue::Queue::new(cap)
            }
            $body
        }
        {
            #[allow(unused)]
            fn $make<T: Ord + Send + 'static>(cap: usize) -> bingfa_queue::LifoQueue<T> {
                bingfa_queue::LifoQueue::new(cap)
            }
            $body
        }
        {
            #[allow(unused)]
            fn $make<T: Ord + Send + 'static>(cap: usize) -> bingfa_queue::PriorityQueue<T> {
                bingfa_queue::PriorityQueue::new(cap)
            }
            $body
        }
    }};
}

/// Spins (with short sleeps) until `cond` holds, failing the test after
/// ten seconds (ten minutes of Miri's clock, which runs fast). Used to know that another thread has reached a blocking
/// call, never as the evidence of a result.
#[allow(dead_code)] // not every test file uses it
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        let limit = if cfg!(miri) { 600 } else { 10 };
        assert!(
            start.elapsed() < std::time::Duration::from_secs(limit),
            "timed out waiting for: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
