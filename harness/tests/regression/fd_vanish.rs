//! Incident 4 (`scenarios/fd-vanish.yaml`): what the discovered `fd-vanish::<variant>`
//! trials (`scenarios.rs`) do not look at — on the buggy kernel, that the tracer's hit is
//! kubelet closing its own socket's inode through the driver-like path; the `trace` step on a plain function of the base kernel
//! (`tests/data/trace-plain.yaml`: the probe fires, the stack is captured, the probe and its
//! instance are gone after); and `lab check`'s words, with file:line, for the new kinds.

use libtest_mimic::{Failed, Trial};

use lab::event::{Event, Outcome};

use crate::support::{ensure, lab};
use crate::vm::Run as VmRun;

pub fn tests() -> Vec<Trial> {
    let vm = |name: &str, f: fn() -> Result<(), Failed>| {
        let t = Trial::test(name, f);
        match crate::vm::unavailable() {
            Some(why) => t.with_ignored_flag(true).with_kind(why),
            None => t,
        }
    };
    vec![
        vm("fd_vanish::buggy_port_vanishes_and_the_tracer_names_the_culprit", buggy),
        vm("fd_vanish::trace_on_a_plain_function_captures_a_stack_and_is_removed", trace_plain),
        Trial::test("fd_vanish::check_names_file_line_and_field_of_bad_specs", check_bad_specs),
    ]
}

/// The decision on expectation `id`: (met, what was seen, its context).
fn decided(run: &VmRun, id: &str) -> Option<(bool, String, Vec<String>)> {
    run.events.iter().find_map(|e| match e {
        Event::ExpectationDecided { id: i, met, observation, .. } if i == id => Some((
            *met,
            observation.as_ref().map_or(String::new(), |o| o.detail.clone()),
            observation.as_ref().map_or(Vec::new(), |o| o.context.clone()),
        )),
        _ => None,
    })
}

/// The summary of step `id` if it finished well.
fn step_ok(run: &VmRun, id: &str) -> Option<String> {
    run.events.iter().find_map(|e| match e {
        Event::StepFinished { id: Some(i), ok: true, summary, .. } if i == id => Some(summary.clone()),
        _ => None,
    })
}

/// The socket inode kubelet reported (`... socket inode N)`).
fn kubelet_inode(run: &VmRun) -> Option<String> {
    run.events.iter().find_map(|e| match e {
        Event::StepProgress { message, .. } if message.contains("socket inode") => {
            message.split("socket inode ").nth(1)?.split(')').next().map(String::from)
        }
        _ => None,
    })
}

fn run_variant(variant: &str) -> Result<VmRun, Failed> {
    let run = crate::vm::run_file(&crate::support::repo().join("scenarios/fd-vanish.yaml"), Some(variant), |o| o)?;
    eprintln!("fd-vanish {variant}: {:?} in {:.1} s", run.report.outcome, run.took.as_secs_f64());
    run.ensure(run.report.outcome == Outcome::Met, "the variant meets its expectations")?;
    run.ensure(!run.events.iter().any(|e| matches!(e, Event::GuestFault { .. })), "no guest fault")?;
    run.ensure(decided(&run, "listening").is_some_and(|d| d.0), "kubelet listened")?;
    Ok(run)
}

fn buggy() -> Result<(), Failed> {
    let run = run_variant("buggy")?;
    let inode = kubelet_inode(&run).unwrap_or_default();
    let (met, line, stack) = decided(&run, "culprit-stack").unwrap_or_default();
    run.ensure(
        met && line.starts_with("kubelet-") && line.ends_with(&format!("ino={inode}")),
        "the hit is kubelet closing its own socket's inode",
    )?;
    let frames = stack.join(" ");
    run.ensure(
        frames.contains("lab_nvcap_close_fd") && frames.contains("getdents64"),
        "the stack goes through the driver-like close and getdents64",
    )?;
    run.ensure(decided(&run, "port-gone").is_some_and(|d| d.0 && d.1.contains("the process lives")), "the port went while kubelet lived")?;
    let trace = step_ok(&run, "probe").unwrap_or_default();
    run.ensure(trace.starts_with("1 hit of filp_close") && trace.ends_with("probe removed"), "one hit, probe removed")
}

fn trace_plain() -> Result<(), Failed> {
    let run = crate::vm::run_vm_with("trace-plain.yaml", |o| o)?;
    run.ensure(run.report.outcome == Outcome::Met, "the stack of cat's filp_close is captured")?;
    let (_, line, stack) = decided(&run, "close-stack").unwrap_or_default();
    run.ensure(
        line.starts_with("cat-") && stack.first().is_some_and(|f| f.starts_with("=> filp_close")),
        "the hit is cat's, its stack starts at filp_close",
    )?;
    let hits = step_ok(&run, "probe").unwrap_or_default();
    run.ensure(hits.contains("hits of filp_close") || hits.contains("hit of filp_close"), "the trace step finished and removed its probe")?;
    run.ensure(step_ok(&run, "probe-gone").is_some(), "no kprobe and no trace instance left in the guest")
}

fn check_bad_specs() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let good = std::fs::read_to_string(crate::support::repo().join("scenarios/fd-vanish.yaml"))?;
    let bad = good
        .replacen("kubelet: { reads: [gpu-pod], period: 200ms }", "kubelet: { reads: [gpu-pods], period: 200ms }", 1)
        .replacen("hold_file: { path: /dev/lab-nvcap, fd: '{kubelet.fd}' }", "hold_file: { path: /dev/lab-nvcap, fd: '{kublet.fd}' }", 1)
        .replacen("function: filp_close", "function: filp close", 1)
        .replacen("listener: { step: kubelet, state: gone }\n    after", "listener: { step: kubelt, state: gone }\n    after", 1);
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, &bad)?;
    let out = lab().arg("check").arg(&path).output()?;
    ensure(out.status.code() == Some(2), "exit code 2 expected", &out)?;
    let err = String::from_utf8_lossy(&out.stderr);
    let line_of = |needle: &str| bad.lines().position(|l| l.contains(needle) && !l.starts_with('#')).map_or(0, |i| i + 1);
    for (needle, words) in [
        ("gpu-pods", "no step has id `gpu-pods`"),
        ("{kublet.fd}", "`{kublet.fd}` names no step"),
        ("filp close", "`filp close` is not a kernel function name"),
        ("kubelt", "no step has id `kubelt`"),
    ] {
        let at = format!("{}:{}:", path.display(), line_of(needle));
        ensure(err.lines().any(|l| l.contains(&at)) && err.contains(words), &format!("`{words}` at {at}"), &out)?;
    }
    Ok(())
}
