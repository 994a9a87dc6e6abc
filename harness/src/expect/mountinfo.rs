//! `mountinfo`: the mount at a path of the run's scratch directory has a root matching a
//! pattern — `//deleted$` when the dentry it was bound from was invalidated (the mount now
//! references a deleted directory). Read from `/proc/self/mountinfo`; the most recent mount
//! at the path counts (what a lookup of the path reaches).

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use regex::Regex;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::scratch;
use crate::sys::mount;

const EVERY: Duration = Duration::from_millis(100);

/// ```yaml
/// mountinfo: { path: pods/uid-1/volumes/kubernetes.io~csi/pv-1/mount, root: '//deleted$' }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: String,
    /// A regular expression on the mount's root; absent: any mount there.
    #[serde(default)]
    pub root: Option<String>,
}

impl Condition for Spec {
    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        let mut out: Vec<Problem> = scratch::problem("path", &self.path).into_iter().collect();
        if let Some(Err(e)) = self.root.as_deref().map(Regex::new) {
            out.push(Problem::new("root", format!("not a regular expression: {e}")));
        }
        out
    }

    fn describe(&self) -> String {
        let root = self.root.as_ref().map_or(String::new(), |r| format!(" with a root matching `{r}`"));
        format!("a mount at {}{root}", self.path)
    }

    fn observe<'a>(
        &'a self,
        env: &'a RunEnv,
        since: Instant,
        until: Instant,
    ) -> BoxFuture<'a, Result<Option<Observation>, ConditionError>> {
        async move {
            let pattern = self.root.as_deref().map(Regex::new).transpose()?;
            let at = env.scratch_path(&self.path).display().to_string();
            tokio::time::sleep_until(since.into()).await;
            loop {
                let all = mount::entries().unwrap_or_default();
                let top = all.iter().rev().find(|e| e.mount_point == at);
                if let Some(e) = top.filter(|e| pattern.as_ref().is_none_or(|p| p.is_match(&e.root))) {
                    let detail = format!("root {} at {}", e.root, self.path);
                    return Ok(Some(Observation { at_ms: env.clock.now_ms(), detail, context: vec![e.line.clone()] }));
                }
                if Instant::now() + EVERY > until {
                    return Ok(None);
                }
                tokio::time::sleep(EVERY).await;
            }
        }
        .boxed()
    }
}
