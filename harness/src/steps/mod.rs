//! Step kinds: one file per kind, each with its YAML spec, its checks and its driver.
//!
//! Adding a kind: write `steps/<kind>.rs` with a `Spec` that implements [`Step`], then add
//! one line to the registry below.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};

pub mod bind_mount;
pub mod concurrent;
pub mod container;
mod error;
pub mod exec;
pub mod fuse_daemon;
pub mod hold_file;
pub mod hold_open;
mod identity;
pub mod kill;
pub mod kubelet;
pub mod link;
pub mod lookup;
pub mod mtu_churn;
pub mod pipe_drain;
pub mod pipe_pressure;
pub mod pleg_watch;
pub mod recreate_dir;
pub mod seccomp_export;
pub mod sleep;
pub mod stop;
pub mod sysctl;
pub mod teardown;
mod template;
pub mod trace;
pub mod traffic;
pub mod until;
pub mod wait;

crate::kind_registry! {
    /// Every step kind a scenario may use, by its YAML key.
    pub enum StepKind {
        "sysctl" => Sysctl(sysctl::Spec),
        "traffic" => Traffic(traffic::Spec),
        "mtu_churn" => MtuChurn(mtu_churn::Spec),
        "link" => Link(link::Spec),
        "wait" => Wait(wait::Spec),
        "sleep" => Sleep(sleep::Spec),
        "stop" => Stop(stop::Spec),
        "concurrent" => Concurrent(concurrent::Spec),
        "teardown" => Teardown(teardown::Spec),
        "exec" => Exec(exec::Spec),
        "pipe_pressure" => PipePressure(pipe_pressure::Spec),
        "pipe_drain" => PipeDrain(pipe_drain::Spec),
        "container" => Container(container::Spec),
        "pleg_watch" => PlegWatch(pleg_watch::Spec),
        "kubelet" => Kubelet(kubelet::Spec),
        "hold_file" => HoldFile(hold_file::Spec),
        "trace" => Trace(trace::Spec),
        "fuse_daemon" => FuseDaemon(fuse_daemon::Spec),
        "kill" => Kill(kill::Spec),
        "bind_mount" => BindMount(bind_mount::Spec),
        "hold_open" => HoldOpen(hold_open::Spec),
        "lookup" => Lookup(lookup::Spec),
        "recreate_dir" => RecreateDir(recreate_dir::Spec),
        "seccomp_export" => SeccompExport(seccomp_export::Spec),
    }
}

impl StepKind {
    /// The kind's driver.
    pub fn step(&self) -> &dyn Step {
        match self {
            StepKind::Sysctl(s) => s,
            StepKind::Traffic(s) => s,
            StepKind::MtuChurn(s) => s,
            StepKind::Link(s) => s,
            StepKind::Wait(s) => s,
            StepKind::Sleep(s) => s,
            StepKind::Stop(s) => s,
            StepKind::Concurrent(s) => s,
            StepKind::Teardown(s) => s,
            StepKind::Exec(s) => s,
            StepKind::PipePressure(s) => s,
            StepKind::PipeDrain(s) => s,
            StepKind::Container(s) => s,
            StepKind::PlegWatch(s) => s,
            StepKind::Kubelet(s) => s,
            StepKind::HoldFile(s) => s,
            StepKind::Trace(s) => s,
            StepKind::FuseDaemon(s) => s,
            StepKind::Kill(s) => s,
            StepKind::BindMount(s) => s,
            StepKind::HoldOpen(s) => s,
            StepKind::Lookup(s) => s,
            StepKind::RecreateDir(s) => s,
            StepKind::SeccompExport(s) => s,
        }
    }
}

/// What a finished step reports.
#[derive(Debug, Clone, Default)]
pub struct StepSummary {
    /// One line for the timeline ("4 streams, 1.2 GB, 160 Mbit/s").
    pub text: String,
    /// Numbers for JSON consumers and benchmarks.
    pub counters: BTreeMap<String, f64>,
    /// What a program printed, kept for the report.
    pub output: Option<String>,
}

impl StepSummary {
    pub fn text(text: impl Into<String>) -> Self {
        StepSummary { text: text.into(), counters: BTreeMap::new(), output: None }
    }

    pub fn with_output(mut self, output: String) -> Self {
        self.output = Some(output);
        self
    }

    pub fn counter(mut self, name: &str, value: f64) -> Self {
        self.counters.insert(name.to_string(), value);
        self
    }
}

/// Where a step runs: the run's shared state, its position, and its stop signal.
pub struct StepCtx<'a> {
    pub env: &'a std::sync::Arc<RunEnv>,
    /// Position in the step tree, `3` or `4.1`, as shown in the timeline.
    pub index: String,
    /// The step's `id`: the key under which it registers its processes (`env.procs`).
    pub id: Option<String>,
    /// Started with `background: true`: it may hold what it set up until it is stopped.
    pub background: bool,
    /// Cancelled when the step is stopped (`stop: <id>`) or the run is aborted.
    pub cancel: tokio_util::sync::CancellationToken,
    ready: runner::Ready,
}

impl StepCtx<'_> {
    /// Says that a background step has set up what it holds (pipes taken, a writer started),
    /// with a line for the timeline: the sequence goes on if it waited for this
    /// ([`Step::waits_until_ready`]). Only the first call counts.
    pub fn ready(&self, message: impl Into<String>) {
        self.progress(message);
        self.ready.fire(Ok(()));
    }

    /// Report progress of a long step on the timeline.
    pub fn progress(&self, message: impl Into<String>) {
        self.env.events.send(crate::event::Event::StepProgress {
            at_ms: self.env.clock.now_ms(),
            step: self.index.clone(),
            message: message.into(),
        });
    }
}

/// What every step kind implements.
pub trait Step: Send + Sync {
    /// Semantic checks against the rest of the scenario, before anything is created.
    /// `Problem::field` is relative to the step's spec (`links[2]`, `mtus`).
    fn check(&self, scope: &CheckScope) -> Vec<Problem>;

    /// What the step needs from this machine and it lacks (a program that is not installed):
    /// `lab check` says so as warnings, nothing fails on them. Fields as for `check`.
    fn check_host(&self) -> Vec<Problem> {
        Vec::new()
    }

    /// The kernel options (`CONFIG_KPROBE_EVENTS`) the step cannot work without: a kernel
    /// built without one fails its build, naming the option and the version, instead of a
    /// run failing later for a reason that looks like the incident's.
    fn kconfig(&self) -> &'static [&'static str] {
        &[]
    }

    /// What is written legally but will not do what it says (a global sysctl given a
    /// `netns`): `lab check` says so as warnings, nothing fails on them. Fields as for `check`.
    fn lint(&self) -> Vec<Problem> {
        Vec::new()
    }

    /// In the background, whether the next step waits until this one calls
    /// [`StepCtx::ready`] (or ends): for steps that set something up and then hold it.
    fn waits_until_ready(&self) -> bool {
        false
    }

    /// Do the step. Long steps watch `ctx.cancel` and return early when it fires.
    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>>;
}

pub use error::StepError;
pub use runner::{run_entries, run_entry, stop_background, stop_one};

mod runner;
