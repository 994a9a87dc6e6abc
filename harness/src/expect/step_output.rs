//! `step_output`: what a step said when it finished — its output, or its error text —
//! matches one of some patterns (alternatives: the same failure worded by two versions of a
//! program). Decided as soon as the step has finished.

use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use regex::Regex;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};

/// ```yaml
/// step_output:
///   step: runc
///   matches: ['mount through procfd: no such file or directory', '\(via /proc/self/fd/\d+\).*no such file']
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub step: String,
    pub matches: Vec<String>,
}

impl Condition for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        out.extend(scope.need_step("step", &self.step));
        if self.matches.is_empty() {
            out.push(Problem::new("matches", "give at least one pattern"));
        }
        for (i, m) in self.matches.iter().enumerate() {
            if let Err(e) = Regex::new(m) {
                out.push(Problem::new(format!("matches[{i}]"), format!("not a regular expression: {e}")));
            }
        }
        out
    }

    fn describe(&self) -> String {
        format!(
            "`{}` says something matching {}",
            self.step,
            self.matches.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(" or ")
        )
    }

    fn observe<'a>(
        &'a self,
        env: &'a RunEnv,
        _since: Instant,
        until: Instant,
    ) -> BoxFuture<'a, Result<Option<Observation>, ConditionError>> {
        async move {
            let patterns = self.matches.iter().map(|m| Regex::new(m)).collect::<Result<Vec<_>, _>>()?;
            let mut rx = env.outputs.subscribe();
            let said = tokio::time::timeout_at(until.into(), rx.wait_for(|m| m.contains_key(&self.step))).await;
            let Ok(Ok(map)) = said else { return Ok(None) };
            let text = map.get(&self.step).cloned().unwrap_or_default();
            drop(map);
            let line = text.lines().find(|l| patterns.iter().any(|p| p.is_match(l)));
            Ok(line.map(|l| Observation { at_ms: env.clock.now_ms(), detail: l.trim().to_string(), context: Vec::new() }))
        }
        .boxed()
    }
}
