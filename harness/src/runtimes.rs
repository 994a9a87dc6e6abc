//! OCI runtimes by version: the host's own (`runc` on `PATH`), or another Debian release's
//! fetched from the archive ([`crate::archive`]: bullseye's `runc 1.0.0~rc93+ds1-5+deb11u5`)
//! and kept content-keyed under `$LAB_CACHE/runtimes/<name>-<sha256>/`, never installed.
//!
//! [`fetch`] runs on the host before a run (it may download); [`resolve`] only looks (in
//! the guest the cache is the host's, over read-only 9p). A version is asked for the way
//! people say it (`1.0.0~rc93`): it matches a Debian version whose upstream part, up to
//! `+` or `-`, is it, or the full Debian version. Every resolved binary has said its
//! `--version` and has its sha256 taken, for the verdict. [`delete_containers`] is `lab
//! clean`'s part: what any known runtime still lists under a dead run's runtime root.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::archive::{Archive, ArchiveError};

/// Why a runtime cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("`{0}` is not on this host (Debian: apt-get install runc)")]
    NotInstalled(String),
    #[error("{runtime} {version} has not been fetched into {}: `lab run` fetches it on the host before the VM boots", cache.display())]
    NotFetched { runtime: String, version: String, cache: PathBuf },
    #[error("{runtime} {version} cannot be had: Debian's archive offers {offered}; the host has {host}")]
    Unavailable { runtime: String, version: String, offered: String, host: String },
    #[error("{} says `{said}`, not version {want}", path.display())]
    WrongVersion { path: PathBuf, said: String, want: String },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// A runtime binary ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    /// Its own word (`1.0.0~rc93+ds1`, from `runc --version`).
    pub version: String,
    pub sha256: String,
}

impl std::fmt::Display for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} version {} (sha256 {})", self.path.display(), self.version, self.sha256)
    }
}

/// Whether Debian version `debian` is what `asked` names.
pub fn version_matches(asked: &str, debian: &str) -> bool {
    let upstream = debian.split(['+', '-']).next().unwrap_or(debian);
    asked == debian || asked == upstream || debian.starts_with(&format!("{asked}+")) || debian.starts_with(&format!("{asked}-"))
}

/// `$LAB_CACHE`, else `/var/cache/lab` (the rule of the kernel cache; in the guest the
/// default, which is the host's own over 9p).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("LAB_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/lab"))
}

fn runtimes_dir(cache: &Path) -> PathBuf {
    cache.join("runtimes")
}

/// The runtime to run: the host's when `version` is `None` or the host's own, else the one
/// fetched into `cache`. Never downloads.
pub fn resolve(runtime: &str, version: Option<&str>, cache: &Path) -> Result<Resolved, RuntimeError> {
    let host = host_binary(runtime);
    if let Some(path) = &host {
        let said = said_version(path)?;
        if version.is_none_or(|v| said.starts_with(v)) {
            return with_sha(path.clone(), said);
        }
    }
    let Some(want) = version else { return Err(RuntimeError::NotInstalled(runtime.into())) };
    for entry in std::fs::read_dir(runtimes_dir(cache)).into_iter().flatten().flatten() {
        let dir = entry.path();
        let debian = std::fs::read_to_string(dir.join("debian-version")).unwrap_or_default();
        let named = dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{runtime}-")));
        if named && version_matches(want, debian.trim()) {
            let path = dir.join(runtime);
            let said = said_version(&path)?;
            return with_sha(path, said);
        }
    }
    Err(RuntimeError::NotFetched { runtime: runtime.into(), version: want.into(), cache: runtimes_dir(cache) })
}

/// [`resolve`], fetching from the archive what is not there yet (host side).
pub fn fetch(runtime: &str, version: &str, cache: &Path) -> Result<Resolved, RuntimeError> {
    match resolve(runtime, Some(version), cache) {
        Err(RuntimeError::NotFetched { .. }) => {}
        other => return other,
    }
    let archive = Archive::new(cache);
    archive.candidate(runtime)?; // the lists, fetched once
    let offered = archive.versions(runtime).unwrap_or_default();
    let Some(debian) = offered.iter().find(|v| version_matches(version, v)) else {
        return Err(unavailable(runtime, version, &offered));
    };
    let unpacked = archive.unpacked(runtime, debian)?;
    let binary = unpacked.root.join("usr/sbin").join(runtime);
    let bytes = std::fs::read(&binary).map_err(|source| RuntimeError::Io { path: binary.clone(), source })?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let dir = runtimes_dir(cache).join(format!("{runtime}-{sha}"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RuntimeError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let target = dir.join(runtime);
    std::fs::copy(&binary, &target).map_err(io(&target))?;
    std::fs::write(dir.join("debian-version"), format!("{debian}\n")).map_err(io(&dir))?;
    resolve(runtime, Some(version), cache)
}

/// `lab check`'s question, without downloading: `Err` names a version that cannot be had.
pub fn available(runtime: &str, version: &str, cache: &Path) -> Result<(), RuntimeError> {
    match resolve(runtime, Some(version), cache) {
        Ok(_) | Err(RuntimeError::WrongVersion { .. }) => return Ok(()),
        Err(RuntimeError::NotFetched { .. }) | Err(RuntimeError::NotInstalled(_)) => {}
        Err(e) => return Err(e),
    }
    match Archive::new(cache).versions(runtime) {
        // The lists were never fetched: `lab run` will say.
        None => Ok(()),
        Some(offered) if offered.iter().any(|v| version_matches(version, v)) => Ok(()),
        Some(offered) => Err(unavailable(runtime, version, &offered)),
    }
}

/// Every runc-like binary lab may have used: the host's `runc` and each one in the cache.
pub fn known(cache: &Path) -> Vec<PathBuf> {
    let cached = std::fs::read_dir(runtimes_dir(cache)).into_iter().flatten().flatten().map(|e| e.path().join("runc"));
    host_binary("runc").into_iter().chain(cached.filter(|p| p.is_file())).collect()
}

/// `lab clean` for one runtime root a killed run left: every container any known runtime
/// lists there is deleted (`delete --force`); what was done, one line each.
pub fn delete_containers(root: &Path, cache: &Path) -> Vec<String> {
    if !root.is_dir() {
        return Vec::new();
    }
    let mut done = Vec::new();
    for bin in known(cache) {
        let Ok(out) = Command::new(&bin).arg("--root").arg(root).args(["list", "-q"]).output() else { continue };
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let deleted = Command::new(&bin).arg("--root").arg(root).args(["delete", "--force", id]).status();
            if deleted.is_ok_and(|s| s.success()) {
                done.push(format!("container {id} (runtime root {}, {})", root.display(), bin.display()));
            }
        }
    }
    done
}

fn unavailable(runtime: &str, version: &str, offered: &[String]) -> RuntimeError {
    let host = host_binary(runtime).and_then(|p| said_version(&p).ok()).unwrap_or_else(|| "none".into());
    let offered = if offered.is_empty() { "no version".to_string() } else { offered.join(", ") };
    RuntimeError::Unavailable { runtime: runtime.into(), version: version.into(), offered, host }
}

fn host_binary(runtime: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(runtime)).find(|p| p.is_file())
}

/// The version a runtime says: the third word of `runc --version`'s first line.
fn said_version(path: &Path) -> Result<String, RuntimeError> {
    let out = Command::new(path).arg("--version").output().map_err(|source| RuntimeError::Io { path: path.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    first.split_whitespace().nth(2).map(str::to_string).ok_or_else(|| RuntimeError::WrongVersion {
        path: path.to_path_buf(),
        said: first.to_string(),
        want: "a `runc version X` line".into(),
    })
}

fn with_sha(path: PathBuf, version: String) -> Result<Resolved, RuntimeError> {
    let bytes = std::fs::read(&path).map_err(|source| RuntimeError::Io { path: path.clone(), source })?;
    Ok(Resolved { sha256: hex::encode(Sha256::digest(&bytes)), path, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_matched_by_their_upstream_part() {
        assert!(version_matches("1.0.0~rc93", "1.0.0~rc93+ds1-5+deb11u5"));
        assert!(version_matches("1.0.0~rc93+ds1-5+deb11u5", "1.0.0~rc93+ds1-5+deb11u5"));
        assert!(!version_matches("1.0.0~rc9", "1.0.0~rc93+ds1-5+deb11u5"));
        assert!(!version_matches("1.1", "1.1.15+ds1-2"));
        assert!(version_matches("1.1.15", "1.1.15+ds1-2"));
    }

    #[test]
    fn a_root_without_containers_needs_no_delete() {
        let dir = tempfile::tempdir().unwrap();
        assert!(delete_containers(&dir.path().join("gone"), dir.path()).is_empty());
        assert!(delete_containers(dir.path(), dir.path()).is_empty(), "runc list of an empty root lists nothing");
    }

    #[test]
    fn a_version_never_fetched_is_not_resolved_and_says_so() {
        let cache = tempfile::tempdir().unwrap();
        match resolve("runc", Some("0.0.1~never"), cache.path()) {
            Err(RuntimeError::NotFetched { version, .. }) => assert_eq!(version, "0.0.1~never"),
            Err(RuntimeError::NotInstalled(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}
