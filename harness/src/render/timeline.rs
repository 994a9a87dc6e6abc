//! The live, readable timeline: one line per event worth a person's attention.

use crate::event::{Event, Level, Must, Outcome};

pub struct Timeline {
    color: bool,
    /// `-v`: details such as the VM boot's phases.
    pub verbose: bool,
    /// The kernel build's progress bar while it runs (hidden when stdout is no terminal).
    build: Option<indicatif::ProgressBar>,
}

impl Timeline {
    pub fn new(color: bool) -> Self {
        Timeline { color, verbose: false, build: None }
    }

    /// Phases get a line of their own; percentages move the bar.
    fn kernel_progress(&mut self, phase: &str, percent: Option<u8>) -> Option<String> {
        let Some(percent) = percent else {
            return Some(format!("  kernel: {phase}"));
        };
        let bar = self.build.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::with_draw_target(Some(100), indicatif::ProgressDrawTarget::stdout());
            bar.set_style(
                indicatif::ProgressStyle::with_template("  kernel: {msg} [{bar:40}] {pos}% {elapsed}").unwrap().progress_chars("=> "),
            );
            bar
        });
        bar.set_message(phase.to_string());
        bar.set_position(percent as u64);
        None
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// The line for `event`, or `None` for events not shown.
    pub fn line(&mut self, event: &Event) -> Option<String> {
        // Any other event ends the build's progress bar before its own line is printed.
        if !matches!(event, Event::KernelProgress { .. }) {
            if let Some(bar) = self.build.take() {
                bar.finish_and_clear();
            }
        }
        match event {
            Event::KernelProgress { phase, percent } => self.kernel_progress(phase, *percent),
            Event::KernelReady { .. }
            | Event::VmStarting { .. }
            | Event::AccelFallback { .. }
            | Event::VmAgentUp { .. }
            | Event::GuestFault { .. }
            | Event::Artifacts { .. } => Some(self.vm_line(event)),
            Event::Verdict { outcome, summary, notes } => Some(self.verdict_line(*outcome, summary, notes)),
            Event::GuestBoot { .. } => None,
            Event::VmBootPhases(p) => self.verbose.then(|| boot_phases_line(p)),
            _ => Some(self.run_line(event)),
        }
    }

    /// Lines of the engine's own events: topology, steps, expectations, teardown.
    fn run_line(&self, event: &Event) -> String {
        let t = |ms: &u64| format!("{:>7.1}s", *ms as f64 / 1000.0);
        match event {
            Event::RunStarted { scenario, variant, backend, kernel, run_id } => {
                format!("▶ {scenario} (variant {variant}) on {backend}, kernel {kernel}, run {run_id}")
            }
            Event::Note { level: Level::Warn, message } => self.paint("33", &format!("  ! {message}")),
            Event::Note { level: Level::Info, message } => format!("  · {message}"),
            Event::TopologyUp { at_ms, namespaces, links, took_ms } => {
                format!("{} topology up in {took_ms} ms: {links} links; netns {}", t(at_ms), namespaces.join(", "))
            }
            Event::StepStarted { at_ms, step, kind, id } => {
                format!("{} step {step} {kind}{} started", t(at_ms), id.as_ref().map(|i| format!(" [{i}]")).unwrap_or_default())
            }
            Event::StepProgress { at_ms, step, message } => format!("{}   step {step}: {message}", t(at_ms)),
            Event::StepFinished { at_ms, step, kind, ok, summary, output, .. } => {
                let mark = if *ok { self.paint("32", "✓") } else { self.paint("31", "✗") };
                indented(format!("{} {mark} step {step} {kind}: {summary}", t(at_ms)), output.iter().flat_map(|o| o.lines()))
            }
            Event::ExpectationArmed { at_ms, id, must, window_ms } => {
                let what = if *must == Must::Appear { "must appear" } else { "must not appear" };
                format!("{} watching `{id}`: {what} within {:.0} s", t(at_ms), *window_ms as f64 / 1000.0)
            }
            Event::ExpectationDecided { at_ms, id, met, reason, observation, .. } => {
                let mark = if *met { self.paint("32", "✓") } else { self.paint("31", "✗") };
                indented(format!("{} {mark} `{id}`: {reason}", t(at_ms)), observation.iter().flat_map(|o| o.context.iter()))
            }
            Event::TeardownDone { at_ms, removed, problems } => {
                let removed = if removed.is_empty() { "nothing left".to_string() } else { removed.join(", ") };
                let mut s = format!("{} teardown: removed {removed}", t(at_ms));
                for p in problems {
                    s.push_str(&self.paint("31", &format!("\n           ! {p}")));
                }
                s
            }
            other => format!("  {other:?}"),
        }
    }

    /// Lines of the VM backend's events: kernel, accelerator, guest faults, artifacts.
    fn vm_line(&self, event: &Event) -> String {
        match event {
            Event::KernelReady { key, bzimage, built, took_ms, source, fuzz, hunks, tolerated } => {
                let how = if *built { format!("built in {:.0} s", *took_ms as f64 / 1000.0) } else { "cached".into() };
                let name = if key.starts_with("--bzimage") { "given" } else { &key[..key.len().min(12)] };
                let from = if source.is_empty() { String::new() } else { format!(" {source}") };
                let fuzz = if *fuzz > 0 { format!(", fuzz {fuzz} allowed") } else { String::new() };
                let head = format!("  kernel{from} {name} ({how}{fuzz}): {bzimage}");
                let notes = hunks.iter().map(|h| format!("patch: {h}")).chain(tolerated.iter().map(|t| format!("config: {t}")));
                indented(head, notes.collect::<Vec<_>>().iter())
            }
            Event::VmStarting { accel, reason } => format!("  booting QEMU with {accel} ({reason})"),
            Event::AccelFallback { from, to, reason, lines } => indented(
                self.paint("33", &format!("  {from} failed before the guest came up: {reason}; booting again with {to}")),
                lines.iter().take(6),
            ),
            Event::VmAgentUp { boot_ms } => format!("  guest agent up after {:.2} s", *boot_ms as f64 / 1000.0),
            Event::GuestFault { fault, message, lines, class, title } => match (class, title) {
                (Some(class), Some(title)) => indented(self.paint("31", &format!("  guest {fault:?} ({class:?}): {title}")), lines.iter()),
                _ => indented(self.paint("31", &format!("  guest {fault:?}: {message}")), lines.iter()),
            },
            Event::Artifacts { dir } => format!("  artifacts: {dir}"),
            other => format!("  {other:?}"),
        }
    }

    fn verdict_line(&self, outcome: Outcome, summary: &str, notes: &[String]) -> String {
        let (code, word) = match outcome {
            Outcome::Met => ("32", "MET"),
            Outcome::NotMet => ("31", "NOT MET"),
            Outcome::Error => ("31", "ERROR"),
            Outcome::Invalid => ("31", "SCENARIO ERROR"),
        };
        let mut s = format!("{} {summary}", self.paint(code, &format!("■ {word}:")));
        for n in notes {
            s.push_str(&format!("\n  note: {n}"));
        }
        s
    }
}

/// `first`, then each of `lines` indented under it with a bar.
fn indented<S: AsRef<str>>(first: String, lines: impl Iterator<Item = S>) -> String {
    let mut s = first;
    for l in lines {
        s.push_str(&format!("\n           | {}", l.as_ref()));
    }
    s
}

/// `-v`: where the boot's time went, one phase per column.
fn boot_phases_line(p: &crate::event::BootPhases) -> String {
    let s = |ms: u64| format!("{:.2} s", ms as f64 / 1000.0);
    format!(
        "  boot phases: QEMU+firmware {} · kernel to init {} · agent start {} · first event {} · total {}",
        s(p.qemu_firmware_ms),
        s(p.kernel_ms),
        s(p.agent_ms),
        s(p.first_event_ms),
        s(p.total_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_line_names_the_outcome() {
        let mut t = Timeline::new(false);
        let line = t
            .line(&Event::Verdict {
                outcome: Outcome::NotMet,
                summary: "leak-reported: not seen".into(),
                notes: vec!["sysctl missing".into()],
            })
            .unwrap();
        assert!(line.starts_with("■ NOT MET: leak-reported: not seen"), "{line}");
        assert!(line.contains("note: sysctl missing"));
    }
}
