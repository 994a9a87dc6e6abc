//! The `lab` command line: thin verbs over the library.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    // Inside a VM, `lab` is PID 1: the guest agent, not the CLI.
    if lab::vm::guest::is_guest_invocation() {
        lab::vm::guest::guest_main();
    }
    // A workload a step started (`lab __lab_workload <kind>`), not the CLI.
    if lab::process::workload::is_invocation() {
        lab::process::workload::main();
    }
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("lab: {:#}", e.error);
            ExitCode::from(e.code)
        }
    }
}
