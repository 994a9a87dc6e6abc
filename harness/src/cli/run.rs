//! `lab run`: rebuild a scenario and report whether its expectations were met.

use anyhow::anyhow;

use super::{exit, report_args::ReportArgs, scenario_arg, signals, vm_args::VmArgs, Failure};
use lab::backend::{self, Backend};
use lab::event::{Event, EventSink};
use lab::render::report::{of_trials, TrialRecord};
use lab::render::{self, Format};

/// Run a scenario: build its topology, drive its steps, check its expectations.
///
/// By default the scenario runs inside a QEMU-booted kernel built for its variant;
/// `--host` runs it on the running kernel instead (faster, but it is not the kernel the
/// scenario is about).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario name (in scenarios/) or path to a YAML file.
    pub scenario: String,
    /// Variant to run (for example `buggy` or `fixed`); default: the scenario's default.
    #[arg(long)]
    pub variant: Option<String>,
    /// Run on the running kernel instead of a VM.
    #[arg(long, conflicts_with = "bzimage")]
    pub host: bool,
    /// Print events as JSON lines instead of a timeline.
    #[arg(long)]
    pub json: bool,
    /// Show details on the timeline (the VM boot's phases).
    #[arg(short, long, conflicts_with = "json")]
    pub verbose: bool,
    #[command(flatten)]
    pub vm: VmArgs,
    #[command(flatten)]
    pub reports: ReportArgs,
}

pub fn main(args: Args) -> Result<u8, Failure> {
    let (loaded, variant) = scenario_arg::load_variant(&args.scenario, args.variant.as_deref(), &args.vm.build)?;
    need_root("run")?;
    let format = match (args.json, args.verbose) {
        (true, _) => Format::Json,
        (false, true) => Format::Verbose,
        (false, false) => Format::Timeline,
    };
    let backend = if args.host { Backend::Host } else { Backend::Vm(args.vm.options()) };
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::infra)?;
    let (report, events) = runtime.block_on(async {
        let (events, rx) = EventSink::channel();
        let renderer = tokio::spawn(render::render(format, rx, |_| {}));
        let (stop, signals) = signals::stop_on_signals(events.clone());
        let report = backend::run(&loaded, &variant, &backend, events, stop).await;
        // The signal watcher holds a sink: end it, so the renderer sees the last event.
        signals.abort();
        let _ = signals.await;
        let events = renderer.await.unwrap_or_default();
        (report, events)
    });
    write_reports(&loaded.scenario.name, &variant.name, &events, &args.reports)?;
    Ok(report.outcome.exit_code() as u8)
}

/// The file reports of this run: into its run directory (a VM run has one) and where the
/// flags say.
fn write_reports(scenario: &str, variant: &str, events: &[Event], args: &ReportArgs) -> Result<(), Failure> {
    let trial = TrialRecord::from_events(scenario, variant, 1, events);
    let dir = trial.dir.clone();
    render::files::write(&of_trials(scenario, vec![trial]), dir.as_deref(), &args.outputs()).map_err(Failure::infra)?;
    Ok(())
}

/// Most verbs create namespaces or read /dev/kmsg: say so plainly instead of failing later.
pub fn need_root(verb: &str) -> Result<(), Failure> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Failure { code: exit::INFRA, error: anyhow!("`lab {verb}` needs root: it creates network namespaces and reads /dev/kmsg") })
    }
}
