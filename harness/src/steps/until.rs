//! `until:` on a step entry: run a looping or background step (`mtu_churn`, `traffic`, ...)
//! until a condition is seen, then stop it and go on; the step's own length (`rounds`,
//! `duration`) is the cap. Any condition kind of `expect:` may be used.
//!
//! Contract: the condition is watched from the step's start. When it is seen the step's
//! cancel token fires and the step winds down as if stopped (a `Stopped` error then counts
//! as a normal end); the summary says what was seen and when, and the counters carry
//! `until_seen` (1 or 0) and `until_at_ms` (run clock) for benchmarks and `lab verify`.
//! Reaching the cap without the condition is not a failure of the step: whether that
//! matters (a race not exercised) is for the scenario's expectations to say.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::event::{Event, Observation};
use crate::expect::ConditionKind;
use crate::run_env::RunEnv;

use super::{StepError, StepSummary};

/// How far ahead the watch looks: the step's own cap ends it long before.
const WATCH_HORIZON: Duration = Duration::from_secs(24 * 3600);

/// Runs `step` (whose cancel token is `stop`) until `condition` is seen or the step ends.
pub async fn run_until<F>(
    env: &RunEnv,
    index: &str,
    condition: &ConditionKind,
    stop: &tokio_util::sync::CancellationToken,
    step: F,
) -> Result<StepSummary, StepError>
where
    F: Future<Output = Result<StepSummary, StepError>>,
{
    let since = Instant::now();
    let watch = condition.condition().observe(env, since, since + WATCH_HORIZON);
    tokio::pin!(step);
    let seen = tokio::select! {
        r = &mut step => return Ok(with_outcome(r?, None)),
        seen = watch => seen?,
    };
    let Some(seen) = seen else {
        // The condition can no longer happen (a process already gone): let the step run on.
        return Ok(with_outcome(step.await?, None));
    };
    env.events.send(Event::StepProgress {
        at_ms: env.clock.now_ms(),
        step: index.to_string(),
        message: format!("until: seen, stopping: {}", seen.detail),
    });
    stop.cancel();
    match step.await {
        Ok(s) => Ok(with_outcome(s, Some(&seen))),
        Err(StepError::Stopped) => Ok(with_outcome(StepSummary::text("stopped"), Some(&seen))),
        Err(e) => Err(e),
    }
}

/// Pure: the step's summary with what `until` saw (or that the step ran to its cap).
pub fn with_outcome(summary: StepSummary, seen: Option<&Observation>) -> StepSummary {
    let text = match seen {
        Some(o) => format!("{}; until: seen at {:.1} s: {}", summary.text, o.at_ms as f64 / 1000.0, o.detail),
        None => format!("{}; until: not seen, the step ran to its end (the cap)", summary.text),
    };
    let mut out = StepSummary { text, ..summary }.counter("until_seen", if seen.is_some() { 1.0 } else { 0.0 });
    if let Some(o) = seen {
        out = out.counter("until_at_ms", o.at_ms as f64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_seen_or_cap() {
        let o = Observation { at_ms: 12_345, detail: "ref_leak_test: LEAK".into(), context: vec![] };
        let s = with_outcome(StepSummary::text("8 MTU changes").counter("changes", 8.0), Some(&o));
        assert_eq!(s.text, "8 MTU changes; until: seen at 12.3 s: ref_leak_test: LEAK");
        assert_eq!(s.counters["until_seen"], 1.0);
        assert_eq!(s.counters["until_at_ms"], 12_345.0);
        assert_eq!(s.counters["changes"], 8.0, "the step's own counters are kept");
        let cap = with_outcome(StepSummary::text("240 MTU changes"), None);
        assert!(cap.text.ends_with("until: not seen, the step ran to its end (the cap)"));
        assert_eq!(cap.counters["until_seen"], 0.0);
        assert!(!cap.counters.contains_key("until_at_ms"));
    }
}
