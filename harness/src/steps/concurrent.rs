//! `concurrent: { steps: [...] }` — run steps side by side and wait for all of them.

use futures::future::{join_all, BoxFuture};
use futures::FutureExt;
use serde::Deserialize;

use super::{run_entry, Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::StepEntry;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub steps: Vec<StepEntry>,
}

impl Step for Spec {
    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        // The nested steps are checked by the validator, at their own paths.
        if self.steps.is_empty() {
            return vec![Problem::new("steps", "a concurrent group needs at least one step")];
        }
        Vec::new()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let runs =
                self.steps.iter().enumerate().map(|(i, entry)| run_entry(ctx.env, entry, format!("{}.{}", ctx.index, i + 1), &ctx.cancel));
            let failures: Vec<StepError> = join_all(runs).await.into_iter().filter_map(Result::err).collect();
            if failures.is_empty() {
                Ok(StepSummary::text(format!("{} steps done", self.steps.len())))
            } else {
                Err(StepError::Group(failures))
            }
        }
        .boxed()
    }
}
