//! `pipe_size`: the size of a step's pipe as `F_GETPIPE_SZ` gives it — read by `lab` through
//! `/proc/PID/fd/FD` of the process that holds it, or, once that process is gone, the size
//! recorded when the pipe was made (a pipe keeps its size unless resized).

use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::process::inspect;
use crate::process::registry::{Look, PipeRef};
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};

/// ```yaml
/// pipe_size:
///   step: export           # a step that holds a pipe (seccomp_export, pipe_pressure)
///   equals: 8192           # and/or at_most / at_least, in bytes
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub step: String,
    #[serde(default)]
    pub equals: Option<u64>,
    #[serde(default)]
    pub at_most: Option<u64>,
    #[serde(default)]
    pub at_least: Option<u64>,
}

impl Spec {
    /// Whether `size` is what is looked for.
    pub fn fits(&self, size: u64) -> bool {
        self.equals.is_none_or(|e| size == e) && self.at_most.is_none_or(|m| size <= m) && self.at_least.is_none_or(|m| size >= m)
    }

    fn wanted(&self) -> String {
        let parts: Vec<String> = [("=", self.equals), ("<=", self.at_most), (">=", self.at_least)]
            .iter()
            .filter_map(|(op, v)| v.map(|v| format!("{op} {v}")))
            .collect();
        parts.join(" and ")
    }

    /// The size now (read live when the holder is alive) and how it was read.
    fn size_of(pipe: &PipeRef) -> (u64, &'static str) {
        match inspect::pipe_size(pipe.pid, pipe.fd) {
            Some(s) => (s, "read by lab"),
            None => (pipe.size, "as made"),
        }
    }
}

impl Condition for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        out.extend(scope.need_step("step", &self.step));
        if self.equals.is_none() && self.at_most.is_none() && self.at_least.is_none() {
            out.push(Problem::new("", "give `equals`, `at_most` or `at_least` (bytes)"));
        }
        out
    }

    fn describe(&self) -> String {
        format!("the pipe of `{}` with F_GETPIPE_SZ {}", self.step, self.wanted())
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
                .watch(until, |m, _| {
                    let Some(pipe) = m.get(&self.step).and_then(|t| t.pipe) else { return Look::Wait(None) };
                    let (size, how) = Self::size_of(&pipe);
                    if self.fits(size) {
                        Look::Found((pipe, size, how))
                    } else {
                        Look::Never
                    }
                })
                .await;
            Ok(seen.map(|(pipe, size, how)| Observation {
                at_ms: env.clock.ms_at(pipe.at.max(since)),
                detail: format!("pipe of `{}` is {size} bytes ({how}, /proc/{}/fd/{})", self.step, pipe.pid, pipe.fd),
                context: Vec::new(),
            }))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Spec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn bounds_combine() {
        let s = spec("{ step: b, equals: 8192 }");
        assert!(s.fits(8192) && !s.fits(65536));
        let s = spec("{ step: b, at_most: 16384, at_least: 4096 }");
        assert!(s.fits(8192) && !s.fits(65536) && !s.fits(1024));
        assert_eq!(s.wanted(), "<= 16384 and >= 4096");
        let p = spec("{ step: nope }").check(&CheckScope::default());
        assert_eq!(p.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["step", ""]);
    }
}
