//! The shared state of one run, seen by every step and expectation.
//!
//! Below `steps`, `expect` and `engine`: the engine builds a [`RunEnv`] (and re-exports these
//! types as `engine::RunEnv`, ...), the step and condition kinds only read it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cleanup::Ledger;
use crate::event::{EventSink, Level};
use crate::kmsg::KernelLog;
use crate::scenario::{Scenario, Variant};
use crate::topology::Topology;

/// Milliseconds since the run started.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    pub start: Instant,
}

impl RunClock {
    pub fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    pub fn ms_at(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_millis() as u64
    }
}

/// Anchor key set when all steps are done; not a valid step id.
const STEPS_DONE: &str = "\0steps-done";

/// A step running in the background, until `stop: <id>` or the end of the steps.
pub struct Background {
    pub cancel: CancellationToken,
    pub done: tokio::task::JoinHandle<()>,
}

/// Everything a step or expectation may use.
pub struct RunEnv {
    pub scenario: Scenario,
    pub variant: Variant,
    pub run_id: String,
    pub events: EventSink,
    pub clock: RunClock,
    pub kmsg: KernelLog,
    pub ledger: Ledger,
    pub topology: Topology,
    /// Step id -> when it finished: the anchors of expectation windows.
    pub anchors: watch::Sender<BTreeMap<String, Instant>>,
    pub background: Mutex<HashMap<String, Background>>,
    /// Warnings that belong in the verdict, not only the timeline.
    pub notes: Mutex<Vec<String>>,
    /// The processes steps started, by step id, for conditions to look at.
    pub procs: crate::process::Registry,
    /// What each finished step said, by step id: its output, or its error text.
    pub outputs: watch::Sender<BTreeMap<String, String>>,
    /// Descriptors steps hold on paths (`hold_open`), by step id.
    pub handles: Mutex<BTreeMap<String, std::sync::Arc<std::os::fd::OwnedFd>>>,
}

impl RunEnv {
    /// Tells the user something the result depends on, in the timeline and in the verdict.
    pub fn warn(&self, message: impl Into<String>) {
        let message = message.into();
        self.notes.lock().unwrap().push(message.clone());
        self.events.note(Level::Warn, message);
    }

    /// Tells the user why the run went the way it did, in the timeline and in the verdict.
    pub fn note(&self, message: impl Into<String>) {
        let message = message.into();
        self.notes.lock().unwrap().push(message.clone());
        self.events.note(Level::Info, message);
    }

    /// Marks step `id` as finished now.
    pub fn set_anchor(&self, id: &str) {
        self.anchors.send_modify(|m| {
            m.insert(id.to_string(), Instant::now());
        });
    }

    /// Marks the end of all steps: anchors not set by now never will be.
    pub fn steps_done(&self) {
        self.set_anchor(STEPS_DONE);
    }

    /// Records what step `id` said when it finished.
    pub fn set_output(&self, id: &str, text: String) {
        self.outputs.send_modify(|m| {
            m.insert(id.to_string(), text);
        });
    }

    /// A path of the run's scratch directory (`relative` to it); nothing is created.
    pub fn scratch_path(&self, relative: &str) -> std::path::PathBuf {
        crate::cleanup::scratch_dir_of(&self.run_id).join(relative)
    }

    /// When step `id` finished; waits for it. `None` if all steps ended without it.
    pub async fn anchor(&self, id: &str) -> Option<Instant> {
        let mut rx = self.anchors.subscribe();
        let found = rx.wait_for(|m| m.contains_key(id) || m.contains_key(STEPS_DONE)).await.ok()?;
        found.get(id).copied()
    }
}
