//! `teardown: {}` — delete the namespaces now, as the incident did; signatures that show
//! after teardown are anchored to this step's end. Initial-namespace sysctls stay set until
//! the run ends: they shape how the kernel reports what happens next.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

impl Step for Spec {
    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        Vec::new()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let report = ctx.env.topology.delete_namespaces(&ctx.env.ledger).await;
            if report.problems.is_empty() {
                Ok(StepSummary::text(format!("removed {}", report.removed.join(", "))))
            } else {
                Err(StepError::Teardown(report.problems))
            }
        }
        .boxed()
    }
}
