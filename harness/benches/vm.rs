//! Whole runs of a scenario in the VM, per variant: how often the signature shows, wall
//! time, QEMU start to the guest agent's first event, and the host `lab` process's peak
//! memory.
//!
//! `cargo bench -p lab --bench vm` (root; builds or reuses the kernels first, outside the
//! timing). `LAB_BENCH_RUNS=10` runs per variant (default 3), `LAB_BENCH_SCENARIO`
//! (default fnhe-leak), `LAB_BENCH_VARIANTS=buggy,fixed`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One run's measurements.
struct Sample {
    code: Option<i32>,
    wall: Duration,
    boot_ms: Option<u64>,
    since_teardown_ms: Option<u64>,
    peak_rss_kib: u64,
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("vm bench: needs root; skipped");
        return;
    }
    let runs: usize = env_or("LAB_BENCH_RUNS", "3").parse().expect("LAB_BENCH_RUNS");
    let scenario = env_or("LAB_BENCH_SCENARIO", "fnhe-leak");
    let variants = env_or("LAB_BENCH_VARIANTS", "buggy,fixed");
    let lab = env!("CARGO_BIN_EXE_lab");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for variant in variants.split(',') {
        // The kernel build is not what is measured here.
        let built = Command::new(lab)
            .current_dir(&repo)
            .args(["kernel", "build", &scenario, "--variant", variant])
            .status()
            .expect("lab kernel build");
        assert!(built.success(), "kernel build for {variant} failed");
        let samples: Vec<Sample> = (0..runs).map(|_| run_once(lab, &repo, &scenario, variant)).collect();
        report(&scenario, variant, &samples);
    }
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

fn run_once(lab: &str, repo: &std::path::Path, scenario: &str, variant: &str) -> Sample {
    let started = Instant::now();
    let mut child = Command::new(lab)
        .current_dir(repo)
        .args(["run", scenario, "--variant", variant, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lab run");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_rss_kib = 0;
    let (mut boot_ms, mut since_teardown_ms) = (None, None);
    // The peak is read from VmHWM (the kernel's high-water mark) after every event line.
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines().map_while(Result::ok) {
        peak_rss_kib = peak_rss_kib.max(vm_hwm_kib(&status_path));
        let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
        match event["event"].as_str() {
            Some("vm_agent_up") => boot_ms = event["boot_ms"].as_u64(),
            Some("expectation_decided") => since_teardown_ms = event["since_anchor_ms"].as_u64(),
            _ => {}
        }
    }
    let code = child.wait().expect("wait").code();
    Sample { code, wall: started.elapsed(), boot_ms, since_teardown_ms, peak_rss_kib }
}

fn vm_hwm_kib(status: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn report(scenario: &str, variant: &str, samples: &[Sample]) {
    let met = samples.iter().filter(|s| s.code == Some(0)).count();
    let errors = samples.iter().filter(|s| s.code.is_none_or(|c| c >= 2)).count();
    let walls: Vec<f64> = samples.iter().map(|s| s.wall.as_secs_f64()).collect();
    let boots: Vec<f64> = samples.iter().filter_map(|s| s.boot_ms).map(|b| b as f64 / 1000.0).collect();
    let seen: Vec<f64> = samples.iter().filter_map(|s| s.since_teardown_ms).map(|b| b as f64 / 1000.0).collect();
    let rss = samples.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0);
    println!("{scenario} --variant {variant}: {} runs", samples.len());
    println!("  expectation met: {met}/{} (errors: {errors})", samples.len());
    println!("  wall s:              {}", stats(&walls));
    println!("  QEMU -> agent s:     {}", stats(&boots));
    println!("  signature after s:   {}", stats(&seen));
    println!("  host lab peak RSS:   {:.1} MiB", rss as f64 / 1024.0);
    for (i, s) in samples.iter().enumerate() {
        println!("    run {}: exit {:?}, {:.1} s", i + 1, s.code, s.wall.as_secs_f64());
    }
}

fn stats(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mean = s.iter().sum::<f64>() / s.len() as f64;
    format!("min {:.2}  median {:.2}  mean {:.2}  max {:.2}", s[0], s[s.len() / 2], mean, s[s.len() - 1])
}
