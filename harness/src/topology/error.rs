//! What can go wrong building or changing a topology; every message names the object.

use std::fmt;
use std::io;

/// A topology operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The plan has problems (see [`super::TopologyPlan::problems`]).
    #[error("the topology cannot be built: {}", .0.join("; "))]
    Plan(Vec<String>),
    /// `/run/netns` could not be created or made a shared mount.
    #[error("preparing /run/netns: {0}")]
    RunDir(#[source] io::Error),
    /// A namespace could not be created (`ip netns add`).
    #[error("creating network namespace {name}: {source}")]
    CreateNetns { name: String, source: io::Error },
    /// No netlink socket could be opened inside a namespace.
    #[error("opening a netlink socket in namespace {netns}: {source}")]
    Socket { netns: String, source: io::Error },
    /// A netlink request failed; `what` says which (`creating veth cli-veth <-> cligw-veth`).
    #[error("{what}: {source}")]
    Netlink { what: String, source: NetlinkFailure },
    /// A sysctl could not be set.
    #[error("setting {key} = {value} {place}: {source}")]
    Sysctl { key: String, value: String, place: String, source: io::Error },
    /// The scenario asks for a sysctl this kernel does not have.
    #[error("sysctl {key} {place} does not exist on this kernel")]
    MissingSysctl { key: String, place: String },
    /// A namespace's sysctl the namespace lacks or refuses, with the initial namespace's word
    /// on why (absent from the kernel, or a global setting).
    #[error("namespace {netns}: {why}")]
    NamespaceSysctl { netns: String, why: crate::sys::global_sysctl::NotInNamespace },
    /// The interface is not part of this topology.
    #[error("interface {0} is not part of this topology")]
    UnknownLink(String),
    /// The topology was torn down.
    #[error("cannot change {0}: the topology is torn down")]
    TornDown(String),
}

impl TopologyError {
    pub(crate) fn netlink(what: impl Into<String>, source: rtnetlink::Error) -> Self {
        TopologyError::Netlink { what: what.into(), source: NetlinkFailure(source) }
    }
}

/// An rtnetlink error shown the way `ip` shows it: `File exists`, not a debug dump.
#[derive(Debug)]
pub struct NetlinkFailure(pub rtnetlink::Error);

impl NetlinkFailure {
    /// The errno the kernel answered, if it answered one.
    pub fn errno(&self) -> Option<i32> {
        match &self.0 {
            rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
            _ => None,
        }
    }
}

impl fmt::Display for NetlinkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno() {
            Some(e) => f.write_str(nix::errno::Errno::from_raw(e).desc()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for NetlinkFailure {}
