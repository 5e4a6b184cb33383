//! Thread queues with Python's semantics (work in progress).
