//! Child processes that die with `lab`: the one place that ties a child's life to ours.
//!
//! A leaf module: it knows nothing of scenarios or VMs, so the VM backend, the accelerator
//! probe and the kernel build can all use it without importing each other.

use tokio::process::Command;

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
