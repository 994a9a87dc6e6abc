//! A verification as plain text for the terminal: one line per trial as it ends, then the
//! table per variant and the verdict with its reasons. Reads the report; decides nothing.

use std::fmt::Write;

use super::report::{Spread, Trial, Verification};

/// One trial, as it ends.
pub fn trial_line(variant: &str, t: &Trial) -> String {
    let seen = if t.seen { "signature SEEN" } else { "signature not seen" };
    let ex = if t.exercised { "race exercised" } else { "race NOT exercised" };
    let anchor = t.since_anchor_ms.map(|ms| format!(" {:.1}s after the anchor", ms as f64 / 1000.0)).unwrap_or_default();
    let faults = if t.faults.is_empty() { String::new() } else { format!(", faults: {}", t.faults.join(" | ")) };
    format!("  {variant} #{}: {:?} — {seen}{anchor}, {ex}, {:.1}s{faults}", t.index + 1, t.outcome, t.duration_ms as f64 / 1000.0)
}

fn spread(s: Option<Spread>) -> String {
    s.map_or_else(|| "-".into(), |s| format!("{:.1}/{:.1}/{:.1}s", s.min as f64 / 1e3, s.median as f64 / 1e3, s.max as f64 / 1e3))
}

/// The whole verification.
pub fn render(v: &Verification) -> String {
    let mut out = String::new();
    let shard = v.shard.map(|s| format!(" (shard {}/{})", s.index, s.count)).unwrap_or_default();
    let _ = writeln!(out, "\n{} — {} trials per variant planned{shard}", v.scenario, v.trials_planned);
    let _ = writeln!(
        out,
        "  {:<20} {:>7} {:>7} {:<15} {:>10} {:<24} {:<20}",
        "variant", "seen", "rate", "95% (Wilson)", "exercised", "anchor→sig min/med/max", "trial min/med/max"
    );
    for side in &v.variants {
        let s = &side.summary;
        let exercised = if side.evidence.is_empty() {
            format!("{}/{} (no evidence declared)", s.exercised, s.completed)
        } else {
            format!("{}/{}", s.exercised, s.completed)
        };
        let _ = writeln!(
            out,
            "  {:<20} {:>7} {:>6.0}% [{:.2}, {:.2}]    {:>10} {:<24} {:<20}",
            format!("{} ({:?})", side.name, side.role).to_lowercase(),
            format!("{}/{}", s.seen, s.counted),
            s.rate * 100.0,
            s.interval.low,
            s.interval.high,
            exercised,
            spread(s.since_anchor),
            spread(s.duration),
        );
        if s.completed < s.trials {
            let _ = writeln!(out, "      {} of {} trials ended in an error and do not count", s.trials - s.completed, s.trials);
        }
    }
    if let Some(e) = &v.early_stop {
        let _ = writeln!(out, "  stopped early after {} of {} trials: {}", e.after_trials, e.planned_trials, e.reason);
    }
    let _ = writeln!(out, "■ {} (exit {}) in {:.0}s", v.verdict.verdict.title(), v.verdict.exit_code, v.took_ms as f64 / 1000.0);
    for r in &v.verdict.reasons {
        let _ = writeln!(out, "  - {r}");
    }
    out
}
