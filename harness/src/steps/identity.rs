//! What the step kinds that start a process share: the `user`, `group` and `caps` fields'
//! checks, and resolving them (and a `netns`) when the step runs.

use std::path::PathBuf;

use super::{StepCtx, StepError};
use crate::process::{Creds, IdentitySpec};
use crate::scenario::check::Problem;

/// `lab check`'s words for an identity that does not resolve here, at `user`, `group`,
/// `caps.drop[1]` (relative to the step's spec).
pub fn problems(spec: &IdentitySpec) -> Vec<Problem> {
    spec.problems().into_iter().map(|e| Problem::new(e.field(), e.to_string())).collect()
}

/// The credentials to start the step's process with.
pub fn creds(spec: &IdentitySpec) -> Result<Creds, StepError> {
    spec.resolve().map_err(|e| StepError::Unmet(format!("{}: {e}", e.field())))
}

/// The path of namespace `netns` of the topology, or `None` for the initial one.
pub fn netns_path(ctx: &StepCtx, netns: Option<&str>) -> Result<Option<PathBuf>, StepError> {
    match netns {
        None => Ok(None),
        Some(ns) => ctx.env.topology.netns_path(ns).map(Some).ok_or_else(|| StepError::NetnsGone(ns.to_string())),
    }
}
