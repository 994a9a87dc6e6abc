//! A verification (`lab verify`, or `lab report merge` of its shards) as a [`Report`]: its
//! verdict in its own words, each variant's rate with its Wilson interval, and every trial —
//! with its whole timeline when its run directory's `events.jsonl` is still there, else
//! with what the verification kept of it.

use std::path::Path;

use super::report::{Rate, Report, TrialRecord, Verdict};
use crate::event::Event;
use crate::verify::report::{Trial, Verdict as Answer, Verification};

/// The report of `v`.
pub fn report(v: &Verification) -> Report {
    let verdict = Verdict {
        label: v.verdict.verdict.title().to_string(),
        summary: v.verdict.reasons.join(" "),
        passed: v.verdict.verdict == Answer::FixVerified,
    };
    let rates = v
        .variants
        .iter()
        .map(|var| Rate {
            variant: var.name.clone(),
            seen: var.summary.seen,
            trials: var.summary.counted,
            low: var.summary.interval.low,
            high: var.summary.interval.high,
            exercised: Some(var.summary.exercised),
        })
        .collect();
    let trials = v.variants.iter().flat_map(|var| var.trials.iter().map(|t| trial(&v.scenario, &var.name, t))).collect();
    let shard = v.shard.map_or(String::new(), |s| format!(" (shard {}/{})", s.index, s.count));
    Report { title: format!("lab verify {}{shard}", v.scenario), verdict: Some(verdict), rates, trials }
}

/// One trial: from its events when its run directory has them.
fn trial(scenario: &str, variant: &str, t: &Trial) -> TrialRecord {
    let number = t.index + 1;
    let events = t.run_dir.as_deref().map(|d| read_events(&Path::new(d).join("events.jsonl"))).unwrap_or_default();
    let mut r = TrialRecord::from_events(scenario, variant, number, &events);
    // The verification's own account wins: it ran the trial.
    r.variant = variant.to_string();
    r.outcome = t.outcome;
    r.summary.clone_from(&t.summary);
    r.took_ms = t.duration_ms;
    if r.dir.is_none() {
        r.dir = t.run_dir.as_ref().map(Into::into);
    }
    if r.faults.is_empty() {
        r.faults = t.faults.iter().map(|f| ("fault".to_string(), f.clone())).collect();
    }
    r
}

/// Every event of an `events.jsonl` (lines that are not events are skipped).
fn read_events(path: &Path) -> Vec<Event> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Outcome;
    use crate::verify::report::{KernelInfo, Role, Shard, VariantReport, VerdictReport};

    fn variant(name: &str, role: Role, seen: &[bool], run_dir: Option<String>) -> VariantReport {
        let trials: Vec<Trial> = seen
            .iter()
            .enumerate()
            .map(|(i, s)| Trial {
                index: i as u32,
                outcome: if *s == (role == Role::Buggy) { Outcome::Met } else { Outcome::NotMet },
                summary: format!("trial {i}"),
                seen: *s,
                exercised: true,
                since_anchor_ms: s.then_some(1500),
                duration_ms: 60_000,
                run_dir: run_dir.clone(),
                faults: vec![],
                tolerated_faults: vec![],
            })
            .collect();
        let summary = crate::verify::stats::summarize(role, &trials);
        VariantReport {
            name: name.into(),
            role,
            kernel: KernelInfo::default(),
            signature: vec!["leak-reported".into()],
            evidence: vec![],
            trials,
            summary,
        }
    }

    #[test]
    fn a_verification_becomes_rates_verdict_and_trials() {
        let dir = tempfile::tempdir().unwrap();
        let events = crate::render::report::tests::events("buggy", Outcome::Met, true);
        let jsonl: String = events.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
        std::fs::write(dir.path().join("events.jsonl"), jsonl).unwrap();
        let buggy = variant("buggy", Role::Buggy, &[true, true, false], Some(dir.path().display().to_string()));
        let fixed = variant("fixed", Role::Fixed, &[false, false], None);
        let v = Verification {
            scenario: "fnhe-leak".into(),
            scenario_path: "scenarios/fnhe-leak.yaml".into(),
            trials_planned: 3,
            shard: Some(Shard { index: 2, count: 4 }),
            verdict: VerdictReport { verdict: Answer::Inconclusive, exit_code: 4, reasons: vec!["too few".into()] },
            kernels: Vec::new(),
            early_stop: None,
            took_ms: 1,
            variants: vec![buggy.clone(), fixed],
        };
        let r = report(&v);
        assert_eq!(r.title, "lab verify fnhe-leak (shard 2/4)");
        let v0 = r.verdict.as_ref().unwrap();
        assert_eq!((v0.label.as_str(), v0.passed), ("INCONCLUSIVE", false));
        assert_eq!((r.rates[0].seen, r.rates[0].trials, r.rates[0].low), (2, 3, buggy.summary.interval.low));
        assert_eq!(r.trials.len(), 5);
        // The trial with a run directory has its timeline; the numbers are the verification's.
        assert_eq!((r.trials[0].steps.len(), r.trials[0].took_ms, r.trials[0].number), (1, 60_000, 1));
        assert_eq!(r.trials[4].name(), "fnhe-leak::fixed#2");
        assert!(crate::render::ktap::check(&crate::render::ktap::render(&r)).is_ok());
    }
}
