//! The accelerator choice cannot strand a run: with a QEMU stand-in that fails `-accel kvm`
//! the way real hosts were seen to (and runs the real QEMU for TCG), the run still reaches
//! its verdict, says it fell back and why, and the next run on that "host" boots TCG first.
//! Independent of what the test machine's own KVM does: the stand-in decides for KVM.

use std::path::{Path, PathBuf};

use libtest_mimic::{Failed, Trial};

use lab::event::{Event, Outcome};
use lab::vm::accel::Records;
use lab::vm::qemu::Accel;

use crate::support::{ensure, lab};
use crate::vm::{run_vm_with, vm_trial, Run};

pub fn tests() -> Vec<Trial> {
    vec![
        vm_trial("accel::kvm_dying_after_the_probe_falls_back_to_tcg_and_is_remembered", internal_error_falls_back),
        vm_trial("accel::kvm_slower_than_tcg_at_the_probe_is_never_booted", slow_probe_picks_tcg),
        vm_trial("accel::cli_qemu_flag_and_doctor_show_the_fallback", cli_fallback_and_doctor),
    ]
}

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/qemu-standin")
}

/// `vm-short` through the stand-in behaving as `mode`, remembering in `records`.
fn run_as(mode: &str, records: &Path) -> Result<Run, Failed> {
    // One trial at a time (--test-threads=1): the stand-in reads its mode from the
    // environment QEMU inherits.
    std::env::set_var("LAB_STANDIN_KVM", mode);
    let records = Records { dir: records.to_path_buf() };
    run_vm_with("vm-short.yaml", |o| lab::vm::backend::VmOptions { qemu: standin(), accel: None, accel_records: records, ..o })
}

fn starts(run: &Run) -> Vec<(String, String)> {
    run.events
        .iter()
        .filter_map(|e| if let Event::VmStarting { accel, reason } = e { Some((accel.clone(), reason.clone())) } else { None })
        .collect()
}

fn fallbacks(run: &Run) -> Vec<&Event> {
    run.events.iter().filter(|e| matches!(e, Event::AccelFallback { .. })).collect()
}

fn internal_error_falls_back() -> Result<(), Failed> {
    let records = tempfile::tempdir()?;
    let first = run_as("internal-error", records.path())?;
    first.ensure(first.report.outcome == Outcome::Met, "the run still meets its expectation")?;
    first.ensure(starts(&first).first().is_some_and(|(a, _)| a == "kvm"), "the probe passed, so KVM was tried first")?;
    let named = fallbacks(&first).iter().any(|e| {
        matches!(e, Event::AccelFallback { from, to, reason, lines }
            if from == "kvm" && to == "tcg" && reason.contains("KVM internal error") && lines.iter().any(|l| l == "emulation failure"))
    });
    first.ensure(named, "an accel_fallback event names KVM's error and carries QEMU's lines")?;
    let verdict: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(first.dir.join("verdict.json"))?)?;
    first.ensure(
        verdict["accel"]["used"] == "tcg"
            && verdict["accel"]["fallback_from"][1].as_str().is_some_and(|r| r.contains("KVM internal error")),
        &format!("verdict.json says TCG was used after KVM failed: {verdict}"),
    )?;
    first.ensure(first.dir.join("kvm-qemu.log").is_file(), "the failed KVM attempt's QEMU log is kept")?;
    let jsonl = std::fs::read_to_string(first.dir.join("events.jsonl"))?;
    first.ensure(jsonl.contains("\"event\":\"accel_fallback\""), "events.jsonl has the fallback")?;

    let second = run_as("internal-error", records.path())?;
    second.ensure(second.report.outcome == Outcome::Met, "the second run meets its expectation")?;
    second.ensure(fallbacks(&second).is_empty(), "the second run does not try KVM again")?;
    let booted = starts(&second);
    second.ensure(
        matches!(&booted[..], [(accel, reason)] if accel == "tcg" && reason.contains("KVM failed here before")),
        &format!("the second run boots TCG first, from the record: {booted:?}"),
    )?;
    eprintln!("accel fallback: first run {:?} (with the failed KVM attempt), second {:?}", first.took, second.took);
    Ok(())
}

fn slow_probe_picks_tcg() -> Result<(), Failed> {
    let records = tempfile::tempdir()?;
    let run = run_as("slow-probe", records.path())?;
    run.ensure(run.report.outcome == Outcome::Met, "the run meets its expectation")?;
    let s = starts(&run);
    run.ensure(
        s.len() == 1 && s[0].0 == "tcg" && s[0].1.contains("slower than TCG"),
        &format!("KVM is judged by the probe against TCG and not booted: {s:?}"),
    )?;
    run.ensure(fallbacks(&run).is_empty(), "no KVM boot, so nothing to fall back from")?;
    let record = std::fs::read_dir(records.path())?.flatten().next().map(|e| std::fs::read_to_string(e.path())).transpose()?;
    let record: serde_json::Value = serde_json::from_str(&record.unwrap_or_default()).unwrap_or_default();
    run.ensure(record["accel"] == serde_json::to_value(Accel::Tcg)?, &format!("the probe's finding is remembered: {record}"))
}

/// The documented way in: `lab run --qemu`, then `lab doctor --qemu` showing the record.
fn cli_fallback_and_doctor() -> Result<(), Failed> {
    let kernel = crate::vm::test_kernel()?;
    let _vm = crate::vm::vm_lock();
    let standin = standin();
    let doctor =
        |extra: &[&str]| lab().env("LAB_STANDIN_KVM", "internal-error").arg("doctor").arg("--qemu").arg(&standin).args(extra).output();
    let out = doctor(&["--forget"])?;
    ensure(out.status.success(), "lab doctor --forget runs", &out)?;
    let runs = tempfile::tempdir()?;
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vm-short.yaml");
    let out = lab()
        .env("LAB_STANDIN_KVM", "internal-error")
        .env("LAB_RUNS", runs.path())
        .env_remove("LAB_ACCEL")
        .args(["run", "--json", "--qemu"])
        .arg(&standin)
        .arg("--bzimage")
        .arg(&kernel)
        .arg(&scenario)
        .output()?;
    ensure(out.status.code() == Some(0), "lab run --qemu <stand-in> meets its expectation after falling back", &out)?;
    ensure(String::from_utf8_lossy(&out.stdout).contains("\"event\":\"accel_fallback\""), "the JSON events name the fallback", &out)?;
    let out = doctor(&[])?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure(text.contains("boots with tcg") && text.contains("KVM internal error"), "lab doctor shows the record and its evidence", &out)?;
    let out = doctor(&["--forget"])?;
    ensure(String::from_utf8_lossy(&out.stdout).contains("forgotten"), "the test leaves no record behind", &out)
}
