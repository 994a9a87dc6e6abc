//! `lab affected FILE`: would this container hang `runc init` (upstream runc 1.0.0-rc93)
//! under pipe pressure? For a config.json or a bare seccomp profile, no VM. Exit 0 not
//! affected, 1 affected, 2 bad input (a profile libseccomp refuses names its field).

use std::path::PathBuf;

use lab::seccomp::assess::{assess, Overrides};

use super::Failure;

/// Is a container with this seccomp profile (or OCI config.json) affected by the pipe-limit hang?
///
/// Builds the filter with libseccomp as runc does, exports it, and compares its size with
/// the pipe a uid over fs.pipe-user-pages-soft gets on the kernel; NNP and the capability
/// set come from a config.json, or the flags, or Kubernetes' and Docker's defaults.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// An OCI config.json (its linux.seccomp and process) or a bare linux.seccomp section.
    pub file: PathBuf,
    /// The node's kernel, major.minor.
    #[arg(long, default_value = "6.1")]
    pub kernel: String,
    /// The container's noNewPrivileges, over the file's.
    #[arg(long)]
    pub nnp: Option<bool>,
    /// The container's effective capabilities, comma-separated, over the file's.
    #[arg(long, value_delimiter = ',')]
    pub caps: Option<Vec<String>>,
}

pub fn main(args: Args) -> Result<u8, Failure> {
    let over = Overrides { no_new_privileges: args.nnp, caps: args.caps };
    let (facts, answer) =
        assess(&args.file, &args.kernel, &over).map_err(|e| Failure::usage(anyhow::anyhow!("{}: {e}", args.file.display())))?;
    println!(
        "{}: {} instructions, {} bytes exported; shrunk pipe on {}: {} bytes",
        args.file.display(),
        facts.instructions,
        facts.bytes,
        facts.pipe.kernel,
        facts.pipe.shrunk
    );
    println!("{}", answer.reason);
    Ok(if answer.affected { 1 } else { super::exit::MET })
}
