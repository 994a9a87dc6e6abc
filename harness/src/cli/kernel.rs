//! `lab kernel build`: build (or find cached) the kernel of a scenario's variant.

use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressStyle};

use super::{scenario_arg, vm_args::DebugArgs, Failure};
use lab::vm::kernel::{ensure_built, merged_config, missing_files, request_for, BuildProgress, KernelError, KernelRequest};

/// Kernel builds for the VM backend.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Apply the variant's patches to Debian's kernel source, merge the config fragments and
    /// build bzImage; a build with the same source, patches and config is reused.
    Build {
        /// Scenario name (in scenarios/) or path to a YAML file.
        scenario: String,
        /// Variant whose patches to apply; default: the scenario's default.
        #[arg(long)]
        variant: Option<String>,
        #[command(flatten)]
        debug: DebugArgs,
    },
    /// Print the `.config` the variant's kernel is built with, without compiling: the tree
    /// patched, base.config, the debug kernels' and the scenario's fragments merged over
    /// tinyconfig, every requested option checked to have stuck.
    Config {
        /// Scenario name (in scenarios/) or path to a YAML file.
        scenario: String,
        #[arg(long)]
        variant: Option<String>,
        #[command(flatten)]
        debug: DebugArgs,
    },
}

pub fn main(args: Args) -> Result<u8, Failure> {
    match args.action {
        Action::Build { scenario, variant, debug } => build(&request(&scenario, variant.as_deref(), &debug)?),
        Action::Config { scenario, variant, debug } => {
            let config = merged_config(&request(&scenario, variant.as_deref(), &debug)?, &|_| {}).map_err(kernel_failure)?;
            print!("{config}");
            Ok(super::exit::MET)
        }
    }
}

/// The kernel request of a scenario's variant, its files checked to exist.
fn request(scenario: &str, variant: Option<&str>, debug: &DebugArgs) -> Result<KernelRequest, Failure> {
    let (loaded, variant) = scenario_arg::load_variant(scenario, variant, debug)?;
    let req = request_for(&loaded, &variant);
    let missing = missing_files(&req);
    if !missing.is_empty() {
        return Err(Failure::usage(anyhow!(
            "variant `{}` names files that do not exist: {}",
            variant.name,
            missing.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(req)
}

fn build(req: &KernelRequest) -> Result<u8, Failure> {
    let built = build_with_progress(req).map_err(kernel_failure)?;
    println!(
        "kernel {} ({}, {:.0} s): {}\n  config: {}\n  log:    {}",
        &built.key[..16],
        if built.built { "built" } else { "cached" },
        built.took_ms as f64 / 1000.0,
        built.bzimage.display(),
        built.config.display(),
        built.log.display()
    );
    Ok(super::exit::MET)
}

/// A patch that does not apply or a bad config is the user's to fix (2); the rest is the
/// machine's (3).
pub fn kernel_failure(e: KernelError) -> Failure {
    match e {
        KernelError::PatchFailed { .. } | KernelError::Config(_) => Failure::usage(e),
        _ => Failure::infra(e),
    }
}

/// Builds with a progress bar on stderr.
pub fn build_with_progress(req: &lab::vm::kernel::KernelRequest) -> Result<lab::vm::kernel::BuiltKernel, KernelError> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}").unwrap());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let result = ensure_built(req, &|p| match p {
        BuildProgress::Phase(msg) => bar.set_message(msg),
        BuildProgress::Compiled { done, estimate } => {
            bar.set_message(format!("compiling: {done}/{estimate} steps ({}%)", (done * 100 / estimate.max(1)).min(99)))
        }
    });
    bar.finish_and_clear();
    result
}
