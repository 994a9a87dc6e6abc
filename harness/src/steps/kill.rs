//! `kill` — send a signal to another step's process (the OOM killer's SIGKILL to a FUSE
//! daemon) and wait until that process has ended.

use std::str::FromStr;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use nix::sys::signal::Signal;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::process::registry::Look;
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// ```yaml
/// kill: { step: fuse, signal: KILL, timeout: 10s }   # signal: KILL (default), TERM, ...
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub step: String,
    #[serde(default = "default_signal")]
    pub signal: String,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_signal() -> String {
    "KILL".into()
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// `KILL` or `SIGKILL` as a signal.
pub fn signal_of(name: &str) -> Option<Signal> {
    let full = if name.starts_with("SIG") { name.to_string() } else { format!("SIG{name}") };
    Signal::from_str(&full).ok()
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        out.extend(scope.need_step("step", &self.step));
        if signal_of(&self.signal).is_none() {
            out.push(Problem::new("signal", format!("`{}` is not a signal (KILL, TERM, INT, ...)", self.signal)));
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let signal = signal_of(&self.signal).ok_or_else(|| StepError::Unmet(format!("`{}` is not a signal", self.signal)))?;
            let pid = ctx.env.procs.get(&self.step).and_then(|t| t.pid);
            let pid = pid.ok_or_else(|| StepError::Unmet(format!("step `{}` has no process to signal", self.step)))?;
            let started = Instant::now();
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
                .map_err(|e| StepError::Unmet(format!("kill -{} {pid}: {e}", self.signal)))?;
            let gone = ctx
                .env
                .procs
                .watch(started + self.timeout.0, |m, _| match m.get(&self.step) {
                    Some(t) if t.exit.is_some() || t.gone.is_some() => Look::Found(()),
                    _ => Look::Wait(None),
                })
                .await;
            match gone {
                Some(()) => Ok(StepSummary::text(format!(
                    "{signal} sent to pid {pid} (`{}`); it ended in {:.2} s",
                    self.step,
                    started.elapsed().as_secs_f64()
                ))),
                None => Err(StepError::Unmet(format!("pid {pid} (`{}`) still runs {:?} after {signal}", self.step, self.timeout.0))),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named_with_or_without_sig() {
        assert_eq!(signal_of("KILL"), Some(Signal::SIGKILL));
        assert_eq!(signal_of("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(signal_of("NOPE"), None);
    }
}
