//! How to run a VM: what `lab run`'s flags and environment say, with named defaults.

use std::path::PathBuf;
use std::time::Duration;

use super::accel::Records;
use super::qemu::Accel;

/// QEMU start to the agent's first event under TCG: a TCG boot takes about 2 s here, and a
/// loaded CI machine several times that.
pub const TCG_BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// QEMU start to the agent's first event under KVM. Real KVM boots in well under a second
/// and TCG in about 2 s: a KVM guest that is not up after this is no faster than TCG, and
/// falling back costs at most this much.
pub const KVM_BOOT_TIMEOUT: Duration = Duration::from_secs(6);

/// How to run the VM. `Default` is what `lab run` uses without flags.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// Boot this bzImage instead of building the variant's kernel (`--kernel`).
    pub kernel: Option<PathBuf>,
    /// The `lab` binary the guest runs as init; default: this executable.
    pub lab_binary: Option<PathBuf>,
    /// `--qemu`, `$LAB_QEMU`, else `qemu-system-x86_64` from `PATH`.
    pub qemu: PathBuf,
    /// Force an accelerator instead of deciding (`--accel`, `$LAB_ACCEL`).
    pub accel: Option<Accel>,
    /// Where what was learnt about KVM on this host is remembered.
    pub accel_records: Records,
    /// QEMU start to the agent's first event; default per accelerator (see the constants).
    pub boot_timeout: Option<Duration>,
    /// Agent's first event to verdict; default the scenario's `deadline`.
    pub deadline: Option<Duration>,
    /// Parent of the run directory; default `$LAB_RUNS`, else `<cache>/runs`.
    pub runs_dir: Option<PathBuf>,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            kernel: None,
            lab_binary: None,
            qemu: std::env::var_os("LAB_QEMU").filter(|q| !q.is_empty()).map(PathBuf::from).unwrap_or_else(|| "qemu-system-x86_64".into()),
            accel: std::env::var("LAB_ACCEL").ok().and_then(|a| a.parse().ok()),
            accel_records: Records::default(),
            boot_timeout: None,
            deadline: None,
            runs_dir: None,
        }
    }
}

impl VmOptions {
    pub fn boot_timeout(&self, accel: Accel) -> Duration {
        self.boot_timeout.unwrap_or(match accel {
            Accel::Kvm => KVM_BOOT_TIMEOUT,
            Accel::Tcg => TCG_BOOT_TIMEOUT,
        })
    }
}
