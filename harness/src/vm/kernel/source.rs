//! Debian's kernel source: find the `linux-source-<base>` tarball and unpack it once into
//! the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::KernelError;

/// `/usr/src/linux-source-<base>.tar.xz`, as the Debian package installs it.
pub fn tarball(base: &str) -> PathBuf {
    PathBuf::from(format!("/usr/src/linux-source-{base}.tar.xz"))
}

/// The installed Debian package version of `linux-source-<base>` (part of the cache key).
pub fn package_version(base: &str) -> Result<String, KernelError> {
    let tar = tarball(base);
    if !tar.is_file() {
        return Err(KernelError::MissingSource { base: base.to_string(), path: tar });
    }
    let out = Command::new("dpkg-query").args(["-W", "-f=${Version}", &format!("linux-source-{base}")]).output();
    match out {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        // Not from a package (copied by hand): identify it by size and modification time.
        _ => {
            let meta = std::fs::metadata(&tar).map_err(|e| KernelError::io(&tar, e))?;
            let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
            Ok(format!("file-{}-{mtime}", meta.len()))
        }
    }
}

/// The unpacked tree `<cache>/src/linux-source-<base>-<version>`, unpacking it if needed.
/// Unpacks into a temporary directory and renames, so a killed unpack leaves no half tree.
pub fn unpacked(cache: &Path, base: &str, version: &str) -> Result<PathBuf, KernelError> {
    let dir = cache.join("src").join(format!("linux-source-{base}-{version}"));
    if dir.join("Makefile").is_file() {
        return Ok(dir);
    }
    let parent = cache.join("src");
    std::fs::create_dir_all(&parent).map_err(|e| KernelError::io(&parent, e))?;
    let tmp = tempfile::Builder::new().prefix(".unpack-").tempdir_in(&parent).map_err(|e| KernelError::io(&parent, e))?;
    let tar = tarball(base);
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(tmp.path())
        .status()
        .map_err(|e| KernelError::Tool { tool: "tar".into(), detail: e.to_string() })?;
    if !status.success() {
        return Err(KernelError::Tool { tool: "tar".into(), detail: format!("unpacking {} failed ({status})", tar.display()) });
    }
    let inner = tmp.path().join(format!("linux-source-{base}"));
    std::fs::rename(&inner, &dir).map_err(|e| KernelError::io(&dir, e))?;
    Ok(dir)
}
