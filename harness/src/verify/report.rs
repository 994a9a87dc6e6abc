//! The serde model of one verification (`lab verify`), or of one shard of it: what was
//! compared (scenario, each variant's kernel and patches), every trial, each variant's
//! summary with its 95% interval, the verdict and why, and whether it stopped early.
//!
//! Renderers (timeline, JSON, JUnit, KTAP, HTML) and `lab report merge` read exactly this;
//! none of them decides anything. The shape is stable: fields are added, never renamed.

use serde::{Deserialize, Serialize};

use crate::event::Outcome;

/// Milliseconds.
pub type Millis = u64;

/// One verification, or one shard's share of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The scenario's name (`fnhe-leak`).
    pub scenario: String,
    /// The scenario file the trials ran.
    pub scenario_path: String,
    /// Trials planned per variant (the whole verification, not this shard).
    pub trials_planned: u32,
    /// `Some` when this is one shard's share (`--shard i/n`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The variant expected to show the signature, then the one expected not to.
    pub variants: Vec<VariantReport>,
    /// The verdict over every trial in `variants`: over several kernels, FIX VERIFIED only
    /// when it holds on every one of them.
    pub verdict: VerdictReport,
    /// Per kernel, when the verification spans several (`--kernels 5.10,6.1`): its verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernels: Vec<KernelVerdict>,
    /// Set when trials were left out because they could not change the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stop: Option<EarlyStop>,
    /// Wall-clock time of the verification (a merge: the sum of its shards').
    pub took_ms: Millis,
}

/// One kernel's verdict in a verification over several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelVerdict {
    /// `5.10`.
    pub kernel: String,
    pub verdict: VerdictReport,
}

/// Which share of the trials a shard ran: trial `k` (0-based, per variant) is shard `k % count`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based, as written on the command line (`--shard 2/4`).
    pub index: u32,
    pub count: u32,
}

/// What a variant is for in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Must show the signature (the bug reproduces).
    Buggy,
    /// Must not show it, with the race exercised (the fix holds).
    Fixed,
}

/// One variant: its kernel, its trials and their summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantReport {
    /// The variant's name (`buggy`, `fixed`, or `fix` for `--fix`).
    pub name: String,
    pub role: Role,
    /// The kernel it boots.
    pub kernel: KernelInfo,
    /// The signature expectations (by id) whose sighting a trial counts as "seen".
    pub signature: Vec<String>,
    /// The evidence expectations (by id) that show the race was exercised; empty: none
    /// declared, and every completed trial counts as exercised.
    pub evidence: Vec<String>,
    pub trials: Vec<Trial>,
    pub summary: Summary,
}

impl VariantReport {
    /// `buggy@5.10`, or `buggy` when the report names no kernel version (older shards).
    pub fn label(&self) -> String {
        match &self.kernel.version {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The kernel a variant boots.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KernelInfo {
    /// The series, in order: the scenario's patches, then any `--fix` patches.
    pub patches: Vec<String>,
    /// The `--fix` patches among them (paths as given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fix: Vec<String>,
    /// Whether `--fix-before` put them before the series.
    #[serde(default)]
    pub fix_before: bool,
    /// The kernel cache key, once built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The kernel series (`5.10`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Debian's source package it was built from (`linux-source-5.10 5.10.223-1`), once built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The fuzz the series was allowed.
    #[serde(default)]
    pub fuzz: u32,
    /// Hunks that applied at an offset or with fuzz, once built.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hunks: Vec<String>,
}

/// One run of one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// 0-based trial number within its variant (the same across shards).
    pub index: u32,
    /// How the run ended, as `lab run` says it.
    pub outcome: Outcome,
    /// The run's own one-line summary.
    pub summary: String,
    /// A signature expectation's condition was seen.
    pub seen: bool,
    /// Every evidence expectation was met (true when none is declared and the run completed).
    pub exercised: bool,
    /// From the signature's anchor step to its sighting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_anchor_ms: Option<Millis>,
    /// The trial's wall-clock time, kernel lookup and boot included.
    pub duration_ms: Millis,
    /// Its run directory (events.jsonl, console.log, verdict.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<String>,
    /// Kernel faults the guest reported (`kind: title`: panics, oopses, warnings, ...),
    /// those the scenario tolerates left out: they count toward the verdict.
    #[serde(default)]
    pub faults: Vec<String>,
    /// Faults of the kinds the scenario's `kernel.tolerate` lists: reported, not counted.
    #[serde(default)]
    pub tolerated_faults: Vec<String>,
}

impl Trial {
    /// Whether the run went through (met or not met), so that it counts toward the rate.
    pub fn completed(&self) -> bool {
        matches!(self.outcome, Outcome::Met | Outcome::NotMet)
    }
}

/// A 95% interval of a rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// Min / median / max of a duration over trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    pub min: Millis,
    pub median: Millis,
    pub max: Millis,
}

/// A variant's trials, counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Trials run.
    pub trials: u32,
    /// Trials that went through (met or not met); the others were errors.
    pub completed: u32,
    /// Completed trials where the signature was seen.
    pub seen: u32,
    /// Completed trials whose evidence was seen.
    pub exercised: u32,
    /// The trials the rate is over: for a buggy variant the completed ones, for a fixed one
    /// the exercised ones (a fixed kernel that never entered the race proves nothing).
    pub counted: u32,
    /// `seen` among `counted` (0 when nothing counted).
    pub rate: f64,
    /// Wilson score 95% interval of the rate.
    pub interval: Interval,
    /// Anchor to signature, over the trials that saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_anchor: Option<Spread>,
    /// Trial wall-clock time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Spread>,
    /// Distinct fault titles over the trials.
    #[serde(default)]
    pub faults: Vec<String>,
}

/// The three answers of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The buggy kernel shows the signature, the fixed one never does with the race exercised.
    FixVerified,
    /// The fixed kernel still shows the signature, or a fault the buggy one did not.
    FixNotVerified,
    /// Neither can be said: the buggy kernel does not reproduce reliably enough, or the fixed
    /// trials did not exercise the race often enough.
    Inconclusive,
}

impl Verdict {
    /// 0 verified, 1 not verified, 4 inconclusive (2 and 3 are scenario and infrastructure
    /// errors, as for every verb).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::FixVerified => 0,
            Verdict::FixNotVerified => 1,
            Verdict::Inconclusive => 4,
        }
    }

    /// How the verdict is printed.
    pub fn title(self) -> &'static str {
        match self {
            Verdict::FixVerified => "FIX VERIFIED",
            Verdict::FixNotVerified => "FIX NOT VERIFIED",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// The verdict and its reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictReport {
    pub verdict: Verdict,
    /// `verdict.exit_code()`, for readers that do not know the enum.
    pub exit_code: i32,
    /// One sentence per reason, the deciding one first.
    pub reasons: Vec<String>,
}

/// Trials left out because they could not change the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyStop {
    /// Trials run in all variants when it stopped.
    pub after_trials: u32,
    /// Trials planned in all variants (of this shard).
    pub planned_trials: u32,
    /// Plain words: why no further trial could change the verdict.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_exit_codes_are_distinct_from_scenario_and_infrastructure_errors() {
        let codes = [Verdict::FixVerified, Verdict::FixNotVerified, Verdict::Inconclusive].map(Verdict::exit_code);
        assert_eq!(codes, [0, 1, 4]);
        assert!(!codes.contains(&2) && !codes.contains(&3));
    }

    #[test]
    fn verdict_serialises_in_snake_case() {
        assert_eq!(serde_json::to_string(&Verdict::FixNotVerified).unwrap(), "\"fix_not_verified\"");
    }
}
