//! The one home of the processes `lab` starts: tied to `lab`'s life ([`guard_child`]),
//! started as a user and group with a capability set in a network namespace ([`launch`],
//! [`identity`], [`caps`]), looked at through `/proc` as root ([`inspect`]), tracked per step
//! ([`registry`]), and `lab`'s own small workloads re-executed as separate processes
//! ([`workload`]).
//!
//! A leaf module: it knows nothing of scenarios or VMs, so the VM backend, the accelerator
//! probe, the kernel build, `exec` and the workload steps can all use it without importing
//! each other.

pub mod caps;
pub mod identity;
pub mod inspect;
pub mod launch;
pub mod registry;
pub mod workload;

pub use identity::{Account, CapsSpec, Creds, IdentityError, IdentitySpec};
pub use registry::Registry;

use tokio::process::Command;

/// Why a process could not be started or followed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The namespace to start it in could not be opened.
    #[error("cannot open namespace {path}: {source}")]
    Netns { path: String, source: std::io::Error },
    /// `what` could not be started (or read from).
    #[error("{what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    /// A workload wrote something that is not a report.
    #[error("a workload said something unexpected: {0}")]
    Protocol(String),
}

/// Makes a child die with `lab`: killed when its handle is dropped, and SIGKILLed by the
/// kernel if `lab` itself dies (even by SIGKILL), so no QEMU outlives a run.
///
/// Spawn from a thread that lives as long as the child (the runtime's worker or main
/// thread, never `spawn_blocking`): the parent-death signal follows the spawning thread.
pub fn guard_child(cmd: &mut Command) {
    cmd.kill_on_drop(true);
    let parent = std::process::id() as i32;
    // SAFETY: prctl and getppid are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if nix::libc::getppid() != parent {
                nix::libc::_exit(1);
            }
            Ok(())
        });
    }
}
