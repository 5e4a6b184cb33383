//! The API the three queues share, written once.
//!
//! Every public queue type is `struct $name<T> { core: Arc<Core<T, F>> }`;
//! this macro gives it the same methods, docs (with each type's name in its
//! examples) and trait impls.

macro_rules! queue_api {
    ($name:ident, [$($bound:tt)*]) => {
        impl<T $($bound)*> $name<T> {
            /// Puts `item` at the back of the queue, waiting while the
            /// queue is full.
            ///
            /// Python: `queue.Queue.put(item)` (`block=True`, no timeout).
            ///
            /// # Errors
            /// [`PutError`](crate::PutError) holding `item` when the queue
            /// is closed, before or during the wait.
            ///
            /// # Examples
            /// ```
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(1);")]
            /// q.put(7).unwrap();
            /// assert_eq!(q.len(), 1);
            /// ```
            #[inline]
            pub fn put(&self, item: T) -> Result<(), $crate::PutError<T>> {
                self.core.put(item)
            }

            /// Puts `item` if there is room right now, without waiting.
            ///
            /// Python: `queue.Queue.put_nowait(item)` (`put(item, block=False)`).
            ///
            /// # Errors
            /// [`TryPutError::Full`](crate::TryPutError::Full) when the
            /// queue is at its capacity, [`TryPutError::Closed`](crate::TryPutError::Closed)
            /// when it is closed; both hand `item` back.
            ///
            /// # Examples
            /// ```
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(1);")]
            /// q.try_put(1).unwrap();
            /// let err = q.try_put(2).unwrap_err();
            /// assert!(err.is_full());
            /// assert_eq!(err.into_inner(), 2);
            /// ```
            #[doc(alias = "put_nowait")]
            #[inline]
            pub fn try_put(&self, item: T) -> Result<(), $crate::TryPutError<T>> {
                self.core.try_put(item)
            }

            /// Puts `item`, waiting at most `timeout` for room. A zero
            /// timeout means [`try_put`](Self::try_put).
            ///
            /// Python: `queue.Queue.put(item, timeout=t)`.
            ///
            /// # Errors
            /// [`PutTimeoutError::Timeout`](crate::PutTimeoutError::Timeout)
            /// when the queue stayed full, [`PutTimeoutError::Closed`](crate::PutTimeoutError::Closed)
            /// when it is closed; both hand `item` back.
            ///
            /// # Examples
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(1);")]
            /// q.put_timeout(1, Duration::from_millis(10)).unwrap();
            /// let err = q.put_timeout(2, Duration::from_millis(10)).unwrap_err();
            /// assert!(err.is_timeout());
            /// ```
            #[doc(alias = "put")]
            #[inline]
            pub fn put_timeout(
                &self,
                item: T,
                timeout: core::time::Duration,
            ) -> Result<(), $crate::PutTimeoutError<T>> {
                self.core.put_timeout(item, timeout)
            }

            /// Takes the next item, waiting while the queue is empty. Once
            /// the queue is closed, returns what is left and then errors.
            ///
            /// Python: `queue.Queue.get()` (`block=True`, no timeout).
            ///
            /// # Errors
            /// [`GetError`](crate::GetError) when the queue is closed and
            /// empty.
            ///
            /// # Examples
            /// ```
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(0);")]
            /// q.put(5).unwrap();
            /// q.close();
            /// assert_eq!(q.get(), Ok(5));
            /// assert!(q.get().is_err());
            /// ```
            #[inline]
            pub fn get(&self) -> Result<T, $crate::GetError> {
                self.core.get()
            }

            /// Takes the next item if there is one right now, without
            /// waiting.
            ///
            /// Python: `queue.Queue.get_nowait()` (`get(block=False)`).
            ///
            /// # Errors
            /// [`TryGetError::Empty`](crate::TryGetError::Empty) when the
            /// queue is empty, [`TryGetError::Closed`](crate::TryGetError::Closed)
            /// when it is closed and empty.
            ///
            /// # Examples
            /// ```
            /// use bingfa_queue::TryGetError;
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::<i32>::new(0);")]
            /// assert_eq!(q.try_get(), Err(TryGetError::Empty));
            /// ```
            #[doc(alias = "get_nowait")]
            #[inline]
            pub fn try_get(&self) -> Result<T, $crate::TryGetError> {
                self.core.try_get()
            }

            /// Takes the next item, waiting at most `timeout` for one. A
            /// zero timeout means [`try_get`](Self::try_get).
            ///
            /// Python: `queue.Queue.get(timeout=t)`.
            ///
            /// # Errors
            /// [`GetTimeoutError::Timeout`](crate::GetTimeoutError::Timeout)
            /// when the queue stayed empty, [`GetTimeoutError::Closed`](crate::GetTimeoutError::Closed)
            /// when it is closed and empty.
            ///
            /// # Examples
            /// ```
            /// use std::time::Duration;
            /// use bingfa_queue::GetTimeoutError;
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::<i32>::new(0);")]
            /// let err = q.get_timeout(Duration::from_millis(10)).unwrap_err();
            /// assert_eq!(err, GetTimeoutError::Timeout);
            /// ```
            #[doc(alias = "get")]
            #[inline]
            pub fn get_timeout(
                &self,
                timeout: core::time::Duration,
            ) -> Result<T, $crate::GetTimeoutError> {
                self.core.get_timeout(timeout)
            }

            /// How many items are in the queue now. Other threads may change
            /// it at once: use it for monitoring, not to decide whether a
            /// `get` will wait.
            ///
            /// Python: `queue.Queue.qsize()`.
            #[doc(alias = "qsize")]
            #[inline]
            pub fn len(&self) -> usize {
                self.core.len()
            }

            /// Whether the queue holds no item now (a snapshot, as
            /// [`len`](Self::len)).
            ///
            /// Python: `queue.Queue.empty()`.
            #[doc(alias = "empty")]
            #[inline]
            pub fn is_empty(&self) -> bool {
                self.core.len() == 0
            }

            /// Whether the queue is at its capacity now (never for an
            /// unbounded queue; a snapshot, as [`len`](Self::len)).
            ///
            /// Python: `queue.Queue.full()`.
            #[doc(alias = "full")]
            #[inline]
            pub fn is_full(&self) -> bool {
                self.core.is_full()
            }

            /// The capacity given at creation; `None` for an unbounded queue.
            ///
            /// Python: `queue.Queue.maxsize` (where 0 means unbounded).
            #[doc(alias = "maxsize")]
            #[inline]
            pub fn capacity(&self) -> Option<usize> {
                match self.core.capacity() {
                    0 => None,
                    cap => Some(cap),
                }
            }

            /// Marks one item taken from the queue as processed. Every
            /// successful put adds one unfinished task; every `task_done`
            /// finishes one, and when none is left, [`join`](Self::join)
            /// returns.
            ///
            /// Python: `queue.Queue.task_done()`.
            ///
            /// # Errors
            /// [`TaskDoneError`](crate::TaskDoneError) when there is no
            /// unfinished task left (one call too many); the count does not
            /// wrap.
            ///
            /// # Examples
            /// ```
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(0);")]
            /// q.put(1).unwrap();
            /// q.get().unwrap();
            /// q.task_done().unwrap();
            /// assert!(q.task_done().is_err());
            /// ```
            #[inline]
            pub fn task_done(&self) -> Result<(), $crate::TaskDoneError> {
                self.core.task_done()
            }

            /// How many items were put and not yet marked done with
            /// [`task_done`](Self::task_done) (a snapshot).
            ///
            /// Python: `queue.Queue.unfinished_tasks`.
            #[inline]
            pub fn unfinished_tasks(&self) -> u64 {
                self.core.unfinished_tasks()
            }

            /// Waits until every item ever put has been marked done with
            /// [`task_done`](Self::task_done). Returns at once when none is
            /// unfinished. Closing the queue does not end the wait: the
            /// items left still need their `task_done`.
            ///
            /// Python: `queue.Queue.join()`.
            ///
            /// # Examples
            /// ```
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(0);")]
            /// let worker = {
            ///     let q = q.clone();
            ///     std::thread::spawn(move || {
            ///         while let Ok(_item) = q.get() {
            ///             q.task_done().unwrap();
            ///         }
            ///     })
            /// };
            /// for i in 0..10 {
            ///     q.put(i).unwrap();
            /// }
            /// q.join(); // every item has been processed
            /// assert_eq!(q.unfinished_tasks(), 0);
            /// q.close();
            /// worker.join().unwrap();
            /// ```
            #[inline]
            pub fn join(&self) {
                self.core.join()
            }

            /// As [`join`](Self::join), giving up after `timeout`. Returns
            /// `true` when every task is done, `false` on timeout. A zero
            /// timeout only checks.
            ///
            /// Python: none (`queue.Queue.join` has no timeout).
            #[doc(alias = "join")]
            #[inline]
            pub fn join_timeout(&self, timeout: core::time::Duration) -> bool {
                self.core.join_timeout(timeout)
            }

            /// Closes the queue: every later put fails and hands its item
            /// back, getters take what is left and then see `Closed`, and
            /// every thread blocked in a put or get wakes up. Returns `true`
            /// for the call that closed it, `false` if it was closed
            /// already. It never reopens. The items left still need their
            /// [`task_done`](Self::task_done) for [`join`](Self::join) to
            /// return; [`close_immediately`](Self::close_immediately) takes
            /// them out instead.
            ///
            /// Python: `queue.Queue.shutdown()` (3.13, `immediate=False`).
            ///
            /// # Examples
            /// ```
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert!(q.close());
            /// assert!(q.put(2).is_err());
            /// assert_eq!(q.get(), Ok(1));
            /// assert!(q.get().is_err());
            /// ```
            #[doc(alias = "shutdown")]
            #[inline]
            pub fn close(&self) -> bool {
                self.core.close()
            }

            /// Closes the queue and takes every item still in it out at
            /// once, in the order gets would have taken them: Python 3.13's
            /// `shutdown(immediate=True)`. Each item taken out counts as
            /// done for [`join`](Self::join) (never more than are
            /// unfinished), every blocked getter and putter wakes and sees
            /// `Closed`, and joiners look again: they return once the items
            /// that getters already took are marked done too. Python drops
            /// the items; here they are returned (drop the `Vec` to do as
            /// Python). Calling it on a closed queue drains what is left.
            ///
            /// Python: `queue.Queue.shutdown(immediate=True)` (3.13).
            ///
            /// # Panics
            /// For a [`PriorityQueue`](crate::PriorityQueue), if `T`'s `Ord`
            /// panics while the items are taken out in order: the queue is
            /// closed, emptied and its tasks counted all the same, and the
            /// panic goes on (the items are dropped with it).
            ///
            /// # Examples
            /// ```
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(0);")]
            /// q.put(1).unwrap();
            /// q.put(2).unwrap();
            /// let left = q.close_immediately();
            /// assert_eq!(left.len(), 2);
            /// assert!(q.is_closed());
            /// assert!(q.get().is_err()); // nothing left to drain
            /// assert_eq!(q.unfinished_tasks(), 0); // the items count as done
            /// q.join(); // so join returns
            /// ```
            #[doc(alias = "shutdown")]
            pub fn close_immediately(&self) -> Vec<T> {
                self.core.close_immediately()
            }

            /// An iterator that [`get`](Self::get)s items until the queue
            /// is closed and drained: it blocks while the queue is empty
            /// and open. It does not call [`task_done`](Self::task_done).
            ///
            /// Python: the loop `while True: item = q.get()` that ends with
            /// `queue.ShutDown` (3.13).
            ///
            /// # Examples
            /// ```
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(0);")]
            /// let producer = {
            ///     let q = q.clone();
            ///     std::thread::spawn(move || {
            ///         for i in 0..3 {
            ///             q.put(i).unwrap();
            ///         }
            ///         q.close(); // ends the iteration once drained
            ///     })
            /// };
            /// let mut got: Vec<i32> = q.iter().collect();
            /// got.sort();
            /// assert_eq!(got, [0, 1, 2]);
            /// producer.join().unwrap();
            /// ```
            pub fn iter(&self) -> $crate::Iter<'_, Self> {
                $crate::Iter::new(self)
            }

            /// An iterator that takes the items in the queue now, without
            /// waiting ([`try_get`](Self::try_get) until it fails). It does
            /// not call [`task_done`](Self::task_done).
            ///
            /// Python: `get_nowait()` until `queue.Empty`.
            ///
            /// # Examples
            /// ```
            #[doc = concat!("let q = bingfa_queue::", stringify!($name), "::new(0);")]
            /// q.put(1).unwrap();
            /// q.put(1).unwrap();
            /// assert_eq!(q.try_iter().sum::<i32>(), 2);
            /// assert_eq!(q.try_iter().count(), 0);
            /// ```
            pub fn try_iter(&self) -> $crate::TryIter<'_, Self> {
                $crate::TryIter::new(self)
            }

            /// Whether [`close`](Self::close) was called.
            ///
            /// Python: `queue.Queue.is_shutdown` (3.13).
            #[doc(alias = "is_shutdown")]
            #[inline]
            pub fn is_closed(&self) -> bool {
                self.core.is_closed()
            }

            /// Whether two handles refer to the same queue.
            #[inline]
            pub fn same_queue(&self, other: &Self) -> bool {
                std::sync::Arc::ptr_eq(&self.core, &other.core)
            }
        }

        /// Another handle to the same queue (the queue lives while any
        /// handle does).
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                Self {
                    core: std::sync::Arc::clone(&self.core),
                }
            }
        }

        impl<T $($bound)*> core::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &self.len())
                    .field("capacity", &self.capacity())
                    .field("unfinished_tasks", &self.unfinished_tasks())
                    .field("closed", &self.is_closed())
                    .finish()
            }
        }

        impl<'a, T $($bound)*> Iterator for $crate::Iter<'a, $name<T>> {
            type Item = T;

            /// The next item, waiting for one; `None` once the queue is
            /// closed and drained.
            fn next(&mut self) -> Option<T> {
                self.queue().get().ok()
            }
        }

        impl<'a, T $($bound)*> Iterator for $crate::TryIter<'a, $name<T>> {
            type Item = T;

            /// The next item if there is one now.
            fn next(&mut self) -> Option<T> {
                self.queue().try_get().ok()
            }
        }

        impl<T $($bound)*> Iterator for $crate::IntoIter<$name<T>> {
            type Item = T;

            /// The next item, waiting for one; `None` once the queue is
            /// closed and drained.
            fn next(&mut self) -> Option<T> {
                self.queue().get().ok()
            }
        }

        /// Gets items until the queue is closed and drained, as `iter()`.
        impl<'a, T $($bound)*> IntoIterator for &'a $name<T> {
            type Item = T;
            type IntoIter = $crate::Iter<'a, $name<T>>;

            fn into_iter(self) -> Self::IntoIter {
                self.iter()
            }
        }

        /// Gets items until the queue is closed and drained, as `iter()`,
        /// holding this handle.
        impl<T $($bound)*> IntoIterator for $name<T> {
            type Item = T;
            type IntoIter = $crate::IntoIter<$name<T>>;

            fn into_iter(self) -> Self::IntoIter {
                $crate::IntoIter::new(self)
            }
        }

        /// An unbounded queue.
        impl<T $($bound)*> Default for $name<T> {
            fn default() -> Self {
                Self::unbounded()
            }
        }
    };
}
