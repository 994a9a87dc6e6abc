//! Running step entries in order, in the background, or side by side, with their events.
//! Entries limited to other variants (`variants: [...]`) are skipped; an entry with `until:`
//! runs through [`super::until`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{StepCtx, StepError};
use crate::event::Event;
use crate::run_env::{Background, RunEnv};
use crate::scenario::StepEntry;

/// How long a stopped background step may take to wind down before it is abandoned.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Runs `entries` one after the other; the first failure ends the sequence.
pub fn run_entries<'a>(
    env: &'a Arc<RunEnv>,
    entries: &'a [StepEntry],
    prefix: &'a str,
    cancel: &'a CancellationToken,
) -> BoxFuture<'a, Result<(), StepError>> {
    async move {
        for (i, entry) in entries.iter().enumerate() {
            if cancel.is_cancelled() {
                return Err(StepError::Interrupted);
            }
            let index = if prefix.is_empty() { format!("{}", i + 1) } else { format!("{prefix}.{}", i + 1) };
            run_entry(env, entry, index, cancel).await?;
        }
        Ok(())
    }
    .boxed()
}

/// Runs one entry: in the foreground it returns when the step is done; in the background
/// it returns at once and the step runs until it ends or is stopped.
/// A step whose kind [`super::Step::waits_until_ready`] holds the sequence until then: a
/// background step that failed before it was ready fails the sequence.
pub async fn run_entry(env: &Arc<RunEnv>, entry: &StepEntry, index: String, cancel: &CancellationToken) -> Result<(), StepError> {
    if !entry.runs_in(&env.variant.name, env.variant.kernel) {
        return Ok(());
    }
    if !entry.background {
        return run_one(env, entry, index, cancel.clone(), Ready::none()).await;
    }
    let token = cancel.child_token();
    let (tx, rx) = oneshot::channel();
    let ready = Ready(Arc::new(Mutex::new(Some(tx))));
    let (env2, entry2, token2, ready2) = (env.clone(), entry.clone(), token.clone(), ready.clone());
    let done = tokio::spawn(async move {
        // A background step's failure is in its StepFinished event; it does not end the run
        // unless the sequence is still waiting for it to be ready.
        let result = run_one(&env2, &entry2, index, token2, ready2.clone()).await;
        ready2.fire(result);
    });
    let id = entry.id.clone().unwrap_or_default();
    env.background.lock().unwrap().insert(id, Background { cancel: token, done });
    if entry.kind.step().waits_until_ready() {
        return rx.await.unwrap_or(Ok(()));
    }
    Ok(())
}

/// The signal a background step gives when what it holds is set up (or it ended).
#[derive(Clone)]
pub(super) struct Ready(Arc<Mutex<Option<ReadyTx>>>);

type ReadyTx = oneshot::Sender<Result<(), StepError>>;

impl Ready {
    fn none() -> Self {
        Ready(Arc::new(Mutex::new(None)))
    }

    /// Gives the signal, once; later calls do nothing.
    pub(super) fn fire(&self, result: Result<(), StepError>) {
        if let Some(tx) = self.0.lock().unwrap().take() {
            let _ = tx.send(result);
        }
    }
}

async fn run_one(env: &Arc<RunEnv>, entry: &StepEntry, index: String, cancel: CancellationToken, ready: Ready) -> Result<(), StepError> {
    let kind = entry.kind.name().to_string();
    env.events.send(Event::StepStarted { at_ms: env.clock.now_ms(), step: index.clone(), kind: kind.clone(), id: entry.id.clone() });
    // With `until:`, the step gets a token of its own, so that seeing the condition stops it
    // and nothing else.
    let cancel = if entry.until.is_some() { cancel.child_token() } else { cancel };
    let ctx = StepCtx { env, index: index.clone(), id: entry.id.clone(), background: entry.background, cancel, ready };
    let result = match &entry.until {
        Some(until) => super::until::run_until(env, &index, until, &ctx.cancel, entry.kind.step().run(&ctx)).await,
        None => entry.kind.step().run(&ctx).await,
    };
    let (ok, summary, counters, output) = match &result {
        Ok(s) => (true, s.text.clone(), s.counters.clone(), s.output.clone()),
        Err(e) => (false, e.to_string(), Default::default(), None),
    };
    if let Some(id) = &entry.id {
        env.set_output(id, format!("{summary}\n{}", output.as_deref().unwrap_or_default()));
    }
    env.events.send(Event::StepFinished {
        at_ms: env.clock.now_ms(),
        step: index.clone(),
        kind: kind.clone(),
        id: entry.id.clone(),
        ok,
        summary,
        counters,
        output,
    });
    if ok {
        if let Some(id) = &entry.id {
            env.set_anchor(id);
        }
    }
    result.map(|_| ()).map_err(|e| StepError::Step { index, kind, source: Box::new(e) })
}

/// Stops the background step `id` and waits for it to finish. False if there is none.
pub async fn stop_one(env: &RunEnv, id: &str) -> bool {
    let Some(bg) = env.background.lock().unwrap().remove(id) else {
        return false;
    };
    bg.cancel.cancel();
    let _ = tokio::time::timeout(STOP_GRACE, bg.done).await;
    true
}

/// Stops every background step still running (end of the steps, or an aborted run).
pub async fn stop_background(env: &RunEnv) {
    let ids: Vec<String> = env.background.lock().unwrap().keys().cloned().collect();
    for id in ids {
        stop_one(env, &id).await;
    }
}
