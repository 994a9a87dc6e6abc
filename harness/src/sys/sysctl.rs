//! Sysctls through `/proc/sys`, in the initial namespace or inside a named one.
//!
//! Which namespace a `net.*` key belongs to is decided by the thread that opens the file, so
//! per-namespace keys are read and written from a thread inside that namespace
//! ([`super::in_netns`]). Keys are written like sysctl(8): `net.ipv4.ip_forward`, or with `/`
//! separators when a component contains a dot (`net/ipv4/conf/eth0.5/rp_filter`).

use std::io;
use std::path::{Path, PathBuf};

/// `/proc/sys/...` for `key`.
pub fn key_path(key: &str) -> PathBuf {
    let rel = if key.contains('/') { key.trim_matches('/').to_string() } else { key.replace('.', "/") };
    Path::new("/proc/sys").join(rel)
}

/// The value of `key` (trimmed), in the namespace at `netns` or the caller's own.
/// `Ok(None)` when the key does not exist on this kernel.
pub fn read(netns: Option<&Path>, key: &str) -> io::Result<Option<String>> {
    let path = key_path(key);
    let read = move || match std::fs::read_to_string(&path) {
        Ok(v) => Ok(Some(v.trim_end_matches('\n').to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    match netns {
        None => read(),
        Some(ns) => super::in_netns(ns, read)?,
    }
}

/// Sets `key` to `value` in the namespace at `netns` or the caller's own. A key missing on
/// this kernel is a `NotFound` error.
pub fn write(netns: Option<&Path>, key: &str, value: &str) -> io::Result<()> {
    let path = key_path(key);
    let value = value.to_string();
    let write = move || {
        // Open without O_CREAT: /proc/sys has no files to create, and a missing key must
        // say NotFound rather than something odd.
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
        f.write_all(value.as_bytes())
    };
    match netns {
        None => write(),
        Some(ns) => super::in_netns(ns, write)?,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_sys() {
        assert_eq!(key_path("net.ipv4.ip_forward"), Path::new("/proc/sys/net/ipv4/ip_forward"));
        assert_eq!(key_path("net/ipv4/conf/eth0.5/rp_filter"), Path::new("/proc/sys/net/ipv4/conf/eth0.5/rp_filter"));
    }

    #[test]
    fn missing_keys_read_as_none() {
        assert_eq!(read(None, "net.ipv4.no_such_key_in_any_kernel").unwrap(), None);
        assert!(read(None, "kernel.ostype").unwrap().is_some_and(|v| v == "Linux"));
    }
}
