//! `exec` — run a program (a host tool: `ip`, `ss`, a test script) inside a namespace of the
//! topology, and keep its output.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// Output kept per stream, from its end.
const KEEP_BYTES: usize = 16 * 1024;

/// ```yaml
/// exec:
///   netns: cli                         # absent: the initial namespace
///   command: [ip, route, show, cache]
///   timeout: 10s
///   exit: 0                            # expected exit status; absent: any
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub netns: Option<String>,
    pub command: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub exit: Option<i32>,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        if let Some(ns) = &self.netns {
            out.extend(scope.need_namespace("netns", ns));
        }
        if self.command.first().is_none_or(|c| c.trim().is_empty()) {
            out.push(Problem::new("command", "give the program and its arguments, like [ip, route, show]"));
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let mut cmd = std::process::Command::new(&self.command[0]);
            cmd.args(&self.command[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            if let Some(ns) = &self.netns {
                let path = ctx.env.topology.netns_path(ns).ok_or_else(|| StepError::NetnsGone(ns.clone()))?;
                let fd = std::fs::File::open(&path).map_err(|e| StepError::io(path.display().to_string(), e))?;
                // SAFETY: setns is a plain syscall, safe between fork and exec.
                unsafe {
                    cmd.pre_exec(move || nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from));
                }
            }
            let mut cmd = tokio::process::Command::from(cmd);
            cmd.kill_on_drop(true);
            let shown = self.command.join(" ");
            let child = cmd.spawn().map_err(|e| StepError::io(format!("cannot run `{shown}`"), e))?;
            let out = tokio::select! {
                r = tokio::time::timeout(self.timeout.0, child.wait_with_output()) => match r {
                    Ok(r) => r.map_err(|e| StepError::io(format!("`{shown}`"), e))?,
                    Err(_) => return Err(StepError::Unmet(format!("`{shown}` did not finish within {:?}", self.timeout.0))),
                },
                _ = ctx.cancel.cancelled() => return Err(StepError::Stopped),
            };
            let code = out.status.code().unwrap_or(-1);
            let output = format!("{}{}", tail(&out.stdout), tail(&out.stderr));
            let summary = StepSummary::text(format!("`{shown}` exited {code}")).counter("exit", code as f64).with_output(output);
            match self.exit {
                Some(want) if want != code => Err(StepError::Unmet(format!(
                    "`{shown}` exited {code}, expected {want}: {}",
                    summary.output.as_deref().unwrap_or("").trim()
                ))),
                _ => Ok(summary),
            }
        }
        .boxed()
    }
}

fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(KEEP_BYTES);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}
