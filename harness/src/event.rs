//! The run's typed events: the only thing the engine and the backends tell the outside.
//!
//! Renderers (terminal timeline, JSON lines) print them; the guest agent sends exactly these
//! to the host over its channel; the verdict is computed from them, never from output text.
//!
//! A leaf: nothing else of `lab` is imported here (the fault words come from `lab-faults`,
//! below `lab`). The words a scenario shares with its events ([`Must`], [`GuestFault`]) are
//! here so that `scenario` can build on them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Milliseconds since the run started (host: engine start; VM: guest engine start).
pub type Millis = u64;

/// Severity of a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warn,
}

/// Whether an expectation's condition must be seen or must not be seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Must {
    /// Seen at least once between the anchor and `within` after it.
    Appear,
    /// Not seen at any time from the anchor until `within` after it.
    NotAppear,
}

/// A kernel log line matched by an expectation, with the lines around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// When it was seen, since the run started.
    pub at_ms: Millis,
    /// What was seen (the matching log line, the mountinfo line, ...).
    pub detail: String,
    /// Lines around it, for the report.
    #[serde(default)]
    pub context: Vec<String>,
}

// The fault vocabulary lives in the classifier's crate, below `lab`: the same types, the same
// serde forms, under their old names.
pub use lab_faults::{FaultClass, GuestFault};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every expectation was met.
    Met,
    /// The run went through and some expectation was not met.
    NotMet,
    /// The run could not be carried out (a step failed, the guest crashed, interrupted).
    Error,
    /// The scenario itself is wrong in a way only running it shows (a patch that does not
    /// apply, a file it names is missing).
    Invalid,
}

impl Outcome {
    /// The process exit code: 0 met, 1 not met, 2 scenario error, 3 infrastructure error.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Met => 0,
            Outcome::NotMet => 1,
            Outcome::Invalid => 2,
            Outcome::Error => 3,
        }
    }
}

/// Everything a run reports, in the order it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        scenario: String,
        variant: String,
        backend: String,
        kernel: String,
        run_id: String,
    },
    /// Something the user must know that is not a step result (a missing debug sysctl, ...).
    Note {
        level: Level,
        message: String,
    },
    TopologyUp {
        at_ms: Millis,
        namespaces: Vec<String>,
        links: usize,
        took_ms: Millis,
    },
    StepStarted {
        at_ms: Millis,
        step: String,
        kind: String,
        id: Option<String>,
    },
    /// A step's counters while it runs (churn round, bytes so far).
    StepProgress {
        at_ms: Millis,
        step: String,
        message: String,
    },
    StepFinished {
        at_ms: Millis,
        step: String,
        kind: String,
        id: Option<String>,
        ok: bool,
        summary: String,
        #[serde(default)]
        counters: BTreeMap<String, f64>,
        /// What the step's program printed (`exec`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
    },
    /// An expectation's window opened (its anchor step ended).
    ExpectationArmed {
        at_ms: Millis,
        id: String,
        must: Must,
        window_ms: Millis,
    },
    ExpectationDecided {
        at_ms: Millis,
        id: String,
        must: Must,
        met: bool,
        /// Plain words: what was seen or not, and when relative to the anchor.
        reason: String,
        observation: Option<Observation>,
        /// Time from the anchor to the observation.
        since_anchor_ms: Option<Millis>,
    },
    TeardownDone {
        at_ms: Millis,
        removed: Vec<String>,
        problems: Vec<String>,
    },
    /// The last event of a run.
    Verdict {
        outcome: Outcome,
        summary: String,
        notes: Vec<String>,
    },
    // --- VM backend ---
    /// The kernel build moved on: a new phase, or another percent compiled.
    KernelProgress {
        phase: String,
        percent: Option<u8>,
    },
    KernelReady {
        key: String,
        bzimage: String,
        built: bool,
        took_ms: Millis,
        /// `linux-source-5.10 5.10.223-1`: the kernel series and Debian's package version.
        #[serde(default)]
        source: String,
        /// The fuzz the series was allowed to apply with.
        #[serde(default)]
        fuzz: u32,
        /// Each hunk that applied at an offset or with fuzz, as a line.
        #[serde(default)]
        hunks: Vec<String>,
        /// Each config option this kernel version lacks and the fragment tolerates, as a line.
        #[serde(default)]
        tolerated: Vec<String>,
    },
    VmStarting {
        accel: String,
        reason: String,
    },
    /// A KVM boot failed before the guest's first event; the run boots again under TCG.
    AccelFallback {
        from: String,
        to: String,
        reason: String,
        /// QEMU's own lines (the KVM error and its register dump).
        lines: Vec<String>,
    },
    /// The guest agent's first event arrived.
    VmAgentUp {
        boot_ms: Millis,
    },
    GuestFault {
        fault: GuestFault,
        message: String,
        lines: Vec<String>,
        /// The report's class and title as kernel engineers name it (`WARNING in foo`), for
        /// console faults; absent for a hang or QEMU's exit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<FaultClass>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    Artifacts {
        dir: String,
    },
    /// Guest → host, the agent's first event: its clock (CLOCK_BOOTTIME, from the kernel's
    /// start) when init started and when the agent channel was up. The host turns it into
    /// [`Event::VmBootPhases`].
    GuestBoot {
        init_at_ms: Millis,
        agent_at_ms: Millis,
    },
    /// Where a VM boot's time went, QEMU start to the engine's first event.
    VmBootPhases(BootPhases),
}

/// The phases of a VM boot, in milliseconds; they add up to `total_ms` (unless the guest's
/// clock ran ahead of the host's, then `qemu_firmware_ms` is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootPhases {
    /// QEMU's start, the firmware, loading the kernel: up to the kernel's clock starting
    /// (the rest of the host's wait once the guest's own time is taken away).
    pub qemu_firmware_ms: Millis,
    /// Kernel start to init (`lab`) running.
    pub kernel_ms: Millis,
    /// Init running to the agent channel up (mounts, opening the port).
    pub agent_ms: Millis,
    /// Agent up to the engine's first event (`RunStarted`) on the host.
    pub first_event_ms: Millis,
    /// QEMU start to the engine's first event, measured on the host.
    pub total_ms: Millis,
}

impl BootPhases {
    /// Pure: the phases from the guest's clock readings and the host's, all in ms:
    /// `agent_seen` and `first_seen` since QEMU's start, on the host.
    pub fn from_clocks(init_at: Millis, agent_at: Millis, agent_seen: Millis, first_seen: Millis) -> BootPhases {
        let agent_at = agent_at.max(init_at);
        let qemu_firmware_ms = agent_seen.saturating_sub(agent_at);
        let first_event_ms = first_seen.saturating_sub(agent_seen);
        BootPhases { qemu_firmware_ms, kernel_ms: init_at, agent_ms: agent_at - init_at, first_event_ms, total_ms: first_seen }
    }
}

/// Where the engine and backends send events. Cloning is cheap; sending never blocks.
#[derive(Clone, Debug)]
pub struct EventSink(mpsc::UnboundedSender<Event>);

impl EventSink {
    /// A sink and the receiving end for a renderer.
    pub fn channel() -> (EventSink, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (EventSink(tx), rx)
    }

    /// Send an event; a renderer that has gone away is not the engine's problem.
    pub fn send(&self, event: Event) {
        let _ = self.0.send(event);
    }

    pub fn note(&self, level: Level, message: impl Into<String>) {
        self.send(Event::Note { level, message: message.into() });
    }
}

#[cfg(test)]
mod boot_phase_tests {
    use super::BootPhases;

    #[test]
    fn phases_add_up_to_the_hosts_measure() {
        let p = BootPhases::from_clocks(620, 700, 1_050, 1_180);
        assert_eq!(p, BootPhases { qemu_firmware_ms: 350, kernel_ms: 620, agent_ms: 80, first_event_ms: 130, total_ms: 1_180 });
        assert_eq!(p.qemu_firmware_ms + p.kernel_ms + p.agent_ms + p.first_event_ms, p.total_ms);
        let skewed = BootPhases::from_clocks(900, 1_000, 950, 1_000);
        assert_eq!((skewed.qemu_firmware_ms, skewed.total_ms), (0, 1_000), "a guest clock ahead of the host's gives no negative phase");
    }
}
