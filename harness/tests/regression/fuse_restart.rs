//! Incident 3 (`scenarios/fuse-restart.yaml`): what the discovered `fuse-restart::<variant>`
//! trials (`scenarios.rs`) do not look at — on the buggy variant, runc's exact words, the
//! `//deleted` root and teardown detaching the FUSE mount in the guest — and on
//! the host what a run leaves behind — no FUSE or bind mount (the host's
//! `/proc/self/mountinfo` before and after), no daemon — after a normal end and after a
//! SIGKILL of `lab` (then `lab clean`). Also: the new kinds' validation errors carry
//! file:line.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};

use lab::event::{Event, Outcome};

use crate::support::{ensure, host_lab, host_lock, lab, repo, root_trial};
use crate::vm::{vm_trial, Run as VmRun};

pub fn tests() -> Vec<Trial> {
    vec![
        vm_trial("fuse_restart::buggy_live_daemon_leaves_deleted_root_and_runc_fails_enoent", buggy),
        Trial::test("fuse_restart::bad_mount_specs_are_named_with_file_and_line", bad_specs),
        root_trial("fuse_restart::host_runs_leave_no_mount_and_no_daemon", host_runs_are_clean),
        root_trial("fuse_restart::host_sigkill_then_lab_clean_leaves_no_mount", host_sigkill_then_clean),
    ]
}

/// The decision on expectation `id`: (met, what was seen).
fn decided(run: &VmRun, id: &str) -> Option<(bool, String)> {
    run.events.iter().find_map(|e| match e {
        Event::ExpectationDecided { id: i, met, observation, .. } if i == id => {
            Some((*met, observation.as_ref().map_or(String::new(), |o| o.detail.clone())))
        }
        _ => None,
    })
}

/// Runs `variant` in the VM: met, `met` decided met, no guest fault, and teardown detached
/// the run's mounts with no problem.
fn run_variant(variant: &str, met: &[&str]) -> Result<VmRun, Failed> {
    let run = crate::vm::run_file(&repo().join("scenarios/fuse-restart.yaml"), Some(variant), |o| o)?;
    eprintln!("fuse-restart {variant}: {:?} in {:.1} s", run.report.outcome, run.took.as_secs_f64());
    run.ensure(run.report.outcome == Outcome::Met, "the variant meets its expectations")?;
    for id in met {
        run.ensure(decided(&run, id).is_some_and(|(m, _)| m), &format!("`{id}` decided met"))?;
    }
    run.ensure(!run.events.iter().any(|e| matches!(e, Event::GuestFault { .. })), "no guest fault")?;
    let teardown = run.events.iter().find_map(|e| match e {
        Event::TeardownDone { removed, problems, .. } => Some((removed.clone(), problems.clone())),
        _ => None,
    });
    let (removed, problems) = teardown.unwrap_or_default();
    run.ensure(problems.is_empty() && removed.iter().any(|r| r.contains("/mnt (fuse")), "teardown detached the FUSE mount, no problem")?;
    Ok(run)
}

fn buggy() -> Result<(), Failed> {
    let run = run_variant("buggy", &["volume-deleted", "runc-procfd-enoent", "procfd-mount-enoent"])?;
    let (_, runc) = decided(&run, "runc-procfd-enoent").unwrap_or_default();
    run.ensure(
        runc.contains("(via /proc/self/fd/") && runc.contains("no such file or directory"),
        "runc 1.1.5's procfd mount fails ENOENT",
    )?;
    let (_, root) = decided(&run, "volume-deleted").unwrap_or_default();
    run.ensure(root.contains("root /vol//deleted"), "the pod volume's root is /vol//deleted")
}

fn bad_specs() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bad.yaml");
    let yaml = "name: bad\ndescription: d\nsteps:\n  - id: d\n    background: true\n    fuse_daemon: { daemon: lab, mountpoint: /mnt }\n  - bind_mount: { source: ../x, target: t }\n  - lookup: { path: vol, via: nobody }\nexpect:\n  - id: e\n    mountinfo: { path: p, root: '(' }\n    within: 1s\n  - id: f\n    step_output: { step: d, matches: [] }\n    within: 1s\n";
    std::fs::write(&path, yaml)?;
    let out = lab().arg("check").arg(&path).output()?;
    let text = crate::support::text(&out);
    ensure(out.status.code() == Some(2), "lab check refuses the file", &out)?;
    for (line, field) in [(6, "mountpoint"), (6, "source"), (7, "source"), (8, "via"), (11, "root"), (14, "matches")] {
        ensure(text.contains(&format!("bad.yaml:{line}:")) && text.contains(field), &format!("line {line} names `{field}`"), &out)?;
    }
    Ok(())
}

/// FUSE mounts and mounts under /run/lab/mounts now, as (mount point, fstype): other
/// helpers' runs may add namespaces meanwhile, so only these are compared.
fn lab_mounts() -> Vec<(String, String)> {
    let all = lab::sys::mount::entries().unwrap_or_default();
    all.into_iter()
        .filter(|e| e.fstype.starts_with("fuse") || e.mount_point.starts_with("/run/lab/mounts"))
        .map(|e| (e.mount_point, e.fstype))
        .collect()
}

/// Daemon processes of `lab` runs: fuse2fs and the lab's own (`__lab_workload fuse`).
fn daemons() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let c = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).replace('\0', " ");
            (c.starts_with("fuse2fs ") || c.contains("__lab_workload fuse")) && c.contains("/run/lab/mounts/")
        })
        .collect()
}

fn host_runs_are_clean() -> Result<(), Failed> {
    let _g = host_lock();
    let before = lab_mounts();
    for variant in ["buggy", "daemon-killed"] {
        let out = host_lab().args(["run", "fuse-restart", "--host", "--json", "--variant", variant]).output()?;
        ensure(out.status.code() == Some(0), &format!("{variant} is met on the host kernel too"), &out)?;
        ensure(lab_mounts() == before, &format!("mounts after {variant}: {:?}, before: {before:?}", lab_mounts()), &out)?;
        let left = crate::support::gone(Duration::from_secs(2), daemons);
        ensure(left.is_empty(), &format!("daemons left after {variant}: {left:?}"), &out)?;
    }
    Ok(())
}

fn host_sigkill_then_clean() -> Result<(), Failed> {
    let _g = host_lock();
    let before = lab_mounts();
    let mut child = host_lab()
        .args(["run", "fuse-restart", "--host", "--json", "--variant", "daemon-killed"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    // Killed during the 5 s health check: the restarted daemon runs, the dead
    // mount and the pod's bind mount are in place.
    let started = lines.by_ref().map_while(Result::ok).any(|l| l.contains("\"event\":\"step_started\"") && l.contains("\"id\":\"health\""));
    std::thread::spawn(move || lines.for_each(drop));
    if !started {
        return Err("the run ended before its health check started".into());
    }
    let held = lab_mounts().len().saturating_sub(before.len());
    child.kill()?;
    child.wait()?;
    if held < 2 {
        return Err(format!("before the kill: expected the FUSE and bind mounts, saw {:?}", lab_mounts()).into());
    }
    let left = crate::support::gone(Duration::from_secs(2), daemons);
    if !left.is_empty() {
        return Err(format!("daemons outlived a SIGKILLed lab: {left:?}").into());
    }
    if lab_mounts() == before {
        return Err("a SIGKILLed run cannot detach its mounts; they must be there for lab clean".into());
    }
    let out = lab().arg("clean").output()?;
    ensure(out.status.success(), "lab clean must succeed", &out)?;
    ensure(crate::support::text(&out).contains("removed mount /run/lab/mounts/"), "lab clean detaches the run's mounts", &out)?;
    ensure(lab_mounts() == before, &format!("mounts after lab clean: {:?}, before: {before:?}", lab_mounts()), &out)
}
