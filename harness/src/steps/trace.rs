//! `trace` — a kprobe on any kernel function through tracefs, with a `stacktrace` trigger
//! and a filter: every hit, with its kernel stack symbolized by the kernel, goes on the
//! timeline, into the step's output (`events.jsonl`) and to the `captured_stack` condition.
//! No BPF toolchain.
//!
//! The probe is `p:<run id>/<step id>` (group: the run id), enabled only in a trace instance
//! of its own (`instances/<run id>-<step id>`), so its filter, trigger and buffer touch
//! nothing else. Both are recorded in the ledger before they are made, removed when the step
//! ends, and by `lab clean` after a killed run. Runs in the background: ready once armed,
//! collects until stopped. With `stack`, kprobe optimization is off for the run (a sysctl
//! the ledger restores): stacks taken in an optimized probe end at its trampoline.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::cleanup::{remove_probe, ProbeRecord};
use crate::process::registry::Capture;
use crate::scenario::check::{CheckScope, Problem};
use crate::sys::tracefs::{self, Hit};

/// How often the trace buffer is read.
const POLL: Duration = Duration::from_millis(100);

/// ```yaml
/// id: probe
/// background: true
/// trace:
///   function: filp_close
///   args: { ino: '+56(+32($arg1)):u64' }    # kprobe_events fetch args, by name
///   filter: 'common_pid == {kubelet.pid} && ino == {kubelet.inode}'   # ftrace filter;
///                                            # `{step.fact}` filled in when it is armed
///   stack: true                              # a stacktrace trigger (default)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub function: String,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default = "yes")]
    pub stack: bool,
}

fn yes() -> bool {
    true
}

/// A C identifier: what tracefs takes for a function, an event or an argument name.
fn is_ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

impl Step for Spec {
    /// KPROBES, KPROBE_EVENTS: the kprobe on the traced function; FTRACE for tracefs.
    fn kconfig(&self) -> &'static [&'static str] {
        &["CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS", "CONFIG_FTRACE"]
    }

    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        if !is_ident(&self.function) {
            out.push(Problem::new("function", format!("`{}` is not a kernel function name", self.function)));
        }
        for (name, fetch) in &self.args {
            if !is_ident(name) || name.contains('.') {
                out.push(Problem::new(format!("args.{name}"), format!("`{name}` is not an argument name (letters, digits, _)")));
            }
            if fetch.trim().is_empty() || fetch.contains(char::is_whitespace) {
                out.push(Problem::new(
                    format!("args.{name}"),
                    format!("`{fetch}` is not a fetch argument (`$arg1`, `+8($arg1):u64`, ...)"),
                ));
            }
        }
        if let Some(f) = &self.filter {
            out.extend(super::template::problems("filter", f, scope));
        }
        out
    }

    fn waits_until_ready(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let root = tracefs::root().ok_or_else(|| {
                StepError::Unmet(
                    "no tracefs with kprobe_events here: the kernel lacks CONFIG_KPROBE_EVENTS, or tracefs is not mounted".into(),
                )
            })?;
            let filter = self.filter.as_deref().map(|f| super::template::fill(ctx, f)).transpose()?;
            let probe = self.probe(ctx);
            if self.stack {
                unoptimized(ctx)?;
            }
            ctx.env.ledger.record_probe(&probe);
            let armed = self.arm(&root, &probe, filter.as_deref());
            let pipe = armed.and_then(|()| tracefs::open_pipe(&tracefs::instance(&root, &probe.instance)));
            let mut pipe = match pipe {
                Ok(p) => p,
                Err(e) => {
                    self.disarm(ctx, &probe);
                    return Err(StepError::io(format!("arming a kprobe on {} ({}/{})", self.function, probe.group, probe.event), e));
                }
            };
            let on = filter.as_deref().map_or(String::new(), |f| format!(" if {f}"));
            ctx.ready(format!(
                "kprobe {}/{} on {}{on}, stack {}",
                probe.group,
                probe.event,
                self.function,
                if self.stack { "on" } else { "off" }
            ));
            let collected = collect(ctx, &mut pipe).await;
            drop(pipe);
            self.disarm(ctx, &probe);
            let hits = collected.map_err(|e| StepError::io("reading the trace", e))?;
            let output = hits.iter().map(render).collect::<Vec<_>>().join("\n");
            let text = format!("{} hit{} of {}{on}; probe removed", hits.len(), if hits.len() == 1 { "" } else { "s" }, self.function);
            Ok(StepSummary::text(text).counter("hits", hits.len() as f64).with_output(output))
        }
        .boxed()
    }
}

impl Spec {
    /// The probe's names: group the run id, event the step id (or its position).
    fn probe(&self, ctx: &StepCtx) -> ProbeRecord {
        let event: String = ctx
            .id
            .clone()
            .unwrap_or_else(|| format!("step{}", ctx.index))
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let group = ctx.env.run_id.clone();
        ProbeRecord { instance: format!("{group}-{event}"), group, event: format!("p_{event}") }
    }

    /// Defines the probe, makes its instance, sets filter and trigger, enables it there.
    fn arm(&self, root: &Path, p: &ProbeRecord, filter: Option<&str>) -> std::io::Result<()> {
        let args: Vec<(String, String)> = self.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        tracefs::add_kprobe(root, &tracefs::probe_definition(&p.group, &p.event, &self.function, &args))?;
        let dir = tracefs::make_instance(root, &p.instance)?.join("events").join(&p.group).join(&p.event);
        if let Some(f) = filter {
            tracefs::write(&dir.join("filter"), f, false)?;
        }
        if self.stack {
            let trigger = filter.map_or("stacktrace".to_string(), |f| format!("stacktrace if {f}"));
            tracefs::write(&dir.join("trigger"), &trigger, false)?;
        }
        tracefs::write(&dir.join("enable"), "1", false)
    }

    /// Removes instance and probe; what cannot be removed stays in the ledger for `lab clean`.
    fn disarm(&self, ctx: &StepCtx, p: &ProbeRecord) {
        match remove_probe(p) {
            Ok(()) => ctx.env.ledger.forget_probe(p),
            Err(e) => ctx.env.warn(format!("kprobe {}/{} not removed: {e} (`lab clean` will try again)", p.group, p.event)),
        }
    }
}

/// The sysctl that lets the kernel turn a kprobe into a jump to a trampoline.
const OPTIMIZATION: &str = "debug.kprobes-optimization";

/// Turns kprobe optimization off for the run (restored at its end, by the ledger): the
/// unwinder cannot walk out of an optimized probe's trampoline, so its stacks stop at
/// `opt_pre_handler`; a breakpoint probe's stack goes through to the system call.
fn unoptimized(ctx: &StepCtx) -> Result<(), StepError> {
    match ctx.env.ledger.set_sysctl(OPTIMIZATION, "0") {
        Ok(_) => Ok(()),
        Err(e) => Err(StepError::io(format!("{OPTIMIZATION} = 0"), e)),
    }
}

/// Reads the instance's trace until the step is stopped; every complete hit goes to the
/// timeline and the registry as it comes.
async fn collect(ctx: &StepCtx<'_>, pipe: &mut std::fs::File) -> std::io::Result<Vec<Hit>> {
    let (mut text, mut done) = (String::new(), 0usize);
    loop {
        let stopping = tokio::select! {
            _ = ctx.cancel.cancelled() => true,
            _ = tokio::time::sleep(POLL) => false,
        };
        let new = tracefs::drain(pipe)?;
        text.push_str(&new);
        let hits = tracefs::parse(&text);
        // The last hit may still wait for its stack, unless the trace has gone quiet.
        let complete = if new.is_empty() || stopping { hits.len() } else { hits.len().saturating_sub(1) };
        for hit in &hits[done.min(complete)..complete] {
            ctx.progress(render(hit));
            if let Some(id) = &ctx.id {
                ctx.env.procs.capture(id, Capture { at: Instant::now(), line: hit.line.clone(), stack: hit.stack.clone() });
            }
        }
        done = done.max(complete);
        if stopping {
            return Ok(hits);
        }
    }
}

/// A hit as text: its line, then its stack one frame a line.
fn render(hit: &Hit) -> String {
    let mut s = hit.line.clone();
    for f in &hit.stack {
        s.push_str("\n  => ");
        s.push_str(f);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fetch_args_and_filter_references_are_checked() {
        let scope = CheckScope { step_ids: ["kubelet"].into_iter().collect(), ..Default::default() };
        let spec = |y: &str| -> Spec { serde_saphyr::from_str(y).unwrap() };
        let ok = spec("{ function: filp_close, args: { ino: '+56(+32($arg1)):u64' }, filter: 'common_pid == {kubelet.pid}' }");
        assert!(ok.check(&scope).is_empty(), "{:?}", ok.check(&scope));
        let bad = spec("{ function: 'filp close', args: { 'i-no': '$arg1', x: '' }, filter: 'ino == {pod.inode}' }");
        let fields: Vec<String> = bad.check(&scope).into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["function", "args.i-no", "args.x", "filter"]);
    }

    #[test]
    fn a_hit_renders_with_one_frame_a_line() {
        let h = Hit { line: "kubelet-7 [000] 1.0: p: (filp_close+0x0/0x90)".into(), stack: vec!["close_fd+0x4f/0x70".into()] };
        assert_eq!(render(&h), "kubelet-7 [000] 1.0: p: (filp_close+0x0/0x90)\n  => close_fd+0x4f/0x70");
    }
}
