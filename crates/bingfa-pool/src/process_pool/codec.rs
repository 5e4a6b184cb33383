//! The process pool's encoding of arguments, results and messages:
//! postcard, whole values only (bytes left over are an error).

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::panic_message;

/// Encodes `value`; the error is the serializer's reason. A `Serialize`
/// impl that panics is an error too (its message), not a panic here.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    match catch_unwind(AssertUnwindSafe(|| postcard::to_stdvec(value))) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(p) => Err(format!(
            "the Serialize impl panicked: {}",
            panic_message(&*p)
        )),
    }
}

/// Decodes a whole `T` from `bytes`; the error says why not.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes(bytes) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(format!("{} bytes left after the value", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}
