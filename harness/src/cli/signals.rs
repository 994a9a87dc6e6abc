//! Ctrl-C and SIGTERM as a stop signal for the library: the run tears down and says why.

use tokio_util::sync::CancellationToken;

use lab::event::{EventSink, Level};

/// A token cancelled on SIGINT or SIGTERM, and the task watching for them (abort it when
/// the run is over: it holds a sink, and the renderer waits for every sink to go).
pub fn stop_on_signals(events: EventSink) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    use tokio::signal::unix::{signal, SignalKind};
    let token = CancellationToken::new();
    let t = token.clone();
    let watcher = tokio::spawn(async move {
        let (mut int, mut term) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(i), Ok(t)) => (i, t),
            _ => return,
        };
        let why = tokio::select! {
            _ = int.recv() => "interrupted by SIGINT (Ctrl-C): tearing down",
            _ = term.recv() => "interrupted by SIGTERM: tearing down",
        };
        events.note(Level::Warn, why);
        t.cancel();
    });
    (token, watcher)
}
