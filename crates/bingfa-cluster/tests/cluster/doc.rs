//! The crate docs' example (`no_run` there, since it needs Redis), run
//! here against a server this test starts. Keep the two in step.

use bingfa_cluster::{ClusterPool, Registry, Task, Worker};

fn square(x: u64) -> u64 {
    x * x
}

static SQUARE: Task<u64, u64> = Task::new("square", square).with_version("1");

#[test]
fn the_crate_example_runs() {
    let Some(server) = crate::common::redis() else {
        return;
    };
    let url = server.url();
    (|| -> Result<(), bingfa_cluster::Error> {
        // From here to the end: the crate docs' example.
        let mut registry = Registry::new();
        registry.add(&SQUARE);
        let worker = Worker::builder(url)
            .registry(registry)
            .concurrency(2)
            .start()?;

        let pool = ClusterPool::connect(url)?;
        let f = pool.submit(&SQUARE, 7)?;
        assert_eq!(f.result(), Ok(49));
        let squares: Vec<u64> = pool.map(&SQUARE, 1..=4)?.map(Result::unwrap).collect();
        assert_eq!(squares, [1, 4, 9, 16]);
        pool.shutdown(true, false);
        worker.stop();
        worker.join();
        Ok(())
    })()
    .unwrap();
}
