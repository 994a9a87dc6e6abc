//! Incident 2 (`scenarios/pipe-limit.yaml`): every variant in the 6.1 guest through the
//! library's one entry point, and on the host what a run leaves behind — no pipe holder, no
//! writer, the soft limit as it was — after a normal end and after a SIGKILL of `lab` (then
//! `lab clean`).
//!
//! The VM trials boot the base kernel with no patches (built, or found in the kernel cache:
//! the same object tree as every other scenario, so ~15 s after the first cold build).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

use lab::event::{Event, Outcome};

use crate::support::{ensure, host_lock, lab, repo, root_trial, sysctl};
use crate::vm::Run as VmRun;

const SOFT: &str = "fs.pipe-user-pages-soft";

pub fn tests() -> Vec<Trial> {
    let vm = |name: &str, f: fn() -> Result<(), Failed>| {
        let t = Trial::test(name, f);
        match crate::vm::unavailable() {
            Some(why) => t.with_ignored_flag(true).with_kind(why),
            None => t,
        }
    };
    vec![
        vm("pipe_limit::buggy_writer_blocks_in_pipe_write", buggy),
        vm("pipe_limit::fixed_completes_and_runc_starts_a_container", fixed),
        vm("pipe_limit::raised_limit_gives_a_full_size_pipe", raised_limit),
        vm("pipe_limit::raise_after_hang_stays_stuck_until_drained", raise_after_hang),
        root_trial("pipe_limit::host_run_leaves_no_process_and_restores_the_limit", host_run_is_clean),
        root_trial("pipe_limit::host_sigkill_leaves_no_process_and_lab_clean_restores_the_limit", host_sigkill_then_clean),
    ]
}

/// What the pipe-limit trials read from a finished VM run.
trait VmRunExt {
    fn decided(&self, id: &str) -> Option<(bool, String)>;
    fn step_ok(&self, id: &str) -> Option<String>;
    fn common(&self, ids: &[&str]) -> Result<(), Failed>;
}

impl VmRunExt for VmRun {
    /// The decision on expectation `id`: (met, what was seen).
    fn decided(&self, id: &str) -> Option<(bool, String)> {
        self.events.iter().find_map(|e| match e {
            Event::ExpectationDecided { id: i, met, observation, .. } if i == id => {
                Some((*met, observation.as_ref().map_or(String::new(), |o| o.detail.clone())))
            }
            _ => None,
        })
    }

    /// The summary of step `id` if it finished well.
    fn step_ok(&self, id: &str) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            Event::StepFinished { id: Some(i), ok: true, summary, .. } if i == id => Some(summary.clone()),
            _ => None,
        })
    }

    /// Met, every expectation listed met, no guest fault, and the pressure was real.
    fn common(&self, met: &[&str]) -> Result<(), Failed> {
        self.ensure(self.report.outcome == Outcome::Met, "the variant meets its expectations")?;
        for id in met {
            self.ensure(self.decided(id).is_some_and(|(m, _)| m), &format!("`{id}` decided met"))?;
        }
        self.ensure(!self.events.iter().any(|e| matches!(e, Event::GuestFault { .. })), "no guest fault")?;
        let pressure = self.step_ok("pressure").unwrap_or_default();
        self.ensure(pressure.contains("the last 8192 bytes"), "the pressured account's last pipe is 8192 bytes")
    }
}

fn run_variant(variant: &str) -> Result<VmRun, Failed> {
    let run = crate::vm::run_file(&repo().join("scenarios/pipe-limit.yaml"), Some(variant), |o| o)?;
    eprintln!("pipe-limit {variant}: {:?} in {:.1} s", run.report.outcome, run.took.as_secs_f64());
    Ok(run)
}

fn buggy() -> Result<(), Failed> {
    let run = run_variant("buggy")?;
    run.common(&["pressure-on", "bootstrap-pipe-shrunk", "writer-blocked", "bootstrap-completes"])?;
    let (_, seen) = run.decided("writer-blocked").unwrap_or_default();
    run.ensure(seen.contains("in state S, wchan pipe_write"), "the writer sleeps in pipe_write (6.1)")?;
    let (_, pipe) = run.decided("bootstrap-pipe-shrunk").unwrap_or_default();
    run.ensure(pipe.contains("is 8192 bytes"), "the bootstrap pipe is 8192 bytes")?;
    let stopped = run.step_ok("bootstrap").unwrap_or_default();
    run.ensure(stopped.contains("8192 bytes waiting in the pipe; killed"), "stopped with the pipe full, the writer killed")
}

fn fixed() -> Result<(), Failed> {
    let run = run_variant("fixed")?;
    run.common(&["pressure-on", "bootstrap-pipe-shrunk", "writer-blocked", "bootstrap-completes"])?;
    let runc = run.step_ok("runc").unwrap_or_default();
    run.ensure(runc.contains("runc 1.1.5") && runc.contains("exited 0"), "Debian's runc starts a container as the pressured account")?;
    let boot = run.step_ok("bootstrap").unwrap_or_default();
    run.ensure(
        boot.contains("pipe 8192 bytes") && boot.contains("read 65536 of 65536"),
        "the concurrent reader gets it all through a shrunk pipe",
    )
}

fn raised_limit() -> Result<(), Failed> {
    let run = run_variant("raised-limit")?;
    run.common(&["pressure-on", "bootstrap-pipe-full", "bootstrap-pipe-shrunk", "writer-blocked", "bootstrap-completes"])?;
    let (_, pipe) = run.decided("bootstrap-pipe-full").unwrap_or_default();
    run.ensure(pipe.contains("is 65536 bytes"), "with the limit raised the bootstrap pipe is full size")
}

fn raise_after_hang() -> Result<(), Failed> {
    let run = run_variant("raise-after-hang")?;
    run.common(&["writer-blocked", "stuck-after-raise", "freed-by-drain", "bootstrap-completes"])?;
    let drain = run.step_ok("drain").unwrap_or_default();
    run.ensure(drain.contains("its writer exited 0"), "the drain frees the writer")
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

/// Waits up to `within` for every workload process to be gone.
fn workloads_gone(within: Duration) -> Vec<i32> {
    let until = Instant::now() + within;
    loop {
        let left = workloads();
        if left.is_empty() || Instant::now() >= until {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `lab` for a `--host` run: `$LAB_ACCEL` (set for the VM trials) conflicts with `--host`.
fn host_lab() -> std::process::Command {
    let mut c = lab();
    c.env_remove("LAB_ACCEL");
    c
}

fn host_run_is_clean() -> Result<(), Failed> {
    let _g = host_lock();
    let before = sysctl(SOFT);
    let out = host_lab().args(["run", "pipe-limit", "--host", "--json", "--variant", "raise-after-hang"]).output()?;
    ensure(out.status.code() == Some(0), "raise-after-hang is met on the host kernel too", &out)?;
    let left = workloads_gone(Duration::from_secs(2));
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
    if held.len() < 3 || sysctl(SOFT) != "256" {
        let what: Vec<String> = held
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default()).replace('\0', " "))
            .collect();
        return Err(
            format!("before the kill: expected holder, parent and writer ({held:?}: {what:?}) and {SOFT}=256 ({})", sysctl(SOFT)).into()
        );
    }
    let left = workloads_gone(Duration::from_secs(2));
    if !left.is_empty() {
        return Err(format!("workloads outlived a SIGKILLed lab: {left:?}").into());
    }
    let out = lab().arg("clean").output()?;
    ensure(out.status.success(), "lab clean must succeed", &out)?;
    ensure(crate::support::text(&out).contains(&format!("sysctl {SOFT} restored to {before}")), "lab clean restores the soft limit", &out)?;
    ensure(sysctl(SOFT) == before, &format!("{SOFT} is {} but was {before}", sysctl(SOFT)), &out)
}
