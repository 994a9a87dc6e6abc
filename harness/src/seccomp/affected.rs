//! "Are my pods affected?" — the pipe-limit hang of runc 1.0.0-rc93 decided for one
//! container, without a VM: the profile's exported BPF program against the pipe a uid over
//! `fs.pipe-user-pages-soft` gets on the named kernel, and whether `runc init` exports it
//! after dropping capabilities (`noNewPrivileges` true) to a set without CAP_SYS_ADMIN and
//! CAP_SYS_RESOURCE. Pure: the caller measures the export ([`super::filter`]).

use super::SeccompError;

/// The capability set Docker (and containerd's CRI default) gives a container.
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "cap_chown",
    "cap_dac_override",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_net_bind_service",
    "cap_net_raw",
    "cap_sys_chroot",
    "cap_mknod",
    "cap_audit_write",
    "cap_setfcap",
];

/// Either one lets an account escape the soft limit (`too_many_pipe_buffers_soft`).
const ESCAPE_CAPS: [&str; 2] = ["cap_sys_admin", "cap_sys_resource"];

/// The page size of the kernels lab runs (x86_64).
const PAGE: u64 = 4096;

/// A kernel's pipe over the soft limit: `PIPE_MIN_DEF_BUFFERS` pages, 2 since upstream
/// 46c4c9d1beb7 (v5.14, "pipe: increase minimum default pipe size to 2 pages"), 1 before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPipe {
    pub kernel: String,
    pub shrunk: u64,
    /// Where the number comes from.
    pub source: &'static str,
}

/// The shrunk pipe on `kernel` (`6.1`, `5.10`, `6.12`, any `major.minor`).
pub fn kernel_pipe(kernel: &str) -> Result<KernelPipe, SeccompError> {
    let mut parts = kernel.trim().split('.').map(|p| p.parse::<u32>());
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        return Err(SeccompError::Kernel(kernel.to_string()));
    };
    let (pages, source) = match (major, minor) {
        (6, 1) => (2, "measured in lab's 6.1 guest"),
        // Debian's 5.10.223 has the two-page minimum: fs/pipe.c of linux-source-5.10 reads
        // PIPE_MIN_DEF_BUFFERS (the fix went to 5.10.y as a stable backport).
        (5, 10) => (2, "Debian's linux-source-5.10 (5.10.223) fs/pipe.c, PIPE_MIN_DEF_BUFFERS = 2; not yet run in a guest"),
        (m, n) if (m, n) >= (5, 14) => (2, "upstream since v5.14 (46c4c9d1beb7); not yet run in a guest"),
        _ => (1, "upstream before v5.14: one page (some stable trees took the two-page backport)"),
    };
    Ok(KernelPipe { kernel: kernel.to_string(), shrunk: pages * PAGE, source })
}

/// What decides the answer, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub instructions: u64,
    pub bytes: u64,
    pub pipe: KernelPipe,
    pub no_new_privileges: bool,
    /// The container's effective capabilities, lower-case.
    pub caps: Vec<String>,
    /// Where `no_new_privileges` and `caps` came from (`config.json`, an assumption).
    pub process_from: String,
}

/// The answer, with its reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub affected: bool,
    pub reason: String,
}

/// Normalizes capability names (`CAP_SYS_ADMIN`, `sys_admin` -> `cap_sys_admin`).
pub fn cap_names(names: &[String]) -> Result<Vec<String>, SeccompError> {
    names
        .iter()
        .map(|n| {
            let lower = n.trim().to_ascii_lowercase();
            let full = if lower.starts_with("cap_") { lower } else { format!("cap_{lower}") };
            let word = full.len() > 4 && full.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            word.then_some(full).ok_or_else(|| SeccompError::Capability(n.clone()))
        })
        .collect()
}

/// Decides: affected when all of NNP true, no escaping capability, and a program larger
/// than the shrunk pipe hold.
pub fn decide(f: &Facts) -> Answer {
    let size = format!("{} instructions ({} bytes)", f.instructions, f.bytes);
    let pipe = format!("the {}-byte pipe a uid over fs.pipe-user-pages-soft gets on {} ({})", f.pipe.shrunk, f.pipe.kernel, f.pipe.source);
    let escape: Vec<&str> = ESCAPE_CAPS.iter().copied().filter(|c| f.caps.iter().any(|h| h == c)).collect();
    let runtime = "runc 1.0.0-rc93 upstream (fixed in rc94 by PR #2871; Debian's 1.0.0~rc93+ds1 carries the fix)";
    if !f.no_new_privileges {
        return Answer {
            affected: false,
            reason: format!(
                "not affected: noNewPrivileges is false ({}), so {runtime} exports the filter before dropping capabilities, with a full-size pipe; the program is {size}",
                f.process_from
            ),
        };
    }
    if !escape.is_empty() {
        return Answer {
            affected: false,
            reason: format!(
                "not affected: the container keeps {} ({}), so its pipes are never shrunk; the program is {size}",
                escape.join(" and "),
                f.process_from
            ),
        };
    }
    if f.bytes <= f.pipe.shrunk {
        return Answer {
            affected: false,
            reason: format!("not affected: the exported program, {size}, fits in {pipe}: its one write returns"),
        };
    }
    Answer {
        affected: true,
        reason: format!(
            "affected: the exported program, {size}, is larger than {pipe}; noNewPrivileges is true and the capabilities lack CAP_SYS_ADMIN and CAP_SYS_RESOURCE ({}), so under {runtime} `runc init` blocks for good in pipe_write once uid 0 is over its soft limit",
            f.process_from
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(bytes: u64, nnp: bool, caps: &[&str]) -> Facts {
        Facts {
            instructions: bytes / 8,
            bytes,
            pipe: kernel_pipe("6.1").unwrap(),
            no_new_privileges: nnp,
            caps: caps.iter().map(|c| c.to_string()).collect(),
            process_from: "test".into(),
        }
    }

    #[test]
    fn affected_needs_all_three_conditions() {
        assert!(decide(&facts(9184, true, DOCKER_DEFAULT_CAPS)).affected);
        assert!(!decide(&facts(8192, true, DOCKER_DEFAULT_CAPS)).affected, "exactly the pipe's size fits");
        assert!(!decide(&facts(9184, false, DOCKER_DEFAULT_CAPS)).affected);
        let r = decide(&facts(9184, true, &["cap_chown", "cap_sys_resource"]));
        assert!(!r.affected && r.reason.contains("cap_sys_resource"), "{}", r.reason);
    }

    #[test]
    fn kernels_and_capabilities_are_named() {
        assert_eq!(kernel_pipe("6.12").unwrap().shrunk, 8192);
        assert_eq!(kernel_pipe("4.19").unwrap().shrunk, 4096);
        assert!(kernel_pipe("six").is_err());
        assert_eq!(cap_names(&["CAP_SYS_ADMIN".into(), "net_raw".into()]).unwrap(), ["cap_sys_admin", "cap_net_raw"]);
        assert!(cap_names(&["cap-fly".into()]).is_err());
    }
}
