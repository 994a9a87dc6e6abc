//! `listener`: a step's listening port is (`listening`) or is no longer (`gone`) in the
//! `LISTEN` entries of `/proc/net/tcp` and `tcp6` — read as `/proc/<pid>/net/...`, the
//! process's own network namespace — while its process lives. `gone` with the process dead
//! is not the signature (a dead process closes everything): it is never seen then.
//!
//! The port and the process come from the step's facts (`port`, `pid`: the `kubelet` step
//! reports them). Looked at every [`POLL`].

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Condition, ConditionError};
use crate::event::Observation;
use crate::process::inspect;
use crate::run_env::RunEnv;
use crate::scenario::check::{CheckScope, Problem};

/// How often the tables are read.
pub const POLL: Duration = Duration::from_millis(100);

/// `st` of a listening socket in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";

/// ```yaml
/// listener: { step: kubelet, state: gone }   # or listening
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub step: String,
    pub state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Listening,
    Gone,
}

/// The local ports of the `LISTEN` entries of a `/proc/net/tcp{,6}` table.
pub fn listening_ports(table: &str) -> Vec<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = f.get(1)?.rsplit_once(':')?.1;
            (f.get(3) == Some(&TCP_LISTEN)).then(|| u16::from_str_radix(port, 16).ok()).flatten()
        })
        .collect()
}

/// One look: `Some(listening)` while `pid` lives, `None` once it is gone.
fn look(pid: i32, port: u16) -> Option<bool> {
    inspect::sample(pid)?;
    let tables = ["tcp", "tcp6"].map(|t| std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).unwrap_or_default());
    let listening = tables.iter().any(|t| listening_ports(t).contains(&port));
    // Alive after the read too: a process that died meanwhile has no say.
    inspect::sample(pid).map(|_| listening)
}

impl Condition for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        scope.need_step("step", &self.step).into_iter().collect()
    }

    fn describe(&self) -> String {
        match self.state {
            State::Listening => format!("the port of `{}` listening", self.step),
            State::Gone => format!("the port of `{}` gone from /proc/net/tcp{{,6}} while its process lives", self.step),
        }
    }

    fn observe<'a>(
        &'a self,
        env: &'a RunEnv,
        since: Instant,
        until: Instant,
    ) -> BoxFuture<'a, Result<Option<Observation>, ConditionError>> {
        async move {
            let want = self.state == State::Listening;
            while Instant::now() < until {
                let known = env.procs.get(&self.step).and_then(|t| Some((t.facts.get("pid").copied()?, t.facts.get("port").copied()?)));
                if let Some((pid, port)) = known {
                    match look(pid as i32, port as u16) {
                        None => return Ok(None),
                        Some(l) if l == want => {
                            let what = if want { "listens" } else { "is gone from /proc/net/tcp{,6}; the process lives" };
                            let detail = format!("port {port} of `{}` (process {pid}) {what}", self.step);
                            return Ok(Some(Observation {
                                at_ms: env.clock.ms_at(Instant::now().max(since)),
                                detail,
                                context: Vec::new(),
                            }));
                        }
                        Some(_) => {}
                    }
                }
                tokio::time::sleep(POLL).await;
            }
            Ok(None)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listening_entries_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:9C41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17520 1 0 100 0 0 10 0
   1: 0100007F:9C42 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 17521 1 0 100 0 0 10 0
";
        assert_eq!(listening_ports(table), [0x9C41]);
        let v6 = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000";
        assert_eq!(listening_ports(v6), [22]);
    }

    #[test]
    fn this_process_listening_is_seen_and_a_dead_one_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let me = std::process::id() as i32;
        assert_eq!(look(me, port), Some(true));
        drop(l);
        assert_eq!(look(me, port), Some(false));
        assert_eq!(look(i32::MAX, port), None);
    }
}
