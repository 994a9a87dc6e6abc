//! Starting a program as someone: in a network namespace, with a uid, a gid and a capability
//! set, tied to `lab`'s life ([`super::guard_child`]).
//!
//! Everything the child does between `fork` and `execve` is a raw system call on values
//! computed before the fork: no allocation, no locks (the parent is multi-threaded). The
//! order matters and is the one `setpriv` uses: namespace first (it needs CAP_SYS_ADMIN),
//! then the bounding set (needs CAP_SETPCAP), the inheritable set, the ids (keeping the
//! permitted set across `setuid` when capabilities are to be kept), the final sets, the
//! ambient set, and last the parent-death signal (a uid change clears it).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;

use super::caps::{self, CapSet};
use super::identity::Creds;
use super::ProcessError;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// A command for `program` that runs in the namespace at `netns` (absent: `lab`'s) with
/// `creds`, and dies with `lab`. The caller adds arguments and stdio and spawns it.
pub fn command(program: impl AsRef<OsStr>, creds: Creds, netns: Option<&Path>) -> Result<tokio::process::Command, ProcessError> {
    let mut cmd = std::process::Command::new(program);
    let ns: Option<OwnedFd> = match netns {
        Some(path) => {
            Some(std::fs::File::open(path).map_err(|source| ProcessError::Netns { path: path.display().to_string(), source })?.into())
        }
        None => None,
    };
    let plan = Plan { netns: ns, creds, last_cap: caps::last_cap() };
    if plan.netns.is_some() || creds != Creds::default() {
        // SAFETY: `Plan::apply` makes raw system calls only, on values prepared above.
        unsafe {
            cmd.pre_exec(move || plan.apply());
        }
    }
    let mut cmd = tokio::process::Command::from(cmd);
    // After ours: a uid change clears the parent-death signal, so it is set last.
    super::guard_child(&mut cmd);
    Ok(cmd)
}

/// What the child does before `execve`.
struct Plan {
    netns: Option<OwnedFd>,
    creds: Creds,
    last_cap: u8,
}

impl Plan {
    fn apply(&self) -> io::Result<()> {
        if let Some(fd) = &self.netns {
            check(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) })?;
        }
        let keep = match self.creds.caps {
            Some(k) => Some(CapSet(k.0 & capget()?.permitted())),
            None => None,
        };
        if let Some(keep) = keep {
            for n in 0..=self.last_cap {
                if !keep.has(n) {
                    check(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) })?;
                }
            }
            // The inheritable set can only grow while CAP_SETPCAP is still effective.
            let now = capget()?;
            capset(CapSet(now.effective()), CapSet(now.permitted()), keep)?;
        }
        self.set_ids(keep)?;
        if let Some(keep) = keep {
            capset(keep, keep, keep)?;
            if self.creds.uid.is_some_and(|u| u != 0) {
                // A non-root uid loses its permitted set at execve; ambient ones survive.
                for n in (0..=self.last_cap).filter(|n| keep.has(*n)) {
                    let raise = libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong;
                    check(unsafe { libc::prctl(libc::PR_CAP_AMBIENT, raise, n as libc::c_ulong, 0, 0) })?;
                }
            }
        }
        Ok(())
    }

    fn set_ids(&self, keep: Option<CapSet>) -> io::Result<()> {
        if let Some(gid) = self.creds.gid {
            let groups = [gid as libc::gid_t];
            check(unsafe { libc::setgroups(1, groups.as_ptr()) })?;
            check(unsafe { libc::setresgid(gid, gid, gid) })?;
        }
        if let Some(uid) = self.creds.uid {
            if uid != 0 && keep.is_some_and(|k| !k.is_empty()) {
                check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) })?;
            }
            check(unsafe { libc::setresuid(uid, uid, uid) })?;
        }
        Ok(())
    }
}

/// Drops every capability of the calling process but `keep`, from the bounding set too:
/// what `runc init` does in `finalizeNamespace`, done in a running (single-threaded)
/// workload at the point its model says.
pub fn drop_caps_now(keep: CapSet) -> io::Result<()> {
    let keep = CapSet(keep.0 & capget()?.permitted());
    for n in (0..=caps::last_cap()).filter(|n| !keep.has(*n)) {
        check(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) })?;
    }
    capset(keep, keep, keep)
}

/// The calling thread's capability sets.
struct Current([CapData; 2]);

impl Current {
    fn effective(&self) -> u64 {
        self.0[0].effective as u64 | (self.0[1].effective as u64) << 32
    }
    fn permitted(&self) -> u64 {
        self.0[0].permitted as u64 | (self.0[1].permitted as u64) << 32
    }
}

fn capget() -> io::Result<Current> {
    let mut header = CapHeader { version: CAP_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    check(unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) } as i32)?;
    Ok(Current(data))
}

fn capset(effective: CapSet, permitted: CapSet, inheritable: CapSet) -> io::Result<()> {
    let mut header = CapHeader { version: CAP_VERSION_3, pid: 0 };
    let (e, p, i) = (effective.words(), permitted.words(), inheritable.words());
    let data =
        [CapData { effective: e[0], permitted: p[0], inheritable: i[0] }, CapData { effective: e[1], permitted: p[1], inheritable: i[1] }];
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) } as i32)
}

fn check(rc: i32) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::identity::{Account, CapsSpec, IdentitySpec};

    /// `/proc/self/status` lines of a shell started with `creds`.
    async fn status_of(creds: Creds) -> String {
        let mut cmd = command("/bin/sh", creds, None).unwrap();
        cmd.args(["-c", "grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|CapAmb):' /proc/self/status"]);
        let out = cmd.output().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn field(status: &str, key: &str) -> String {
        status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn root_drops_two_caps_for_good() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let spec = IdentitySpec {
            user: Some(Account::Id(0)),
            group: None,
            caps: Some(CapsSpec::Drop(vec!["cap_sys_admin".into(), "cap_sys_resource".into()])),
        };
        let s = status_of(spec.resolve().unwrap()).await;
        let eff = u64::from_str_radix(&field(&s, "CapEff:"), 16).unwrap();
        let bnd = u64::from_str_radix(&field(&s, "CapBnd:"), 16).unwrap();
        assert_eq!(field(&s, "Uid:"), "0", "{s}");
        assert_eq!(eff & (1 << 21 | 1 << 24), 0, "{s}");
        assert_eq!(bnd & (1 << 21 | 1 << 24), 0, "{s}");
        assert_ne!(eff & 1, 0, "cap_chown stays: {s}");
    }

    #[tokio::test]
    async fn a_user_keeps_only_the_listed_caps_across_exec() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let spec = IdentitySpec {
            user: Some(Account::Name("nobody".into())),
            group: None,
            caps: Some(CapsSpec::Keep(vec!["cap_net_admin".into()])),
        };
        let s = status_of(spec.resolve().unwrap()).await;
        assert_eq!(field(&s, "Uid:"), "65534", "{s}");
        assert_eq!(field(&s, "CapEff:"), format!("{:016x}", 1u64 << 12), "{s}");
        assert_eq!(field(&s, "CapAmb:"), format!("{:016x}", 1u64 << 12), "{s}");
        let plain = IdentitySpec { user: Some(Account::Name("nobody".into())), ..Default::default() };
        let s = status_of(plain.resolve().unwrap()).await;
        assert_eq!(field(&s, "CapEff:"), "0000000000000000", "{s}");
        assert_eq!(field(&s, "Groups:"), field(&s, "Gid:"), "root's groups are gone: {s}");
    }
}
