//! `process_exit`: a step's process exited (with a given status, within a given time of its
//! start). An exit before the window opened is seen at the window's start (the process is
//! gone for all of it). Decided early when it can no longer be seen: the process ended
//! otherwise, or has already run longer than `max_runtime`.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::process::registry::{Exit, Look};
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// ```yaml
/// process_exit:
///   step: export           # the step's process (seccomp_export: runc init)
///   status: 0              # absent: any exit status (a process killed by a signal has none)
///   max_runtime: 1s        # absent: however long it ran
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub step: String,
    #[serde(default)]
    pub status: Option<i32>,
    #[serde(default)]
    pub max_runtime: Option<HumanDuration>,
}

impl Spec {
    /// Whether `exit` is the one looked for.
    pub fn fits(&self, exit: &Exit) -> bool {
        let status_ok = match self.status {
            Some(want) => exit.code == Some(want),
            None => exit.code.is_some(),
        };
        status_ok && self.max_runtime.is_none_or(|m| exit.runtime <= m.0)
    }
}

impl Condition for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        scope.need_step("step", &self.step).into_iter().collect()
    }

    fn describe(&self) -> String {
        let status = self.status.map_or("exited".to_string(), |s| format!("exited {s}"));
        let time = self.max_runtime.map_or(String::new(), |m| format!(" within {:?} of its start", m.0));
        format!("the process of `{}` {status}{time}", self.step)
    }

    fn observe<'a>(
        &'a self,
        env: &'a RunEnv,
        since: Instant,
        until: Instant,
    ) -> BoxFuture<'a, Result<Option<Observation>, ConditionError>> {
        async move {
            let seen = env
                .procs
                .watch(until, |m, now| {
                    let Some(t) = m.get(&self.step) else { return Look::Wait(None) };
                    match (&t.exit, t.started) {
                        (Some(e), _) if self.fits(e) => Look::Found((*e, t.pid)),
                        (Some(_), _) => Look::Never,
                        (None, Some(start)) => match self.max_runtime {
                            Some(m) if now >= start + m.0 + Duration::from_millis(500) => Look::Never,
                            Some(m) => Look::Wait(Some(start + m.0 + Duration::from_millis(500))),
                            None => Look::Wait(None),
                        },
                        (None, None) => Look::Wait(None),
                    }
                })
                .await;
            Ok(seen.map(|(e, pid)| Observation {
                at_ms: env.clock.ms_at(e.at.max(since)),
                detail: format!(
                    "process {} of `{}` {} after {:.3} s",
                    pid.map_or("?".into(), |p| p.to_string()),
                    self.step,
                    e.ended(),
                    e.runtime.as_secs_f64()
                ),
                context: Vec::new(),
            }))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_runtime_both_count() {
        let s: Spec = serde_saphyr::from_str("{ step: b, status: 0, max_runtime: 1s }").unwrap();
        let exit = |code, ms| Exit { code, signal: None, at: Instant::now(), runtime: Duration::from_millis(ms) };
        assert!(s.fits(&exit(Some(0), 3)));
        assert!(!s.fits(&exit(Some(1), 3)));
        assert!(!s.fits(&exit(Some(0), 1500)));
        let any: Spec = serde_saphyr::from_str("{ step: b }").unwrap();
        assert!(any.fits(&exit(Some(7), 99_000)));
        assert!(!any.fits(&Exit { code: None, signal: Some(9), ..exit(None, 1) }), "killed is not exited");
        assert_eq!(s.describe(), "the process of `b` exited 0 within 1s of its start");
    }
}
