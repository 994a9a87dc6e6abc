//! What the processes of a run's steps did, by step id: the pipe a step holds, the process
//! conditions look at, the spans of (state, wchan) it went through, and how it exited.
//!
//! A step registers its process; a sampler task then reads its `/proc` entries every
//! [`SAMPLE_EVERY`] as root and records each change, so a condition asked late ("was it
//! blocked in `pipe_write` for 5 s?") still has the history. Conditions wait on changes
//! with [`Registry::watch`].

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::inspect;

/// How often a registered process's state is read.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// A pipe a step's process holds, reachable by root as `/proc/PID/fd/FD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeRef {
    pub pid: i32,
    pub fd: i32,
    /// `F_GETPIPE_SZ` when it was created (a pipe keeps its size unless resized).
    pub size: u64,
    pub at: Instant,
}

/// A stretch of time a process spent in one state with one wait channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub state: char,
    pub wchan: String,
    pub from: Instant,
    /// `None` while it lasts.
    pub to: Option<Instant>,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit status; `None` when a signal killed it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub at: Instant,
    /// From its start to its end.
    pub runtime: Duration,
}

/// Everything known about one step's process.
#[derive(Debug, Clone, Default)]
pub struct Tracked {
    /// What it is, for the timeline (`runc init (seccomp export)`).
    pub what: String,
    pub pid: Option<i32>,
    pub started: Option<Instant>,
    pub spans: Vec<Span>,
    /// When the sampler found it gone.
    pub gone: Option<Instant>,
    pub exit: Option<Exit>,
    pub pipe: Option<PipeRef>,
    /// Numbers the step reported (`pid`, `port`, `fd`, `inode`), for other steps' templates
    /// (`{kubelet.fd}`) and conditions.
    pub facts: BTreeMap<String, u64>,
    /// What a tracer step captured, in order.
    pub captures: Vec<Capture>,
}

/// One hit of a tracer probe: the event line and the kernel stack that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub at: Instant,
    /// The trace line as tracefs printed it (task, pid, cpu, time, probe, arguments).
    pub line: String,
    /// Kernel stack, innermost first, symbolized by the kernel (`close_fd+0x4f/0x70`).
    pub stack: Vec<String>,
}

type Map = BTreeMap<String, Tracked>;

/// `exited 0`, `was killed by signal 9`: how a process ended, in words.
pub fn ended(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exited {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "ended".into(),
    }
}

impl Exit {
    /// How it ended, in words.
    pub fn ended(&self) -> String {
        ended(self.code, self.signal)
    }
}

/// The registry of one run; cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    tx: Arc<watch::Sender<Map>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { tx: Arc::new(watch::channel(Map::new()).0) }
    }
}

/// What a condition concludes from one look at the registry.
pub enum Look<T> {
    /// Seen.
    Found(T),
    /// Can no longer be seen (the process is gone, the pipe has another size).
    Never,
    /// Not yet; look again on the next change, or at this instant at the latest.
    Wait(Option<Instant>),
}

impl Registry {
    /// Records the pipe step `step` holds.
    pub fn pipe(&self, step: &str, pipe: PipeRef) {
        self.tx.send_modify(|m| m.entry(step.to_string()).or_default().pipe = Some(pipe));
    }

    /// Records a number step `step` reported (`port`, `fd`, ...).
    pub fn fact(&self, step: &str, key: &str, value: u64) {
        self.tx.send_modify(|m| {
            m.entry(step.to_string()).or_default().facts.insert(key.to_string(), value);
        });
    }

    /// Records what tracer step `step` captured.
    pub fn capture(&self, step: &str, capture: Capture) {
        self.tx.send_modify(|m| m.entry(step.to_string()).or_default().captures.push(capture));
    }

    /// Registers `pid` as step `step`'s process and starts sampling it. Needs a Tokio runtime.
    pub fn process(&self, step: &str, pid: i32, what: &str) {
        self.tx.send_modify(|m| {
            let t = m.entry(step.to_string()).or_default();
            t.pid = Some(pid);
            t.what = what.to_string();
            t.started = Some(Instant::now());
        });
        tokio::spawn(sample_loop(Arc::downgrade(&self.tx), step.to_string(), pid));
    }

    /// Records how step `step`'s process ended.
    pub fn exited(&self, step: &str, code: Option<i32>, signal: Option<i32>, runtime: Duration) {
        self.tx.send_modify(|m| {
            let t = m.entry(step.to_string()).or_default();
            t.exit.get_or_insert(Exit { code, signal, at: Instant::now(), runtime });
        });
    }

    /// A copy of what is known about step `step`.
    pub fn get(&self, step: &str) -> Option<Tracked> {
        self.tx.borrow().get(step).cloned()
    }

    /// Looks with `look` now and after every change until it finds or rules out what it
    /// looks for, or `until` passes (`None`).
    pub async fn watch<T>(&self, until: Instant, mut look: impl FnMut(&Map, Instant) -> Look<T>) -> Option<T> {
        let mut rx = self.tx.subscribe();
        loop {
            let wake = match look(&rx.borrow_and_update(), Instant::now()) {
                Look::Found(t) => return Some(t),
                Look::Never => return None,
                Look::Wait(at) => at.map_or(until, |a| a.min(until)),
            };
            if Instant::now() >= until {
                return None;
            }
            let _ = tokio::time::timeout_at(wake.into(), rx.changed()).await;
        }
    }
}

/// Samples `pid` until it is gone or the registry is dropped, recording each change.
async fn sample_loop(tx: Weak<watch::Sender<Map>>, step: String, pid: i32) {
    loop {
        let seen = inspect::sample(pid);
        let Some(tx) = tx.upgrade() else { return };
        let now = Instant::now();
        let mut over = false;
        tx.send_if_modified(|m| {
            let Some(t) = m.get_mut(&step).filter(|t| t.pid == Some(pid)) else {
                over = true;
                return false;
            };
            record(t, seen.as_ref(), now, &mut over)
        });
        drop(tx);
        if over {
            return;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// Applies one sample to `t`; true if anything changed. Sets `over` once the process is gone.
fn record(t: &mut Tracked, seen: Option<&inspect::Sample>, now: Instant, over: &mut bool) -> bool {
    let last = t.spans.last_mut().filter(|s| s.to.is_none());
    match (seen, last) {
        (Some(s), Some(l)) if l.state == s.state && l.wchan == s.wchan => false,
        (Some(s), last) => {
            if let Some(l) = last {
                l.to = Some(now);
            }
            t.spans.push(Span { state: s.state, wchan: s.wchan.clone(), from: now, to: None });
            true
        }
        (None, last) => {
            if let Some(l) = last {
                l.to = Some(now);
            }
            t.gone = Some(now);
            *over = true;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_change_with_the_samples_and_close_when_gone() {
        let mut t = Tracked::default();
        let t0 = Instant::now();
        let s = |state, wchan: &str| inspect::Sample { state, wchan: wchan.into() };
        let mut over = false;
        assert!(record(&mut t, Some(&s('R', "0")), t0, &mut over));
        assert!(!record(&mut t, Some(&s('R', "0")), t0 + Duration::from_millis(50), &mut over));
        let t1 = t0 + Duration::from_millis(100);
        assert!(record(&mut t, Some(&s('S', "pipe_write")), t1, &mut over));
        let t2 = t0 + Duration::from_secs(6);
        assert!(record(&mut t, None, t2, &mut over));
        assert!(over);
        assert_eq!(t.spans.len(), 2);
        assert_eq!(t.spans[0].to, Some(t1));
        assert_eq!((t.spans[1].state, t.spans[1].wchan.as_str(), t.spans[1].to), ('S', "pipe_write", Some(t2)));
        assert_eq!(t.gone, Some(t2));
    }

    #[tokio::test]
    async fn watch_returns_what_the_look_finds_after_a_change() {
        let r = Registry::default();
        let until = Instant::now() + Duration::from_secs(5);
        let r2 = r.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            r2.pipe("b", PipeRef { pid: 1, fd: 3, size: 8192, at: Instant::now() });
        });
        let size = r.watch(until, |m, _| m.get("b").and_then(|t| t.pipe).map_or(Look::Wait(None), |p| Look::Found(p.size))).await;
        assert_eq!(size, Some(8192));
        let never: Option<()> = r.watch(until, |_, _| Look::Never).await;
        assert_eq!(never, None);
        let soon = Instant::now() + Duration::from_millis(30);
        let timed_out: Option<()> = r.watch(soon, |_, _| Look::Wait(None)).await;
        assert_eq!(timed_out, None);
    }
}
