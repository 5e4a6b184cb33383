//! Coroutines on pooled [`GreenStack`]s that tell the overflow handler
//! what runs on them at every switch and give their stack back to the pool
//! when dropped.
//!
//! - [`Coro`]: the coroutine alone; its owner keeps its overflow record
//!   ([`Running`]) at an address that does not move and passes it to each
//!   resume. A hub's green thread is one, its record inside its boxed task.
//! - [`Fiber`]: a `Coro` with its record in a box of its own, for
//!   generators and greenlets, which move between resumes.

use std::cell::Cell;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::error::Error;
use crate::overflow::{self, Name, Running};
use crate::stack::GreenStack;

/// Whether code now runs inside a generator or a greenlet (the innermost
/// fiber on this OS thread's switch chain is one): hub calls that switch
/// the green thread away are refused there.
#[inline]
pub(crate) fn nested() -> bool {
    overflow::nested()
}

/// A coroutine on a green stack, without its overflow record.
pub(crate) struct Coro<I: 'static, Y: 'static, R: 'static>(Option<Coroutine<I, Y, R, GreenStack>>);

impl<I: 'static, Y: 'static, R: 'static> Coro<I, Y, R> {
    /// A coroutine that will run `f` on `stack`.
    pub(crate) fn new<F>(stack: GreenStack, f: F) -> Self
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        Coro(Some(Coroutine::with_stack(stack, f)))
    }

    /// Whether the coroutine has returned (or panicked, or was unwound).
    #[inline]
    pub(crate) fn done(&self) -> bool {
        self.0.as_ref().is_none_or(|c| c.done())
    }

    /// Whether it has run at all.
    pub(crate) fn started(&self) -> bool {
        self.0.as_ref().is_some_and(|c| c.started())
    }

    /// Switches to the coroutine until it yields or returns, recording
    /// `info` as what runs in this thread's "running fiber" `cell` until
    /// then. A panic inside it comes out of this call.
    ///
    /// # Safety
    /// `cell` is the calling OS thread's [`overflow::running_cell`], and
    /// `info` is the record of this coroutine's stack
    /// ([`Running::set_stack`]), alive and unmoved until this call returns.
    ///
    /// # Panics
    /// If the coroutine is done.
    #[inline]
    pub(crate) unsafe fn resume(
        &mut self,
        cell: *const Cell<*const Running>,
        info: *const Running,
        input: I,
    ) -> CoroutineResult<Y, R> {
        let coro = self.0.as_mut().expect("resumed a finished fiber");
        // SAFETY: as the caller promised.
        let _g = unsafe { Enter::new(cell, info) };
        coro.resume(input)
    }

    /// Unwinds the coroutine's stack (running its destructors) if it is
    /// suspended, and recycles the stack.
    ///
    /// With `panic = "abort"` a suspended coroutine cannot be unwound
    /// (that would abort the process): it is leaked instead, stack and
    /// all, and what is on its stack is never dropped. (Its memory stays
    /// mapped, so pointers into it stay valid.)
    ///
    /// # Safety
    /// As [`resume`](Self::resume), for `info`; the running cell is this
    /// thread's.
    pub(crate) unsafe fn unwind(&mut self, info: *const Running) {
        let Some(mut coro) = self.0.take() else {
            return;
        };
        if coro.started() && !coro.done() {
            if cfg!(panic = "abort") {
                std::mem::forget(coro);
                return;
            }
            // SAFETY: the running cell is this thread's; `info` as the
            // caller promised.
            let _g = unsafe { Enter::new(overflow::running_cell(), info) };
            coro.force_unwind();
        } else {
            // Not started: drops its function, on this stack; done:
            // nothing to do.
            coro.force_unwind();
        }
        coro.into_stack().recycle();
    }
}

/// A [`Coro`] with its overflow record in a box of its own, so that the
/// fiber can move between resumes (generators and greenlets do).
pub(crate) struct Fiber<I: 'static, Y: 'static, R: 'static> {
    coro: Coro<I, Y, R>,
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
        let info = Box::new(Running::new(Name::Owned(name), nested));
        info.set_stack(stack.guard(), stack.size());
        Ok(Fiber {
            coro: Coro::new(stack, f),
            info,
            cell: overflow::running_cell(),
        })
    }

    /// Whether the coroutine has returned (or panicked, or was unwound).
    #[inline]
    pub(crate) fn done(&self) -> bool {
        self.coro.done()
    }

    /// Whether it has run at all.
    pub(crate) fn started(&self) -> bool {
        self.coro.started()
    }

    /// Switches to the fiber until it yields or returns. A panic inside it
    /// comes out of this call.
    ///
    /// # Panics
    /// If the fiber is done.
    #[inline]
    pub(crate) fn resume(&mut self, input: I) -> CoroutineResult<Y, R> {
        // SAFETY: `cell` is this thread's (the fiber is !Send); `info` is
        // the record of this fiber's stack, boxed, alive as long as `self`.
        unsafe { self.coro.resume(self.cell, &*self.info, input) }
    }

    /// Unwinds the fiber's stack (running its destructors) if it is
    /// suspended, and recycles the stack; see [`Coro::unwind`].
    pub(crate) fn unwind(&mut self) {
        // SAFETY: as in `resume`.
        unsafe { self.coro.unwind(&*self.info) }
    }
}

impl<I: 'static, Y: 'static, R: 'static> Drop for Fiber<I, Y, R> {
    fn drop(&mut self) {
        self.unwind();
    }
}

/// Records a fiber as running for the overflow handler (and for
/// [`nested`]), undoing it when dropped, even by a panic: one thread-local
/// pointer write each way.
struct Enter {
    cell: *const Cell<*const Running>,
    prev: *const Running,
}

impl Enter {
    /// # Safety
    /// `cell` is the calling thread's running cell; `info` stays alive
    /// and unmoved while the guard lives.
    #[inline]
    unsafe fn new(cell: *const Cell<*const Running>, info: *const Running) -> Enter {
        // SAFETY: `cell` is the running thread's own cell, alive as long
        // as the thread (the caller promised).
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
