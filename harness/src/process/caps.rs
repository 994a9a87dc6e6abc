//! Capability names and sets: `cap_sys_admin` <-> 21, and a set as a 64-bit mask, the
//! shape `capset(2)` and `/proc/PID/status` use.

use std::fmt;

/// Every capability Linux 6.1 knows, by number (`include/uapi/linux/capability.h`).
const NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// The number of capability `name`: `cap_sys_admin`, `CAP_SYS_ADMIN` and `sys_admin` all
/// name 21. `None` for a name Linux does not have.
pub fn number(name: &str) -> Option<u8> {
    let lower = name.trim().to_ascii_lowercase();
    let full = if lower.starts_with("cap_") { lower } else { format!("cap_{lower}") };
    NAMES.iter().position(|n| *n == full).map(|i| i as u8)
}

/// The name of capability `n` (`cap_sys_admin`), or `cap_<n>` for one newer than this table.
pub fn name(n: u8) -> String {
    NAMES.get(n as usize).map_or_else(|| format!("cap_{n}"), |s| s.to_string())
}

/// The highest capability number of the running kernel (`/proc/sys/kernel/cap_last_cap`),
/// else the last one of this table.
pub fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or((NAMES.len() - 1) as u8)
        .min(63)
}

/// A set of capabilities, bit `n` for capability `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    /// Capabilities 0..=`last`.
    pub fn all(last: u8) -> CapSet {
        CapSet(if last >= 63 { u64::MAX } else { (1u64 << (last + 1)) - 1 })
    }

    pub fn with(self, n: u8) -> CapSet {
        CapSet(self.0 | (1 << n))
    }

    pub fn without(self, n: u8) -> CapSet {
        CapSet(self.0 & !(1 << n))
    }

    pub fn has(self, n: u8) -> bool {
        n < 64 && self.0 & (1 << n) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The low and high 32 bits, as `capset(2)`'s two data words take them.
    pub fn words(self) -> [u32; 2] {
        [self.0 as u32, (self.0 >> 32) as u32]
    }
}

impl fmt::Display for CapSet {
    /// `cap_chown,cap_kill` or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = (0..64u8).filter(|n| self.has(*n)).map(name).collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_agree() {
        assert_eq!(number("cap_sys_admin"), Some(21));
        assert_eq!(number("CAP_SYS_RESOURCE"), Some(24));
        assert_eq!(number("sys_resource"), Some(24));
        assert_eq!(number("cap_checkpoint_restore"), Some(40));
        assert_eq!(number("cap_sys_admn"), None);
        assert_eq!(name(21), "cap_sys_admin");
        assert_eq!(name(50), "cap_50");
        for (i, n) in NAMES.iter().enumerate() {
            assert_eq!(number(n), Some(i as u8));
        }
    }

    #[test]
    fn sets_are_masks() {
        let all = CapSet::all(40);
        assert_eq!(all.0, 0x1ff_ffff_ffff);
        let s = all.without(21).without(24);
        assert!(!s.has(21) && !s.has(24) && s.has(0) && s.has(40));
        assert_eq!(s.words(), [0xfedf_ffff, 0x1ff]);
        assert_eq!(CapSet::default().with(5).with(0).to_string(), "cap_chown,cap_kill");
        assert_eq!(CapSet::default().to_string(), "none");
    }
}
