//! `Generator<Y, R, S>`: a function that can stop in the middle (`yield`),
//! hand a value out, and later go on from where it stopped.
//!
//! Python: a generator function (`def f(): ... yield x ...`), driven with
//! `next(g)` and `g.send(v)`.

use std::fmt;

use corosensei::{CoroutineResult, Yielder};

use crate::error::Error;
use crate::fiber::Fiber;
use crate::stack::DEFAULT_STACK_SIZE;

/// What [`Generator::resume`] gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeneratorState<Y, R> {
    /// The generator stopped at a `yield_` with this value; it can be
    /// resumed again.
    Yielded(Y),
    /// The generator's function returned this value; it is finished.
    ///
    /// Python: `StopIteration.value`.
    Complete(R),
}

/// The generator's side: [`yield_`](Co::yield_) hands a value to whoever
/// resumed it and waits to be resumed again.
#[repr(transparent)]
pub struct Co<Y, S = ()> {
    yielder: Yielder<S, Y>,
}

impl<Y, S> Co<Y, S> {
    fn from_yielder(y: &Yielder<S, Y>) -> &Co<Y, S> {
        // SAFETY: `Co` is `repr(transparent)` over `Yielder<S, Y>`, so the
        // two have the same layout and the reference keeps its lifetime.
        unsafe { &*(y as *const Yielder<S, Y>).cast::<Co<Y, S>>() }
    }

    /// Stops the generator, handing `value` to the caller of
    /// [`Generator::resume`] (or [`send`](Generator::send)); returns the
    /// value the next `send` passes in (`()` for `resume`).
    ///
    /// Python: the `yield` expression (`x = yield value`).
    #[doc(alias = "yield")]
    pub fn yield_(&self, value: Y) -> S {
        self.yielder.suspend(value)
    }
}

impl<Y, S> fmt::Debug for Co<Y, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Co")
    }
}

/// A function that runs on its own stack and stops at each
/// [`Co::yield_`], giving control (and a value) back to its caller.
///
/// `Y` is what it yields, `R` what it finally returns, `S` what
/// [`send`](Generator::send) passes in (the value of `yield_`). With
/// `R = ()` and `S = ()` it is an [`Iterator`] of its yields.
///
/// Python: a generator object.
///
/// ```
/// use bingfa_green::{Generator, GeneratorState};
///
/// // Python: def count(n): for i in range(n): yield i; return "done"
/// let mut g = Generator::new(|co| {
///     for i in 0..3 {
///         co.yield_(i);
///     }
///     "done"
/// });
/// assert_eq!(g.resume(), GeneratorState::Yielded(0));
/// assert_eq!(g.resume(), GeneratorState::Yielded(1));
/// assert_eq!(g.resume(), GeneratorState::Yielded(2));
/// assert_eq!(g.resume(), GeneratorState::Complete("done"));
/// assert!(g.is_done());
///
/// // With R = (), a generator is an iterator.
/// let squares: Vec<u32> = Generator::new(|co| (1..=4).for_each(|i| co.yield_(i * i))).collect();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
///
/// A generator is `!Send`: it stays on the OS thread that made it.
///
/// ```compile_fail
/// fn must_be_send<T: Send>(_: T) {}
/// must_be_send(bingfa_green::Generator::new(|co| co.yield_(1)));
/// ```
pub struct Generator<Y: 'static, R: 'static = (), S: 'static = ()> {
    fiber: Fiber<S, Y, R>,
}

impl<Y: 'static, R: 'static, S: 'static> Generator<Y, R, S> {
    /// A generator that will run `f` when first resumed, on a stack of
    /// [`DEFAULT_STACK_SIZE`](crate::DEFAULT_STACK_SIZE) bytes.
    ///
    /// Python: calling a generator function.
    ///
    /// # Panics
    /// If no stack can be mapped ([`Error::OutOfStacks`]); use
    /// [`try_new`](Self::try_new) to get the error instead.
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Co<Y, S>) -> R + 'static,
    {
        Self::try_new(DEFAULT_STACK_SIZE, f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A generator on a stack of `stack_size` bytes (rounded up to pages,
    /// at least [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE)).
    ///
    /// # Errors
    /// [`Error::OutOfStacks`] if no stack can be mapped.
    pub fn try_new<F>(stack_size: usize, f: F) -> Result<Self, Error>
    where
        F: FnOnce(&Co<Y, S>) -> R + 'static,
    {
        let fiber = Fiber::new(
            "generator".into(),
            stack_size,
            true,
            move |y: &Yielder<S, Y>, _first: S| f(Co::from_yielder(y)),
        )?;
        Ok(Generator { fiber })
    }

    /// Runs the generator until its next `yield_` (giving `S`'s value to
    /// the `yield_` it stopped at; the first send's value is dropped, as
    /// Python requires `None` there) or its end.
    ///
    /// Python: `g.send(value)`.
    ///
    /// # Panics
    /// If the generator is already complete (Python: `StopIteration`), and
    /// with the generator's own panic if it panics (it is then complete).
    pub fn send(&mut self, value: S) -> GeneratorState<Y, R> {
        assert!(
            !self.fiber.done(),
            "resumed a generator that is already complete"
        );
        match self.fiber.resume(value) {
            CoroutineResult::Yield(y) => GeneratorState::Yielded(y),
            CoroutineResult::Return(r) => GeneratorState::Complete(r),
        }
    }

    /// Whether the generator's function has returned (or panicked).
    pub fn is_done(&self) -> bool {
        self.fiber.done()
    }

    /// Whether it has been resumed at least once.
    pub fn is_started(&self) -> bool {
        self.fiber.started()
    }
}

impl<Y: 'static, R: 'static> Generator<Y, R, ()> {
    /// Runs the generator until its next `yield_` or its end.
    ///
    /// Python: `next(g)` (and `StopIteration` carrying the return value).
    ///
    /// # Panics
    /// As [`send`](Self::send).
    #[doc(alias = "next")]
    pub fn resume(&mut self) -> GeneratorState<Y, R> {
        self.send(())
    }
}

impl<Y: 'static> Iterator for Generator<Y, (), ()> {
    type Item = Y;

    /// The next yielded value; `None` once the generator returned (and
    /// every time after).
    fn next(&mut self) -> Option<Y> {
        if self.fiber.done() {
            return None;
        }
        match self.resume() {
            GeneratorState::Yielded(y) => Some(y),
            GeneratorState::Complete(()) => None,
        }
    }
}

impl<Y: 'static, R: 'static, S: 'static> fmt::Debug for Generator<Y, R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("started", &self.fiber.started())
            .field("done", &self.fiber.done())
            .finish()
    }
}
