//! kmemleak on a debug kernel built with it (`kernel.debug: [kmemleak]`): one scan when the
//! scenario has ended, with the kernel printing each leak itself (`verbose`), so the report
//! reaches the console and is titled and counted like any other.

use std::path::Path;

const CONTROL: &str = "/sys/kernel/debug/kmemleak";
const VERBOSE: &str = "/sys/module/kmemleak/parameters/verbose";

/// Scans for unreferenced objects and says how many are known now (this scan's and earlier
/// ones'); `None` when this kernel has no kmemleak. Blocking: a scan reads all of memory,
/// seconds under TCG.
pub fn scan() -> Option<std::io::Result<usize>> {
    if !Path::new(CONTROL).exists() {
        return None;
    }
    Some(
        std::fs::write(VERBOSE, "1")
            .and_then(|()| std::fs::write(CONTROL, "scan"))
            .and_then(|()| std::fs::read_to_string(CONTROL))
            .map(|listing| unreferenced(&listing)),
    )
}

/// The objects in kmemleak's listing.
fn unreferenced(listing: &str) -> usize {
    listing.lines().filter(|l| l.starts_with("unreferenced object ")).count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_the_objects_of_a_listing() {
        // The listing's shape, from mm/kmemleak.c's print_unreferenced (6.1).
        let listing = "unreferenced object 0xffff888004b3c780 (size 64):\n  comm \"ip\", pid 212, jiffies 4294901234\n  backtrace:\n    [<00000000a1b2c3d4>] kmalloc_trace+0x26/0x90\nunreferenced object 0xffff888004b3c800 (size 32):\n";
        assert_eq!(super::unreferenced(listing), 2);
        assert_eq!(super::unreferenced(""), 0);
    }
}
