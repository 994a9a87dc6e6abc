//! `pipe_drain: { step: export, timeout: 10s }` — read a step's pipe from outside, the
//! way the incident's operators freed a stuck `runc init`: open `/proc/PID/fd/FD` of the
//! process that holds it (as root) and read until the step's writer has exited.

use std::io::Read;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::process::inspect;
use crate::process::registry::Look;
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// How long to wait between reads of an empty pipe.
const IDLE: Duration = Duration::from_millis(20);
/// How long the writer's exit may take to be recorded once its pipe is drained.
const EXIT_SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The step whose pipe to drain (a `seccomp_export`, a `pipe_pressure`).
    pub step: String,
    /// Fails if the step's writer has not exited by then.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        scope.need_step("step", &self.step).into_iter().collect()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let procs = &ctx.env.procs;
            let pipe = procs.get(&self.step).and_then(|t| t.pipe).ok_or_else(|| {
                StepError::Unmet(format!("step `{}` holds no pipe (it has not started one, or is not a pipe step)", self.step))
            })?;
            let mut f = inspect::open_pipe(pipe.pid, pipe.fd).ok_or_else(|| {
                StepError::Unmet(format!("cannot open /proc/{}/fd/{}: the holder of `{}`'s pipe is gone", pipe.pid, pipe.fd, self.step))
            })?;
            let (started, deadline) = (Instant::now(), Instant::now() + self.timeout.0);
            let mut drained = 0u64;
            let mut buf = vec![0u8; 65536];
            loop {
                let exited = procs.get(&self.step).and_then(|t| t.exit);
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => drained += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if exited.is_some() {
                            break;
                        }
                        if Instant::now() >= deadline {
                            return Err(StepError::Unmet(format!(
                                "drained {drained} bytes; the writer of `{}` has not exited within {:?}",
                                self.step, self.timeout.0
                            )));
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(IDLE) => {}
                            _ = ctx.cancel.cancelled() => return Err(StepError::Stopped),
                        }
                    }
                    Err(e) => return Err(StepError::io(format!("reading /proc/{}/fd/{}", pipe.pid, pipe.fd), e)),
                }
            }
            // The pipe's end can come before the step has recorded its writer's exit.
            let settle = Instant::now() + EXIT_SETTLE;
            let exit = procs.watch(settle, |m, _| m.get(&self.step).and_then(|t| t.exit).map_or(Look::Wait(None), Look::Found)).await;
            let how = exit.map_or("has no exit recorded".to_string(), |e| format!("{} after {:.2} s", e.ended(), e.runtime.as_secs_f64()));
            Ok(StepSummary::text(format!(
                "drained {drained} bytes from `{}`'s pipe (/proc/{}/fd/{}) in {:.2} s; its writer {how}",
                self.step,
                pipe.pid,
                pipe.fd,
                started.elapsed().as_secs_f64()
            ))
            .counter("drained", drained as f64))
        }
        .boxed()
    }
}
