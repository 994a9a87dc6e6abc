//! Triage throughput: `lab_faults::scan` over a 100 MB console log on one thread, the way
//! `lab triage` reads a node's log. The log is the crash corpus (`tests/data/crashes/`)
//! repeated until it is 100 MB: mostly ordinary boot and run lines with real reports in
//! between. Prints MB/s and the faults found; the goal is at least 100 MB/s.
//!
//! `cargo bench -p lab-faults --bench triage` (`LAB_TRIAGE_MB=20` for a smaller log).

use std::path::Path;
use std::time::Instant;

fn corpus_text() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/crashes/syzkaller");
    let mut files: Vec<_> = std::fs::read_dir(root).expect("corpus").map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = String::new();
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(f).expect("corpus file")).into_owned();
        out.push_str(text.split_once("\n\n").map_or(&text[..], |(_, log)| log));
        out.push('\n');
    }
    out
}

fn main() {
    let mb: usize = std::env::var("LAB_TRIAGE_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let one = corpus_text();
    let mut log = String::with_capacity(mb << 20);
    while log.len() < mb << 20 {
        log.push_str(&one);
    }
    let t = Instant::now();
    let faults = lab_faults::scan(&log);
    let secs = t.elapsed().as_secs_f64();
    let size = log.len() as f64 / (1 << 20) as f64;
    println!("triage: {size:.0} MB, {} lines, {} faults in {secs:.2} s: {:.0} MB/s", log.lines().count(), faults.len(), size / secs);
}
