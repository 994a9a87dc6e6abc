//! `lookup`: looking a path up gives an errno (`ENOTCONN` through a dead FUSE root, `ENOENT`,
//! `0` for found). The path is in the run's scratch directory, or relative to a handle a
//! `hold_open` step keeps (`via`). Each look is a real lookup: on FUSE it may revalidate.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::run_env::RunEnv;
use crate::scenario::check::{list, CheckScope, Problem};
use crate::scenario::scratch;
use crate::sys::mount;

/// How often the lookup is repeated inside the window.
const EVERY: Duration = Duration::from_millis(100);

/// ```yaml
/// lookup: { path: vol, via: plugin-root, errno: ENOTCONN }   # errno: a name, or 0
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: String,
    #[serde(default)]
    pub via: Option<String>,
    pub errno: String,
}

/// Checks shared with the `lookup` step: a scratch path, a `via` that is a step id.
pub fn problems(path: &str, via: Option<&str>, scope: &CheckScope) -> Vec<Problem> {
    let mut out: Vec<Problem> = scratch::problem("path", path).into_iter().collect();
    if let Some(v) = via.filter(|v| !scope.step_ids.contains(v)) {
        out.push(Problem::new("via", format!("no step has id `{v}` (a hold_open step); step ids: {}", list(&scope.step_ids))));
    }
    out
}

/// Looks `path` up (via a held handle, else in the scratch directory): `0` or the errno's name.
pub fn look(env: &RunEnv, path: &str, via: Option<&str>) -> String {
    match via {
        Some(v) => match env.handles.lock().unwrap().get(v).cloned() {
            Some(fd) => mount::errno_name(mount::lookup(Some(&fd), Path::new(path))),
            None => format!("no handle `{v}`"),
        },
        None => mount::errno_name(mount::lookup(None, &env.scratch_path(path))),
    }
}

impl Condition for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = problems(&self.path, self.via.as_deref(), scope);
        if !mount::known_errno(&self.errno) {
            out.push(Problem::new("errno", format!("`{}` is not an errno name (ENOENT, ENOTCONN, ...) nor 0", self.errno)));
        }
        out
    }

    fn describe(&self) -> String {
        let via = self.via.as_ref().map_or(String::new(), |v| format!(" via `{v}`"));
        format!("a lookup of {}{via} gives {}", self.path, self.errno)
    }

    fn observe<'a>(
        &'a self,
        env: &'a RunEnv,
        since: Instant,
        until: Instant,
    ) -> BoxFuture<'a, Result<Option<Observation>, ConditionError>> {
        async move {
            tokio::time::sleep_until(since.into()).await;
            loop {
                let got = look(env, &self.path, self.via.as_deref());
                if got == self.errno {
                    return Ok(Some(Observation {
                        at_ms: env.clock.now_ms(),
                        detail: format!("lookup of {}: {got}", self.path),
                        context: Vec::new(),
                    }));
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
