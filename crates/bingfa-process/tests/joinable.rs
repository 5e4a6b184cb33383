//! JoinableQueue across processes (fork and spawn), and the immediate
//! close of Queue and JoinableQueue.

use std::time::{Duration, Instant};

use bingfa_process::{Error, Event, ExitStatus, JoinableQueue, Process, Queue, Value};

bingfa_process::enable_test_support!();

const LONG: Duration = Duration::from_secs(30);

fn ok(p: &Process) {
    let st = p.join().unwrap();
    assert_eq!(st, ExitStatus::Code(0), "{:?}", p.panic_message());
}

fn worker(args: (JoinableQueue<Option<u32>>, Value<u64>)) {
    let (q, sum) = args;
    while let Some(n) = q.get().unwrap() {
        std::thread::sleep(Duration::from_millis(1));
        *sum.lock().unwrap() += u64::from(n);
        q.task_done().unwrap();
    }
    q.task_done().unwrap();
}

#[test]
fn join_waits_for_every_task_of_forked_and_spawned_workers() {
    let q = JoinableQueue::<Option<u32>>::new(4).unwrap();
    let sum = Value::new(0u64).unwrap();
    let mut workers = vec![
        bingfa_process::spawn(worker, (q.clone(), sum.clone())).unwrap(),
        bingfa_process::spawn(worker, (q.clone(), sum.clone())).unwrap(),
    ];
    for _ in 0..2 {
        let (q, sum) = (q.clone(), sum.clone());
        workers.push(bingfa_process::fork(move || worker((q, sum))).unwrap());
    }
    for n in 1..=100 {
        q.put(Some(n)).unwrap();
    }
    q.join();
    // Everything put was processed before join returned.
    assert_eq!(sum.get(), 5050);
    assert_eq!(q.unfinished_tasks(), 0);
    for _ in &workers {
        q.put(None).unwrap();
    }
    q.join_timeout(LONG).unwrap();
    for w in &workers {
        ok(w);
    }
}

#[test]
fn task_done_too_often_is_an_error_that_changes_nothing() {
    let q = JoinableQueue::<u8>::new(2).unwrap();
    assert!(matches!(q.task_done(), Err(Error::Invalid(_))));
    q.put(1).unwrap();
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.unfinished_tasks(), 1);
    q.task_done().unwrap();
    assert!(matches!(q.task_done(), Err(Error::Invalid(_))));
    assert_eq!(q.unfinished_tasks(), 0);
    q.join();
}

#[test]
fn failed_puts_add_no_task() {
    let q = JoinableQueue::<u8>::new(1).unwrap();
    q.put(1).unwrap();
    for _ in 0..10 {
        assert!(q.try_put(2).unwrap_err().is_full());
        assert!(q
            .put_timeout(3, Duration::from_millis(2))
            .unwrap_err()
            .is_timeout());
        assert_eq!(q.unfinished_tasks(), 1);
    }
    assert_eq!(q.get().unwrap(), 1);
    q.task_done().unwrap();
    q.join_timeout(Duration::ZERO).unwrap();
    let q = JoinableQueue::<Vec<u8>>::with_max_message(1, 8).unwrap();
    assert!(matches!(
        q.try_put(vec![0; 100]).unwrap_err().error,
        Error::TooLarge { .. }
    ));
    assert_eq!(q.unfinished_tasks(), 0);
    q.close();
    assert!(q.try_put(vec![1]).unwrap_err().is_closed());
    assert_eq!(q.unfinished_tasks(), 0);
    q.join_timeout(Duration::ZERO).unwrap();
}

#[test]
fn join_timeout_and_a_joiner_in_another_process() {
    let q = JoinableQueue::<u32>::new(4).unwrap();
    q.put(7).unwrap();
    assert!(matches!(
        q.join_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    let joined = Event::new().unwrap();
    let joiner = bingfa_process::fork(|| {
        q.join_timeout(LONG).unwrap();
        joined.set();
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert!(!joined.is_set());
    assert_eq!(q.get().unwrap(), 7);
    assert!(!joined.wait_timeout(Duration::from_millis(20)));
    q.task_done().unwrap();
    assert!(joined.wait_timeout(LONG));
    ok(&joiner);
}

#[test]
fn close_immediate_drops_items_and_counts_them_done() {
    let q = Queue::<u32>::new(8).unwrap();
    for i in 0..5 {
        q.put(i).unwrap();
    }
    assert_eq!(q.close_immediate(), 5);
    assert!(q.is_closed());
    assert_eq!(q.len(), 0);
    assert!(matches!(q.try_get(), Err(Error::Closed)));
    assert!(matches!(q.get_timeout(LONG), Err(Error::Closed)));
    assert!(q.try_put(9).unwrap_err().is_closed());
    assert_eq!(q.close_immediate(), 0);

    let j = JoinableQueue::<String>::new(4).unwrap();
    j.put("taken".into()).unwrap();
    j.put("left".into()).unwrap();
    j.put("left".into()).unwrap();
    let joiner = bingfa_process::fork(|| j.join_timeout(LONG).unwrap()).unwrap();
    assert_eq!(j.get().unwrap(), "taken");
    let t = Instant::now();
    assert_eq!(j.close_immediate(), 2);
    // The one taken is still unfinished: the joiner waits for it.
    assert_eq!(j.unfinished_tasks(), 1);
    assert!(joiner
        .join_timeout(Duration::from_millis(50))
        .unwrap()
        .is_none());
    j.task_done().unwrap();
    ok(&joiner);
    assert!(matches!(j.task_done(), Err(Error::Invalid(_))));
    assert!(t.elapsed() < LONG);
}

#[test]
fn close_immediate_wakes_a_blocked_getter_in_another_process() {
    let q = Queue::<u32>::new(2).unwrap();
    let started = Event::new().unwrap();
    let getter = bingfa_process::fork(|| {
        started.set();
        assert!(matches!(q.get_timeout(LONG), Err(Error::Closed)));
    })
    .unwrap();
    assert!(started.wait_timeout(LONG));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(q.close_immediate(), 0);
    ok(&getter);
}
