//! Which of a run's kernel faults are unexpected, and what the scenario's `faults:` makes of
//! them. Pure: [`super::conclude`] calls it with every fault the console reported.
//!
//! A fault whose first line matches a pattern of one of the variant's own `kernel_log`
//! expectations is the scenario's signature (fnhe-leak's `unregister_netdevice: waiting
//! for ...`), not an unexpected fault; so is a kind the scenario lists in `kernel.tolerate`.
//! Every other console fault is listed in `verdict.json`; under `faults: forbid` (or a list
//! of allowed titles) one not allowed turns a MET or NOT MET run into NOT MET, naming it.

use regex::Regex;
use serde::Serialize;

use super::console::FaultReport;
use crate::engine::RunReport;
use crate::event::{FaultClass, GuestFault, Outcome};
use crate::expect::ConditionKind;
use crate::scenario::{FaultPolicy, Scenario, Variant};

/// What decides which faults are unexpected and which of those are forbidden.
#[derive(Debug, Clone, Default)]
pub struct FaultRules {
    /// The `kernel_log` patterns of the variant's expectations: the scenario's signature.
    pub signatures: Vec<Regex>,
    /// Kinds the scenario tolerates (`kernel.tolerate`).
    pub tolerated: Vec<GuestFault>,
    pub policy: Policy,
}

/// `faults:` compiled.
#[derive(Debug, Clone, Default)]
pub enum Policy {
    #[default]
    Allow,
    /// Forbid every fault whose title matches none of these (`forbid`: an empty list).
    ForbidBut(Vec<Regex>),
}

/// A fault of the run that is not its signature, as `verdict.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unexpected {
    pub class: FaultClass,
    pub title: String,
    pub first_line: String,
    /// The printk timestamp of the first line, seconds since the guest's boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    pub fatal: bool,
    /// `faults:` does not allow it: the run is NOT MET because of it.
    pub forbidden: bool,
}

impl FaultRules {
    /// The rules of `scenario` run as `variant`. Patterns that do not compile were refused
    /// when the scenario was loaded; they are skipped here.
    pub fn of(scenario: &Scenario, variant: &Variant) -> FaultRules {
        let signatures = variant
            .expect
            .iter()
            .filter_map(|e| match &e.condition {
                ConditionKind::KernelLog(spec) => Some(spec.patterns().filter_map(|p| Regex::new(p).ok()).collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect();
        let policy = match &scenario.faults {
            FaultPolicy::Allow => Policy::Allow,
            FaultPolicy::Forbid => Policy::ForbidBut(Vec::new()),
            FaultPolicy::AllowOnly(titles) => Policy::ForbidBut(titles.iter().filter_map(|t| Regex::new(t).ok()).collect()),
        };
        FaultRules { signatures, tolerated: scenario.kernel.tolerate.clone(), policy }
    }

    /// `kernel.tolerate` covers `f`. A tolerated `warning` is a `WARNING:` report only, not
    /// every non-fatal class the coarse kind lumps together: a KASAN or lockdep report on a
    /// debug kernel is never hidden by a scenario whose debug patch warns on purpose.
    pub fn tolerates(&self, f: &FaultReport) -> bool {
        self.tolerated.contains(&f.fault) && (f.fault != GuestFault::Warning || matches!(f.class, None | Some(FaultClass::Warning)))
    }

    /// The console faults among `faults` that are neither the signature nor tolerated.
    pub fn unexpected<'a>(&self, faults: impl IntoIterator<Item = &'a FaultReport>) -> Vec<Unexpected> {
        faults
            .into_iter()
            .filter(|f| !self.tolerates(f) && !self.signatures.iter().any(|s| s.is_match(&f.message)))
            .filter_map(|f| {
                let class = f.class?;
                let title = f.name().to_string();
                let forbidden = match &self.policy {
                    Policy::Allow => false,
                    Policy::ForbidBut(allowed) => !allowed.iter().any(|a| a.is_match(&title)),
                };
                Some(Unexpected { class, title, first_line: f.message.clone(), time: f.time, fatal: f.fatal, forbidden })
            })
            .collect()
    }
}

/// `report` with the forbidden faults of `unexpected` made its outcome: a run that went
/// through (MET or NOT MET) is NOT MET, its summary naming them; an error stays an error.
pub fn apply(report: RunReport, unexpected: &[Unexpected]) -> RunReport {
    let forbidden: Vec<&str> = unexpected.iter().filter(|u| u.forbidden).map(|u| u.title.as_str()).collect();
    if forbidden.is_empty() {
        return report;
    }
    let named = format!("unexpected kernel fault (faults: forbid): {}", forbidden.join("; "));
    match report.outcome {
        Outcome::Met | Outcome::NotMet => {
            let mut notes = report.notes;
            notes.insert(0, format!("the run itself: {}", report.summary));
            RunReport { outcome: Outcome::NotMet, summary: named, notes }
        }
        _ => {
            let mut notes = report.notes;
            notes.push(named);
            RunReport { notes, ..report }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SCENARIO: &str = r#"name: t
description: a signature in one variant only
faults: { allow: ['^WARNING in lkdtm_'] }
kernel: { tolerate: [soft_lockup] }
steps:
  - id: pause
    sleep: 1s
expect:
  - id: leak
    kernel_log:
      pattern: 'unregister_netdevice: waiting for \S+'
    within: 5s
    variants: [buggy]
variants:
  buggy: { default: true }
  fixed: {}
"#;

    fn rules(variant: &str) -> FaultRules {
        let s = crate::scenario::load_str(SCENARIO, Path::new("t.yaml")).unwrap();
        FaultRules::of(&s, &Variant::resolve(&s, Some(variant)).unwrap())
    }

    #[test]
    fn the_signature_is_the_variants_own_kernel_log_patterns() {
        let (buggy, fixed) = (rules("buggy"), rules("fixed"));
        assert_eq!(buggy.signatures.len(), 1);
        assert!(buggy.signatures[0].is_match("unregister_netdevice: waiting for cli-veth to become free. Usage count = 4"));
        assert!(fixed.signatures.is_empty(), "the expectation is limited to buggy");
        assert_eq!(buggy.tolerated, [GuestFault::SoftLockup]);
        assert!(matches!(&buggy.policy, Policy::ForbidBut(a) if a.len() == 1 && a[0].is_match("WARNING in lkdtm_WARNING")));
    }

    fn report(line: &str) -> FaultReport {
        let fault = lab_faults::scan(line).pop().expect("a report");
        FaultReport::from(fault)
    }

    #[test]
    fn a_tolerated_warning_does_not_hide_a_sanitizer_report() {
        let rules = FaultRules { tolerated: vec![GuestFault::Warning], ..FaultRules::default() };
        // First lines as a 6.1 guest prints them (LKDTM's WARNING; syzkaller's KASAN corpus).
        let warning = report("WARNING: CPU: 0 PID: 93 at drivers/misc/lkdtm/bugs.c:85 lkdtm_WARNING+0x1a/0x20");
        let kasan = report("BUG: KASAN: slab-out-of-bounds in memcpy+0x1d/0x40 mm/kasan/kasan.c:31");
        assert_eq!((warning.fault, kasan.fault), (GuestFault::Warning, GuestFault::Warning), "both lumped as warnings");
        assert!(rules.tolerates(&warning));
        assert!(!rules.tolerates(&kasan));
        assert_eq!(rules.unexpected([&warning, &kasan]).iter().map(|u| u.class).collect::<Vec<_>>(), [FaultClass::Kasan]);
    }
}
