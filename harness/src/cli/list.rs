//! `lab list`: the scenarios with their one-line descriptions, kernels and variants.

use super::{scenario_arg, Failure};

/// List the scenarios in scenarios/ with a one-line description each.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn main(_args: Args) -> Result<u8, Failure> {
    let dir = scenario_arg::scenarios_dir();
    let files = scenario_arg::list(&dir);
    if files.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!("no scenarios in {}", dir.display())));
    }
    for path in files {
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        match lab::scenario::load(&path) {
            Ok(l) => {
                let variants: Vec<&str> = l.scenario.variants.keys().map(String::as_str).collect();
                let v = if variants.is_empty() { String::new() } else { format!("  [{}]", variants.join(", ")) };
                println!("{name:<16} {}  (kernels {}){v}", l.scenario.description, l.scenario.kernel.base);
            }
            Err(_) => println!("{name:<16} (invalid: run `lab check {name}`)"),
        }
    }
    Ok(super::exit::MET)
}
