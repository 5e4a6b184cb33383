//! [`Value`] and [`Array`]: plain data in shared memory, each with its own
//! robust [`Lock`](crate::Lock)-style mutex.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, LockError};
use crate::lock::{wrap, RawLock};
use crate::shm::{self, type_tag, ShmBox};

/// Plain data that may live in shared memory: `Copy`, no pointers, no
/// references, no padding that matters, valid for the bit patterns other
/// processes write through this same type.
///
/// # Safety
/// The type must hold no pointer or reference (its values are seen by other
/// processes, at other addresses) and no resource with a destructor; every
/// value written by one process must be a valid value when another process
/// reads its bytes.
pub unsafe trait Plain: Copy + Send + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive number, valid for the bytes another process
        // writes through the same type.
        unsafe impl Plain for $t {}
    )* };
}
plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, char);
// SAFETY: arrays of plain data are plain.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

macro_rules! plain_tuple {
    ($($t:ident),*) => {
        // SAFETY: a tuple of plain data is plain; its layout is the same in
        // every process running this binary (fork and spawn both do).
        unsafe impl<$($t: Plain),*> Plain for ($($t,)*) {}
    };
}
plain_tuple!(A);
plain_tuple!(A, B);
plain_tuple!(A, B, C);
plain_tuple!(A, B, C, D);

#[repr(C)]
struct ValueCell<T> {
    lock: RawLock,
    /// [`type_tag`] of `T`, checked when the value is received.
    tag: u64,
    value: UnsafeCell<T>,
}

/// One value of plain data shared by processes, behind a robust lock.
/// Python: `multiprocessing.Value` (with `get_lock()`).
///
/// ```
/// let counter = bingfa_process::Value::new(0u64).unwrap();
/// let children: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = counter.clone();
///         bingfa_process::fork(move || {
///             for _ in 0..100 {
///                 *counter.lock().unwrap() += 1;
///             }
///         })
///         .unwrap()
///     })
///     .collect();
/// for c in children {
///     c.join().unwrap();
/// }
/// assert_eq!(counter.get(), 400);
/// ```
pub struct Value<T: Plain> {
    cell: ShmBox<ValueCell<T>>,
}

/// A value serializes as its shared memory descriptor: only as an argument
/// of [`Builder::spawn`](crate::Builder::spawn).
impl<T: Plain> Serialize for Value<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.cell.serialize(s)
    }
}

/// Received in a spawned child: the shared memory must hold a `Value` of
/// this very `T` (its type tag), or it is refused.
impl<'de, T: Plain> Deserialize<'de> for Value<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let cell = ShmBox::<ValueCell<T>>::deserialize(d)?;
        if cell.tag != type_tag::<T>() {
            return Err(shm::refuse(format_args!(
                "shared memory is not a bingfa-process Value of this type ({})",
                std::any::type_name::<T>()
            )));
        }
        Ok(Value { cell })
    }
}

impl<T: Plain> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            cell: self.cell.clone(),
        }
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value").field("value", &self.get()).finish()
    }
}

/// Access to a [`Value`] while holding its lock; derefs to the value.
/// Python: the body of `with v.get_lock():`.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Plain> {
    value: &'a Value<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: Plain> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the value's lock.
        unsafe { &*self.value.cell.value.get() }
    }
}

impl<T: Plain> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the value's lock, exclusively.
        unsafe { &mut *self.value.cell.value.get() }
    }
}

impl<T: Plain> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe { self.value.cell.lock.unlock() }
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValueGuard").field(&**self).finish()
    }
}

impl<T: Plain> Value<T> {
    /// A value in new shared memory. Python: `multiprocessing.Value(t, v)`.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory or its lock cannot be made.
    pub fn new(value: T) -> Result<Value<T>, Error> {
        // SAFETY: an all-zero mutex is a placeholder `init` overwrites.
        let lock = RawLock::placeholder();
        let cell = ShmBox::new(ValueCell {
            lock,
            tag: type_tag::<T>(),
            value: UnsafeCell::new(value),
        })?;
        // SAFETY: the box is fresh and not shared yet.
        unsafe { RawLock::init(&cell.lock as *const RawLock as *mut RawLock)? };
        Ok(Value { cell })
    }

    /// Locks the value. Python: `with v.get_lock(): v.value ...`.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] (with the guard) when the previous holder
    /// died while holding it, so the value may be half-updated;
    /// [`LockError::Os`] with `EDEADLK` if this thread already holds it.
    #[doc(alias = "get_lock")]
    pub fn lock(&self) -> Result<ValueGuard<'_, T>, LockError<ValueGuard<'_, T>>> {
        wrap(self.cell.lock.lock(None), || self.guard())
    }

    /// Locks the value if the lock is free now. Python:
    /// `v.get_lock().acquire(block=False)`.
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] if it is held, also by the calling thread
    /// (nothing changes); otherwise as for [`lock`](Value::lock).
    pub fn try_lock(&self) -> Result<ValueGuard<'_, T>, LockError<ValueGuard<'_, T>>> {
        wrap(self.cell.lock.try_lock_for(Duration::ZERO), || self.guard())
    }

    /// Locks the value, waiting at most `timeout`. Python:
    /// `v.get_lock().acquire(timeout=t)`.
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] at the deadline; otherwise as for
    /// [`lock`](Value::lock).
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ValueGuard<'_, T>, LockError<ValueGuard<'_, T>>> {
        wrap(self.cell.lock.try_lock_for(timeout), || self.guard())
    }

    fn guard(&self) -> ValueGuard<'_, T> {
        ValueGuard {
            value: self,
            _not_send: PhantomData,
        }
    }

    /// A copy of the value, read under the lock (a dead previous holder is
    /// ignored). Python: `v.value`.
    ///
    /// # Panics
    /// If this thread already holds the lock (`EDEADLK`).
    pub fn get(&self) -> T {
        *self.lock_anyway()
    }

    /// Stores `value` under the lock. Python: `v.value = x`.
    ///
    /// # Panics
    /// If this thread already holds the lock (`EDEADLK`).
    pub fn set(&self, value: T) {
        *self.lock_anyway() = value;
    }

    fn lock_anyway(&self) -> ValueGuard<'_, T> {
        match self.lock() {
            Ok(g) | Err(LockError::OwnerDied(g)) => g,
            Err(e) => panic!("bingfa-process: Value lock failed: {e}"),
        }
    }
}

#[repr(C)]
struct ArrayHead {
    lock: RawLock,
    len: usize,
    /// [`type_tag`] of the element type, checked when the array is
    /// received.
    tag: u64,
}

/// A fixed-length array of plain data shared by processes, behind one
/// robust lock. Python: `multiprocessing.Array`.
///
/// ```
/// let a = bingfa_process::Array::from_slice(&[1i32, 2, 3]).unwrap();
/// let c = {
///     let a = a.clone();
///     bingfa_process::fork(move || a.lock().unwrap().iter_mut().for_each(|x| *x = -*x)).unwrap()
/// };
/// c.join().unwrap();
/// assert_eq!(a.to_vec(), [-1, -2, -3]);
/// ```
pub struct Array<T: Plain> {
    head: ShmBox<ArrayHead>,
    /// The length, checked against the mapping when the array was made or
    /// received, and never read from the shared head again: any process
    /// that maps it can write there, and a stray write must not turn into
    /// an access out of the mapping.
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Plain> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            head: self.head.clone(),
            len: self.len,
            _t: PhantomData,
        }
    }
}

/// An array serializes as its shared memory descriptor: only as an
/// argument of [`Builder::spawn`](crate::Builder::spawn).
impl<T: Plain> Serialize for Array<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.head.serialize(s)
    }
}

/// Received in a spawned child: the shared head must be an array's of this
/// element type (its type tag), and its length must fit the mapping, or it
/// is not an `Array<T>`.
impl<'de, T: Plain> Deserialize<'de> for Array<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let head = ShmBox::<ArrayHead>::deserialize(d)?;
        let len = head.len;
        let (_, room) = head.extra();
        let fits = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(Self::data_offset()))
            .is_some_and(|b| b <= room);
        if !fits || head.tag != type_tag::<T>() {
            return Err(shm::refuse(format_args!(
                "shared memory is not a bingfa-process Array of this element type ({})",
                std::any::type_name::<T>()
            )));
        }
        Ok(Array {
            head,
            len,
            _t: PhantomData,
        })
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Array").field(&self.to_vec()).finish()
    }
}

/// Access to an [`Array`] while holding its lock; derefs to a slice.
/// Python: the body of `with a.get_lock():`.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Plain> {
    array: &'a Array<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: Plain> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the guard holds the lock; the elements follow the head.
        unsafe { std::slice::from_raw_parts(self.array.data(), self.array.len()) }
    }
}

impl<T: Plain> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: the guard holds the lock, exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.array.data(), self.array.len()) }
    }
}

impl<T: Plain> Drop for ArrayGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe { self.array.head.lock.unlock() }
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Plain> Array<T> {
    /// An array of `len` copies of `value`. Python:
    /// `multiprocessing.Array(t, len)`.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory or its lock cannot be made;
    /// [`Error::Invalid`] if the size overflows.
    pub fn new(len: usize, value: T) -> Result<Array<T>, Error> {
        let a = Self::alloc(len)?;
        // SAFETY: fresh, not shared; `len` elements fit after the head.
        unsafe {
            for i in 0..len {
                a.data().add(i).write(value);
            }
        }
        Ok(a)
    }

    /// An array holding a copy of `items`. Python:
    /// `multiprocessing.Array(t, [..])`.
    ///
    /// # Errors
    /// As for [`new`](Array::new).
    pub fn from_slice(items: &[T]) -> Result<Array<T>, Error> {
        let a = Self::alloc(items.len())?;
        // SAFETY: fresh, not shared; `len` elements fit after the head.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), a.data(), items.len()) };
        Ok(a)
    }

    fn alloc(len: usize) -> Result<Array<T>, Error> {
        let pad = Self::data_offset();
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(pad))
            .ok_or(Error::Invalid("array too large"))?;
        let head = ShmBox::new_with_extra(
            ArrayHead {
                lock: RawLock::placeholder(),
                len,
                tag: type_tag::<T>(),
            },
            bytes,
        )?;
        // SAFETY: the box is fresh and not shared yet.
        unsafe { RawLock::init(&head.lock as *const RawLock as *mut RawLock)? };
        Ok(Array {
            head,
            len,
            _t: PhantomData,
        })
    }

    /// Bytes between the end of the head and the first element (alignment).
    fn data_offset() -> usize {
        let head = std::mem::size_of::<ArrayHead>();
        head.next_multiple_of(std::mem::align_of::<T>().max(8)) - head
    }

    fn data(&self) -> *mut T {
        let (extra, _) = self.head.extra();
        // SAFETY: the elements start `data_offset` bytes into the extra
        // area, which `alloc` sized for them (and which Deserialize checked
        // holds `self.len` of them).
        unsafe { extra.add(Self::data_offset()).cast::<T>() }
    }

    /// The number of elements. Python: `len(a)`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements. Python: `len(a) == 0`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Locks the array. Python: `with a.get_lock(): ...`.
    ///
    /// # Errors
    /// As for [`Value::lock`].
    #[doc(alias = "get_lock")]
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>, LockError<ArrayGuard<'_, T>>> {
        wrap(self.head.lock.lock(None), || self.guard())
    }

    /// Locks the array if the lock is free now. Python:
    /// `a.get_lock().acquire(block=False)`.
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] if it is held, also by the calling thread
    /// (nothing changes); otherwise as for [`Value::lock`].
    pub fn try_lock(&self) -> Result<ArrayGuard<'_, T>, LockError<ArrayGuard<'_, T>>> {
        wrap(self.head.lock.try_lock_for(Duration::ZERO), || self.guard())
    }

    /// Locks the array, waiting at most `timeout`. Python:
    /// `a.get_lock().acquire(timeout=t)`.
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] at the deadline (nothing changes);
    /// otherwise as for [`Value::lock`].
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ArrayGuard<'_, T>, LockError<ArrayGuard<'_, T>>> {
        wrap(self.head.lock.try_lock_for(timeout), || self.guard())
    }

    fn guard(&self) -> ArrayGuard<'_, T> {
        ArrayGuard {
            array: self,
            _not_send: PhantomData,
        }
    }

    fn lock_anyway(&self) -> ArrayGuard<'_, T> {
        match self.lock() {
            Ok(g) | Err(LockError::OwnerDied(g)) => g,
            Err(e) => panic!("bingfa-process: Array lock failed: {e}"),
        }
    }

    /// Element `i`, read under the lock. Python: `a[i]`.
    ///
    /// # Panics
    /// If `i` is out of bounds, or this thread already holds the lock.
    pub fn get(&self, i: usize) -> T {
        self.lock_anyway()[i]
    }

    /// Stores element `i` under the lock. Python: `a[i] = x`.
    ///
    /// # Panics
    /// If `i` is out of bounds, or this thread already holds the lock.
    pub fn set(&self, i: usize, value: T) {
        self.lock_anyway()[i] = value;
    }

    /// A copy of every element, read under the lock. Python: `a[:]`.
    ///
    /// # Panics
    /// If this thread already holds the lock.
    pub fn to_vec(&self) -> Vec<T> {
        self.lock_anyway().to_vec()
    }
}

// SAFETY: the value is only reached through the process-shared lock.
unsafe impl<T: Plain> Sync for ValueCell<T> {}
// SAFETY: as above; T is Plain (Send).
unsafe impl<T: Plain> Send for ValueCell<T> {}

#[cfg(all(test, not(bingfa_loom)))]
mod tests {
    use super::*;

    /// What a spawned child does with its arguments, in this process: the
    /// handles travel as descriptors (kept open here), and are attached by
    /// the same code that runs in the child.
    fn receive_as<A: Serialize, B: serde::de::DeserializeOwned>(a: &A) -> Result<B, Error> {
        let (bytes, _fds) = shm::passing(|| crate::codec::encode_plain(a));
        shm::decode_attached::<B>(&bytes.unwrap())
    }

    #[test]
    fn a_shared_array_or_value_of_another_type_is_refused_with_the_reason() {
        let a = Array::from_slice(&[1u32, 2, 3]).unwrap();
        // Same size, other type: the length alone would let it through.
        for e in [
            receive_as::<_, Array<i32>>(&a).unwrap_err(),
            receive_as::<_, Array<u64>>(&a).unwrap_err(),
            receive_as::<_, Array<u8>>(&a).unwrap_err(),
        ] {
            let text = e.to_string();
            assert!(
                text.contains("not a bingfa-process Array of this element type"),
                "{text}"
            );
            assert!(!text.contains("Serde Deserialization Error"), "{text}");
        }
        let back: Array<u32> = receive_as(&a).unwrap();
        back.set(0, 9);
        assert_eq!(a.to_vec(), [9, 2, 3]);

        let v = Value::new(1.5f32).unwrap();
        let e = receive_as::<_, Value<u32>>(&v).unwrap_err().to_string();
        assert!(
            e.contains("not a bingfa-process Value of this type (u32)"),
            "{e}"
        );
        let back: Value<f32> = receive_as(&v).unwrap();
        back.set(2.5);
        assert_eq!(v.get(), 2.5);
        // Inside a tuple of arguments, the reason is the same.
        let e = receive_as::<_, (u8, Array<i32>)>(&(1u8, a.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("Array of this element type (i32)"), "{e}");
    }

    #[test]
    fn a_length_written_into_the_shared_head_changes_nothing() {
        // Any process mapping the array can write its head: the length is
        // taken once, when the array is made or received, so a stray write
        // to it cannot make a slice reach past the mapping.
        let a = Array::from_slice(&[1u32, 2, 3]).unwrap();
        let head = &*a.head as *const ArrayHead as *mut ArrayHead;
        // SAFETY: the head is in our own mapping; nothing else touches its
        // `len` in this test.
        unsafe { (*head).len = usize::MAX / 8 };
        assert_eq!(a.len(), 3);
        assert_eq!(a.to_vec(), [1, 2, 3]);
        a.lock().unwrap()[2] = 7;
        assert_eq!(a.clone().to_vec(), [1, 2, 7]);
    }
}
