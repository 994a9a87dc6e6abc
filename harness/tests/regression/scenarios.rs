//! The suite discovered from `scenarios/`: one trial per scenario x variant, named
//! `<scenario>::<variant>`, that runs the variant in a real VM (its own kernel, built or
//! found in the kernel cache) and asserts its expectations were met — the verdict `lab run`
//! gives. A new scenario file adds its trials with no Rust change; a file that does not
//! load is a failing trial `<file>::load` with the loader's diagnostics.
//!
//! A race may miss: when the only expectations not met are `must: appear` ones that saw
//! nothing, the variant earns one more run (two misses in a row fail). A signature seen
//! where it must not appear is never retried.

use std::path::{Path, PathBuf};

use libtest_mimic::{Failed, Trial};

use lab::event::{Event, Must, Outcome};

use crate::support::{gated, repo};

/// Runs of a variant whose `must: appear` expectation saw nothing, before it fails.
const ATTEMPTS: usize = 2;

pub fn tests() -> Vec<Trial> {
    scenario_files(&repo().join("scenarios")).into_iter().flat_map(|path| trials_of(&path)).collect()
}

/// `scenarios/*.yaml`, sorted.
fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// The variants of one scenario file as trials.
fn trials_of(path: &Path) -> Vec<Trial> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let loaded = match lab::scenario::load(path) {
        Ok(l) => l,
        Err(e) => {
            let msg = e.to_string();
            return vec![Trial::test(format!("{stem}::load"), move || Err(msg.into()))];
        }
    };
    let s = &loaded.scenario;
    let variants: Vec<String> = if s.variants.is_empty() { vec!["default".into()] } else { s.variants.keys().cloned().collect() };
    variants
        .into_iter()
        .map(|variant| {
            let (path, name) = (path.to_path_buf(), format!("{}::{variant}", s.name));
            gated(name, crate::vm::unavailable(), move || run_variant(&path, &variant))
        })
        .collect()
}

fn run_variant(path: &Path, variant: &str) -> Result<(), Failed> {
    for attempt in 1..=ATTEMPTS {
        let run = crate::vm::run_file(path, Some(variant), |o| o)?;
        eprintln!("{variant}: {:?} in {:.1} s ({})", run.report.outcome, run.took.as_secs_f64(), run.dir.display());
        if run.report.outcome == Outcome::Met {
            return Ok(());
        }
        if attempt < ATTEMPTS && missed_race(&run.events) {
            eprintln!("{variant}: a `must: appear` expectation saw nothing on attempt {attempt}; running once more");
            continue;
        }
        let unmet: Vec<String> = run
            .events
            .iter()
            .filter_map(|e| match e {
                Event::ExpectationDecided { id, met: false, reason, .. } => Some(format!("{id}: {reason}")),
                _ => None,
            })
            .collect();
        return run.ensure(false, &format!("the variant's expectations must be met; not met: {}", unmet.join("; ")));
    }
    unreachable!("the last attempt returns")
}

/// Whether the run was not met only because `must: appear` expectations saw nothing.
fn missed_race(events: &[Event]) -> bool {
    let mut unmet = events.iter().filter_map(|e| match e {
        Event::ExpectationDecided { must, met: false, observation, .. } => Some((*must, observation.is_none())),
        _ => None,
    });
    let verdict_not_met = events.iter().any(|e| matches!(e, Event::Verdict { outcome: Outcome::NotMet, .. }));
    verdict_not_met && unmet.all(|(must, nothing)| must == Must::Appear && nothing)
}
