//! `lab report merge`: the shares of one verification (`--shard i/n`, one per CI runner)
//! joined into one, its summaries and verdict decided again over every trial.

use super::report::{EarlyStop, VariantReport, Verification};
use super::{stats, verdicts};

/// Why shares cannot be joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("share {index} is of {found}, the first of {expected}: merge shares of one verification")]
    Mismatch { index: usize, expected: String, found: String },
    #[error("trial {trial} of variant `{variant}` is in two shares")]
    Duplicate { variant: String, trial: u32 },
}

/// What a share is of: scenario, trials planned, and its variants with their kernels.
fn identity(v: &Verification) -> String {
    let sides: Vec<String> = v.variants.iter().map(|s| format!("{} [{}]", s.label(), s.kernel.patches.join(" "))).collect();
    format!("{} x{} ({})", v.scenario, v.trials_planned, sides.join(", "))
}

/// Joins `shares` into one verification.
pub fn merge(shares: &[Verification]) -> Result<Verification, MergeError> {
    let first = shares.first().ok_or(MergeError::Empty)?;
    for (index, s) in shares.iter().enumerate() {
        if identity(s) != identity(first) {
            return Err(MergeError::Mismatch { index: index + 1, expected: identity(first), found: identity(s) });
        }
    }
    let mut variants: Vec<VariantReport> = Vec::new();
    for (i, side) in first.variants.iter().enumerate() {
        let mut trials: Vec<_> = shares.iter().flat_map(|s| s.variants[i].trials.iter().cloned()).collect();
        trials.sort_by_key(|t| t.index);
        if let Some(w) = trials.windows(2).find(|w| w[0].index == w[1].index) {
            return Err(MergeError::Duplicate { variant: side.label(), trial: w[0].index });
        }
        let summary = stats::summarize(side.role, &trials);
        variants.push(VariantReport { trials, summary, ..side.clone() });
    }
    let stops: Vec<String> = shares
        .iter()
        .filter_map(|s| s.early_stop.as_ref().map(|e| format!("shard {}: {}", s.shard.map_or(0, |x| x.index), e.reason)))
        .collect();
    let run: u32 = variants.iter().map(|v| v.summary.trials).sum();
    let early_stop = (!stops.is_empty()).then(|| EarlyStop {
        after_trials: run,
        planned_trials: first.variants.len() as u32 * first.trials_planned,
        reason: stops.join("; "),
    });
    let (verdict, kernels) = verdicts(&variants);
    Ok(Verification {
        scenario: first.scenario.clone(),
        scenario_path: first.scenario_path.clone(),
        trials_planned: first.trials_planned,
        shard: None,
        verdict,
        kernels,
        variants,
        early_stop,
        took_ms: shares.iter().map(|s| s.took_ms).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::report::{KernelInfo, Role, Shard, Trial, Verdict};
    use crate::verify::stats::tests::trial;

    fn share(index: u32, count: u32, buggy: Vec<Trial>, fixed: Vec<Trial>) -> Verification {
        let side = |name: &str, role, trials: Vec<Trial>| VariantReport {
            name: name.into(),
            role,
            kernel: KernelInfo { patches: vec![format!("{name}.patch")], ..KernelInfo::default() },
            signature: vec!["leak".into()],
            evidence: vec![],
            summary: stats::summarize(role, &trials),
            trials,
        };
        let variants = vec![side("buggy", Role::Buggy, buggy), side("fixed", Role::Fixed, fixed)];
        Verification {
            scenario: "s".into(),
            scenario_path: "s.yaml".into(),
            trials_planned: 10,
            shard: Some(Shard { index, count }),
            verdict: crate::verify::verdict_of(&variants),
            kernels: Vec::new(),
            variants,
            early_stop: None,
            took_ms: 100,
        }
    }

    fn trials(indices: impl Iterator<Item = u32>, seen: bool) -> Vec<Trial> {
        indices.map(|i| trial(i, seen, true)).collect()
    }

    #[test]
    fn shares_join_into_the_verdict_of_all_trials() {
        // Alone, 2 trials each are too few to verify (2/2 against 0/2); 4/4 against 0/4 is enough.
        let a = share(1, 2, trials((0..4).step_by(2), true), trials((0..4).step_by(2), false));
        let b = share(2, 2, trials((1..4).step_by(2), true), trials((1..4).step_by(2), false));
        assert_eq!(a.verdict.verdict, Verdict::Inconclusive);
        let m = merge(&[a, b]).unwrap();
        assert_eq!(m.verdict.verdict, Verdict::FixVerified, "{:?}", m.verdict);
        assert_eq!(m.variants[0].trials.iter().map(|t| t.index).collect::<Vec<_>>(), (0..4).collect::<Vec<_>>());
        assert_eq!((m.variants[0].summary.seen, m.variants[1].summary.counted, m.took_ms, m.shard), (4, 4, 200, None));
    }

    #[test]
    fn shares_of_different_verifications_or_twice_the_same_are_refused() {
        let a = share(1, 2, trials(0..1, true), trials(0..1, false));
        let mut other = a.clone();
        other.scenario = "t".into();
        assert!(matches!(merge(&[a.clone(), other]), Err(MergeError::Mismatch { index: 2, .. })));
        assert!(matches!(merge(&[a.clone(), a]), Err(MergeError::Duplicate { trial: 0, .. })));
        assert_eq!(merge(&[]), Err(MergeError::Empty));
    }
}
