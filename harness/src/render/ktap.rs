//! KTAP (the kernel's test format, `Documentation/dev-tools/ktap.rst`) of a [`Report`], so
//! kernel CI systems ingest it.
//!
//! One top-level test per scenario, its trials as subtests (`variant.n`), indented two
//! spaces and opened by their own version and plan lines, as KUnit writes them. A trial not
//! met is `not ok`; an error is `not ok ... # ERROR <summary>`. A parent fails when a
//! subtest fails. A verification adds a last top-level test `verdict`. Steps and decisions
//! are diagnostic lines (`# ...`) before their result line.

use std::collections::BTreeMap;

use super::report::{passed, Report, TrialRecord};

use crate::event::Outcome;

/// The whole document, ending with a newline.
pub fn render(report: &Report) -> String {
    let mut by_scenario: BTreeMap<&str, Vec<&TrialRecord>> = BTreeMap::new();
    for t in &report.trials {
        by_scenario.entry(&t.scenario).or_default().push(t);
    }
    let tops = by_scenario.len() + usize::from(report.verdict.is_some());
    let mut out = vec!["KTAP version 1".to_string(), format!("1..{tops}")];
    for (n, (scenario, trials)) in by_scenario.iter().enumerate() {
        out.extend(scenario_lines(n + 1, scenario, trials));
    }
    if let Some(v) = &report.verdict {
        for r in &report.rates {
            out.push(diag(&format!(
                "{}: signature in {}/{} trials, 95% interval [{:.3}, {:.3}]",
                r.variant, r.seen, r.trials, r.low, r.high
            )));
        }
        out.push(diag(&v.summary));
        out.push(format!("{} {tops} verdict # {}", ok(v.passed), clean(&v.label)));
    }
    out.join("\n") + "\n"
}

fn scenario_lines(n: usize, scenario: &str, trials: &[&TrialRecord]) -> Vec<String> {
    let mut out = vec!["  KTAP version 1".to_string(), format!("  # Subtest: {}", clean(scenario)), format!("  1..{}", trials.len())];
    for (i, t) in trials.iter().enumerate() {
        out.extend(trial_diagnostics(t).into_iter().map(|l| format!("  {l}")));
        out.push(format!("  {}", result_line(i + 1, t)));
    }
    out.push(format!("{} {n} {}", ok(trials.iter().all(|t| passed(t))), clean(scenario)));
    out
}

fn result_line(n: usize, t: &TrialRecord) -> String {
    // `#` would start a directive: the trial number follows a dot.
    let name = clean(&format!("{}.{}", t.variant, t.number));
    match t.outcome {
        Outcome::Met => format!("ok {n} {name}"),
        Outcome::NotMet => format!("not ok {n} {name}"),
        Outcome::Error | Outcome::Invalid => format!("not ok {n} {name} # ERROR {}", one_line(&t.summary)),
    }
}

fn trial_diagnostics(t: &TrialRecord) -> Vec<String> {
    let mut out = Vec::new();
    for s in &t.steps {
        out.push(diag(&format!("{:.1}s {} {}: {}", s.at_ms as f64 / 1000.0, if s.ok { "ok" } else { "FAILED" }, s.step, s.summary)));
    }
    for d in &t.decisions {
        out.push(diag(&format!("expect {}: {} ({})", d.id, if d.met { "met" } else { "NOT met" }, d.reason)));
        if let Some(o) = &d.observation {
            out.push(diag(&format!("seen: {}", o.detail)));
        }
    }
    out.push(diag(&t.summary));
    out
}

fn ok(passed: bool) -> &'static str {
    if passed {
        "ok"
    } else {
        "not ok"
    }
}

fn diag(text: &str) -> String {
    format!("# {}", one_line(text))
}

/// One line, no control characters.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A test name: one line and no `#` (which would start a directive).
fn clean(s: &str) -> String {
    one_line(s).replace('#', "_")
}

/// One KTAP result line: (indent, ok, number, description, directive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultLine {
    pub indent: usize,
    pub ok: bool,
    pub number: usize,
    pub description: String,
    pub directive: Option<String>,
}

/// Checks `text` against the rules of ktap.rst (version line first, a plan after each
/// version line, numbers from 1 up by 1 matching the plan, subtests indented two spaces
/// and closed by their parent's result, a parent failing when a subtest fails, ERROR and
/// TIMEOUT only on `not ok`); returns the result lines.
pub fn check(text: &str) -> Result<Vec<ResultLine>, KtapError> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.first() != Some(&"KTAP version 1") {
        return Err(KtapError::at(0, "the first line must be `KTAP version 1`".into()));
    }
    // Per nesting level: (plan, last number, any not ok).
    let mut stack: Vec<(Option<usize>, usize, bool)> = vec![(None, 0, false)];
    let mut results = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(1) {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let body = line.trim_start_matches(' ');
        if indent % 2 != 0 {
            return Err(KtapError::at(i, "indentation must be two spaces per level".into()));
        }
        let level = indent / 2;
        if body == "KTAP version 1" {
            if level != stack.len() {
                return Err(KtapError::at(i, "a subtest's version line must be indented one level deeper".into()));
            }
            stack.push((None, 0, false));
            continue;
        }
        if let Some(n) = body.strip_prefix("1..") {
            let depth = stack.len();
            let top = stack.last_mut().unwrap();
            if level + 1 != depth || top.0.is_some() || top.1 > 0 {
                return Err(KtapError::at(i, "a plan follows its version line".into()));
            }
            top.0 = Some(n.parse().map_err(|_| KtapError::at(i, "bad plan".into()))?);
            continue;
        }
        if body.starts_with('#') {
            continue;
        }
        let (ok, rest) = match (body.strip_prefix("not ok "), body.strip_prefix("ok ")) {
            (Some(r), _) => (false, r),
            (None, Some(r)) => (true, r),
            _ => return Err(KtapError::at(i, format!("not a KTAP line: {body}"))),
        };
        // A result line at `level` closes every deeper subtest first.
        while stack.len() > level + 1 {
            let (plan, last, failed) = stack.pop().unwrap();
            if plan.is_some_and(|p| p != last) {
                return Err(KtapError::at(i, format!("the subtest planned {plan:?} tests and ran {last}")));
            }
            if failed && ok {
                return Err(KtapError::at(i, "a parent whose subtest failed must fail".into()));
            }
        }
        if stack.len() != level + 1 {
            return Err(KtapError::at(i, "a result line without its version line".into()));
        }
        let (num, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let number: usize = num.parse().map_err(|_| KtapError::at(i, "bad test number".into()))?;
        let top = stack.last_mut().unwrap();
        if number != top.1 + 1 {
            return Err(KtapError::at(i, "test numbers start at 1 and go up by 1".into()));
        }
        top.1 = number;
        top.2 |= !ok;
        let (description, directive) = match rest.split_once('#') {
            Some((d, dir)) => (d.trim().to_string(), Some(dir.trim().to_string())),
            None => (rest.trim().to_string(), None),
        };
        if directive.as_deref().is_some_and(|d| d.starts_with("ERROR") || d.starts_with("TIMEOUT")) && ok {
            return Err(KtapError::at(i, "ERROR and TIMEOUT go with not ok".into()));
        }
        results.push(ResultLine { indent: level, ok, number, description, directive });
    }
    if stack.len() != 1 || stack[0].0.is_some_and(|p| p != stack[0].1) {
        return Err(KtapError::at(lines.len(), "the top-level plan does not match its results, or a subtest is not closed".into()));
    }
    Ok(results)
}

/// Where KTAP text breaks a rule of ktap.rst.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("KTAP line {line}: {what}")]
pub struct KtapError {
    pub line: usize,
    pub what: String,
}

impl KtapError {
    fn at(index: usize, what: String) -> KtapError {
        KtapError { line: index + 1, what }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::render::report::tests::sample;

    #[test]
    fn follows_the_rules_of_ktap_rst() {
        let text = render(&sample());
        let results = check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let summary: Vec<(usize, bool, usize, &str)> = results.iter().map(|r| (r.indent, r.ok, r.number, r.description.as_str())).collect();
        assert_eq!(
            summary,
            [
                (1, true, 1, "buggy.1"),
                (1, false, 2, "fixed.1"),
                (1, false, 3, "fixed.2"),
                (0, false, 1, "fnhe-leak"),
                (0, false, 2, "verdict")
            ]
        );
        assert!(results[2].directive.as_deref().is_some_and(|d| d.starts_with("ERROR fixed: Error")), "{:?}", results[2]);
        assert!(text.contains("  # Subtest: fnhe-leak\n"), "{text}");
    }

    #[test]
    fn the_checker_rejects_what_the_rules_forbid() {
        assert!(check("TAP version 13\n1..0\n").is_err());
        assert!(check("KTAP version 1\n1..1\nok 2 x\n").is_err());
        assert!(check("KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  not ok 1 a\nok 1 p\n").is_err());
        assert!(check("KTAP version 1\n1..2\nok 1 x\n").is_err());
        assert!(check("KTAP version 1\n1..1\nok 1 x # ERROR boom\n").is_err());
        assert!(check("KTAP version 1\n1..1\nok 1 x\n").is_ok());
    }
}
