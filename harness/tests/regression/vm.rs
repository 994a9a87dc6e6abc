//! The VM backend against real kernels booted under QEMU: a kernel that panics at boot, a
//! run that outlives its deadline, and a short run carried out inside the guest.
//!
//! The kernel: `$LAB_TEST_KERNEL` (a bzImage), else the base-config build from the kernel
//! cache (built on first use, ~6 min on 2 cores). Without either (or without root) the
//! trials fail with the reason, unless explicitly skipped (`support::gated`). The guest's init is the `lab` binary cargo built for this
//! test run, so its `main` must hand over to `lab::vm::guest::guest_main` (see `vm::guest`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};
use tokio_util::sync::CancellationToken;

use lab::backend::{self, Backend};
use lab::engine::RunReport;
use lab::event::{Event, EventSink, GuestFault, Outcome};
use lab::vm::backend::VmOptions;

pub fn tests() -> Vec<Trial> {
    vec![
        vm_trial("vm::kernel_panic_at_boot_is_reported_within_seconds", panic_at_boot),
        vm_trial("vm::hang_is_stopped_at_the_deadline", hang_at_deadline),
        vm_trial("vm::short_scenario_runs_to_a_verdict_in_the_guest", short_run),
    ]
}

/// A trial that boots a kernel: fails with the reason where none can be had, unless
/// explicitly skipped (see [`crate::support::gated`]).
pub fn vm_trial(name: &str, f: fn() -> Result<(), Failed>) -> Trial {
    crate::support::gated(name, unavailable(), f)
}

/// Why no kernel can be booted here, decided without building anything.
pub fn unavailable() -> Option<String> {
    if !crate::support::is_root() {
        return Some("needs root".into());
    }
    if which("qemu-system-x86_64").is_none() {
        return Some("needs qemu-system-x86_64".into());
    }
    if let Some(k) = std::env::var_os("LAB_TEST_KERNEL") {
        return (!Path::new(&k).is_file()).then(|| format!("LAB_TEST_KERNEL={} is not a file", Path::new(&k).display()));
    }
    let source = Path::new("/usr/src/linux-source-6.1.tar.xz");
    if !source.is_file() {
        return Some("needs LAB_TEST_KERNEL or linux-source-6.1".into());
    }
    None
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// The kernel every trial boots, built (or found in the cache) once.
pub fn test_kernel() -> Result<PathBuf, Failed> {
    static KERNEL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            if let Some(k) = std::env::var_os("LAB_TEST_KERNEL") {
                return Ok(PathBuf::from(k));
            }
            // The fnhe-leak `fixed` kernel: the regression suite needs it anyway, so these
            // generic trials cost no build of their own.
            let req = crate::fnhe::kernel_request("fixed").map_err(|e| e.to_string())?;
            lab::vm::kernel::ensure_built(&req, &|_| {}).map(|k| k.bzimage).map_err(|e| format!("building the test kernel failed: {e}"))
        })
        .clone()
        .map_err(Failed::from)
}

/// One VM at a time: two cores, TCG, and timing assertions.
pub fn vm_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A finished VM run: its report, every event in order, the run directory, wall time.
pub struct Run {
    pub report: RunReport,
    pub events: Vec<Event>,
    pub dir: PathBuf,
    pub took: Duration,
    _runs: tempfile::TempDir,
}

impl Run {
    fn faults(&self) -> Vec<(GuestFault, &str)> {
        self.events
            .iter()
            .filter_map(|e| if let Event::GuestFault { fault, message, .. } = e { Some((*fault, message.as_str())) } else { None })
            .collect()
    }

    fn boot_ms(&self) -> Option<u64> {
        self.events.iter().find_map(|e| if let Event::VmAgentUp { boot_ms } = e { Some(*boot_ms) } else { None })
    }

    /// Fails with the report, the events and the console tail unless `cond` holds.
    pub fn ensure(&self, cond: bool, what: &str) -> Result<(), Failed> {
        if cond {
            return Ok(());
        }
        let events: Vec<String> = self.events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        let console = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let tail: Vec<&str> = console.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        Err(format!(
            "{what}\nreport: {:?}: {} {:?}\ntook {:?}\n--- events ---\n{}\n--- console tail ({}) ---\n{}",
            self.report.outcome,
            self.report.summary,
            self.report.notes,
            self.took,
            events.join("\n"),
            self.dir.display(),
            tail.join("\n")
        )
        .into())
    }
}

fn run_vm(scenario: &str) -> Result<Run, Failed> {
    run_vm_with(scenario, |o| o)
}

/// A VM run of `tests/data/<scenario>` with the test kernel and `tune` applied to the options.
pub fn run_vm_with(scenario: &str, tune: impl FnOnce(VmOptions) -> VmOptions) -> Result<Run, Failed> {
    let kernel = test_kernel()?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(scenario);
    run_file(&path, None, |o| tune(VmOptions { kernel: Some(kernel), ..o }))
}

/// A VM run of the scenario at `path` (as `variant`, else its default) through the library's
/// one entry point: this test run's `lab` as the guest's init, a run directory of its own
/// (under `$LAB_RUNS` when set, kept), then `tune`. Checks that the verdict came last and no QEMU is left.
pub fn run_file(path: &Path, variant: Option<&str>, tune: impl FnOnce(VmOptions) -> VmOptions) -> Result<Run, Failed> {
    let _g = vm_lock();
    let loaded = lab::scenario::load(path).map_err(|e| e.to_string())?;
    let variant = lab::scenario::Variant::resolve(&loaded.scenario, variant).map_err(|e| e.to_string())?;
    let runs = tempfile::tempdir()?;
    // `LAB_RUNS` set (CI uploads it): the run directory is kept there; else a temporary one.
    let runs_dir = std::env::var_os("LAB_RUNS").map_or_else(|| runs.path().to_path_buf(), PathBuf::from);
    let opts =
        tune(VmOptions { lab_binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_lab"))), runs_dir: Some(runs_dir), ..VmOptions::default() });
    let rt = tokio::runtime::Runtime::new()?;
    let t0 = Instant::now();
    let (report, events) = rt.block_on(async {
        let (sink, mut rx) = EventSink::channel();
        let report = backend::run(&loaded, &variant, &Backend::Vm(opts), sink, CancellationToken::new()).await;
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        (report, events)
    });
    let took = t0.elapsed();
    let dir =
        events.iter().find_map(|e| if let Event::Artifacts { dir } = e { Some(PathBuf::from(dir)) } else { None }).unwrap_or_default();
    let run = Run { report, events, dir, took, _runs: runs };
    run.ensure(matches!(run.events.last(), Some(Event::Verdict { .. })), "the last event must be the verdict")?;
    run.ensure(qemu_processes(&run.dir).is_empty(), &format!("QEMU still running: {:?}", qemu_processes(&run.dir)))?;
    Ok(run)
}

/// PIDs of QEMU processes whose command line mentions `dir` (the run's agent socket).
fn qemu_processes(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.starts_with("qemu-system") && cmd.contains(&needle)
        })
        .collect()
}

fn panic_at_boot() -> Result<(), Failed> {
    let run = run_vm("vm-panic.yaml")?;
    run.ensure(run.report.outcome == Outcome::Error, "a panic is an error")?;
    // 6.1 says "Requested init /nonexistent failed (error -2)", older kernels "No working init found".
    run.ensure(
        run.report.summary.contains("the guest kernel panicked: Kernel panic - not syncing") && run.report.summary.contains("init"),
        "the summary names the panic and its message",
    )?;
    run.ensure(
        run.faults().iter().any(|(f, m)| *f == GuestFault::Panic && m.starts_with("Kernel panic - not syncing")),
        "a GuestFault panic event",
    )?;
    run.ensure(run.boot_ms().is_none(), "no agent in a guest without init")?;
    // A fault before the agent is booted once more, to tell a flaky boot from a broken kernel.
    run.ensure(
        run.report.notes.iter().any(|n| n.starts_with("the first boot failed the same way")),
        "the second boot is said to fail the same way",
    )?;
    run.ensure(run.dir.join("first-boot-console.log").is_file(), "the first boot's console is kept")?;
    // TCG boots to init in ~2.5 s, twice here; the fault must not wait for a boot timeout (60 s).
    run.ensure(run.took < Duration::from_secs(30), "reported within seconds")?;
    let console = std::fs::read_to_string(run.dir.join("console.log"))?;
    run.ensure(console.contains("Kernel panic - not syncing"), "console.log holds the panic")
}

fn hang_at_deadline() -> Result<(), Failed> {
    let run = run_vm("vm-hang.yaml")?;
    run.ensure(run.report.outcome == Outcome::Error, "a hang is an error")?;
    run.ensure(
        run.faults().iter().any(|(f, m)| *f == GuestFault::Hang && m.contains("deadline of 8s")),
        "a GuestFault hang naming the deadline",
    )?;
    let started = run.events.iter().any(|e| matches!(e, Event::StepStarted { id: Some(id), .. } if id == "forever"));
    run.ensure(started, "the guest's step_started was streamed before the hang")?;
    let boot = Duration::from_millis(run.boot_ms().unwrap_or(0));
    // Stopped at the deadline: not before it, and not long after.
    run.ensure(run.took >= boot + Duration::from_secs(8), "not stopped before the deadline")?;
    run.ensure(run.took < boot + Duration::from_secs(8 + 10), "stopped soon after the deadline")
}

fn short_run() -> Result<(), Failed> {
    let run = run_vm("vm-short.yaml")?;
    run.ensure(run.report.outcome == Outcome::Met, "the short scenario meets its expectation in the guest")?;
    let has = |f: &dyn Fn(&Event) -> bool| run.events.iter().any(f);
    run.ensure(has(&|e| matches!(e, Event::VmStarting { .. })), "vm_starting")?;
    run.ensure(has(&|e| matches!(e, Event::RunStarted { backend, .. } if backend == "vm")), "the guest's run_started, backend vm")?;
    run.ensure(has(&|e| matches!(e, Event::StepFinished { id: Some(id), ok: true, .. } if id == "pause")), "the guest's step_finished")?;
    run.ensure(
        has(&|e| matches!(e, Event::ExpectationDecided { id, met: true, .. } if id == "no-leak")),
        "the guest's expectation_decided",
    )?;
    run.ensure(run.faults().is_empty(), "no guest fault")?;
    let kinds: Vec<&str> = ["console.log", "kmsg.log", "events.jsonl", "verdict.json", "kernel.config", "patches.txt", "qemu.log"]
        .into_iter()
        .filter(|f| !run.dir.join(f).is_file())
        .collect();
    run.ensure(kinds.is_empty(), &format!("artifacts missing: {kinds:?}"))?;
    let jsonl = std::fs::read_to_string(run.dir.join("events.jsonl"))?;
    run.ensure(jsonl.lines().count() == run.events.len(), "events.jsonl holds every event")?;
    // The whole kernel log: the debug-level line (priority 15 = facility user, level 7) is
    // there, the console (loglevel) never printed it, and boot records are there too.
    let kmsg = std::fs::read_to_string(run.dir.join("kmsg.log"))?;
    let console = std::fs::read_to_string(run.dir.join("console.log"))?;
    let debug = kmsg.lines().find(|l| l.ends_with("] lab-test: a debug-level line"));
    run.ensure(debug.is_some_and(|l| l.starts_with("<15>[")), &format!("kmsg.log holds the debug line at level 7: {debug:?}"))?;
    run.ensure(!console.contains("lab-test: a debug-level line"), "the console did not print it (below loglevel)")?;
    run.ensure(kmsg.lines().next().is_some_and(|l| l.contains("Linux version")), "kmsg.log starts at boot")?;
    eprintln!("vm short run: agent up after {:?} ms, whole run {:?}", run.boot_ms(), run.took);
    Ok(())
}
