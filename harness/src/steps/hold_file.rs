//! `hold_file` — a container-like process that holds a file open (a GPU container's device
//! node, `/dev/nvidia-caps/*` in incident 4), optionally at a given descriptor number.
//!
//! Runs the `hold` workload. Ready once the file is held, with the process registered and the
//! fact `fd` for other steps; holds until stopped.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::process::workload::{Report, Workload};
use crate::process::IdentitySpec;
use crate::scenario::check::{CheckScope, Problem};

/// ```yaml
/// id: gpu-pod
/// background: true
/// hold_file:
///   path: /dev/lab-nvcap
///   fd: "{kubelet.fd}"   # the descriptor to hold it at: a number above 2, or another
///                        # step's fact; absent: wherever open(2) puts it
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: String,
    #[serde(default)]
    pub fd: Option<FdSpec>,
    #[serde(default)]
    pub netns: Option<String>,
}

/// A descriptor number as written: a number or a `{step.fact}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FdSpec {
    Number(i64),
    Fact(String),
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        if !self.path.starts_with('/') {
            out.push(Problem::new("path", format!("`{}` is not an absolute path", self.path)));
        }
        match &self.fd {
            Some(FdSpec::Number(n)) if !(3..=i64::from(i32::MAX)).contains(n) => {
                out.push(Problem::new("fd", format!("{n} is not a descriptor above 2 (0, 1, 2 are the workload's stdio)")));
            }
            Some(FdSpec::Fact(t)) if super::template::refs(t).is_empty() => {
                out.push(Problem::new("fd", format!("`{t}` is neither a number nor a `{{step.fact}}`")));
            }
            Some(FdSpec::Fact(t)) => out.extend(super::template::problems("fd", t, scope)),
            _ => {}
        }
        if let Some(ns) = &self.netns {
            out.extend(scope.need_namespace("netns", ns));
        }
        out
    }

    fn waits_until_ready(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let creds = super::identity::creds(&IdentitySpec::default())?;
            let netns = super::identity::netns_path(ctx, self.netns.as_deref())?;
            let mut args = vec!["--path".to_string(), self.path.clone()];
            match &self.fd {
                Some(FdSpec::Number(n)) => args.extend(["--fd".into(), n.to_string()]),
                Some(FdSpec::Fact(t)) => args.extend(["--fd".into(), super::template::fill(ctx, t)?]),
                None => {}
            }
            let mut w = Workload::spawn("hold", &args, creds, netns.as_deref())?;
            let fd = match w.next().await {
                Ok(Some(Report::Held { fd, .. })) => fd,
                other => {
                    w.stop().await;
                    return Err(StepError::Unmet(format!("could not hold {}: {other:?}", self.path)));
                }
            };
            if let Some(id) = &ctx.id {
                ctx.env.procs.process(id, w.pid(), "holder");
                ctx.env.procs.fact(id, "fd", fd as u64);
                ctx.env.procs.fact(id, "pid", w.pid() as u64);
            }
            let text = format!("process {} holds {} at fd {fd}", w.pid(), self.path);
            if ctx.background {
                ctx.ready(text.clone());
                let ended = tokio::select! {
                    _ = ctx.cancel.cancelled() => None,
                    r = w.next() => Some(r),
                };
                if let Some(r) = ended {
                    w.stop().await;
                    return Err(StepError::Unmet(format!("the holder ended on its own ({r:?})")));
                }
            }
            w.stop().await;
            Ok(StepSummary::text(format!("{text}; released")).counter("fd", fd as f64))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_numbers_above_2_or_facts_of_known_steps() {
        let scope = CheckScope { step_ids: ["kubelet"].into_iter().collect(), ..Default::default() };
        let spec = |y: &str| -> Spec { serde_saphyr::from_str(y).unwrap() };
        assert!(spec("{ path: /dev/lab-nvcap, fd: '{kubelet.fd}' }").check(&scope).is_empty());
        assert!(spec("{ path: /dev/lab-nvcap, fd: 7 }").check(&scope).is_empty());
        let p = spec("{ path: dev/x, fd: 1 }").check(&scope);
        assert_eq!(p.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["path", "fd"]);
        assert!(spec("{ path: /x, fd: seven }").check(&scope)[0].message.contains("neither a number"));
        assert!(spec("{ path: /x, fd: '{pod.fd}' }").check(&scope)[0].message.contains("names no step"));
    }
}
