//! The command line of a worker host: `worker` and `status`. The crate's
//! own binary (`bingfa-cluster`) runs it with the [`builtin`](crate::builtin)
//! functions; a program with functions of its own calls [`main_with`] with
//! its registry, and its hosts need nothing else.

use std::process::ExitCode;
use std::time::Duration;

use crate::event::Event;
use crate::status::Status;
use crate::task::Registry;
use crate::worker::Worker;

/// The usage text.
pub const USAGE: &str = "\
usage:
  bingfa-cluster worker [--redis URL] [--pool NAME] [--concurrency N] [--prefetch N]
                        [--name ID] [--host NAME] [--lease-ms MS] [--quiet]
  bingfa-cluster status [--redis URL] [--pool NAME]
  bingfa-cluster functions

URL defaults to $BINGFA_REDIS_URL, else redis://127.0.0.1:6379/.
A worker stops gracefully on SIGTERM or Ctrl-C: it finishes the tasks it
holds and takes nothing new.";

/// Runs the command line in `std::env::args()` with the functions of
/// `registry`, printing to stdout and stderr; returns the exit code.
///
/// Call it first thing in `main`, before any other thread starts: it calls
/// [`bingfa_pool::init`] first, so that a worker's processes come from a
/// fork server (a fresh run of this program) rather than from a fork of
/// the worker process and its threads.
pub fn main_with(registry: Registry) -> ExitCode {
    bingfa_pool::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&args, registry)
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn number<T: std::str::FromStr>(args: &[String], name: &str) -> Result<Option<T>, String> {
    match flag(args, name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} wants a number, not {v:?}")),
    }
}

/// Runs one command line (without the program name).
pub fn run(args: &[String], registry: Registry) -> ExitCode {
    let url = flag(args, "--redis")
        .map(str::to_owned)
        .or_else(|| std::env::var("BINGFA_REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".to_owned());
    let pool = flag(args, "--pool").unwrap_or("default").to_owned();
    match args.first().map(String::as_str) {
        Some("worker") => match worker(args, &url, &pool, registry) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bingfa-cluster worker: {e}");
                ExitCode::FAILURE
            }
        },
        Some("status") => match Status::fetch(&url, &pool) {
            Ok(s) => {
                print!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bingfa-cluster status: {e}");
                ExitCode::FAILURE
            }
        },
        Some("functions") => {
            for (name, version, sig) in registry.functions() {
                println!("{name}  version {version}  {sig}");
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn worker(args: &[String], url: &str, pool: &str, registry: Registry) -> Result<(), String> {
    let quiet = args.iter().any(|a| a == "--quiet");
    let mut b = Worker::builder(url).pool_name(pool).registry(registry);
    if let Some(n) = number(args, "--concurrency")? {
        b = b.concurrency(n);
    }
    if let Some(n) = number(args, "--prefetch")? {
        b = b.prefetch(n);
    }
    if let Some(ms) = number::<u64>(args, "--lease-ms")? {
        b = b.lease(Duration::from_millis(ms));
    }
    if let Some(n) = flag(args, "--name") {
        b = b.name(n);
    }
    if let Some(h) = flag(args, "--host") {
        b = b.host(h);
    }
    if !quiet {
        b = b.on_event(|e| match e {
            Event::Completed { .. } => {}
            e => eprintln!("bingfa-cluster worker: {e:?}"),
        });
    }
    let w = b.start().map_err(|e| e.to_string())?;
    if !quiet {
        eprintln!(
            "bingfa-cluster worker {} on host {} serving pool {pool} at {}",
            w.id(),
            w.host(),
            crate::conn::shown_url(url)
        );
    }
    w.run_until_signal().map_err(|e| e.to_string())?;
    Ok(())
}
