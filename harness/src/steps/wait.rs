//! `wait: { until: <condition>, timeout: 30s }` — block until a condition is observed
//! (the same condition kinds as expectations), failing the step at the timeout.

use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::expect::ConditionKind;
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub until: ConditionKind,
    pub timeout: HumanDuration,
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let at = format!("until.{}", self.until.name());
        self.until.condition().check(scope).into_iter().map(|p| p.under(&at)).collect()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let since = Instant::now();
            let condition = self.until.condition();
            let seen = tokio::select! {
                r = condition.observe(ctx.env, since, since + self.timeout.0) => r?,
                _ = ctx.cancel.cancelled() => return Err(StepError::Stopped),
            };
            match seen {
                Some(o) => Ok(StepSummary::text(format!("seen after {:.1} s: {}", since.elapsed().as_secs_f64(), o.detail))),
                None if since.elapsed() < self.timeout.0 => Err(StepError::Unmet(format!(
                    "ruled out after {:.1} s (it can no longer happen): {}",
                    since.elapsed().as_secs_f64(),
                    condition.describe()
                ))),
                None => Err(StepError::Unmet(format!("timed out after {:?} waiting for {}", self.timeout.0, condition.describe()))),
            }
        }
        .boxed()
    }
}
