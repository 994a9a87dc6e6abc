//! The engine: topology up, steps, expectations, teardown, verdict. It never prints; it
//! emits [`Event`]s. The host backend runs it directly; the VM backend runs it in the guest.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use crate::run_env::{Background, RunClock, RunEnv};
pub use crate::sys::kernel_release;

use crate::cleanup::Ledger;
use crate::event::{Event, EventSink, Outcome};
use crate::expect::window::{evaluate, Decision};
use crate::kmsg::KernelLog;
use crate::scenario::{Scenario, Variant};
use crate::topology::{self, Topology};

/// Why the steps did not all run.
#[derive(Debug, thiserror::Error)]
enum StepsFailed {
    #[error(transparent)]
    Step(#[from] crate::steps::StepError),
    #[error("interrupted")]
    Interrupted,
}

/// How a run was started.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `host` or `vm`, for the record.
    pub backend: String,
    /// Ask a debug kernel's kmemleak for leaks once teardown is done: only in the guest, the
    /// host kernel's own state is never touched.
    pub leak_scan: bool,
}

/// The result of a run, as its last event says it.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outcome: Outcome,
    pub summary: String,
    pub notes: Vec<String>,
}

impl RunReport {
    pub fn error(summary: impl Into<String>) -> Self {
        RunReport { outcome: Outcome::Error, summary: summary.into(), notes: Vec::new() }
    }
}

/// A short random run id, `lab` + 6 hex digits: the tag on everything the run creates.
pub fn new_run_id() -> String {
    format!("lab{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// Runs `scenario` as `variant` on the running kernel. `stop` aborts the run (Ctrl-C, the
/// scenario deadline); teardown happens whatever the way out.
pub async fn run(scenario: &Scenario, variant: &Variant, opts: &RunOptions, events: EventSink, stop: CancellationToken) -> RunReport {
    let report = run_inner(scenario, variant, opts, &events, stop).await;
    events.send(Event::Verdict { outcome: report.outcome, summary: report.summary.clone(), notes: report.notes.clone() });
    report
}

async fn run_inner(scenario: &Scenario, variant: &Variant, opts: &RunOptions, events: &EventSink, stop: CancellationToken) -> RunReport {
    let run_id = new_run_id();
    let clock = RunClock { start: Instant::now() };
    events.send(Event::RunStarted {
        scenario: scenario.name.clone(),
        variant: variant.name.clone(),
        backend: opts.backend.clone(),
        kernel: kernel_release(),
        run_id: run_id.clone(),
    });
    let kmsg = match KernelLog::start() {
        Ok(k) => k,
        Err(e) => return RunReport::error(format!("cannot read the kernel log /dev/kmsg: {e}")),
    };
    let ledger = match Ledger::create(&run_id) {
        Ok(l) => l,
        Err(e) => return RunReport::error(format!("cannot record the run under /run/lab: {e}")),
    };
    let topology = match build_topology(scenario, &run_id, &ledger, events, &clock).await {
        Ok(t) => t,
        Err(report) => return report,
    };
    let env = Arc::new(RunEnv {
        scenario: scenario.clone(),
        variant: variant.clone(),
        run_id,
        events: events.clone(),
        clock,
        kmsg,
        ledger,
        topology,
        anchors: watch::channel(BTreeMap::new()).0,
        background: Mutex::new(Default::default()),
        notes: Mutex::new(Vec::new()),
        procs: Default::default(),
        outputs: watch::channel(BTreeMap::new()).0,
        handles: Mutex::new(BTreeMap::new()),
    });

    let mut watchers = spawn_expectations(&env);
    let steps = {
        let env = env.clone();
        let cancel = stop.child_token();
        async move { crate::steps::run_entries(&env, &env.scenario.steps, "", &cancel).await }
    };
    let step_result = tokio::select! {
        r = steps => r.map_err(StepsFailed::Step),
        _ = stop.cancelled() => Err(StepsFailed::Interrupted),
    };
    crate::steps::stop_background(&env).await;
    env.steps_done();
    let decisions = if stop.is_cancelled() || step_result.is_err() {
        watchers.abort_all();
        Vec::new()
    } else {
        collect(watchers).await
    };
    let mut teardown = env.topology.teardown(&env.ledger).await;
    let (unmounted, mount_problems) = env.ledger.release_mounts();
    env.handles.lock().unwrap().clear();
    teardown.removed.extend(unmounted);
    teardown.problems.extend(mount_problems);
    env.events.send(Event::TeardownDone {
        at_ms: env.clock.now_ms(),
        removed: teardown.removed.clone(),
        problems: teardown.problems.clone(),
    });
    let mut notes = env.notes.lock().unwrap().clone();
    notes.extend(teardown.problems.iter().map(|p| format!("teardown: {p}")));
    if opts.leak_scan {
        // Before the verdict: what the scan prints must reach the host while it still reads.
        notes.extend(leak_scan().await);
    }
    // Only a clean teardown retires the record; otherwise `lab clean` still has it.
    if teardown.problems.is_empty() {
        env.ledger.clone().finish();
    }
    let evidence: Vec<&str> = env.variant.expect.iter().filter(|e| e.evidence).map(|e| e.id.as_str()).collect();
    verdict(step_result, decisions, &evidence, notes)
}

/// A debug kernel's kmemleak scan, and what it found as a note; nothing without kmemleak.
async fn leak_scan() -> Option<String> {
    match tokio::task::spawn_blocking(crate::sys::kmemleak::scan).await {
        Ok(Some(Ok(0))) => Some("kmemleak: the scan at the end found no unreferenced object".into()),
        Ok(Some(Ok(n))) => Some(format!("kmemleak: the scan at the end lists {n} unreferenced objects (see console.log)")),
        Ok(Some(Err(e))) => Some(format!("kmemleak: the scan at the end failed: {e}")),
        Ok(None) | Err(_) => None,
    }
}

/// Plans and applies the topology and says so; on failure, puts back what was changed.
async fn build_topology(
    scenario: &Scenario,
    run_id: &str,
    ledger: &Ledger,
    events: &EventSink,
    clock: &RunClock,
) -> Result<Topology, RunReport> {
    let plan = topology::plan(&scenario.topology, run_id);
    let apply_started = Instant::now();
    let topology = match Topology::apply(&plan, ledger).await {
        Ok(t) => t,
        Err(e) => {
            ledger.restore_sysctls();
            ledger.clone().finish();
            return Err(RunReport::error(format!("building the topology failed: {e}")));
        }
    };
    events.send(Event::TopologyUp {
        at_ms: clock.now_ms(),
        namespaces: topology
            .netns_names()
            .iter()
            .map(|n| format!("{n} ({})", topology.netns_path(n).map(|p| p.display().to_string()).unwrap_or_default()))
            .collect(),
        links: scenario.topology.links.len(),
        took_ms: apply_started.elapsed().as_millis() as u64,
    });
    Ok(topology)
}

fn spawn_expectations(env: &Arc<RunEnv>) -> tokio::task::JoinSet<(String, Decision)> {
    let mut set = tokio::task::JoinSet::new();
    for entry in env.variant.expect.clone() {
        let env = env.clone();
        set.spawn(async move {
            let anchor = match &entry.after {
                None => Some(env.clock.start),
                Some(step) => env.anchor(step).await,
            };
            let decision = match anchor {
                Some(at) => evaluate(&entry, &env, at).await,
                None => Decision {
                    met: false,
                    reason: format!("step `{}` never finished, so the window never opened", entry.after.as_deref().unwrap_or("?")),
                    since_anchor_ms: None,
                },
            };
            (entry.id.clone(), decision)
        });
    }
    set
}

/// Waits for every expectation to be decided.
async fn collect(mut watchers: tokio::task::JoinSet<(String, Decision)>) -> Vec<(String, Decision)> {
    let mut out = Vec::new();
    while let Some(r) = watchers.join_next().await {
        if let Ok(d) = r {
            out.push(d);
        }
    }
    out
}

/// The run's verdict. Missing evidence (`evidence: true` expectations not seen) is NOT MET
/// and said first: a run that never entered the race must not read as a pass.
fn verdict(steps: Result<(), StepsFailed>, decisions: Vec<(String, Decision)>, evidence: &[&str], notes: Vec<String>) -> RunReport {
    if let Err(e) = steps {
        return RunReport { outcome: Outcome::Error, summary: format!("the scenario could not be carried out: {e}"), notes };
    }
    let is_evidence = |id: &str| evidence.contains(&id);
    let unmet = |want_evidence: bool| -> Vec<String> {
        decisions.iter().filter(|(id, d)| !d.met && is_evidence(id) == want_evidence).map(|(id, d)| format!("{id}: {}", d.reason)).collect()
    };
    let (missing, failed) = (unmet(true), unmet(false));
    let (outcome, summary) = match (missing.is_empty(), failed.is_empty()) {
        (true, true) => (Outcome::Met, format!("expectation met ({} checked)", decisions.len())),
        (true, false) => (Outcome::NotMet, format!("expectation not met — {}", failed.join("; "))),
        // Said first; the signature's own result follows, so nothing is hidden.
        (false, true) => (Outcome::NotMet, format!("race not exercised — evidence missing: {}", missing.join("; "))),
        (false, false) => {
            (Outcome::NotMet, format!("race not exercised — evidence missing: {}; and not met: {}", missing.join("; "), failed.join("; ")))
        }
    };
    RunReport { outcome, summary, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(id: &str, met: bool) -> (String, Decision) {
        (id.to_string(), Decision { met, reason: format!("{id} reason"), since_anchor_ms: None })
    }

    #[test]
    fn missing_evidence_is_not_met_and_says_the_race_was_not_exercised() {
        let r = verdict(Ok(()), vec![decided("leak", true), decided("refused", false)], &["refused"], Vec::new());
        assert_eq!(r.outcome, Outcome::NotMet);
        assert!(r.summary.starts_with("race not exercised"), "{}", r.summary);
        let r = verdict(Ok(()), vec![decided("leak", true), decided("refused", true)], &["refused"], Vec::new());
        assert_eq!(r.outcome, Outcome::Met);
        let r = verdict(Ok(()), vec![decided("leak", false), decided("refused", true)], &["refused"], Vec::new());
        assert!(r.outcome == Outcome::NotMet && r.summary.starts_with("expectation not met"), "{}", r.summary);
        // Both: the missing evidence first, the signature's result after it.
        let r = verdict(Ok(()), vec![decided("leak", false), decided("refused", false)], &["refused"], Vec::new());
        assert_eq!(r.summary, "race not exercised — evidence missing: refused: refused reason; and not met: leak: leak reason");
    }
}
