//! Counting a variant's trials: the Wilson score 95% interval of a rate, min/median/max of
//! durations, and a variant's [`Summary`]. Pure functions.

use super::report::{Interval, Millis, Role, Spread, Summary, Trial};

/// The normal quantile for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of `seen` successes in `n` trials at 95%. Unlike the normal
/// approximation it stays inside [0, 1] and says something at 0/n and n/n, which is where
/// a fix verification lives. `n == 0` knows nothing: [0, 1].
pub fn wilson(seen: u32, n: u32) -> Interval {
    if n == 0 {
        return Interval { low: 0.0, high: 1.0 };
    }
    let (s, n) = (f64::from(seen.min(n)), f64::from(n));
    let p = s / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    // Exact bounds at the ends (the formula gives them up to rounding).
    let low = if seen == 0 { 0.0 } else { (centre - half).max(0.0) };
    let high = if s == n { 1.0 } else { (centre + half).min(1.0) };
    Interval { low, high }
}

/// Min, median (the lower middle for an even count) and max; `None` for no values.
pub fn spread(values: &[Millis]) -> Option<Spread> {
    let mut v = values.to_vec();
    v.sort_unstable();
    let (min, max) = (*v.first()?, *v.last()?);
    let median = if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2 };
    Some(Spread { min, median, max })
}

/// A variant's trials counted. The rate is over the completed trials for the buggy
/// variant, and over the completed trials that exercised the race (or saw the signature,
/// which proves it was) for the fixed one.
pub fn summarize(role: Role, trials: &[Trial]) -> Summary {
    let done: Vec<&Trial> = trials.iter().filter(|t| t.completed()).collect();
    let seen = count(&done, |t| t.seen);
    let exercised = count(&done, |t| t.exercised);
    let counted = match role {
        Role::Buggy => done.len() as u32,
        Role::Fixed => count(&done, |t| t.exercised || t.seen),
    };
    let since: Vec<Millis> = done.iter().filter(|t| t.seen).filter_map(|t| t.since_anchor_ms).collect();
    let durations: Vec<Millis> = trials.iter().map(|t| t.duration_ms).collect();
    let mut faults: Vec<String> = trials.iter().flat_map(|t| t.faults.iter().cloned()).collect();
    faults.sort();
    faults.dedup();
    Summary {
        trials: trials.len() as u32,
        completed: done.len() as u32,
        seen,
        exercised,
        counted,
        rate: if counted == 0 { 0.0 } else { f64::from(seen) / f64::from(counted) },
        interval: wilson(seen, counted),
        since_anchor: spread(&since),
        duration: spread(&durations),
        faults,
    }
}

fn count(trials: &[&Trial], f: impl Fn(&Trial) -> bool) -> u32 {
    trials.iter().filter(|t| f(t)).count() as u32
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::Outcome;

    /// A completed trial for constructed outcomes.
    pub(crate) fn trial(index: u32, seen: bool, exercised: bool) -> Trial {
        Trial {
            index,
            outcome: Outcome::Met,
            summary: String::new(),
            seen,
            exercised,
            since_anchor_ms: seen.then_some(1000 + u64::from(index)),
            duration_ms: 10_000,
            run_dir: None,
            faults: Vec::new(),
            tolerated_faults: Vec::new(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    #[test]
    fn wilson_matches_published_values() {
        // Reference values: Newcombe (1998), Table I, and the closed form at 0/n.
        let i = wilson(0, 10);
        assert!(i.low == 0.0 && close(i.high, 0.2775), "{i:?}");
        let i = wilson(10, 10);
        assert!(close(i.low, 0.7225) && i.high == 1.0, "{i:?}");
        let i = wilson(9, 10);
        assert!(close(i.low, 0.5958) && close(i.high, 0.9821), "{i:?}");
        let i = wilson(81, 263);
        assert!(close(i.low, 0.2553) && close(i.high, 0.3662), "{i:?}");
    }

    #[test]
    fn wilson_knows_nothing_without_trials_and_narrows_with_more() {
        assert_eq!(wilson(0, 0), Interval { low: 0.0, high: 1.0 });
        assert!(wilson(0, 100).high < wilson(0, 10).high);
        assert!(wilson(5, 10).low < wilson(6, 10).low, "the lower bound grows with successes");
    }

    #[test]
    fn spread_takes_min_median_max() {
        assert_eq!(spread(&[]), None);
        assert_eq!(spread(&[30, 10, 20]), Some(Spread { min: 10, median: 20, max: 30 }));
        assert_eq!(spread(&[40, 10, 20, 30]), Some(Spread { min: 10, median: 25, max: 40 }));
    }

    #[test]
    fn a_fixed_variant_counts_only_trials_that_exercised_the_race() {
        let mut trials = vec![trial(0, false, true), trial(1, false, false), trial(2, true, false)];
        trials.push(Trial { outcome: Outcome::Error, ..trial(3, false, false) });
        let s = summarize(Role::Fixed, &trials);
        assert_eq!((s.trials, s.completed, s.seen, s.exercised, s.counted), (4, 3, 1, 1, 2));
        assert!(close(s.rate, 0.5));
        assert_eq!(s.since_anchor, Some(Spread { min: 1002, median: 1002, max: 1002 }));
        let b = summarize(Role::Buggy, &trials);
        assert_eq!(b.counted, 3, "a buggy variant counts every completed trial");
    }
}
