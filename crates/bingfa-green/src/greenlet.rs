//! `Greenlet<T>`: symmetric coroutines. Any greenlet can `switch` to any
//! other, passing a value; the one switched to gets it as the return value
//! of its own last `switch` (or as its function's argument, the first
//! time). A greenlet whose function returns passes the result to its
//! parent.
//!
//! Python: the `greenlet` module.
//!
//! Built on corosensei's asymmetric coroutines with a trampoline: a switch
//! from greenlet A to greenlet B is A yielding "switch to B with v" to the
//! loop that runs on the thread's own (root) stack, which resumes B.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use corosensei::{CoroutineResult, Yielder};

use crate::error::Error;
use crate::fiber::Fiber;
use crate::stack::DEFAULT_STACK_SIZE;

/// What a switch delivers: a value, or an error to raise (`throw`).
enum Resume<T> {
    Value(T),
    Throw(Box<dyn Any + Send>),
}

impl<T> Resume<T> {
    /// The value, or the thrown error raised as a panic here.
    fn deliver(self) -> T {
        match self {
            Resume::Value(v) => v,
            Resume::Throw(e) => std::panic::resume_unwind(e),
        }
    }
}

/// What a greenlet hands the trampoline when it stops running.
struct SwitchTo<T: 'static>(Greenlet<T>, Resume<T>);

type GFiber<T> = Fiber<Resume<T>, SwitchTo<T>, T>;

struct Inner<T: 'static> {
    /// `None` for the root greenlet, and once finished.
    fiber: RefCell<Option<GFiber<T>>>,
    /// Set while the greenlet's function runs: its yielder, to switch away.
    yielder: Cell<*const Yielder<Resume<T>, SwitchTo<T>>>,
    parent: RefCell<Option<Greenlet<T>>>,
    root: bool,
    dead: Cell<bool>,
    name: String,
}

/// A greenlet: a function on its own stack that runs when some code
/// [`switch`](Greenlet::switch)es to it, and that switches explicitly to
/// others. All greenlets of a family exchange values of one type `T`.
///
/// The code that is not inside any greenlet is the thread's root greenlet,
/// [`Greenlet::root`] (Python: the main greenlet); it is every greenlet's
/// parent unless it was created inside another greenlet.
///
/// Python: `greenlet.greenlet`.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use bingfa_green::Greenlet;
///
/// // The course's eat/play, printing into a log.
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let g2_slot: Rc<RefCell<Option<Greenlet<&str>>>> = Rc::default();
///
/// let (l, slot) = (log.clone(), g2_slot.clone());
/// let g1 = Greenlet::new(move |name: &str| {
///     l.borrow_mut().push(format!("{name} eat 1"));
///     let g2 = slot.borrow().clone().unwrap();
///     g2.switch("jack");
///     l.borrow_mut().push(format!("{name} eat 2"));
///     g2.switch("");
///     ""
/// });
/// let (l, g1c) = (log.clone(), g1.clone());
/// let g2 = Greenlet::new(move |name: &str| {
///     l.borrow_mut().push(format!("{name} play 1"));
///     g1c.switch("");
///     l.borrow_mut().push(format!("{name} play 2"));
///     ""
/// });
/// *g2_slot.borrow_mut() = Some(g2.clone());
///
/// g1.switch("rose");
/// assert_eq!(*log.borrow(), ["rose eat 1", "jack play 1", "rose eat 2", "jack play 2"]);
/// assert!(g2.is_dead());
/// # g1.kill(); g2_slot.borrow_mut().take();
/// ```
///
/// Greenlets are `!Send`: a family lives on one OS thread.
///
/// ```compile_fail
/// fn must_be_send<T: Send>(_: T) {}
/// must_be_send(bingfa_green::Greenlet::<()>::new(|v| v));
/// ```
pub struct Greenlet<T: 'static = ()> {
    inner: Rc<Inner<T>>,
}

impl<T: 'static> Clone for Greenlet<T> {
    fn clone(&self) -> Self {
        Greenlet {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> PartialEq for Greenlet<T> {
    /// Two handles are equal when they name the same greenlet (all root
    /// handles of a thread are the root).
    fn eq(&self, other: &Self) -> bool {
        (self.inner.root && other.inner.root) || Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<T: 'static> Eq for Greenlet<T> {}

thread_local! {
    /// The greenlet running now (`None`: the root).
    static CURRENT: RefCell<Option<Rc<dyn Any>>> = const { RefCell::new(None) };
}

fn current<T: 'static>() -> Option<Greenlet<T>> {
    CURRENT.with(|c| {
        let c = c.borrow();
        c.as_ref().map(|any| {
            let inner = any.clone().downcast::<Inner<T>>().unwrap_or_else(|_| {
                panic!("switch between greenlets that exchange different value types")
            });
            Greenlet { inner }
        })
    })
}

fn set_current(g: Option<Rc<dyn Any>>) -> Option<Rc<dyn Any>> {
    CURRENT.with(|c| c.replace(g))
}

impl<T: 'static> Greenlet<T> {
    /// A greenlet that will run `f` the first time something switches to
    /// it: `f` gets the value of that switch, and what `f` returns goes to
    /// the greenlet's parent (as the return value of the parent's pending
    /// `switch`). The parent is the greenlet that creates it.
    ///
    /// Python: `greenlet.greenlet(run)`.
    ///
    /// # Panics
    /// If no stack can be mapped ([`Error::OutOfStacks`]); see
    /// [`try_with_stack_size`](Self::try_with_stack_size).
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(T) -> T + 'static,
    {
        Self::try_with_stack_size("greenlet", DEFAULT_STACK_SIZE, f)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`new`](Self::new), with a name (shown if its stack overflows)
    /// and a stack of `stack_size` bytes.
    ///
    /// # Errors
    /// [`Error::OutOfStacks`] if no stack can be mapped.
    pub fn try_with_stack_size<F>(name: &str, stack_size: usize, f: F) -> Result<Self, Error>
    where
        F: FnOnce(T) -> T + 'static,
    {
        let parent = Some(current::<T>().unwrap_or_else(Self::root));
        let inner = Rc::new(Inner {
            fiber: RefCell::new(None),
            yielder: Cell::new(std::ptr::null()),
            parent: RefCell::new(parent),
            root: false,
            dead: Cell::new(false),
            name: name.to_owned(),
        });
        let weak = Rc::downgrade(&inner);
        let fiber = Fiber::new(
            name.into(),
            stack_size,
            true,
            move |y: &Yielder<Resume<T>, SwitchTo<T>>, first: Resume<T>| {
                if let Some(me) = weak.upgrade() {
                    me.yielder.set(y);
                }
                f(first.deliver())
            },
        )?;
        *inner.fiber.borrow_mut() = Some(fiber);
        Ok(Greenlet { inner })
    }

    /// The root greenlet of this thread: the code outside every greenlet.
    /// Switching to it returns control (and a value) to the root's pending
    /// `switch`.
    ///
    /// Python: the main greenlet (`greenlet.getcurrent()` at top level).
    pub fn root() -> Self {
        Greenlet {
            inner: Rc::new(Inner {
                fiber: RefCell::new(None),
                yielder: Cell::new(std::ptr::null()),
                parent: RefCell::new(None),
                root: true,
                dead: Cell::new(false),
                name: "root".to_owned(),
            }),
        }
    }

    /// The greenlet running now (the root outside every greenlet).
    ///
    /// The handle keeps the greenlet alive: do not keep it across a switch
    /// away, or the greenlet holds itself and dropping every other handle
    /// no longer ends it (see [`Drop`](#impl-Drop-for-Greenlet%3CT%3E)).
    /// Mind temporaries: in `Greenlet::current().parent().unwrap().switch(v)`
    /// the handle lives until the statement ends, through the switch; write
    /// `let p = Greenlet::current().parent().unwrap(); p.switch(v)`.
    ///
    /// Python: `greenlet.getcurrent()`.
    ///
    /// # Panics
    /// If the running greenlet exchanges another type than `T`.
    #[doc(alias = "getcurrent")]
    pub fn current() -> Self {
        current::<T>().unwrap_or_else(Self::root)
    }

    /// Gives control to this greenlet, passing `value`: it starts (with
    /// `value` as its function's argument) or its pending `switch` returns
    /// `value`. This call returns when some greenlet switches back to the
    /// caller, with the value that one passed (or when a child whose parent
    /// is the caller finishes, with its return value).
    ///
    /// Switching to a finished greenlet goes to its parent instead, as in
    /// Python. Switching to the greenlet running now returns `value` at
    /// once.
    ///
    /// Python: `g.switch(value)`.
    ///
    /// # Panics
    /// A panic in a greenlet ends that greenlet and goes to its parent
    /// (Python: the exception propagates to the parent): the parent's
    /// pending `switch` unwinds with the same payload, where the parent
    /// can catch it (`catch_unwind`); uncaught, it ends the parent too and
    /// goes on up the chain, out of the root's `switch` call in the end.
    /// Also panics when greenlets of different `T` are mixed on one
    /// thread's switch chain.
    pub fn switch(&self, value: T) -> T {
        self.transfer(Resume::Value(value))
    }

    /// Raises `error` in this greenlet at its switch point: its pending
    /// [`switch`](Self::switch) unwinds with `error` as the panic payload
    /// (no panic message is printed), running destructors as it goes. The
    /// greenlet can catch it with [`std::panic::catch_unwind`] and
    /// `payload.downcast::<E>()`, and go on; uncaught, it ends the greenlet
    /// (dead) and, like any panic in a greenlet, goes to its parent, whose
    /// pending `switch` unwinds with the same payload (out of the root's
    /// `switch` call when the parent is the root).
    ///
    /// Otherwise it behaves as `switch`: a greenlet not yet started raises
    /// at its start (its function never runs), a dead one passes the error
    /// on to its parent, the running greenlet (or the root, from the root)
    /// raises at once; and this call returns the value of the next switch
    /// back to the caller.
    ///
    /// Python: `g.throw(typ, val)`. [`kill`](Self::kill) is the
    /// `GreenletExit` case, which never propagates.
    ///
    /// ```
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    /// use bingfa_green::Greenlet;
    ///
    /// #[derive(Debug)]
    /// struct Cancelled(&'static str);
    ///
    /// let g = Greenlet::new(|_: String| {
    ///     let root = Greenlet::<String>::root();
    ///     let r = catch_unwind(AssertUnwindSafe(|| root.switch("waiting".into())));
    ///     match r {
    ///         Ok(v) => format!("got {v}"),
    ///         Err(p) => format!("caught {:?}", p.downcast::<Cancelled>().unwrap()),
    ///     }
    /// });
    /// assert_eq!(g.switch(String::new()), "waiting");
    /// assert_eq!(g.throw(Cancelled("shutdown")), "caught Cancelled(\"shutdown\")");
    /// assert!(g.is_dead());
    /// ```
    ///
    /// # Panics
    /// With `error` as the payload, out of the parent's pending `switch`
    /// (this call, when the caller is the parent), if the target does not
    /// catch it. As `switch`
    /// when greenlets of different `T` are mixed.
    pub fn throw<E: Any + Send>(&self, error: E) -> T {
        self.transfer(Resume::Throw(Box::new(error)))
    }

    fn transfer(&self, value: Resume<T>) -> T {
        match current::<T>() {
            Some(me) => {
                if me == *self {
                    return value.deliver();
                }
                let y = me.inner.yielder.get();
                // No handle to itself may stay on its own stack while it
                // is suspended: that cycle would keep it alive for ever
                // once every other handle is gone (`CURRENT` holds it
                // while it runs).
                drop(me);
                // SAFETY: `yielder` was set by this greenlet's own function
                // when it started, points into its own stack, and is used
                // only while that function runs: we are running inside it
                // right now (it is `current`).
                let y = unsafe { &*y };
                y.suspend(SwitchTo(self.clone(), value)).deliver()
            }
            None => {
                if self.inner.root {
                    return value.deliver();
                }
                trampoline(self.clone(), value)
            }
        }
    }

    /// The greenlet that gets control (and the return value) when this one
    /// finishes; `None` for the root.
    ///
    /// Python: `g.parent`.
    pub fn parent(&self) -> Option<Greenlet<T>> {
        self.inner.parent.borrow().clone()
    }

    /// Makes `parent` this greenlet's parent.
    ///
    /// Python: `g.parent = p`.
    ///
    /// # Errors
    /// [`Error::ParentCycle`] if `parent` is this greenlet or one of its
    /// descendants (a cycle), or this is the root (Python: `ValueError:
    /// cyclic parent chain`).
    pub fn set_parent(&self, parent: &Greenlet<T>) -> Result<(), Error> {
        let mut p = Some(parent.clone());
        while let Some(g) = p {
            if g == *self {
                return Err(Error::ParentCycle);
            }
            p = g.parent();
        }
        *self.inner.parent.borrow_mut() = Some(parent.clone());
        Ok(())
    }

    /// Whether the greenlet's function has finished (returned, panicked or
    /// was killed).
    ///
    /// Python: `g.dead`.
    pub fn is_dead(&self) -> bool {
        self.inner.dead.get()
    }

    /// Whether it has started and not finished: running now or
    /// suspended. The root always is.
    ///
    /// Python: `bool(g)` / `g` is active.
    pub fn is_active(&self) -> bool {
        if self.inner.dead.get() {
            return false;
        }
        if self.inner.root {
            return true;
        }
        match &*self.inner.fiber.borrow() {
            Some(f) => f.started(),
            // Its fiber is out of its slot while it runs.
            None => true,
        }
    }

    /// The name given at creation (`"greenlet"` by default).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Ends a greenlet that is not running: [`GreenletExit`] is raised in
    /// a suspended one at its switch point, so it unwinds (its destructors
    /// run) while it is the current greenlet ([`Greenlet::current`] names
    /// it); one not yet started never runs. It is then dead. Killing the
    /// running greenlet, the root or a dead one does nothing.
    ///
    /// While it unwinds the killer is its parent, so that its end comes
    /// back here (Python: `g.throw()` goes to `g`'s own parent, which is
    /// usually the killer; call [`throw`](Self::throw) with
    /// [`GreenletExit`] for exactly that). It may catch `GreenletExit`
    /// (`catch_unwind`, `payload.is::<GreenletExit>()`): what it returns
    /// then is dropped; if it switches elsewhere instead, this call returns
    /// when something switches back to the caller, and the greenlet lives
    /// on.
    ///
    /// Python: `g.throw()` with no arguments (`GreenletExit`); to raise
    /// an error of your own there, see [`throw`](Self::throw).
    ///
    /// # Panics
    /// With the greenlet's own error if, instead of dying of
    /// `GreenletExit`, it raises another (Python: it propagates to the
    /// caller). In a build with `panic = "abort"`, if the greenlet has
    /// started and not finished (unwinding it would abort the process;
    /// this panic does, with a message that says so).
    #[doc(alias = "GreenletExit")]
    pub fn kill(&self) {
        if cfg!(panic = "abort") && self.suspended() {
            panic!("{}", Error::NeedsUnwind("Greenlet::kill"));
        }
        if let Err(p) = self.exit() {
            panic::resume_unwind(p);
        }
    }

    /// Whether it has started and not finished, and is not the running
    /// one.
    fn suspended(&self) -> bool {
        !self.inner.root
            && !self.inner.dead.get()
            && self
                .inner
                .fiber
                .borrow()
                .as_ref()
                .is_some_and(|f| f.started())
    }

    /// Raises [`GreenletExit`] in a suspended greenlet with the caller as
    /// its parent for the time, and waits for control to come back.
    /// `Err` with any other error the greenlet ended with.
    fn exit(&self) -> Result<(), Box<dyn Any + Send>> {
        if self.inner.root || self.inner.dead.get() {
            return Ok(());
        }
        // The running greenlet, whatever its value type (the caller may
        // belong to another family, or be the root: `None`).
        let running = CURRENT.with(|c| c.borrow().clone());
        if running
            .as_ref()
            .is_some_and(|r| std::ptr::addr_eq(Rc::as_ptr(r), Rc::as_ptr(&self.inner)))
        {
            return Ok(());
        }
        let started = self
            .inner
            .fiber
            .borrow()
            .as_ref()
            .is_some_and(|f| f.started());
        if !started {
            // Never started: it never runs (its function is dropped).
            let fiber = self.inner.fiber.borrow_mut().take();
            self.inner.dead.set(true);
            drop(fiber);
            return Ok(());
        }
        let same_family = running
            .and_then(|r| r.downcast::<Inner<T>>().ok())
            .map(|inner| Greenlet { inner });
        let parent = same_family.clone().unwrap_or_else(Greenlet::root);
        let old_parent = self.inner.parent.replace(Some(parent));
        let exit = || Resume::Throw(Box::new(GreenletExit));
        let r = panic::catch_unwind(AssertUnwindSafe(|| match same_family {
            // A switch from the caller: when the greenlet ends, control
            // comes back to the caller through the trampoline.
            Some(me) => {
                drop(me);
                self.transfer(exit());
            }
            // From the root, or from a greenlet of another family: run
            // this family's trampoline right here until the greenlet ends
            // (or something switches to this family's root).
            None => {
                trampoline(self.clone(), exit());
            }
        }));
        *self.inner.parent.borrow_mut() = old_parent;
        match r {
            Ok(()) => Ok(()),
            Err(p) if p.is::<GreenletExit>() => Ok(()),
            Err(p) => Err(p),
        }
    }
}

/// The error [`Greenlet::kill`] raises in a greenlet (and that dropping
/// the last handle of a suspended greenlet raises in it): a panic payload
/// it can recognise (`payload.is::<GreenletExit>()`) and, if it must,
/// catch; uncaught, the greenlet simply ends.
///
/// Python: `greenlet.GreenletExit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GreenletExit;

impl fmt::Display for GreenletExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GreenletExit")
    }
}

/// Runs on the root stack: resumes greenlets until one switches to the
/// root, and returns the value it passed.
fn trampoline<T: 'static>(mut to: Greenlet<T>, mut value: Resume<T>) -> T {
    loop {
        if to.inner.root {
            return value.deliver();
        }
        if to.inner.dead.get() {
            // Python: switching to a dead greenlet goes to its parent.
            to = to.parent().unwrap_or_else(Greenlet::root);
            continue;
        }
        let mut fiber = to
            .inner
            .fiber
            .borrow_mut()
            .take()
            .expect("a live greenlet has its fiber");
        let any: Rc<dyn Any> = to.inner.clone();
        let prev = set_current(Some(any));
        struct Restore(Option<Rc<dyn Any>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                set_current(self.0.take());
            }
        }
        let restore = Restore(prev);
        // A panic that leaves the greenlet ends it and goes to its parent,
        // as an exception does in Python: the parent's pending `switch`
        // raises it (at the root: this call).
        let r = panic::catch_unwind(AssertUnwindSafe(|| fiber.resume(value)));
        drop(restore);
        match r {
            Ok(CoroutineResult::Yield(SwitchTo(next, v))) => {
                *to.inner.fiber.borrow_mut() = Some(fiber);
                to = next;
                value = v;
            }
            Ok(CoroutineResult::Return(v)) => {
                to.inner.dead.set(true);
                drop(fiber);
                to = to.parent().unwrap_or_else(Greenlet::root);
                value = Resume::Value(v);
            }
            Err(payload) => {
                to.inner.dead.set(true);
                drop(fiber);
                to = to.parent().unwrap_or_else(Greenlet::root);
                value = Resume::Throw(payload);
            }
        }
    }
}

impl<T: 'static> Drop for Greenlet<T> {
    /// Dropping the last handle of a suspended greenlet raises
    /// [`GreenletExit`] in it, as greenlet does when one is collected: it
    /// unwinds (its destructors run, [`Greenlet::current`] names it) and
    /// its stack goes back to the pool.
    ///
    /// This happens right here, on the thread that drops the handle (the
    /// greenlet's own thread: greenlets are `!Send`), inside this `drop`:
    /// the dropper waits, as for [`Greenlet::kill`], with the dropper as
    /// the dying greenlet's parent meanwhile. An error it ends with other
    /// than `GreenletExit` is dropped (Python reports it to
    /// `sys.unraisablehook`). A greenlet never started is simply dropped.
    ///
    /// Handles the greenlet holds to itself (captured by its function, or
    /// kept on its stack) keep it alive, as any `Rc` cycle does: kill it
    /// to end it.
    ///
    /// With `panic = "abort"` it cannot be unwound: its stack is leaked
    /// instead, and what is on it is never dropped.
    fn drop(&mut self) {
        if Rc::strong_count(&self.inner) != 1
            || self.inner.root
            || self.inner.dead.get()
            || cfg!(panic = "abort")
        {
            return;
        }
        let _ = self.exit();
    }
}

impl<T: 'static> fmt::Debug for Greenlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("name", &self.inner.name)
            .field("root", &self.inner.root)
            .field("dead", &self.inner.dead.get())
            .finish()
    }
}
