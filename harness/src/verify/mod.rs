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

/// Runs the trials of `plans` (one per kernel) and decides, trial `k` of every kernel's
/// buggy then fixed side before trial `k + 1`; a kernel whose verdict no further trial can
/// change gets no more. `on_trial` sees each trial as it ends.
pub async fn run(
    loaded: &Loaded,
    plans: &[Plan],
    set: &RunSettings,
    on_trial: &(dyn Fn(&str, &Trial) + Sync),
    stop: CancellationToken,
) -> Verification {
    let started = Instant::now();
    let mine = shard_trials(set.trials, set.shard);
    let backend = Backend::Vm(set.vm.clone());
    let mut runs: Vec<KernelTrials> = plans.iter().map(|_| KernelTrials::default()).collect();
    let planned = 2 * mine.len() as u32;
    'trials: for &k in &mine {
        for (plan, got) in plans.iter().zip(runs.iter_mut()) {
            if got.early_stop.is_some() {
                continue;
            }
            for side in [&plan.buggy, &plan.fixed] {
                if stop.is_cancelled() {
                    break 'trials;
                }
                let t = one_trial(loaded, side, k, &backend, &stop).await;
                on_trial(&side.variant.label(), &t);
                got.push(side.role, t);
            }
            let done = got.done();
            let left =
                decide::Remaining { buggy: mine.len() as u32 - got.buggy.len() as u32, fixed: mine.len() as u32 - got.fixed.len() as u32 };
            if done < planned && is_final(&got.buggy, &got.fixed, left) {
                got.early_stop =
                    Some(EarlyStop { after_trials: done, planned_trials: planned, reason: stop_reason(&got.buggy, &got.fixed) });
            }
        }
        if runs.iter().all(|r| r.early_stop.is_some()) {
            break;
        }
    }
    let early_stop = joined_stops(plans, &runs);
    let mut v = assemble_all(loaded, plans, set, runs.into_iter().map(|r| (r.buggy, r.fixed)).collect());
    v.early_stop = early_stop;
    v.took_ms = started.elapsed().as_millis() as u64;
    v
}

/// One kernel's trials so far.
#[derive(Default)]
struct KernelTrials {
    buggy: Vec<Trial>,
    fixed: Vec<Trial>,
    early_stop: Option<EarlyStop>,
}

impl KernelTrials {
    fn push(&mut self, role: Role, t: Trial) {
        match role {
            Role::Buggy => self.buggy.push(t),
            Role::Fixed => self.fixed.push(t),
        }
    }

    fn done(&self) -> u32 {
        (self.buggy.len() + self.fixed.len()) as u32
    }
}

/// The kernels that stopped early, as one note (the kernel named when there are several).
fn joined_stops(plans: &[Plan], runs: &[KernelTrials]) -> Option<EarlyStop> {
    let stopped: Vec<(&Plan, &EarlyStop)> = plans.iter().zip(runs).filter_map(|(p, r)| r.early_stop.as_ref().map(|e| (p, e))).collect();
    if stopped.is_empty() {
        return None;
    }
    let several = plans.len() > 1;
    let reason = stopped
        .iter()
        .map(|(p, e)| if several { format!("{}: {}", p.kernel, e.reason) } else { e.reason.clone() })
        .collect::<Vec<_>>()
        .join("; ");
    Some(EarlyStop {
        after_trials: runs.iter().map(KernelTrials::done).sum(),
        planned_trials: stopped[0].1.planned_trials * plans.len() as u32,
        reason,
    })
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

/// The verification over every kernel's plan and its (buggy, fixed) trials.
pub fn assemble_all(loaded: &Loaded, plans: &[Plan], set: &RunSettings, trials: Vec<(Vec<Trial>, Vec<Trial>)>) -> Verification {
    let variants: Vec<VariantReport> = plans.iter().zip(trials).flat_map(|(p, (b, f))| [p.buggy.report(b), p.fixed.report(f)]).collect();
    let (verdict, kernels) = verdicts(&variants);
    Verification {
        scenario: loaded.scenario.name.clone(),
        scenario_path: loaded.path.display().to_string(),
        trials_planned: set.trials,
        shard: set.shard,
        verdict,
        kernels,
        variants,
        early_stop: None,
        took_ms: 0,
    }
}

/// The verdict over a verification's variants (buggy and fixed per kernel).
pub fn verdict_of(variants: &[VariantReport]) -> report::VerdictReport {
    verdicts(variants).0
}

/// The overall verdict and, over several kernels, each one's: FIX VERIFIED only when every
/// kernel verifies it, FIX NOT VERIFIED when any kernel refutes it, else INCONCLUSIVE.
pub fn verdicts(variants: &[VariantReport]) -> (report::VerdictReport, Vec<report::KernelVerdict>) {
    let mut kernels: Vec<Option<String>> = variants.iter().map(|v| v.kernel.version.clone()).collect();
    kernels.dedup();
    let per: Vec<(Option<String>, report::VerdictReport)> = kernels
        .into_iter()
        .map(|k| {
            let on: Vec<&VariantReport> = variants.iter().filter(|v| v.kernel.version == k).collect();
            let b = on.iter().find(|v| v.role == Role::Buggy).map(|v| &v.summary);
            let f = on.iter().find(|v| v.role == Role::Fixed).map(|v| &v.summary);
            let empty = stats::summarize(Role::Buggy, &[]);
            (k, decide::decide(&decide::Counts { buggy: b.unwrap_or(&empty), fixed: f.unwrap_or(&empty) }))
        })
        .collect();
    if per.len() == 1 {
        return (per.into_iter().next().expect("one").1, Vec::new());
    }
    let overall = decide::combine(&per.iter().map(|(k, v)| (k.clone().unwrap_or_default(), v.clone())).collect::<Vec<_>>());
    let kernels = per.into_iter().map(|(k, verdict)| report::KernelVerdict { kernel: k.unwrap_or_default(), verdict }).collect();
    (overall, kernels)
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
