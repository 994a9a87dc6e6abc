//! `link: { links: [...], state: down, mtu: 1400 }` — set links up or down, or their MTU.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::validate::check_mtu;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Up,
    Down,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub links: Vec<String>,
    #[serde(default)]
    pub state: Option<State>,
    #[serde(default)]
    pub mtu: Option<u32>,
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = scope.need_links("links", &self.links);
        if self.state.is_none() && self.mtu.is_none() {
            out.push(Problem::new("", "give `state` (up or down), `mtu`, or both"));
        }
        if let Some(mtu) = self.mtu {
            check_mtu("mtu", mtu, &mut out);
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let topo = &ctx.env.topology;
            for link in &self.links {
                if let Some(mtu) = self.mtu {
                    topo.set_mtu(link, mtu).await?;
                }
                if let Some(state) = self.state {
                    topo.set_up(link, state == State::Up).await?;
                }
            }
            let what = [self.state.map(|s| format!("{s:?}").to_lowercase()), self.mtu.map(|m| format!("mtu {m}"))];
            Ok(StepSummary::text(format!("{}: {}", self.links.join(", "), what.into_iter().flatten().collect::<Vec<_>>().join(", "))))
        }
        .boxed()
    }
}
