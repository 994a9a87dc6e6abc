//! Sysctls that are one per kernel, not one per network namespace: the initial namespace
//! has them, a namespace made with `ip netns add` either lacks them or may only read them.
//! A scenario sets these without `netns` (a `sysctl` step without `netns`, or
//! `topology.sysctls`).
//!
//! Two halves. [`known`] is a small documented list, for `lab check`'s warnings: each entry
//! was checked on Linux 6.1 (Debian's `linux-source-6.1`, the file named in its reason) and
//! on the host kernel this lab was written on (6.18: the key absent, or read-only, in a
//! fresh `ip netns add` namespace). [`explain`] decides at run time, for a key a namespace
//! lacks or refuses, by looking at `/proc/sys` in the initial namespace: the list is never
//! needed to give the right message.

use std::io;

use super::sysctl;

/// How a global sysctl shows in a namespace other than the initial one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Absent from `/proc/sys` there.
    InitOnly,
    /// Present but read-only there (mode 0444: writing gives `EACCES`, even as root).
    ReadOnlyElsewhere,
}

/// One entry of the list: a key, or a prefix ending in `.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub pattern: &'static str,
    pub scope: Scope,
    /// Why, and where the 6.1 source says so.
    pub reason: &'static str,
}

const NEIGH: &str = "the neighbour tables (ARP, NDISC) are one per kernel and their `default` parameters, gc_thresh1/2/3 and \
                     gc_interval among them, belong to the initial namespace (net/core/neighbour.c, neigh_table_init); a namespace \
                     has only its own devices' entries";
const CORE: &str = "net/core/sysctl_net_core.c registers net_core_table for the initial namespace only (a namespace gets \
                    somaxconn and txrehash)";
const ROUTE: &str = "net/ipv4/route.c registers ipv4_route_table (the route cache's gc and redirect limits) for the initial \
                     namespace only; a namespace gets mtu_expires, min_pmtu, min_adv_mss";
const IPV4: &str = "net/ipv4/sysctl_net_ipv4.c registers ipv4_table (memory limits shared by all namespaces) for the initial \
                    namespace only";
const CT_MAX: &str = "net/netfilter/nf_conntrack_standalone.c registers net.nf_conntrack_max for the initial namespace only";
const CT_RO: &str = "the conntrack table is one per kernel: nf_conntrack_standalone.c makes its size limits read-only (0444) \
                     outside the initial namespace";

/// The list `lab check` warns from. Small on purpose: keys scenarios of this kind set.
pub const KNOWN: &[Known] = &[
    Known { pattern: "net.ipv4.neigh.default.*", scope: Scope::InitOnly, reason: NEIGH },
    Known { pattern: "net.ipv6.neigh.default.*", scope: Scope::InitOnly, reason: NEIGH },
    Known { pattern: "net.core.netdev_unregister_timeout_secs", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.core.netdev_max_backlog", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.core.netdev_budget", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.core.netdev_budget_usecs", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.core.dev_weight", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.core.default_qdisc", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.core.rps_sock_flow_entries", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.core.bpf_jit_enable", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.core.busy_poll", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.core.busy_read", scope: Scope::InitOnly, reason: CORE },
    Known { pattern: "net.ipv4.route.gc_thresh", scope: Scope::InitOnly, reason: ROUTE },
    Known { pattern: "net.ipv4.route.gc_timeout", scope: Scope::InitOnly, reason: ROUTE },
    Known { pattern: "net.ipv4.route.gc_interval", scope: Scope::InitOnly, reason: ROUTE },
    Known { pattern: "net.ipv4.route.max_size", scope: Scope::InitOnly, reason: ROUTE },
    Known { pattern: "net.ipv4.route.redirect_number", scope: Scope::InitOnly, reason: ROUTE },
    Known { pattern: "net.ipv4.route.error_burst", scope: Scope::InitOnly, reason: ROUTE },
    Known { pattern: "net.ipv4.tcp_mem", scope: Scope::InitOnly, reason: IPV4 },
    Known { pattern: "net.ipv4.udp_mem", scope: Scope::InitOnly, reason: IPV4 },
    Known { pattern: "net.ipv4.tcp_max_orphans", scope: Scope::InitOnly, reason: IPV4 },
    Known { pattern: "net.ipv4.inet_peer_threshold", scope: Scope::InitOnly, reason: IPV4 },
    Known { pattern: "net.nf_conntrack_max", scope: Scope::InitOnly, reason: CT_MAX },
    Known { pattern: "net.netfilter.nf_conntrack_max", scope: Scope::ReadOnlyElsewhere, reason: CT_RO },
    Known { pattern: "net.netfilter.nf_conntrack_buckets", scope: Scope::ReadOnlyElsewhere, reason: CT_RO },
    Known { pattern: "net.netfilter.nf_conntrack_expect_max", scope: Scope::ReadOnlyElsewhere, reason: CT_RO },
];

/// The list's entry for `key` (written with dots, or `/` separators), if any.
pub fn known(key: &str) -> Option<&'static Known> {
    let key = if key.contains('/') { key.trim_matches('/').replace('/', ".") } else { key.to_string() };
    KNOWN.iter().find(|k| match k.pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == k.pattern,
    })
}

/// Why a namespace did not take a key, as the initial namespace explains it.
#[derive(Debug, thiserror::Error)]
pub enum NotInNamespace {
    /// Not in the initial namespace either.
    #[error("sysctl {key} does not exist on this kernel ({release})")]
    Absent { key: String, release: String },
    /// A per-device key (`net.ipv4.conf.<dev>.*`) of a device the namespace does not have.
    #[error("sysctl {key} names interface {device}, which this namespace does not have")]
    NoDevice { key: String, device: String },
    /// Only the initial namespace has it.
    #[error(
        "sysctl {key} exists only in the initial network namespace on this kernel ({release}): it is a global setting{}; \
         set it without `netns` (a `sysctl` step without `netns`, or under `topology.sysctls`)",
        because(.known)
    )]
    InitOnly { key: String, release: String, known: Option<&'static Known> },
    /// The namespace has it read-only; the initial namespace may write it.
    #[error(
        "sysctl {key} is read-only inside a network namespace on this kernel ({release}): it is a global setting{}; \
         set it without `netns` (a `sysctl` step without `netns`, or under `topology.sysctls`)",
        because(.known)
    )]
    ReadOnly { key: String, release: String, known: Option<&'static Known> },
}

fn because(known: &Option<&'static Known>) -> String {
    known.map(|k| format!(" ({})", k.reason)).unwrap_or_default()
}

/// Why writing `key` inside a namespace failed with `error`, by looking at `/proc/sys` in
/// the initial namespace (the caller's own thread must be in it). `None`: the error is of
/// another kind (the namespace lacks nothing; the value was refused, say).
pub fn explain(key: &str, error: io::ErrorKind) -> Option<NotInNamespace> {
    let (key_s, release) = (key.to_string(), super::kernel_release());
    if let (io::ErrorKind::NotFound, Some(device)) = (error, device_of(key)) {
        return Some(NotInNamespace::NoDevice { key: key_s, device });
    }
    let in_init = sysctl::read(None, key).ok().flatten().is_some();
    match (error, in_init) {
        (io::ErrorKind::NotFound, false) => Some(NotInNamespace::Absent { key: key_s, release }),
        (io::ErrorKind::NotFound, true) => Some(NotInNamespace::InitOnly { key: key_s, release, known: known(key) }),
        (io::ErrorKind::PermissionDenied, true) => Some(NotInNamespace::ReadOnly { key: key_s, release, known: known(key) }),
        _ => None,
    }
}

/// The interface a per-device key names: `net.ipv4.conf.cli-veth.rp_filter` -> `cli-veth`
/// (`all` and `default` are no devices).
fn device_of(key: &str) -> Option<String> {
    let parts: Vec<&str> = if key.contains('/') { key.trim_matches('/').split('/').collect() } else { key.split('.').collect() };
    match parts.as_slice() {
        ["net", "ipv4" | "ipv6", "conf" | "neigh", dev, _, ..] if !matches!(*dev, "all" | "default") => Some(dev.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_matches_keys_and_prefixes() {
        assert_eq!(known("net.ipv4.neigh.default.gc_thresh3").map(|k| k.scope), Some(Scope::InitOnly));
        assert_eq!(known("net/ipv6/neigh/default/gc_thresh1").map(|k| k.scope), Some(Scope::InitOnly));
        assert_eq!(known("net.netfilter.nf_conntrack_max").map(|k| k.scope), Some(Scope::ReadOnlyElsewhere));
        assert!(known("net.ipv4.neigh.cli-veth.gc_stale_time").is_none(), "a device's entry is per namespace");
        assert!(known("net.core.somaxconn").is_none());
        assert!(known("net.ipv4.route.mtu_expires").is_none(), "per namespace on 6.1: fnhe-leak sets it in each");
        assert!(known("net.core.netdev_budget_usecs").is_some() && known("net.core.netdev_budget").is_some());
        assert_eq!(device_of("net.ipv4.conf.cli-veth.rp_filter").as_deref(), Some("cli-veth"));
        assert_eq!(device_of("net/ipv4/conf/eth0.5/rp_filter").as_deref(), Some("eth0.5"));
        assert_eq!(device_of("net.ipv4.neigh.default.gc_thresh3"), None);
        assert_eq!(device_of("net.ipv6.conf.all.forwarding"), None);
    }

    /// The run-time half against the real kernel: every key of the list that this kernel
    /// has is absent (or read-only) in a fresh namespace, and is explained so.
    #[test]
    fn a_fresh_namespace_lacks_the_listed_keys_and_the_message_says_why() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let name = format!("lab-gsys-{}", std::process::id());
        let (path, ()) = crate::sys::netns::create(&name, || ()).expect("create a namespace");
        let checked = std::panic::catch_unwind(|| {
            for k in KNOWN.iter().filter(|k| !k.pattern.ends_with('*')) {
                if sysctl::read(None, k.pattern).unwrap().is_none() {
                    continue;
                }
                let err = sysctl::write(Some(&path), k.pattern, "1").expect_err(k.pattern);
                let why = explain(k.pattern, err.kind()).unwrap_or_else(|| panic!("{}: {err}", k.pattern));
                match k.scope {
                    Scope::InitOnly => assert!(matches!(why, NotInNamespace::InitOnly { .. }), "{why}"),
                    Scope::ReadOnlyElsewhere => assert!(matches!(why, NotInNamespace::ReadOnly { .. }), "{why}"),
                }
            }
            let err = sysctl::write(Some(&path), "net.ipv4.neigh.default.gc_thresh3", "2048").unwrap_err();
            let msg = explain("net.ipv4.neigh.default.gc_thresh3", err.kind()).unwrap().to_string();
            assert!(msg.contains("exists only in the initial network namespace") && msg.contains("without `netns`"), "{msg}");
            let err = sysctl::write(Some(&path), "net.ipv4.no_such_key", "1").unwrap_err();
            assert!(matches!(explain("net.ipv4.no_such_key", err.kind()), Some(NotInNamespace::Absent { .. })));
        });
        crate::sys::netns::delete(&name).ok();
        checked.unwrap();
    }
}
