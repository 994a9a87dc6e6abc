//! `captured_stack`: a `trace` step captured a hit whose kernel stack contains every one of
//! the given functions (each item: one name, or a list of alternatives — kernels name and
//! inline things differently: `[proc_readfd_common, proc_readfd]`). Frames are compared by
//! function name, offsets and modules dropped.

use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::process::registry::{Capture, Look};
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};
use crate::sys::tracefs::function_of;

/// ```yaml
/// captured_stack:
///   step: probe
///   contains: [filp_close, [proc_readfd_common, proc_readfd], iterate_dir, [__x64_sys_getdents64, __se_sys_getdents64]]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub step: String,
    pub contains: Vec<OneOf>,
}

/// A function name, or alternatives of which one must be there.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOf {
    One(String),
    Any(Vec<String>),
}

impl OneOf {
    fn names(&self) -> Vec<&str> {
        match self {
            OneOf::One(n) => vec![n.as_str()],
            OneOf::Any(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Whether `stack` has a frame of every item of `contains`.
pub fn matches(stack: &[String], contains: &[OneOf]) -> bool {
    let functions: Vec<&str> = stack.iter().map(|f| function_of(f)).collect();
    contains.iter().all(|item| item.names().iter().any(|n| functions.contains(n)))
}

impl Condition for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        out.extend(scope.need_step("step", &self.step));
        if self.contains.is_empty() {
            out.push(Problem::new("contains", "name at least one function"));
        }
        for (i, item) in self.contains.iter().enumerate() {
            if item.names().iter().any(|n| n.is_empty() || n.contains(char::is_whitespace)) || item.names().is_empty() {
                out.push(Problem::new(format!("contains[{i}]"), "a function name, or a list of alternative names"));
            }
        }
        out
    }

    fn describe(&self) -> String {
        let items: Vec<String> = self.contains.iter().map(|i| i.names().join(" or ")).collect();
        format!("a stack captured by `{}` through {}", self.step, items.join(", "))
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
                    let found = m.get(&self.step).and_then(|t| t.captures.iter().find(|c| matches(&c.stack, &self.contains)).cloned());
                    found.map_or(Look::Wait(None), Look::Found)
                })
                .await;
            Ok(seen.map(|c: Capture| Observation {
                at_ms: env.clock.ms_at(c.at.max(since)),
                detail: c.line.clone(),
                context: c.stack.iter().map(|f| format!("=> {f}")).collect(),
            }))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_must_match_one_of_its_names() {
        let spec: Spec =
            serde_saphyr::from_str("{ step: probe, contains: [filp_close, [proc_readfd_common, proc_readfd], iterate_dir] }").unwrap();
        let stack: Vec<String> =
            ["filp_close+0x1/0x90", "close_fd+0x4f/0x70", "proc_readfd+0x10/0x20", "iterate_dir+0x9b/0x1b0"].map(String::from).to_vec();
        assert!(matches(&stack, &spec.contains));
        assert!(!matches(&stack[..2], &spec.contains));
        assert!(!matches(&["filp_close_x+0x1/0x2".to_string()], &[OneOf::One("filp_close".into())]), "whole names only");
        assert_eq!(spec.describe(), "a stack captured by `probe` through filp_close, proc_readfd_common or proc_readfd, iterate_dir");
        let scope = CheckScope::default();
        let bad: Spec = serde_saphyr::from_str("{ step: p, contains: [] }").unwrap();
        assert_eq!(bad.check(&scope).iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["step", "contains"]);
    }
}
