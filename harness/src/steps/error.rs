//! Why a step failed. The run goes on to teardown and the verdict says why, in these words.

use std::io;

use crate::expect::ConditionError;
use crate::topology::TopologyError;

/// A step failed. Errors of the layers below are kept whole (`#[from]`), not turned into
/// text, so a caller can still ask a [`TopologyError`] for its errno.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A topology change failed (`link`): the error names the interface and the errno.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// An MTU change of `mtu_churn` failed, in round `round` (from 1).
    #[error("round {round}: {source}")]
    Churn { round: usize, source: TopologyError },
    /// A condition could not be observed at all (`wait`).
    #[error(transparent)]
    Condition(#[from] ConditionError),
    /// A process could not be started or followed.
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    /// The step needs a namespace the topology no longer has.
    #[error("namespace `{0}` is gone")]
    NetnsGone(String),
    /// A system call failed; `what` says what was being done (`listening on 10.0.0.1:5001 in svr`).
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// A helper task of the step died.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// The step was stopped (`stop: <id>`, the end of the steps, an aborted run).
    #[error("stopped")]
    Stopped,
    /// The run was interrupted before the step started.
    #[error("interrupted")]
    Interrupted,
    /// The step did its work and the result is not what the scenario asks (an exit status, a
    /// timeout, a missing sysctl): the message says what and why.
    #[error("{0}")]
    Unmet(String),
    /// Teardown could not remove everything.
    #[error("{}", .0.join("; "))]
    Teardown(Vec<String>),
    /// Steps of a `concurrent` group failed, each with its own error.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Group(Vec<StepError>),
    /// Step `index` (`3`, `4.1`) of kind `kind` failed: what a sequence of steps reports.
    #[error("step {index} ({kind}) failed: {source}")]
    Step { index: String, kind: String, source: Box<StepError> },
}

impl StepError {
    /// `what` failed with `source`.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        StepError::Io { what: what.into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_topology_error_and_its_words() {
        let inner = TopologyError::UnknownLink("cli-veth".into());
        let text = inner.to_string();
        let e = StepError::Step { index: "3".into(), kind: "link".into(), source: Box::new(inner.into()) };
        assert_eq!(e.to_string(), format!("step 3 (link) failed: {text}"));
        let StepError::Step { source, .. } = &e else { unreachable!() };
        assert!(matches!(**source, StepError::Topology(TopologyError::UnknownLink(ref l)) if l == "cli-veth"));
        let churn = StepError::Churn { round: 2, source: TopologyError::TornDown("x".into()) };
        assert!(std::error::Error::source(&churn).is_some_and(|s| s.is::<TopologyError>()));
        assert_eq!(churn.to_string(), "round 2: cannot change x: the topology is torn down");
    }

    #[test]
    fn a_group_says_every_failure() {
        let e = StepError::Group(vec![StepError::Stopped, StepError::NetnsGone("cli".into())]);
        assert_eq!(e.to_string(), "stopped; namespace `cli` is gone");
    }
}
