//! The flags every verb that boots a VM shares: which kernel, which QEMU, which accelerator.

use std::path::PathBuf;

use lab::scenario::{DebugKind, KernelVersion, Loaded};
use lab::vm::backend::VmOptions;
use lab::vm::qemu::Accel;

#[derive(clap::Args, Debug, Clone)]
pub struct VmArgs {
    /// Boot this bzImage instead of building the variant's kernel.
    #[arg(long, value_name = "BZIMAGE")]
    pub bzimage: Option<PathBuf>,
    /// Accelerator: `kvm` or `tcg`. Default: what worked on this host before (`lab doctor`),
    /// else a probe, with an automatic fall back to TCG if KVM fails before the guest is up.
    #[arg(long, env = "LAB_ACCEL", value_parser = parse_accel)]
    pub accel: Option<Accel>,
    /// The QEMU binary (or a stand-in with the same command line).
    #[arg(long, env = "LAB_QEMU", value_name = "PATH", default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// Which kernel to build, for every verb that builds one: `--kernel 5.10`, `--fuzz N`,
/// `--debug kasan,lockdep`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BuildArgs {
    /// The kernel version, one of the scenario's `kernel.base` (5.10, 6.1, 6.12); default:
    /// the first it lists.
    #[arg(long = "kernel", value_name = "VERSION")]
    pub version: Option<KernelVersion>,
    /// Let the series apply with this much fuzz (GNU patch's), overriding `kernel.fuzz`;
    /// every hunk applied with fuzz or at an offset is named in the run and its reports.
    #[arg(long, value_name = "N")]
    pub fuzz: Option<u32>,
    #[command(flatten)]
    pub debug: DebugArgs,
}

impl BuildArgs {
    /// The scenario as these flags change it (debug kernels added, fuzz allowed).
    pub fn apply(&self, loaded: &mut Loaded) {
        self.debug.apply(loaded);
        if let Some(f) = self.fuzz {
            loaded.scenario.kernel.fuzz = f;
        }
    }
}

/// `--debug kasan,lockdep`, for every verb that builds a kernel.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DebugArgs {
    /// Build the guest kernel with these checkers too, on top of the scenario's
    /// `kernel.debug`: kasan, kfence, lockdep, ubsan, atomic_sleep, kmemleak, slub. Each set is a
    /// kernel config of its own, built cold the first time (minutes); `slub` only adds
    /// `slub_debug` to the guest's command line.
    #[arg(long, value_delimiter = ',', value_name = "KIND,...")]
    pub debug: Vec<DebugKind>,
}

impl DebugArgs {
    /// Adds the kinds asked for to the scenario's own (the kernel request makes a set of them).
    pub fn apply(&self, loaded: &mut Loaded) {
        loaded.scenario.kernel.debug.extend(&self.debug);
    }
}

fn parse_accel(s: &str) -> Result<Accel, lab::vm::qemu::UnknownAccel> {
    s.parse()
}

impl VmArgs {
    pub fn options(&self) -> VmOptions {
        VmOptions { kernel: self.bzimage.clone(), qemu: self.qemu.clone(), accel: self.accel, ..VmOptions::default() }
    }
}
