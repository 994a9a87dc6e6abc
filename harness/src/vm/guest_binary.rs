//! The `lab` the guest runs as init: a stripped copy of the host's binary, cached by content
//! under `$LAB_CACHE/guest-lab/<sha256>/lab` (outside the clone, on the host's root, which the
//! guest reads over 9p).
//!
//! Why: the release binary carries ~55 MB of debug info; the guest pages it in over 9p and
//! its init started ~0.25 s later than a stripped copy's (measured under TCG). The host keeps
//! its debug build. Hashing 60 MB on every run would cost that much again, so the content
//! hash is remembered per file identity (device, inode, size, mtime) in `guest-lab/by-stat/`.
//! Any failure (no `strip`, a read-only cache) falls back to the host's own binary.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a stripped copy could not be had (the caller then uses the binary as it is).
#[derive(Debug, thiserror::Error)]
pub enum GuestBinaryError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("strip {}: {detail}", path.display())]
    Strip { path: PathBuf, detail: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GuestBinaryError + '_ {
    move |source| GuestBinaryError::Io { path: path.to_path_buf(), source }
}

/// The stripped copy of `host` in `cache`, made if it is not there yet.
pub fn stripped(host: &Path, cache: &Path) -> Result<PathBuf, GuestBinaryError> {
    let root = cache.join("guest-lab");
    let meta = std::fs::metadata(host).map_err(io(host))?;
    let by_stat = root.join("by-stat").join(stat_key(meta.dev(), meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec()));
    let hash = match std::fs::read_to_string(&by_stat) {
        Ok(h) if !h.trim().is_empty() => h.trim().to_string(),
        _ => {
            let h = hex::encode(Sha256::digest(std::fs::read(host).map_err(io(host))?));
            std::fs::create_dir_all(by_stat.parent().expect("by-stat dir")).map_err(io(&root))?;
            std::fs::write(&by_stat, &h).map_err(io(&by_stat))?;
            h
        }
    };
    let out = root.join(&hash).join("lab");
    if out.is_file() {
        return Ok(out);
    }
    let dir = out.parent().expect("hash dir");
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Strip into a temporary name, then rename: a half-written copy never looks finished.
    let partial = dir.join(format!(".lab.{}.partial", std::process::id()));
    let o = std::process::Command::new("strip")
        .arg("-o")
        .arg(&partial)
        .arg(host)
        .output()
        .map_err(|e| GuestBinaryError::Strip { path: host.to_path_buf(), detail: e.to_string() })?;
    if !o.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(GuestBinaryError::Strip { path: host.to_path_buf(), detail: String::from_utf8_lossy(&o.stderr).trim().to_string() });
    }
    std::fs::rename(&partial, &out).map_err(io(&out))?;
    Ok(out)
}

/// Pure: the name under which a file's content hash is remembered.
pub fn stat_key(dev: u64, ino: u64, size: u64, mtime: i64, mtime_nsec: i64) -> String {
    format!("{dev:x}-{ino:x}-{size}-{mtime}.{mtime_nsec:09}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_keys_differ_when_the_file_changes() {
        let k = stat_key(0x801, 42, 64_892_176, 1_764_137_160, 5);
        assert_eq!(k, "801-2a-64892176-1764137160.000000005");
        assert_ne!(k, stat_key(0x801, 42, 64_892_176, 1_764_137_160, 6));
        assert_ne!(k, stat_key(0x801, 43, 64_892_176, 1_764_137_160, 5));
    }

    #[test]
    fn strips_once_and_reuses_the_copy() {
        let cache = tempfile::tempdir().unwrap();
        let host = std::env::current_exe().unwrap();
        let Ok(first) = stripped(&host, cache.path()) else {
            return; // no `strip` on this machine: the caller falls back, nothing to test
        };
        assert!(std::fs::metadata(&first).unwrap().len() < std::fs::metadata(&host).unwrap().len());
        let mtime = std::fs::metadata(&first).unwrap().modified().unwrap();
        let again = stripped(&host, cache.path()).unwrap();
        assert_eq!(first, again);
        assert_eq!(std::fs::metadata(&again).unwrap().modified().unwrap(), mtime, "the copy is reused, not made again");
    }
}
