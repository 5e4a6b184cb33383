//! `cargo xtask`: bingfa's task runner. To be written.

fn main() {
    eprintln!("cargo xtask: not written yet");
    std::process::exit(2);
}
