//! No handle, joined, dropped or leaked, leaves a zombie.

use std::time::{Duration, Instant};

/// Our children that are zombies right now.
fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let rest: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split(' ').collect();
        if rest[0] == "Z" && rest[1].parse::<u32>() == Ok(me) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn no_zombies_after_1000_short_lived_children() {
    let mut kept = Vec::new();
    for i in 0..1000 {
        let p = bingfa_process::fork(|| {}).unwrap();
        match i % 4 {
            0 => assert!(p.join().unwrap().success()),
            1 => drop(p),
            2 => std::mem::forget(p),
            _ => kept.push(p),
        }
    }
    // Every child has exited by now or will shortly; the reaper collects
    // the dropped and leaked ones, the kept ones too.
    let t = Instant::now();
    loop {
        let z = zombie_children();
        if z.is_empty() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "zombies left: {z:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in &kept {
        assert!(p.join().unwrap().success());
    }
}
