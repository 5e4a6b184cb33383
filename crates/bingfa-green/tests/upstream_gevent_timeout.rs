//! gevent's `Timeout` tests, ported.
//!
//! Upstream: gevent/gevent, `src/gevent/tests/test__timeout.py` (revision
//! 0fea2c754ea7e61453419a744114d997eacd9a1b, 2025-11-26), read at gevent
//! 26.5.0+ (04752c48). MIT licence, Copyright (c) 2009-2015 Denis
//! Bilenko and gevent contributors.
//!
//! One Rust test per upstream test, in a module named after its class in
//! snake case; the others are listed with the reason in
//! `crates/bingfa-green/PARITY.md`.
//!
//! Translation: `get_hub().switch()` (block with nothing else to wake the
//! greenlet but the Timeout) is `block_on(pending())`; `except Timeout as
//! ex: if ex is not timeout: raise` is `timeout.catch(..)`; `with
//! timeout:` is `timeout.run(..)`.

use std::future::pending;
use std::time::Duration;

use bingfa_green::{block_on, run, sleep, with_timeout, Error, Timeout};

const SHOULD_EXPIRE: Duration = Duration::from_millis(10);
/// gevent uses `SHOULD_EXPIRE * 20` on CI, as loaded as this machine.
const SHOULD_NOT_EXPIRE: Duration = Duration::from_millis(200);

mod test {
    use super::*;

    /// `_test(timeout, close)`: blocks until `timeout` raises; it must be
    /// that Timeout.
    fn check(timeout: &Timeout, close: bool) {
        let r = timeout.catch(|| block_on(pending::<()>()));
        assert!(
            matches!(r, Err(Error::Timeout(d)) if d == timeout.duration()),
            "{r:?}"
        );
        if close {
            timeout.cancel();
        }
    }

    /// `_check_expires`: it expires, and again when restarted.
    fn check_expires(timeout: &Timeout) {
        timeout.start().unwrap();
        check(timeout, false);
        timeout.start().unwrap();
        check(timeout, true);
    }

    #[test]
    fn test_expires() {
        run(|| check_expires(&Timeout::new(SHOULD_EXPIRE))).unwrap();
    }

    #[test]
    fn test_context_manager() {
        run(|| {
            let timeout = Timeout::new(SHOULD_EXPIRE);
            let r = timeout.run(|| block_on(pending::<()>()));
            assert!(matches!(r, Err(Error::Timeout(d)) if d == SHOULD_EXPIRE));
        })
        .unwrap();
    }

    #[test]
    fn test_cancel() {
        run(|| {
            let timeout = Timeout::new(SHOULD_EXPIRE);
            timeout.start().unwrap();
            timeout.cancel();
            sleep(SHOULD_NOT_EXPIRE);
            assert!(!timeout.pending());
            timeout.cancel(); // close
        })
        .unwrap();
    }

    #[test]
    fn test_with_timeout() {
        run(|| {
            let r = with_timeout(SHOULD_EXPIRE, || sleep(SHOULD_NOT_EXPIRE));
            assert!(matches!(r, Err(Error::Timeout(_))));
            // `timeout_value=X`: the caller's fallback.
            let x = "X";
            let r = with_timeout(SHOULD_EXPIRE, || {
                sleep(SHOULD_NOT_EXPIRE);
                "slept"
            })
            .unwrap_or(x);
            assert_eq!(r, "X");
            let r = with_timeout(SHOULD_NOT_EXPIRE, || sleep(SHOULD_EXPIRE));
            assert!(r.is_ok());
        })
        .unwrap();
    }
}
