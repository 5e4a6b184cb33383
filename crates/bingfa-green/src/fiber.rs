//! `Fiber`: a corosensei coroutine on a pooled [`GreenStack`], which tells
//! the overflow handler what runs on it at every switch and gives its stack
//! back to the pool when dropped.

use std::cell::Cell;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::error::Error;
use crate::overflow::{self, Running};
use crate::stack::GreenStack;

/// Whether code now runs inside a generator or a greenlet (the innermost
/// fiber on this OS thread's switch chain is one): hub calls that switch
/// the green thread away are refused there.
#[inline]
pub(crate) fn nested() -> bool {
    overflow::nested()
}

pub(crate) struct Fiber<I: 'static, Y: 'static, R: 'static> {
    coro: Option<Coroutine<I, Y, R, GreenStack>>,
    /// Boxed so that its address, stored in the overflow handler's
    /// thread-local while the fiber runs, stays put when the fiber moves.
    info: Box<Running>,
    /// This OS thread's "running fiber" cell ([`overflow::running_cell`]);
    /// the fiber is `!Send` (corosensei's coroutine is), so it is always
    /// resumed on the thread this cell belongs to.
    cell: *const Cell<*const Running>,
}

impl<I: 'static, Y: 'static, R: 'static> Fiber<I, Y, R> {
    /// A fiber that will run `f` on a stack of `stack_size` bytes.
    /// `nested`: a generator or greenlet, not a hub task.
    pub(crate) fn new<F>(
        name: Box<str>,
        stack_size: usize,
        nested: bool,
        f: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        overflow::ensure_installed();
        let stack = GreenStack::get(stack_size)?;
        let (guard_lo, guard_hi) = stack.guard();
        let info = Box::new(Running {
            guard_lo,
            guard_hi,
            size: stack.size(),
            nested,
            name,
        });
        Ok(Fiber {
            coro: Some(Coroutine::with_stack(stack, f)),
            info,
            cell: overflow::running_cell(),
        })
    }

    /// Its record for the overflow handler: what this thread's "running
    /// fiber" cell points to while it runs (the box never moves).
    pub(crate) fn record(&self) -> *const Running {
        &*self.info
    }

    /// Whether the coroutine has returned (or panicked, or was unwound).
    #[inline]
    pub(crate) fn done(&self) -> bool {
        self.coro.as_ref().is_none_or(|c| c.done())
    }

    /// Whether it has run at all.
    pub(crate) fn started(&self) -> bool {
        self.coro.as_ref().is_some_and(|c| c.started())
    }

    /// Switches to the fiber until it yields or returns. A panic inside it
    /// comes out of this call.
    ///
    /// # Panics
    /// If the fiber is done.
    #[inline]
    pub(crate) fn resume(&mut self, input: I) -> CoroutineResult<Y, R> {
        let coro = self.coro.as_mut().expect("resumed a finished fiber");
        let _g = Enter::new(self.cell, &self.info);
        coro.resume(input)
    }

    /// Unwinds the fiber's stack (running its destructors) if it is
    /// suspended, and recycles the stack.
    ///
    /// With `panic = "abort"` a suspended fiber cannot be unwound (that
    /// would abort the process): it is leaked instead, stack and all, and
    /// what is on its stack is never dropped. (Its memory stays mapped,
    /// so pointers into it stay valid.)
    pub(crate) fn unwind(&mut self) {
        if cfg!(panic = "abort") && self.started() && !self.done() {
            std::mem::forget(self.coro.take());
            return;
        }
        if let Some(mut coro) = self.coro.take() {
            {
                let _g = Enter::new(self.cell, &self.info);
                coro.force_unwind();
            }
            coro.into_stack().recycle();
        }
    }
}

impl<I: 'static, Y: 'static, R: 'static> Drop for Fiber<I, Y, R> {
    fn drop(&mut self) {
        self.unwind();
    }
}

/// Records the fiber as running for the overflow handler (and for
/// [`nested`]), undoing it when dropped, even by a panic: one thread-local
/// pointer write each way.
struct Enter {
    cell: *const Cell<*const Running>,
    prev: *const Running,
}

impl Enter {
    #[inline]
    fn new(cell: *const Cell<*const Running>, info: &Running) -> Enter {
        // SAFETY: `cell` is the running thread's own cell (see
        // `Fiber::cell`), alive as long as the thread.
        let prev = unsafe { (*cell).replace(info) };
        Enter { cell, prev }
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: as in `new`.
        unsafe { (*self.cell).set(self.prev) };
    }
}
