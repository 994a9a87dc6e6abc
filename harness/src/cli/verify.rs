//! `lab verify`: run trials of a buggy and a fixed kernel and say whether a fix is verified.

use std::path::PathBuf;

use anyhow::anyhow;

use super::{report_args::ReportArgs, scenario_arg, signals, vm_args::VmArgs, Failure};
use lab::event::EventSink;
use lab::scenario::KernelVersion;
use lab::verify::plan::{self, FixRequest};
use lab::verify::report::{Shard, Verification};
use lab::verify::{self, fix, text, RunSettings};

/// Verify a fix: the buggy kernel must show the signature, the fixed one must not, with the
/// race exercised, over several trials.
///
/// Exit codes: 0 FIX VERIFIED, 1 FIX NOT VERIFIED, 4 INCONCLUSIVE, 2 scenario or usage error
/// (a --fix that does not apply), 3 infrastructure error.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario name (in scenarios/) or path to a YAML file.
    pub scenario: String,
    /// A fix to verify: the fixed side becomes the default variant's series plus these
    /// patches (repeatable), judged by the fixed variant's expectations.
    #[arg(long, value_name = "PATCH")]
    pub fix: Vec<PathBuf>,
    /// Put the --fix patches before the series instead of after.
    #[arg(long, requires = "fix")]
    pub fix_before: bool,
    /// Trials per variant.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub trials: u32,
    /// The buggy and the fixed variant, in that order; default: the default variant and the other one.
    #[arg(long, value_name = "BUGGY,FIXED", value_parser = parse_pair)]
    pub variants: Option<(String, String)>,
    /// The kernels to verify on, each with its own buggy and fixed trials (`5.10,6.1,6.12`,
    /// or `all` for every one of `kernel.base`); default: `--kernel`, else the scenario's first.
    #[arg(long, value_name = "V,...", value_delimiter = ',', conflicts_with = "version")]
    pub kernels: Vec<String>,
    /// Run only share I of N of the trials (for a CI matrix); join the shares with `lab report merge`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Print the verification as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the verification as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub vm: VmArgs,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once(',') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(',') => Ok((a.into(), b.into())),
        _ => Err("give two variants: buggy,fixed".into()),
    }
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s.split_once('/').ok_or("give the share as I/N, like 2/4")?;
    let (index, count) = (i.parse::<u32>().map_err(|e| e.to_string())?, n.parse::<u32>().map_err(|e| e.to_string())?);
    if count == 0 || index == 0 || index > count {
        return Err(format!("{s}: I must be 1..=N"));
    }
    Ok(Shard { index, count })
}

pub fn main(args: Args) -> Result<u8, Failure> {
    let file = scenario_arg::resolve(&args.scenario).map_err(Failure::usage)?;
    let mut loaded = lab::scenario::load(&file).map_err(Failure::usage)?;
    args.vm.build.apply(&mut loaded);
    let names = args.variants.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
    let request = FixRequest { patches: args.fix.clone(), before: args.fix_before };
    let kernels = kernels_asked(&loaded, &args)?;
    let mut plans = plan::make_all(&loaded, names, &request, &kernels).map_err(Failure::usage)?;
    if !args.fix.is_empty() {
        for plan in &plans {
            let series = plan::patch_files(&loaded, &plan.fixed);
            let fixes: Vec<PathBuf> = args.fix.iter().filter_map(|p| p.canonicalize().ok()).collect();
            match fix::check_applies(plan.kernel, loaded.scenario.kernel.fuzz, &series, &fixes, args.fix_before) {
                Ok(()) => {}
                Err(e @ (fix::FixError::DoesNotApply(_) | fix::FixError::Series { .. })) => return Err(Failure::usage(e)),
                Err(e) => return Err(Failure::infra(e)),
            }
        }
    }
    super::run::need_root("verify")?;
    for plan in &mut plans {
        eprintln!(
            "lab verify {}: building or finding the kernels of {} and {} on {}",
            loaded.scenario.name, plan.buggy.report_name, plan.fixed.report_name, plan.kernel
        );
        plan::build_kernels(&loaded, plan, &|_, _| {}).map_err(super::kernel::kernel_failure)?;
    }
    let settings = RunSettings { trials: args.trials, shard: args.shard, vm: args.vm.options() };
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::infra)?;
    let v = runtime.block_on(async {
        let (events, _rx) = EventSink::channel();
        let (stop, signals) = signals::stop_on_signals(events);
        let v = verify::run(&loaded, &plans, &settings, &|name, t| eprintln!("{}", text::trial_line(name, t)), stop.clone()).await;
        signals.abort();
        (v, stop.is_cancelled())
    });
    let (v, interrupted) = v;
    emit(&v, args.json, args.out.as_deref())?;
    write_reports(&v, &loaded.scenario.name, &args.reports)?;
    if interrupted {
        // The trials that ran are reported, but a verdict over a cut-short plan is none.
        eprintln!("lab verify: interrupted after {} trials: no verdict", v.variants.iter().map(|s| s.summary.trials).sum::<u32>());
        return Ok(super::exit::INFRA);
    }
    Ok(v.verdict.exit_code as u8)
}

/// `--kernels` as asked (`all`: the scenario's `kernel.base`), else `--kernel`, else the
/// scenario's default kernel. An unknown or unlisted version is a usage error.
fn kernels_asked(loaded: &lab::scenario::Loaded, args: &Args) -> Result<Vec<KernelVersion>, Failure> {
    let base = &loaded.scenario.kernel.base;
    if args.kernels.iter().any(|k| k == "all") {
        return Ok(base.all().to_vec());
    }
    let asked: Vec<KernelVersion> = if args.kernels.is_empty() {
        vec![args.vm.build.version.unwrap_or(base.default_kernel())]
    } else {
        args.kernels.iter().map(|k| k.parse::<KernelVersion>()).collect::<Result<_, _>>().map_err(Failure::usage)?
    };
    if let Some(k) = asked.iter().find(|k| !base.contains(**k)) {
        return Err(Failure::usage(anyhow!(
            "scenario `{}` is not meant for kernel {k}: its kernel.base lists {base}",
            loaded.scenario.name
        )));
    }
    Ok(asked)
}

/// JUnit, KTAP, HTML and JSON of the verification into a run directory of its own
/// (`<runs>/<time>-<scenario>-verify/`, next to the trials' own) and where the flags say.
fn write_reports(v: &Verification, scenario: &str, args: &ReportArgs) -> Result<(), Failure> {
    let dir = lab::vm::artifacts::RunDir::create(&lab::vm::artifacts::runs_root(), scenario, "verify").map_err(Failure::infra)?;
    lab::render::files::write_verification(v, Some(&dir.path), &args.outputs()).map_err(Failure::infra)?;
    eprintln!("lab verify: reports in {}", dir.path.display());
    Ok(())
}

/// Prints the verification (table or JSON) and writes the JSON file if asked.
pub fn emit(v: &Verification, json: bool, out: Option<&std::path::Path>) -> Result<(), Failure> {
    let text_json = serde_json::to_string_pretty(v).map_err(Failure::infra)?;
    if let Some(path) = out {
        std::fs::write(path, &text_json).map_err(|e| Failure::infra(anyhow!("{}: {e}", path.display())))?;
    }
    if json {
        println!("{text_json}");
    } else {
        print!("{}", text::render(v));
    }
    Ok(())
}
