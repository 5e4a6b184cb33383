//! [`FnRef`]: a plain function pointer in a form that another process
//! running the same executable can turn back into the same function.
//!
//! A function's address changes from one run of a program to the next
//! (address space layout randomization), but its distance from any other
//! function of the same executable does not. So an `FnRef` stores the
//! function's offset from a fixed function of this crate, and
//! [`get`](FnRef::get) adds it to that function's address in the process
//! that reads it. The spawn start method finds its entry point the same
//! way; a process pool uses it to name the `fn(A) -> R` a worker should run.
//!
//! In a forked child the address space is a copy of the parent's, so an
//! `FnRef` made before the fork is valid there too (whatever library the
//! function lives in). In a spawned child, or any other process running the
//! same executable file, it is valid when the function is part of the
//! executable itself (statically linked, the Rust default) rather than of a
//! shared library loaded at its own random address.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The fixed point every offset is taken from: a function of this crate,
/// which is part of the same executable as the functions it measures.
#[inline(never)]
fn base() -> usize {
    base as fn() -> usize as usize
}

mod sealed {
    pub trait Sealed {}
}

/// A plain function pointer type (`fn() -> R`, `fn(A) -> R`,
/// `fn(A, B) -> R`, `fn(A, B, C) -> R`; `R` may be `()`), which
/// [`FnRef`] can store. Sealed: only these types implement it.
pub trait FnPtr: Copy + sealed::Sealed {
    /// The function's address.
    fn addr(self) -> usize;

    /// The function pointer at `addr`.
    ///
    /// # Safety
    /// `addr` must be the address of a function of exactly this type, in
    /// the current process.
    unsafe fn from_addr(addr: usize) -> Self;
}

macro_rules! fn_ptr {
    ($($arg:ident),*) => {
        impl<$($arg,)* R> sealed::Sealed for fn($($arg),*) -> R {}

        impl<$($arg,)* R> FnPtr for fn($($arg),*) -> R {
            fn addr(self) -> usize {
                self as usize
            }

            unsafe fn from_addr(addr: usize) -> Self {
                // SAFETY: the caller promises that `addr` is the address of
                // a function of this type (so it is also not null); a
                // function pointer has the size of a `usize`.
                unsafe { std::mem::transmute::<usize, fn($($arg),*) -> R>(addr) }
            }
        }
    };
}

fn_ptr!();
fn_ptr!(A);
fn_ptr!(A, B);
fn_ptr!(A, B, C);

/// A function pointer of type `F` that another process running the same
/// executable (a forked or spawned child, a pool worker) can call.
///
/// It is stored as the function's offset from a fixed function of this
/// crate; [`into_raw`](FnRef::into_raw) / [`from_raw`](FnRef::from_raw)
/// and serde turn it into a `u64` and back. Making one is safe; calling
/// [`get`](FnRef::get) is `unsafe`, because nothing in the number proves
/// where it came from.
///
/// Where it is valid: in the process that made it and in its forked
/// children (the address space is a copy); in a spawned child or any other
/// process running the same executable file, when the function is part of
/// the executable itself (statically linked, the Rust default) rather than
/// of a shared library loaded at its own random address.
///
/// Python has no such type: `pickle` sends a function by its qualified name,
/// which the other process imports; here the executable's layout plays the
/// part of the module.
///
/// ```
/// use bingfa_process::FnRef;
///
/// fn double(x: u32) -> u32 {
///     2 * x
/// }
///
/// let r = FnRef::new(double as fn(u32) -> u32);
/// // `raw` is what travels to the other process (or serialize `r`).
/// let raw = r.into_raw();
/// let back = FnRef::<fn(u32) -> u32>::from_raw(raw);
/// // SAFETY: made from a `fn(u32) -> u32` of this executable.
/// let f = unsafe { back.get() };
/// assert_eq!(f(21), 42);
/// ```
pub struct FnRef<F> {
    offset: u64,
    _f: PhantomData<F>,
}

impl<F> Clone for FnRef<F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for FnRef<F> {}

impl<F> PartialEq for FnRef<F> {
    fn eq(&self, other: &Self) -> bool {
        self.offset == other.offset
    }
}

impl<F> Eq for FnRef<F> {}

impl<F> fmt::Debug for FnRef<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnRef")
            .field("offset", &(self.offset as i64))
            .finish()
    }
}

impl<F: FnPtr> FnRef<F> {
    /// The reference to `f`. A closure that captures nothing coerces to a
    /// function pointer: `FnRef::new((|x| x + 1) as fn(i32) -> i32)`.
    pub fn new(f: F) -> FnRef<F> {
        FnRef {
            offset: f.addr().wrapping_sub(base()) as u64,
            _f: PhantomData,
        }
    }

    /// The function pointer, in the current process.
    ///
    /// # Safety
    /// This `FnRef<F>` (or the raw value it was rebuilt from) must have been
    /// made by [`new`](FnRef::new) with the same `F`, in this process, in a
    /// process it was forked from, or in a process running the same
    /// executable file (unchanged on disk), when the function is part of
    /// the executable (not of a shared library). Any other value gives a
    /// pointer to arbitrary code.
    pub unsafe fn get(self) -> F {
        let addr = base().wrapping_add(self.offset as usize);
        // SAFETY: by the caller's promise, `offset` is the distance from
        // `base` to a function of type `F`, and that distance is the same
        // in this process.
        unsafe { F::from_addr(addr) }
    }
}

impl<F> FnRef<F> {
    /// The offset as a number, to send to another process.
    pub fn into_raw(self) -> u64 {
        self.offset
    }

    /// Rebuilds a reference from [`into_raw`](FnRef::into_raw)'s number.
    /// Safe in itself: using it is [`get`](FnRef::get), which is `unsafe`.
    pub fn from_raw(raw: u64) -> FnRef<F> {
        FnRef {
            offset: raw,
            _f: PhantomData,
        }
    }
}

/// Serializes as the `u64` offset.
impl<F> Serialize for FnRef<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.offset)
    }
}

impl<'de, F> Deserialize<'de> for FnRef<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(FnRef::from_raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(a: i64, b: i64) -> i64 {
        a + b
    }

    fn unit() {}

    #[test]
    fn round_trip_through_raw_and_serde() {
        let r = FnRef::new(add as fn(i64, i64) -> i64);
        let bytes = crate::codec::encode_plain(&r).unwrap();
        let back: FnRef<fn(i64, i64) -> i64> = crate::codec::decode_plain(&bytes).unwrap();
        assert_eq!(back, r);
        // SAFETY: made from a `fn(i64, i64) -> i64` in this process.
        let f = unsafe { FnRef::<fn(i64, i64) -> i64>::from_raw(back.into_raw()).get() };
        assert_eq!(f(40, 2), 42);
        let u = FnRef::new(unit as fn());
        assert_ne!(u.into_raw(), r.into_raw());
        // SAFETY: as above.
        let g = unsafe { u.get() };
        g();
    }

    #[test]
    fn valid_in_a_forked_child() {
        let r = FnRef::new(add as fn(i64, i64) -> i64);
        let child_main = move || {
            // SAFETY: made before the fork, in the same address space.
            let f = unsafe { r.get() };
            assert_eq!(f(3, 4), 7);
        };
        // SAFETY: the test harness's other threads run other tests; the closure
        // calls a function and asserts, and takes no lock they may hold.
        let p = unsafe { crate::fork(child_main) }.unwrap();
        // A panic in the child (wrong function) would be exit code 1.
        assert_eq!(p.join().unwrap(), crate::ExitStatus::Code(0));
    }
}
