//! Semantic checks that need the whole scenario: every name used is defined, every address
//! parses, every gateway is reachable. Returns all problems, not just the first.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::check::{join_path, CheckScope, Problem};
use super::model::{parse_address, FaultPolicy, GuestFault, LinkKind, Scenario, StepEntry};

/// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;
/// IPv4 needs at least 68; veth accepts up to 65535.
const MTU_RANGE: std::ops::RangeInclusive<u32> = 68..=65535;

/// Every problem in `scenario`, each with its YAML path.
pub fn validate(scenario: &Scenario) -> Vec<Problem> {
    let scope = CheckScope::of(scenario);
    let mut problems = Vec::new();
    if scenario.name.trim().is_empty() {
        problems.push(Problem::new("name", "must not be empty"));
    }
    check_kernel(scenario, &mut problems);
    check_faults(scenario, &mut problems);
    check_topology(scenario, &scope, &mut problems);
    let mut ids = Vec::new();
    check_steps(&scenario.steps, "steps", &scope, &mut ids, &mut problems);
    check_duplicate_ids(&ids, &mut problems);
    check_expectations(scenario, &scope, &mut problems);
    check_variants(scenario, &scope, &mut problems);
    check_kernel_overrides(scenario, &scope, &mut problems);
    check_variant_lists(scenario, &ids, &mut problems);
    check_evidence(scenario, &mut problems);
    problems
}

/// Evidence is a sighting: an `evidence: true` expectation must appear, in every variant.
fn check_evidence(s: &Scenario, out: &mut Vec<Problem>) {
    use super::model::Must;
    for (i, e) in s.expect.iter().enumerate().filter(|(_, e)| e.evidence) {
        if e.must == Must::NotAppear {
            out.push(Problem::new(format!("expect[{i}].must"), "an `evidence: true` expectation is something seen: it must `appear`"));
        }
        for (name, v) in &s.variants {
            if v.expect.get(&e.id).and_then(|o| o.must) == Some(Must::NotAppear) {
                out.push(Problem::new(
                    format!("variants.{name}.expect.{}.must", e.id),
                    format!("`{}` is evidence (something seen): a variant cannot make it `not_appear`", e.id),
                ));
            }
        }
    }
}

/// A step id where it is written, and the variants it runs in (`None`: all).
type IdUse<'a> = (&'a str, String, Option<&'a [String]>);

/// Whether two entries limited to `a` and `b` ever run in the same variant.
fn overlap(a: Option<&[String]>, b: Option<&[String]>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().any(|v| b.contains(v)),
        _ => true,
    }
}

/// Step ids are unique within every variant: two steps may share an id (`export`, done
/// two ways) only when their `variants` lists have nothing in common.
fn check_duplicate_ids(ids: &[IdUse], out: &mut Vec<Problem>) {
    for (i, (id, field, only)) in ids.iter().enumerate() {
        if ids[..i].iter().any(|(other, _, o)| other == id && overlap(*only, *o)) {
            let why = if only.is_some() { " (in a variant where another step has it too)" } else { "" };
            out.push(Problem::new(field.clone(), format!("duplicate step id `{id}`{why}")));
        }
    }
}

/// The names of the variants (`default` when there are none).
fn variant_names(s: &Scenario) -> Vec<&str> {
    if s.variants.is_empty() {
        vec!["default"]
    } else {
        s.variants.keys().map(String::as_str).collect()
    }
}

/// The `variants:` lists of `steps`, at any depth, with where they are written.
fn step_variant_lists<'a>(steps: &'a [StepEntry], prefix: &str, out: &mut Vec<(String, &'a [String])>) {
    for (i, step) in steps.iter().enumerate() {
        let at = format!("{prefix}[{i}]");
        if let Some(only) = &step.variants {
            out.push((at.clone(), only));
        }
        step_variant_lists(step.nested(), &format!("{}.steps", join_path(&at, step.kind.name())), out);
    }
}

/// `variants:` lists name variants that exist; an expectation's `after` step runs in every
/// variant the expectation is part of.
fn check_variant_lists(s: &Scenario, ids: &[IdUse], out: &mut Vec<Problem>) {
    let names = variant_names(s);
    let mut lists = Vec::new();
    step_variant_lists(&s.steps, "steps", &mut lists);
    lists.extend(s.expect.iter().enumerate().filter_map(|(i, e)| e.variants.as_deref().map(|o| (format!("expect[{i}]"), o))));
    for (at, only) in lists {
        for (j, v) in only.iter().enumerate().filter(|(_, v)| !names.contains(&v.as_str())) {
            out.push(Problem::new(format!("{at}.variants[{j}]"), format!("no variant `{v}`; variants: {}", names.join(", "))));
        }
    }
    for (i, e) in s.expect.iter().enumerate() {
        let Some(after) = &e.after else { continue };
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|v| super::model::in_variant(e.variants.as_deref(), v))
            .filter(|v| {
                ids.iter().any(|(id, _, _)| id == after) && !ids.iter().any(|(id, _, o)| id == after && super::model::in_variant(*o, v))
            })
            .collect();
        if !missing.is_empty() {
            out.push(Problem::new(
                format!("expect[{i}].after"),
                format!("step `{after}` does not run in variant {}: limit the expectation with `variants:` too", missing.join(", ")),
            ));
        }
    }
}

/// `faults: { allow: [...] }`: each entry a valid, non-empty regular expression.
fn check_faults(s: &Scenario, out: &mut Vec<Problem>) {
    let FaultPolicy::AllowOnly(titles) = &s.faults else { return };
    for (i, t) in titles.iter().enumerate() {
        let at = format!("faults.allow[{i}]");
        if t.trim().is_empty() {
            out.push(Problem::new(at, "empty pattern: it would allow every fault (write `faults: allow`)"));
        } else if let Err(e) = regex::Regex::new(t) {
            out.push(Problem::new(at, format!("not a valid regular expression: {}", e.to_string().lines().last().unwrap_or_default())));
        }
    }
}

fn check_kernel(s: &Scenario, out: &mut Vec<Problem>) {
    use GuestFault::{HungTask, SoftLockup, Warning};
    for (i, fault) in s.kernel.tolerate.iter().enumerate() {
        if !matches!(fault, Warning | SoftLockup | HungTask) {
            out.push(Problem::new(
                format!("kernel.tolerate[{i}]"),
                "only reports that leave the kernel running can be tolerated: warning, soft_lockup, hung_task",
            ));
        }
    }
    if !(64..=16384).contains(&s.kernel.memory_mib) {
        out.push(Problem::new("kernel.memory_mib", format!("{} MiB: give 64 to 16384", s.kernel.memory_mib)));
    }
    if !(1..=16).contains(&s.kernel.cpus) {
        out.push(Problem::new("kernel.cpus", format!("{} vCPUs: give 1 to 16", s.kernel.cpus)));
    }
}

fn check_topology(s: &Scenario, scope: &CheckScope, out: &mut Vec<Problem>) {
    let mut seen = BTreeSet::new();
    for (i, ns) in s.topology.namespaces.iter().enumerate() {
        let field = format!("topology.namespaces[{i}].name");
        if let Some(p) = bad_name(&field, &ns.name, 32) {
            out.push(p);
        } else if !seen.insert(ns.name.as_str()) {
            out.push(Problem::new(field, format!("duplicate namespace name `{}`", ns.name)));
        }
        for key in ns.sysctls.keys() {
            check_sysctl_key(&format!("topology.namespaces[{i}].sysctls.{key}"), key, out);
        }
    }
    for key in s.topology.sysctls.keys() {
        check_sysctl_key(&format!("topology.sysctls.{key}"), key, out);
    }

    let mut ifnames = BTreeSet::new();
    for (i, link) in s.topology.links.iter().enumerate() {
        let at = format!("topology.links[{i}]");
        let want = match link.kind {
            LinkKind::Veth => 2,
        };
        if link.ends.len() != want {
            out.push(Problem::new(format!("{at}.ends"), format!("a veth link has exactly {want} ends, found {}", link.ends.len())));
        }
        if let Some(mtu) = link.mtu {
            check_mtu(&format!("{at}.mtu"), mtu, out);
        }
        for (j, end) in link.ends.iter().enumerate() {
            let at = format!("{at}.ends[{j}]");
            if let Some(p) = bad_name(&format!("{at}.name"), &end.name, IFNAME_MAX) {
                out.push(p);
            } else if !ifnames.insert(end.name.as_str()) {
                out.push(Problem::new(
                    format!("{at}.name"),
                    format!("duplicate interface name `{}` (steps refer to links by name, so names are unique in a scenario)", end.name),
                ));
            }
            out.extend(scope.need_namespace(&format!("{at}.netns"), &end.netns));
            if let Some(mtu) = end.mtu {
                check_mtu(&format!("{at}.mtu"), mtu, out);
            }
            for (k, addr) in end.addresses.iter().enumerate() {
                if let Err(e) = parse_address(addr) {
                    out.push(Problem::new(format!("{at}.addresses[{k}]"), e.to_string()));
                }
            }
        }
    }
    check_routes(s, scope, out);
}

fn check_routes(s: &Scenario, scope: &CheckScope, out: &mut Vec<Problem>) {
    for (i, route) in s.topology.routes.iter().enumerate() {
        let at = format!("topology.routes[{i}]");
        out.extend(scope.need_namespace(&format!("{at}.netns"), &route.netns));
        if route.to != "default" && route.to.parse::<IpNet>().is_err() {
            out.push(Problem::new(format!("{at}.to"), format!("`{}` is neither `default` nor a prefix like 192.168.0.0/16", route.to)));
        }
        if route.via.is_none() && route.dev.is_none() {
            out.push(Problem::new(at.clone(), "a route needs `via` (a gateway), `dev` (an interface), or both"));
        }
        if let Some(dev) = &route.dev {
            match scope.links.get(dev.as_str()) {
                None => out.extend(scope.need_link(&format!("{at}.dev"), dev)),
                Some(ns) if *ns != route.netns => {
                    out.push(Problem::new(format!("{at}.dev"), format!("interface `{dev}` is in namespace `{ns}`, not `{}`", route.netns)))
                }
                Some(_) => {}
            }
        }
        if let Some(via) = &route.via {
            match via.parse::<IpAddr>() {
                Err(_) => out.push(Problem::new(format!("{at}.via"), format!("`{via}` is not an IP address"))),
                Ok(gw) if !reachable(s, &route.netns, route.dev.as_deref(), gw) => out.push(Problem::new(
                    format!("{at}.via"),
                    format!("gateway {gw} is unreachable: no address of namespace `{}` has a subnet containing it", route.netns),
                )),
                Ok(_) => {}
            }
        }
    }
}

/// True if some address in `netns` (on `dev`, if given) has a subnet containing `gw`.
fn reachable(s: &Scenario, netns: &str, dev: Option<&str>, gw: IpAddr) -> bool {
    s.topology
        .links
        .iter()
        .flat_map(|l| &l.ends)
        .filter(|e| e.netns == netns && dev.is_none_or(|d| d == e.name))
        .flat_map(|e| &e.addresses)
        .filter_map(|a| parse_address(a).ok())
        .any(|net| net.contains(&gw) && net.addr() != gw)
}

fn check_steps<'a>(steps: &'a [StepEntry], prefix: &str, scope: &CheckScope, ids: &mut Vec<IdUse<'a>>, out: &mut Vec<Problem>) {
    for (i, step) in steps.iter().enumerate() {
        let at = format!("{prefix}[{i}]");
        if let Some(id) = &step.id {
            if let Some(p) = bad_name(&format!("{at}.id"), id, 64) {
                out.push(p);
            } else {
                ids.push((id, format!("{at}.id"), step.variants.as_deref()));
            }
        }
        if step.background && step.id.is_none() {
            out.push(Problem::new(format!("{at}.background"), "a background step needs an `id` so that `stop` can name it"));
        }
        let kind_at = join_path(&at, step.kind.name());
        out.extend(step.kind.step().check(scope).into_iter().map(|p| p.under(&kind_at)));
        if let Some(until) = &step.until {
            let until_at = join_path(&format!("{at}.until"), until.name());
            out.extend(until.condition().check(scope).into_iter().map(|p| p.under(&until_at)));
        }
        if !step.nested().is_empty() {
            check_steps(step.nested(), &format!("{kind_at}.steps"), scope, ids, out);
        }
    }
}

fn check_expectations(s: &Scenario, scope: &CheckScope, out: &mut Vec<Problem>) {
    let mut ids = BTreeSet::new();
    for (i, e) in s.expect.iter().enumerate() {
        let at = format!("expect[{i}]");
        if let Some(p) = bad_name(&format!("{at}.id"), &e.id, 64) {
            out.push(p);
        } else if !ids.insert(e.id.as_str()) {
            out.push(Problem::new(format!("{at}.id"), format!("duplicate expectation id `{}`", e.id)));
        }
        if let Some(after) = &e.after {
            if !scope.step_ids.contains(after.as_str()) {
                out.push(Problem::new(
                    format!("{at}.after"),
                    format!("no step has id `{after}`; step ids: {}", super::check::list(&scope.step_ids)),
                ));
            }
        }
        if e.within.is_zero() {
            out.push(Problem::new(format!("{at}.within"), "the window must be longer than zero"));
        }
        let kind_at = join_path(&at, e.condition.name());
        out.extend(e.condition.condition().check(scope).into_iter().map(|p| p.under(&kind_at)));
    }
}

fn check_variants(s: &Scenario, scope: &CheckScope, out: &mut Vec<Problem>) {
    let defaults: Vec<&String> = s.variants.iter().filter(|(_, v)| v.default).map(|(n, _)| n).collect();
    if defaults.len() > 1 {
        out.push(Problem::new(
            format!("variants.{}.default", defaults[1]),
            format!("only one variant may be the default; also marked: {}", defaults[0]),
        ));
    }
    for (name, v) in &s.variants {
        if let Some(p) = bad_name(&format!("variants.{name}"), name, 32) {
            out.push(p);
        }
        for (i, patch) in v.patches.iter().enumerate() {
            if patch.trim().is_empty() || patch.contains("..") {
                out.push(Problem::new(format!("variants.{name}.patches[{i}]"), "a patch is a file name inside kernel-patches/<scenario>/"));
            }
        }
        for id in v.expect.keys() {
            if !scope.expect_ids.contains(id.as_str()) {
                out.push(Problem::new(
                    format!("variants.{name}.expect.{id}"),
                    format!("no expectation has id `{id}`; expectation ids: {}", super::check::list(&scope.expect_ids)),
                ));
            }
        }
    }
}

/// `kernels.<v>` and every entry's `kernels:` name kernels of `kernel.base`, and the
/// overrides name real expectations.
fn check_kernel_overrides(s: &Scenario, scope: &CheckScope, out: &mut Vec<Problem>) {
    let base = &s.kernel.base;
    let unlisted = |k: &super::KernelVersion| format!("kernel {k} is not in kernel.base ({base}): add it there, or drop this");
    // A version's dot would read as a path separator: problems name the map, the key in words.
    for (k, o) in &s.kernels {
        if !base.contains(*k) {
            out.push(Problem::new("kernels", format!("\"{k}\": {}", unlisted(k))));
        }
        if o.why.trim().is_empty() {
            out.push(Problem::new("kernels", format!("\"{k}\".why: say why this kernel differs (measured, or read in its source)")));
        }
        for id in o.expect.keys().filter(|id| !scope.expect_ids.contains(id.as_str())) {
            out.push(Problem::new(
                "kernels",
                format!("\"{k}\".expect.{id}: no expectation has id `{id}`; expectation ids: {}", super::check::list(&scope.expect_ids)),
            ));
        }
    }
    for (i, e) in s.expect.iter().enumerate() {
        for (j, k) in e.kernels.iter().flatten().enumerate().filter(|(_, k)| !base.contains(**k)) {
            out.push(Problem::new(format!("expect[{i}].kernels[{j}]"), unlisted(k)));
        }
    }
    for (i, st) in s.steps.iter().enumerate() {
        for (j, k) in st.kernels.iter().flatten().enumerate().filter(|(_, k)| !base.contains(**k)) {
            out.push(Problem::new(format!("steps[{i}].kernels[{j}]"), unlisted(k)));
        }
    }
}

/// Names become file names and interface names: plain characters only.
fn bad_name(field: &str, name: &str, max: usize) -> Option<Problem> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() {
        Some(Problem::new(field, "must not be empty"))
    } else if name.len() > max {
        Some(Problem::new(field, format!("`{name}` is {} characters long; at most {max} are allowed", name.len())))
    } else if !ok_chars {
        Some(Problem::new(field, format!("`{name}` may contain only letters, digits, `-`, `_` and `.`")))
    } else {
        None
    }
}

/// An MTU a veth accepts and IPv4 can use.
pub fn check_mtu(field: &str, mtu: u32, out: &mut Vec<Problem>) {
    if !MTU_RANGE.contains(&mtu) {
        out.push(Problem::new(field, format!("MTU {mtu} is out of range {}..={}", MTU_RANGE.start(), MTU_RANGE.end())));
    }
}

/// `net.ipv4.ip_forward`: dotted words, as `sysctl` writes them.
pub fn check_sysctl_key(field: &str, key: &str, out: &mut Vec<Problem>) {
    let ok =
        !key.is_empty() && key.split('.').all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')));
    if !ok {
        out.push(Problem::new(field, format!("`{key}` is not a sysctl name like net.ipv4.ip_forward")));
    }
}
