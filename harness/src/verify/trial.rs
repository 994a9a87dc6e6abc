//! One trial's record from its events: signature seen, race exercised (evidence), time
//! from anchor to signature, faults, run directory. Pure: from events, never from output.

use crate::engine::RunReport;
use crate::event::{Event, GuestFault, Must};
use crate::scenario::Variant;

use super::report::{Millis, Trial};

/// What a variant's expectations mean to a verification.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    /// The signature expectations (everything not `evidence: true`).
    pub signature: Vec<String>,
    /// The evidence expectations.
    pub evidence: Vec<String>,
    /// Fault kinds the scenario tolerates: listed apart, not counted.
    pub tolerate: Vec<GuestFault>,
}

impl Roles {
    /// `variant`'s evidence, and the `signature` ids (see [`signature`]).
    pub fn of(variant: &Variant, signature: &[String], tolerate: &[GuestFault]) -> Roles {
        let evidence = variant.expect.iter().filter(|e| e.evidence).map(|e| e.id.clone()).collect();
        Roles { signature: signature.to_vec(), evidence, tolerate: tolerate.to_vec() }
    }
}

/// The fault signature: the expectations the buggy variant says must appear and the fixed
/// one must not (the same id, its `must` flipped); evidence never is.
pub fn signature(buggy: &Variant, fixed: &Variant) -> Vec<String> {
    buggy
        .expect
        .iter()
        .filter(|b| !b.evidence && b.must == Must::Appear)
        .filter(|b| fixed.expect.iter().any(|f| f.id == b.id && f.must == Must::NotAppear))
        .map(|b| b.id.clone())
        .collect()
}

/// The record of trial `index` from its events and report.
pub fn record(index: u32, roles: &Roles, events: &[Event], report: &RunReport, duration_ms: Millis) -> Trial {
    let mut t = Trial {
        index,
        outcome: report.outcome,
        summary: report.summary.clone(),
        seen: false,
        exercised: false,
        since_anchor_ms: None,
        duration_ms,
        run_dir: None,
        faults: Vec::new(),
        tolerated_faults: Vec::new(),
    };
    let mut evidence_met = Vec::new();
    for e in events {
        match e {
            // Seen: an `appear` met, or a `not_appear` broken.
            Event::ExpectationDecided { id, must, met, since_anchor_ms, .. }
                if roles.signature.contains(id) && (*must == Must::Appear) == *met =>
            {
                t.seen = true;
                t.since_anchor_ms = t.since_anchor_ms.or(*since_anchor_ms);
            }
            Event::ExpectationDecided { id, met: true, .. } if roles.evidence.contains(id) => evidence_met.push(id.clone()),
            Event::GuestFault { fault, message, .. } if !matches!(fault, GuestFault::Hang | GuestFault::Exited) => {
                let title = format!(
                    "{}: {message}",
                    serde_json::to_value(fault).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
                );
                if roles.tolerate.contains(fault) {
                    t.tolerated_faults.push(title);
                } else {
                    t.faults.push(title);
                }
            }
            Event::Artifacts { dir } => t.run_dir = Some(dir.clone()),
            _ => {}
        }
    }
    t.exercised = t.completed() && roles.evidence.iter().all(|id| evidence_met.contains(id));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Outcome;

    fn decided(id: &str, must: Must, met: bool, since: Option<Millis>) -> Event {
        Event::ExpectationDecided { at_ms: 1, id: id.into(), must, met, reason: String::new(), observation: None, since_anchor_ms: since }
    }

    fn roles() -> Roles {
        Roles { signature: vec!["leak".into()], evidence: vec!["refused".into()], tolerate: vec![GuestFault::SoftLockup] }
    }

    fn report(outcome: Outcome) -> RunReport {
        RunReport { outcome, summary: "s".into(), notes: Vec::new() }
    }

    #[test]
    fn a_broken_not_appear_is_a_sighting_with_its_time() {
        let ev = [decided("leak", Must::NotAppear, false, Some(1234)), decided("refused", Must::Appear, false, None)];
        let t = record(3, &roles(), &ev, &report(Outcome::NotMet), 50_000);
        assert!(t.seen && !t.exercised);
        assert_eq!((t.index, t.since_anchor_ms, t.duration_ms), (3, Some(1234), 50_000));
    }

    #[test]
    fn evidence_met_and_no_sighting_is_an_exercised_clean_trial() {
        let ev = [
            decided("leak", Must::NotAppear, true, None),
            decided("refused", Must::Appear, true, Some(10)),
            Event::GuestFault {
                fault: GuestFault::SoftLockup,
                message: "watchdog: BUG: soft lockup - CPU#1 stuck for 22s!".into(),
                lines: vec![],
            },
            Event::GuestFault { fault: GuestFault::Warning, message: "WARNING: CPU: 0 PID: 1 at x".into(), lines: vec![] },
            Event::Artifacts { dir: "/runs/x".into() },
        ];
        let t = record(0, &roles(), &ev, &report(Outcome::Met), 1);
        assert!(!t.seen && t.exercised && t.since_anchor_ms.is_none());
        assert_eq!(t.faults, ["warning: WARNING: CPU: 0 PID: 1 at x"]);
        assert_eq!(t.tolerated_faults.len(), 1);
        assert_eq!(t.run_dir.as_deref(), Some("/runs/x"));
    }

    #[test]
    fn an_errored_run_exercised_nothing() {
        let ev = [decided("refused", Must::Appear, true, None)];
        assert!(!record(0, &roles(), &ev, &report(Outcome::Error), 1).exercised);
        let none = Roles { evidence: vec![], ..roles() };
        assert!(record(0, &none, &[], &report(Outcome::Met), 1).exercised, "no evidence declared: a completed run counts");
    }
}
