//! `lab triage` over real run directories: a guest whose kernel panics at boot, and the
//! fnhe-leak buggy run whose leak must be named with its title (and, being the scenario's
//! signature, not listed among the run's unexpected faults in `verdict.json`).

use std::path::Path;

use libtest_mimic::{Failed, Trial};
use serde_json::Value;

use crate::vm::{run_file, run_vm_with, vm_trial, Run};

pub fn tests() -> Vec<Trial> {
    vec![
        vm_trial("triage::a_guest_panic_run_directory_names_the_panic", guest_panic),
        vm_trial("triage::the_fnhe_leak_buggy_run_names_the_leak", fnhe_leak),
    ]
}

/// `lab triage --json DIR`: its exit code and one JSON object per fault.
fn triage(run: &Run) -> Result<(Option<i32>, Vec<Value>), Failed> {
    let out = crate::support::lab().args(["triage", "--json"]).arg(&run.dir).output()?;
    let faults = String::from_utf8_lossy(&out.stdout).lines().map(serde_json::from_str).collect::<Result<Vec<Value>, _>>()?;
    Ok((out.status.code(), faults))
}

fn guest_panic() -> Result<(), Failed> {
    let run = run_vm_with("vm-panic.yaml", |o| o)?;
    let (code, faults) = triage(&run)?;
    run.ensure(code == Some(1), &format!("exit 1 when faults are found, got {code:?}"))?;
    let panic = faults.iter().find(|f| f["class"] == "panic");
    run.ensure(panic.is_some(), &format!("a panic among {faults:?}"))?;
    let p = panic.expect("checked");
    let title = p["title"].as_str().unwrap_or_default();
    run.ensure(title.starts_with("kernel panic: ") && title.contains("init"), &format!("the panic's title: {title}"))?;
    run.ensure(p["fatal"] == true && p["line_number"].as_u64().unwrap_or(0) > 1, "fatal, with its line number")?;
    run.ensure(
        p["lines"].as_array().is_some_and(|l| l.iter().any(|l| l.as_str().unwrap_or("").contains("kernel_init+"))),
        "the report carries the panic's stack",
    )
}

fn fnhe_leak() -> Result<(), Failed> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/fnhe-leak.yaml");
    let run = run_file(&path, Some("buggy"), |o| o)?;
    let (code, faults) = triage(&run)?;
    run.ensure(code == Some(1), &format!("exit 1 when faults are found, got {code:?}"))?;
    let leak = faults.iter().find(|f| f["title"] == "unregister_netdevice: waiting for DEV to become free");
    run.ensure(leak.is_some(), &format!("the leak named with its title among {faults:?}"))?;
    let leak = leak.expect("checked");
    run.ensure(leak["class"] == "refcount" && leak["fatal"] == false, "a non-fatal refcount leak")?;
    run.ensure(leak["first_line"].as_str().unwrap_or("").contains("cli-veth"), "its first line names the device")?;
    // The leak is what the scenario's `kernel_log` expectation waits for: its signature,
    // not an unexpected fault of the run.
    let verdict: Value = serde_json::from_str(&std::fs::read_to_string(run.dir.join("verdict.json"))?)?;
    let listed = verdict["unexpected_faults"].as_array().cloned();
    run.ensure(
        listed.as_ref().is_some_and(|l| !l.iter().any(|f| f["first_line"].as_str().unwrap_or("").contains("unregister_netdevice"))),
        &format!("verdict.json has unexpected_faults, without the leak: {listed:?}"),
    )
}
