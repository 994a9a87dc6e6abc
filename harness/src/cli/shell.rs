//! `lab shell`: a shell inside the scenario's kernel with its topology built, for the
//! person debugging.

use super::{scenario_arg, vm_args::VmArgs, Failure};
use lab::event::EventSink;
use lab::render::{self, Format};

/// Boot the scenario's kernel (as `lab run` would), build its topology and open an
/// interactive shell on the guest console. `exit` powers the guest off; Ctrl-A X quits QEMU.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario name (in scenarios/) or path to a YAML file.
    pub scenario: String,
    /// Variant whose kernel to boot; default: the scenario's default.
    #[arg(long)]
    pub variant: Option<String>,
    #[command(flatten)]
    pub vm: VmArgs,
}

pub fn main(args: Args) -> Result<u8, Failure> {
    let (loaded, variant) = scenario_arg::load_variant(&args.scenario, args.variant.as_deref(), &args.vm.build)?;
    super::run::need_root("shell")?;
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::infra)?;
    runtime.block_on(async {
        let (events, rx) = EventSink::channel();
        let renderer = tokio::spawn(render::render(Format::Timeline, rx, |_| {}));
        let result =
            lab::vm::backend::shell(&loaded, &variant, &args.vm.options(), events, tokio_util::sync::CancellationToken::new()).await;
        let _ = renderer.await;
        result.map_err(|e| Failure { code: e.outcome().exit_code() as u8, error: e.into() })
    })?;
    Ok(super::exit::MET)
}
