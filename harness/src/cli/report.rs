//! `lab report`: work on verification reports after the fact. `merge` joins the shares of
//! one verification (`lab verify --shard i/n`, one per CI runner) into one verdict.

use std::path::PathBuf;

use anyhow::anyhow;

use super::{report_args::ReportArgs, Failure};
use lab::verify::merge;
use lab::verify::report::Verification;

/// Work on verification reports (`lab verify --out`).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Join the shares of one verification into one verdict. Exit codes as `lab verify`.
    Merge {
        /// The shares' JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the merged verification as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write it as JSON to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        reports: ReportArgs,
    },
}

pub fn main(args: Args) -> Result<u8, Failure> {
    match args.action {
        Action::Merge { files, json, out, reports } => {
            let shares = files.iter().map(read).collect::<Result<Vec<_>, _>>()?;
            let v = merge::merge(&shares).map_err(Failure::usage)?;
            super::verify::emit(&v, json, out.as_deref())?;
            lab::render::files::write_verification(&v, None, &reports.outputs()).map_err(Failure::infra)?;
            Ok(v.verdict.exit_code as u8)
        }
    }
}

fn read(path: &PathBuf) -> Result<Verification, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::usage(anyhow!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Failure::usage(anyhow!("{}: not a verification report: {e}", path.display())))
}
