//! An `UnsafeCell` with loom's closure-style API on both sides, so that loom
//! can check every access to the data a primitive protects.

/// `UnsafeCell` with `with` / `with_mut` accessors (loom's API).
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct UnsafeCell<T: ?Sized> {
    #[cfg(not(bingfa_loom))]
    inner: core::cell::UnsafeCell<T>,
    #[cfg(bingfa_loom)]
    inner: loom::cell::UnsafeCell<T>,
}

impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    #[cfg(not(bingfa_loom))]
    #[inline]
    pub const fn new(value: T) -> Self {
        Self {
            inner: core::cell::UnsafeCell::new(value),
        }
    }

    /// Wraps `value`.
    #[cfg(bingfa_loom)]
    #[inline]
    pub fn new(value: T) -> Self {
        Self {
            inner: loom::cell::UnsafeCell::new(value),
        }
    }

    /// Unwraps the value.
    #[inline]
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> UnsafeCell<T> {
    /// Runs `f` with a shared pointer to the value. The caller must make sure
    /// no `&mut` to the value exists while `f` dereferences it.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        #[cfg(not(bingfa_loom))]
        {
            f(self.inner.get())
        }
        #[cfg(bingfa_loom)]
        {
            self.inner.with(f)
        }
    }

    /// Runs `f` with a mutable pointer to the value. The caller must make sure
    /// the access is exclusive while `f` dereferences it.
    #[inline]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(not(bingfa_loom))]
        {
            f(self.inner.get())
        }
        #[cfg(bingfa_loom)]
        {
            self.inner.with_mut(f)
        }
    }

    /// A mutable reference through exclusive access to the cell.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        #[cfg(not(bingfa_loom))]
        {
            self.inner.get_mut()
        }
        #[cfg(bingfa_loom)]
        {
            // SAFETY: `&mut self` proves that no other access to the value exists.
            self.inner.with_mut(|p| unsafe { &mut *p })
        }
    }
}
