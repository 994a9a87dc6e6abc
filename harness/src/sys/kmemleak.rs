//! kmemleak on a debug kernel built with it (`kernel.debug: [kmemleak]`): one scan when the
//! scenario has ended, with the kernel printing each leak itself (`verbose`), so the report
//! reaches the console and is titled and counted like any other.

use std::path::Path;

const CONTROL: &str = "/sys/kernel/debug/kmemleak";
const VERBOSE: &str = "/sys/module/kmemleak/parameters/verbose";

/// Scans for unreferenced objects; `None` when this kernel has no kmemleak. Blocking: a scan
/// reads all of memory, seconds under TCG.
pub fn scan() -> Option<std::io::Result<()>> {
    if !Path::new(CONTROL).exists() {
        return None;
    }
    Some(std::fs::write(VERBOSE, "1").and_then(|()| std::fs::write(CONTROL, "scan")))
}
