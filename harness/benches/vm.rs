//! Whole runs of a scenario in the VM, per variant: time to verdict (median and spread),
//! the boot's phases, how often the signature shows, how many runs ended their looping
//! steps on evidence (`until:` seen) rather than at the cap, the time from that evidence to
//! the signature, the host `lab` process's peak memory, and the host's load.
//!
//! `cargo bench -p lab --bench vm` (root; builds or reuses the kernels first, outside the
//! timing). `LAB_BENCH_RUNS=10` runs per variant (default 3), `LAB_BENCH_SCENARIO`
//! (default fnhe-leak), `LAB_BENCH_VARIANTS=buggy,fixed`, `LAB_BENCH_SIGNATURE` (the
//! expectation id whose observation is the signature, default leak-reported). `LAB_MACHINE=pc` measures the
//! old boot path for comparison.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The expectation whose observation is the fault signature (`LAB_BENCH_SIGNATURE`).
static SIGNATURE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| env_or("LAB_BENCH_SIGNATURE", "leak-reported"));

/// One run's measurements.
#[derive(Default)]
struct Sample {
    code: Option<i32>,
    wall: Duration,
    boot_ms: Option<u64>,
    /// `vm_boot_phases`: QEMU+firmware, kernel to init, agent start, first event, total.
    phases: Option<[u64; 5]>,
    /// The signature expectation carried an observation.
    signature: bool,
    /// Run clock of the signature's observation.
    signature_at_ms: Option<u64>,
    /// A step with `until:` ended because its condition was seen (`Some(false)`: at its cap).
    until_seen: Option<bool>,
    until_at_ms: Option<u64>,
    peak_rss_kib: u64,
    /// 1-minute load average before and after.
    load: (f64, f64),
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
            .stdout(Stdio::null())
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
    let load_before = loadavg();
    let started = Instant::now();
    let mut child = Command::new(lab)
        .current_dir(repo)
        .args(["run", scenario, "--variant", variant, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lab run");
    let status_path = format!("/proc/{}/status", child.id());
    let mut s = Sample::default();
    // The peak is read from VmHWM (the kernel's high-water mark) after every event line.
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines().map_while(Result::ok) {
        s.peak_rss_kib = s.peak_rss_kib.max(vm_hwm_kib(&status_path));
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            take_event(&mut s, &event);
        }
    }
    s.code = child.wait().expect("wait").code();
    s.wall = started.elapsed();
    s.load = (load_before, loadavg());
    s
}

/// What one event line says about the run.
fn take_event(s: &mut Sample, event: &Value) {
    match event["event"].as_str() {
        Some("vm_agent_up") => s.boot_ms = event["boot_ms"].as_u64(),
        Some("vm_boot_phases") => {
            let f = |k: &str| event[k].as_u64().unwrap_or(0);
            s.phases = Some([f("qemu_firmware_ms"), f("kernel_ms"), f("agent_ms"), f("first_event_ms"), f("total_ms")]);
        }
        Some("step_finished") => {
            let c = &event["counters"];
            if let Some(seen) = c["until_seen"].as_f64() {
                s.until_seen = Some(seen > 0.5);
                s.until_at_ms = c["until_at_ms"].as_f64().map(|v| v as u64);
            }
        }
        Some("expectation_decided") if event["id"].as_str() == Some(SIGNATURE.as_str()) => {
            if let Some(at) = event["observation"]["at_ms"].as_u64() {
                s.signature = true;
                s.signature_at_ms = Some(at);
            }
        }
        _ => {}
    }
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next()?.parse().ok()).unwrap_or(f64::NAN)
}

fn vm_hwm_kib(status: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn report(scenario: &str, variant: &str, samples: &[Sample]) {
    let n = samples.len();
    let met = samples.iter().filter(|s| s.code == Some(0)).count();
    let errors = samples.iter().filter(|s| s.code.is_none_or(|c| c >= 2)).count();
    let secs = |v: Vec<u64>| v.into_iter().map(|ms| ms as f64 / 1000.0).collect::<Vec<_>>();
    let phase = |i: usize| secs(samples.iter().filter_map(|s| s.phases.map(|p| p[i])).collect());
    let marker_to_signature = secs(samples.iter().filter_map(|s| Some(s.signature_at_ms?.saturating_sub(s.until_at_ms?))).collect());
    let by_evidence = samples.iter().filter(|s| s.until_seen == Some(true)).count();
    let by_cap = samples.iter().filter(|s| s.until_seen == Some(false)).count();
    println!("{scenario} --variant {variant}: {n} runs");
    println!("  expectation met: {met}/{n} (errors: {errors}); signature seen: {}/{n}", samples.iter().filter(|s| s.signature).count());
    println!("  looping steps ended by evidence (until: seen): {by_evidence}/{n}, at the cap: {by_cap}/{n}");
    println!("  time to verdict s:   {}", stats(&samples.iter().map(|s| s.wall.as_secs_f64()).collect::<Vec<_>>()));
    println!("  QEMU -> agent s:     {}", stats(&secs(samples.iter().filter_map(|s| s.boot_ms).collect())));
    for (i, name) in ["QEMU+firmware", "kernel to init", "agent start", "first event", "boot total"].iter().enumerate() {
        println!("    {name:<16} s: {}", stats(&phase(i)));
    }
    println!("  race marker -> signature s: {}", stats(&marker_to_signature));
    println!("  host lab peak RSS:   {:.1} MiB", samples.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0);
    for (i, s) in samples.iter().enumerate() {
        println!(
            "    run {}: exit {:?}, {:.1} s, until {:?} at {:?} ms, signature at {:?} ms, load {:.1} -> {:.1}",
            i + 1,
            s.code,
            s.wall.as_secs_f64(),
            s.until_seen,
            s.until_at_ms,
            s.signature_at_ms,
            s.load.0,
            s.load.1
        );
    }
}

/// min, quartiles, median, max: the spread as well as the middle.
fn stats(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let q = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize];
    format!("median {:.2}  (min {:.2}  q1 {:.2}  q3 {:.2}  max {:.2}, n={})", q(0.5), s[0], q(0.25), q(0.75), s[s.len() - 1], s.len())
}
