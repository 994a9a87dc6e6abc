//! `lab verify`: run trials of a buggy and a fixed variant and decide whether a fix is
//! verified. The flow: pick the two variants (or build the fixed one from `--fix`, checking
//! that it applies before anything is built), build both kernels, then run trials buggy,
//! fixed, buggy, ... through [`crate::backend::run`], deciding after each whether the rest
//! could still change the verdict. `report` is the model every renderer reads.

pub mod decide;
pub mod fix;
pub mod merge;
pub mod plan;
pub mod report;
pub mod stats;
pub mod text;
pub mod trial;

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::backend::{self, Backend};
use crate::event::{Event, EventSink};
use crate::scenario::Loaded;
use crate::vm::backend::VmOptions;

pub use plan::{Plan, PlanError, Side};
use report::{EarlyStop, Role, Shard, Trial, VariantReport, Verification};

/// How many trials, and which share of them.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Trials per variant, in the whole verification.
    pub trials: u32,
    pub shard: Option<Shard>,
    pub vm: VmOptions,
}

/// The trial numbers (per variant) this shard runs: `k` with `k % count == index - 1`.
pub fn shard_trials(trials: u32, shard: Option<Shard>) -> Vec<u32> {
    (0..trials).filter(|k| shard.is_none_or(|s| k % s.count == s.index - 1)).collect()
}

/// Runs the trials of `plan` and decides. `on_trial` sees each trial as it ends.
pub async fn run(
    loaded: &Loaded,
    plan: &Plan,
    set: &RunSettings,
    on_trial: &(dyn Fn(&str, &Trial) + Sync),
    stop: CancellationToken,
) -> Verification {
    let started = Instant::now();
    let mine = shard_trials(set.trials, set.shard);
    let backend = Backend::Vm(set.vm.clone());
    let (mut buggy, mut fixed) = (Vec::new(), Vec::new());
    let mut early_stop = None;
    let planned = 2 * mine.len() as u32;
    'trials: for &k in &mine {
        for side in [&plan.buggy, &plan.fixed] {
            if stop.is_cancelled() {
                break 'trials;
            }
            let t = one_trial(loaded, side, k, &backend, &stop).await;
            on_trial(&side.report_name, &t);
            if side.role == Role::Buggy {
                buggy.push(t)
            } else {
                fixed.push(t)
            }
            let done = (buggy.len() + fixed.len()) as u32;
            let left = decide::Remaining { buggy: mine.len() as u32 - buggy.len() as u32, fixed: mine.len() as u32 - fixed.len() as u32 };
            if done < planned && is_final(&buggy, &fixed, left) {
                early_stop = Some(EarlyStop { after_trials: done, planned_trials: planned, reason: stop_reason(&buggy, &fixed) });
                break 'trials;
            }
        }
    }
    let mut v = assemble(loaded, plan, set, buggy, fixed);
    v.early_stop = early_stop;
    v.took_ms = started.elapsed().as_millis() as u64;
    v
}

fn is_final(buggy: &[Trial], fixed: &[Trial], left: decide::Remaining) -> bool {
    let (b, f) = (stats::summarize(Role::Buggy, buggy), stats::summarize(Role::Fixed, fixed));
    decide::is_final(&decide::Counts { buggy: &b, fixed: &f }, left)
}

fn stop_reason(buggy: &[Trial], fixed: &[Trial]) -> String {
    let (b, f) = (stats::summarize(Role::Buggy, buggy), stats::summarize(Role::Fixed, fixed));
    let v = decide::decide(&decide::Counts { buggy: &b, fixed: &f });
    format!(
        "{} after {} trials: no outcome of the remaining trials can change it ({})",
        v.verdict.title(),
        buggy.len() + fixed.len(),
        v.reasons.join("; ")
    )
}

/// One trial of one side: a whole `lab run` in a VM, its events kept.
async fn one_trial(loaded: &Loaded, side: &Side, index: u32, backend: &Backend, stop: &CancellationToken) -> Trial {
    let started = Instant::now();
    let (sink, mut rx) = EventSink::channel();
    let collector = tokio::spawn(async move {
        let mut events: Vec<Event> = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        events
    });
    let report = backend::run(loaded, &side.variant, backend, sink, stop.child_token()).await;
    let events = collector.await.unwrap_or_default();
    trial::record(index, &side.roles, &events, &report, started.elapsed().as_millis() as u64)
}

/// The verification from both sides' trials: summaries and verdict.
pub fn assemble(loaded: &Loaded, plan: &Plan, set: &RunSettings, buggy: Vec<Trial>, fixed: Vec<Trial>) -> Verification {
    let variants = vec![plan.buggy.report(buggy), plan.fixed.report(fixed)];
    Verification {
        scenario: loaded.scenario.name.clone(),
        scenario_path: loaded.path.display().to_string(),
        trials_planned: set.trials,
        shard: set.shard,
        verdict: verdict_of(&variants),
        variants,
        early_stop: None,
        took_ms: 0,
    }
}

/// The verdict over a verification's two variants (buggy first).
pub fn verdict_of(variants: &[VariantReport]) -> report::VerdictReport {
    let b = variants.iter().find(|v| v.role == Role::Buggy).map(|v| &v.summary);
    let f = variants.iter().find(|v| v.role == Role::Fixed).map(|v| &v.summary);
    let empty = stats::summarize(Role::Buggy, &[]);
    decide::decide(&decide::Counts { buggy: b.unwrap_or(&empty), fixed: f.unwrap_or(&empty) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_trials_without_overlap() {
        let s = |index, count| Some(Shard { index, count });
        assert_eq!(shard_trials(5, None), [0, 1, 2, 3, 4]);
        assert_eq!(shard_trials(5, s(1, 2)), [0, 2, 4]);
        assert_eq!(shard_trials(5, s(2, 2)), [1, 3]);
        let mut all: Vec<u32> = (1..=3).flat_map(|i| shard_trials(10, s(i, 3))).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
