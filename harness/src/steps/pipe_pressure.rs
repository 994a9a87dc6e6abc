//! `pipe_pressure` — hold pipes as an account until it is over `fs.pipe-user-pages-soft`,
//! so that every new pipe of that account (without CAP_SYS_RESOURCE / CAP_SYS_ADMIN) gets
//! the minimum size; report how many pipes that took and the size of the last one.
//!
//! The pipes are held by a separate process (the `pipes` workload) with the step's
//! identity, so the pages are charged to that account and its capabilities are its own. In
//! the background the step is ready once the pressure is in place and holds it until
//! `stop`; in the foreground it measures and lets go.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::process::registry::PipeRef;
use crate::process::workload::{pipes::DEFAULT_MAX, Report, Workload};
use crate::process::{Account, CapsSpec, Creds, IdentitySpec};
use crate::scenario::check::{CheckScope, Problem};

/// The sysctl `soft_limit` sets.
pub const SOFT_LIMIT_KEY: &str = "fs.pipe-user-pages-soft";
/// `soft_limit` bounds: the pipes needed (16 pages each) must fit under `max_pipes`' cap.
const SOFT_LIMIT_RANGE: std::ops::RangeInclusive<u64> = 1..=65536;
const MAX_PIPES_RANGE: std::ops::RangeInclusive<u64> = 1..=DEFAULT_MAX;

/// ```yaml
/// id: pressure
/// background: true
/// pipe_pressure:
///   soft_limit: 256            # pages; sets fs.pipe-user-pages-soft for the run (restored)
///   user: 0                    # the account whose pipes count; absent: root
///   caps: { drop: [cap_sys_resource, cap_sys_admin] }   # as containers run
///   max_pipes: 4096            # give up (step fails) past this many
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub soft_limit: Option<u64>,
    #[serde(default = "default_max")]
    pub max_pipes: u64,
    #[serde(default)]
    pub netns: Option<String>,
    #[serde(default)]
    pub user: Option<Account>,
    #[serde(default)]
    pub group: Option<Account>,
    #[serde(default)]
    pub caps: Option<CapsSpec>,
}

fn default_max() -> u64 {
    DEFAULT_MAX
}

impl Spec {
    fn identity(&self) -> IdentitySpec {
        IdentitySpec { user: self.user.clone(), group: self.group.clone(), caps: self.caps.clone() }
    }
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = super::identity::problems(&self.identity());
        if let Some(limit) = self.soft_limit.filter(|l| !SOFT_LIMIT_RANGE.contains(l)) {
            out.push(Problem::new(
                "soft_limit",
                format!(
                    "{limit} pages is out of range {}..={}: 0 means no limit, and a pressure above {} pipes' worth cannot be built",
                    SOFT_LIMIT_RANGE.start(),
                    SOFT_LIMIT_RANGE.end(),
                    DEFAULT_MAX
                ),
            ));
        }
        if !MAX_PIPES_RANGE.contains(&self.max_pipes) {
            out.push(Problem::new(
                "max_pipes",
                format!("{} is out of range {}..={}", self.max_pipes, MAX_PIPES_RANGE.start(), MAX_PIPES_RANGE.end()),
            ));
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
            let creds = super::identity::creds(&self.identity())?;
            if let Some(limit) = self.soft_limit {
                set_soft_limit(ctx, limit)?;
            }
            let netns = super::identity::netns_path(ctx, self.netns.as_deref())?;
            let mut w = Workload::spawn("pipes", &["--max".into(), self.max_pipes.to_string()], creds, netns.as_deref())?;
            let held = tokio::select! {
                r = w.next() => Some(r),
                _ = ctx.cancel.cancelled() => None,
            };
            let Some(held) = held else {
                w.stop().await;
                return Err(StepError::Stopped);
            };
            let summary = match held? {
                Some(Report::Holding { pipes, first_size, last_size, last_fd, bytes }) => {
                    let pipe = PipeRef { pid: w.pid(), fd: last_fd, size: last_size, at: std::time::Instant::now() };
                    if let Some(id) = &ctx.id {
                        ctx.env.procs.pipe(id, pipe);
                    }
                    holding(pipes, first_size, last_size, bytes, &creds)
                }
                Some(Report::Failed { message }) => return Err(StepError::Unmet(message)),
                other => return Err(StepError::Unmet(format!("the pipe holder ended without holding anything ({other:?})"))),
            };
            if ctx.background {
                ctx.ready(summary.text.clone());
                let ended = tokio::select! {
                    _ = ctx.cancel.cancelled() => None,
                    r = w.next() => Some(r),
                };
                if let Some(r) = ended {
                    w.stop().await;
                    return Err(StepError::Unmet(format!("the pipe holder ended on its own ({r:?}): the pressure is gone")));
                }
            }
            w.stop().await;
            Ok(StepSummary { text: format!("{}; released", summary.text), ..summary })
        }
        .boxed()
    }
}

/// Sets the soft limit through the ledger: recorded before the write, restored after the run.
fn set_soft_limit(ctx: &StepCtx, limit: u64) -> Result<(), StepError> {
    match ctx.env.ledger.set_sysctl(SOFT_LIMIT_KEY, &limit.to_string()) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(StepError::Unmet(format!("{SOFT_LIMIT_KEY} does not exist on this kernel"))),
        Err(e) => Err(StepError::io(format!("{SOFT_LIMIT_KEY} = {limit}"), e)),
    }
}

fn holding(pipes: u32, first: u64, last: u64, bytes: u64, creds: &Creds) -> StepSummary {
    let pages = bytes / unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    StepSummary::text(format!(
        "holding {pipes} pipe{} ({pages} pages) as {creds}: the first was {first} bytes, the last {last} bytes — over the soft limit",
        if pipes == 1 { "" } else { "s" }
    ))
    .counter("pipes", pipes as f64)
    .counter("first_size", first as f64)
    .counter("last_size", last as f64)
    .counter("pages", pages as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Spec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        let scope = CheckScope::default();
        assert!(spec("{ soft_limit: 256, user: 0, caps: { drop: [cap_sys_resource] } }").check(&scope).is_empty());
        let p = spec("{ soft_limit: 0, max_pipes: 100000 }").check(&scope);
        assert_eq!(p.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["soft_limit", "max_pipes"]);
        assert!(p[0].message.contains("0 pages is out of range 1..=65536"), "{}", p[0].message);
    }
}
