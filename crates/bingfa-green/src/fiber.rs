//! `Fiber`: a corosensei coroutine on a pooled [`GreenStack`], which tells
//! the overflow handler what runs on it at every switch and gives its stack
//! back to the pool when dropped.

use std::cell::Cell;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::error::Error;
use crate::overflow::{self, Running};
use crate::stack::GreenStack;

thread_local! {
    /// How many generator or greenlet resumes are on this OS thread's call
    /// chain now: hub calls that switch the green thread away are refused
    /// inside them.
    static NESTED: Cell<usize> = const { Cell::new(0) };
}

/// Whether code now runs inside a generator or a greenlet.
pub(crate) fn nested() -> bool {
    NESTED.with(|n| n.get() > 0)
}

pub(crate) struct Fiber<I: 'static, Y: 'static, R: 'static> {
    coro: Option<Coroutine<I, Y, R, GreenStack>>,
    info: Running,
    /// Owns the bytes `info.name` points at.
    _name: Box<str>,
    /// Counted in [`NESTED`] (generators and greenlets), not hub tasks.
    counted: bool,
}

impl<I: 'static, Y: 'static, R: 'static> Fiber<I, Y, R> {
    /// A fiber that will run `f` on a stack of `stack_size` bytes.
    pub(crate) fn new<F>(
        name: Box<str>,
        stack_size: usize,
        counted: bool,
        f: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        overflow::ensure_installed();
        let stack = GreenStack::get(stack_size)?;
        let (guard_lo, guard_hi) = stack.guard();
        let size = stack.size();
        let info = Running {
            guard_lo,
            guard_hi,
            size,
            name: name.as_ptr(),
            name_len: name.len(),
        };
        Ok(Fiber {
            coro: Some(Coroutine::with_stack(stack, f)),
            info,
            _name: name,
            counted,
        })
    }

    /// Whether the coroutine has returned (or panicked, or was unwound).
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
        let _g = Enter::new(self.info, self.counted);
        coro.resume(input)
    }

    /// Unwinds the fiber's stack (running its destructors) if it is
    /// suspended, and recycles the stack.
    pub(crate) fn unwind(&mut self) {
        if let Some(mut coro) = self.coro.take() {
            {
                let _g = Enter::new(self.info, self.counted);
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

/// Records the fiber as running for the overflow handler (and in
/// [`NESTED`]), undoing both when dropped, even by a panic.
struct Enter {
    prev: Running,
    counted: bool,
}

impl Enter {
    #[inline]
    fn new(info: Running, counted: bool) -> Enter {
        if counted {
            NESTED.with(|n| n.set(n.get() + 1));
        }
        Enter {
            prev: overflow::set_running(info),
            counted,
        }
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        overflow::set_running(self.prev);
        if self.counted {
            NESTED.with(|n| n.set(n.get() - 1));
        }
    }
}
