//! Debian's archive, for packages of other releases than the host's: bullseye's
//! `linux-source-5.10` and `runc 1.0.0~rc93`, trixie's `linux-source-6.12`.
//!
//! Nothing is installed and the machine's own apt state is never touched: a download-only
//! configuration under `<cache>/apt/` lists the extra suites (same mirror as the host's own
//! sources), `apt-get download` fetches a `.deb` into `<cache>/apt/debs/`, and `dpkg-deb -x`
//! unpacks it into `<cache>/pkgs/<package>_<version>/`. Every path is keyed by package and
//! version, so two versions never mix.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The suites lab fetches from besides the host's own.
pub const SUITES: &[&str] = &["bullseye", "bookworm-backports", "trixie"];

/// Where the machine's own sources are read from, for the mirror to use.
const HOST_SOURCES: &[&str] = &["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"];

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("no Debian mirror found in {}: lab fetches other releases from the mirror the host uses", HOST_SOURCES.join(" or "))]
    NoMirror,
    #[error("{package} {version} is not in Debian's archive for {suites} ({detail})", suites = SUITES.join(", "))]
    NotFound { package: String, version: String, detail: String },
    #[error("apt-get {what} failed: {detail}")]
    Apt { what: String, detail: String },
    #[error("dpkg-deb -x {}: {detail}", deb.display())]
    Unpack { deb: PathBuf, detail: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io { path: path.to_path_buf(), source }
}

/// A package fetched and unpacked: its files under `root`, as they would be installed.
#[derive(Debug, Clone)]
pub struct Unpacked {
    pub package: String,
    /// The exact Debian version (`5.10.223-1`).
    pub version: String,
    pub deb: PathBuf,
    pub root: PathBuf,
}

/// The download-only apt configuration under `<cache>/apt/`.
pub struct Archive {
    dir: PathBuf,
    pkgs: PathBuf,
}

impl Archive {
    pub fn new(cache: &Path) -> Archive {
        Archive { dir: cache.join("apt"), pkgs: cache.join("pkgs") }
    }

    /// The version of `package` the extra suites offer (apt's candidate: the newest),
    /// updating the lists once if they are missing.
    pub fn candidate(&self, package: &str) -> Result<String, ArchiveError> {
        self.ensure_lists()?;
        let out = self.apt("apt-cache", &["policy", package])?;
        candidate_of(&out).ok_or_else(|| ArchiveError::NotFound {
            package: package.into(),
            version: "(any)".into(),
            detail: "apt-cache policy lists no candidate".into(),
        })
    }

    /// Every version of `package` the extra suites offer (`apt-cache madison`), newest
    /// first; `None` when the lists were never fetched (nothing is fetched here).
    pub fn versions(&self, package: &str) -> Option<Vec<String>> {
        if !self.dir.join("lists/.lab-updated").is_file() {
            return None;
        }
        let out = self.apt("apt-cache", &["madison", package]).ok()?;
        Some(out.lines().filter_map(|l| l.split('|').nth(1)).map(|v| v.trim().to_string()).collect())
    }

    /// `package` at `version`, fetched and unpacked (or found in the cache).
    pub fn unpacked(&self, package: &str, version: &str) -> Result<Unpacked, ArchiveError> {
        let root = self.pkgs.join(format!("{package}_{}", version.replace(':', "%3a")));
        let debs = self.dir.join("debs");
        let deb = find_deb(&debs, package, version);
        if let (true, Some(deb)) = (root.join(".lab-unpacked").is_file(), deb.clone()) {
            return Ok(Unpacked { package: package.into(), version: version.into(), deb, root });
        }
        let deb = match deb {
            Some(d) => d,
            None => self.download(package, version)?,
        };
        let partial = self.pkgs.join(format!(".{package}_{version}.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).map_err(io(&partial))?;
        let out = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&partial).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => return Err(ArchiveError::Unpack { deb, detail: String::from_utf8_lossy(&o.stderr).trim().to_string() }),
            Err(e) => return Err(ArchiveError::Unpack { deb, detail: e.to_string() }),
        }
        std::fs::write(partial.join(".lab-unpacked"), format!("{package} {version}\n")).map_err(io(&partial))?;
        let _ = std::fs::remove_dir_all(&root);
        std::fs::rename(&partial, &root).map_err(io(&root))?;
        Ok(Unpacked { package: package.into(), version: version.into(), deb, root })
    }

    fn download(&self, package: &str, version: &str) -> Result<PathBuf, ArchiveError> {
        self.ensure_lists()?;
        let debs = self.dir.join("debs");
        std::fs::create_dir_all(&debs).map_err(io(&debs))?;
        let spec = format!("{package}={version}");
        let out = self.apt_in(&debs, "apt-get", &["download", "-q", &spec]);
        match out {
            Ok(_) => find_deb(&debs, package, version).ok_or_else(|| ArchiveError::Apt {
                what: format!("download {spec}"),
                detail: format!("no .deb appeared in {}", debs.display()),
            }),
            Err(ArchiveError::Apt { detail, .. }) if detail.contains("Version") || detail.contains("Unable to locate") => {
                Err(ArchiveError::NotFound { package: package.into(), version: version.into(), detail })
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the configuration and runs `apt-get update` on it, once.
    fn ensure_lists(&self) -> Result<(), ArchiveError> {
        let lists = self.dir.join("lists");
        let done = lists.join(".lab-updated");
        if done.is_file() {
            return Ok(());
        }
        let mirror = host_mirror().ok_or(ArchiveError::NoMirror)?;
        for d in [lists.join("partial"), self.dir.join("cache/archives/partial"), self.dir.join("etc")] {
            std::fs::create_dir_all(&d).map_err(io(&d))?;
        }
        let sources = self.dir.join("etc/sources.list");
        std::fs::write(&sources, sources_list(&mirror)).map_err(io(&sources))?;
        let status = self.dir.join("etc/status");
        std::fs::write(&status, "").map_err(io(&status))?;
        self.apt("apt-get", &["update", "-q"])?;
        std::fs::write(&done, "").map_err(io(&done))
    }

    fn apt(&self, tool: &str, args: &[&str]) -> Result<String, ArchiveError> {
        self.apt_in(&self.dir, tool, args)
    }

    /// `tool` with the lab's own lists, cache and an empty dpkg status: it sees the extra
    /// suites only and can change nothing on the machine.
    fn apt_in(&self, cwd: &Path, tool: &str, args: &[&str]) -> Result<String, ArchiveError> {
        let d = &self.dir;
        let opts = [
            format!("Dir::Etc::sourcelist={}", d.join("etc/sources.list").display()),
            "Dir::Etc::sourceparts=/dev/null".to_string(),
            "Dir::Etc::preferencesparts=/dev/null".to_string(),
            format!("Dir::State::Lists={}", d.join("lists").display()),
            format!("Dir::State::status={}", d.join("etc/status").display()),
            format!("Dir::Cache={}", d.join("cache").display()),
            "APT::Sandbox::User=root".to_string(),
        ];
        let mut cmd = Command::new(tool);
        cmd.current_dir(cwd);
        for o in &opts {
            cmd.arg("-o").arg(o);
        }
        let what = format!("{} {}", args.first().copied().unwrap_or_default(), args.get(1..).unwrap_or_default().join(" "));
        let out = cmd.args(args).output().map_err(|e| ArchiveError::Apt { what: what.clone(), detail: e.to_string() })?;
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr).lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join("; ");
            return Err(ArchiveError::Apt { what, detail });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The `.deb` of `package` at `version` in `dir`, if fetched before (`apt-get download`
/// names it `<package>_<version with : as %3a>_<arch>.deb`).
fn find_deb(dir: &Path, package: &str, version: &str) -> Option<PathBuf> {
    let prefix = format!("{package}_{}_", version.replace(':', "%3a"));
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb")))
}

/// The extra suites, on the host's own mirror.
fn sources_list(mirror: &str) -> String {
    SUITES.iter().map(|s| format!("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} {s} main\n")).collect()
}

/// The first Debian archive URI of the host's apt sources (deb822 `URIs:` or a one-line
/// `deb URI suite` entry), security archives aside.
fn host_mirror() -> Option<String> {
    HOST_SOURCES.iter().filter_map(|p| std::fs::read_to_string(p).ok()).find_map(|text| mirror_in(&text))
}

fn mirror_in(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| {
            let uris = l.strip_prefix("URIs:").map(|u| u.split_whitespace().collect::<Vec<_>>());
            uris.unwrap_or_else(|| {
                l.strip_prefix("deb ").map(|d| d.split_whitespace().filter(|w| !w.starts_with('[')).take(1).collect()).unwrap_or_default()
            })
        })
        .find(|u| u.contains("/debian") && !u.contains("security"))
        .map(str::to_string)
}

/// The `Candidate:` of `apt-cache policy` output.
fn candidate_of(policy: &str) -> Option<String> {
    policy.lines().find_map(|l| l.trim().strip_prefix("Candidate:")).map(str::trim).filter(|v| *v != "(none)").map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_is_the_hosts_own_archive_not_its_security_one() {
        let deb822 = "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\nTypes: deb\n# URIs: http://old.example/debian\nURIs: http://mirror.example/debian\n";
        assert_eq!(mirror_in(deb822).as_deref(), Some("http://mirror.example/debian"));
        assert_eq!(mirror_in("deb [arch=amd64] http://m.example/debian bookworm main\n").as_deref(), Some("http://m.example/debian"));
        assert_eq!(mirror_in("# nothing\n"), None);
    }

    #[test]
    fn sources_name_every_extra_suite_on_that_mirror() {
        let s = sources_list("http://m.example/debian");
        assert_eq!(s.lines().count(), SUITES.len());
        assert!(s.contains("http://m.example/debian bullseye main"), "{s}");
    }

    #[test]
    fn candidate_is_read_from_policy() {
        let p = "linux-source-5.10:\n  Installed: (none)\n  Candidate: 5.10.223-1\n  Version table:\n";
        assert_eq!(candidate_of(p).as_deref(), Some("5.10.223-1"));
        assert_eq!(candidate_of("x:\n  Candidate: (none)\n"), None);
    }

    #[test]
    fn a_fetched_deb_is_found_by_package_and_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("runc_1.0.0~rc93+ds1-5+deb11u5_amd64.deb"), "").unwrap();
        assert!(find_deb(dir.path(), "runc", "1.0.0~rc93+ds1-5+deb11u5").is_some());
        assert!(find_deb(dir.path(), "runc", "1.1.5+ds1-1").is_none());
    }
}
