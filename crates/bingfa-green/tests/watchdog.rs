//! The watchdog names a green thread that runs too long without yielding.

use std::sync::mpsc;
use std::time::Duration;

use bingfa_green::{sleep, spawn, Builder, Hub};

#[test]
fn watchdog_names_the_hog_and_not_the_polite() {
    let (tx, rx) = mpsc::channel();
    Hub::new()
        .watchdog_with(Duration::from_millis(50), move |r| {
            let _ = tx.send(r.clone());
        })
        .run(|| {
            let polite = spawn(|| {
                for _ in 0..20 {
                    sleep(Duration::from_millis(5));
                }
            });
            let hog = Builder::new()
                .name("hog")
                .spawn(|| std::thread::sleep(Duration::from_millis(300)))
                .unwrap();
            hog.join().unwrap();
            polite.join().unwrap();
        })
        .unwrap();
    let reports: Vec<_> = rx.try_iter().collect();
    assert!(!reports.is_empty(), "the watchdog fired");
    assert!(reports.iter().all(|r| r.name == "hog"), "{reports:?}");
    assert_eq!(
        reports.len(),
        1,
        "one long run is reported once: {reports:?}"
    );
    assert!(reports[0].running_for >= Duration::from_millis(50));
    assert!(reports[0].to_string().contains("'hog'"));
}
