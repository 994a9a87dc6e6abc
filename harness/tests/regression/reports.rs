//! The file reports of a real `lab run` (a short scenario in the guest): JUnit parsed back,
//! KTAP checked against ktap.rst's rules (and by the kernel's own KUnit parser when the
//! kernel source is unpacked), the HTML page opened in headless Chromium — it renders, and
//! its numbers are the run's.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Failed, Trial};
use serde_json::Value;

use crate::support::{ensure, gated, lab};

pub fn tests() -> Vec<Trial> {
    let why = crate::vm::unavailable().or_else(|| chromium().is_none().then(|| "needs chromium (ci/deps.sh)".to_string()));
    vec![gated("reports::lab_run_writes_junit_ktap_and_an_html_page_chromium_renders", why, lab_run_reports)]
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().map(PathBuf::from).find(|p| p.is_file())
}

fn lab_run_reports() -> Result<(), Failed> {
    let _vm = crate::vm::vm_lock();
    let out_dir = tempfile::tempdir()?;
    let (junit, ktap, html) = (out_dir.path().join("r.xml"), out_dir.path().join("r.ktap"), out_dir.path().join("r.html"));
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vm-short.yaml");
    let out = lab()
        .env("LAB_RUNS", out_dir.path().join("runs"))
        .args(["run", "--json"])
        .arg(&scenario)
        .arg("--junit")
        .arg(&junit)
        .arg("--ktap")
        .arg(&ktap)
        .arg("--html")
        .arg(&html)
        .output()?;
    ensure(out.status.code() == Some(0), "the short scenario is met", &out)?;
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let dir = events.iter().find_map(|e| e["dir"].as_str().filter(|_| e["event"] == "artifacts")).map(PathBuf::from);
    let dir = dir.ok_or("no artifacts event")?;
    for f in ["report.junit.xml", "report.ktap", "report.html", "report.json"] {
        ensure(dir.join(f).is_file(), &format!("{f} in the run directory"), &out)?;
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json"))?)?;
    check_junit(&std::fs::read_to_string(&junit)?, &report)?;
    check_ktap(&std::fs::read_to_string(&ktap)?)?;
    check_html(&html, &report, out_dir.path())
}

fn check_junit(xml: &str, report: &Value) -> Result<(), Failed> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("JUnit is not XML: {e}"))?;
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    let names: Vec<String> =
        cases.iter().map(|c| format!("{}::{}", c.attribute("classname").unwrap_or(""), c.attribute("name").unwrap_or(""))).collect();
    if names != ["vm-short::default#1"] {
        return Err(format!("JUnit testcases: {names:?}\n{xml}").into());
    }
    let failed = cases[0].children().any(|n| n.has_tag_name("failure") || n.has_tag_name("error"));
    let took: f64 = cases[0].attribute("time").unwrap_or("x").parse().map_err(|_| "no time")?;
    let want = report["trials"][0]["took_ms"].as_f64().unwrap_or(-1.0) / 1000.0;
    if failed || (took - want).abs() > 0.001 {
        return Err(format!("JUnit: failed={failed}, time {took} vs report {want}\n{xml}").into());
    }
    Ok(())
}

fn check_ktap(text: &str) -> Result<(), Failed> {
    let results = lab::render::ktap::check(text).map_err(|e| format!("{e}\n{text}"))?;
    let summary: Vec<(usize, bool, &str)> = results.iter().map(|r| (r.indent, r.ok, r.description.as_str())).collect();
    if summary != [(1, true, "default.1"), (0, true, "vm-short")] {
        return Err(format!("KTAP results: {summary:?}\n{text}").into());
    }
    kunit_parse(text)
}

/// The kernel's own KTAP parser (`tools/testing/kunit/kunit_parser.py`) on our output.
fn kunit_parse(text: &str) -> Result<(), Failed> {
    let Some(dir) = std::fs::read_dir(lab::vm::kernel::cache_dir().join("src"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("tools/testing/kunit"))
        .find(|p| p.join("kunit_parser.py").is_file())
    else {
        eprintln!("reports: no unpacked kernel source with kunit_parser.py; checked by lab's own KTAP rules only");
        return Ok(());
    };
    let script = "import sys; sys.path.insert(0, sys.argv[1]); import kunit_parser as k\n\
                  t = k.parse_run_tests(sys.stdin.read().splitlines(True))\n\
                  print(t.status.name, t.counts.passed, t.counts.failed, t.counts.errors)";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(child.stdin.as_mut().ok_or("stdin")?, text.as_bytes())?;
    let out = child.wait_with_output()?;
    let said = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string();
    ensure(said == "SUCCESS 1 0 0", &format!("kunit_parser says `{said}` (want SUCCESS, 1 passed)"), &out)
}

fn check_html(page: &Path, report: &Value, tmp: &Path) -> Result<(), Failed> {
    let chromium = chromium().ok_or("no chromium")?;
    let profile = tmp.join("chromium-profile");
    let run = |extra: &[&str]| {
        Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
    };
    let dom = run(&["--dump-dom"])?;
    let text = String::from_utf8_lossy(&dom.stdout).to_string();
    ensure(text.contains("<table id=\"trials\">"), "chromium parsed the page into a DOM with the trials table", &dom)?;
    let t = &report["trials"][0];
    let row = format!("data-name=\"vm-short::default#1\" data-outcome=\"{}\"", t["outcome"].as_str().unwrap_or("?"));
    ensure(text.contains(&row), &format!("the DOM's trial row says what report.json says: {row}"), &dom)?;
    let took = format!("{:.1} s</td></tr>", t["took_ms"].as_f64().unwrap_or(-1.0) / 1000.0);
    ensure(text.contains(&took), &format!("the DOM shows the trial's time as report.json has it: {took}"), &dom)?;
    let png = tmp.join("page.png");
    let shot = run(&[&format!("--screenshot={}", png.display()), "--window-size=1000,800"])?;
    let bytes = std::fs::read(&png).unwrap_or_default();
    ensure(bytes.len() > 1000 && bytes.starts_with(b"\x89PNG"), "chromium rendered the page to a PNG", &shot)
}
