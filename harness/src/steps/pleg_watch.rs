//! `pleg_watch` — a kubelet-like watchdog, so the timeline reads like the incident: every
//! `period` its "relist" looks at a step's process; while that process has not exited the
//! relist is stuck on it, and past `threshold` the step says what kubelet logged —
//! `PLEG is not healthy: pleg was last seen active 5s ago; threshold is 3s` — and, when it
//! comes back, `relist took 12.3s`. It observes only (the registry of step processes); it
//! decides nothing, expectations do.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// How many periods apart the "not healthy" line is repeated.
const REPEAT_EVERY: u32 = 5;

/// ```yaml
/// id: kubelet
/// background: true
/// pleg_watch: { step: export, period: 1s, threshold: 3s }   # kubelet: 1s and 3m
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub step: String,
    #[serde(default = "default_period")]
    pub period: HumanDuration,
    pub threshold: HumanDuration,
}

fn default_period() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

/// What the watchdog saw.
#[derive(Debug, Default)]
struct Watch {
    /// When the stuck relist began (the process's start), while it lasts.
    stuck_since: Option<Instant>,
    longest: Duration,
    unhealthy: Duration,
    ticks: u32,
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        out.extend(scope.need_step("step", &self.step));
        if self.period.0.is_zero() {
            out.push(Problem::new("period", "must be longer than zero"));
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let mut w = Watch::default();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.period.0) => {}
                    _ = ctx.cancel.cancelled() => break,
                }
                self.tick(ctx, &mut w);
            }
            // A last relist: the watched process may have ended since the last period.
            self.tick(ctx, &mut w);
            let stuck = w.stuck_since.map_or(String::new(), |s| format!("; still stuck after {:.1}s", s.elapsed().as_secs_f64()));
            Ok(StepSummary::text(format!(
                "longest relist {:.1}s, PLEG unhealthy for {:.1}s (threshold {:?}){stuck}",
                w.longest.as_secs_f64(),
                w.unhealthy.as_secs_f64(),
                self.threshold.0
            ))
            .counter("longest_relist_ms", w.longest.as_millis() as f64)
            .counter("unhealthy_ms", w.unhealthy.as_millis() as f64))
        }
        .boxed()
    }
}

impl Spec {
    /// One relist: is the watched process still running?
    fn tick(&self, ctx: &StepCtx, w: &mut Watch) {
        let t = ctx.env.procs.get(&self.step);
        let running = t.as_ref().filter(|t| t.exit.is_none() && t.gone.is_none()).and_then(|t| t.started);
        match (running, w.stuck_since) {
            (Some(since), _) => {
                w.stuck_since = Some(since);
                let stalled = since.elapsed();
                w.longest = w.longest.max(stalled);
                if stalled > self.threshold.0 {
                    w.unhealthy += self.period.0;
                    if w.ticks.is_multiple_of(REPEAT_EVERY) {
                        ctx.progress(format!(
                            "PLEG is not healthy: pleg was last seen active {:.0}s ago; threshold is {:?}",
                            stalled.as_secs_f64(),
                            self.threshold.0
                        ));
                    }
                    w.ticks += 1;
                }
            }
            (None, Some(since)) => {
                let took = t.and_then(|t| t.exit.map(|e| e.runtime)).unwrap_or_else(|| since.elapsed());
                w.longest = w.longest.max(took);
                if took > self.threshold.0 {
                    ctx.progress(format!("relist took {:.1}s (`{}` done)", took.as_secs_f64(), self.step));
                }
                w.stuck_since = None;
                w.ticks = 0;
            }
            (None, None) => {
                let done = t.and_then(|t| t.exit.map(|e| e.runtime)).unwrap_or_default();
                w.longest = w.longest.max(done);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_known_step_and_a_period() {
        let spec: Spec = serde_saphyr::from_str("{ step: nope, period: 0s, threshold: 3s }").unwrap();
        let p = spec.check(&CheckScope::default());
        assert_eq!(p.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["step", "period"]);
    }
}
