//! `--junit FILE`, `--ktap FILE`, `--html FILE`: the file reports a verb writes besides the
//! copies it always leaves in the run directory.

use std::path::PathBuf;

use lab::render::files::Outputs;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReportArgs {
    /// Also write the JUnit XML report to FILE (a copy is always in the run directory).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the KTAP report to FILE.
    #[arg(long, value_name = "FILE")]
    pub ktap: Option<PathBuf>,
    /// Also write the self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

impl ReportArgs {
    pub fn outputs(&self) -> Outputs {
        Outputs { junit: self.junit.clone(), ktap: self.ktap.clone(), html: self.html.clone() }
    }
}
