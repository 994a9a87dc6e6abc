//! `process_state`: a step's process stayed in a state (`S`, sleeping) with a wait channel
//! from a list (`pipe_write`; 6.18 says `anon_pipe_write`) for at least a duration, inside
//! the window. Read by `lab` as root from `/proc/PID/stat` and `/proc/PID/wchan`, sampled
//! from the moment the step registered the process ([`crate::process::registry`]).

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::process::inspect;
use crate::process::registry::{Look, Span, Tracked};
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// Kernel stack frames kept with an observation.
const STACK_FRAMES: usize = 8;

/// ```yaml
/// process_state:
///   step: export                           # the step's process (seccomp_export: runc init)
///   state: S                               # default S (interruptible sleep)
///   wchan: [pipe_write, anon_pipe_write]   # any of these; absent: any
///   for: 5s                                # at least this long (default: any time)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub step: String,
    #[serde(default = "default_state")]
    pub state: char,
    #[serde(default)]
    pub wchan: Vec<String>,
    #[serde(rename = "for", default)]
    pub min: Option<HumanDuration>,
}

fn default_state() -> char {
    'S'
}

impl Spec {
    fn matches(&self, s: &Span) -> bool {
        s.state == self.state && (self.wchan.is_empty() || self.wchan.contains(&s.wchan))
    }

    fn min(&self) -> Duration {
        self.min.map_or(Duration::ZERO, |d| d.0)
    }

    /// Pure: what the history `t` says at `now` for the window `since..until`.
    pub fn look(&self, t: &Tracked, since: Instant, until: Instant, now: Instant) -> Look<Span> {
        let mut next = None;
        for span in t.spans.iter().filter(|s| self.matches(s)) {
            let from = span.from.max(since);
            let enough = from + self.min();
            let end = span.to.unwrap_or(now);
            if end >= enough && enough <= until {
                return Look::Found(Span { from, to: Some(enough), ..span.clone() });
            }
            if span.to.is_none() {
                next = Some(enough);
            }
        }
        match next {
            Some(at) => Look::Wait(Some(at)),
            None if t.gone.is_some() || t.exit.is_some() => Look::Never,
            None => Look::Wait(None),
        }
    }
}

impl Condition for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        out.extend(scope.need_step("step", &self.step));
        if !"RSDTtZXIWPK".contains(self.state) {
            out.push(Problem::new("state", format!("`{}` is not a process state letter (R, S, D, T, Z, ...)", self.state)));
        }
        out
    }

    fn describe(&self) -> String {
        let wchan = if self.wchan.is_empty() { String::new() } else { format!(" in {}", self.wchan.join(" | ")) };
        format!("the process of `{}` in state {}{wchan} for {:?}", self.step, self.state, self.min())
    }

    fn observe<'a>(
        &'a self,
        env: &'a RunEnv,
        since: Instant,
        until: Instant,
    ) -> BoxFuture<'a, Result<Option<Observation>, ConditionError>> {
        async move {
            let seen = env
                .procs
                .watch(until, |m, now| match m.get(&self.step) {
                    Some(t) => match self.look(t, since, until, now) {
                        Look::Found(span) => Look::Found((span, t.pid, t.what.clone())),
                        Look::Never => Look::Never,
                        Look::Wait(at) => Look::Wait(at),
                    },
                    None => Look::Wait(None),
                })
                .await;
            Ok(seen.map(|(span, pid, what)| {
                let pid = pid.unwrap_or(0);
                let mut context: Vec<String> = inspect::stack(pid, STACK_FRAMES).into_iter().map(|f| format!("stack: {f}")).collect();
                context.extend(inspect::syscall(pid).map(|s| format!("syscall: {s}")));
                Observation {
                    at_ms: env.clock.ms_at(span.to.unwrap_or(span.from)),
                    detail: format!(
                        "pid {pid} ({what}) in state {}, wchan {}, for {:.1} s",
                        span.state,
                        span.wchan,
                        self.min().as_secs_f64()
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

    fn spec() -> Spec {
        serde_saphyr::from_str("{ step: b, wchan: [pipe_write, anon_pipe_write], for: 5s }").unwrap()
    }

    fn span(state: char, wchan: &str, from: Instant, to: Option<Instant>) -> Span {
        Span { state, wchan: wchan.into(), from, to }
    }

    #[test]
    fn blocked_long_enough_inside_the_window() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let t = Tracked { spans: vec![span('R', "0", s(0), Some(s(1))), span('S', "pipe_write", s(1), None)], ..Default::default() };
        let far = s(100);
        assert!(matches!(spec().look(&t, t0, far, s(3)), Look::Wait(Some(at)) if at == s(6)));
        assert!(matches!(spec().look(&t, t0, far, s(6)), Look::Found(sp) if sp.to == Some(s(6))));
        // A window that opens later counts from its own start.
        assert!(matches!(spec().look(&t, s(10), far, s(12)), Look::Wait(Some(at)) if at == s(15)));
        // A window that closes too early never sees it.
        assert!(matches!(spec().look(&t, t0, s(4), s(4)), Look::Wait(Some(_))));
    }

    #[test]
    fn a_process_gone_too_soon_is_never_seen() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let t = Tracked { spans: vec![span('S', "pipe_write", s(0), Some(s(2)))], gone: Some(s(2)), ..Default::default() };
        assert!(matches!(spec().look(&t, t0, s(100), s(3)), Look::Never));
        let other = Tracked { spans: vec![span('S', "do_wait", s(0), None)], ..Default::default() };
        assert!(matches!(spec().look(&other, t0, s(100), s(9)), Look::Wait(None)));
        assert_eq!(spec().describe(), "the process of `b` in state S in pipe_write | anon_pipe_write for 5s");
    }
}
