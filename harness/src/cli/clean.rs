//! `lab clean`: find and remove what a killed run left behind.

use super::Failure;

/// Remove namespaces and restore sysctls left by runs that died (even by SIGKILL).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also clean up after runs whose process is still alive.
    #[arg(long)]
    pub force: bool,
}

pub fn main(args: Args) -> Result<u8, Failure> {
    super::run::need_root("clean")?;
    let report = lab::cleanup::clean(args.force);
    print!("{report}");
    Ok(super::exit::MET)
}
