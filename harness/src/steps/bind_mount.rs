//! `bind_mount` — a bind mount between paths of the run's scratch directory, made the way
//! the kubelet and a CSI plugin make them (`mount --bind SRC DST`) or the way runc does
//! (`via: procfd`: open SRC `O_PATH`, mount `/proc/self/fd/N`), with the errno kept.
//!
//! `must` says what the step itself requires: `succeed` (default), `fail`, or `any` — then
//! the result is only reported (its text is the step's output) and conditions judge it.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::scratch;
use crate::sys::mount::{self, BindVia};

/// ```yaml
/// bind_mount:
///   source: mnt/vol
///   target: pods/uid-1/volumes/kubernetes.io~csi/pv-1/mount   # made if missing
///   via: path            # path (kubelet, CSI) | procfd (runc's O_PATH + /proc/self/fd/N)
///   replace: false       # detach what is mounted at target first (a CSI publish again)
///   must: succeed        # succeed | fail | any
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub via: Via,
    #[serde(default)]
    pub replace: bool,
    #[serde(default)]
    pub must: MustMount,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    #[default]
    Path,
    Procfd,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MustMount {
    #[default]
    Succeed,
    Fail,
    Any,
}

impl Step for Spec {
    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        [scratch::problem("source", &self.source), scratch::problem("target", &self.target)].into_iter().flatten().collect()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let dir = ctx.env.ledger.scratch_dir().map_err(|e| StepError::io("making the run's scratch directory", e))?;
            let (source, target) = (dir.join(&self.source), dir.join(&self.target));
            if self.replace {
                let (_, problems) = mount::detach_under(&target);
                if let Some(p) = problems.first() {
                    return Err(StepError::Unmet(p.clone()));
                }
            }
            // A stale mount may sit at the target already: then it exists.
            let _ = std::fs::create_dir_all(&target);
            let via = if self.via == Via::Procfd { BindVia::ProcFd } else { BindVia::Path };
            let result = mount::bind(&source, &target, via);
            let text = match &result {
                Ok(from) => format!("mounted {from} onto {}", self.target),
                Err(e) => format!("{e}"),
            };
            let errno = result.as_ref().err().map(|e| e.errno());
            let summary = StepSummary::text(text.clone()).with_output(format!("{}\n", mount::errno_name(errno.map_or(Ok(()), Err))));
            match (self.must, errno) {
                (MustMount::Succeed, Some(_)) => Err(StepError::Unmet(text)),
                (MustMount::Fail, None) => Err(StepError::Unmet(format!("{text}, but it must fail"))),
                _ => Ok(summary),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_in_the_scratch_directory() {
        let s: Spec = serde_saphyr::from_str("{ source: mnt/vol, target: /var/lib/kubelet, via: procfd, must: any }").unwrap();
        let p = s.check(&CheckScope::default());
        assert_eq!(p.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["target"]);
        assert_eq!((s.via, s.must), (Via::Procfd, MustMount::Any));
    }
}
