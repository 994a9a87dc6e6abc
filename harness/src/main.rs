//! The `lab` command line: thin verbs over the library.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("lab: {:#}", e.error);
            ExitCode::from(e.code)
        }
    }
}
