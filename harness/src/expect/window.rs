//! The window of an expectation: from its anchor (a step's end, or the run start) for
//! `within`; `appear` is met by an observation inside it, `not_appear` by none.

use std::time::{Duration, Instant};

use crate::event::{Event, Must, Observation};
use crate::run_env::RunEnv;
use crate::scenario::ExpectEntry;

/// The verdict of one expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub met: bool,
    pub reason: String,
    pub since_anchor_ms: Option<u64>,
}

/// Pure: what an observation (or its absence) inside the window means for `must`.
pub fn decide(must: Must, what: &str, window: Duration, anchor: &str, anchor_ms: u64, seen: Option<&Observation>) -> Decision {
    let secs = window.as_secs_f64();
    match (must, seen) {
        (Must::Appear, Some(o)) => {
            let after = o.at_ms.saturating_sub(anchor_ms);
            Decision {
                met: true,
                reason: format!("seen {:.1} s after {anchor}: {}", after as f64 / 1000.0, o.detail),
                since_anchor_ms: Some(after),
            }
        }
        (Must::Appear, None) => {
            Decision { met: false, reason: format!("not seen within {secs:.0} s after {anchor}: {what}"), since_anchor_ms: None }
        }
        (Must::NotAppear, None) => Decision {
            met: true,
            reason: format!("absent for the whole {secs:.0} s window after {anchor}, as expected"),
            since_anchor_ms: None,
        },
        (Must::NotAppear, Some(o)) => {
            let after = o.at_ms.saturating_sub(anchor_ms);
            Decision {
                met: false,
                reason: format!("must not appear, but was seen {:.1} s after {anchor}: {}", after as f64 / 1000.0, o.detail),
                since_anchor_ms: Some(after),
            }
        }
    }
}

/// Watches one expectation from `anchor_at` for its window and reports the decision.
pub async fn evaluate(entry: &ExpectEntry, env: &RunEnv, anchor_at: Instant) -> Decision {
    let anchor = entry.after.as_deref().map_or("the run start".to_string(), |a| format!("`{a}`"));
    let anchor_ms = env.clock.ms_at(anchor_at);
    let condition = entry.condition.condition();
    env.events.send(Event::ExpectationArmed {
        at_ms: env.clock.now_ms(),
        id: entry.id.clone(),
        must: entry.must,
        window_ms: entry.within.as_millis() as u64,
    });
    let (decision, observation) = match condition.observe(env, anchor_at, anchor_at + entry.within).await {
        Ok(seen) => (decide(entry.must, &condition.describe(), entry.within, &anchor, anchor_ms, seen.as_ref()), seen),
        Err(e) => (Decision { met: false, reason: format!("could not be observed: {e}"), since_anchor_ms: None }, None),
    };
    env.events.send(Event::ExpectationDecided {
        at_ms: env.clock.now_ms(),
        id: entry.id.clone(),
        must: entry.must,
        met: decision.met,
        reason: decision.reason.clone(),
        observation,
        since_anchor_ms: decision.since_anchor_ms,
    });
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(at_ms: u64) -> Observation {
        Observation { at_ms, detail: "Usage count = 3".into(), context: vec![] }
    }

    #[test]
    fn appear_needs_an_observation() {
        let w = Duration::from_secs(30);
        let d = decide(Must::Appear, "x", w, "`teardown`", 1000, Some(&obs(2500)));
        assert!(d.met);
        assert_eq!(d.since_anchor_ms, Some(1500));
        assert!(d.reason.contains("1.5 s after `teardown`"));
        assert!(!decide(Must::Appear, "x", w, "`teardown`", 1000, None).met);
    }

    #[test]
    fn absence_window_is_broken_by_an_observation() {
        let w = Duration::from_secs(30);
        assert!(decide(Must::NotAppear, "x", w, "a", 0, None).met);
        let d = decide(Must::NotAppear, "x", w, "a", 0, Some(&obs(700)));
        assert!(!d.met);
        assert!(d.reason.contains("must not appear"));
    }
}
