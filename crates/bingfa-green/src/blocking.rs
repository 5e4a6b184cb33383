//! Leaving the green world and coming back: `block_in_thread` runs a
//! blocking call on a thread pool, `block_on` waits for a `Future`, and
//! `sleep_async` is the hub's timer as a future.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::remote::{Msg, Remote};
use crate::sched::{self, Wait, Woke};
use crate::sync::Event;

type Job = Box<dyn FnOnce() + Send>;

/// Most threads the blocking pool starts.
const MAX_THREADS: usize = 64;
/// A pool thread idle this long exits.
const IDLE: Duration = Duration::from_secs(10);

struct Pool {
    state: Mutex<PoolState>,
    cv: Condvar,
}

struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static P: OnceLock<Pool> = OnceLock::new();
    P.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        cv: Condvar::new(),
    })
}

/// Pool threads idle now (waiting for a job): they hold nothing that could
/// wake a green thread until they take a job.
pub(crate) fn idle_threads() -> usize {
    let p = pool();
    p.state.lock().unwrap_or_else(|e| e.into_inner()).idle
}

fn submit(job: Job) {
    let p = pool();
    let mut st = p.state.lock().unwrap_or_else(|e| e.into_inner());
    st.jobs.push_back(job);
    if st.idle == 0 && st.threads < MAX_THREADS {
        st.threads += 1;
        drop(st);
        let spawned = thread::Builder::new()
            .name("bingfa-green-blocking".into())
            .spawn(worker);
        if spawned.is_err() {
            let mut st = p.state.lock().unwrap_or_else(|e| e.into_inner());
            st.threads -= 1;
        }
    } else {
        drop(st);
        p.cv.notify_one();
    }
}

fn worker() {
    let p = pool();
    let mut st = p.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = st.jobs.pop_front() {
            drop(st);
            job();
            st = p.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        st.idle += 1;
        let (g, t) =
            p.cv.wait_timeout(st, IDLE)
                .unwrap_or_else(|e| e.into_inner());
        st = g;
        st.idle -= 1;
        if t.timed_out() && st.jobs.is_empty() {
            st.threads -= 1;
            return;
        }
    }
}

/// Runs the blocking call `f` on a pool thread while the calling green
/// thread waits (switching away): the hub keeps serving the others. Use it
/// for anything that blocks the OS thread (file IO, a blocking library, a
/// long computation). Outside a green thread it simply calls `f`.
///
/// The pool starts threads on demand, up to 64, and lets idle ones go
/// after 10 s.
///
/// Python: `gevent.get_hub().threadpool.apply(f)`.
///
/// # Panics
/// With `f`'s panic, re-raised in the calling green thread.
///
/// ```
/// use std::time::{Duration, Instant};
/// use bingfa_green::{block_in_thread, run, sleep, spawn};
///
/// run(|| {
///     let start = Instant::now();
///     let ticker = spawn(|| { for _ in 0..5 { sleep(Duration::from_millis(10)); } });
///     // A blocking sleep, off the hub: the ticker keeps ticking meanwhile.
///     let v = block_in_thread(|| { std::thread::sleep(Duration::from_millis(50)); 7 });
///     ticker.join().unwrap();
///     assert_eq!(v, 7);
///     assert!(start.elapsed() < Duration::from_millis(500));
/// })
/// .unwrap();
/// ```
pub fn block_in_thread<R, F>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if !crate::hub::in_green_thread() {
        return f();
    }
    type Out<R> = Mutex<Option<thread::Result<R>>>;
    let done = Arc::new((Event::new(), Out::<R>::new(None)));
    let d = done.clone();
    submit(Box::new(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        *d.1.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        d.0.set();
    }));
    done.0.wait();
    let r = done
        .1
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("the job stored its result before setting the event");
    r.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Wakes a green thread parked in `block_on`, from any thread.
struct GreenWaker {
    remote: Arc<Remote>,
    hub: u64,
    key: u64,
}

impl Wake for GreenWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match sched::try_sched() {
            Some(s) if s.id == self.hub => s.unpark(self.key),
            _ => {
                self.remote.push(Msg::Unpark { key: self.key });
            }
        }
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion. In a green thread, only that green thread
/// waits: it is parked while the future is pending and put back on its
/// hub's ready queue when the future's waker is called (from this hub,
/// another green thread or any OS thread). Outside a green thread it parks
/// the OS thread.
///
/// Python: `loop.run_until_complete(coro)`, on the hub.
///
/// ```
/// use std::time::Duration;
/// use bingfa_green::{block_on, run, sleep_async, spawn};
///
/// // The course's asyncio lesson: two hello tasks, one thread.
/// run(|| {
///     let hello = |i| spawn(move || block_on(async move {
///         let before = std::thread::current().id();
///         sleep_async(Duration::from_millis(20)).await;
///         (i, before == std::thread::current().id())
///     }));
///     let (a, b) = (hello(1), hello(2));
///     assert_eq!(a.join().unwrap(), (1, true));
///     assert_eq!(b.join().unwrap(), (2, true));
/// })
/// .unwrap();
/// ```
///
/// # Panics
/// With the future's panic. In a green thread, when the future can never
/// complete because every green thread of the hub waits and nothing can
/// wake one (the future kept no waker, or only this hub could use the one
/// it kept, and no other OS thread is left): the green thread unwinds and
/// its `join` (or `run`, for the main one) gives [`Error::LoopExit`]
/// (Python: `LoopExit`).
///
/// [`Error::LoopExit`]: crate::Error::LoopExit
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    if crate::hub::in_green_thread() {
        let s = sched::sched("block_on");
        let green = Arc::new(GreenWaker {
            remote: s.remote.clone(),
            hub: s.id,
            key: s.current(),
        });
        let waker = Waker::from(green.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return v;
            }
            // Who can wake it: if the future kept no clone of the waker
            // (`green` and `waker` are ours), nothing ever will; if it
            // did, maybe another OS thread. A caller already unwinding
            // cannot take a LoopExit (it could only abort).
            let wait = if std::thread::panicking() {
                Wait::external("block_on")
            } else if Arc::strong_count(&green) > 2 {
                Wait::shared("block_on")
            } else {
                Wait::local("block_on")
            };
            if s.park_permit_on(wait) == Woke::LoopExit {
                s.raise_loop_exit("block_on");
            }
        }
    } else {
        let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return v;
            }
            thread::park();
        }
    }
}

/// A future that is ready `duration` after it is created, driven by the
/// hub's timers (outside a hub, by a helper thread).
///
/// Python: `asyncio.sleep(seconds)`.
pub fn sleep_async(duration: Duration) -> SleepAsync {
    SleepAsync {
        at: Instant::now().checked_add(duration),
        armed: false,
    }
}

/// The future [`sleep_async`] returns.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SleepAsync {
    at: Option<Instant>,
    armed: bool,
}

impl Future for SleepAsync {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = self.at else {
            return Poll::Pending;
        };
        if Instant::now() >= at {
            return Poll::Ready(());
        }
        if !self.armed {
            self.armed = true;
            let waker = cx.waker().clone();
            match sched::try_sched() {
                Some(s) => s.add_waker_timer(at, waker),
                None => {
                    thread::spawn(move || {
                        thread::sleep(at.saturating_duration_since(Instant::now()));
                        waker.wake();
                    });
                }
            }
        } else {
            // Polled again before the timer: re-arm with the current waker
            // (cheap; the old entry only wakes a stale waker).
            let waker = cx.waker().clone();
            if let Some(s) = sched::try_sched() {
                s.add_waker_timer(at, waker);
            }
        }
        Poll::Pending
    }
}
