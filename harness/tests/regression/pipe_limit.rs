//! Incident 2 (`scenarios/pipe-limit.yaml`) on the host: what a run leaves behind — no
//! pipe holder, no writer, the soft limit as it was — after a normal end and after a
//! SIGKILL of `lab` (then `lab clean`). Its variants in the 6.1 guest are the trials
//! discovered from `scenarios/` (`pipe-limit::buggy`, ...).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};

use crate::support::{ensure, host_lab, host_lock, lab, root_trial, sysctl};

const SOFT: &str = "fs.pipe-user-pages-soft";

pub fn tests() -> Vec<Trial> {
    vec![
        root_trial("pipe_limit::host_run_leaves_no_process_and_restores_the_limit", host_run_is_clean),
        root_trial("pipe_limit::host_sigkill_leaves_no_process_and_lab_clean_restores_the_limit", host_sigkill_then_clean),
    ]
}

/// `lab` workload processes now.
fn workloads() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains("__lab_workload")))
        .collect()
}

fn host_run_is_clean() -> Result<(), Failed> {
    let _g = host_lock();
    let before = sysctl(SOFT);
    let out = host_lab().args(["run", "pipe-limit", "--host", "--json", "--variant", "drain"]).output()?;
    ensure(out.status.code() == Some(0), "drain is met on the host kernel too", &out)?;
    let left = crate::support::gone(Duration::from_secs(2), workloads);
    ensure(left.is_empty(), &format!("workload processes left: {left:?}"), &out)?;
    ensure(sysctl(SOFT) == before, &format!("{SOFT} is {} but was {before}", sysctl(SOFT)), &out)
}

fn host_sigkill_then_clean() -> Result<(), Failed> {
    let _g = host_lock();
    let before = sysctl(SOFT);
    let mut child = host_lab()
        .args(["run", "pipe-limit", "--host", "--json", "--variant", "buggy"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let started = lines.by_ref().map_while(Result::ok).any(|l| l.contains("\"event\":\"step_started\"") && l.contains("\"id\":\"hung\""));
    std::thread::spawn(move || lines.for_each(drop));
    if !started {
        return Err("the run ended before its `hung` wait started".into());
    }
    let held = workloads();
    child.kill()?;
    child.wait()?;
    if held.len() < 2 || sysctl(SOFT) != "256" {
        let what: Vec<String> = held
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default()).replace('\0', " "))
            .collect();
        return Err(format!(
            "before the kill: expected the pipe holder and the blocked export ({held:?}: {what:?}) and {SOFT}=256 ({})",
            sysctl(SOFT)
        )
        .into());
    }
    let left = crate::support::gone(Duration::from_secs(2), workloads);
    if !left.is_empty() {
        return Err(format!("workloads outlived a SIGKILLed lab: {left:?}").into());
    }
    let out = lab().arg("clean").output()?;
    ensure(out.status.success(), "lab clean must succeed", &out)?;
    ensure(crate::support::text(&out).contains(&format!("sysctl {SOFT} restored to {before}")), "lab clean restores the soft limit", &out)?;
    ensure(sysctl(SOFT) == before, &format!("{SOFT} is {} but was {before}", sysctl(SOFT)), &out)
}
