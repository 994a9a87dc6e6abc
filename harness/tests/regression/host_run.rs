//! `lab run --host` end to end on the running kernel, `lab check` and `lab clean`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use libtest_mimic::{Failed, Trial};
use serde_json::Value;

use crate::support::{ensure, host_lock, lab, lab_namespaces, root_trial, sysctl};

const TIMEOUT_KEY: &str = "net.core.netdev_unregister_timeout_secs";

pub fn tests() -> Vec<Trial> {
    vec![
        Trial::test("check::bad_input_names_file_line_field_and_exits_2", check_bad_input),
        Trial::test("check::fnhe_leak_is_valid", check_fnhe_leak),
        Trial::test("check::a_scenario_outside_the_repo_finds_the_labs_kernel_files", check_outside_repo),
        root_trial("host::fnhe_leak_fixed_without_the_debug_patch_is_race_not_exercised", host_fixed_not_exercised),
        root_trial("host::fnhe_leak_buggy_is_not_met_and_says_why", host_buggy_is_not_met),
        root_trial("host::sigint_tears_down", sigint_tears_down),
        root_trial("host::sigkill_leftovers_are_removed_by_lab_clean", sigkill_then_clean),
    ]
}

fn check_bad_input() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let good = std::fs::read_to_string(crate::support::repo().join("scenarios/fnhe-leak.yaml"))?;
    let bad = good.replacen("netns: gw, addresses: [10.0.123.254/24]", "netns: gateway, addresses: [10.0.123.254/24]", 1);
    assert_ne!(good, bad, "fixture text not found");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, bad)?;
    let out = lab().arg("check").arg(&path).output()?;
    ensure(out.status.code() == Some(2), "exit code 2 expected", &out)?;
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}:", path.display());
    ensure(
        err.contains(&want) && err.contains("field `topology.links[0].ends[1].netns`") && err.contains("unknown namespace `gateway`"),
        "diagnostic with file, field and cause expected",
        &out,
    )
}

fn check_fnhe_leak() -> Result<(), Failed> {
    let out = lab().args(["check", "fnhe-leak"]).output()?;
    ensure(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("variants: buggy, fixed"), "fnhe-leak must validate", &out)
}

/// A copy of fnhe-leak in a directory of its own, checked from there: `vm/config/` and
/// `kernel-patches/fnhe-leak/` come from the lab's tree, not from next to the file.
fn check_outside_repo() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("my.yaml");
    std::fs::copy(crate::support::repo().join("scenarios/fnhe-leak.yaml"), &path)?;
    let out = lab().arg("check").arg(&path).current_dir(dir.path()).env_remove("LAB_HOME").output()?;
    ensure(out.status.code() == Some(0), "exit 0 expected: a scenario anywhere uses the lab's own kernel files", &out)?;
    ensure(String::from_utf8_lossy(&out.stdout).contains("variants: buggy, fixed"), "the copy must validate like the original", &out)
}

/// Runs `lab run fnhe-leak --host --json [args]` and returns (exit code, events, output).
fn host_run(args: &[&str]) -> Result<(Option<i32>, Vec<Value>, std::process::Output), Failed> {
    let out = lab().args(["run", "fnhe-leak", "--host", "--json"]).args(args).output()?;
    let events = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    Ok((out.status.code(), events, out))
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// Nothing of the run is left: no namespaces, the global sysctl back to what it was.
fn host_is_clean(before: &str, out: &std::process::Output) -> Result<(), Failed> {
    ensure(lab_namespaces().is_empty(), &format!("namespaces left: {:?}", lab_namespaces()), out)?;
    ensure(sysctl(TIMEOUT_KEY) == before, &format!("{TIMEOUT_KEY} is {} but was {before}", sysctl(TIMEOUT_KEY)), out)
}

/// The running kernel has the fix but not the debug patch: the signature stays away, yet
/// nothing shows the race was entered, so the honest verdict is NOT MET "race not exercised"
/// — never a pass of the fixed variant.
fn host_fixed_not_exercised() -> Result<(), Failed> {
    let _g = host_lock();
    let before = sysctl(TIMEOUT_KEY);
    let (code, events, out) = host_run(&["--variant", "fixed"])?;
    ensure(code == Some(1), "exit 1 expected: without the debug patch the race is not shown exercised", &out)?;
    let verdict = of(&events, "verdict");
    let summary = verdict.first().and_then(|v| v["summary"].as_str()).unwrap_or_default();
    ensure(
        verdict.len() == 1
            && verdict[0]["outcome"] == "not_met"
            && summary.starts_with("race not exercised")
            && summary.contains("race-refused"),
        "one verdict, not met, naming the missing evidence first",
        &out,
    )?;
    let signature = of(&events, "expectation_decided").into_iter().find(|e| e["id"] == "leak-reported").cloned();
    ensure(signature.is_some_and(|d| d["met"] == true), "the signature itself stayed away (decided met)", &out)?;
    let traffic = of(&events, "step_finished").into_iter().find(|e| e["kind"] == "traffic").cloned();
    let bytes = traffic.as_ref().and_then(|t| t["counters"]["bytes_received"].as_f64()).unwrap_or(0.0);
    ensure(bytes > 1e6, &format!("traffic must really flow cli -> svr (received {bytes} bytes)"), &out)?;
    let churn = of(&events, "step_finished").into_iter().find(|e| e["kind"] == "mtu_churn").cloned();
    ensure(churn.is_some_and(|c| c["ok"] == true && c["counters"]["changes"].as_f64() > Some(4.0)), "MTU churn must apply changes", &out)?;
    let missing = of(&events, "note").iter().any(|n| n["message"].as_str().is_some_and(|m| m.contains("ref_leak_test does not exist")));
    ensure(missing, "the missing debug sysctl must be said", &out)?;
    host_is_clean(&before, &out)
}

fn host_buggy_is_not_met() -> Result<(), Failed> {
    let _g = host_lock();
    let before = sysctl(TIMEOUT_KEY);
    let (code, events, out) = host_run(&[])?;
    ensure(code == Some(1), "exit 1 expected: the buggy variant's signature cannot show on a fixed kernel", &out)?;
    let verdict = of(&events, "verdict");
    let summary = verdict.first().and_then(|v| v["summary"].as_str()).unwrap_or_default();
    ensure(
        summary.starts_with("race not exercised") && summary.contains("race-leaked") && summary.contains("leak-reported"),
        "the verdict says the race was not exercised, then what was not seen",
        &out,
    )?;
    let notes = verdict.first().map(|v| v["notes"].to_string()).unwrap_or_default();
    ensure(notes.contains("ref_leak_test"), "the verdict must carry the missing-sysctl note", &out)?;
    host_is_clean(&before, &out)
}

/// Starts a host run and returns the child once its topology is up (read from its events).
fn start_until_topology(extra: &[&str]) -> Result<std::process::Child, Failed> {
    let mut child =
        lab().args(["run", "fnhe-leak", "--host", "--json"]).args(extra).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if line.contains("\"event\":\"step_started\"") && line.contains("mtu_churn") {
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(child);
        }
    }
    Err("the run ended before its churn step started".into())
}

fn sigint_tears_down() -> Result<(), Failed> {
    let _g = host_lock();
    let before = sysctl(TIMEOUT_KEY);
    let mut child = start_until_topology(&["--variant", "fixed"])?;
    if lab_namespaces().len() != 3 {
        return Err(format!("expected the run's 3 namespaces, found {:?}", lab_namespaces()).into());
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)?;
    let status = child.wait()?;
    if status.code() != Some(3) {
        return Err(format!("an interrupted run exits 3, got {status}").into());
    }
    if !lab_namespaces().is_empty() || sysctl(TIMEOUT_KEY) != before {
        return Err(format!("left behind: {:?}, {TIMEOUT_KEY}={}", lab_namespaces(), sysctl(TIMEOUT_KEY)).into());
    }
    Ok(())
}

fn sigkill_then_clean() -> Result<(), Failed> {
    let _g = host_lock();
    let before = sysctl(TIMEOUT_KEY);
    let mut child = start_until_topology(&["--variant", "fixed"])?;
    child.kill()?;
    child.wait()?;
    let left = lab_namespaces();
    if left.len() != 3 || sysctl(TIMEOUT_KEY) == before {
        return Err(format!(
            "a SIGKILLed run should leave its 3 namespaces and its sysctl (found {left:?}, {TIMEOUT_KEY}={})",
            sysctl(TIMEOUT_KEY)
        )
        .into());
    }
    let out = lab().arg("clean").output()?;
    ensure(out.status.success(), "lab clean must succeed", &out)?;
    ensure(left.iter().all(|n| crate::support::text(&out).contains(n.as_str())), "lab clean must name what it removed", &out)?;
    host_is_clean(&before, &out)
}
