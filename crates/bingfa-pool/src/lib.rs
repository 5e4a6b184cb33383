//! Thread-pool executor and futures (work in progress).
