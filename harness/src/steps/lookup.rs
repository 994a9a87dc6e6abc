//! `lookup` — look a path up once (the restarted daemon's health check, an `ls` of the
//! mount): on FUSE, past the entry timeout, this is what revalidates a dentry. The result
//! (`0` or the errno's name) is the step's output; `errno` makes it a requirement.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::expect::lookup::{look, problems};
use crate::scenario::check::{CheckScope, Problem};

/// ```yaml
/// lookup: { path: vol, via: plugin-root }   # errno: ENOTCONN to require a result
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: String,
    #[serde(default)]
    pub via: Option<String>,
    #[serde(default)]
    pub errno: Option<String>,
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = problems(&self.path, self.via.as_deref(), scope);
        if let Some(e) = self.errno.as_deref().filter(|e| !crate::sys::mount::known_errno(e)) {
            out.push(Problem::new("errno", format!("`{e}` is not an errno name (ENOENT, ENOTCONN, ...) nor 0")));
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let got = look(ctx.env, &self.path, self.via.as_deref());
            let via = self.via.as_ref().map_or(String::new(), |v| format!(" via `{v}`"));
            let text = format!("lookup of {}{via}: {got}", self.path);
            match &self.errno {
                Some(want) if *want != got => Err(StepError::Unmet(format!("{text}, expected {want}"))),
                _ => Ok(StepSummary::text(text).with_output(format!("{got}\n"))),
            }
        }
        .boxed()
    }
}
