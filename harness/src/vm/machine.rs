//! Which machine a guest boots on, `pc` or `microvm` ([`Machine`]), from what the kernel,
//! this QEMU and this host allow; `$LAB_MACHINE` (`pc`, `microvm`) asks for one.
//!
//! Why microvm when it can: under TCG on a 2-core host, QEMU start to init's first line was
//! ~1.5 s on pc (SeaBIOS, bzImage decompression, PCI probing) against ~0.6 s on microvm
//! (qboot, vmlinux through PVH, virtio-mmio). pc stays the fallback: it boots any kernel
//! (a `--kernel` bzImage, a cached build from before vmlinux was kept).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::qemu::Machine;

/// What to boot, on what, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachinePlan {
    pub machine: Machine,
    /// The image QEMU loads with `-kernel`.
    pub kernel: PathBuf,
    /// Kernel arguments the machine needs (`tsc_early_khz=` on microvm).
    pub cmdline: Vec<String>,
    pub reason: String,
}

/// What the choice depends on, found by [`probe`] (or written by a test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineFacts {
    /// `$LAB_MACHINE`.
    pub forced: Option<Machine>,
    /// This QEMU lists `microvm` in `-machine help`.
    pub qemu_has_microvm: bool,
    /// The host's TSC frequency, when it is constant (the guest's TSC under TCG is the
    /// host's, and microvm gives the guest nothing to calibrate it against).
    pub tsc_khz: Option<u64>,
}

/// Pure: the machine for a kernel given as `bzimage` and, if the build kept it, `vmlinux`;
/// `no_pvh` says why this kernel cannot be entered through PVH, if it cannot ([`no_pvh`]).
pub fn choose(bzimage: &Path, vmlinux: Option<&Path>, no_pvh: Option<&str>, facts: &MachineFacts) -> MachinePlan {
    let pc = |reason: String| MachinePlan { machine: Machine::Pc, kernel: bzimage.to_path_buf(), cmdline: Vec::new(), reason };
    if facts.forced == Some(Machine::Pc) {
        return pc("pc: LAB_MACHINE=pc".into());
    }
    if let Some(why) = no_pvh {
        return pc(format!("pc: {why}"));
    }
    let Some(vmlinux) = vmlinux else {
        return pc("pc: no vmlinux next to this kernel (given with --kernel, or built before vmlinux was kept)".into());
    };
    if !facts.qemu_has_microvm {
        return pc("pc: this QEMU has no microvm machine".into());
    }
    let Some(khz) = facts.tsc_khz else {
        return pc("pc: the host's TSC is not constant, and a microvm guest could not calibrate its clock".into());
    };
    MachinePlan {
        machine: Machine::Microvm,
        kernel: vmlinux.to_path_buf(),
        // Under TCG every vCPU reads the host's TSC, but the kernel cannot know it is in sync
        // (no invariant-TSC flag on `-cpu max`) and marks it unstable; with no HPET or PM
        // timer it then keeps time in jiffies, which fall behind whenever the host is busy
        // (guest seconds were measured 2.3x longer than real ones on a loaded host).
        cmdline: vec![format!("tsc_early_khz={khz}"), "tsc=reliable".into()],
        reason: format!("microvm: vmlinux through PVH, TSC {} MHz", khz / 1000),
    }
}

/// Why the kernel built with `config` (its `.config` text) cannot boot through PVH: a KASAN
/// kernel (`--debug kasan`) entered there resets before its first console line (6.1 under
/// TCG: QEMU exits, the console empty), while the same kernel boots as a bzImage on pc.
pub fn no_pvh(config: &str) -> Option<&'static str> {
    config.lines().any(|l| l == "CONFIG_KASAN=y").then_some("a KASAN kernel does not boot through PVH")
}

/// Reads `$LAB_MACHINE`, asks QEMU for its machines and measures the host's TSC.
pub fn probe(qemu: &Path) -> MachineFacts {
    let forced = match std::env::var("LAB_MACHINE").ok().as_deref() {
        Some("pc") => Some(Machine::Pc),
        Some("microvm") => Some(Machine::Microvm),
        _ => None,
    };
    if forced == Some(Machine::Pc) {
        return MachineFacts { forced, qemu_has_microvm: false, tsc_khz: None };
    }
    MachineFacts { forced, qemu_has_microvm: qemu_has_microvm(qemu), tsc_khz: host_tsc_khz() }
}

fn qemu_has_microvm(qemu: &Path) -> bool {
    std::process::Command::new(qemu)
        .args(["-machine", "help"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| lists_microvm(&String::from_utf8_lossy(&o.stdout)))
}

/// Pure: whether `-machine help` output names `microvm`.
pub fn lists_microvm(help: &str) -> bool {
    help.lines().any(|l| l.split_whitespace().next() == Some("microvm"))
}

/// The host's TSC frequency in kHz, if `/proc/cpuinfo` says it is constant: measured over
/// 50 ms against the monotonic clock, each end read between two TSC reads close together
/// (a preempted read is taken again), so the error stays well under 0.1%.
#[cfg(target_arch = "x86_64")]
fn host_tsc_khz() -> Option<u64> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags"))?;
    if !flags.split_whitespace().any(|f| f == "constant_tsc") {
        return None;
    }
    let (t0, c0) = paired_read()?;
    std::thread::sleep(Duration::from_millis(50));
    let (t1, c1) = paired_read()?;
    let ns = t1.duration_since(t0).as_nanos() as u64;
    (ns > 0).then(|| (c1.saturating_sub(c0)).saturating_mul(1_000_000) / ns)
}

#[cfg(not(target_arch = "x86_64"))]
fn host_tsc_khz() -> Option<u64> {
    None
}

/// An instant and the TSC at that instant, from a bracket of at most 20 000 cycles.
#[cfg(target_arch = "x86_64")]
fn paired_read() -> Option<(Instant, u64)> {
    for _ in 0..100 {
        // SAFETY: rdtsc has no preconditions on x86_64.
        let before = unsafe { core::arch::x86_64::_rdtsc() };
        let now = Instant::now();
        // SAFETY: as above.
        let after = unsafe { core::arch::x86_64::_rdtsc() };
        if after.wrapping_sub(before) < 20_000 {
            return Some((now, before / 2 + after / 2));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> MachineFacts {
        MachineFacts { forced: None, qemu_has_microvm: true, tsc_khz: Some(2_596_136) }
    }

    #[test]
    fn microvm_when_everything_allows_it() {
        let p = choose(Path::new("/k/bzImage"), Some(Path::new("/k/vmlinux")), None, &facts());
        assert_eq!(p.machine, Machine::Microvm);
        assert_eq!(p.kernel, Path::new("/k/vmlinux"));
        assert_eq!(p.cmdline, ["tsc_early_khz=2596136", "tsc=reliable"]);
    }

    #[test]
    fn pc_whenever_one_thing_is_missing_and_says_which() {
        let bz = Path::new("/k/bzImage");
        let v = Some(Path::new("/k/vmlinux"));
        let kasan = no_pvh("CONFIG_NET=y\nCONFIG_KASAN=y\n");
        let cases = [
            (None, None, facts(), "no vmlinux"),
            (v, None, MachineFacts { qemu_has_microvm: false, ..facts() }, "no microvm"),
            (v, None, MachineFacts { tsc_khz: None, ..facts() }, "TSC"),
            (v, None, MachineFacts { forced: Some(Machine::Pc), ..facts() }, "LAB_MACHINE"),
            (v, kasan, facts(), "KASAN"),
        ];
        assert_eq!(no_pvh("CONFIG_NET=y\n# CONFIG_KASAN is not set\n"), None);
        for (vmlinux, no_pvh, f, why) in cases {
            let p = choose(bz, vmlinux, no_pvh, &f);
            assert_eq!((p.machine, p.kernel.as_path()), (Machine::Pc, bz), "{why}");
            assert!(p.cmdline.is_empty());
            assert!(p.reason.contains(why), "{} lacks {why}", p.reason);
        }
    }

    #[test]
    fn reads_qemu_machine_list() {
        let help =
            "Supported machines are:\nmicrovm              microvm (i386)\npc                   Standard PC (alias of pc-i440fx-7.2)\n";
        assert!(lists_microvm(help));
        assert!(!lists_microvm("pc   Standard PC\nq35  Standard PC (Q35 + ICH9, 2009)\n"));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_measured_tsc_is_plausible_when_constant() {
        if let Some(khz) = host_tsc_khz() {
            assert!((100_000..10_000_000).contains(&khz), "{khz} kHz");
        }
    }
}
