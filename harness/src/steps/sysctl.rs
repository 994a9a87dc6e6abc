//! `sysctl: { key, value, netns, missing }` — set a sysctl in a namespace of the topology,
//! or in the initial namespace (restored after the run).

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::validate::check_sysctl_key;
use crate::scenario::SysctlValue;
use crate::sys::{global_sysctl, kernel_release, sysctl};

/// What to do when the running kernel has no such sysctl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfMissing {
    /// The step fails (default).
    #[default]
    Fail,
    /// The run goes on; the timeline and the verdict say the sysctl was missing.
    Warn,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub key: String,
    pub value: SysctlValue,
    /// A namespace of the topology; absent means the initial namespace.
    #[serde(default)]
    pub netns: Option<String>,
    #[serde(default)]
    pub missing: IfMissing,
    /// Said to the user when the sysctl is missing (what that means for the result).
    #[serde(default)]
    pub why: Option<String>,
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        check_sysctl_key("key", &self.key, &mut out);
        if let Some(ns) = &self.netns {
            out.extend(scope.need_namespace("netns", ns));
        }
        out
    }

    fn lint(&self) -> Vec<Problem> {
        global_in_netns("key", &self.key, self.netns.is_some()).into_iter().collect()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let env = ctx.env;
            let (key, value) = (self.key.clone(), self.value.0.clone());
            let place = self.netns.as_deref().unwrap_or("the initial namespace");
            let missing = match &self.netns {
                Some(ns) => {
                    let path = env.topology.netns_path(ns).ok_or_else(|| StepError::NetnsGone(ns.clone()))?;
                    match sysctl::write(Some(&path), &key, &value) {
                        Ok(()) => None,
                        Err(e) => match global_sysctl::explain(&key, e.kind()) {
                            Some(why) => Some(why.to_string()),
                            None => return Err(StepError::io(format!("{key} = {value} in {ns}"), e)),
                        },
                    }
                }
                None => match env.ledger.set_sysctl(&key, &value).map_err(|e| StepError::io(format!("{key} = {value}"), e))? {
                    Some(_) => None,
                    None => Some(format!("sysctl {key} does not exist on this kernel ({})", kernel_release())),
                },
            };
            let Some(mut message) = missing else {
                return Ok(StepSummary::text(format!("{key} = {value} in {place}")));
            };
            if let Some(why) = &self.why {
                message.push_str(": ");
                message.push_str(why);
            }
            match self.missing {
                IfMissing::Fail => Err(StepError::Unmet(message)),
                IfMissing::Warn => {
                    env.warn(message.clone());
                    Ok(StepSummary::text(format!("skipped: {message}")))
                }
            }
        }
        .boxed()
    }
}

/// `lab check`'s warning for a key of [`global_sysctl::KNOWN`] written inside a namespace.
pub fn global_in_netns(field: &str, key: &str, in_netns: bool) -> Option<Problem> {
    let known = global_sysctl::known(key).filter(|_| in_netns)?;
    let how = match known.scope {
        global_sysctl::Scope::InitOnly => "exists only in the initial network namespace",
        global_sysctl::Scope::ReadOnlyElsewhere => "is read-only inside a network namespace",
    };
    Some(Problem::new(
        field,
        format!(
            "{key} {how} on Linux 6.1 ({}): a global setting, so set it without `netns` (a `sysctl` step without `netns`, or under `topology.sysctls`)",
            known.reason
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_global_key_inside_a_namespace_is_a_warning() {
        let spec: Spec = serde_saphyr::from_str("{ key: net.ipv4.neigh.default.gc_thresh3, value: 2048, netns: node }").unwrap();
        let w = spec.lint();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].field, "key");
        assert!(
            w[0].message.starts_with("net.ipv4.neigh.default.gc_thresh3 exists only in the initial network namespace"),
            "{}",
            w[0].message
        );
        let global: Spec = serde_saphyr::from_str("{ key: net.ipv4.neigh.default.gc_thresh3, value: 2048 }").unwrap();
        assert!(global.lint().is_empty(), "without netns it is where it belongs");
        let per_ns: Spec = serde_saphyr::from_str("{ key: net.ipv4.ip_forward, value: 1, netns: node }").unwrap();
        assert!(per_ns.lint().is_empty());
    }
}
