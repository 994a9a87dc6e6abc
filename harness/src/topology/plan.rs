//! The topology as a list of things to create, computed from the scenario without touching
//! the kernel: which namespaces (with their real, run-tagged names), which veth pairs, which
//! addresses, MTUs, routes and sysctls, in which order. [`super::Topology::apply`] carries it
//! out; everything here is unit-tested without root.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::scenario::{parse_address, LinkKind, TopologySpec};

/// Everything a run's topology consists of, in the order it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyPlan {
    /// The tag on everything: netns names start with it, interface aliases equal it.
    pub run_id: String,
    pub namespaces: Vec<NetnsPlan>,
    pub veths: Vec<VethPlan>,
    pub routes: Vec<RoutePlan>,
    /// Sysctls of the initial namespace, set through the ledger and restored at teardown.
    pub global_sysctls: Vec<SysctlPlan>,
    /// What the scenario says that cannot be built (validation normally catches these
    /// first); [`super::Topology::apply`] refuses a plan with problems.
    pub problems: Vec<String>,
}

/// One network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsPlan {
    /// The name the scenario uses (`cli`).
    pub name: String,
    /// The name under /run/netns (`lab3fa9c1-cli`).
    pub real_name: String,
    /// In the order they are written, split by [`SysctlPlan::after_links`].
    pub sysctls: Vec<SysctlPlan>,
}

/// One sysctl to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlPlan {
    pub key: String,
    pub value: String,
    /// Set once the interfaces exist: the key names an interface of the namespace
    /// (`net.ipv4.conf.cli-veth.rp_filter`). Every other key is set right after the namespace
    /// is created, so that `conf.default.*` applies to the interfaces created later.
    pub after_links: bool,
}

/// A veth pair; `a` is created by a netlink request sent inside `a.netns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethPlan {
    pub a: EndPlan,
    pub b: EndPlan,
}

/// One end of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndPlan {
    pub name: String,
    /// Scenario name of its namespace.
    pub netns: String,
    pub addresses: Vec<IpNet>,
    /// The end's own MTU, else the link's, else the kernel default.
    pub mtu: Option<u32>,
    pub up: bool,
}

/// A route in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    pub netns: String,
    /// `0.0.0.0/0` (or `::/0` for an IPv6 gateway) for `default`.
    pub to: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
}

impl TopologyPlan {
    /// The namespace with scenario name `name`.
    pub fn netns(&self, name: &str) -> Option<&NetnsPlan> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    /// Every interface end, in creation order.
    pub fn ends(&self) -> impl Iterator<Item = &EndPlan> {
        self.veths.iter().flat_map(|v| [&v.a, &v.b])
    }
}

/// The real name of namespace `name` in run `run_id`: `lab3fa9c1-cli`.
pub fn real_netns_name(run_id: &str, name: &str) -> String {
    format!("{run_id}-{name}")
}

/// The routes of `spec`, each checked: a declared namespace, an address as gateway, a prefix
/// or `default` as destination, and a gateway or a device.
fn plan_routes(spec: &TopologySpec, known: &dyn Fn(&str) -> bool, problems: &mut Vec<String>) -> Vec<RoutePlan> {
    let mut routes = Vec::new();
    for r in &spec.routes {
        if !known(&r.netns) {
            problems.push(format!("route to {} is in namespace `{}`, which is not declared", r.to, r.netns));
        }
        let via = match r.via.as_deref().map(str::parse::<IpAddr>) {
            None => None,
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => {
                problems.push(format!(
                    "route to {} in {}: gateway `{}` is not an address",
                    r.to,
                    r.netns,
                    r.via.as_deref().unwrap_or_default()
                ));
                continue;
            }
        };
        let to = if r.to == "default" {
            match via {
                Some(IpAddr::V6(_)) => IpNet::new(Ipv6Addr::UNSPECIFIED.into(), 0).expect("prefix 0"),
                _ => IpNet::new(Ipv4Addr::UNSPECIFIED.into(), 0).expect("prefix 0"),
            }
        } else {
            match r.to.parse::<IpNet>().or_else(|_| r.to.parse::<IpAddr>().map(IpNet::from)) {
                Ok(n) => n.trunc(),
                Err(_) => {
                    problems.push(format!("route in {}: `{}` is neither `default` nor a prefix", r.netns, r.to));
                    continue;
                }
            }
        };
        if via.is_none() && r.dev.is_none() {
            problems.push(format!("route to {} in {}: give `via`, `dev` or both", r.to, r.netns));
        }
        routes.push(RoutePlan { netns: r.netns.clone(), to, via, dev: r.dev.clone() });
    }
    routes
}

/// Builds the plan of `spec` for run `run_id` (`lab3fa9c1`).
pub fn plan(spec: &TopologySpec, run_id: &str) -> TopologyPlan {
    let mut problems = Vec::new();
    let mut veths = Vec::new();
    for (i, link) in spec.links.iter().enumerate() {
        match link.kind {
            LinkKind::Veth => {}
        }
        let ends: Vec<EndPlan> = link
            .ends
            .iter()
            .map(|e| EndPlan {
                name: e.name.clone(),
                netns: e.netns.clone(),
                addresses: e
                    .addresses
                    .iter()
                    .filter_map(|a| parse_address(a).map_err(|m| problems.push(format!("links[{i}] {}: {m}", e.name))).ok())
                    .collect(),
                mtu: e.mtu.or(link.mtu),
                up: e.up,
            })
            .collect();
        match <[EndPlan; 2]>::try_from(ends) {
            Ok([a, b]) => veths.push(VethPlan { a, b }),
            Err(ends) => problems.push(format!("links[{i}]: a veth pair has 2 ends, this one has {}", ends.len())),
        }
    }

    let mut ifnames_by_ns: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for end in veths.iter().flat_map(|v| [&v.a, &v.b]) {
        ifnames_by_ns.entry(end.netns.as_str()).or_default().push(end.name.as_str());
    }
    let namespaces: Vec<NetnsPlan> = spec
        .namespaces
        .iter()
        .map(|ns| {
            let ifnames = ifnames_by_ns.get(ns.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            NetnsPlan {
                name: ns.name.clone(),
                real_name: real_netns_name(run_id, &ns.name),
                sysctls: ns
                    .sysctls
                    .iter()
                    .map(|(k, v)| SysctlPlan { key: k.clone(), value: v.0.clone(), after_links: names_interface(k, ifnames) })
                    .collect(),
            }
        })
        .collect();
    let known = |ns: &str| namespaces.iter().any(|n| n.name == ns);
    for end in veths.iter().flat_map(|v| [&v.a, &v.b]) {
        if !known(&end.netns) {
            problems.push(format!("interface {} is in namespace `{}`, which is not declared", end.name, end.netns));
        }
    }

    let routes = plan_routes(spec, &known, &mut problems);

    let global_sysctls = spec.sysctls.iter().map(|(k, v)| SysctlPlan { key: k.clone(), value: v.0.clone(), after_links: false }).collect();
    TopologyPlan { run_id: run_id.to_string(), namespaces, veths, routes, global_sysctls, problems }
}

/// Whether sysctl `key` names one of `ifnames` as a path component
/// (`net.ipv4.conf.<if>.*`, `net.ipv6.neigh.<if>.*`, or the `/`-separated form).
pub fn names_interface(key: &str, ifnames: &[&str]) -> bool {
    let sep = if key.contains('/') { '/' } else { '.' };
    ifnames.iter().any(|ifname| {
        ["conf", "neigh"].iter().any(|dir| {
            let prefix = format!("{dir}{sep}{ifname}{sep}");
            key.contains(&prefix)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{LinkEnd, LinkSpec, NamespaceSpec, RouteSpec, SysctlValue};

    fn end(name: &str, netns: &str, addr: &str) -> LinkEnd {
        LinkEnd { name: name.into(), netns: netns.into(), addresses: vec![addr.into()], mtu: None, up: true }
    }

    fn ns(name: &str, sysctls: &[(&str, &str)]) -> NamespaceSpec {
        NamespaceSpec { name: name.into(), sysctls: sysctls.iter().map(|(k, v)| (k.to_string(), SysctlValue(v.to_string()))).collect() }
    }

    /// The fnhe-leak topology of incidents.md, section 1.
    fn fnhe_leak() -> TopologySpec {
        let expires = ("net.ipv4.route.mtu_expires", "1");
        TopologySpec {
            namespaces: vec![ns("cli", &[expires]), ns("gw", &[("net.ipv4.ip_forward", "1"), expires]), ns("svr", &[expires])],
            links: vec![
                LinkSpec {
                    kind: LinkKind::Veth,
                    ends: vec![end("cli-veth", "cli", "10.0.123.1/24"), end("cligw-veth", "gw", "10.0.123.254/24")],
                    mtu: None,
                },
                LinkSpec {
                    kind: LinkKind::Veth,
                    ends: vec![end("svr-veth", "svr", "192.168.123.1/24"), end("svrgw-veth", "gw", "192.168.123.254/24")],
                    mtu: None,
                },
            ],
            routes: vec![
                RouteSpec { netns: "cli".into(), to: "default".into(), via: Some("10.0.123.254".into()), dev: None },
                RouteSpec { netns: "svr".into(), to: "default".into(), via: Some("192.168.123.254".into()), dev: None },
            ],
            sysctls: [("net.core.netdev_unregister_timeout_secs".to_string(), SysctlValue("1".into()))].into(),
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn fnhe_leak_namespaces_carry_the_run_id() {
        let p = plan(&fnhe_leak(), "lab3fa9c1");
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let names: Vec<(&str, &str)> = p.namespaces.iter().map(|n| (n.name.as_str(), n.real_name.as_str())).collect();
        assert_eq!(names, [("cli", "lab3fa9c1-cli"), ("gw", "lab3fa9c1-gw"), ("svr", "lab3fa9c1-svr")]);
        assert_eq!(p.run_id, "lab3fa9c1");
    }

    #[test]
    fn fnhe_leak_veths_addresses_and_ends() {
        let p = plan(&fnhe_leak(), "lab3fa9c1");
        assert_eq!(p.veths.len(), 2);
        let cli = &p.veths[0];
        assert_eq!((cli.a.name.as_str(), cli.a.netns.as_str()), ("cli-veth", "cli"));
        assert_eq!((cli.b.name.as_str(), cli.b.netns.as_str()), ("cligw-veth", "gw"));
        assert_eq!(cli.a.addresses, [net("10.0.123.1/24")]);
        assert_eq!(cli.b.addresses, [net("10.0.123.254/24")]);
        let svr = &p.veths[1];
        assert_eq!((svr.a.name.as_str(), svr.a.netns.as_str()), ("svr-veth", "svr"));
        assert_eq!((svr.b.name.as_str(), svr.b.netns.as_str()), ("svrgw-veth", "gw"));
        assert_eq!(svr.a.addresses, [net("192.168.123.1/24")]);
        assert_eq!(svr.b.addresses, [net("192.168.123.254/24")]);
        assert!(p.ends().all(|e| e.up && e.mtu.is_none()));
        assert_eq!(p.ends().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["cli-veth", "cligw-veth", "svr-veth", "svrgw-veth"]);
    }

    #[test]
    fn fnhe_leak_default_routes_via_gw() {
        let p = plan(&fnhe_leak(), "lab3fa9c1");
        assert_eq!(
            p.routes,
            [
                RoutePlan { netns: "cli".into(), to: net("0.0.0.0/0"), via: Some("10.0.123.254".parse().unwrap()), dev: None },
                RoutePlan { netns: "svr".into(), to: net("0.0.0.0/0"), via: Some("192.168.123.254".parse().unwrap()), dev: None },
            ]
        );
    }

    #[test]
    fn fnhe_leak_sysctls_per_namespace_and_global() {
        let p = plan(&fnhe_leak(), "lab3fa9c1");
        for n in ["cli", "gw", "svr"] {
            let s = &p.netns(n).unwrap().sysctls;
            assert!(s.iter().any(|s| s.key == "net.ipv4.route.mtu_expires" && s.value == "1" && !s.after_links), "{n}: {s:?}");
        }
        let gw = &p.netns("gw").unwrap().sysctls;
        assert!(gw.iter().any(|s| s.key == "net.ipv4.ip_forward" && s.value == "1"));
        assert!(!p.netns("cli").unwrap().sysctls.iter().any(|s| s.key == "net.ipv4.ip_forward"));
        assert_eq!(
            p.global_sysctls,
            [SysctlPlan { key: "net.core.netdev_unregister_timeout_secs".into(), value: "1".into(), after_links: false }]
        );
    }

    #[test]
    fn link_mtu_is_inherited_unless_the_end_sets_its_own() {
        let mut spec = fnhe_leak();
        spec.links[0].mtu = Some(1400);
        spec.links[0].ends[1].mtu = Some(9000);
        let p = plan(&spec, "lab000001");
        assert_eq!((p.veths[0].a.mtu, p.veths[0].b.mtu), (Some(1400), Some(9000)));
        assert_eq!(p.veths[1].a.mtu, None);
    }

    #[test]
    fn interface_sysctls_wait_for_the_links() {
        assert!(names_interface("net.ipv4.conf.cli-veth.rp_filter", &["cli-veth"]));
        assert!(names_interface("net/ipv4/conf/eth0.5/rp_filter", &["eth0.5"]));
        assert!(names_interface("net.ipv6.neigh.cli-veth.base_reachable_time_ms", &["cli-veth"]));
        assert!(!names_interface("net.ipv4.conf.default.rp_filter", &["cli-veth"]));
        assert!(!names_interface("net.ipv4.route.mtu_expires", &["cli-veth"]));
        let mut spec = fnhe_leak();
        spec.namespaces[0].sysctls.insert("net.ipv4.conf.cli-veth.forwarding".into(), SysctlValue("1".into()));
        let p = plan(&spec, "lab000001");
        let s = &p.netns("cli").unwrap().sysctls;
        assert!(s.iter().find(|s| s.key.contains("cli-veth")).unwrap().after_links);
    }

    #[test]
    fn unbuildable_input_becomes_problems() {
        let mut spec = fnhe_leak();
        spec.links[0].ends[1].netns = "gateway".into();
        spec.links[1].ends.pop();
        spec.routes[0].via = Some("not-an-ip".into());
        spec.routes.push(RouteSpec { netns: "cli".into(), to: "10.9.0.0/16".into(), via: None, dev: None });
        let p = plan(&spec, "lab000001");
        assert_eq!(p.problems.len(), 4, "{:#?}", p.problems);
        assert!(p.problems.iter().any(|m| m.contains("`gateway`")));
        assert!(p.problems.iter().any(|m| m.contains("2 ends")));
        assert!(p.problems.iter().any(|m| m.contains("not-an-ip")));
        assert!(p.problems.iter().any(|m| m.contains("give `via`, `dev`")));
    }

    #[test]
    fn prefixes_are_normalised_and_v6_default_follows_the_gateway() {
        let mut spec = fnhe_leak();
        spec.routes = vec![
            RouteSpec { netns: "cli".into(), to: "10.9.1.7/16".into(), via: None, dev: Some("cli-veth".into()) },
            RouteSpec { netns: "cli".into(), to: "default".into(), via: Some("fd00::1".into()), dev: None },
        ];
        let p = plan(&spec, "lab000001");
        assert_eq!(p.routes[0].to, net("10.9.0.0/16"));
        assert_eq!(p.routes[1].to, net("::/0"));
    }
}
