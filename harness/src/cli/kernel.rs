//! `lab kernel build`: build (or find cached) the kernel of a scenario's variant.

use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressStyle};

use super::{scenario_arg, vm_args::BuildArgs, Failure};
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
        build: BuildArgs,
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
        build: BuildArgs,
    },
}

pub fn main(args: Args) -> Result<u8, Failure> {
    match args.action {
        Action::Build { scenario, variant, build: b } => build(&request(&scenario, variant.as_deref(), &b)?),
        Action::Config { scenario, variant, build } => {
            let req = request(&scenario, variant.as_deref(), &build)?;
            let merged = merged_config(&req, &|_| {}).map_err(kernel_failure)?;
            print!("{}", merged.text);
            // What the reader of the .config must know besides it: on stderr, so stdout stays a .config.
            eprintln!("# linux-source-{} {}, patches applied with fuzz {}", req.base, merged.source_version, req.fuzz);
            for h in &merged.hunks {
                eprintln!("# patch: {h}");
            }
            for t in &merged.report.tolerated {
                eprintln!("# config: {t}");
            }
            Ok(super::exit::MET)
        }
    }
}

/// The kernel request of a scenario's variant, its files checked to exist.
fn request(scenario: &str, variant: Option<&str>, build: &BuildArgs) -> Result<KernelRequest, Failure> {
    let (loaded, variant) = scenario_arg::load_variant(scenario, variant, build)?;
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
        "kernel {} {} ({}, {:.0} s): {}\n  source: linux-source-{} {}\n  config: {}\n  log:    {}",
        req.base,
        &built.key[..16],
        if built.built { "built" } else { "cached" },
        built.took_ms as f64 / 1000.0,
        built.bzimage.display(),
        req.base,
        built.source_version,
        built.config_file.display(),
        built.log.display()
    );
    for h in &built.hunks {
        println!("  patch:  {h}");
    }
    for t in &built.config.tolerated {
        println!("  config: {t}");
    }
    Ok(super::exit::MET)
}

/// A patch that does not apply or a bad config is the user's to fix (2); the rest is the
/// machine's (3).
pub fn kernel_failure(e: KernelError) -> Failure {
    match e {
        KernelError::PatchFailed { .. } | KernelError::Config { .. } | KernelError::Needs { .. } => Failure::usage(e),
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
