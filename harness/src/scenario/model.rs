//! The scenario file as typed data: what a user writes in `scenarios/<name>.yaml`.
//!
//! Every struct denies unknown fields, so a typo is an error with its line, not a silent
//! default. Semantic checks (names that must exist, gateways that must be reachable) live
//! in `validate.rs`; this file only says what the YAML may look like.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

// The one upward edge of `scenario`, by design: a step or condition kind's YAML spec lives
// with its driver (`steps/<kind>.rs`, `expect/<kind>.rs`), and the registries of kinds are
// what a step entry or an expectation holds. Keep it the only one: no other file of
// `scenario/` imports from outside it but `event` (through here), and the kinds' checks are
// reached through these two types (`StepKind::step()`, `StepEntry::nested()`).
use crate::expect::ConditionKind;
use crate::steps::StepKind;

/// Written in expectations, carried by events: it lives with the events, below `scenario`.
pub use super::debug::DebugKind;
pub use super::kernels::{KernelVersion, Kernels};
pub use crate::event::{GuestFault, Must};

/// One incident, written down once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, the file stem by convention (`fnhe-leak`).
    pub name: String,
    /// One line for `lab list`.
    pub description: String,
    /// Longer free text: the incident, the root cause, links.
    #[serde(default)]
    pub notes: Option<String>,
    /// Which kernel the scenario is about (VM backend).
    #[serde(default)]
    pub kernel: KernelSpec,
    /// What kernel faults outside the scenario's own signature do to the outcome (VM backend).
    #[serde(default)]
    pub faults: FaultPolicy,
    /// Namespaces, links, addresses, routes, sysctls.
    #[serde(default)]
    pub topology: TopologySpec,
    /// What the run does, in order.
    pub steps: Vec<StepEntry>,
    /// What must (or must not) be observed.
    #[serde(default)]
    pub expect: Vec<ExpectEntry>,
    /// Named variants (`buggy`, `fixed`): kernel patches and expectation overrides.
    #[serde(default)]
    pub variants: BTreeMap<String, VariantSpec>,
    /// What differs on one kernel of `kernel.base`, written down with why
    /// (`"5.10": {why: ..., expect: {leak-reported: {within: 15s}}}`).
    #[serde(default)]
    pub kernels: BTreeMap<KernelVersion, KernelOverride>,
    /// Hard limit for the whole run; a run still going is stopped and reported as a hang.
    #[serde(default = "default_deadline", with = "humantime_serde")]
    pub deadline: Duration,
}

fn default_deadline() -> Duration {
    Duration::from_secs(600)
}

/// The kernel a scenario runs in under the VM backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    /// The kernels the scenario is meant for, the default first: Debian's
    /// `linux-source-<version>` (see [`super::kernels`]).
    #[serde(default)]
    pub base: Kernels,
    /// How far a hunk's context may be off (GNU patch's fuzz) when the series is applied;
    /// 0, the default, applies every patch exactly where its author meant.
    #[serde(default)]
    pub fuzz: u32,
    /// Extra kconfig fragments, relative to `vm/config/` (of the scenario's tree or the lab's, see
    /// [`super::files`]), merged after `base.config`.
    #[serde(default)]
    pub config: Vec<String>,
    /// Extra kernel command-line arguments for the guest.
    #[serde(default)]
    pub cmdline: Vec<String>,
    /// Guest memory in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u32,
    /// Guest vCPUs.
    #[serde(default = "default_cpus")]
    pub cpus: u32,
    /// Kernel reports that are expected side effects of the scenario's debug patches
    /// (`soft_lockup` from a deliberate busy-wait): reported and noted, but the run goes on.
    #[serde(default)]
    pub tolerate: Vec<GuestFault>,
    /// The kernel's checkers to build in (`[kasan, lockdep]`), each a fragment under
    /// `vm/config/debug/`; `lab run --debug` adds more.
    #[serde(default)]
    pub debug: Vec<DebugKind>,
}

fn default_memory_mib() -> u32 {
    512
}
fn default_cpus() -> u32 {
    2
}

impl Default for KernelSpec {
    fn default() -> Self {
        KernelSpec {
            base: Kernels::default(),
            fuzz: 0,
            config: Vec::new(),
            cmdline: Vec::new(),
            memory_mib: default_memory_mib(),
            cpus: default_cpus(),
            tolerate: Vec::new(),
            debug: Vec::new(),
        }
    }
}

/// The network the incident needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    #[serde(default)]
    pub namespaces: Vec<NamespaceSpec>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// Sysctls of the initial namespace (host or guest); restored after the run.
    #[serde(default)]
    pub sysctls: BTreeMap<String, SysctlValue>,
}

/// A network namespace, created like `ip netns add` does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSpec {
    pub name: String,
    /// Sysctls set inside this namespace (for example per-netns `net.ipv4.*`).
    #[serde(default)]
    pub sysctls: BTreeMap<String, SysctlValue>,
}

/// The kinds of link `lab` can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// A veth pair: exactly two ends.
    Veth,
}

/// A link between namespaces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    #[serde(default = "default_link_kind")]
    pub kind: LinkKind,
    pub ends: Vec<LinkEnd>,
    /// MTU for every end that does not set its own.
    #[serde(default)]
    pub mtu: Option<u32>,
}

fn default_link_kind() -> LinkKind {
    LinkKind::Veth
}

/// One end of a link: an interface in a namespace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEnd {
    pub name: String,
    pub netns: String,
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Bring the interface up after creation (default true).
    #[serde(default = "default_true")]
    pub up: bool,
}

fn default_true() -> bool {
    true
}

/// A route inside a namespace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub netns: String,
    /// `default` or a prefix such as `192.168.0.0/16`.
    pub to: String,
    /// Gateway address; must be inside a subnet of an address of that namespace.
    #[serde(default)]
    pub via: Option<String>,
    /// Output device; must be an interface of that namespace.
    #[serde(default)]
    pub dev: Option<String>,
}

/// A sysctl value as written: integers and strings are both accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlValue(pub String);

impl fmt::Display for SysctlValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SysctlValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SysctlValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sysctl value (an integer or a string)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SysctlValue, E> {
                Ok(SysctlValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SysctlValue, E> {
                Ok(SysctlValue(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SysctlValue, E> {
                Ok(SysctlValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A step: exactly one key names its kind; `id`, `background`, `variants` and `until` are
/// common to all kinds.
#[derive(Debug, Clone)]
pub struct StepEntry {
    /// Name other steps and expectations refer to (`after: teardown`, `stop: bulk`).
    pub id: Option<String>,
    /// Run in the background; the next step starts at once. Stop it with `stop: <id>`.
    pub background: bool,
    /// Only in these variants; `None`: in every variant.
    pub variants: Option<Vec<String>>,
    /// Only on these kernels; `None`: on every kernel of `kernel.base`.
    pub kernels: Option<Vec<KernelVersion>>,
    pub kind: StepKind,
    /// Stop the step as soon as this condition is seen (`steps/until.rs`); its own length is the cap.
    pub until: Option<ConditionKind>,
}

/// Whether an entry limited to `only` (absent: all) is part of variant `variant`.
pub fn in_variant(only: Option<&[String]>, variant: &str) -> bool {
    only.is_none_or(|v| v.iter().any(|n| n == variant))
}

/// Whether an entry limited to the kernels `only` (absent: all) runs on `kernel`.
pub fn on_kernel(only: Option<&[KernelVersion]>, kernel: KernelVersion) -> bool {
    only.is_none_or(|k| k.contains(&kernel))
}

impl StepEntry {
    /// Whether the step is part of variant `variant` on `kernel`.
    pub fn runs_in(&self, variant: &str, kernel: KernelVersion) -> bool {
        in_variant(self.variants.as_deref(), variant) && on_kernel(self.kernels.as_deref(), kernel)
    }

    /// The steps nested in this one (a `concurrent` group's), else none.
    pub fn nested(&self) -> &[StepEntry] {
        match &self.kind {
            StepKind::Concurrent(group) => &group.steps,
            _ => &[],
        }
    }
}

impl<'de> Deserialize<'de> for StepEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StepEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a step: a map with one of the keys {}", StepKind::NAMES.join(", "))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StepEntry, A::Error> {
                let (mut id, mut background, mut variants, mut kind) = (None, false, None, None);
                let (mut until, mut kernels) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "id" => id = Some(map.next_value()?),
                        "background" => background = map.next_value()?,
                        "variants" => variants = Some(map.next_value()?),
                        "kernels" => kernels = Some(map.next_value()?),
                        "until" => until = Some(map.next_value::<ConditionKind>()?),
                        k => {
                            let common = &["id", "background", "variants", "kernels", "until"];
                            kind = Some(read_kind(k, &mut map, kind, StepKind::from_map_value, StepKind::NAMES, common)?)
                        }
                    }
                }
                let kind = kind.ok_or_else(|| missing_kind::<A::Error>(StepKind::NAMES))?;
                Ok(StepEntry { id, background, variants, kernels, kind, until })
            }
        }
        d.deserialize_map(V)
    }
}

/// An expectation: one key names the condition kind; `id`, `must`, `after`, `within` and
/// `variants` are common to all kinds.
#[derive(Debug, Clone)]
pub struct ExpectEntry {
    pub id: String,
    pub must: Must,
    /// Step id whose end starts the window; `None` = the start of the run.
    pub after: Option<String>,
    /// Length of the window.
    pub within: Duration,
    /// Only in these variants; `None`: in every variant.
    pub variants: Option<Vec<String>>,
    /// Only on these kernels; `None`: on every kernel of `kernel.base`.
    pub kernels: Option<Vec<KernelVersion>>,
    /// Evidence that the race was exercised, not the fault signature: a run where it is not
    /// seen is "race not exercised" (NOT MET), and `lab verify` does not count it.
    pub evidence: bool,
    pub condition: ConditionKind,
}

impl<'de> Deserialize<'de> for ExpectEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExpectEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an expectation: a map with `id`, `within` and one of the keys {}", ConditionKind::NAMES.join(", "))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExpectEntry, A::Error> {
                let (mut id, mut must, mut after, mut within, mut condition) = (None, Must::Appear, None, None, None);
                let (mut variants, mut evidence, mut kernels) = (None, false, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "id" => id = Some(map.next_value()?),
                        "must" => must = map.next_value()?,
                        "after" => after = Some(map.next_value()?),
                        "within" => within = Some(map.next_value::<HumanDuration>()?.0),
                        "variants" => variants = Some(map.next_value()?),
                        "kernels" => kernels = Some(map.next_value()?),
                        "evidence" => evidence = map.next_value()?,
                        k => {
                            condition = Some(read_kind(
                                k,
                                &mut map,
                                condition,
                                ConditionKind::from_map_value,
                                ConditionKind::NAMES,
                                &["id", "must", "after", "within", "variants", "kernels", "evidence"],
                            )?)
                        }
                    }
                }
                Ok(ExpectEntry {
                    id: id.ok_or_else(|| de::Error::missing_field("id"))?,
                    must,
                    after,
                    within: within.ok_or_else(|| de::Error::missing_field("within"))?,
                    variants,
                    kernels,
                    evidence,
                    condition: condition.ok_or_else(|| missing_kind::<A::Error>(ConditionKind::NAMES))?,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// A registry's reader of one kind's value: `None` when `key` names no kind.
type KindReader<A, K, E> = fn(&str, &mut A) -> Result<Option<K>, E>;

/// Reads the value of a key that should name a kind, refusing a second kind and unknown keys.
fn read_kind<'de, A: MapAccess<'de>, K>(
    key: &str,
    map: &mut A,
    already: Option<K>,
    from_map_value: KindReader<A, K, A::Error>,
    kinds: &[&str],
    common: &[&str],
) -> Result<K, A::Error> {
    if already.is_some() {
        return Err(de::Error::custom(format_args!("`{key}`: an entry has exactly one kind, and this one already has one")));
    }
    from_map_value(key, map)?.ok_or_else(|| {
        de::Error::custom(format_args!(
            "unknown key `{key}`, expected one of the kinds {} or the fields {}",
            kinds.join(", "),
            common.join(", ")
        ))
    })
}

fn missing_kind<E: de::Error>(kinds: &[&str]) -> E {
    E::custom(format_args!("no kind given: add one of the keys {}", kinds.join(", ")))
}

/// A variant selects a kernel build and may change what is expected.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// The variant `lab run` picks without `--variant`.
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// Patch series, in order, relative to `kernel-patches/<scenario>/`.
    #[serde(default)]
    pub patches: Vec<String>,
    /// Extra kconfig fragments for this variant, relative to `vm/config/`.
    #[serde(default)]
    pub config: Vec<String>,
    /// Per-expectation overrides, by expectation id.
    #[serde(default)]
    pub expect: BTreeMap<String, ExpectOverride>,
}

/// What differs on one kernel: said with why, in the shape variants use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelOverride {
    /// Why this kernel differs (measured, or read in its source): shown by `lab check`.
    pub why: String,
    /// Per-expectation overrides on this kernel, by expectation id, applied after the
    /// variant's (what a kernel does differently outranks the variant's default).
    #[serde(default)]
    pub expect: BTreeMap<String, ExpectOverride>,
}

/// What a variant may change in an expectation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectOverride {
    #[serde(default)]
    pub must: Option<Must>,
    #[serde(default, with = "humantime_serde::option")]
    pub within: Option<Duration>,
}

/// A duration written as `2s`, `500ms`, `1m 30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        humantime_serde::deserialize(d).map(HumanDuration)
    }
}

/// An address written without a prefix length, or not an address at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an address with a prefix length, like 10.0.0.1/24")]
pub struct AddressError(pub String);

/// An address with prefix length, as written in `addresses:` (`10.0.123.1/24`).
pub fn parse_address(text: &str) -> Result<IpNet, AddressError> {
    text.parse::<IpNet>().map_err(|_| AddressError(text.to_string()))
}

/// `faults:`: what a kernel fault that is not the scenario's signature (no `kernel_log`
/// expectation's pattern matches its first line) does to the run's outcome.
///
/// ```yaml
/// faults: allow                        # default: listed in verdict.json, outcome unchanged
/// faults: forbid                       # any such fault makes the run NOT MET
/// faults: { allow: ['^WARNING in foo$'] }  # forbid all but those whose title matches
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FaultPolicy {
    #[default]
    Allow,
    Forbid,
    /// Forbid every fault but those whose title matches one of these regexes.
    AllowOnly(Vec<String>),
}

impl<'de> Deserialize<'de> for FaultPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FaultPolicy;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`allow`, `forbid`, or `{ allow: [title regexes] }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FaultPolicy, E> {
                match v {
                    "allow" => Ok(FaultPolicy::Allow),
                    "forbid" => Ok(FaultPolicy::Forbid),
                    other => Err(E::custom(format_args!("`{other}`: give `allow`, `forbid`, or `{{ allow: [title regexes] }}`"))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FaultPolicy, A::Error> {
                let mut allow = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "allow" => allow = Some(map.next_value::<Vec<String>>()?),
                        k => return Err(de::Error::custom(format_args!("unknown key `{k}`, expected `allow` (a list of title regexes)"))),
                    }
                }
                allow.map(FaultPolicy::AllowOnly).ok_or_else(|| de::Error::missing_field("allow"))
            }
        }
        d.deserialize_any(V)
    }
}
