//! `lab check`: validate a scenario without running it (no root needed).

use super::{scenario_arg, Failure};
use lab::scenario::{load, Variant};

/// Validate a scenario: every error with file, line, column and field. Needs no root.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario name (in scenarios/) or path to a YAML file.
    pub scenario: String,
}

pub fn main(args: Args) -> Result<u8, Failure> {
    let path = scenario_arg::resolve(&args.scenario).map_err(Failure::usage)?;
    let loaded = load(&path).map_err(Failure::usage)?;
    let missing = lab::vm::kernel::file_diagnostics(&loaded);
    if !missing.is_empty() {
        return Err(Failure::usage(lab::scenario::LoadError::Invalid(missing)));
    }
    let s = &loaded.scenario;
    let variants: Vec<String> = if s.variants.is_empty() { vec!["default".into()] } else { s.variants.keys().cloned().collect() };
    for v in &variants {
        Variant::resolve(s, Some(v)).map_err(Failure::usage)?;
    }
    println!(
        "{}: ok — {} namespaces, {} links, {} steps, {} expectations, variants: {}",
        path.display(),
        s.topology.namespaces.len(),
        s.topology.links.len(),
        s.steps.len(),
        s.expect.len(),
        variants.join(", ")
    );
    Ok(super::exit::MET)
}
