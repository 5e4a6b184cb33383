//! Many tasks, each result once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bingfa_cluster::{ClusterPool, Worker};

use crate::common::*;

#[test]
fn ten_thousand_tasks_each_result_once() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let workers: Vec<Worker> = (0..2)
        .map(|i| {
            Worker::builder(url)
                .registry(registry(false))
                .name(format!("w{i}"))
                .concurrency(2)
                .start()
                .unwrap()
        })
        .collect();
    let pool = ClusterPool::connect(url).unwrap();
    const N: u64 = 10_000;
    let calls: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
    let futures: Vec<_> = (0..N)
        .map(|i| {
            let f = pool.submit(&SQUARE, i).unwrap();
            let c = calls.clone();
            f.add_done_callback(move |_| {
                c[i as usize].fetch_add(1, Ordering::SeqCst);
            });
            f
        })
        .collect();
    let deadline = Instant::now() + PATIENCE * 3;
    for (i, f) in futures.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert_eq!(f.result_timeout(left), Ok(i as u64 * i as u64), "task {i}");
    }
    // A waiter may return before the completing thread has run the
    // callbacks: wait for them, then count exactly.
    wait_until("every callback ran", || {
        calls.iter().all(|c| c.load(Ordering::SeqCst) >= 1)
    });
    assert!(calls.iter().all(|c| c.load(Ordering::SeqCst) == 1));
    wait_until("nothing is outstanding", || pool.stats().outstanding == 0);
    let stats = pool.stats();
    assert_eq!(
        (stats.submitted, stats.succeeded, stats.outstanding),
        (N, N, 0)
    );
    let status = pool.status().unwrap();
    assert_eq!(status.done, N, "{status}");
    assert_eq!((status.pending, status.in_flight), (0, 0), "{status}");
    drop(workers);
}
