//! `sysctl: { key, value, netns, missing }` — set a sysctl in a namespace of the topology,
//! or in the initial namespace (restored after the run).

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::validate::check_sysctl_key;
use crate::scenario::SysctlValue;
use crate::sys::{kernel_release, sysctl};

/// What to do when the running kernel has no such sysctl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfMissing {
    /// The step fails (default).
    #[default]
    Fail,
    /// The run goes on; the timeline and the verdict say the sysctl was missing.
    Warn,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub key: String,
    pub value: SysctlValue,
    /// A namespace of the topology; absent means the initial namespace.
    #[serde(default)]
    pub netns: Option<String>,
    #[serde(default)]
    pub missing: IfMissing,
    /// Said to the user when the sysctl is missing (what that means for the result).
    #[serde(default)]
    pub why: Option<String>,
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        check_sysctl_key("key", &self.key, &mut out);
        if let Some(ns) = &self.netns {
            out.extend(scope.need_namespace("netns", ns));
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let env = ctx.env;
            let (key, value) = (self.key.clone(), self.value.0.clone());
            let written = match &self.netns {
                Some(ns) => {
                    let path = env.topology.netns_path(ns).ok_or_else(|| StepError::NetnsGone(ns.clone()))?;
                    let exists = sysctl::read(Some(&path), &key).map_err(|e| StepError::io(format!("reading {key}"), e))?.is_some();
                    if exists {
                        sysctl::write(Some(&path), &key, &value).map_err(|e| StepError::io(format!("{key} = {value} in {ns}"), e))?;
                    }
                    exists
                }
                None => env.ledger.set_sysctl(&key, &value).map_err(|e| StepError::io(format!("{key} = {value}"), e))?.is_some(),
            };
            let place = self.netns.as_deref().unwrap_or("the initial namespace");
            if written {
                return Ok(StepSummary::text(format!("{key} = {value} in {place}")));
            }
            let mut message = format!("sysctl {key} does not exist on this kernel ({})", kernel_release());
            if let Some(why) = &self.why {
                message.push_str(": ");
                message.push_str(why);
            }
            match self.missing {
                IfMissing::Fail => Err(StepError::Unmet(message)),
                IfMissing::Warn => {
                    env.warn(message.clone());
                    Ok(StepSummary::text(format!("skipped: {message}")))
                }
            }
        }
        .boxed()
    }
}
