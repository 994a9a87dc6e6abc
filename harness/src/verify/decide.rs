//! The verdict of a verification from its trials, and whether trials still to run could
//! change it (the early stop). Pure: unit-tested on constructed outcomes.
//!
//! The rule, in order:
//! 1. the fixed kernel showed the signature in any completed trial: FIX NOT VERIFIED;
//! 2. it showed a kernel fault (by kind and title, numbers aside) the buggy one never did:
//!    FIX NOT VERIFIED, naming it;
//! 3. no fixed trial exercised the race: INCONCLUSIVE (absence alone proves nothing);
//! 4. the buggy rate's 95% lower bound is not above the fixed rate's 95% upper bound (over
//!    the fixed trials that exercised the race): INCONCLUSIVE, the buggy kernel does not
//!    reproduce reliably enough for that many fixed trials to mean anything;
//! 5. else FIX VERIFIED.
//!
//! With 10 trials each, 0/10 fixed has an upper bound of 0.28, so the buggy kernel must
//! reproduce at least 6/10 (lower bound 0.31); fewer exercised fixed trials ask more.

use super::report::{Summary, Verdict, VerdictReport};
use super::stats;

/// What the verdict is decided on: both variants' summaries.
#[derive(Debug, Clone)]
pub struct Counts<'a> {
    pub buggy: &'a Summary,
    pub fixed: &'a Summary,
}

/// Over several kernels: FIX VERIFIED only when every kernel verifies it, FIX NOT VERIFIED
/// when any refutes it, else INCONCLUSIVE; each reason names its kernel.
pub fn combine(per_kernel: &[(String, VerdictReport)]) -> VerdictReport {
    let any = |v: Verdict| per_kernel.iter().any(|(_, r)| r.verdict == v);
    let verdict = if any(Verdict::FixNotVerified) {
        Verdict::FixNotVerified
    } else if any(Verdict::Inconclusive) || per_kernel.is_empty() {
        Verdict::Inconclusive
    } else {
        Verdict::FixVerified
    };
    // The kernels that decided it first, then the others.
    let mut ordered: Vec<&(String, VerdictReport)> = per_kernel.iter().filter(|(_, r)| r.verdict == verdict).collect();
    ordered.extend(per_kernel.iter().filter(|(_, r)| r.verdict != verdict));
    let reasons = ordered
        .iter()
        .map(|(k, r)| format!("kernel {k}: {}{}", r.verdict.title(), r.reasons.first().map(|x| format!(" — {x}")).unwrap_or_default()))
        .collect();
    VerdictReport { verdict, exit_code: verdict.exit_code(), reasons }
}

/// Decides the verdict, with its reasons (the deciding one first).
pub fn decide(c: &Counts) -> VerdictReport {
    let (b, f) = (c.buggy, c.fixed);
    let verdict = if f.seen > 0 || !fixed_only_faults(c).is_empty() {
        Verdict::FixNotVerified
    } else if f.counted == 0 || b.counted == 0 || b.interval.low <= f.interval.high {
        Verdict::Inconclusive
    } else {
        Verdict::FixVerified
    };
    VerdictReport { verdict, exit_code: verdict.exit_code(), reasons: reasons(verdict, c) }
}

fn reasons(verdict: Verdict, c: &Counts) -> Vec<String> {
    let (b, f) = (c.buggy, c.fixed);
    let mut out = Vec::new();
    if f.seen > 0 {
        out.push(format!("the fixed kernel showed the signature in {}/{} trials", f.seen, f.completed));
    }
    for fault in fixed_only_faults(c) {
        out.push(format!("the fixed kernel reported a fault the buggy one never did: {fault}"));
    }
    if f.counted == 0 {
        out.push(format!("no fixed trial exercised the race (0/{} with its evidence): absence proves nothing", f.completed));
    } else if f.counted < f.completed {
        out.push(format!("{} of {} fixed trials did not exercise the race and do not count", f.completed - f.counted, f.completed));
    }
    let (bl, fh) = (b.interval.low, f.interval.high);
    if b.counted == 0 {
        out.push("no buggy trial completed".to_string());
    } else if verdict != Verdict::FixNotVerified && bl <= fh {
        out.push(format!(
            "the buggy kernel reproduced {}/{} (95% lower bound {bl:.2}), not above the fixed kernel's upper bound {fh:.2}: it does not reproduce reliably enough",
            b.seen, b.counted
        ));
    }
    if verdict == Verdict::FixVerified {
        out.insert(
            0,
            format!(
                "the buggy kernel reproduced {}/{} (95% lower bound {bl:.2}); the fixed kernel 0/{} with the race exercised (upper bound {fh:.2})",
                b.seen, b.counted, f.counted
            ),
        );
    }
    out
}

/// Faults of the fixed variant that the buggy one never showed, compared by their key.
fn fixed_only_faults(c: &Counts) -> Vec<String> {
    let buggy: Vec<String> = c.buggy.faults.iter().map(|f| fault_key(f)).collect();
    c.fixed.faults.iter().filter(|f| !buggy.contains(&fault_key(f))).cloned().collect()
}

/// A fault compared across trials: its text with every run of digits (CPU numbers,
/// seconds, pids) the same.
pub fn fault_key(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for ch in title.chars() {
        if ch.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// Trials each variant has still to run.
#[derive(Debug, Clone, Copy)]
pub struct Remaining {
    pub buggy: u32,
    pub fixed: u32,
}

/// Whether no outcome of the remaining trials could change the verdict. Every count only
/// grows, and the buggy lower bound grows with sightings and falls with misses, so the
/// extreme completions decide it.
pub fn is_final(c: &Counts, left: Remaining) -> bool {
    let now = decide(c).verdict;
    if c.fixed.seen > 0 {
        return true; // a sighting in the fixed kernel never goes away
    }
    if now == Verdict::FixNotVerified {
        return left.buggy == 0; // a buggy trial could show the same fault
    }
    if left.fixed > 0 {
        return false; // a fixed trial could show the signature
    }
    let (b, f) = (c.buggy, c.fixed);
    let worst = stats::wilson(b.seen, b.counted + left.buggy).low;
    let best = stats::wilson(b.seen + left.buggy, b.counted + left.buggy).low;
    let verdict_at = |low: f64| {
        if f.counted == 0 || b.counted + left.buggy == 0 || low <= f.interval.high {
            Verdict::Inconclusive
        } else {
            Verdict::FixVerified
        }
    };
    verdict_at(worst) == now && verdict_at(best) == now && (b.counted > 0 || left.buggy == 0)
}

#[cfg(test)]
mod combine_tests {
    use super::*;

    fn r(v: Verdict) -> VerdictReport {
        VerdictReport { verdict: v, exit_code: v.exit_code(), reasons: vec!["why".into()] }
    }

    #[test]
    fn every_kernel_must_verify_and_one_refutation_decides() {
        let k = |name: &str, v| (name.to_string(), r(v));
        let all = combine(&[k("5.10", Verdict::FixVerified), k("6.1", Verdict::FixVerified)]);
        assert_eq!(all.verdict, Verdict::FixVerified);
        let one = combine(&[k("5.10", Verdict::FixVerified), k("6.1", Verdict::Inconclusive)]);
        assert_eq!(one.verdict, Verdict::Inconclusive);
        assert!(one.reasons[0].starts_with("kernel 6.1: INCONCLUSIVE"), "{:?}", one.reasons);
        let no = combine(&[k("5.10", Verdict::Inconclusive), k("6.1", Verdict::FixNotVerified), k("6.12", Verdict::FixVerified)]);
        assert_eq!(no.verdict, Verdict::FixNotVerified);
        assert_eq!(no.reasons.len(), 3);
        assert!(no.reasons[0].starts_with("kernel 6.1: FIX NOT VERIFIED — why"), "{:?}", no.reasons);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::report::{Role, Trial};
    use crate::verify::stats::summarize;
    use crate::verify::stats::tests::trial;

    /// `seen` of `n` trials seen (and exercised), `ex` of the unseen ones exercised.
    fn trials(n: u32, seen: u32, ex: u32) -> Vec<Trial> {
        (0..n).map(|i| trial(i, i < seen, i < seen || i < seen + ex)).collect()
    }

    fn verdict(buggy: &[Trial], fixed: &[Trial]) -> VerdictReport {
        let (b, f) = (summarize(Role::Buggy, buggy), summarize(Role::Fixed, fixed));
        decide(&Counts { buggy: &b, fixed: &f })
    }

    #[test]
    fn reproduced_and_exercised_without_a_sighting_is_verified() {
        let v = verdict(&trials(10, 9, 1), &trials(10, 0, 10));
        assert_eq!(v.verdict, Verdict::FixVerified, "{v:?}");
        assert!(v.reasons[0].contains("9/10"), "{v:?}");
    }

    #[test]
    fn one_sighting_in_the_fixed_kernel_is_not_verified() {
        let v = verdict(&trials(10, 10, 0), &trials(10, 1, 9));
        assert_eq!(v.verdict, Verdict::FixNotVerified);
        assert!(v.reasons[0].contains("1/10"), "{v:?}");
    }

    #[test]
    fn a_fixed_kernel_that_never_entered_the_race_is_inconclusive() {
        let v = verdict(&trials(10, 10, 0), &trials(10, 0, 0));
        assert_eq!(v.verdict, Verdict::Inconclusive);
        assert!(v.reasons.iter().any(|r| r.contains("no fixed trial exercised")), "{v:?}");
    }

    #[test]
    fn a_buggy_kernel_that_rarely_reproduces_is_inconclusive() {
        assert_eq!(verdict(&trials(10, 5, 0), &trials(10, 0, 10)).verdict, Verdict::Inconclusive);
        assert_eq!(verdict(&trials(10, 6, 0), &trials(10, 0, 10)).verdict, Verdict::FixVerified);
        // Fewer exercised fixed trials widen their interval: 6/10 is no longer enough.
        assert_eq!(verdict(&trials(10, 6, 0), &trials(10, 0, 4)).verdict, Verdict::Inconclusive);
    }

    #[test]
    fn a_fault_only_the_fixed_kernel_shows_is_named() {
        let mut fixed = trials(10, 0, 10);
        fixed[1].faults = vec!["bug: BUG: unable to handle page fault for address: 0000000000000018".into()];
        let mut buggy = trials(10, 10, 0);
        let v = verdict(&buggy, &fixed);
        assert_eq!(v.verdict, Verdict::FixNotVerified);
        assert!(v.reasons[0].contains("unable to handle page fault"), "{v:?}");
        // The same fault in the buggy kernel, numbers aside, is not the fix's doing.
        buggy[0].faults = vec!["bug: BUG: unable to handle page fault for address: 0000000000000020".into()];
        assert_eq!(verdict(&buggy, &fixed).verdict, Verdict::FixVerified);
    }

    #[test]
    fn errors_do_not_count_toward_either_rate() {
        let mut fixed = trials(2, 0, 2);
        fixed.push(Trial { outcome: crate::event::Outcome::Error, ..trial(2, true, true) });
        // The errored trial's sighting is not counted; 0/2 exercised is still little.
        assert_eq!(verdict(&trials(10, 10, 0), &fixed).verdict, Verdict::FixVerified);
        assert_eq!(verdict(&trials(10, 8, 0), &fixed).verdict, Verdict::Inconclusive);
    }

    fn final_after(buggy: &[Trial], fixed: &[Trial], left: Remaining) -> bool {
        let (b, f) = (summarize(Role::Buggy, buggy), summarize(Role::Fixed, fixed));
        is_final(&Counts { buggy: &b, fixed: &f }, left)
    }

    #[test]
    fn a_sighting_in_the_fixed_kernel_stops_at_once() {
        assert!(final_after(&trials(1, 1, 0), &trials(1, 1, 0), Remaining { buggy: 9, fixed: 9 }));
    }

    #[test]
    fn nothing_stops_while_a_fixed_trial_could_still_show_the_signature() {
        assert!(!final_after(&trials(9, 9, 0), &trials(9, 0, 9), Remaining { buggy: 1, fixed: 1 }));
        assert!(!final_after(&trials(9, 0, 0), &trials(9, 0, 9), Remaining { buggy: 1, fixed: 1 }));
    }

    #[test]
    fn remaining_buggy_trials_stop_only_when_no_outcome_of_them_matters() {
        // 9/9 buggy, 0/10 fixed: one more miss still leaves 9/10, verified either way.
        assert!(final_after(&trials(9, 9, 0), &trials(10, 0, 10), Remaining { buggy: 1, fixed: 0 }));
        // 5/8: two more sightings would make 7/10 and verify, two misses would not.
        assert!(!final_after(&trials(8, 5, 0), &trials(10, 0, 10), Remaining { buggy: 2, fixed: 0 }));
        // 1/8: even two more sightings leave 3/10: inconclusive whatever happens.
        assert!(final_after(&trials(8, 1, 0), &trials(10, 0, 10), Remaining { buggy: 2, fixed: 0 }));
    }

    #[test]
    fn a_fault_verdict_waits_for_the_buggy_trials() {
        let mut fixed = trials(10, 0, 10);
        fixed[0].faults = vec!["warning: WARNING: CPU: 1 PID: 7 at net/core/dev.c:10".into()];
        assert!(!final_after(&trials(5, 5, 0), &fixed, Remaining { buggy: 5, fixed: 0 }));
        assert!(final_after(&trials(10, 10, 0), &fixed, Remaining { buggy: 0, fixed: 0 }));
    }

    #[test]
    fn fault_keys_ignore_numbers() {
        assert_eq!(fault_key("soft lockup - CPU#1 stuck for 22s!"), fault_key("soft lockup - CPU#0 stuck for 3s!"));
        assert_ne!(fault_key("Oops: 0002"), fault_key("BUG: 0002"));
    }
}
