//! `kubelet` — a kubelet-like process: a listener on a port the kernel picks from
//! `net.ipv4.ip_local_port_range` (the streaming server) and, in the same process, a
//! periodic reader of `/proc/<pid>/fd` of other steps' processes (cAdvisor's
//! `container_file_descriptors` and `container_sockets`), switchable off (the workaround).
//!
//! Runs the `kubelet` workload. Ready once it listens, with the facts `pid`, `port`, `fd`
//! and `inode` of the socket for other steps (`{kubelet.inode}`) and conditions
//! (`listener`); it starts reading a process as soon as the step named in `reads` has one.
//! Holds until stopped; a workload that ends on its own fails the step.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::process::workload::{Report, Workload};
use crate::process::IdentitySpec;
use crate::scenario::check::{list, CheckScope, Problem};
use crate::scenario::HumanDuration;

/// `period` bounds: a reader faster than this starves a 2-vCPU TCG guest.
const PERIOD_RANGE: std::ops::RangeInclusive<Duration> = Duration::from_millis(20)..=Duration::from_secs(60);

/// ```yaml
/// id: kubelet
/// background: true
/// kubelet:
///   reads: [gpu-pod]     # steps whose processes' /proc/<pid>/fd it reads
///   period: 200ms        # how often (cAdvisor: its housekeeping interval)
///   reader: true         # false: the workaround (those metrics off); it only listens
///   netns: pods          # absent: lab's own
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub reads: Vec<String>,
    #[serde(default = "default_period")]
    pub period: HumanDuration,
    #[serde(default = "yes")]
    pub reader: bool,
    #[serde(default)]
    pub netns: Option<String>,
}

fn default_period() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

fn yes() -> bool {
    true
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out: Vec<Problem> = self
            .reads
            .iter()
            .enumerate()
            .filter(|(_, s)| !scope.step_ids.contains(s.as_str()))
            .map(|(i, s)| Problem::new(format!("reads[{i}]"), format!("no step has id `{s}`; step ids: {}", list(&scope.step_ids))))
            .collect();
        if !PERIOD_RANGE.contains(&self.period.0) {
            out.push(Problem::new(
                "period",
                format!("{:?} is out of range {:?}..={:?}", self.period.0, PERIOD_RANGE.start(), PERIOD_RANGE.end()),
            ));
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
            let creds = super::identity::creds(&IdentitySpec::default())?;
            let netns = super::identity::netns_path(ctx, self.netns.as_deref())?;
            let mut args = vec!["--period-ms".to_string(), self.period.0.as_millis().to_string()];
            if !self.reader {
                args.push("--no-reader".into());
            }
            let mut w = Workload::spawn("kubelet", &args, creds, netns.as_deref())?;
            let first = tokio::select! {
                r = w.next() => r,
                _ = ctx.cancel.cancelled() => { w.stop().await; return Err(StepError::Stopped) }
            };
            let (port, fd, inode) = match first {
                Ok(Some(Report::Listening { port, fd, inode })) => (port, fd, inode),
                other => {
                    w.stop().await;
                    return Err(StepError::Unmet(format!("the kubelet workload did not listen: {other:?}")));
                }
            };
            self.publish(ctx, w.pid(), port, fd, inode);
            let reading = if self.reader {
                format!("reads /proc/<pid>/fd of {} every {:?}", self.reads.join(", "), self.period.0)
            } else {
                "reader off".into()
            };
            ctx.ready(format!("kubelet {} listens on port {port} (fd {fd}, socket inode {inode}); {reading}", w.pid()));
            let result = self.hold(ctx, &mut w).await;
            w.stop().await;
            let scans = result?;
            Ok(StepSummary::text(format!("kubelet listened on port {port} (fd {fd}); {}", scans.text()))
                .counter("scans", scans.count as f64)
                .counter("port", port as f64))
        }
        .boxed()
    }
}

impl Spec {
    fn publish(&self, ctx: &StepCtx, pid: i32, port: u16, fd: i32, inode: u64) {
        if let Some(id) = &ctx.id {
            ctx.env.procs.process(id, pid, "kubelet");
            for (k, v) in [("pid", pid as u64), ("port", port as u64), ("fd", fd as u64), ("inode", inode)] {
                ctx.env.procs.fact(id, k, v);
            }
        }
    }

    /// Hands the workload the pids of `reads` as they appear and follows its scans, until
    /// the step is stopped (`Ok`) or the workload ends (an error).
    async fn hold(&self, ctx: &StepCtx<'_>, w: &mut Workload) -> Result<Scans, StepError> {
        let mut sent = BTreeSet::new();
        let mut scans = Scans::default();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = ctx.cancel.cancelled() => return Ok(scans),
                _ = tick.tick() => {
                    for step in &self.reads {
                        let pid = ctx.env.procs.get(step).and_then(|t| t.pid);
                        if let Some(pid) = pid.filter(|p| sent.insert(*p)) {
                            w.send(&format!("read {pid}")).await?;
                        }
                    }
                }
                r = w.next() => match r? {
                    Some(Report::Scan { pid, fds, sockets, error }) => {
                        if let Some(line) = scans.add(pid, fds, sockets, error) {
                            ctx.progress(line);
                        }
                    }
                    other => return Err(StepError::Unmet(format!("the kubelet workload ended on its own ({other:?})"))),
                },
            }
        }
    }
}

/// What the reader saw: scans, the last counts, the errors.
#[derive(Debug, Default, PartialEq)]
struct Scans {
    count: u64,
    last: Option<(i32, u32, u32)>,
    errors: u64,
}

impl Scans {
    /// Counts one scan; a line for the timeline when the counts changed or it failed.
    fn add(&mut self, pid: i32, fds: u32, sockets: u32, error: Option<String>) -> Option<String> {
        self.count += 1;
        if let Some(e) = error {
            self.errors += 1;
            return (self.errors == 1).then(|| format!("read of /proc/{pid}/fd failed: {e} (further failures counted)"));
        }
        let changed = self.last != Some((pid, fds, sockets));
        self.last = Some((pid, fds, sockets));
        changed.then(|| format!("/proc/{pid}/fd: container_file_descriptors {fds}, container_sockets {sockets}"))
    }

    fn text(&self) -> String {
        match self.last {
            Some((pid, fds, sockets)) => {
                format!("{} reads, the last of {pid}: {fds} fds, {sockets} sockets; {} failed", self.count, self.errors)
            }
            None => format!("{} reads, {} failed", self.count, self.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_steps_and_periods_out_of_range_are_refused() {
        let scope = CheckScope { step_ids: ["pod"].into_iter().collect(), ..Default::default() };
        let ok: Spec = serde_saphyr::from_str("{ reads: [pod], period: 200ms }").unwrap();
        assert!(ok.check(&scope).is_empty());
        let bad: Spec = serde_saphyr::from_str("{ reads: [pod, gpu], period: 1ms }").unwrap();
        let p = bad.check(&scope);
        assert_eq!(p.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["reads[1]", "period"]);
    }

    #[test]
    fn scans_report_changes_and_the_first_failure_only() {
        let mut s = Scans::default();
        assert!(s.add(7, 5, 1, None).is_some());
        assert!(s.add(7, 5, 1, None).is_none());
        assert!(s.add(7, 6, 1, None).is_some());
        assert!(s.add(7, 0, 0, Some("gone".into())).is_some());
        assert!(s.add(7, 0, 0, Some("gone".into())).is_none());
        assert_eq!(s.text(), "5 reads, the last of 7: 6 fds, 1 sockets; 2 failed");
    }
}
