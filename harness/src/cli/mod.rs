//! One file per verb; each parses its arguments and calls the library.

mod affected;
mod check;
mod clean;
mod doctor;
mod kernel;
mod list;
mod report;
mod report_args;
mod run;
mod scenario_arg;
mod shell;
mod signals;
mod triage;
mod verify;
mod vm_args;

use clap::{Parser, Subcommand};

/// Exit codes every verb shares.
pub mod exit {
    pub const MET: u8 = 0;
    /// Bad scenario or bad usage.
    pub const USAGE: u8 = 2;
    /// Missing tool, not root, VM failure, a step that could not be carried out.
    pub const INFRA: u8 = 3;
}

/// An error with the exit code it ends the process with.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure { code: exit::USAGE, error: error.into() }
    }
    pub fn infra(error: impl Into<anyhow::Error>) -> Self {
        Failure { code: exit::INFRA, error: error.into() }
    }
}

/// Reproduce Linux kernel and container-runtime incidents from YAML scenarios.
///
/// A scenario (scenarios/<name>.yaml) describes namespaces, links, traffic and pressure,
/// and the fault signature to look for. `lab run` rebuilds it and says whether the
/// signature appeared. Exit codes: 0 expectation met, 1 not met, 2 scenario or usage
/// error, 3 infrastructure error (missing tool, not root, VM failure).
#[derive(Parser, Debug)]
#[command(
    name = "lab",
    version,
    about,
    long_about,
    after_help = "Start with `lab list`, then `lab check <scenario>` and `lab run <scenario>`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Subcommand, Debug)]
pub enum Verb {
    Run(run::Args),
    List(list::Args),
    Check(check::Args),
    Clean(clean::Args),
    Kernel(kernel::Args),
    Shell(shell::Args),
    Doctor(doctor::Args),
    Triage(triage::Args),
    Verify(verify::Args),
    Report(report::Args),
    Affected(affected::Args),
}

pub fn dispatch(cli: Cli) -> Result<u8, Failure> {
    match cli.verb {
        Verb::Run(a) => run::main(a),
        Verb::List(a) => list::main(a),
        Verb::Check(a) => check::main(a),
        Verb::Clean(a) => clean::main(a),
        Verb::Kernel(a) => kernel::main(a),
        Verb::Shell(a) => shell::main(a),
        Verb::Doctor(a) => doctor::main(a),
        Verb::Triage(a) => triage::main(a),
        Verb::Verify(a) => verify::main(a),
        Verb::Report(a) => report::main(a),
        Verb::Affected(a) => affected::main(a),
    }
}
