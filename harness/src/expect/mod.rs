//! Expectation kinds: what a run looks for (a kernel log line, later mountinfo state, pipe
//! size, process state, a socket gone). One file per kind; the same conditions serve the
//! `wait` step.
//!
//! Adding a kind: write `expect/<kind>.rs` with a `Spec` that implements [`Condition`], then
//! add one line to the registry below.

use std::time::Instant;

use futures::future::BoxFuture;

use crate::event::Observation;
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};

pub mod captured_stack;
pub mod kernel_log;
pub mod listener;
pub mod lookup;
pub mod mountinfo;
pub mod pipe_size;
pub mod process_exit;
pub mod process_state;
pub mod self_pipe;
pub mod step_output;
pub mod window;

crate::kind_registry! {
    /// Every condition kind an expectation or a `wait` step may use, by its YAML key.
    pub enum ConditionKind {
        "kernel_log" => KernelLog(kernel_log::Spec),
        "pipe_size" => PipeSize(pipe_size::Spec),
        "process_state" => ProcessState(process_state::Spec),
        "process_exit" => ProcessExit(process_exit::Spec),
        "listener" => Listener(listener::Spec),
        "captured_stack" => CapturedStack(captured_stack::Spec),
        "mountinfo" => Mountinfo(mountinfo::Spec),
        "step_output" => StepOutput(step_output::Spec),
        "lookup" => Lookup(lookup::Spec),
        "self_pipe" => SelfPipe(self_pipe::Spec),
    }
}

impl ConditionKind {
    /// The kind's implementation.
    pub fn condition(&self) -> &dyn Condition {
        match self {
            ConditionKind::KernelLog(c) => c,
            ConditionKind::PipeSize(c) => c,
            ConditionKind::ProcessState(c) => c,
            ConditionKind::ProcessExit(c) => c,
            ConditionKind::Listener(c) => c,
            ConditionKind::CapturedStack(c) => c,
            ConditionKind::Mountinfo(c) => c,
            ConditionKind::StepOutput(c) => c,
            ConditionKind::Lookup(c) => c,
            ConditionKind::SelfPipe(c) => c,
        }
    }
}

/// Why a condition could not be observed at all (not: was not seen).
#[derive(Debug, thiserror::Error)]
pub enum ConditionError {
    /// A pattern does not compile (`lab check` reports it first; this is the run's word).
    #[error(transparent)]
    Pattern(#[from] regex::Error),
}

/// What every condition kind implements.
pub trait Condition: Send + Sync {
    /// Semantic checks (a pattern that compiles, a namespace that exists).
    fn check(&self, scope: &CheckScope) -> Vec<Problem>;

    /// Plain words for the timeline: what is looked for.
    fn describe(&self) -> String;

    /// The first observation at or after `since`, waiting no later than `until`;
    /// `Ok(None)` if there was none. Errors mean the condition could not be observed at all.
    fn observe<'a>(&'a self, env: &'a RunEnv, since: Instant, until: Instant)
        -> BoxFuture<'a, Result<Option<Observation>, ConditionError>>;
}
