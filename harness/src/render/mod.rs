//! Renderers: print the run's events (timeline, JSON lines) and write the file reports
//! (`junit`, `ktap`, `html` of a [`report::Report`], by `files`). They never decide a
//! verdict; they show it.

pub mod files;
pub mod html;
pub mod json;
pub mod junit;
pub mod ktap;
pub mod report;
pub mod timeline;
pub mod verification;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::event::Event;

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A human-readable timeline on stdout.
    Timeline,
    /// The timeline with details: the VM boot's phase table.
    Verbose,
    /// One JSON object per line on stdout.
    Json,
}

/// Prints every event until the channel closes; also hands each event to `also`
/// (the artifacts writer). Returns the events seen, in order.
pub async fn render(format: Format, mut rx: UnboundedReceiver<Event>, mut also: impl FnMut(&Event)) -> Vec<Event> {
    let mut seen = Vec::new();
    let mut timeline = timeline::Timeline::new(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    timeline.verbose = format == Format::Verbose;
    while let Some(event) = rx.recv().await {
        also(&event);
        let line = match format {
            Format::Timeline | Format::Verbose => timeline.line(&event),
            Format::Json => Some(json::line(&event)),
        };
        if let Some(line) = line {
            println!("{line}");
        }
        seen.push(event);
    }
    seen
}
