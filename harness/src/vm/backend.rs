//! The host side of a VM run, in phases: prepare (the kernel and the guest's command line)
//! → decide the accelerator → boot (spawn, watch, shut down; once more under TCG when KVM
//! fails before the guest comes up) → conclude → artifacts. `lab shell` shares the first two.

use std::process::Stdio;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::accel::{self, AccelFailure, AccelPlan, AccelUsed, Source};
use super::artifacts::{runs_root, RunDir};
use super::attempt::{self, WatchRules};
use super::conclude::{conclude, describe_status, End, Watched};
use super::console::{self, FaultReport};
use super::error::VmError;
use super::prepare::{prepare, Prepared};
use super::qemu::{self, Accel, Console, GuestMode, QemuConfig};
use super::unexpected::{FaultRules, Unexpected};
use crate::engine::RunReport;
use crate::event::{BootPhases, Event, EventSink, Level};
use crate::scenario::{Loaded, Variant};

pub use super::options::VmOptions;

/// Runs `loaded` as `variant` in a VM. Every event goes to `events` (and `events.jsonl`);
/// the last two are `Artifacts` and `Verdict`.
pub async fn run(loaded: &Loaded, variant: &Variant, opts: &VmOptions, events: EventSink, stop: CancellationToken) -> RunReport {
    let root = opts.runs_dir.clone().unwrap_or_else(runs_root);
    let dir = match RunDir::create(&root, &loaded.scenario.name, &variant.name) {
        Ok(d) => d,
        Err(e) => return finish_without_dir(&events, VmError::RunDir(e)),
    };
    let (sink, recorder) = match dir.record(events.clone()) {
        Ok(r) => r,
        Err(source) => return finish_without_dir(&events, VmError::Write { path: dir.file("events.jsonl"), source }),
    };
    let done = match supervise(loaded, variant, opts, &sink, &dir, &stop).await {
        Ok(done) => done,
        Err(e) => Supervised { report: report_of(&e), accel: None, boot: None, unexpected: Vec::new() },
    };
    let Supervised { report, accel, boot, unexpected } = done;
    let verdict = Event::Verdict { outcome: report.outcome, summary: report.summary.clone(), notes: report.notes.clone() };
    if let Err(e) = dir.save_verdict(&verdict, accel.as_ref(), boot.as_ref(), &unexpected) {
        sink.note(Level::Warn, format!("cannot write verdict.json: {e}"));
    }
    sink.send(Event::Artifacts { dir: dir.path.display().to_string() });
    sink.send(verdict);
    drop(sink);
    recorder.finish().await;
    report
}

fn report_of(e: &VmError) -> RunReport {
    RunReport { outcome: e.outcome(), summary: e.to_string(), notes: Vec::new() }
}

fn finish_without_dir(events: &EventSink, e: VmError) -> RunReport {
    let report = report_of(&e);
    events.send(Event::Verdict { outcome: report.outcome, summary: report.summary.clone(), notes: vec![] });
    report
}

/// What a run that got as far as booting leaves for its verdict.
struct Supervised {
    report: RunReport,
    accel: Option<AccelUsed>,
    boot: Option<BootPhases>,
    unexpected: Vec<Unexpected>,
}

/// Prepare, decide, boot, conclude.
async fn supervise(
    loaded: &Loaded,
    variant: &Variant,
    opts: &VmOptions,
    events: &EventSink,
    dir: &RunDir,
    stop: &CancellationToken,
) -> Result<Supervised, VmError> {
    let prepared = prepare(loaded, variant, opts, GuestMode::Run, dir, events, stop).await?;
    let _ = dir.save_config(prepared.kernel.config.as_deref());
    let _ = dir.save_patches(&prepared.kernel.patches);
    if stop.is_cancelled() {
        return Err(VmError::Interrupted);
    }
    let plan = accel::decide(&opts.qemu, opts.accel, &opts.accel_records).await;
    let rules = WatchRules {
        events,
        boot_timeout: opts.boot_timeout(plan.accel),
        deadline: opts.deadline.unwrap_or(loaded.scenario.deadline),
        faults: &FaultRules::of(&loaded.scenario, variant),
    };
    let (watched, used) = boot(&prepared, &plan, opts, dir, &rules, stop).await?;
    let concluded = conclude(&watched);
    for ev in concluded.events {
        events.send(ev);
    }
    Ok(Supervised { report: concluded.report, accel: Some(used), boot: watched.boot, unexpected: concluded.unexpected })
}

/// Boots under the plan's accelerator and, when KVM fails before the guest comes up and the
/// user did not insist on it, once more under TCG; remembers what it learnt either way.
async fn boot(
    prepared: &Prepared,
    plan: &AccelPlan,
    opts: &VmOptions,
    dir: &RunDir,
    rules: &WatchRules<'_>,
    stop: &CancellationToken,
) -> Result<(Watched, AccelUsed), VmError> {
    rules.events.send(Event::VmStarting { accel: plan.accel.to_string(), reason: plan.reason.clone() });
    let first = launch(prepared, plan.accel, opts, dir, rules, stop).await?;
    let used = AccelUsed { used: plan.accel, reason: plan.reason.clone(), fallback_from: None };
    if let (Some(failure), true) = (first.accel_failed_early(), plan.may_fall_back()) {
        return fall_back(prepared, plan, failure, opts, dir, rules, stop).await;
    }
    learn_from(plan, &first, &opts.accel_records);
    match first.fault_at_boot() {
        Some(fault) => Ok((boot_again(prepared, plan.accel, fault, opts, dir, rules, stop).await?, used)),
        None => Ok((first, used)),
    }
}

/// A kernel that faults before the guest agent starts never ran the scenario. Under TCG a
/// good kernel very rarely oopses that early (about one boot in sixty was seen): boot once
/// more, to tell a flaky boot from a broken kernel, and say so either way. The first boot's
/// console and QEMU log are kept beside the run's own.
async fn boot_again(
    prepared: &Prepared,
    accel: Accel,
    fault: &FaultReport,
    opts: &VmOptions,
    dir: &RunDir,
    rules: &WatchRules<'_>,
    stop: &CancellationToken,
) -> Result<Watched, VmError> {
    keep_attempt_logs(dir, "first-boot");
    let what = format!("{}: {}", console::describe(fault.fault), fault.message);
    rules.events.note(Level::Warn, format!("{what}, before the guest agent started; booting once more (first-boot-console.log)"));
    let mut second = launch(prepared, accel, opts, dir, rules, stop).await?;
    second.notes.push(match second.fault_at_boot() {
        Some(again) if again.fault == fault.fault => format!("the first boot failed the same way ({what})"),
        _ => format!("a first boot failed before the guest agent started ({what}; see first-boot-console.log)"),
    });
    Ok(second)
}

/// The second boot, under TCG, after KVM failed before the guest's first event. The KVM
/// attempt's console and QEMU log are kept beside the run's own.
async fn fall_back(
    prepared: &Prepared,
    plan: &AccelPlan,
    failure: AccelFailure,
    opts: &VmOptions,
    dir: &RunDir,
    rules: &WatchRules<'_>,
    stop: &CancellationToken,
) -> Result<(Watched, AccelUsed), VmError> {
    keep_attempt_logs(dir, "kvm");
    accel::remember(&opts.accel_records, plan, Accel::Tcg, &failure.summary, failure.lines.clone());
    rules.events.send(Event::AccelFallback { from: "kvm".into(), to: "tcg".into(), reason: failure.summary.clone(), lines: failure.lines });
    let rules = WatchRules { boot_timeout: opts.boot_timeout(Accel::Tcg), ..*rules };
    let second = launch(prepared, Accel::Tcg, opts, dir, &rules, stop).await?;
    Ok((second, AccelUsed { used: Accel::Tcg, reason: plan.reason.clone(), fallback_from: Some((Accel::Kvm, failure.summary)) }))
}

/// Moves an attempt's `console.log`, `kmsg.log` and `qemu.log` aside as
/// `<prefix>-console.log`..., so the next attempt writes its own.
fn keep_attempt_logs(dir: &RunDir, prefix: &str) {
    for name in ["console.log", "kmsg.log", "qemu.log"] {
        let _ = std::fs::rename(dir.file(name), dir.file(&format!("{prefix}-{name}")));
    }
}

/// What a KVM boot that was not retried teaches: it works (news after a probe), or it
/// failed while the guest ran (never again on this host).
fn learn_from(plan: &AccelPlan, watched: &Watched, records: &accel::Records) {
    if plan.accel != Accel::Kvm || plan.source == Source::Forced {
        return;
    }
    if let End::AccelFailed(f) = &watched.end {
        accel::remember(records, plan, Accel::Tcg, &f.summary, f.lines.clone());
    } else if plan.should_confirm() && watched.agent_up {
        accel::remember(records, plan, Accel::Kvm, "a kernel booted under KVM to the guest agent", Vec::new());
    }
}

/// One QEMU launch, spawn to shut-down.
async fn launch(
    prepared: &Prepared,
    accel: Accel,
    opts: &VmOptions,
    dir: &RunDir,
    rules: &WatchRules<'_>,
    stop: &CancellationToken,
) -> Result<Watched, VmError> {
    let mut running = attempt::spawn(prepared, accel, &opts.qemu, dir).await?;
    let (end, seen) = running.watch(rules, stop).await;
    Ok(running.shut_down(end, seen, rules).await)
}

/// `lab shell`: boots the scenario's kernel with its topology built and hands the guest's
/// console to the user's terminal (Ctrl-A X quits QEMU; `exit` powers the guest off).
///
/// An interactive console cannot be watched for the agent, so the shell only uses KVM
/// where a `lab run` has seen a kernel boot under it; otherwise TCG.
pub async fn shell(
    loaded: &Loaded,
    variant: &Variant,
    opts: &VmOptions,
    events: EventSink,
    stop: CancellationToken,
) -> Result<(), VmError> {
    let root = opts.runs_dir.clone().unwrap_or_else(runs_root);
    let dir = RunDir::create(&root, &loaded.scenario.name, &format!("{}-shell", variant.name)).map_err(VmError::RunDir)?;
    let prepared = prepare(loaded, variant, opts, GuestMode::Shell, &dir, &events, &stop).await?;
    let mut plan = accel::decide(&opts.qemu, opts.accel, &opts.accel_records).await;
    if plan.accel == Accel::Kvm && plan.source == Source::Probed {
        plan.accel = Accel::Tcg;
        plan.reason = format!("TCG: {}, but no kernel has booted under KVM here yet (a `lab run` finds out)", plan.reason);
    }
    events.send(Event::VmStarting { accel: plan.accel.to_string(), reason: plan.reason.clone() });
    let cfg = QemuConfig {
        binary: opts.qemu.clone(),
        accel: plan.accel,
        machine: prepared.machine.machine,
        cpus: prepared.cpus,
        memory_mib: prepared.memory_mib,
        kernel: prepared.machine.kernel,
        append: prepared.append,
        agent_socket: None,
        console: Console::Interactive,
    };
    let mut cmd = Command::new(&cfg.binary);
    cmd.args(qemu::args(&cfg)).stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
    crate::process::guard_child(&mut cmd);
    let mut child = cmd.spawn().map_err(|source| VmError::Spawn { binary: cfg.binary.clone(), source })?;
    tokio::select! {
        s = child.wait() => match s {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(VmError::QemuFailed(describe_status(s))),
            Err(e) => Err(VmError::Wait(e)),
        },
        _ = stop.cancelled() => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            Err(VmError::Interrupted)
        }
    }
}
