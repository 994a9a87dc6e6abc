//! The SeaBIOS probe: boot the firmware alone under KVM and under TCG and compare.
//!
//! `/dev/kvm` can exist and still be useless: behind a paravirtual host module QEMU aborts
//! at once (`failed to set MSR 0x10a`), or KVM runs guest code slower than TCG and dies
//! later in the kernel (`KVM internal error`). KVM is only worth trying when it gets
//! through SeaBIOS *faster than TCG*; merely finishing predicts nothing (the second host
//! finished in 1.45 s, TCG in 0.35 s, and its kernel never booted).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use super::signs;
use crate::vm::qemu::Accel;

/// How long SeaBIOS may take before the probe gives up on an accelerator.
pub const PROBE_LIMIT: Duration = Duration::from_secs(2);

/// Why an accelerator did not get through SeaBIOS.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("/dev/kvm does not exist")]
    NoDevice,
    #[error("cannot open /dev/kvm: {0}")]
    Open(#[source] std::io::Error),
    #[error("cannot start {}: {source}", qemu.display())]
    Spawn { qemu: std::path::PathBuf, source: std::io::Error },
    /// QEMU said why, in its own words (the MSR abort).
    #[error("{0}")]
    Refused(String),
    #[error("QEMU with -accel {0} exited before running the BIOS")]
    Exited(Accel),
    #[error("a {accel} guest did not get through the BIOS within {limit} s", accel = .0, limit = PROBE_LIMIT.as_secs())]
    TooSlow(Accel),
}

/// What the probe measured.
#[derive(Debug)]
pub struct ProbeFinding {
    /// Time to SeaBIOS's "No bootable device." under KVM, or why KVM did not get there.
    pub kvm: Result<Duration, ProbeError>,
    /// The same under TCG, when KVM got there (to compare).
    pub tcg: Option<Result<Duration, ProbeError>>,
}

impl ProbeFinding {
    /// Whether KVM is worth a real boot, and the evidence in words.
    pub fn verdict(&self) -> (bool, String) {
        match (&self.kvm, &self.tcg) {
            (Err(why), _) => (false, why.to_string()),
            (Ok(kvm), Some(Ok(tcg))) if kvm > tcg => (
                false,
                format!(
                    "KVM ran SeaBIOS in {} ms, slower than TCG's {} ms (a nested or paravirtual KVM)",
                    kvm.as_millis(),
                    tcg.as_millis()
                ),
            ),
            (Ok(kvm), Some(Ok(tcg))) => (true, format!("KVM ran SeaBIOS in {} ms, TCG in {} ms", kvm.as_millis(), tcg.as_millis())),
            (Ok(kvm), _) => (true, format!("KVM ran SeaBIOS in {} ms", kvm.as_millis())),
        }
    }
}

/// Probes KVM, then TCG if KVM got through, for [`ProbeFinding::verdict`].
pub async fn probe(qemu: &Path) -> ProbeFinding {
    if let Err(why) = kvm_device() {
        return ProbeFinding { kvm: Err(why), tcg: None };
    }
    let kvm = run_firmware(qemu, Accel::Kvm).await;
    let tcg = match kvm {
        Ok(_) => Some(run_firmware(qemu, Accel::Tcg).await),
        Err(_) => None,
    };
    ProbeFinding { kvm, tcg }
}

/// `/dev/kvm` exists and this user can open it.
fn kvm_device() -> Result<(), ProbeError> {
    let dev = Path::new("/dev/kvm");
    if !dev.exists() {
        return Err(ProbeError::NoDevice);
    }
    std::fs::OpenOptions::new().read(true).write(true).open(dev).map(|_| ()).map_err(ProbeError::Open)
}

/// Boots SeaBIOS under `accel`; `Ok(time to "No bootable device.")` or why not.
async fn run_firmware(qemu: &Path, accel: Accel) -> Result<Duration, ProbeError> {
    let mut cmd = Command::new(qemu);
    cmd.args(probe_args(accel)).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    crate::process::guard_child(&mut cmd);
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|source| ProbeError::Spawn { qemu: qemu.to_path_buf(), source })?;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let reached = async {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("No bootable device") {
                return true;
            }
        }
        false
    };
    let outcome = tokio::time::timeout(PROBE_LIMIT, reached).await;
    let took = start.elapsed();
    let _ = child.start_kill();
    let _ = child.wait().await;
    let mut err = String::new();
    let _ = tokio::time::timeout(Duration::from_millis(200), stderr.read_to_string(&mut err)).await;
    let err: Vec<String> = err.lines().map(str::to_string).collect();
    match outcome {
        Ok(true) => Ok(took),
        Ok(false) => Err(signs::first_failure(&err, 1)
            .map(|f| f.summary)
            .or_else(|| err.iter().find(|l| !l.trim().is_empty()).map(|l| signs::strip_program(l).to_string()))
            .map_or(ProbeError::Exited(accel), ProbeError::Refused)),
        Err(_) => Err(ProbeError::TooSlow(accel)),
    }
}

/// QEMU arguments of the probe: no devices, SeaBIOS's debug port on stdout, the CPU model
/// a real run uses.
pub fn probe_args(accel: Accel) -> Vec<String> {
    let mut a = crate::vm::qemu::accel_args(accel);
    a.extend(
        [
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-m",
            "64M",
            "-chardev",
            "stdio,id=bios",
            "-device",
            "isa-debugcon,iobase=0x402,chardev=bios",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn kvm_slower_than_tcg_is_not_worth_a_boot() {
        let host2 = ProbeFinding { kvm: Ok(ms(1461)), tcg: Some(Ok(ms(350))) };
        let (worth, why) = host2.verdict();
        assert!(!worth);
        assert!(why.contains("1461 ms, slower than TCG's 350 ms"), "{why}");
    }

    #[test]
    fn fast_kvm_is_worth_a_boot_and_an_abort_is_not() {
        assert!(ProbeFinding { kvm: Ok(ms(40)), tcg: Some(Ok(ms(350))) }.verdict().0);
        let abort = ProbeFinding {
            kvm: Err(ProbeError::Refused("KVM refused the guest's MSRs: failed to set MSR 0x10a to 0x69".into())),
            tcg: None,
        };
        assert_eq!(abort.verdict(), (false, "KVM refused the guest's MSRs: failed to set MSR 0x10a to 0x69".into()));
    }

    #[test]
    fn probe_uses_the_cpu_model_of_a_real_run() {
        let a = probe_args(Accel::Kvm);
        assert!(a.windows(2).any(|w| w == ["-cpu", "host"]));
        assert!(a.windows(2).any(|w| w == ["-accel", "kvm"]));
        assert!(probe_args(Accel::Tcg).windows(2).any(|w| w[0] == "-accel" && w[1].starts_with("tcg")));
    }
}
