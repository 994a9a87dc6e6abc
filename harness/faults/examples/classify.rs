//! The README's example, built by `cargo build --examples` and clippy's `--all-targets`: a
//! log's kernel reports, each with class, title and line, then a console read line by line.
//!
//! `cargo run --release -p lab-faults --example classify [FILE]` (no file: a built-in log).

use lab_faults::{scan, Collector, FaultClass};

const LOG: &str = "\
[   20.100100] ------------[ cut here ]------------
[   20.100200] WARNING: CPU: 0 PID: 230 at drivers/misc/lkdtm/bugs.c:89 lkdtm_WARNING+0x1b/0x30
[   20.100400] RIP: 0010:lkdtm_WARNING+0x1b/0x30
[   20.101000] ---[ end trace 0000000000000000 ]---
";

fn main() -> std::io::Result<()> {
    let text = match std::env::args().nth(1) {
        Some(path) => String::from_utf8_lossy(&std::fs::read(path)?).into_owned(),
        None => LOG.to_string(),
    };
    // A whole log at once.
    for fault in scan(&text) {
        println!("{} ({:?}, fatal: {}) at line {}", fault.title, fault.class, fault.fatal, fault.line_number);
    }
    // Or line by line, as a console arrives: a report is handed back when it ends.
    let mut collector = Collector::default();
    let mut warnings = 0;
    for line in text.lines() {
        warnings += collector.push(line).into_iter().filter(|f| f.class == FaultClass::Warning).count();
    }
    warnings += collector.flush().into_iter().filter(|f| f.class == FaultClass::Warning).count();
    println!("{warnings} warning(s)");
    Ok(())
}
