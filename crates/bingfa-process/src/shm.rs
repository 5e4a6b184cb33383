//! Shared memory regions (`memfd_create` + `mmap(MAP_SHARED)`), and how
//! handles that own a descriptor travel to a spawned child.
//!
//! A region is inherited by a forked child with the rest of the address
//! space (the mapping is shared, not copied). For a spawned child, a handle
//! serializes as the number of its descriptor, which [`Builder::spawn`]
//! keeps open across `exec`; the child maps it again. Serializing such a
//! handle anywhere else is an error: a descriptor number means nothing to
//! another process.
//!
//! [`Builder::spawn`]: crate::Builder::spawn

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::sys;

thread_local! {
    /// While `Some`: descriptors being passed to a spawned child.
    static PASSING: RefCell<Option<Vec<RawFd>>> = const { RefCell::new(None) };
    /// While `true`: deserializing a spawned child's arguments.
    static ATTACHING: RefCell<bool> = const { RefCell::new(false) };
    /// Why this crate last refused to deserialize one of its handles (the
    /// serde format keeps no message of its own: postcard reports any
    /// custom error as "Serde Deserialization Error").
    static REFUSAL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A deserialization error of this crate's own, for a handle that cannot
/// be received: the reason is kept for [`decode_attached`] to report.
pub(crate) fn refuse<E: serde::de::Error>(why: impl std::fmt::Display) -> E {
    let why = why.to_string();
    let e = E::custom(&why);
    REFUSAL.with(|r| *r.borrow_mut() = Some(why));
    e
}

/// Decodes a spawned child's arguments (attaching the handles in them); a
/// handle this crate refused is reported with the crate's own reason.
pub(crate) fn decode_attached<A: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<A, Error> {
    REFUSAL.with(|r| r.borrow_mut().take());
    let r = attaching(|| crate::codec::decode_plain(bytes));
    let why = REFUSAL.with(|r| r.borrow_mut().take());
    match (r, why) {
        (Err(Error::Corrupt(_)), Some(why)) => Err(Error::Corrupt(why)),
        (r, _) => r,
    }
}

/// Runs `f` (which serializes spawn arguments) and returns the descriptors
/// that the serialized handles refer to, without duplicates.
pub(crate) fn passing<R>(f: impl FnOnce() -> R) -> (R, Vec<RawFd>) {
    PASSING.with(|p| *p.borrow_mut() = Some(Vec::new()));
    let r = f();
    let mut fds = PASSING.with(|p| p.borrow_mut().take()).unwrap_or_default();
    fds.sort_unstable();
    fds.dedup();
    (r, fds)
}

/// Runs `f` (which deserializes spawn arguments in the child).
pub(crate) fn attaching<R>(f: impl FnOnce() -> R) -> R {
    ATTACHING.with(|a| *a.borrow_mut() = true);
    let r = f();
    ATTACHING.with(|a| *a.borrow_mut() = false);
    r
}

/// Serializes a descriptor for a spawned child.
pub(crate) fn serialize_fd<S: Serializer>(fd: RawFd, s: S) -> Result<S::Ok, S::Error> {
    let ok = PASSING.with(|p| match p.borrow_mut().as_mut() {
        Some(v) => {
            v.push(fd);
            true
        }
        None => false,
    });
    if !ok {
        return Err(serde::ser::Error::custom(
            "bingfa-process handles can only be serialized as arguments of Builder::spawn \
             (a forked child inherits them directly)",
        ));
    }
    fd.serialize(s)
}

/// Deserializes a descriptor in a spawned child and returns a duplicate
/// the caller owns (close-on-exec).
pub(crate) fn deserialize_fd<'de, D: Deserializer<'de>>(d: D) -> Result<OwnedFd, D::Error> {
    let fd = RawFd::deserialize(d)?;
    if !ATTACHING.with(|a| *a.borrow()) {
        return Err(refuse(
            "bingfa-process handles can only be deserialized in a spawned child",
        ));
    }
    // SAFETY: F_DUPFD_CLOEXEC on an inherited descriptor; a bad number
    // gives EBADF, reported below.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(refuse(format_args!(
            "inherited descriptor {fd}: {}",
            sys::last_error()
        )));
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// A shared memory region: a memfd and its `MAP_SHARED` mapping.
pub(crate) struct Shm {
    ptr: *mut u8,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the region is plain shared bytes; every access to it goes through
// atomics or through protocols (ring, locks) that are process- and
// thread-safe.
unsafe impl Send for Shm {}
// SAFETY: as above.
unsafe impl Sync for Shm {}

impl Shm {
    /// A new zero-filled region of `len` bytes.
    pub(crate) fn create(len: usize) -> Result<Arc<Shm>, Error> {
        let len = len.max(1);
        let create = |flags| {
            // SAFETY: a NUL-terminated name and valid flags.
            unsafe { libc::memfd_create(c"bingfa-process".as_ptr(), flags) }
        };
        let mut fd = create(libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING);
        if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // A kernel or sandbox that refuses sealing: an unsealed region.
            fd = create(libc::MFD_CLOEXEC);
        }
        if fd < 0 {
            return Err(Error::os());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ftruncate on our memfd.
        sys::cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) })?;
        // The size is fixed from now on: a process holding the descriptor
        // cannot shrink the region under the others' mappings (their next
        // access would be a SIGBUS). Best effort: a kernel that refuses
        // seals leaves the region as it was.
        // SAFETY: fcntl with integer arguments on our memfd.
        unsafe {
            libc::fcntl(
                fd.as_raw_fd(),
                libc::F_ADD_SEALS,
                libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
            )
        };
        Self::map(fd, len)
    }

    /// Maps an inherited region.
    pub(crate) fn attach(fd: OwnedFd) -> Result<Arc<Shm>, Error> {
        // SAFETY: a zeroed stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on our descriptor with a valid out pointer.
        sys::cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        Self::map(fd, st.st_size as usize)
    }

    fn map(fd: OwnedFd, len: usize) -> Result<Arc<Shm>, Error> {
        // SAFETY: mapping `len` bytes of our memfd, shared, read-write.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::os());
        }
        Ok(Arc::new(Shm {
            ptr: ptr.cast(),
            len,
            fd,
        }))
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; no reference into it
        // outlives the handles that keep this Arc alive.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

impl Serialize for Shm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.fd.as_raw_fd(), s)
    }
}

/// Deserializes an inherited region (spawned child only).
pub(crate) fn deserialize_shm<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Shm>, D::Error> {
    let fd = deserialize_fd(d)?;
    Shm::attach(fd).map_err(|e| refuse(format_args!("inherited shared memory: {e}")))
}

/// One `T` in its own shared memory region: the storage of the locks,
/// semaphores, events and values.
pub(crate) struct ShmBox<T> {
    shm: Arc<Shm>,
    _t: std::marker::PhantomData<T>,
}

impl<T> Clone for ShmBox<T> {
    fn clone(&self) -> Self {
        ShmBox {
            shm: self.shm.clone(),
            _t: std::marker::PhantomData,
        }
    }
}

/// A number that stands for the type `T` in every process running this
/// executable (a spawned child runs the same file: its fingerprint is
/// checked), kept in shared memory next to typed data so that a handle
/// received as another type is refused.
pub(crate) fn type_tag<T: 'static>() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    std::any::TypeId::of::<T>().hash(&mut h);
    std::mem::size_of::<T>().hash(&mut h);
    std::mem::align_of::<T>().hash(&mut h);
    h.finish()
}

impl<T> ShmBox<T> {
    /// A region of `size_of::<T>() + extra` bytes, with `value` at its
    /// start; `extra` bytes follow zero-filled.
    pub(crate) fn new_with_extra(value: T, extra: usize) -> Result<ShmBox<T>, Error> {
        let shm = Shm::create(std::mem::size_of::<T>() + extra)?;
        // SAFETY: the fresh mapping is page-aligned and large enough for a
        // T, and nobody else sees it yet.
        unsafe { shm.ptr().cast::<T>().write(value) };
        Ok(ShmBox {
            shm,
            _t: std::marker::PhantomData,
        })
    }

    pub(crate) fn new(value: T) -> Result<ShmBox<T>, Error> {
        Self::new_with_extra(value, 0)
    }

    /// The address of the `extra` bytes after the `T`.
    pub(crate) fn extra(&self) -> (*mut u8, usize) {
        let n = std::mem::size_of::<T>();
        // SAFETY: the region is at least size_of::<T>() bytes.
        (unsafe { self.shm.ptr().add(n) }, self.shm.len() - n)
    }
}

impl<T> std::ops::Deref for ShmBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the region holds a T written by `new` (in this process or
        // the one that made it), alive as long as `self.shm`; T is only
        // ever shared, its mutable parts are atomics or behind locks.
        unsafe { &*self.shm.ptr().cast::<T>() }
    }
}

impl<T> Serialize for ShmBox<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for ShmBox<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shm = deserialize_shm(d)?;
        if shm.len() < std::mem::size_of::<T>() {
            return Err(refuse(
                "inherited shared memory is smaller than the object it should hold",
            ));
        }
        Ok(ShmBox {
            shm,
            _t: std::marker::PhantomData,
        })
    }
}
