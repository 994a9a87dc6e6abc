//! Whether KVM really works here, decided by running guest code, never assumed.
//!
//! `/dev/kvm` can exist and still be useless: behind a paravirtual host module QEMU aborts
//! at once (`failed to set MSR 0x10a`) or runs guests slower than TCG. The probe boots
//! SeaBIOS alone with `-accel kvm -cpu host` (the CPU model a real run uses) and waits for
//! its "No bootable device." on the debug console: real KVM gets there in a fraction of a
//! second, TCG in about 0.35 s, a crawling KVM takes seconds.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use super::qemu::Accel;

/// How long SeaBIOS may take under KVM before KVM is judged too slow to use.
pub const PROBE_LIMIT: Duration = Duration::from_secs(2);

/// The accelerator to boot with, and why, in words for the `VmStarting` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelChoice {
    pub accel: Accel,
    pub reason: String,
}

/// Picks the accelerator: `forced` if given (`--accel`, `LAB_ACCEL`), else KVM if the probe
/// passes, else TCG with the probe's finding as the reason.
pub async fn choose(qemu: &Path, forced: Option<Accel>) -> AccelChoice {
    if let Some(accel) = forced {
        return AccelChoice { accel, reason: format!("{accel} requested") };
    }
    match probe(qemu).await {
        Ok(took) => AccelChoice { accel: Accel::Kvm, reason: format!("KVM works (probe ran SeaBIOS in {} ms)", took.as_millis()) },
        Err(why) => AccelChoice { accel: Accel::Tcg, reason: format!("KVM unusable, falling back to TCG (slow): {why}") },
    }
}

/// Boots SeaBIOS under KVM; `Ok(time to "No bootable device.")` or why KVM is unusable.
pub async fn probe(qemu: &Path) -> Result<Duration, String> {
    let dev = Path::new("/dev/kvm");
    if !dev.exists() {
        return Err("/dev/kvm does not exist".into());
    }
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(dev) {
        return Err(format!("cannot open /dev/kvm: {e}"));
    }
    let mut cmd = Command::new(qemu);
    cmd.args(probe_args()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    super::backend::guard_child(&mut cmd);
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", qemu.display()))?;
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
    match outcome {
        Ok(true) => Ok(took),
        Ok(false) => Err(first_error(&err).unwrap_or_else(|| "QEMU with -accel kvm exited before running the BIOS".into())),
        Err(_) => Err(format!("a KVM guest did not get through the BIOS within {} s (TCG takes 0.35 s)", PROBE_LIMIT.as_secs())),
    }
}

/// QEMU arguments of the probe: no devices, SeaBIOS's debug port on stdout.
pub fn probe_args() -> Vec<String> {
    [
        "-accel",
        "kvm",
        "-cpu",
        "host",
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
    .map(|s| s.to_string())
    .collect()
}

/// The first `qemu-system-x86_64: ...` message, without the program name.
pub fn first_error(stderr: &str) -> Option<String> {
    stderr.lines().map(str::trim).find(|l| !l.is_empty()).map(|l| {
        let l = l.split_once(": ").filter(|(p, _)| p.starts_with("qemu-system")).map_or(l, |(_, rest)| rest);
        l.strip_prefix("error: ").unwrap_or(l).to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_msr_abort_is_named_plainly() {
        let err = "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\n";
        assert_eq!(first_error(err).as_deref(), Some("failed to set MSR 0x10a to 0x69"));
        assert_eq!(first_error("\n"), None);
        assert_eq!(
            first_error("Could not access KVM kernel module: No such file or directory").as_deref(),
            Some("Could not access KVM kernel module: No such file or directory")
        );
    }

    #[test]
    fn probe_uses_the_cpu_model_of_a_real_run() {
        let a = probe_args();
        assert!(a.windows(2).any(|w| w == ["-cpu", "host"]));
        assert!(a.windows(2).any(|w| w == ["-accel", "kvm"]));
    }

    #[tokio::test]
    async fn forced_accelerator_skips_the_probe() {
        let c = choose(Path::new("/nonexistent/qemu"), Some(Accel::Tcg)).await;
        assert_eq!(c.accel, Accel::Tcg);
    }
}
