//! Green-local storage: a value per green thread, like `thread_local!` is
//! a value per OS thread.
//!
//! Python: `gevent.local.local`.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The values of one green thread (or, outside every green thread, of one
/// OS thread), by key id.
#[derive(Default)]
pub(crate) struct Locals {
    values: RefCell<Vec<(usize, Box<dyn Any>)>>,
}

impl Locals {
    /// The value of key `id`, made by `init` the first time. The pointer
    /// stays valid until [`drop_all`](Self::drop_all) (the boxes never
    /// move, and entries are only removed there).
    fn get_or_init<T: 'static>(&self, id: usize, init: fn() -> T) -> *const T {
        if let Some(p) = self.find::<T>(id) {
            return p;
        }
        // No borrow is held while `init` runs: it may use other keys.
        let value: Box<dyn Any> = Box::new(init());
        let mut values = self.values.borrow_mut();
        if let Some(p) = find_in::<T>(&values, id) {
            // `init` used this very key: keep the value it made, as
            // `thread_local!` keeps the first.
            return p;
        }
        values.push((id, value));
        find_in::<T>(&values, id).expect("just pushed")
    }

    fn find<T: 'static>(&self, id: usize) -> Option<*const T> {
        find_in(&self.values.borrow(), id)
    }

    /// Drops every value, running their destructors with no borrow held
    /// (a destructor may use green locals: values it makes are dropped in
    /// the next round, up to a few rounds; what is left after that is
    /// dropped with the `Locals` itself).
    pub(crate) fn drop_all(&self) {
        for _ in 0..4 {
            let values = std::mem::take(&mut *self.values.borrow_mut());
            if values.is_empty() {
                return;
            }
            drop(values);
        }
    }
}

fn find_in<T: 'static>(values: &[(usize, Box<dyn Any>)], id: usize) -> Option<*const T> {
    values.iter().find(|(k, _)| *k == id).map(|(_, v)| {
        v.downcast_ref::<T>()
            .expect("a green-local key always stores its own type") as *const T
    })
}

thread_local! {
    /// The values seen outside every green thread (the OS thread's own,
    /// like gevent's main greenlet), dropped when the OS thread ends.
    static THREAD_VALUES: Locals = Locals::default();
}

/// Key ids, unique in the process; 0 means "not assigned yet".
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A key to green-local storage: each green thread that uses it gets its
/// own value, made by the key's initialiser on first use in that green
/// thread and dropped when the green thread ends (returns, panics or is
/// killed). Declare keys with [`green_local!`](crate::green_local).
///
/// Green threads of one hub run on one OS thread and so share every
/// `thread_local!`; a `GreenLocal` is what tells them apart, as
/// `gevent.local.local` does for greenlets.
///
/// Where the value lives: in a green thread of a hub, that green thread's
/// (also inside a generator or greenlet it runs); anywhere else (outside a
/// hub, in greenlets and generators driven outside one) the OS thread's
/// own, dropped when the OS thread ends.
///
/// Python: `gevent.local.local`.
///
/// ```
/// use std::cell::Cell;
/// use bingfa_green::{green_local, run, spawn, yield_now};
///
/// green_local! {
///     static REQUEST_ID: Cell<u32> = Cell::new(0);
/// }
///
/// run(|| {
///     let hs: Vec<_> = (1..=3)
///         .map(|id| {
///             spawn(move || {
///                 REQUEST_ID.with(|r| r.set(id));
///                 yield_now(); // the others set theirs meanwhile
///                 REQUEST_ID.with(|r| r.get())
///             })
///         })
///         .collect();
///     let seen: Vec<u32> = hs.into_iter().map(|h| h.join().unwrap()).collect();
///     assert_eq!(seen, [1, 2, 3]);
/// })
/// .unwrap();
/// ```
#[doc(alias = "local")]
pub struct GreenLocal<T: 'static> {
    init: fn() -> T,
    id: AtomicUsize,
    _value: PhantomData<fn() -> T>,
}

impl<T: 'static> GreenLocal<T> {
    /// A key whose values start as `init()`. Use
    /// [`green_local!`](crate::green_local) rather than calling this
    /// directly.
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> Self {
        GreenLocal {
            init,
            id: AtomicUsize::new(0),
            _value: PhantomData,
        }
    }

    fn id(&self) -> usize {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        let fresh = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(won) => won,
        }
    }

    /// Calls `f` with the calling green thread's value, making it first
    /// if this green thread has not used the key yet. Use a `Cell` or
    /// `RefCell` inside to change it.
    ///
    /// Python: reading or setting an attribute of a `gevent.local.local`.
    ///
    /// # Panics
    /// If the initialiser panics, or (outside every green thread) during
    /// the OS thread's teardown, after its values were dropped.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let id = self.id();
        let p = match crate::sched::running_locals() {
            Some(locals) => locals.get_or_init(id, self.init),
            None => THREAD_VALUES.with(|l| l.get_or_init(id, self.init)),
        };
        // SAFETY: `p` points into a box owned by the current green thread's
        // (or OS thread's) `Locals`, and those boxes are freed only by
        // `drop_all` when that green thread has finished running user code
        // (or by the OS thread's teardown), never during `f`, which runs
        // on that green thread now. Only shared references are handed out.
        f(unsafe { &*p })
    }
}

impl<T: 'static> fmt::Debug for GreenLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenLocal").finish_non_exhaustive()
    }
}

/// Declares green-local keys ([`GreenLocal`]): `static NAME: T = init;`,
/// each green thread gets its own value, made by `init` on first use.
///
/// Python: `gevent.local.local()` (one attribute per key).
///
/// ```
/// use std::cell::RefCell;
/// bingfa_green::green_local! {
///     /// The user this green thread serves.
///     pub static USER: RefCell<String> = RefCell::new(String::new());
///     static HITS: std::cell::Cell<u64> = std::cell::Cell::new(0);
/// }
/// # USER.with(|u| u.borrow_mut().push_str("rose"));
/// # assert_eq!(USER.with(|u| u.borrow().clone()), "rose");
/// # HITS.with(|h| h.set(1));
/// ```
#[macro_export]
macro_rules! green_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::GreenLocal<$t> = $crate::GreenLocal::new({
            fn __green_local_init() -> $t {
                $init
            }
            __green_local_init
        });
        $crate::green_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::green_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}
