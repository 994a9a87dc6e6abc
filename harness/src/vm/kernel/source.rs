//! Debian's kernel source: find the `linux-source-<version>` tarball — installed on the
//! host, or fetched from the release that ships it into the lab cache ([`crate::archive`])
//! — and unpack it once into the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::KernelError;
use crate::scenario::KernelVersion;

/// A kernel's source tarball and the Debian package version it came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub tarball: PathBuf,
    /// Debian's version of `linux-source-<version>` (`5.10.223-1`): part of every cache key.
    pub version: String,
}

/// `/usr/src/linux-source-<version>.tar.xz`, as the Debian package installs it.
pub fn installed_tarball(kernel: KernelVersion) -> PathBuf {
    PathBuf::from(format!("/usr/src/{}.tar.xz", kernel.package()))
}

/// The host's package if it is installed, else (for a kernel of another release) the one
/// fetched into `cache`, fetching it the first time.
pub fn locate(cache: &Path, kernel: KernelVersion) -> Result<Source, KernelError> {
    let installed = installed_tarball(kernel);
    if installed.is_file() {
        return Ok(Source { version: package_version(kernel, &installed)?, tarball: installed });
    }
    let Some(release) = kernel.fetched_from() else {
        return Err(KernelError::MissingSource { base: kernel.to_string(), path: installed });
    };
    let archive = crate::archive::Archive::new(cache);
    let fetch = |e: crate::archive::ArchiveError| KernelError::Fetch { kernel, release, source: e };
    let version = archive.candidate(&kernel.package()).map_err(fetch)?;
    let unpacked = archive.unpacked(&kernel.package(), &version).map_err(fetch)?;
    let tarball = unpacked.root.join(installed.strip_prefix("/").expect("absolute"));
    if !tarball.is_file() {
        return Err(KernelError::MissingSource { base: kernel.to_string(), path: tarball });
    }
    Ok(Source { tarball, version })
}

/// The installed Debian package version of `linux-source-<version>` (part of the cache key).
fn package_version(kernel: KernelVersion, tar: &Path) -> Result<String, KernelError> {
    let out = Command::new("dpkg-query").args(["-W", "-f=${Version}", &kernel.package()]).output();
    match out {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        // Not from a package (copied by hand): identify it by size and modification time.
        _ => {
            let meta = std::fs::metadata(tar).map_err(|e| KernelError::io(tar, e))?;
            let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
            Ok(format!("file-{}-{mtime}", meta.len()))
        }
    }
}

/// The unpacked tree `<cache>/src/linux-source-<kernel>-<version>`, unpacking it if needed.
/// Unpacks into a temporary directory and renames, so a killed unpack leaves no half tree.
pub fn unpacked(cache: &Path, kernel: KernelVersion, source: &Source) -> Result<PathBuf, KernelError> {
    let base = kernel.name();
    let dir = cache.join("src").join(format!("linux-source-{base}-{}", source.version));
    if dir.join("Makefile").is_file() {
        return Ok(dir);
    }
    let parent = cache.join("src");
    std::fs::create_dir_all(&parent).map_err(|e| KernelError::io(&parent, e))?;
    let tmp = tempfile::Builder::new().prefix(".unpack-").tempdir_in(&parent).map_err(|e| KernelError::io(&parent, e))?;
    let tar = &source.tarball;
    let status = Command::new("tar")
        .arg("-xf")
        .arg(tar)
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
