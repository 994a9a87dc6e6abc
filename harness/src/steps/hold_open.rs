//! `hold_open` — keep an `O_PATH` handle on a directory of the run's scratch directory for
//! the rest of the run, the way a CSI plugin keeps one on its FUSE root: lookups `via` it
//! (`lookup` step and condition) go through that dentry even after another filesystem is
//! mounted over the path (a restarted daemon).

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::scratch;

/// ```yaml
/// - id: plugin-root
///   hold_open: { path: mnt }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: String,
}

impl Step for Spec {
    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        scratch::problem("path", &self.path).into_iter().collect()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let id = ctx.id.as_deref().ok_or_else(|| StepError::Unmet("give hold_open an `id`: lookups name it in `via`".into()))?;
            let path = ctx.env.scratch_path(&self.path);
            let fd = crate::sys::mount::hold(&path).map_err(|e| StepError::Unmet(format!("open {} (O_PATH): {e}", path.display())))?;
            ctx.env.handles.lock().unwrap().insert(id.to_string(), std::sync::Arc::new(fd));
            Ok(StepSummary::text(format!("holding {} open (O_PATH)", self.path)))
        }
        .boxed()
    }
}
