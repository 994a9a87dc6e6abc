//! From what a VM run's watch saw to its report: pure, so every way a run can end (agent
//! silent, QEMU killed, a panic after the verdict, a verdict then a hang, a failed
//! accelerator, Ctrl-C) is unit-tested without QEMU.

use std::process::ExitStatus;
use std::time::Duration;

use super::accel::AccelFailure;
use super::console::{self, FaultReport};
use super::qemu::Accel;
use super::unexpected::{self, FaultRules, Unexpected};
use crate::engine::RunReport;
use crate::event::{BootPhases, Event, GuestFault, Outcome};

/// How the watch ended.
#[derive(Debug, Clone)]
pub enum End {
    /// The guest reported its verdict.
    Verdict,
    /// A fatal kernel fault on the console.
    Fault(FaultReport),
    /// QEMU's stderr said the accelerator failed.
    AccelFailed(AccelFailure),
    /// No event from the guest agent within the boot timeout.
    BootTimeout,
    /// The agent came up but no verdict came within the scenario's deadline.
    Deadline,
    /// QEMU exited on its own.
    Exited(ExitStatus),
    /// Ctrl-C, SIGTERM.
    Interrupted,
}

/// The guest's own verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestVerdict {
    pub outcome: Outcome,
    pub summary: String,
    pub notes: Vec<String>,
}

/// Everything one QEMU launch showed, after QEMU is gone and its readers are drained.
#[derive(Debug, Clone)]
pub struct Watched {
    pub accel: Accel,
    pub end: End,
    /// The guest agent sent at least one event.
    pub agent_up: bool,
    pub last_event: Option<String>,
    pub verdict: Option<GuestVerdict>,
    /// Faults the console reported during the watch, fatal or not, in order.
    pub faults: Vec<FaultReport>,
    /// Faults read from the console while QEMU went down (a panic is why it exited).
    pub late_faults: Vec<FaultReport>,
    /// Which faults are the signature, which kinds are tolerated (`kernel.tolerate`) and
    /// what `faults:` makes of the others.
    pub fault_rules: FaultRules,
    pub notes: Vec<String>,
    pub exit_status: Option<ExitStatus>,
    pub boot_timeout: Duration,
    pub deadline: Duration,
    /// The last console lines and QEMU's stderr, for hang and exit reports.
    pub console_tail: Vec<String>,
    pub stderr: Vec<String>,
    /// Where the boot's time went, when the guest said when it started.
    pub boot: Option<BootPhases>,
}

/// The report, and the events that explain it (faults seen late, the hang or the exit).
#[derive(Debug, Clone)]
pub struct Conclusion {
    pub report: RunReport,
    pub events: Vec<Event>,
    /// The run's faults that are not its signature, for `verdict.json`.
    pub unexpected: Vec<Unexpected>,
}

impl Watched {
    /// Why a KVM boot failed before the guest's first event, if it did: the case where the
    /// same run is worth booting again under TCG.
    pub fn accel_failed_early(&self) -> Option<AccelFailure> {
        if self.accel != Accel::Kvm || self.agent_up {
            return None;
        }
        match &self.end {
            End::AccelFailed(f) => Some(f.clone()),
            End::Exited(s) => Some(super::accel::signs::first_failure(&self.stderr, 40).unwrap_or_else(|| AccelFailure {
                summary: format!("QEMU exited ({}) before the guest came up", describe_status(*s)),
                lines: self.stderr.clone(),
            })),
            End::BootTimeout => Some(AccelFailure {
                summary: format!("the guest was not up within {} s under KVM (TCG boots in about 2 s)", self.boot_timeout.as_secs()),
                lines: self.console_tail.clone(),
            }),
            _ => None,
        }
    }

    /// A fatal kernel fault before the guest agent's first event: the scenario never ran.
    pub fn fault_at_boot(&self) -> Option<&FaultReport> {
        match &self.end {
            End::Fault(f) if !self.agent_up => Some(f),
            _ => None,
        }
    }

    fn fatal(&self, f: &FaultReport) -> bool {
        f.fatal && !self.fault_rules.tolerates(f)
    }
}

/// The run's report from what was watched.
pub fn conclude(w: &Watched) -> Conclusion {
    let mut events: Vec<Event> = w.late_faults.iter().map(fault_event).collect();
    let late_fatal = w.late_faults.iter().find(|f| w.fatal(f));
    let mut notes: Vec<String> = Vec::new();
    let report = match (&w.end, &w.verdict) {
        (End::Interrupted, _) => RunReport::error("interrupted; QEMU was stopped"),
        (End::Fault(f), _) => fault_report(f),
        (_, None) if late_fatal.is_some() => fault_report(late_fatal.expect("checked")),
        (End::Verdict | End::Exited(_), Some(v)) => {
            let mut notes = v.notes.clone();
            if let Some(f) = late_fatal {
                notes.push(format!("after its verdict, {}", named(f)));
            }
            RunReport { outcome: v.outcome, summary: v.summary.clone(), notes }
        }
        (End::AccelFailed(f), _) => {
            notes.extend(f.lines.iter().take(8).map(|l| format!("qemu: {l}")));
            let when = if w.agent_up { "while the guest ran" } else { "before the guest came up" };
            RunReport::error(format!("{} failed {when}: {}", w.accel, f.summary))
        }
        (end, _) => {
            let (fault, message) = stopped(w, end);
            events.push(Event::GuestFault { fault, message: message.clone(), lines: w.console_tail.clone(), class: None, title: None });
            RunReport::error(message)
        }
    };
    notes.extend(w.late_faults.iter().filter(|f| !w.fatal(f)).map(|f| format!("{} (see console.log)", named(f))));
    notes.extend(w.notes.iter().cloned());
    let report = RunReport { notes: [report.notes, notes].concat(), ..report };
    let unexpected = w.fault_rules.unexpected(w.faults.iter().chain(&w.late_faults));
    Conclusion { report: unexpected::apply(report, &unexpected), events, unexpected }
}

/// A fault as a note names it: its title where the fault table gave one
/// (`WARNING in lkdtm_WARNING: WARNING: CPU: 0 PID: 1 at ...`), else its kind.
fn named(f: &FaultReport) -> String {
    match &f.title {
        Some(title) => format!("{title}: {}", f.message),
        None => format!("{}: {}", console::describe(f.fault), f.message),
    }
}

/// A run that stopped without a verdict: the fault to report and its message.
fn stopped(w: &Watched, end: &End) -> (GuestFault, String) {
    match end {
        End::BootTimeout => (
            GuestFault::Hang,
            format!(
                "the guest agent sent nothing within {} s of QEMU starting ({} boot); QEMU was stopped",
                w.boot_timeout.as_secs(),
                w.accel
            ),
        ),
        End::Deadline => (
            GuestFault::Hang,
            format!(
                "no verdict from the guest within the scenario deadline of {}{}; QEMU was stopped",
                humantime::format_duration(w.deadline),
                w.last_event.as_ref().map(|e| format!(" (its last event: {e})")).unwrap_or_default()
            ),
        ),
        End::Exited(status) => (
            GuestFault::Exited,
            format!(
                "QEMU exited ({}) before the guest reported a verdict{}",
                describe_status(w.exit_status.unwrap_or(*status)),
                if w.agent_up { "" } else { "; the guest agent never started" }
            ),
        ),
        // A verdict end always carries the verdict; say so rather than panic if not.
        _ => (GuestFault::Exited, "the guest's verdict was lost on the way to the host".into()),
    }
}

fn fault_event(f: &FaultReport) -> Event {
    f.event()
}

fn fault_report(f: &FaultReport) -> RunReport {
    RunReport::error(format!("{}: {}", console::describe(f.fault), f.message))
}

pub fn describe_status(s: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
