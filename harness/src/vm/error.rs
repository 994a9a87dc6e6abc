//! Why a VM run could not get as far as a verdict: one enum for the VM layer, folding in
//! the kernel build's error, each message in the words the user needs.

use std::io;
use std::path::PathBuf;

use super::kernel::KernelError;
use super::qemu::CmdlineError;
use crate::event::Outcome;

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("cannot create the run directory: {0}")]
    RunDir(#[source] io::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("--bzimage {}: no such file", .0.display())]
    NoKernelFile(PathBuf),
    #[error("variant `{variant}` needs files that do not exist: {}", list(files))]
    MissingFiles { variant: String, files: Vec<PathBuf> },
    #[error("kernel build failed: {0}")]
    Kernel(#[from] KernelError),
    #[error("cannot start the kernel build thread: {0}")]
    BuildThread(#[source] io::Error),
    #[error("the kernel build thread died")]
    BuildThreadDied,
    #[error("cannot find the lab binary for the guest, {}: {source}", path.display())]
    LabBinary { path: PathBuf, source: io::Error },
    #[error("{}: {source}", path.display())]
    ScenarioFile { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Cmdline(#[from] CmdlineError),
    #[error("cannot make the agent socket: {0}")]
    Socket(#[source] io::Error),
    #[error("cannot listen on {}: {source}", path.display())]
    Listen { path: PathBuf, source: io::Error },
    #[error("cannot start {}: {source} (Debian: apt install qemu-system-x86)", binary.display())]
    Spawn { binary: PathBuf, source: io::Error },
    #[error("QEMU ended with {0}")]
    QemuFailed(String),
    #[error("waiting for QEMU: {0}")]
    Wait(#[source] io::Error),
    #[error("interrupted during the kernel build")]
    InterruptedBuild,
    #[error("interrupted; QEMU was stopped")]
    Interrupted,
}

impl VmError {
    /// A scenario that names a missing file or a patch that does not apply is the
    /// scenario's fault (exit 2); everything else is the machine's (exit 3).
    pub fn outcome(&self) -> Outcome {
        match self {
            VmError::MissingFiles { .. } | VmError::Kernel(KernelError::PatchFailed { .. }) => Outcome::Invalid,
            _ => Outcome::Error,
        }
    }
}

fn list(files: &[PathBuf]) -> String {
    files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_that_does_not_apply_is_the_scenarios_fault() {
        let e = VmError::from(KernelError::PatchFailed { patch: "/s/0001.patch".into(), detail: "route.c: Hunk #1 FAILED at 1401".into() });
        assert_eq!(e.outcome(), Outcome::Invalid);
        assert_eq!(e.to_string(), "kernel build failed: patch /s/0001.patch does not apply: route.c: Hunk #1 FAILED at 1401");
        assert_eq!(VmError::Interrupted.outcome(), Outcome::Error);
    }
}
