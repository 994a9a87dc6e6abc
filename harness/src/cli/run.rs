//! `lab run`: rebuild a scenario and report whether its expectations were met.

use anyhow::anyhow;
use tokio_util::sync::CancellationToken;

use super::{exit, scenario_arg, Failure};
use lab::engine::{self, RunOptions};
use lab::event::EventSink;
use lab::render::{self, Format};
use lab::vm::backend::VmOptions;

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
    #[arg(long)]
    pub host: bool,
    /// Print events as JSON lines instead of a timeline.
    #[arg(long)]
    pub json: bool,
    /// Boot this bzImage instead of building the variant's kernel (VM backend).
    #[arg(long, value_name = "BZIMAGE", conflicts_with = "host")]
    pub kernel: Option<std::path::PathBuf>,
}

pub fn main(args: Args) -> Result<u8, Failure> {
    let (loaded, variant) = scenario_arg::load_variant(&args.scenario, args.variant.as_deref())?;
    need_root("run")?;
    let format = if args.json { Format::Json } else { Format::Timeline };
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::infra)?;
    let report = runtime.block_on(async {
        let (events, rx) = EventSink::channel();
        let renderer = tokio::spawn(render::render(format, rx, |_| {}));
        // The VM backend enforces the deadline itself, from the guest's first event, so a
        // kernel build before it does not eat into the scenario's time.
        let (stop, signals) = stop_on_signals(args.host.then_some(loaded.scenario.deadline), events.clone());
        let opts = RunOptions { backend: if args.host { "host".into() } else { "vm".into() } };
        let report: lab::engine::RunReport = if args.host {
            if !variant.patches.is_empty() {
                events.note(
                    lab::event::Level::Info,
                    format!(
                        "--host: running on the host kernel {} as it is; variant `{}`'s patches are not applied",
                        engine::kernel_release(),
                        variant.name
                    ),
                );
            }
            engine::run(&loaded.scenario, &variant, &opts, events, stop).await
        } else {
            let vm = VmOptions { kernel: args.kernel.clone(), ..VmOptions::default() };
            lab::vm::backend::run(&loaded, &variant, &vm, events, stop).await
        };
        // The signal watcher holds a sink: end it, so the renderer sees the last event.
        signals.abort();
        let _ = signals.await;
        let _ = renderer.await;
        Ok::<_, Failure>(report)
    })?;
    Ok(report.outcome.exit_code() as u8)
}

/// A token cancelled on SIGINT, SIGTERM or when `deadline` passes, so that the run tears
/// down whatever ends it.
pub fn stop_on_signals(deadline: Option<std::time::Duration>, events: EventSink) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    use tokio::signal::unix::{signal, SignalKind};
    let token = CancellationToken::new();
    let t = token.clone();
    let watcher = tokio::spawn(async move {
        let (mut int, mut term) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(i), Ok(t)) => (i, t),
            _ => return,
        };
        let why = tokio::select! {
            _ = int.recv() => "interrupted by SIGINT (Ctrl-C): tearing down".to_string(),
            _ = term.recv() => "interrupted by SIGTERM: tearing down".to_string(),
            _ = async { match deadline { Some(d) => tokio::time::sleep(d).await, None => std::future::pending().await } } => {
                format!("the scenario's deadline of {} passed: tearing down", humantime::format_duration(deadline.unwrap_or_default()))
            }
        };
        events.note(lab::event::Level::Warn, why);
        t.cancel();
    });
    (token, watcher)
}

/// Most verbs create namespaces or read /dev/kmsg: say so plainly instead of failing later.
pub fn need_root(verb: &str) -> Result<(), Failure> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Failure { code: exit::INFRA, error: anyhow!("`lab {verb}` needs root: it creates network namespaces and reads /dev/kmsg") })
    }
}
