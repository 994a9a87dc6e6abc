//! Mounts as the kubelet, a CSI plugin and runc make them, and the kernel's view of them:
//! `/proc/self/mountinfo` parsed ([`entries`]), bind mounts by path or runc's way through an
//! `O_PATH` descriptor ([`bind`]), detaching everything under a directory ([`detach_under`]),
//! and the errno of a path lookup, optionally relative to a held descriptor ([`lookup`]).
//!
//! No run state: the ledger (`cleanup`) and the mount steps use these.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;

/// One line of `/proc/self/mountinfo` (the fields `lab` looks at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u32,
    /// The path inside its filesystem that is mounted here (`/vol`, `/vol//deleted`).
    pub root: String,
    pub mount_point: String,
    pub fstype: String,
    pub source: String,
    /// The whole line, for evidence.
    pub line: String,
}

/// Parses mountinfo text; lines that do not parse are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let (left, right) = line.split_once(" - ")?;
    let f: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    Some(MountEntry {
        id: f.first()?.parse().ok()?,
        root: unescape(f.get(3)?),
        mount_point: unescape(f.get(4)?),
        fstype: r.first()?.to_string(),
        source: unescape(r.get(1).unwrap_or(&"")),
        line: line.to_string(),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's mounts now.
pub fn entries() -> io::Result<Vec<MountEntry>> {
    Ok(parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// Mounts whose mount point is `dir` or below it, the most recent first (unmount order).
pub fn under<'a>(all: &'a [MountEntry], dir: &Path) -> Vec<&'a MountEntry> {
    let dir = dir.to_string_lossy();
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    all.iter().rev().filter(|e| e.mount_point == dir || e.mount_point.starts_with(&prefix)).collect()
}

/// How a bind mount opens its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindVia {
    /// `mount --bind SRC DST`: the kubelet's and a CSI plugin's way.
    Path,
    /// runc's way since CVE-2021-30465: open SRC `O_PATH`, mount `/proc/self/fd/N`.
    ProcFd,
}

/// Why a bind mount failed, with what was mounted from.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("open {path} (O_PATH): {errno}")]
    Open { path: PathBuf, errno: Errno },
    #[error("mount {from} onto {target}: {errno}")]
    Mount { from: String, target: PathBuf, errno: Errno },
}

impl MountError {
    pub fn errno(&self) -> Errno {
        match self {
            MountError::Open { errno, .. } | MountError::Mount { errno, .. } => *errno,
        }
    }
}

/// Bind-mounts `source` onto `target` (recursively, as runc's `rbind` and the kubelet do).
/// Returns what the mount was made from (`/proc/self/fd/7` with [`BindVia::ProcFd`]).
pub fn bind(source: &Path, target: &Path, via: BindVia) -> Result<String, MountError> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    let (from, _fd) = match via {
        BindVia::Path => (source.display().to_string(), None),
        BindVia::ProcFd => {
            let fd = nix::fcntl::open(source, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|errno| MountError::Open { path: source.to_path_buf(), errno })?;
            (format!("/proc/self/fd/{}", fd.as_raw_fd()), Some(fd))
        }
    };
    nix::mount::mount(Some(from.as_str()), target, None::<&str>, flags, None::<&str>).map_err(|errno| MountError::Mount {
        from: from.clone(),
        target: target.to_path_buf(),
        errno,
    })?;
    Ok(from)
}

/// Lazily unmounts (`MNT_DETACH`) everything mounted at or under `dir`, most recent first,
/// until nothing is left (stacked mounts). Returns the mount points detached and the problems.
pub fn detach_under(dir: &Path) -> (Vec<String>, Vec<String>) {
    let (mut done, mut problems) = (Vec::new(), Vec::new());
    // Each round detaches what is visible; a mount under a detached one goes with it.
    for _ in 0..16 {
        let all = match entries() {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("reading /proc/self/mountinfo: {e}"));
                break;
            }
        };
        let here = under(&all, dir);
        let Some(top) = here.first() else { return (done, problems) };
        match nix::mount::umount2(top.mount_point.as_str(), MntFlags::MNT_DETACH) {
            Ok(()) => done.push(format!("{} ({})", top.mount_point, top.fstype)),
            Err(e) => {
                problems.push(format!("unmounting {}: {e}", top.mount_point));
                break;
            }
        }
    }
    if !under(&entries().unwrap_or_default(), dir).is_empty() && problems.is_empty() {
        problems.push(format!("mounts are left under {}", dir.display()));
    }
    (done, problems)
}

/// The errno of looking `path` up (`fstatat`, following symlinks), relative to `base` when
/// given (a descriptor held on a directory, which may be on a dead mount); `Ok` when found.
pub fn lookup(base: Option<&OwnedFd>, path: &Path) -> Result<(), Errno> {
    let dirfd = base.map(|b| b.as_fd());
    match dirfd {
        Some(fd) => nix::sys::stat::fstatat(fd, path, AtFlags::empty()).map(|_| ()),
        None => nix::sys::stat::stat(path).map(|_| ()),
    }
}

/// An `O_PATH` descriptor on `path`: a handle that keeps its dentry (a CSI plugin's on its
/// FUSE root).
pub fn hold(path: &Path) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
}

/// `ENOENT` for errno 2, `0` for success: the names scenarios write.
pub fn errno_name(result: Result<(), Errno>) -> String {
    match result {
        Ok(()) => "0".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// Whether `name` is `0` or an errno name this system knows (`ENOENT`, `ENOTCONN`).
pub fn known_errno(name: &str) -> bool {
    name == "0" || (1..200).any(|n| format!("{:?}", Errno::from_raw(n)) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 0:21 / /run rw,nosuid - tmpfs tmpfs rw
40 22 0:35 / /run/lab/mounts/lab0a0b0c-fs/mnt rw - fuse fuse2fs rw,user_id=0
41 22 0:35 /vol//deleted /run/lab/mounts/lab0a0b0c-fs/pods/u1/volumes/kubernetes.io~csi/pv\\040x/mount rw - fuse fuse2fs rw
42 40 0:36 / /run/lab/mounts/lab0a0b0c-fs/mnt rw - fuse fuse2fs rw
43 22 0:37 / /run/lab/mounts/lab0a0b0c-fsx rw - tmpfs tmpfs rw";

    #[test]
    fn mountinfo_lines_parse_with_escapes_and_deleted_roots() {
        let all = parse_mountinfo(SAMPLE);
        assert_eq!(all.len(), 5);
        assert_eq!(all[2].root, "/vol//deleted");
        assert_eq!(all[2].mount_point, "/run/lab/mounts/lab0a0b0c-fs/pods/u1/volumes/kubernetes.io~csi/pv x/mount");
        assert_eq!((all[1].fstype.as_str(), all[1].source.as_str()), ("fuse", "fuse2fs"));
        assert!(parse_mountinfo("garbage\n").is_empty());
    }

    #[test]
    fn mounts_under_a_directory_come_most_recent_first_and_not_its_siblings() {
        let all = parse_mountinfo(SAMPLE);
        let ids: Vec<u32> = under(&all, Path::new("/run/lab/mounts/lab0a0b0c-fs")).iter().map(|e| e.id).collect();
        assert_eq!(ids, [42, 41, 40]);
    }

    #[test]
    fn errno_names_are_the_kernels() {
        assert!(known_errno("ENOENT") && known_errno("ENOTCONN") && known_errno("0"));
        assert!(!known_errno("ENOPE"));
        assert_eq!(errno_name(Err(Errno::ENOTCONN)), "ENOTCONN");
        assert_eq!(errno_name(Ok(())), "0");
        assert_eq!(errno_name(lookup(None, Path::new("/nonexistent/lab"))), "ENOENT");
    }
}
