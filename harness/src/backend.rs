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
