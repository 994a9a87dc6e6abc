//! `mtu_churn` — apply a list of MTUs to a set of links, one MTU per interval, for a number
//! of rounds: this keeps creating and expiring PMTU exceptions under load.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::validate::check_mtu;
use crate::scenario::HumanDuration;

/// ```yaml
/// mtu_churn:
///   links: [cli-veth, cligw-veth, svr-veth, svrgw-veth]
///   mtus: [1400, 1300, 1100, 1000]
///   interval: 2s
///   rounds: 60          # one round = one pass over `mtus`
///   duration: 40s       # optional cap on the whole churn
///   jitter: 200ms       # optional: a random extra wait in [0, jitter] each time
///   seed: 7             # makes the jitter repeatable
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub links: Vec<String>,
    pub mtus: Vec<u32>,
    pub interval: HumanDuration,
    pub rounds: u32,
    #[serde(default)]
    pub duration: Option<HumanDuration>,
    #[serde(default)]
    pub jitter: Option<HumanDuration>,
    #[serde(default)]
    pub seed: Option<u64>,
}

impl Step for Spec {
    /// Veth MTU changes create the PMTU exceptions.
    fn kconfig(&self) -> &'static [&'static str] {
        &["CONFIG_VETH"]
    }

    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = scope.need_links("links", &self.links);
        if self.mtus.is_empty() {
            out.push(Problem::new("mtus", "give at least one MTU"));
        }
        for (i, mtu) in self.mtus.iter().enumerate() {
            check_mtu(&format!("mtus[{i}]"), *mtu, &mut out);
        }
        if self.rounds == 0 {
            out.push(Problem::new("rounds", "at least one round"));
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move { self.churn(ctx).await }.boxed()
    }
}

/// The waits between MTU changes: `interval` plus a seeded random part of `jitter`.
pub fn schedule(interval: Duration, jitter: Option<Duration>, seed: u64, count: usize) -> Vec<Duration> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| match jitter {
            Some(j) if !j.is_zero() => interval + Duration::from_micros(rng.random_range(0..=j.as_micros() as u64)),
            _ => interval,
        })
        .collect()
}

impl Spec {
    async fn churn(&self, ctx: &StepCtx<'_>) -> Result<StepSummary, StepError> {
        let topo = &ctx.env.topology;
        let seed = self.seed.unwrap_or(0);
        let changes = self.rounds as usize * self.mtus.len();
        let waits = schedule(self.interval.0, self.jitter.map(|j| j.0), seed, changes);
        let end = self.duration.map(|d| tokio::time::Instant::now() + d.0);
        let started = tokio::time::Instant::now();
        let (mut applied, mut slowest) = (0usize, Duration::ZERO);
        'rounds: for round in 0..self.rounds as usize {
            for (k, mtu) in self.mtus.iter().enumerate() {
                let t = tokio::time::Instant::now();
                for link in &self.links {
                    topo.set_mtu(link, *mtu).await.map_err(|source| StepError::Churn { round: round + 1, source })?;
                }
                slowest = slowest.max(t.elapsed());
                applied += 1;
                let wait = tokio::time::sleep(waits[round * self.mtus.len() + k]);
                let cap = async {
                    match end {
                        Some(e) => tokio::time::sleep_until(e).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = wait => {}
                    _ = cap => break 'rounds,
                    _ = ctx.cancel.cancelled() => break 'rounds,
                }
            }
            ctx.progress(format!("round {}/{} done ({} MTU changes)", round + 1, self.rounds, applied));
        }
        let rounds = applied as f64 / self.mtus.len() as f64;
        Ok(StepSummary::text(format!(
            "{applied} MTU changes on {} links ({rounds:.1} rounds) in {:.1} s; slowest change {} ms",
            self.links.len(),
            started.elapsed().as_secs_f64(),
            slowest.as_millis()
        ))
        .counter("changes", applied as f64)
        .counter("rounds", rounds)
        .counter("slowest_change_ms", slowest.as_millis() as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_bounded_and_repeatable() {
        let (i, j) = (Duration::from_secs(2), Duration::from_millis(300));
        let a = schedule(i, Some(j), 7, 50);
        assert_eq!(a, schedule(i, Some(j), 7, 50));
        assert_ne!(a, schedule(i, Some(j), 8, 50));
        assert!(a.iter().all(|w| *w >= i && *w <= i + j));
        assert!(schedule(i, None, 7, 3).iter().all(|w| *w == i));
    }
}
