//! `{step.fact}` in a step's text: a number another step reported (`{kubelet.fd}`,
//! `{kubelet.inode}`), filled in when the step runs. Checked against the scenario's step ids.

use super::{StepCtx, StepError};
use crate::scenario::check::{list, CheckScope, Problem};

/// Every `{step.fact}` in `text`, in order.
pub fn refs(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        if let Some((step, fact)) = rest[open + 1..open + close].split_once('.') {
            out.push((step, fact));
        }
        rest = &rest[open + close + 1..];
    }
    out
}

/// `text` with every `{step.fact}` replaced by `lookup(step, fact)`; the first missing
/// reference is the error.
pub fn expand(text: &str, lookup: impl Fn(&str, &str) -> Option<u64>) -> Result<String, String> {
    let mut out = text.to_string();
    for (step, fact) in refs(text) {
        let value = lookup(step, fact).ok_or_else(|| format!("{{{step}.{fact}}}"))?;
        out = out.replacen(&format!("{{{step}.{fact}}}"), &value.to_string(), 1);
    }
    Ok(out)
}

/// `lab check`'s problems with the references in `text`: steps that do not exist.
pub fn problems(field: &str, text: &str, scope: &CheckScope) -> Vec<Problem> {
    refs(text)
        .into_iter()
        .filter(|(step, _)| !scope.step_ids.contains(step))
        .map(|(step, fact)| Problem::new(field, format!("`{{{step}.{fact}}}` names no step; step ids: {}", list(&scope.step_ids))))
        .collect()
}

/// `text` filled in from the facts the run's steps reported so far.
pub fn fill(ctx: &StepCtx, text: &str) -> Result<String, StepError> {
    expand(text, |step, fact| ctx.env.procs.get(step).and_then(|t| t.facts.get(fact).copied()))
        .map_err(|r| StepError::Unmet(format!("{r} is not known (yet): its step has not reported it")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_filled() {
        let t = "common_pid == {kubelet.pid} && ino == {kubelet.inode}";
        assert_eq!(refs(t), [("kubelet", "pid"), ("kubelet", "inode")]);
        let filled = expand(t, |_, f| Some(if f == "pid" { 42 } else { 17520 })).unwrap();
        assert_eq!(filled, "common_pid == 42 && ino == 17520");
        assert_eq!(expand("{a.fd}", |_, _| None).unwrap_err(), "{a.fd}");
        assert_eq!(expand("no refs {here", |_, _| None).unwrap(), "no refs {here");
        let scope = CheckScope { step_ids: ["kubelet"].into_iter().collect(), ..Default::default() };
        assert!(problems("filter", t, &scope).is_empty());
        let p = problems("fd", "{kublet.fd}", &scope);
        assert_eq!(p[0].message, "`{kublet.fd}` names no step; step ids: kubelet");
    }
}
