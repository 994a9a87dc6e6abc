//! `kernel_log`: a line in the kernel log matching a pattern (or one of its alternatives).

use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use regex::Regex;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::kmsg::{KernelLog, LogLine};
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};

/// Lines of context kept before and after a match.
const CONTEXT_LINES: u64 = 5;

/// ```yaml
/// kernel_log:
///   any_of:            # kernels word things differently: any one matching is enough
///     - 'unregister_netdevice: waiting for cli-veth to become free\. Usage count = \d+'
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// One regular expression (same as `any_of` with one entry).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Alternatives; a line matching any of them counts.
    #[serde(default)]
    pub any_of: Vec<String>,
}

impl Spec {
    /// Every pattern given, `pattern` first.
    pub fn patterns(&self) -> impl Iterator<Item = &String> {
        self.pattern.iter().chain(self.any_of.iter())
    }

    fn compiled(&self) -> Result<Vec<Regex>, regex::Error> {
        self.patterns().map(|p| Regex::new(p)).collect()
    }
}

/// The first line in `lines` that arrived at or after `since` and matches any pattern.
pub fn first_match<'l>(lines: &'l [LogLine], patterns: &[Regex], since: Instant) -> Option<&'l LogLine> {
    lines.iter().filter(|l| l.at >= since).find(|l| patterns.iter().any(|p| p.is_match(&l.text)))
}

impl Condition for Spec {
    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.pattern.is_none() && self.any_of.is_empty() {
            out.push(Problem::new("", "give `pattern` or `any_of` (a list of alternatives)"));
        }
        let fields = self
            .pattern
            .iter()
            .map(|p| ("pattern".to_string(), p))
            .chain(self.any_of.iter().enumerate().map(|(i, p)| (format!("any_of[{i}]"), p)));
        for (field, p) in fields {
            if p.trim().is_empty() {
                out.push(Problem::new(field, "empty pattern: it would match every line"));
            } else if let Err(e) = Regex::new(p) {
                out.push(Problem::new(
                    field,
                    format!("not a valid regular expression: {}", e.to_string().lines().last().unwrap_or_default()),
                ));
            }
        }
        out
    }

    fn describe(&self) -> String {
        let all: Vec<&str> = self.patterns().map(String::as_str).collect();
        format!("kernel log line matching {}", all.join(" | "))
    }

    fn observe<'a>(
        &'a self,
        env: &'a RunEnv,
        since: Instant,
        until: Instant,
    ) -> BoxFuture<'a, Result<Option<Observation>, ConditionError>> {
        async move {
            let patterns = self.compiled()?;
            let log: &KernelLog = &env.kmsg;
            let mut from = 0;
            loop {
                let (lines, next) = log.since(from);
                if let Some(hit) = first_match(&lines, &patterns, since).filter(|l| l.at <= until) {
                    return Ok(Some(Observation {
                        at_ms: env.clock.ms_at(hit.at),
                        detail: hit.text.clone(),
                        context: log.context(hit.seq, CONTEXT_LINES, CONTEXT_LINES),
                    }));
                }
                from = next;
                let deadline = tokio::time::Instant::from_std(until);
                if tokio::time::timeout_at(deadline, log.changed_since(from)).await.is_err() {
                    return Ok(None);
                }
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(pattern: Option<&str>, any_of: &[&str]) -> Spec {
        Spec { pattern: pattern.map(String::from), any_of: any_of.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn matches_any_alternative_after_since() {
        let log = KernelLog::empty();
        log.push(1, "waiting for cli-veth to become free. Usage count = 3".into());
        let since = Instant::now();
        log.push(2, "pipe_write blocked".into());
        log.push(3, "anon_pipe_write blocked".into());
        let (lines, _) = log.since(0);
        let s = spec(None, &[r"^anon_pipe_write", r"^pipe_write"]);
        let hit = first_match(&lines, &s.compiled().unwrap(), since).unwrap();
        assert_eq!(hit.text, "pipe_write blocked");
        let old = spec(Some(r"Usage count = \d+"), &[]);
        assert!(first_match(&lines, &old.compiled().unwrap(), since).is_none(), "a line before `since` must not count");
        let then = since - Duration::from_secs(1);
        assert!(first_match(&lines, &old.compiled().unwrap(), then).is_some());
    }

    #[test]
    fn rejects_empty_and_invalid_patterns() {
        let scope = CheckScope::default();
        assert_eq!(spec(None, &[]).check(&scope).len(), 1);
        let p = spec(Some(""), &["(unclosed"]).check(&scope);
        assert_eq!(p.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["pattern", "any_of[0]"]);
        assert!(p[0].message.contains("empty pattern"));
        assert!(p[1].message.contains("regular expression"));
    }
}
