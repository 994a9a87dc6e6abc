//! Workload `seccomp-export`: `runc init`'s seccomp export pipe, on the real code path —
//! a libseccomp filter built from an OCI profile and exported with `seccomp_export_bpf`
//! into a pipe this process makes and reads itself (runc 1.0.0-rc93,
//! `libcontainer/seccomp/patchbpf`, `disassembleFilter`).
//!
//! `seccomp-export --profile P --mode M --nnp 0|1 --keep-caps HEX`, started as uid 0 with
//! every capability, in rc93's order:
//! - `--nnp 1`: capabilities dropped to `--keep-caps` (bounding set too) and
//!   `no_new_privs` set first (`finalizeNamespace`), then the export;
//! - `--nnp 0`: the export first, with every capability, then the drop.
//!
//! Modes: `export-then-read` (rc93: one thread writes the whole program, then reads; a
//! program larger than the pipe blocks it in `pipe_write` for good) and `read-while-export`
//! (rc94 and later, PR #2871: a second thread reads while libseccomp writes). The filter is
//! never loaded: the workload stops where runc would load it. Reports: [`Report::Program`],
//! [`Report::ExportPipe`], [`Report::Read`].

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;

use super::{flag, pipe_size, report, Report, WorkloadError};
use crate::process::caps::CapSet;
use crate::seccomp::filter::Filter;

/// The two ways of reading the export pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ExportThenRead,
    ReadWhileExport,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ExportThenRead => "export-then-read",
            Mode::ReadWhileExport => "read-while-export",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        [Mode::ExportThenRead, Mode::ReadWhileExport].into_iter().find(|m| m.as_str() == s)
    }
}

/// `seccomp-export --profile P --mode M --nnp 0|1 --keep-caps HEX`.
pub fn main(args: &[String]) -> Result<(), WorkloadError> {
    let profile = flag(args, "--profile").ok_or_else(|| WorkloadError::Args("--profile is required".into()))?;
    let mode = flag(args, "--mode")
        .and_then(Mode::parse)
        .ok_or_else(|| WorkloadError::Args("--mode export-then-read|read-while-export is required".into()))?;
    let nnp = flag(args, "--nnp") == Some("1");
    let keep = flag(args, "--keep-caps").and_then(|h| u64::from_str_radix(h, 16).ok()).map(CapSet);
    let keep = keep.ok_or_else(|| WorkloadError::Args("--keep-caps HEX is required".into()))?;
    let loaded = crate::seccomp::profile::load(Path::new(profile))?;
    let filter = Filter::build(&loaded.profile)?;
    let size = filter.exported()?;
    report(&Report::Program { instructions: size.instructions, bytes: size.bytes, unknown: filter.unknown.len() as u32 });
    if nnp {
        finalize(keep)?;
    }
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| WorkloadError::sys("pipe2()", e.into()))?;
    let caps = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = caps.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap_or("?").trim().to_string();
    report(&Report::ExportPipe { read_fd: r.as_raw_fd(), write_fd: w.as_raw_fd(), size: pipe_size(&r)?, caps });
    let read = match mode {
        Mode::ExportThenRead => export_then_read(&filter, r, w)?,
        Mode::ReadWhileExport => read_while_export(&filter, r, w)?,
    };
    if !nnp {
        finalize(keep)?;
    }
    report(&Report::Read { bytes: read });
    Ok(())
}

/// `finalizeNamespace`: the container's capabilities, and `no_new_privs` when asked for.
fn finalize(keep: CapSet) -> Result<(), WorkloadError> {
    crate::process::launch::drop_caps_now(keep).map_err(|e| WorkloadError::sys("dropping capabilities", e))?;
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(WorkloadError::sys("PR_SET_NO_NEW_PRIVS", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// rc93: the whole program into the pipe, and only then read it back.
fn export_then_read(filter: &Filter, r: OwnedFd, w: OwnedFd) -> Result<u64, WorkloadError> {
    filter.export_to(&w)?;
    drop(w);
    read_all(r)
}

/// rc94 and later: a reader thread drains the pipe while libseccomp writes.
fn read_while_export(filter: &Filter, r: OwnedFd, w: OwnedFd) -> Result<u64, WorkloadError> {
    let reader = std::thread::spawn(move || read_all(r));
    let exported = filter.export_to(&w);
    drop(w);
    let read = reader.join().map_err(|_| WorkloadError::Args("the reader thread panicked".into()))?;
    exported?;
    read
}

fn read_all(r: OwnedFd) -> Result<u64, WorkloadError> {
    let mut buf = Vec::new();
    std::fs::File::from(r).read_to_end(&mut buf).map_err(|e| WorkloadError::sys("reading the export pipe", e))?;
    Ok(buf.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for m in [Mode::ExportThenRead, Mode::ReadWhileExport] {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
        }
        assert_eq!(Mode::parse("later"), None);
    }

    #[test]
    fn a_program_larger_than_the_pipe_needs_the_concurrent_reader() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profiles/large.json");
        let filter = Filter::build(&crate::seccomp::profile::load(&path).unwrap().profile).unwrap();
        let size = filter.exported().unwrap();
        assert!(size.bytes > 8192, "{size:?}: large.json is over the shrunk pipe");
        // A pipe of 2 pages, as the soft limit shrinks it (set by hand here).
        let pipe = || {
            let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
            assert_eq!(unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, 8192) }, 8192);
            (r, w)
        };
        let (r, w) = pipe();
        assert_eq!(read_while_export(&filter, r, w).unwrap(), size.bytes);
        // Export-then-read cannot get the program through: with O_NONBLOCK its one write
        // stops when the pipe is full instead of blocking for good (libseccomp 2.5 takes the
        // short write as done), and only the pipe's worth is read back.
        let (r, w) = pipe();
        assert_eq!(unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) }, 0);
        assert_eq!(export_then_read(&filter, r, w).unwrap(), 8192);
    }
}
