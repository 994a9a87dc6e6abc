//! `bootstrap` — runc's bootstrap pipe, modelled: a parent makes a fresh pipe, a child
//! writes a payload into it (64 KiB by default), and the parent reads it either only after
//! the child has exited (`read-after-exit`, runc 1.0.0-rc) or while the child writes
//! (`concurrent-read`, runc >= 1.1.1).
//!
//! Both run as the step's identity (the `bootstrap` workload and its `write` child), so a
//! pressured account gets the shrunk pipe the incident saw. The step registers the pipe
//! (held by the parent) and the writer under its id, for `pipe_size`, `process_state`,
//! `process_exit` and `pipe_drain`. In the background it is ready once the writer runs, and
//! a `stop` kills a writer that is still blocked; in the foreground the writer must be done
//! within `timeout`.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::process::inspect;
use crate::process::registry::PipeRef;
use crate::process::workload::bootstrap::Mode;
use crate::process::workload::{Report, Workload};
use crate::process::{Account, CapsSpec, IdentitySpec};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// How long a stopped step lets the parent finish reading once the writer is done.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Payload bounds: at least a byte, at most what a test should push through one pipe.
const BYTES_RANGE: std::ops::RangeInclusive<u64> = 1..=(64 << 20);

/// The protocol, as written in YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeSpec {
    ReadAfterExit,
    ConcurrentRead,
}

/// ```yaml
/// id: bootstrap
/// background: true
/// bootstrap:
///   mode: read-after-exit          # runc 1.0.0-rc; concurrent-read: runc >= 1.1.1
///   bytes: 65536                   # the payload (default 64 KiB)
///   user: 0
///   caps: { drop: [cap_sys_resource, cap_sys_admin] }
///   timeout: 60s                   # foreground only: the writer must be done by then
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub mode: ModeSpec,
    #[serde(default = "default_bytes")]
    pub bytes: u64,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub netns: Option<String>,
    #[serde(default)]
    pub user: Option<Account>,
    #[serde(default)]
    pub group: Option<Account>,
    #[serde(default)]
    pub caps: Option<CapsSpec>,
}

fn default_bytes() -> u64 {
    65536
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

impl Spec {
    fn identity(&self) -> IdentitySpec {
        IdentitySpec { user: self.user.clone(), group: self.group.clone(), caps: self.caps.clone() }
    }

    fn mode(&self) -> Mode {
        match self.mode {
            ModeSpec::ReadAfterExit => Mode::ReadAfterExit,
            ModeSpec::ConcurrentRead => Mode::ConcurrentRead,
        }
    }
}

/// What the workload reported so far.
#[derive(Debug, Default)]
struct Seen {
    pipe: Option<PipeRef>,
    writer: Option<i32>,
    exit: Option<(Option<i32>, Option<i32>, u64)>,
    read: Option<u64>,
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = super::identity::problems(&self.identity());
        if !BYTES_RANGE.contains(&self.bytes) {
            out.push(Problem::new("bytes", format!("{} is out of range 1..={}", self.bytes, BYTES_RANGE.end())));
        }
        if let Some(ns) = &self.netns {
            out.extend(scope.need_namespace("netns", ns));
        }
        out
    }

    fn waits_until_ready(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let creds = super::identity::creds(&self.identity())?;
            let netns = super::identity::netns_path(ctx, self.netns.as_deref())?;
            let args = ["--mode".to_string(), self.mode().as_str().to_string(), "--bytes".into(), self.bytes.to_string()];
            let mut w = Workload::spawn("bootstrap", &args, creds, netns.as_deref())?;
            let mut deadline = (!ctx.background).then(|| Instant::now() + self.timeout.0);
            let (mut seen, mut stopping) = (Seen::default(), false);
            while seen.read.is_none() {
                let next = tokio::select! {
                    r = w.next() => Wake::Report(r?),
                    _ = ctx.cancel.cancelled(), if !stopping => Wake::Stopped,
                    _ = sleep_until(deadline) => Wake::Timeout,
                };
                match next {
                    Wake::Report(Some(report)) => self.apply(ctx, &w, &mut seen, report, &creds.to_string())?,
                    Wake::Report(None) => return Err(StepError::Unmet("the bootstrap parent ended before reading".into())),
                    // The writer is done: let the parent finish reading rather than kill it.
                    Wake::Stopped if seen.exit.is_some() => (stopping, deadline) = (true, Some(Instant::now() + STOP_GRACE)),
                    Wake::Stopped => return Ok(self.stopped(ctx, w, &seen).await),
                    Wake::Timeout if stopping => return Ok(self.stopped(ctx, w, &seen).await),
                    Wake::Timeout => {
                        let why = format!("the writer was not done within {:?}: {}", self.timeout.0, writer_state(&w, &seen));
                        self.stopped(ctx, w, &seen).await;
                        return Err(StepError::Unmet(why));
                    }
                }
            }
            let took = w.started.elapsed();
            w.wait().await;
            Ok(self.done(&seen, took))
        }
        .boxed()
    }
}

/// What woke the step up.
enum Wake {
    Report(Option<Report>),
    Stopped,
    Timeout,
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

impl Spec {
    /// Takes in one report: registers what conditions look at.
    fn apply(&self, ctx: &StepCtx, w: &Workload, seen: &mut Seen, report: Report, who: &str) -> Result<(), StepError> {
        let procs = &ctx.env.procs;
        match report {
            Report::Pipe { fd, size } => {
                let pipe = PipeRef { pid: w.pid(), fd, size, at: Instant::now() };
                seen.pipe = Some(pipe);
                ctx.id.iter().for_each(|id| procs.pipe(id, pipe));
            }
            Report::Writer { pid } => {
                seen.writer = Some(pid);
                ctx.id.iter().for_each(|id| procs.process(id, pid, "bootstrap writer"));
                let size = seen.pipe.map_or(0, |p| p.size);
                ctx.ready(format!(
                    "{}: writer pid {pid} writes {} bytes into a {size}-byte pipe, as {who}",
                    self.mode().as_str(),
                    self.bytes
                ));
            }
            Report::Exited { code, signal, runtime_ms } => {
                seen.exit = Some((code, signal, runtime_ms));
                ctx.id.iter().for_each(|id| procs.exited(id, code, signal, Duration::from_millis(runtime_ms)));
            }
            Report::Read { bytes } => seen.read = Some(bytes),
            Report::Failed { message } => return Err(StepError::Unmet(message)),
            Report::Holding { .. } | Report::Mounted { .. } => return Err(StepError::Unmet(format!("unexpected report {report:?}"))),
        }
        Ok(())
    }

    fn done(&self, seen: &Seen, took: Duration) -> StepSummary {
        let (code, signal, runtime_ms) = seen.exit.unwrap_or_default();
        let ended = crate::process::registry::ended(code, signal);
        let size = seen.pipe.map_or(0, |p| p.size);
        let read = seen.read.unwrap_or(0);
        StepSummary::text(format!(
            "{}: pipe {size} bytes; the writer {ended} after {runtime_ms} ms; the parent read {read} of {} bytes ({:.2} s in all)",
            self.mode().as_str(),
            self.bytes,
            took.as_secs_f64()
        ))
        .counter("pipe_size", size as f64)
        .counter("writer_ms", runtime_ms as f64)
        .counter("read", read as f64)
    }

    /// Stopped before the parent was done: say where the writer was, then kill both.
    async fn stopped(&self, ctx: &StepCtx<'_>, w: Workload, seen: &Seen) -> StepSummary {
        let state = writer_state(&w, seen);
        let after = w.started.elapsed();
        if let Some(pid) = seen.writer.filter(|_| seen.exit.is_none()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            ctx.id.iter().for_each(|id| ctx.env.procs.exited(id, None, Some(libc::SIGKILL), after));
        }
        w.stop().await;
        StepSummary::text(format!("{}: stopped after {:.1} s; {state}; killed", self.mode().as_str(), after.as_secs_f64()))
            .counter("stopped_after_ms", after.as_millis() as f64)
    }
}

/// Where the writer is, read as root: `writer pid 42 in S (pipe_write), 8192 bytes in the pipe`.
fn writer_state(w: &Workload, seen: &Seen) -> String {
    let queued = seen.pipe.and_then(|p| inspect::pipe_queued(w.pid(), p.fd));
    let queued = queued.map_or(String::new(), |q| format!(", {q} bytes waiting in the pipe"));
    match (seen.writer, seen.exit) {
        (None, _) => "the writer never started".into(),
        (Some(pid), Some((code, signal, ms))) => {
            format!("writer pid {pid} {} after {ms} ms{queued}", crate::process::registry::ended(code, signal))
        }
        (Some(pid), None) => match inspect::sample(pid) {
            Some(s) => format!("writer pid {pid} in state {} (wchan {}){queued}", s.state, s.wchan),
            None => format!("writer pid {pid} is gone{queued}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_sizes_are_checked() {
        let spec: Spec = serde_saphyr::from_str("{ mode: concurrent-read, bytes: 0, user: nobody }").unwrap();
        let p = spec.check(&CheckScope::default());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "bytes");
        assert!(serde_saphyr::from_str::<Spec>("{ mode: later }").is_err());
        let spec: Spec = serde_saphyr::from_str("{ mode: read-after-exit }").unwrap();
        assert_eq!((spec.mode(), spec.bytes), (Mode::ReadAfterExit, 65536));
    }
}
