//! Incident 1 in real kernels: the buggy kernel shows the signature, the fixed one does
//! not; and a kernel patch that does not apply is a clear error.

use std::process::Output;

use libtest_mimic::{Failed, Trial};
use serde_json::Value;

use crate::support::{ensure, lab, repo};
use crate::vm::vm_trial;

pub fn tests() -> Vec<Trial> {
    vec![
        vm_trial("fnhe::buggy_kernel_shows_the_signature_after_teardown", buggy_shows_signature),
        vm_trial("fnhe::fixed_kernel_shows_no_signature", fixed_shows_none),
        vm_trial("kernel::patch_that_does_not_apply_names_patch_file_and_hunk", bad_patch),
    ]
}

/// The kernel `lab run fnhe-leak --variant <variant>` boots.
pub fn kernel_request(variant: &str) -> Result<lab::vm::kernel::KernelRequest, String> {
    let loaded = lab::scenario::load(&repo().join("scenarios/fnhe-leak.yaml")).map_err(|e| e.to_string())?;
    let v = lab::scenario::Variant::resolve(&loaded.scenario, Some(variant)).map_err(|e| e.to_string())?;
    Ok(lab::vm::kernel::request_for(&loaded, &v))
}

/// `lab run fnhe-leak --json [args]`: exit code, events, output.
fn run(args: &[&str]) -> Result<(Option<i32>, Vec<Value>, Output), Failed> {
    let _vm = crate::vm::vm_lock();
    let out = lab().args(["run", "fnhe-leak", "--json"]).args(args).output()?;
    let events = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    Ok((out.status.code(), events, out))
}

/// The churn step's end: `until_seen` (1: stopped on the race marker) and its summary.
fn churn_end(events: &[Value]) -> Option<(f64, &str)> {
    let e = events.iter().find(|e| e["event"] == "step_finished" && e["id"] == "churn")?;
    Some((e["counters"]["until_seen"].as_f64()?, e["summary"].as_str()?))
}

fn decided(events: &[Value]) -> Option<&Value> {
    events.iter().find(|e| e["event"] == "expectation_decided" && e["id"] == "leak-reported")
}

/// A race, not a certainty: the signature showed in 10 of 10 measured runs (40 s of churn;
/// now the churn stops at the kernel's LEAK marker, 60 s at most),
/// so one miss (exit 1, "not seen") earns one more run; two in a row fail the trial. Any
/// other outcome is judged on the first run.
const BUGGY_ATTEMPTS: usize = 2;

fn buggy_shows_signature() -> Result<(), Failed> {
    let mut attempt = 1;
    let (code, events, out) = loop {
        let (code, events, out) = run(&[])?;
        if code != Some(1) || attempt == BUGGY_ATTEMPTS {
            break (code, events, out);
        }
        eprintln!("fnhe buggy: race not hit on attempt {attempt}; running once more");
        attempt += 1;
    };
    let d = decided(&events);
    let line = d.and_then(|d| d["observation"]["detail"].as_str()).unwrap_or_default();
    ensure(code == Some(0), "the buggy kernel must show the signature (exit 0)", &out)?;
    ensure(line.contains("waiting for cli-veth to become free. Usage count ="), "the matched line is the signature", &out)?;
    ensure(d.and_then(|d| d["since_anchor_ms"].as_u64()).is_some(), "the time after teardown is reported", &out)?;
    // The leak is what the debug patch's marker says: the churn stopped on it, not at its cap.
    ensure(
        churn_end(&events).is_some_and(|(seen, s)| seen == 1.0 && s.contains("LEAK dst")),
        "the churn stopped on the kernel's LEAK marker",
        &out,
    )?;
    let on_vm = events
        .iter()
        .any(|e| e["event"] == "run_started" && e["backend"] == "vm" && e["kernel"].as_str().is_some_and(|k| k.starts_with("6.1")));
    ensure(on_vm, "the run happened in the 6.1 guest", &out)
}

fn fixed_shows_none() -> Result<(), Failed> {
    let (code, events, out) = run(&["--variant", "fixed"])?;
    let d = decided(&events);
    ensure(code == Some(0), "the fixed kernel must not show the signature (exit 0)", &out)?;
    ensure(
        d.is_some_and(|d| d["must"] == "not_appear" && d["met"] == true && d["observation"].is_null()),
        "leak-reported decided absent",
        &out,
    )?;
    // With the fix, a race that was hit is refused, never leaked (the cap may end a run that
    // never hit it: that is for the evidence expectation to report).
    ensure(
        churn_end(&events).is_some_and(|(seen, s)| !s.contains("LEAK dst") && (seen == 0.0 || s.contains("bind refused"))),
        "the fixed kernel's churn ended on `bind refused` or at its cap, never on a leak",
        &out,
    )?;
    // The debug patch is in the fixed kernel too: the sysctl was set, not skipped.
    let set = events.iter().any(|e| {
        e["event"] == "step_finished" && e["summary"].as_str().is_some_and(|s| s.starts_with("net.ipv4.route.ref_leak_test = 3000"))
    });
    ensure(set, "the debug sysctl exists in the fixed kernel and was set", &out)
}

fn bad_patch() -> Result<(), Failed> {
    // A scenario of its own in a repository layout of its own, with a patch whose context
    // does not match route.c.
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::create_dir_all(root.join("scenarios"))?;
    std::fs::create_dir_all(root.join("kernel-patches/bad-patch"))?;
    std::fs::create_dir_all(root.join("vm/config"))?;
    std::fs::copy(repo().join("vm/config/base.config"), root.join("vm/config/base.config"))?;
    std::fs::write(
        root.join("kernel-patches/bad-patch/0001-wrong-context.patch"),
        "--- a/net/ipv4/route.c\n+++ b/net/ipv4/route.c\n@@ -1,3 +1,3 @@\n-this line is not in route.c\n+neither is this one\n context that does not exist\n",
    )?;
    std::fs::write(
        root.join("scenarios/bad-patch.yaml"),
        "name: bad-patch\ndescription: a patch that does not apply\nsteps: [{ sleep: 1s }]\nvariants:\n  only:\n    patches: [0001-wrong-context.patch]\n",
    )?;
    let out = lab().args(["kernel", "build"]).arg(root.join("scenarios/bad-patch.yaml")).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.code() == Some(2), "a patch that does not apply is the user's to fix: exit 2", &out)?;
    ensure(
        err.contains("0001-wrong-context.patch") && err.contains("does not apply") && err.contains("net/ipv4/route.c: Hunk #1 FAILED"),
        "the error names the patch, the file and the hunk",
        &out,
    )?;
    // `lab run` says the same with the same exit code, before booting anything.
    let out = lab().args(["run", "--json"]).arg(root.join("scenarios/bad-patch.yaml")).output()?;
    ensure(out.status.code() == Some(2), "lab run: a patch that does not apply exits 2 as well", &out)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure(
        stdout.contains("\"outcome\":\"invalid\"") && stdout.contains("0001-wrong-context.patch") && !stdout.contains("vm_starting"),
        "its verdict is a scenario error naming the patch, and no VM was started",
        &out,
    )
}
