//! `bingfa-cluster worker --redis URL` and `bingfa-cluster status`, with
//! the built-in functions (`bingfa.noop`, `bingfa.sleep_ms`,
//! `bingfa.spin_ms`, `bingfa.whoami`). A program with functions of its own
//! calls `bingfa_cluster::cli::main_with(its_registry)` instead.

fn main() -> std::process::ExitCode {
    bingfa_cluster::cli::main_with(bingfa_cluster::builtin::registry())
}
