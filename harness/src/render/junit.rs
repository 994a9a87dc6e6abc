//! JUnit XML of a [`Report`]: what GitLab, Jenkins and GitHub test reporting read.
//!
//! One `<testsuite>` per scenario, one `<testcase>` per trial (`classname` the scenario,
//! `name` `variant#n`): a trial whose expectations were met passes, one not met is a
//! `<failure>`, an error or invalid scenario is an `<error>`. A verification adds one
//! testcase `verdict` carrying its verdict. Steps and decisions go to `<system-out>`.

use std::collections::BTreeMap;
use std::fmt::Write;

use quick_xml::escape::escape;

use super::report::{Report, TrialRecord};
use crate::event::Outcome;

/// The whole document.
pub fn render(report: &Report) -> String {
    let mut by_scenario: BTreeMap<&str, Vec<&TrialRecord>> = BTreeMap::new();
    for t in &report.trials {
        by_scenario.entry(&t.scenario).or_default().push(t);
    }
    let mut suites = String::new();
    let (mut tests, mut failures, mut errors, mut secs) = (0, 0, 0, 0.0);
    for (scenario, trials) in &by_scenario {
        let s = suite(scenario, trials);
        tests += trials.len();
        failures += trials.iter().filter(|t| t.outcome == Outcome::NotMet).count();
        errors += trials.iter().filter(|t| is_error(t)).count();
        secs += trials.iter().map(|t| t.took_ms as f64 / 1000.0).sum::<f64>();
        suites.push_str(&s);
    }
    if let Some(v) = &report.verdict {
        tests += 1;
        failures += usize::from(!v.passed);
        suites.push_str(&verdict_suite(report));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{secs:.3}\">\n{suites}</testsuites>\n",
        escape(report.title.as_str())
    )
}

fn is_error(t: &TrialRecord) -> bool {
    matches!(t.outcome, Outcome::Error | Outcome::Invalid)
}

fn suite(scenario: &str, trials: &[&TrialRecord]) -> String {
    let failures = trials.iter().filter(|t| t.outcome == Outcome::NotMet).count();
    let errors = trials.iter().filter(|t| is_error(t)).count();
    let secs: f64 = trials.iter().map(|t| t.took_ms as f64 / 1000.0).sum();
    let mut out = format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{secs:.3}\">\n",
        escape(scenario),
        trials.len()
    );
    for t in trials {
        out.push_str(&case(t));
    }
    out.push_str("  </testsuite>\n");
    out
}

fn case(t: &TrialRecord) -> String {
    let mut out = format!(
        "    <testcase classname=\"{}\" name=\"{}#{}\" time=\"{:.3}\">\n",
        escape(t.scenario.as_str()),
        escape(t.variant.as_str()),
        t.number,
        t.took_ms as f64 / 1000.0
    );
    let tag = match t.outcome {
        Outcome::Met => None,
        Outcome::NotMet => Some("failure"),
        Outcome::Error | Outcome::Invalid => Some("error"),
    };
    if let Some(tag) = tag {
        let kind = format!("{:?}", t.outcome).to_lowercase();
        let body = t.notes.join("\n");
        let _ = writeln!(out, "      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>", escape(t.summary.as_str()), escape(body.as_str()));
    }
    let _ = writeln!(out, "      <system-out>{}</system-out>", escape(system_out(t).as_str()));
    out.push_str("    </testcase>\n");
    out
}

/// The trial as a person reads it: steps, decisions, the signature, the run directory.
fn system_out(t: &TrialRecord) -> String {
    let mut s = String::new();
    for step in &t.steps {
        let _ =
            writeln!(s, "{:>8.1}s {} {}: {}", step.at_ms as f64 / 1000.0, if step.ok { "ok" } else { "FAILED" }, step.step, step.summary);
    }
    for d in &t.decisions {
        let _ = writeln!(s, "expect {}: {} ({})", d.id, if d.met { "met" } else { "NOT met" }, d.reason);
        if let Some(o) = &d.observation {
            let _ = writeln!(s, "  seen: {}", o.detail);
        }
    }
    for (kind, message) in &t.faults {
        let _ = writeln!(s, "guest fault {kind}: {message}");
    }
    if let Some(dir) = &t.dir {
        let _ = writeln!(s, "run directory: {}", dir.display());
    }
    s
}

fn verdict_suite(report: &Report) -> String {
    let v = report.verdict.as_ref().expect("called with a verdict");
    let rates: Vec<String> =
        report.rates.iter().map(|r| format!("{}: {}/{} [{:.3}, {:.3}]", r.variant, r.seen, r.trials, r.low, r.high)).collect();
    let failure = if v.passed {
        String::new()
    } else {
        format!("      <failure message=\"{}\" type=\"verdict\">{}</failure>\n", escape(v.label.as_str()), escape(v.summary.as_str()))
    };
    format!(
        "  <testsuite name=\"verdict\" tests=\"1\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n    <testcase classname=\"verdict\" name=\"{}\">\n{failure}      <system-out>{}</system-out>\n    </testcase>\n  </testsuite>\n",
        usize::from(!v.passed),
        escape(report.title.as_str()),
        escape(format!("{}: {}\n{}", v.label, v.summary, rates.join("\n")).as_str())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::report::tests::sample;

    #[test]
    fn parses_back_with_counts_that_match_the_trials() {
        let xml = render(&sample());
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!((root.attribute("tests"), root.attribute("failures"), root.attribute("errors")), (Some("4"), Some("2"), Some("1")));
        let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
        let names: Vec<_> =
            cases.iter().map(|c| format!("{}::{}", c.attribute("classname").unwrap(), c.attribute("name").unwrap())).collect();
        assert_eq!(names, ["fnhe-leak::buggy#1", "fnhe-leak::fixed#1", "fnhe-leak::fixed#2", "verdict::lab verify fnhe-leak"]);
        let kind = |c: &roxmltree::Node| {
            c.children().find(|n| n.has_tag_name("failure") || n.has_tag_name("error")).map(|n| n.tag_name().name().to_string())
        };
        assert_eq!(
            cases.iter().map(kind).collect::<Vec<_>>(),
            [None, Some("failure".into()), Some("error".into()), Some("failure".into())]
        );
        // Every suite's counts add up to its testcases.
        for s in doc.descendants().filter(|n| n.has_tag_name("testsuite")) {
            let n = s.children().filter(|c| c.has_tag_name("testcase")).count();
            assert_eq!(s.attribute("tests").unwrap().parse::<usize>().unwrap(), n);
        }
        // Text with markup characters survives the round trip.
        let out = cases[0].children().find(|n| n.has_tag_name("system-out")).unwrap().text().unwrap();
        assert!(out.contains("60 rounds <&>") && out.contains("seen: unregister_netdevice"), "{out}");
    }
}
