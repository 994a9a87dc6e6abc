//! One self-contained HTML page of a [`Report`]: no script, no external file, styles and
//! drawings inline, so it opens from a CI artifact as it is.
//!
//! The page: the verdict (a verification's, else the trial's), the verdict table (per
//! variant: signature seen / trials, the 95 % interval, the race exercised), the rates with
//! their intervals drawn as inline SVG, and per trial the timeline of steps with the
//! signature line, the leaked-reference stack and the console excerpt around it. Numbers a
//! test reads back carry `data-*` attributes.

use std::fmt::Write;

use quick_xml::escape::escape;

use super::report::{passed, Rate, Report, TrialRecord};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}td:first-child{white-space:nowrap}\
.pass{color:#176b2c}.fail{color:#b3261e}pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:12px}\
section.trial{border-top:1px solid #ccc;margin-top:1.5em}h1 .label{padding:.1em .4em;border-radius:4px}\
.verdict-pass{background:#d7f5dd}.verdict-fail{background:#fbdcd9}";

/// The whole page.
pub fn render(report: &Report) -> String {
    let mut body = String::new();
    body.push_str(&headline(report));
    if !report.rates.is_empty() {
        body.push_str(&rates_table(&report.rates));
        body.push_str(&rates_svg(&report.rates));
    }
    body.push_str(&trials_table(&report.trials));
    for t in &report.trials {
        body.push_str(&trial_section(t));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        esc(&report.title)
    )
}

fn esc(s: &str) -> String {
    escape(s).into_owned()
}

fn class(ok: bool) -> &'static str {
    if ok {
        "pass"
    } else {
        "fail"
    }
}

fn headline(report: &Report) -> String {
    let (label, summary, ok) = match (&report.verdict, report.trials.as_slice()) {
        (Some(v), _) => (v.label.clone(), v.summary.clone(), v.passed),
        (None, [t]) => (format!("{:?}", t.outcome).to_uppercase(), t.summary.clone(), passed(t)),
        (None, ts) => {
            let n = ts.iter().filter(|t| passed(t)).count();
            (format!("{n}/{} MET", ts.len()), String::new(), n == ts.len())
        }
    };
    format!(
        "<h1>{} <span id=\"verdict\" class=\"label verdict-{}\">{}</span></h1>\n<p id=\"verdict-summary\">{}</p>\n",
        esc(&report.title),
        class(ok),
        esc(&label),
        esc(&summary)
    )
}

fn rates_table(rates: &[Rate]) -> String {
    let mut s = String::from(
        "<h2>Verdict table</h2>\n<table id=\"rates\"><tr><th>variant</th><th>signature seen / trials</th><th>rate</th><th>95% interval (Wilson)</th><th>race exercised</th></tr>\n",
    );
    for r in rates {
        let rate = if r.trials == 0 { 0.0 } else { f64::from(r.seen) / f64::from(r.trials) };
        let exercised = r.exercised.map_or("—".to_string(), |e| format!("{e}/{}", r.trials));
        let _ = writeln!(
            s,
            "<tr class=\"rate\" data-variant=\"{v}\" data-seen=\"{}\" data-trials=\"{}\" data-low=\"{:.4}\" data-high=\"{:.4}\"><td>{v}</td><td>{}/{}</td><td>{:.0}%</td><td>{:.1}% – {:.1}%</td><td>{}</td></tr>",
            r.seen,
            r.trials,
            r.low,
            r.high,
            r.seen,
            r.trials,
            rate * 100.0,
            r.low * 100.0,
            r.high * 100.0,
            esc(&exercised),
            v = esc(&r.variant),
        );
    }
    s.push_str("</table>\n");
    s
}

/// Each rate as a dot on a 0–100 % axis with its interval as a bar.
fn rates_svg(rates: &[Rate]) -> String {
    const W: f64 = 400.0;
    const X0: f64 = 90.0;
    let row = 28.0;
    let height = row * rates.len() as f64 + 24.0;
    let mut s = format!(
        "<svg id=\"intervals\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"signature rates with 95% intervals\">\n",
        X0 + W + 20.0
    );
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let x = X0 + tick * W;
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{:.0}%</text>",
            height - 14.0,
            height - 2.0,
            tick * 100.0
        );
    }
    for (i, r) in rates.iter().enumerate() {
        let y = row * i as f64 + 16.0;
        let rate = if r.trials == 0 { 0.0 } else { f64::from(r.seen) / f64::from(r.trials) };
        let _ = writeln!(
            s,
            "<g class=\"interval\" data-variant=\"{v}\"><text x=\"0\" y=\"{}\" font-size=\"12\">{v}</text><line x1=\"{:.1}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\" stroke=\"#555\" stroke-width=\"4\"/><circle cx=\"{:.1}\" cy=\"{y}\" r=\"5\" fill=\"#b3261e\"/></g>",
            y + 4.0,
            X0 + r.low * W,
            X0 + r.high * W,
            X0 + rate * W,
            v = esc(&r.variant),
        );
    }
    s.push_str("</svg>\n");
    s
}

fn trials_table(trials: &[TrialRecord]) -> String {
    let mut s = String::from("<h2>Trials</h2>\n<table id=\"trials\"><tr><th>trial</th><th>outcome</th><th>signature</th><th>after anchor</th><th>took</th></tr>\n");
    for t in trials {
        let sig = t.signature().map_or("—".to_string(), |o| o.detail.clone());
        let after =
            t.decisions.iter().find_map(|d| d.since_anchor_ms).map_or("—".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
        let _ = writeln!(
            s,
            "<tr class=\"trial-row {}\" data-name=\"{n}\" data-outcome=\"{o}\"><td><a href=\"#{id}\">{n}</a></td><td>{o}</td><td>{}</td><td>{}</td><td>{:.1} s</td></tr>",
            class(passed(t)),
            esc(&sig),
            after,
            t.took_ms as f64 / 1000.0,
            n = esc(&t.name()),
            o = outcome_word(t),
            id = anchor(t),
        );
    }
    s.push_str("</table>\n");
    s
}

fn outcome_word(t: &TrialRecord) -> String {
    serde_json::to_value(t.outcome).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn anchor(t: &TrialRecord) -> String {
    t.name().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

fn trial_section(t: &TrialRecord) -> String {
    let mut s = format!(
        "<section class=\"trial\" id=\"{}\"><h3>{} <span class=\"{}\">{}</span></h3>\n<p>{}</p>\n",
        anchor(t),
        esc(&t.name()),
        class(passed(t)),
        outcome_word(t),
        esc(&t.summary)
    );
    s.push_str("<table class=\"timeline\"><tr><th>at</th><th>step</th><th></th><th>result</th></tr>\n");
    for st in &t.steps {
        let _ = writeln!(
            s,
            "<tr><td>{:.1} s</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            st.at_ms as f64 / 1000.0,
            esc(&st.step),
            class(st.ok),
            if st.ok { "ok" } else { "failed" },
            esc(&st.summary)
        );
    }
    for d in &t.decisions {
        let at = d.observation.as_ref().map_or(String::new(), |o| format!("{:.1} s", o.at_ms as f64 / 1000.0));
        let _ = writeln!(
            s,
            "<tr><td>{at}</td><td>expect {}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(&d.id),
            class(d.met),
            if d.met { "met" } else { "not met" },
            esc(&d.reason)
        );
    }
    s.push_str("</table>\n");
    if let Some(o) = t.signature() {
        let _ = writeln!(s, "<p>Signature:</p><pre class=\"signature\">{}</pre>", esc(&o.detail));
        if !o.context.is_empty() {
            let _ = writeln!(s, "<p>Kernel log around it:</p><pre class=\"excerpt\">{}</pre>", esc(&o.context.join("\n")));
        }
    }
    if !t.stack.is_empty() {
        let _ = writeln!(s, "<p>Leaked reference, where it was taken:</p><pre class=\"stack\">{}</pre>", esc(&t.stack.join("\n")));
    }
    for (kind, message) in &t.faults {
        let _ = writeln!(s, "<p class=\"fail\">guest fault {}: {}</p>", esc(kind), esc(message));
    }
    if let Some(dir) = &t.dir {
        let _ = writeln!(s, "<p>Run directory: <code>{}</code></p>", esc(&dir.display().to_string()));
    }
    s.push_str("</section>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::report::tests::sample;

    #[test]
    fn the_page_is_self_contained_and_carries_the_numbers() {
        let html = render(&sample());
        assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"), "self-contained");
        assert!(
            html.contains("data-variant=\"fixed\" data-seen=\"1\" data-trials=\"2\" data-low=\"0.0945\" data-high=\"0.9055\""),
            "{html}"
        );
        assert!(html.contains("<svg id=\"intervals\""));
        assert!(html.contains("60 rounds &lt;&amp;&gt;"), "escaped");
        assert_eq!(html.matches("<section class=\"trial\"").count(), 3);
        assert!(html.contains("FIX NOT VERIFIED"));
    }
}
