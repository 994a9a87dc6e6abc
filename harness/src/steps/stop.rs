//! `stop: <id>` — stop a background step and wait until it has wound down.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{list, CheckScope, Problem};

#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Spec(pub String);

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        if scope.background_ids.contains(self.0.as_str()) {
            return Vec::new();
        }
        vec![Problem::new("", format!("no background step has id `{}`; background steps: {}", self.0, list(&scope.background_ids)))]
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            if super::stop_one(ctx.env, &self.0).await {
                Ok(StepSummary::text(format!("stopped `{}`", self.0)))
            } else {
                Err(StepError::Unmet(format!("`{}` is not running (never started, or already stopped)", self.0)))
            }
        }
        .boxed()
    }
}
