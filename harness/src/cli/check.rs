//! `lab check`: validate a scenario without running it (no root needed).

use super::{scenario_arg, Failure};

/// Validate a scenario: every error with file, line, column and field. Needs no root.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario name (in scenarios/) or path to a YAML file.
    pub scenario: String,
}

pub fn main(args: Args) -> Result<u8, Failure> {
    let path = scenario_arg::resolve(&args.scenario).map_err(Failure::usage)?;
    let checked = lab::scenario::check_file(&path).map_err(Failure::usage)?;
    for w in &checked.warnings {
        eprintln!("warning: {w}");
    }
    let s = &checked.loaded.scenario;
    let variants: Vec<&str> = checked.variants.iter().map(|v| v.name.as_str()).collect();
    println!(
        "{}: ok — {} namespaces, {} links, {} steps, {} expectations, variants: {}{}",
        path.display(),
        s.topology.namespaces.len(),
        s.topology.links.len(),
        s.steps.len(),
        s.expect.len(),
        variants.join(", "),
        match checked.warnings.len() {
            0 => String::new(),
            n => format!(" ({n} warning(s) above)"),
        }
    );
    Ok(super::exit::MET)
}
