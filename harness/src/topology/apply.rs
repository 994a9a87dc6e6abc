//! Carrying out a [`TopologyPlan`] over rtnetlink.
//!
//! Order: namespaces (each created by a thread that unshares into it, sets the namespace's
//! early sysctls and opens the namespace's netlink socket before it exits), `lo` up, veth
//! pairs created straight into their namespaces (IFLA_NET_NS_FD on both ends of one
//! RTM_NEWLINK, so they never appear in the initial namespace), per interface: addresses,
//! alias = run id, up; routes; the sysctls that name an interface; global sysctls.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::sync::Mutex;

use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoVeth};
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, TokioSocket};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::plan::{EndPlan, NetnsPlan, RoutePlan, SysctlPlan, TopologyPlan, VethPlan};
use super::{netns, sysctl, LiveLink, LiveNetns, State, Topology, TopologyError};
use crate::cleanup::Ledger;

pub(super) async fn apply(plan: &TopologyPlan, ledger: &Ledger) -> Result<Topology, TopologyError> {
    if !plan.problems.is_empty() {
        return Err(TopologyError::Plan(plan.problems.clone()));
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TopologyError::Socket {
            netns: "(any)".into(),
            source: std::io::Error::other("Topology::apply must run inside a tokio runtime"),
        });
    }
    netns::ensure_run_dir().map_err(TopologyError::RunDir)?;
    let mut topo =
        Topology { run_id: plan.run_id.clone(), namespaces: Vec::new(), links: BTreeMap::new(), state: Mutex::new(State::default()) };
    match build(plan, ledger, &mut topo).await {
        Ok(()) => Ok(topo),
        Err(e) => {
            // Undo: namespaces created so far, sysctls changed so far.
            topo.teardown(ledger).await;
            Err(e)
        }
    }
}

async fn build(plan: &TopologyPlan, ledger: &Ledger, topo: &mut Topology) -> Result<(), TopologyError> {
    for (ns, socket) in create_namespaces(plan, ledger, topo)? {
        let handle = connect(socket, topo);
        handle
            .link()
            .set(LinkUnspec::new_with_name("lo").up().build())
            .execute()
            .await
            .map_err(|e| TopologyError::netlink(format!("setting lo up in {}", ns.name), e))?;
        topo.state.get_mut().unwrap().handles.insert(ns.name.clone(), handle);
    }
    for veth in &plan.veths {
        create_veth(veth, topo).await?;
    }
    for end in plan.ends() {
        configure_end(end, &plan.run_id, topo).await?;
    }
    for r in &plan.routes {
        add_route(r, topo).await?;
    }
    set_late_sysctls(plan, ledger, topo)
}

/// Creates every namespace of the plan, each recorded in `ledger` first, with its early
/// sysctls set and a netlink socket opened inside it; returns those sockets.
fn create_namespaces<'p>(
    plan: &'p TopologyPlan,
    ledger: &Ledger,
    topo: &mut Topology,
) -> Result<Vec<(&'p NetnsPlan, Socket)>, TopologyError> {
    // Namespaces are created in parallel: most of the cost is the kernel setting up each
    // one (and waiting for RCU), which overlaps well.
    for ns in &plan.namespaces {
        ledger.record_netns(&ns.real_name);
    }
    let made: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = plan
            .namespaces
            .iter()
            .map(|ns| {
                let early: Vec<SysctlPlan> = ns.sysctls.iter().filter(|s| !s.after_links).cloned().collect();
                let real_name = ns.real_name.clone();
                scope.spawn(move || {
                    netns::create(&real_name, move || -> Result<Socket, Inside> {
                        // This thread is inside the new namespace: /proc/sys/net is the namespace's.
                        for s in &early {
                            sysctl::write(None, &s.key, &s.value).map_err(|e| Inside::Sysctl(s.clone(), e))?;
                        }
                        Socket::new(NETLINK_ROUTE).map_err(Inside::Socket)
                    })
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut first_error = None;
    let mut sockets = Vec::new();
    for (ns, made) in plan.namespaces.iter().zip(made) {
        match made {
            Ok((path, inside)) => {
                topo.namespaces.push(LiveNetns { name: ns.name.clone(), real_name: ns.real_name.clone(), path });
                match inside {
                    Ok(socket) => sockets.push((ns, socket)),
                    Err(Inside::Socket(source)) => _ = first_error.get_or_insert(TopologyError::Socket { netns: ns.name.clone(), source }),
                    Err(Inside::Sysctl(s, source)) => _ = first_error.get_or_insert(sysctl_error(&s, &ns.name, source)),
                }
            }
            Err(source) => {
                ledger.forget_netns(&ns.real_name);
                first_error.get_or_insert(TopologyError::CreateNetns { name: ns.real_name.clone(), source });
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(sockets),
    }
}

/// `ip route add <to> [via <gw>] [dev <dev>]` in the route's namespace.
async fn add_route(r: &RoutePlan, topo: &mut Topology) -> Result<(), TopologyError> {
    let handle = handle(topo, &r.netns);
    let what = || {
        format!(
            "adding route {}{}{} in {}",
            r.to,
            r.via.map(|v| format!(" via {v}")).unwrap_or_default(),
            r.dev.as_ref().map(|d| format!(" dev {d}")).unwrap_or_default(),
            r.netns
        )
    };
    let mut msg = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(r.to.addr(), r.to.prefix_len())
        .map_err(|e| TopologyError::Plan(vec![format!("{}: {e}", what())]))?;
    if let Some(via) = r.via {
        msg = msg.gateway(via).map_err(|e| TopologyError::Plan(vec![format!("{}: {e}", what())]))?;
    }
    if let Some(dev) = &r.dev {
        let index = match topo.links.get(dev) {
            Some(l) if l.netns == r.netns => l.index,
            _ => index_of(&handle, dev).await.map_err(|e| TopologyError::netlink(format!("{}: looking up {dev}", what()), e))?,
        };
        msg = msg.output_interface(index);
    }
    handle.route().add(msg.build()).execute().await.map_err(|e| TopologyError::netlink(what(), e))
}

/// The sysctls that need the links: per namespace (they name an interface), then global ones
/// through the ledger.
fn set_late_sysctls(plan: &TopologyPlan, ledger: &Ledger, topo: &Topology) -> Result<(), TopologyError> {
    for ns in &plan.namespaces {
        let path = topo.namespaces.iter().find(|n| n.name == ns.name).map(|n| n.path.clone()).expect("created above");
        for s in ns.sysctls.iter().filter(|s| s.after_links) {
            sysctl::write(Some(&path), &s.key, &s.value).map_err(|e| sysctl_error(s, &ns.name, e))?;
        }
    }
    for s in &plan.global_sysctls {
        let place = "in the initial namespace".to_string();
        match ledger.set_sysctl(&s.key, &s.value) {
            Ok(Some(_)) => {}
            Ok(None) => return Err(TopologyError::MissingSysctl { key: s.key.clone(), place }),
            Err(source) => return Err(TopologyError::Sysctl { key: s.key.clone(), value: s.value.clone(), place, source }),
        }
    }
    Ok(())
}

/// What can fail on the thread that creates a namespace, after it is created.
enum Inside {
    Sysctl(SysctlPlan, std::io::Error),
    Socket(std::io::Error),
}

/// A namespace's sysctl that could not be written: a key the namespace lacks or refuses is
/// explained by the initial namespace (absent from the kernel, or a global setting).
fn sysctl_error(s: &SysctlPlan, ns: &str, source: std::io::Error) -> TopologyError {
    match crate::sys::global_sysctl::explain(&s.key, source.kind()) {
        Some(why) => TopologyError::NamespaceSysctl { netns: ns.to_string(), why },
        None => TopologyError::Sysctl { key: s.key.clone(), value: s.value.clone(), place: format!("in namespace {ns}"), source },
    }
}

/// Drives `socket` (opened inside a namespace) from the current tokio runtime.
fn connect(socket: Socket, topo: &mut Topology) -> Handle {
    // SAFETY: the fd comes straight from an owned socket; TokioSocket takes it over.
    let socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
    let (connection, handle, _) = rtnetlink::from_socket(socket);
    topo.state.get_mut().unwrap().connections.push(tokio::spawn(connection));
    handle
}

fn handle(topo: &mut Topology, ns: &str) -> Handle {
    topo.state.get_mut().unwrap().handles.get(ns).cloned().expect("every namespace of the plan has a handle")
}

fn netns_file(topo: &Topology, ns: &str) -> Result<File, TopologyError> {
    let n = topo.namespaces.iter().find(|n| n.name == ns).expect("checked by the plan");
    File::open(&n.path).map_err(|source| TopologyError::CreateNetns { name: n.real_name.clone(), source })
}

/// One RTM_NEWLINK, sent inside `a`'s namespace, naming the namespace of each end by fd.
async fn create_veth(veth: &VethPlan, topo: &mut Topology) -> Result<(), TopologyError> {
    let (a, b) = (&veth.a, &veth.b);
    let (fa, fb) = (netns_file(topo, &a.netns)?, netns_file(topo, &b.netns)?);
    let mut peer = LinkUnspec::new_with_name(&b.name).setns_by_fd(fb.as_raw_fd());
    if let Some(mtu) = b.mtu {
        peer = peer.mtu(mtu);
    }
    let mut msg = LinkVeth::new(&a.name, &b.name).setns_by_fd(fa.as_raw_fd()).set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
    if let Some(mtu) = a.mtu {
        msg = msg.mtu(mtu);
    }
    handle(topo, &a.netns)
        .link()
        .add(msg.build())
        .execute()
        .await
        .map_err(|e| TopologyError::netlink(format!("creating veth {} <-> {}", a.name, b.name), e))?;
    drop((fa, fb));
    Ok(())
}

/// Index lookup, addresses, then alias (the run id) and up in one RTM_SETLINK.
async fn configure_end(end: &EndPlan, run_id: &str, topo: &mut Topology) -> Result<(), TopologyError> {
    let handle = handle(topo, &end.netns);
    let index =
        index_of(&handle, &end.name).await.map_err(|e| TopologyError::netlink(format!("looking up {} in {}", end.name, end.netns), e))?;
    topo.links.insert(end.name.clone(), LiveLink { netns: end.netns.clone(), index });
    for addr in &end.addresses {
        handle
            .address()
            .add(index, addr.addr(), addr.prefix_len())
            .execute()
            .await
            .map_err(|e| TopologyError::netlink(format!("adding address {addr} to {} in {}", end.name, end.netns), e))?;
    }
    let msg = LinkUnspec::new_with_index(index).alias(run_id);
    let msg = if end.up { msg.up() } else { msg };
    handle.link().set(msg.build()).execute().await.map_err(|e| {
        TopologyError::netlink(format!("tagging{} {} in {}", if end.up { " and setting up" } else { "" }, end.name, end.netns), e)
    })
}

async fn index_of(handle: &Handle, name: &str) -> Result<u32, rtnetlink::Error> {
    match handle.link().get().match_name(name.to_string()).execute().try_next().await? {
        Some(m) => Ok(m.header.index),
        None => Err(rtnetlink::Error::RequestFailed),
    }
}
