//! The task cell: one allocation per task holding its closure and its
//! future's state, with its own reference count (the shape of tokio's task
//! cell and async-task's raw task).
//!
//! ```text
//!  #[repr(C)] FutureTask<F, R>
//!  +----------------------------+
//!  | Header  refs, vtable       |  <- JobRef (the queue's reference)
//!  | Inner<R> state, handles,   |  <- Future<R> / TaskRef<R> point at the
//!  |          result slot       |     Prefix<R> = Header + Inner<R>
//!  | f: Option<F>               |  the closure, taken once by the JobRef
//!  +----------------------------+
//! ```
//!
//! `refs` counts the owners of the allocation: the queue's [`JobRef`], a
//! [`Completer`](crate::Completer)'s [`TaskRef`], and the future's handles
//! together (`Inner::handles` counts those; the last handle to go gives
//! up their one reference). Compared with an `Arc<dyn Trait>` per future
//! plus a second `Arc` clone for the queue, a submit makes no atomic
//! read-modify-write on the cell (the count starts at two), a handle is one
//! pointer instead of two, and dropping the last owner usually frees the
//! cell without a read-modify-write either: whoever sees the count at one
//! with an acquire load is the only owner left (as `Arc::is_unique`), since
//! the count never rises after the cell is built.
//!
//! The count uses `bingfa_sync::raw` atomics, so the loom models of the
//! future (which build bare cells through `Future::pending`) check it too.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use bingfa_sync::raw::atomic::{fence, AtomicUsize, Ordering};

use crate::error::{panic_message, Error};
use crate::future::{Future, Inner};
use crate::slab::{self, Page};

/// What an owner needs to know of a cell without its types.
pub(crate) struct VTable {
    /// Runs the task unless its future was cancelled, and completes the
    /// future. Called at most once, by the `JobRef`.
    run: unsafe fn(NonNull<Header>),
    /// Drops the closure unrun and fails the future with the error.
    fail: unsafe fn(NonNull<Header>, Error),
    /// Drops the closure unrun and cancels the future (or fails it with
    /// `Error::Abandoned` if it was already running).
    abandon: unsafe fn(NonNull<Header>),
    /// Drops the cell's contents and frees it. Called once, by the last
    /// owner.
    dealloc: unsafe fn(NonNull<Header>),
}

/// The start of every cell.
#[repr(C)]
pub(crate) struct Header {
    refs: AtomicUsize,
    vtable: &'static VTable,
    /// The slab page holding the cell (`None`: a `Box`, or the global
    /// allocator; see `crate::slab`).
    page: Option<NonNull<Page>>,
}

impl Header {
    fn new(refs: usize, vtable: &'static VTable, page: Option<NonNull<Page>>) -> Self {
        Header {
            refs: AtomicUsize::new(refs),
            vtable,
            page,
        }
    }
}

/// Gives up one reference to the cell at `ptr`, freeing it if it was the
/// last.
///
/// # Safety
/// The caller owns one reference to a live cell and does not use `ptr`
/// afterwards.
unsafe fn release(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the cell alive until here.
    let header = unsafe { ptr.as_ref() };
    let vtable = header.vtable;
    // The count never rises once the cell is built, so reading one means no
    // other owner is left: free without a read-modify-write. The acquire
    // load (or the fence after the decrement) orders every other owner's
    // use of the cell, which ended with its release decrement, before the
    // free.
    if header.refs.load(Ordering::Acquire) != 1 {
        if header.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
    }
    // SAFETY: this was the last reference; nobody else can reach the cell.
    unsafe { (vtable.dealloc)(ptr) }
}

/// The part of a future's cell that does not depend on the closure: what
/// [`Future`] and [`TaskRef`] point at.
#[repr(C)]
pub(crate) struct Prefix<R> {
    header: Header,
    pub(crate) inner: Inner<R>,
}

/// A submitted task: its future's state and its closure.
#[repr(C)]
struct FutureTask<F, R> {
    prefix: Prefix<R>,
    /// Taken exactly once, by the holder of the task's only `JobRef`.
    f: UnsafeCell<Option<F>>,
}

/// A task queued by `ThreadPool::execute`: the closure and no future.
#[repr(C)]
struct ExecTask<F> {
    header: Header,
    /// Taken exactly once, by the holder of the task's only `JobRef`.
    f: UnsafeCell<Option<F>>,
}

/// Moves `cell` to the heap and returns a pointer to its header.
fn into_header<T>(cell: Box<T>) -> NonNull<Header> {
    // Every cell type is `#[repr(C)]` with a `Header` first, so its address
    // is its header's address.
    NonNull::from(Box::leak(cell)).cast()
}

/// Places the cell that `make` builds (given its page) in the slab and
/// returns a pointer to its header.
fn in_slab<T>(make: impl FnOnce(Option<NonNull<Page>>) -> T) -> NonNull<Header> {
    let (mem, page) = slab::alloc_cell(Layout::new::<T>());
    let cell = mem.cast::<T>();
    // SAFETY: fresh memory with `T`'s layout.
    unsafe { cell.as_ptr().write(make(page)) };
    cell.cast()
}

/// Drops the cell at `ptr` in place and gives its memory back to the slab.
///
/// # Safety
/// `ptr` is a `T` made by [`in_slab`], used by nobody else, never again.
unsafe fn free_in_slab<T>(ptr: NonNull<Header>) {
    // SAFETY: the header is live until the drop below.
    let page = unsafe { ptr.as_ref() }.page;
    // SAFETY: the caller's contract; the memory is freed right after.
    unsafe { ptr::drop_in_place(ptr.cast::<T>().as_ptr()) };
    // SAFETY: allocated by `in_slab::<T>` with this page.
    unsafe { slab::free_cell(ptr.cast(), Layout::new::<T>(), page) };
}

impl<F, R> FutureTask<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send + Sync,
{
    const VTABLE: VTable = VTable {
        run: Self::run,
        fail: Self::fail,
        abandon: Self::abandon,
        dealloc: Self::dealloc,
    };

    /// # Safety
    /// `ptr` is a live `FutureTask<F, R>` and the caller holds its `JobRef`.
    unsafe fn parts<'a>(ptr: NonNull<Header>) -> (&'a Inner<R>, Option<F>)
    where
        Self: 'a,
    {
        // SAFETY: the caller's reference keeps the cell alive; `F, R` are
        // the cell's types (the vtable was made for them).
        let task = unsafe { ptr.cast::<Self>().as_ref() };
        // SAFETY: only the `JobRef`'s holder touches `f`, once.
        let f = unsafe { (*task.f.get()).take() };
        (&task.prefix.inner, f)
    }

    unsafe fn run(ptr: NonNull<Header>) {
        // SAFETY: called through the task's `JobRef` (see `VTable::run`).
        let (inner, f) = unsafe { Self::parts(ptr) };
        if !inner.set_running() {
            // Cancelled while queued: the future is settled already.
            drop_quietly(f);
            return;
        }
        let f = f.expect("a task runs once");
        let outcome = catch_unwind(AssertUnwindSafe(f)).map_err(|p| Error::Panicked {
            message: panic_message(&*p),
        });
        inner.finish(outcome);
    }

    unsafe fn fail(ptr: NonNull<Header>, error: Error) {
        // SAFETY: as in `run`.
        let (inner, f) = unsafe { Self::parts(ptr) };
        if inner.set_running() {
            inner.finish(Err(error));
        }
        drop_quietly(f);
    }

    unsafe fn abandon(ptr: NonNull<Header>) {
        // SAFETY: as in `run`.
        let (inner, f) = unsafe { Self::parts(ptr) };
        inner.abandon();
        drop_quietly(f);
    }

    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the last owner calls this once; the cell came from
        // `in_slab` (`JobRef::with_future`).
        unsafe { free_in_slab::<Self>(ptr) };
    }
}

impl<F: FnOnce() + Send> ExecTask<F> {
    const VTABLE: VTable = VTable {
        run: Self::run,
        fail: Self::fail,
        abandon: Self::abandon,
        dealloc: Self::dealloc,
    };

    /// # Safety
    /// `ptr` is a live `ExecTask<F>` and the caller holds its `JobRef`.
    unsafe fn take_f(ptr: NonNull<Header>) -> Option<F> {
        // SAFETY: the caller's reference keeps the cell alive, and only the
        // `JobRef`'s holder touches `f`.
        unsafe { (*ptr.cast::<Self>().as_ref().f.get()).take() }
    }

    unsafe fn run(ptr: NonNull<Header>) {
        // SAFETY: called through the task's `JobRef`.
        if let Some(f) = unsafe { Self::take_f(ptr) } {
            if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
                // Nobody can see this outcome: report it (`tracing`
                // feature), as an uncaught exception in a Python thread is.
                let message = panic_message(&*p);
                report!(
                    error,
                    "a task passed to execute panicked (ignored): {message}"
                );
            }
        }
    }

    unsafe fn fail(ptr: NonNull<Header>, _error: Error) {
        // SAFETY: called through the task's `JobRef`.
        drop(unsafe { Self::take_f(ptr) });
    }

    unsafe fn abandon(ptr: NonNull<Header>) {
        // SAFETY: called through the task's `JobRef`.
        drop(unsafe { Self::take_f(ptr) });
    }

    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the last owner calls this once; the cell came from
        // `in_slab` (`JobRef::without_future`).
        unsafe { free_in_slab::<Self>(ptr) };
    }
}

/// A future with no closure: `Future::pending`, completed through a
/// `Completer`.
impl<R: Send + Sync> Prefix<R> {
    const BARE: VTable = VTable {
        run: Self::no_run,
        fail: Self::bare_fail,
        abandon: Self::bare_abandon,
        dealloc: Self::bare_dealloc,
    };

    /// # Safety
    /// `ptr` is a live bare cell.
    unsafe fn bare_inner<'a>(ptr: NonNull<Header>) -> &'a Inner<R> {
        // SAFETY: the caller's reference keeps it alive.
        unsafe { &ptr.cast::<Self>().as_ref().inner }
    }

    /// A bare future has no closure: running it only marks it running,
    /// unless it was cancelled (its completer gives it its outcome).
    unsafe fn no_run(ptr: NonNull<Header>) {
        // SAFETY: as the vtable requires.
        unsafe { Self::bare_inner(ptr) }.set_running();
    }

    unsafe fn bare_fail(ptr: NonNull<Header>, error: Error) {
        // SAFETY: as the vtable requires.
        let inner = unsafe { Self::bare_inner(ptr) };
        if inner.set_running() {
            inner.finish(Err(error));
        }
    }

    unsafe fn bare_abandon(ptr: NonNull<Header>) {
        // SAFETY: as the vtable requires.
        unsafe { Self::bare_inner(ptr) }.abandon();
    }

    unsafe fn bare_dealloc(ptr: NonNull<Header>) {
        // SAFETY: the last owner calls this once; the cell came from a
        // `Box<Self>`.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) });
    }
}

/// The queue's reference to a task. Dropping it unrun (a drained queue)
/// cancels the task's future.
pub(crate) struct JobRef(NonNull<Header>);

// SAFETY: a `JobRef` is only made for `F: Send` closures and `R: Send +
// Sync` results, so the closure may run, and the result be written, on
// whichever thread holds it; the cell's shared state is atomic.
unsafe impl Send for JobRef {}

impl JobRef {
    /// A task running `f` and the first handle of its future.
    pub(crate) fn with_future<F, R>(f: F) -> (Future<R>, JobRef)
    where
        F: FnOnce() -> R + Send,
        R: Send + Sync,
    {
        let ptr = in_slab(|page| FutureTask {
            prefix: Prefix {
                // The future's handles (one reference for all) and this.
                header: Header::new(2, &FutureTask::<F, R>::VTABLE, page),
                inner: Inner::<R>::new(),
            },
            f: UnsafeCell::new(Some(f)),
        });
        // SAFETY: a fresh `FutureTask<F, R>` starts with a `Prefix<R>`, whose
        // `Inner::new` counts one handle: the one made here, which owns the
        // handles' reference.
        let future = unsafe { Future::from_raw(ptr.cast()) };
        (future, JobRef(ptr))
    }

    /// A task running `f`, with no future.
    pub(crate) fn without_future<F: FnOnce() + Send>(f: F) -> JobRef {
        JobRef(in_slab(|page| ExecTask {
            header: Header::new(1, &ExecTask::<F>::VTABLE, page),
            f: UnsafeCell::new(Some(f)),
        }))
    }

    fn vtable(&self) -> &'static VTable {
        // SAFETY: this reference keeps the cell alive.
        unsafe { self.0.as_ref() }.vtable
    }

    /// Runs the task (unless its future was cancelled) and completes the
    /// future.
    pub(crate) fn run(self) {
        let ptr = self.0;
        let run = self.vtable().run;
        std::mem::forget(self);
        // Gives the reference up even if `run` unwinds (it catches the
        // task's panic, but a drop of a cancelled closure may panic).
        let _release = Release(ptr);
        // SAFETY: this was the task's `JobRef`, whose holder may run it.
        unsafe { run(ptr) };
    }

    /// Fails the future with `error` without running the task.
    pub(crate) fn fail(self, error: Error) {
        let ptr = self.0;
        let fail = self.vtable().fail;
        std::mem::forget(self);
        let _release = Release(ptr);
        // SAFETY: as in `run`.
        unsafe { fail(ptr, error) };
    }
}

impl Drop for JobRef {
    fn drop(&mut self) {
        let _release = Release(self.0);
        // SAFETY: as in `run`; the reference is released after.
        unsafe { (self.vtable().abandon)(self.0) };
    }
}

/// Releases one reference when dropped.
struct Release(NonNull<Header>);

impl Drop for Release {
    fn drop(&mut self) {
        // SAFETY: made from an owned reference that is used no more.
        unsafe { release(self.0) };
    }
}

/// A typed reference to a future's cell, as a [`Completer`](crate::Completer)
/// holds it.
pub(crate) struct TaskRef<R> {
    ptr: NonNull<Prefix<R>>,
    _marker: PhantomData<R>,
}

// SAFETY: the cell's shared state is atomic, and the outcome it carries is
// `Send + Sync` (only `Future::pending` makes one, for `R: Send + Sync`).
unsafe impl<R: Send + Sync> Send for TaskRef<R> {}
// SAFETY: as above.
unsafe impl<R: Send + Sync> Sync for TaskRef<R> {}

impl<R: Send + Sync> TaskRef<R> {
    /// A bare future and the reference its completer holds.
    pub(crate) fn bare() -> (Future<R>, TaskRef<R>) {
        let ptr: NonNull<Prefix<R>> = into_header(Box::new(Prefix {
            // The future's handles (one reference for all) and the
            // completer's.
            header: Header::new(2, &Prefix::<R>::BARE, None),
            inner: Inner::<R>::new(),
        }))
        .cast();
        // SAFETY: a fresh bare cell whose `Inner::new` counts the one handle
        // made here.
        let future = unsafe { Future::from_raw(ptr) };
        (
            future,
            TaskRef {
                ptr,
                _marker: PhantomData,
            },
        )
    }
}

impl<R> TaskRef<R> {
    /// The future's state.
    pub(crate) fn inner(&self) -> &Inner<R> {
        // SAFETY: this reference keeps the cell alive.
        unsafe { &self.ptr.as_ref().inner }
    }
}

impl<R> Drop for TaskRef<R> {
    fn drop(&mut self) {
        // SAFETY: this owned reference is used no more.
        unsafe { release(self.ptr.cast()) };
    }
}

/// Gives up the reference that a future's handles share, once the last
/// handle has gone.
///
/// # Safety
/// The caller is the last handle of the future at `ptr` and does not use it
/// afterwards.
pub(crate) unsafe fn release_handles<R>(ptr: NonNull<Prefix<R>>) {
    // SAFETY: the handles' reference is the caller's to give up.
    unsafe { release(ptr.cast()) };
}

/// Drops a task's closure that will not run, after its future was
/// settled, so that a closure whose `Drop` panics can neither leave the
/// future pending forever nor end the worker thread (the panic is
/// swallowed: nobody is waiting for it).
fn drop_quietly<F>(f: Option<F>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(f)));
}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    //! The cell's ownership in every order of release; run them under Miri
    //! (`cargo +nightly miri test -p bingfa-pool --lib task`) to check the
    //! frees and the pointer casts.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;

    use super::JobRef;
    use crate::{Error, Future};

    /// Counts its drops, to show that a closure or a result is dropped
    /// exactly once whichever owner frees the cell.
    struct Tracked(Arc<AtomicUsize>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn future_dropped_before_the_job_runs() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (captured, out) = (Tracked(drops.clone()), drops.clone());
        let (future, job) = JobRef::with_future(move || {
            drop(captured);
            Tracked(out)
        });
        drop(future);
        job.run();
        // The closure's capture and the unread result: both dropped, once.
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn job_dropped_unrun_cancels_and_frees() {
        let drops = Arc::new(AtomicUsize::new(0));
        let captured = Tracked(drops.clone());
        let (future, job) = JobRef::with_future(move || {
            let _keep = &captured;
            1
        });
        let second = future.clone();
        drop(job);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the closure was dropped");
        assert_eq!(future.result(), Err(Error::Cancelled));
        drop(future);
        assert_eq!(second.into_result(), Some(Err(Error::Cancelled)));
    }

    #[test]
    fn last_handle_takes_the_value_after_the_job_is_gone() {
        let (future, job) = JobRef::with_future(|| String::from("v"));
        let other = future.clone();
        thread::spawn(move || job.run()).join().unwrap();
        assert_eq!(other.into_result(), None);
        assert_eq!(future.into_result(), Some(Ok(String::from("v"))));
    }

    #[test]
    fn handles_on_several_threads_and_a_failed_job() {
        let (future, job) = JobRef::with_future(|| 5_u32);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let f = future.clone();
                thread::spawn(move || f.result())
            })
            .collect();
        drop(future);
        job.fail(Error::Shutdown);
        for w in waiters {
            assert_eq!(w.join().unwrap(), Err(Error::Shutdown));
        }
    }

    #[test]
    fn execute_job_runs_or_drops_its_closure_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let (captured, r) = (Tracked(drops.clone()), ran.clone());
        let job = JobRef::without_future(move || {
            let _keep = &captured;
            r.fetch_add(1, Ordering::SeqCst);
        });
        thread::spawn(move || job.run()).join().unwrap();
        let captured = Tracked(drops.clone());
        drop(JobRef::without_future(move || drop(captured)));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn bare_future_outlives_or_predeceases_its_completer() {
        let (f, c) = Future::<Vec<u8>>::pending();
        drop(f);
        assert!(c.set_result(vec![1]));
        let (f, c) = Future::<Vec<u8>>::pending();
        let cb = f.clone();
        cb.add_done_callback(|r| assert_eq!(r.as_deref(), Ok(&[2_u8][..])));
        drop(cb);
        thread::spawn(move || c.set_result(vec![2])).join().unwrap();
        assert_eq!(f.into_result(), Some(Ok(vec![2])));
        let (f, c) = Future::<u8>::pending();
        drop(c);
        assert_eq!(f.result(), Err(Error::Cancelled));
    }
}

#[cfg(all(test, bingfa_loom))]
mod loom_models {
    //! The reference count under loom: `RUSTFLAGS="--cfg bingfa_loom"
    //! LOOM_MAX_PREEMPTIONS=2 cargo test --release -p bingfa-pool -- loom`.

    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    use crate::Future;

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Two handles dropped on two threads while the completer completes on
    /// a third: whichever owner goes last frees the cell, once, so the
    /// value is dropped exactly once.
    #[test]
    fn loom_cell_freed_once_by_the_last_owner() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let (f, c) = Future::<Counted>::pending();
            let f2 = f.clone();
            let d = drops.clone();
            let completer = thread::spawn(move || assert!(c.set_result(Counted(d))));
            let dropper = thread::spawn(move || drop(f2));
            drop(f);
            completer.join().unwrap();
            dropper.join().unwrap();
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        });
    }
}
