//! Deadlock detection: the wait-for graph, its watchdog, and lock order
//! checking (lockdep). To be written.
