//! The one way into a run, shared by `lab run`, the regression suite and (later) `lab
//! verify`: a scenario, a variant, where to run it, an event sink and a stop signal.

use tokio_util::sync::CancellationToken;

use crate::engine::{self, RunOptions, RunReport};
use crate::event::{EventSink, Level};
use crate::scenario::{Loaded, Variant};
use crate::vm::backend::VmOptions;

/// Where a scenario runs.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The running kernel: quick, but not the kernel the scenario is about.
    Host,
    /// A QEMU-booted kernel built for the variant.
    Vm(VmOptions),
}

/// Runs `loaded` as `variant` on `backend`. Events go to `events`, the last one being the
/// verdict; `stop` (Ctrl-C) ends the run early with everything torn down. The scenario's
/// deadline is enforced here: on the host from the start, in a VM from the guest's first
/// event (so a kernel build does not eat into it).
pub async fn run(loaded: &Loaded, variant: &Variant, backend: &Backend, events: EventSink, stop: CancellationToken) -> RunReport {
    if let Err(e) = fetch_runtimes(&loaded.scenario.steps, variant, &events).await {
        let report = RunReport::error(format!("the runtime a container step names cannot be had: {e}"));
        events.send(crate::event::Event::Verdict { outcome: report.outcome, summary: report.summary.clone(), notes: Vec::new() });
        return report;
    }
    match backend {
        Backend::Host => {
            if !variant.patches.is_empty() {
                events.note(
                    Level::Info,
                    format!(
                        "--host: running on the host kernel {} as it is; variant `{}`'s patches are not applied",
                        engine::kernel_release(),
                        variant.name
                    ),
                );
            }
            let run_stop = stop.child_token();
            let deadline = loaded.scenario.deadline;
            let timer = tokio::spawn({
                let (run_stop, events) = (run_stop.clone(), events.clone());
                async move {
                    tokio::time::sleep(deadline).await;
                    events.note(
                        Level::Warn,
                        format!("the scenario's deadline of {} passed: tearing down", humantime::format_duration(deadline)),
                    );
                    run_stop.cancel();
                }
            });
            let opts = RunOptions { backend: "host".into(), leak_scan: false };
            let report = engine::run(&loaded.scenario, variant, &opts, events, run_stop).await;
            timer.abort();
            report
        }
        Backend::Vm(opts) => crate::vm::backend::run(loaded, variant, opts, events, stop).await,
    }
}

/// Fetches, on the host and before anything boots, the runtimes of another version that
/// the variant's `container` steps name (a download on first use, then the cache).
async fn fetch_runtimes(
    steps: &[crate::scenario::StepEntry],
    variant: &crate::scenario::Variant,
    events: &EventSink,
) -> Result<(), crate::runtimes::RuntimeError> {
    for entry in steps.iter().filter(|e| e.runs_in(&variant.name, variant.kernel)) {
        match &entry.kind {
            crate::steps::StepKind::Container(c) if c.version.is_some() => {
                let (runtime, version) = (c.runtime.clone(), c.version.clone().unwrap_or_default());
                let started = std::time::Instant::now();
                let cache = crate::runtimes::cache_dir();
                let got = tokio::task::spawn_blocking(move || crate::runtimes::fetch(&runtime, &version, &cache)).await;
                let resolved = got.unwrap_or_else(|e| panic!("runtime fetch panicked: {e}"))?;
                events.note(Level::Info, format!("runtime {resolved}, ready in {:.1} s", started.elapsed().as_secs_f64()));
            }
            crate::steps::StepKind::Concurrent(c) => Box::pin(fetch_runtimes(&c.steps, variant, events)).await?,
            _ => {}
        }
    }
    Ok(())
}
