//! What the file reports (JUnit, KTAP, HTML) render: trials as their events tell them, and,
//! for a verification, the rate of each variant with its interval and the verdict.
//!
//! Built from events only ([`TrialRecord::from_events`]); nothing here decides an outcome —
//! the `Verdict` event did, and a verification's verdict comes with its own words.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::event::{Event, Observation, Outcome};

/// The whole report: one `lab run` (one trial) or one verification (many).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What ran, as a person names it: `fnhe-leak` or `lab verify fnhe-leak`.
    pub title: String,
    /// A verification's verdict (`FIX VERIFIED`, ...) and its explanation; none for a run.
    pub verdict: Option<Verdict>,
    /// Per variant: signature seen / trials, with the interval (verification only).
    pub rates: Vec<Rate>,
    pub trials: Vec<TrialRecord>,
}

/// A verification's verdict in its own words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub label: String,
    pub summary: String,
    /// Whether the verdict is the good one (drawn green, JUnit/KTAP pass).
    pub passed: bool,
}

/// One variant's rate: `seen` of `trials` showed the signature; 95 % interval `low..high`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub variant: String,
    pub seen: u32,
    pub trials: u32,
    pub low: f64,
    pub high: f64,
    /// Trials whose evidence showed the race was exercised, when the scenario has evidence.
    pub exercised: Option<u32>,
}

/// One step as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLine {
    pub at_ms: u64,
    pub step: String,
    pub ok: bool,
    pub summary: String,
}

/// One expectation's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub met: bool,
    pub reason: String,
    pub observation: Option<Observation>,
    pub since_anchor_ms: Option<u64>,
}

/// One run of one variant, from its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub scenario: String,
    pub variant: String,
    /// 1-based number among the trials of this variant.
    pub number: u32,
    pub outcome: Outcome,
    pub summary: String,
    pub notes: Vec<String>,
    /// From the first event to the verdict, as the run's clock says (guest or host).
    pub took_ms: u64,
    pub steps: Vec<StepLine>,
    pub decisions: Vec<Decision>,
    /// Guest faults: (kind, message).
    pub faults: Vec<(String, String)>,
    /// The run directory, when there is one.
    pub dir: Option<PathBuf>,
    /// The leaked-reference stack printed after the signature (from `kmsg.log`), if any.
    #[serde(default)]
    pub stack: Vec<String>,
}

impl TrialRecord {
    /// A trial as its events tell it; scenario and variant come from `run_started` when the
    /// events have one, else from the arguments (a run that stopped before the guest came up).
    pub fn from_events(scenario: &str, variant: &str, number: u32, events: &[Event]) -> TrialRecord {
        let mut t = TrialRecord {
            scenario: scenario.to_string(),
            variant: variant.to_string(),
            number,
            outcome: Outcome::Error,
            summary: "the run ended without a verdict".into(),
            notes: Vec::new(),
            took_ms: 0,
            steps: Vec::new(),
            decisions: Vec::new(),
            faults: Vec::new(),
            dir: None,
            stack: Vec::new(),
        };
        for e in events {
            t.take(e);
        }
        if let Some(dir) = &t.dir {
            t.stack = leaked_stack(&std::fs::read_to_string(dir.join("kmsg.log")).unwrap_or_default(), &t.decisions);
        }
        t
    }

    fn take(&mut self, e: &Event) {
        match e {
            Event::RunStarted { scenario, variant, .. } => {
                self.scenario.clone_from(scenario);
                self.variant.clone_from(variant);
            }
            Event::StepFinished { at_ms, step, kind, id, ok, summary, .. } => {
                // `churn (mtu_churn)`, or `#3 sysctl` for a step without an id.
                let step = id.as_ref().map_or_else(|| format!("#{step} {kind}"), |id| format!("{id} ({kind})"));
                self.steps.push(StepLine { at_ms: *at_ms, step, ok: *ok, summary: summary.clone() });
                self.took_ms = self.took_ms.max(*at_ms);
            }
            Event::ExpectationDecided { at_ms, id, met, reason, observation, since_anchor_ms, .. } => {
                self.decisions.push(Decision {
                    id: id.clone(),
                    met: *met,
                    reason: reason.clone(),
                    observation: observation.clone(),
                    since_anchor_ms: *since_anchor_ms,
                });
                self.took_ms = self.took_ms.max(*at_ms);
            }
            Event::TeardownDone { at_ms, .. } => self.took_ms = self.took_ms.max(*at_ms),
            Event::GuestFault { fault, message, .. } => {
                self.faults.push((format!("{fault:?}").to_lowercase(), message.clone()));
            }
            Event::Artifacts { dir } => self.dir = Some(PathBuf::from(dir)),
            Event::Verdict { outcome, summary, notes } => {
                self.outcome = *outcome;
                self.summary.clone_from(summary);
                self.notes.clone_from(notes);
            }
            _ => {}
        }
    }

    /// `fnhe-leak::buggy#3`.
    pub fn name(&self) -> String {
        format!("{}::{}#{}", self.scenario, self.variant, self.number)
    }

    /// The first observed line: the signature (or the evidence) this trial saw.
    pub fn signature(&self) -> Option<&Observation> {
        self.decisions.iter().find_map(|d| d.observation.as_ref())
    }
}

/// Lines of leaked-reference stacks kept at most (a leak of several references prints one
/// stack each).
const MAX_STACK_LINES: usize = 64;

/// The stack the kernel prints after the signature line: with the reference tracker
/// (`CONFIG_NET_DEV_REFCNT_TRACKER`), each leaked reference's header and frames. Looked for in the whole kernel log, after the first
/// observed line; empty when none follows.
pub fn leaked_stack(kmsg: &str, decisions: &[Decision]) -> Vec<String> {
    let Some(sig) = decisions.iter().find_map(|d| d.observation.as_ref()) else {
        return Vec::new();
    };
    // `kmsg.log` keeps a record on one line, its newlines escaped (ref_tracker prints its
    // header and frames as one record); the record's prefix is `<prio>[time] `.
    let kmsg = kmsg.replace("\\x0a", "\n");
    let strip = |l: &str| match l.split_once("] ") {
        Some((head, text)) if head.starts_with('<') => text.to_string(),
        _ => l.to_string(),
    };
    let mut lines = kmsg.lines().map(strip).skip_while(|l| l.trim() != sig.detail.trim());
    if lines.next().is_none() {
        return Vec::new();
    }
    // 6.1 prints `leaked reference.` and then one record per frame, indented; other
    // versions a `ref_tracker: ... users at` record with the frames inside it.
    let header = |l: &str| l.starts_with("leaked reference") || l.starts_with("ref_tracker:");
    lines.skip_while(|l| !header(l)).take_while(|l| header(l) || l.starts_with(' ')).take(MAX_STACK_LINES).collect()
}

/// A report of trials without rates (a `lab run`): the title is the scenario.
pub fn of_trials(title: &str, trials: Vec<TrialRecord>) -> Report {
    Report { title: title.to_string(), verdict: None, rates: Vec::new(), trials }
}

/// Whether a trial passed: its expectations met.
pub fn passed(t: &TrialRecord) -> bool {
    t.outcome == Outcome::Met
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::Must;

    /// A trial's events as the engine sends them; `seen` makes the signature observed.
    pub fn events(variant: &str, outcome: Outcome, seen: bool) -> Vec<Event> {
        let obs = seen.then(|| Observation {
            at_ms: 52_000,
            detail: "unregister_netdevice: waiting for cli-veth to become free. Usage count = 2".into(),
            context: vec!["[   60.1] before".into(), "[   61.2] unregister_netdevice: waiting for cli-veth".into()],
        });
        vec![
            Event::RunStarted {
                scenario: "fnhe-leak".into(),
                variant: variant.into(),
                backend: "vm".into(),
                kernel: "6.1".into(),
                run_id: "r".into(),
            },
            Event::StepFinished {
                at_ms: 40_000,
                step: "churn".into(),
                kind: "mtu_churn".into(),
                id: Some("churn".into()),
                ok: true,
                summary: "60 rounds <&>".into(),
                counters: Default::default(),
                output: None,
            },
            Event::ExpectationDecided {
                at_ms: 55_000,
                id: "leak-reported".into(),
                must: Must::Appear,
                met: seen,
                reason: "seen 2.1 s after teardown".into(),
                observation: obs,
                since_anchor_ms: seen.then_some(2100),
            },
            Event::Verdict { outcome, summary: format!("{variant}: {outcome:?}"), notes: vec![] },
        ]
    }

    pub fn sample() -> Report {
        let trials = vec![
            TrialRecord::from_events("x", "x", 1, &events("buggy", Outcome::Met, true)),
            TrialRecord::from_events("x", "x", 1, &events("fixed", Outcome::NotMet, true)),
            TrialRecord::from_events("x", "x", 2, &events("fixed", Outcome::Error, false)),
        ];
        Report {
            title: "lab verify fnhe-leak".into(),
            verdict: Some(Verdict { label: "FIX NOT VERIFIED".into(), summary: "the fixed kernel still shows it".into(), passed: false }),
            rates: vec![
                Rate { variant: "buggy".into(), seen: 1, trials: 1, low: 0.2065, high: 1.0, exercised: None },
                Rate { variant: "fixed".into(), seen: 1, trials: 2, low: 0.0945, high: 0.9055, exercised: Some(1) },
            ],
            trials,
        }
    }

    #[test]
    fn a_trial_is_read_from_its_events() {
        let t = TrialRecord::from_events("s", "v", 3, &events("buggy", Outcome::Met, true));
        assert_eq!(t.name(), "fnhe-leak::buggy#3");
        assert_eq!((t.outcome, t.took_ms, t.steps.len()), (Outcome::Met, 55_000, 1));
        assert!(t.signature().unwrap().detail.contains("Usage count = 2"));
        let none = TrialRecord::from_events("s", "v", 1, &[]);
        assert_eq!((none.name().as_str(), none.outcome), ("s::v#1", Outcome::Error));
    }

    #[test]
    fn the_stack_after_the_signature_is_the_ref_tracker_block() {
        let kmsg = "<6>[ 1.0] boot\n<3>[ 61.2] unregister_netdevice: waiting for cli-veth to become free. Usage count = 2\n\
                    <4>[ 61.2] ref_tracker: eth%d@000000 has 1/2 users at\n<4>[ 61.2]      dst_init+0x4a/0x130\n\
                    <4>[ 61.2]      rt_dst_alloc+0x2d/0xc0\n<6>[ 62.0] something else: later\n";
        let d = TrialRecord::from_events("s", "v", 1, &events("buggy", Outcome::Met, true)).decisions;
        let stack = leaked_stack(kmsg, &d);
        assert_eq!(stack.len(), 3, "{stack:?}");
        assert!(stack[0].starts_with("ref_tracker:") && stack[2].contains("rt_dst_alloc"));
        assert!(leaked_stack("<6>[ 1.0] boot\n", &d).is_empty());
        // As kmsg.log has it: one record, newlines escaped.
        let one = "<3>[ 61.2] unregister_netdevice: waiting for cli-veth to become free. Usage count = 2\n\
                   <3>[ 61.2] ref_tracker: netdev@0000 has 1/1 users at\\x0a     dst_init+0x4a/0x130\\x0a     ip_route_output_flow+0x1f/0x60\n";
        // As 6.1 writes it: a header record, then one record per frame.
        let six_one = "<0>[ 47.7] unregister_netdevice: waiting for cli-veth to become free. Usage count = 2\n\
                       <3>[ 47.7] leaked reference.\n<4>[ 47.7]  dst_init+0x3e/0xc3\n<4>[ 47.7]  rt_dst_alloc+0x2a/0xa9\n\
                       <3>[ 47.7] leaked reference.\n<4>[ 47.7]  dst_init+0x3e/0xc3\n<6>[ 48.0] IPv4: later\n";
        let want = ["leaked reference.", " dst_init+0x3e/0xc3", " rt_dst_alloc+0x2a/0xa9", "leaked reference.", " dst_init+0x3e/0xc3"];
        assert_eq!(leaked_stack(six_one, &d), want);
        assert_eq!(
            leaked_stack(one, &d),
            ["ref_tracker: netdev@0000 has 1/1 users at", "     dst_init+0x4a/0x130", "     ip_route_output_flow+0x1f/0x60"]
        );
    }
}
