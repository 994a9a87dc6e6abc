//! `sleep: 2s` — wait a fixed time. For pacing a scenario, never for synchronisation:
//! to wait for something to happen, use `wait`.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Spec(pub HumanDuration);

impl Step for Spec {
    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        Vec::new()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            tokio::select! {
                _ = tokio::time::sleep(self.0 .0) => Ok(StepSummary::text(format!("slept {:?}", self.0 .0))),
                _ = ctx.cancel.cancelled() => Err(StepError::Stopped),
            }
        }
        .boxed()
    }
}
