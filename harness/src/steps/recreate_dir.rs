//! `recreate_dir` — remove a directory of the run's scratch directory (with what it holds)
//! and make it again: a new inode under the same name (the new one is made before the old
//! one goes, so the filesystem cannot hand the old inode number out again). Done in a FUSE daemon's source
//! directory, it is the server side recreating a directory behind the daemon's back (what
//! a network filesystem's other clients do).

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::scratch;

/// ```yaml
/// recreate_dir: { path: src/vol }
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
            use std::os::unix::fs::MetadataExt;
            let path = ctx.env.scratch_path(&self.path);
            let ino = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.ino()).map_err(|e| StepError::io(p.display().to_string(), e));
            let before = ino(&path)?;
            let fresh = path.with_extension("lab-new");
            std::fs::create_dir(&fresh).map_err(|e| StepError::io(format!("making {}", fresh.display()), e))?;
            std::fs::remove_dir_all(&path).map_err(|e| StepError::io(format!("removing {}", path.display()), e))?;
            std::fs::rename(&fresh, &path).map_err(|e| StepError::io(format!("renaming {} to {}", fresh.display(), path.display()), e))?;
            let after = ino(&path)?;
            if after == before {
                return Err(StepError::Unmet(format!("{} came back with the same inode {before}", self.path)));
            }
            Ok(StepSummary::text(format!("{} recreated: inode {before} -> {after}", self.path)))
        }
        .boxed()
    }
}
