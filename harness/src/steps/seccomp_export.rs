//! `seccomp_export` — `runc init`'s seccomp export pipe on the real code path: the
//! `seccomp-export` workload builds the profile's filter with libseccomp and exports it with
//! `seccomp_export_bpf` into a pipe it makes and reads itself, in runc 1.0.0-rc93's order
//! (NNP true: capabilities dropped first; NNP false: the export first, with all of them).
//!
//! The workload starts as the step's `user` with every capability and drops to the step's
//! `caps` itself, where rc93 does. It registers the pipe (both ends are the workload's),
//! the workload as the step's process, and the facts `instructions`, `bytes`, `read_fd`,
//! `write_fd`, `pipe_size`, for `pipe_size`, `process_state`, `process_exit`, `self_pipe`
//! and `pipe_drain`. In the background it is ready once the pipe is made (the write comes
//! next) and a `stop` kills a writer still blocked; in the foreground the export and the
//! read must be done within `timeout`. Why it completes or blocks goes into the verdict.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::process::caps::{self, CapSet};
use crate::process::registry::PipeRef;
use crate::process::workload::seccomp_export::Mode;
use crate::process::workload::{Report, Workload};
use crate::process::{inspect, Account, CapsSpec, Creds, IdentitySpec};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// The two ways of reading the export pipe, as written in YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeSpec {
    ExportThenRead,
    ReadWhileExport,
}

/// ```yaml
/// id: export
/// background: true
/// seccomp_export:
///   profile: scenarios/profiles/large.json   # OCI linux.seccomp (or a config.json)
///   mode: export-then-read                   # runc 1.0.0-rc93; read-while-export: rc94+
///   no_new_privileges: true                  # rc93 exports after the caps drop only then
///   user: 0
///   caps: { drop: [cap_sys_resource, cap_sys_admin] }
///   timeout: 60s                             # foreground only
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Relative to the lab's tree (`$LAB_HOME`, else the clone lab was built from), or absolute.
    pub profile: String,
    pub mode: ModeSpec,
    pub no_new_privileges: bool,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub user: Option<Account>,
    #[serde(default)]
    pub group: Option<Account>,
    #[serde(default)]
    pub caps: Option<CapsSpec>,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

/// What the workload reported so far.
#[derive(Debug, Default)]
struct Seen {
    program: Option<(u64, u64, u32)>,
    pipe: Option<PipeRef>,
    caps: String,
    read: Option<u64>,
}

impl Spec {
    fn identity(&self) -> IdentitySpec {
        IdentitySpec { user: self.user.clone(), group: self.group.clone(), caps: self.caps.clone() }
    }

    fn mode(&self) -> Mode {
        match self.mode {
            ModeSpec::ExportThenRead => Mode::ExportThenRead,
            ModeSpec::ReadWhileExport => Mode::ReadWhileExport,
        }
    }

    fn path(&self) -> PathBuf {
        crate::scenario::files::lab_home().join(&self.profile)
    }

    /// The workload's arguments; it starts with every capability and keeps `creds.caps`.
    fn args(&self, creds: &Creds) -> Vec<String> {
        let keep = creds.caps.unwrap_or(CapSet::all(caps::last_cap()));
        let nnp = if self.no_new_privileges { "1" } else { "0" };
        let profile = self.path().display().to_string();
        ["--profile", &profile, "--mode", self.mode().as_str(), "--nnp", nnp, "--keep-caps", &format!("{:x}", keep.0)]
            .map(String::from)
            .to_vec()
    }
}

impl Step for Spec {
    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        let mut out = super::identity::problems(&self.identity());
        if let Err(e) = crate::seccomp::profile::load(&self.path()).and_then(|l| crate::seccomp::filter::Filter::build(&l.profile)) {
            out.push(Problem::new("profile", e.to_string()));
        }
        out
    }

    fn waits_until_ready(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let creds = super::identity::creds(&self.identity())?;
            let start_as = Creds { caps: None, ..creds };
            let mut w = Workload::spawn("seccomp-export", &self.args(&creds), start_as, None)?;
            ctx.id.iter().for_each(|id| ctx.env.procs.process(id, w.pid(), "runc init (seccomp export)"));
            let deadline = (!ctx.background).then(|| Instant::now() + self.timeout.0);
            let mut seen = Seen::default();
            while seen.read.is_none() {
                let next = tokio::select! {
                    r = w.next() => r?,
                    _ = ctx.cancel.cancelled() => return Ok(self.stopped(ctx, w, &seen).await),
                    _ = sleep_until(deadline) => {
                        let why = format!("the export was not done within {:?}: {}", self.timeout.0, writer_state(w.pid(), &seen));
                        self.stopped(ctx, w, &seen).await;
                        return Err(StepError::Unmet(why));
                    }
                };
                match next {
                    Some(report) => self.apply(ctx, &w, &mut seen, report, &creds)?,
                    None => return Err(StepError::Unmet("the export workload ended before reading its pipe".into())),
                }
            }
            let took = w.started.elapsed();
            let code = w.wait().await;
            ctx.id.iter().for_each(|id| ctx.env.procs.exited(id, code, None, took));
            Ok(self.done(&seen, took))
        }
        .boxed()
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

impl Spec {
    fn apply(&self, ctx: &StepCtx, w: &Workload, seen: &mut Seen, report: Report, creds: &Creds) -> Result<(), StepError> {
        let procs = &ctx.env.procs;
        let fact = |k: &str, v: u64| ctx.id.iter().for_each(|id| procs.fact(id, k, v));
        match report {
            Report::Program { instructions, bytes, unknown } => {
                seen.program = Some((instructions, bytes, unknown));
                fact("instructions", instructions);
                fact("bytes", bytes);
            }
            Report::ExportPipe { read_fd, write_fd, size, caps } => {
                let pipe = PipeRef { pid: w.pid(), fd: read_fd, size, at: Instant::now() };
                seen.pipe = Some(pipe);
                seen.caps = caps;
                ctx.id.iter().for_each(|id| procs.pipe(id, pipe));
                fact("read_fd", read_fd as u64);
                fact("write_fd", write_fd as u64);
                fact("pipe_size", size);
                let why = self.why(seen, creds);
                ctx.env.note(why);
                ctx.ready(format!("pid {} holds both ends of its {size}-byte export pipe (fd {read_fd}, fd {write_fd}); writing", w.pid()));
            }
            Report::Read { bytes } => seen.read = Some(bytes),
            Report::Failed { message } => return Err(StepError::Unmet(message)),
            other => return Err(StepError::Unmet(format!("unexpected report {other:?}"))),
        }
        Ok(())
    }

    /// The reason the export completes or blocks, for the timeline and the verdict.
    fn why(&self, seen: &Seen, creds: &Creds) -> String {
        let (instructions, bytes, unknown) = seen.program.unwrap_or_default();
        let size = seen.pipe.map_or(0, |p| p.size);
        let skipped = if unknown > 0 { format!(" ({unknown} names libseccomp does not know skipped)") } else { String::new() };
        let order = if self.no_new_privileges {
            format!("NNP true: capabilities dropped first ({creds}, CapEff {})", seen.caps)
        } else {
            format!("NNP false: exported before the capability drop, with CapEff {}", seen.caps)
        };
        let fate = match (self.mode(), bytes > size) {
            (Mode::ExportThenRead, true) => "larger than the pipe and nobody reads while it is written: the write blocks",
            (Mode::ExportThenRead, false) => "it fits in the pipe: the one write returns, then it is read",
            (Mode::ReadWhileExport, _) => "a second thread reads while it is written: the write completes",
        };
        format!(
            "{}: {} exports {instructions} instructions ({bytes} bytes){skipped} into a {size}-byte pipe; {order}; {fate}",
            self.mode().as_str(),
            self.profile
        )
    }

    fn done(&self, seen: &Seen, took: Duration) -> StepSummary {
        let (instructions, bytes, _) = seen.program.unwrap_or_default();
        let size = seen.pipe.map_or(0, |p| p.size);
        let read = seen.read.unwrap_or(0);
        StepSummary::text(format!(
            "{}: {instructions} instructions ({bytes} bytes) through a {size}-byte pipe, {read} bytes read back, in {:.2} s",
            self.mode().as_str(),
            took.as_secs_f64()
        ))
        .counter("instructions", instructions as f64)
        .counter("bytes", bytes as f64)
        .counter("pipe_size", size as f64)
        .counter("read", read as f64)
    }

    /// Stopped before the workload was done: where it was, then killed.
    async fn stopped(&self, ctx: &StepCtx<'_>, w: Workload, seen: &Seen) -> StepSummary {
        let state = writer_state(w.pid(), seen);
        let after = w.started.elapsed();
        ctx.id.iter().for_each(|id| ctx.env.procs.exited(id, None, Some(libc::SIGKILL), after));
        w.stop().await;
        StepSummary::text(format!("{}: stopped after {:.1} s; {state}; killed", self.mode().as_str(), after.as_secs_f64()))
            .counter("stopped_after_ms", after.as_millis() as f64)
    }
}

/// `pid 42 in state S (wchan pipe_write), 8192 bytes waiting in the pipe`, read as root.
fn writer_state(pid: i32, seen: &Seen) -> String {
    let queued = seen.pipe.and_then(|p| inspect::pipe_queued(pid, p.fd));
    let queued = queued.map_or(String::new(), |q| format!(", {q} bytes waiting in the pipe"));
    match inspect::sample(pid) {
        Some(s) => format!("pid {pid} in state {} (wchan {}){queued}", s.state, s.wchan),
        None => format!("pid {pid} is gone{queued}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_checked_with_libseccomp() {
        let bad: Spec =
            serde_saphyr::from_str("{ profile: scenarios/profiles/invalid.json, mode: export-then-read, no_new_privileges: true }")
                .unwrap();
        let p = bad.check(&CheckScope::default());
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].field == "profile" && p[0].message.contains("syscalls[1].args[0].index"), "{p:?}");
        let good: Spec =
            serde_saphyr::from_str("{ profile: scenarios/profiles/large.json, mode: read-while-export, no_new_privileges: false }")
                .unwrap();
        assert!(good.check(&CheckScope::default()).is_empty());
        assert!(serde_saphyr::from_str::<Spec>("{ profile: x, mode: later, no_new_privileges: true }").is_err());
    }
}
