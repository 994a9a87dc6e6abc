//! `lab doctor`: what `lab` knows about running VMs on this host — the accelerator record
//! and a fresh probe — so a person can see why runs boot the way they do.

use super::{vm_args::VmArgs, Failure};
use lab::vm::accel::{probe, HostKey, Records};

/// Show how VMs boot on this host: the remembered accelerator decision and its evidence,
/// and what a SeaBIOS probe says now.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Drop this host's record, so the next run decides afresh.
    #[arg(long)]
    pub forget: bool,
    #[command(flatten)]
    pub vm: VmArgs,
}

pub fn main(args: Args) -> Result<u8, Failure> {
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::infra)?;
    let records = Records::default();
    let qemu = args.vm.qemu.clone();
    runtime.block_on(async {
        let key =
            HostKey::current(&qemu).await.map_err(|e| Failure::infra(anyhow::anyhow!("cannot run {} --version: {e}", qemu.display())))?;
        println!("host:   {} on {} (kernel {})", key.qemu_version, key.cpu_model, key.host_kernel);
        println!("qemu:   {}", key.qemu);
        println!("record: {}", records.path(&key).display());
        match records.load(&key) {
            Some(r) => {
                println!("        boots with {} — {}", r.accel, r.evidence);
                for l in r.lines.iter().take(8) {
                    println!("        | {l}");
                }
            }
            None => println!("        none yet: the next run probes, and falls back to TCG if KVM fails"),
        }
        if args.forget && records.forget(&key).map_err(Failure::infra)? {
            println!("        forgotten");
        }
        let (worth, evidence) = probe::probe(&qemu).await.verdict();
        println!("probe:  {} — {evidence}", if worth { "KVM worth a boot" } else { "KVM unusable" });
        if let Some(a) = args.vm.accel {
            println!("forced: {a} (--accel or LAB_ACCEL)");
        }
        Ok::<_, Failure>(())
    })?;
    Ok(super::exit::MET)
}
