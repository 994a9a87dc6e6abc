//! `self_pipe`: the shape of the pipe-limit hang — a step's process, one task (a single
//! thread: nobody else of it can read), holds both ends of one pipe (its `read_fd` and
//! `write_fd` facts link to the same `pipe:[inode]`) and is in a `write(2)` on the write end
//! of exactly the `bytes` it reported (the exported program).
//! Read by `lab` as root from `/proc/PID/fd/*` and `/proc/PID/syscall`, every 50 ms; the
//! observation carries the kernel stack.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::process::inspect;
use crate::process::registry::{Look, Tracked};
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};

/// How often `/proc` is looked at.
const EVERY: Duration = Duration::from_millis(50);
/// Kernel stack frames kept with an observation.
const STACK_FRAMES: usize = 8;
/// `write(2)` on x86_64.
const SYS_WRITE: u64 = 1;

/// ```yaml
/// self_pipe: { step: export }     # a seccomp_export step
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub step: String,
}

/// One look that found the shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub pid: i32,
    pub inode: String,
    pub read_fd: u64,
    pub write_fd: u64,
    pub bytes: u64,
    pub syscall: String,
}

/// `(number, arg0, arg2)` of a `/proc/PID/syscall` line (`1 0x5 0x55d0 0x2158 ...`).
pub fn parse_syscall(line: &str) -> Option<(u64, u64, u64)> {
    let mut f = line.split_whitespace();
    let nr = f.next()?.parse().ok()?;
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    let a0 = hex(f.next()?)?;
    let _a1 = f.next()?;
    let a2 = hex(f.next()?)?;
    Some((nr, a0, a2))
}

/// Pure: whether what `/proc` showed (`links` of the two fds, the syscall line) is the shape.
pub fn matches(t: &Tracked, threads: Option<u32>, links: (Option<String>, Option<String>), syscall: Option<String>) -> Option<Found> {
    let (pid, r, w, bytes) = (t.pid?, *t.facts.get("read_fd")?, *t.facts.get("write_fd")?, *t.facts.get("bytes")?);
    if threads != Some(1) {
        return None;
    }
    let (lr, lw) = (links.0?, links.1?);
    if lr != lw || !lr.starts_with("pipe:[") {
        return None;
    }
    let line = syscall?;
    let (nr, fd, count) = parse_syscall(&line)?;
    (nr == SYS_WRITE && fd == w && count == bytes).then_some(Found { pid, inode: lr, read_fd: r, write_fd: w, bytes, syscall: line })
}

/// `Threads:` of `/proc/PID/status`.
fn threads(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok())
}

fn link(pid: i32, fd: u64) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok().map(|p| p.display().to_string())
}

impl Spec {
    fn look(&self, t: &Tracked, now: Instant) -> Look<Found> {
        if t.exit.is_some() || t.gone.is_some() {
            return Look::Never;
        }
        let Some(pid) = t.pid else { return Look::Wait(None) };
        let fds = (t.facts.get("read_fd").copied(), t.facts.get("write_fd").copied());
        let (Some(r), Some(w)) = fds else { return Look::Wait(None) };
        match matches(t, threads(pid), (link(pid, r), link(pid, w)), inspect::syscall(pid)) {
            Some(f) => Look::Found(f),
            None => Look::Wait(Some(now + EVERY)),
        }
    }
}

impl Condition for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        scope.need_step("step", &self.step).into_iter().collect()
    }

    fn describe(&self) -> String {
        format!("the process of `{}` holding both ends of one pipe, blocked writing its whole program into it", self.step)
    }

    fn observe<'a>(
        &'a self,
        env: &'a RunEnv,
        _since: Instant,
        until: Instant,
    ) -> BoxFuture<'a, Result<Option<Observation>, ConditionError>> {
        async move {
            let found = env.procs.watch(until, |m, now| m.get(&self.step).map_or(Look::Wait(None), |t| self.look(t, now))).await;
            Ok(found.map(|f| {
                let size = inspect::pipe_size(f.pid, f.read_fd as i32).map_or("?".into(), |s| s.to_string());
                let mut context: Vec<String> = inspect::stack(f.pid, STACK_FRAMES).into_iter().map(|l| format!("stack: {l}")).collect();
                context.push(format!("syscall: {}", f.syscall));
                Observation {
                    at_ms: env.clock.now_ms(),
                    detail: format!(
                        "pid {} (one thread) holds fd {} and fd {} of the same {} (F_GETPIPE_SZ {size}) and is in write(fd {}, {} bytes): the exported program",
                        f.pid, f.read_fd, f.write_fd, f.inode, f.write_fd, f.bytes
                    ),
                    context,
                }
            }))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked() -> Tracked {
        let mut t = Tracked { pid: Some(42), ..Default::default() };
        t.facts.extend([("read_fd".to_string(), 3), ("write_fd".to_string(), 4), ("bytes".to_string(), 8536)]);
        t
    }

    #[test]
    fn both_ends_of_one_pipe_and_a_write_of_the_whole_program() {
        let p = |s: &str| Some(s.to_string());
        let line = p("1 0x4 0x55d0c0ffee00 0x2158 0x0 0x0 0x0 0x7ffd1234 0x7f0012");
        let one = Some(1);
        let f = matches(&tracked(), one, (p("pipe:[123]"), p("pipe:[123]")), line.clone()).unwrap();
        assert_eq!((f.pid, f.inode.as_str(), f.bytes), (42, "pipe:[123]", 8536));
        assert!(matches(&tracked(), Some(2), (p("pipe:[123]"), p("pipe:[123]")), line.clone()).is_none(), "a reader thread");
        assert!(matches(&tracked(), one, (p("pipe:[123]"), p("pipe:[124]")), line.clone()).is_none(), "two pipes");
        let other = p("1 0x4 0x55d0 0x2000 0x0 0x0 0x0 0x1 0x2");
        assert!(matches(&tracked(), one, (p("pipe:[1]"), p("pipe:[1]")), other).is_none(), "another count");
        let read = p("0 0x3 0x55d0 0x2158 0x0 0x0 0x0 0x1 0x2");
        assert!(matches(&tracked(), one, (p("pipe:[1]"), p("pipe:[1]")), read).is_none(), "a read");
        assert!(matches(&tracked(), one, (p("pipe:[1]"), p("pipe:[1]")), p("running")).is_none());
        assert_eq!(parse_syscall("1 0x4 0x0 0x10 0x0 0x0 0x0 0x1 0x2"), Some((1, 4, 16)));
    }
}
