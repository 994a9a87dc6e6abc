//! `lookup` — look a path up once (the restarted daemon's health check, an `ls` of the
//! mount): on FUSE, past the entry timeout, this is what revalidates a dentry. The result
//! (`0` or the errno's name) is the step's output; `errno` makes it a requirement. With
//! `for`, it looks again every `every` (default 250ms) for that long, like a periodic health
//! check: the first lookup after the dentry's timeout revalidates it, whenever the guest's
//! clock says that is (a starved TCG guest's jiffies lag its wall time); the output is then
//! every distinct result in order.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::expect::lookup::{look, problems};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// ```yaml
/// lookup: { path: vol, via: plugin-root }   # errno: ENOTCONN to require a result
/// lookup: { path: vol, via: plugin-root, for: 4s, every: 250ms }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: String,
    #[serde(default)]
    pub via: Option<String>,
    #[serde(default)]
    pub errno: Option<String>,
    #[serde(default, rename = "for")]
    pub for_: Option<HumanDuration>,
    #[serde(default = "default_every")]
    pub every: HumanDuration,
}

fn default_every() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(250))
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = problems(&self.path, self.via.as_deref(), scope);
        if let Some(e) = self.errno.as_deref().filter(|e| !crate::sys::mount::known_errno(e)) {
            out.push(Problem::new("errno", format!("`{e}` is not an errno name (ENOENT, ENOTCONN, ...) nor 0")));
        }
        if self.every.0 < std::time::Duration::from_millis(10) {
            out.push(Problem::new("every", "look at most every 10ms"));
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let until = std::time::Instant::now() + self.for_.map_or(std::time::Duration::ZERO, |d| d.0);
            let mut seen: Vec<String> = Vec::new();
            loop {
                let r = look(ctx.env, &self.path, self.via.as_deref());
                if seen.last() != Some(&r) {
                    seen.push(r);
                }
                if std::time::Instant::now() + self.every.0 > until {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.every.0) => {}
                    _ = ctx.cancel.cancelled() => return Err(StepError::Stopped),
                }
            }
            let got = seen.join(" then ");
            let via = self.via.as_ref().map_or(String::new(), |v| format!(" via `{v}`"));
            let text = format!("lookup of {}{via}: {got}", self.path);
            match &self.errno {
                Some(want) if *want != got => Err(StepError::Unmet(format!("{text}, expected {want}"))),
                _ => Ok(StepSummary::text(text).with_output(format!("{}\n", seen.join("\n")))),
            }
        }
        .boxed()
    }
}
