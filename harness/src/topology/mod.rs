//! The network a scenario needs: a pure [`plan`] from the scenario, then [`Topology::apply`]
//! over rtnetlink, changes while the run goes on ([`Topology::set_mtu`], [`Topology::set_up`])
//! and [`Topology::teardown`].
//!
//! - `plan.rs`: scenario -> [`TopologyPlan`], pure, unit-tested without root.
//! - `apply.rs`: building a plan; one netlink connection per namespace, opened inside it.
//!
//! Namespaces and `/proc/sys` themselves are [`crate::sys`] (re-exported here as [`netns`] and
//! [`sysctl`]); global sysctls change through the ledger ([`Ledger::set_sysctl`]).
//!
//! Everything is tagged with the run id: namespaces are `/run/netns/<run_id>-<name>`, every
//! interface's alias (IFLA_IFALIAS) is the run id. See [`crate::cleanup`].

mod apply;
mod error;
pub mod plan;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use futures::TryStreamExt;
use netlink_packet_route::link::LinkAttribute;
use rtnetlink::{Handle, LinkUnspec};

use crate::cleanup::Ledger;

pub use crate::sys::{in_netns, netns, sysctl};
pub use error::{NetlinkFailure, TopologyError};
pub use plan::{plan, TopologyPlan};

/// A live topology: its namespaces exist and each has an open netlink connection.
pub struct Topology {
    run_id: String,
    namespaces: Vec<LiveNetns>,
    links: BTreeMap<String, LiveLink>,
    state: Mutex<State>,
}

struct LiveNetns {
    /// Scenario name.
    name: String,
    /// Name under /run/netns.
    real_name: String,
    path: PathBuf,
}

struct LiveLink {
    /// Scenario name of its namespace.
    netns: String,
    index: u32,
}

#[derive(Default)]
struct State {
    /// Netlink handle per namespace (scenario name); emptied by teardown.
    handles: BTreeMap<String, Handle>,
    /// The connection tasks driving those handles' sockets.
    connections: Vec<tokio::task::JoinHandle<()>>,
    torn_down: bool,
}

/// What teardown removed and what it could not.
#[derive(Debug, Clone, Default)]
pub struct TeardownReport {
    pub removed: Vec<String>,
    pub problems: Vec<String>,
}

impl Topology {
    /// Builds `plan`: namespaces, veth pairs, addresses, MTUs, links up, routes, sysctls.
    /// Every namespace and global sysctl is recorded in `ledger` before it is created or
    /// changed. On error, removes what it created and restores what it changed.
    pub async fn apply(plan: &TopologyPlan, ledger: &Ledger) -> Result<Topology, TopologyError> {
        apply::apply(plan, ledger).await
    }

    /// The run id everything is tagged with.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Scenario names of the namespaces.
    pub fn netns_names(&self) -> Vec<String> {
        self.namespaces.iter().map(|n| n.name.clone()).collect()
    }

    /// `/run/netns/<run_id>-<ns>` for scenario namespace `ns`; `None` if there is no such
    /// namespace or it was torn down.
    pub fn netns_path(&self, ns: &str) -> Option<PathBuf> {
        if self.state.lock().unwrap().torn_down {
            return None;
        }
        self.namespaces.iter().find(|n| n.name == ns).map(|n| n.path.clone())
    }

    /// Names of the interfaces created, sorted.
    pub fn link_names(&self) -> Vec<String> {
        self.links.keys().cloned().collect()
    }

    /// The scenario namespace interface `ifname` is in.
    pub fn link_netns(&self, ifname: &str) -> Option<&str> {
        self.links.get(ifname).map(|l| l.netns.as_str())
    }

    /// Sets the MTU of interface `ifname`.
    pub async fn set_mtu(&self, ifname: &str, mtu: u32) -> Result<(), TopologyError> {
        let (handle, link) = self.handle_for(ifname)?;
        handle
            .link()
            .set(LinkUnspec::new_with_index(link.index).mtu(mtu).build())
            .execute()
            .await
            .map_err(|e| TopologyError::netlink(format!("setting MTU {mtu} on {ifname} (in {})", link.netns), e))
    }

    /// The MTU of interface `ifname`, read back from the kernel.
    pub async fn mtu(&self, ifname: &str) -> Result<u32, TopologyError> {
        let (handle, link) = self.handle_for(ifname)?;
        let what = || format!("reading the MTU of {ifname} (in {})", link.netns);
        let msg = handle.link().get().match_index(link.index).execute().try_next().await.map_err(|e| TopologyError::netlink(what(), e))?;
        msg.and_then(|m| m.attributes.into_iter().find_map(|a| if let LinkAttribute::Mtu(m) = a { Some(m) } else { None }))
            .ok_or_else(|| TopologyError::UnknownLink(ifname.to_string()))
    }

    /// Brings interface `ifname` up or down.
    pub async fn set_up(&self, ifname: &str, up: bool) -> Result<(), TopologyError> {
        let (handle, link) = self.handle_for(ifname)?;
        let msg = LinkUnspec::new_with_index(link.index);
        let msg = if up { msg.up() } else { msg.down() };
        handle
            .link()
            .set(msg.build())
            .execute()
            .await
            .map_err(|e| TopologyError::netlink(format!("setting {ifname} (in {}) {}", link.netns, if up { "up" } else { "down" }), e))
    }

    fn handle_for(&self, ifname: &str) -> Result<(Handle, &LiveLink), TopologyError> {
        let link = self.links.get(ifname).ok_or_else(|| TopologyError::UnknownLink(ifname.to_string()))?;
        let state = self.state.lock().unwrap();
        match state.handles.get(&link.netns) {
            Some(h) if !state.torn_down => Ok((h.clone(), link)),
            _ => Err(TopologyError::TornDown(ifname.to_string())),
        }
    }

    /// The end of a run: [`Topology::delete_namespaces`], then restores the global sysctls
    /// recorded in `ledger` and removes the kprobes still recorded there (a `trace` step
    /// removes its own; these are what it could not). Safe to call more than once.
    pub async fn teardown(&self, ledger: &Ledger) -> TeardownReport {
        let mut report = self.delete_namespaces(ledger).await;
        report.problems.extend(ledger.restore_sysctls());
        report.problems.extend(ledger.remove_probes());
        report
    }

    /// Deletes the namespaces (lazy unmount + unlink, like `ip netns del`) after closing the
    /// netlink sockets that pin them. Global sysctls stay as the scenario set them: they
    /// shape what the kernel reports after the namespaces go (the unregister timeout).
    /// The kernel destroys a namespace, and unregisters its interfaces, once nothing holds it
    /// any more; that happens in the background, so a leaked device reference shows up in
    /// the kernel log rather than blocking teardown. Safe to call more than once: a second
    /// call retries only what failed.
    pub async fn delete_namespaces(&self, ledger: &Ledger) -> TeardownReport {
        let connections = {
            let mut state = self.state.lock().unwrap();
            state.torn_down = true;
            state.handles.clear();
            std::mem::take(&mut state.connections)
        };
        for c in connections {
            c.abort();
            let _ = c.await;
        }
        let mut report = TeardownReport::default();
        // In parallel: each lazy unmount waits for an RCU grace period; those overlap.
        let results: Vec<std::io::Result<bool>> = std::thread::scope(|scope| {
            let workers: Vec<_> = self.namespaces.iter().map(|ns| scope.spawn(|| netns::delete_path(&ns.path))).collect();
            workers.into_iter().map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        });
        for (ns, result) in self.namespaces.iter().zip(results) {
            match result {
                Ok(removed) => {
                    ledger.forget_netns(&ns.real_name);
                    if removed {
                        report.removed.push(ns.real_name.clone());
                    }
                }
                Err(e) => report.problems.push(format!("deleting namespace {} ({}): {e}", ns.name, ns.real_name)),
            }
        }
        report
    }
}
