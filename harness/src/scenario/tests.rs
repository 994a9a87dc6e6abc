//! Each class of bad input gets a diagnostic naming the file, the line and the field.

use std::path::Path;

use super::load::{load_str, Diagnostic, LoadError};

const GOOD: &str = r#"name: t
description: two namespaces
topology:
  namespaces:
    - name: a
    - name: b
  links:
    - ends:
        - { name: a-veth, netns: a, addresses: [10.0.0.1/24] }
        - { name: b-veth, netns: b, addresses: [10.0.0.2/24] }
      mtu: 1500
  routes:
    - { netns: a, to: 192.168.0.0/16, via: 10.0.0.2 }
steps:
  - id: churn
    mtu_churn: { links: [a-veth], mtus: [1400], interval: 1s, rounds: 1 }
expect:
  - id: seen
    kernel_log: { pattern: 'hello' }
    after: churn
    within: 5s
"#;

/// Loads `GOOD` with `from` replaced by `to` and returns its diagnostics.
fn diags(from: &str, to: &str) -> Vec<Diagnostic> {
    assert!(GOOD.contains(from), "test fixture does not contain {from:?}");
    match load_str(&GOOD.replacen(from, to, 1), Path::new("scenarios/t.yaml")) {
        Ok(_) => panic!("replacing {from:?} by {to:?} should be an error"),
        Err(LoadError::Invalid(d)) => d,
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Exactly one diagnostic, at `line`, on `field`, whose message contains `says`.
fn one(from: &str, to: &str, line: usize, field: &str, says: &str) {
    let d = diags(from, to);
    assert_eq!(d.len(), 1, "{d:?}");
    let d = &d[0];
    assert_eq!((d.line, d.field.as_str()), (line, field), "{d}");
    assert!(d.message.contains(says), "{d}");
    let text = d.to_string();
    assert!(text.starts_with(&format!("scenarios/t.yaml:{line}:")), "{text}");
}

#[test]
fn the_fixture_is_valid() {
    load_str(GOOD, Path::new("t.yaml")).unwrap();
}

#[test]
fn link_to_an_undefined_namespace() {
    one("netns: b, addresses", "netns: c, addresses", 10, "topology.links[0].ends[1].netns", "unknown namespace `c`");
}

#[test]
fn route_via_an_unknown_device() {
    one("via: 10.0.0.2 }", "dev: eth7 }", 13, "topology.routes[0].dev", "unknown link `eth7`");
}

#[test]
fn route_via_a_device_of_another_namespace() {
    one("via: 10.0.0.2 }", "dev: b-veth }", 13, "topology.routes[0].dev", "is in namespace `b`");
}

#[test]
fn unreachable_gateway() {
    one("via: 10.0.0.2", "via: 10.9.0.2", 13, "topology.routes[0].via", "unreachable");
}

#[test]
fn address_that_does_not_parse() {
    one("10.0.0.2/24", "10.0.0.2/99", 10, "topology.links[0].ends[1].addresses[0]", "not an address");
}

#[test]
fn mtu_out_of_range() {
    one("mtu: 1500", "mtu: 70000", 11, "topology.links[0].mtu", "out of range");
    one("mtus: [1400]", "mtus: [40]", 16, "steps[0].mtu_churn.mtus[0]", "out of range");
}

#[test]
fn duplicate_names() {
    one("    - name: b\n", "    - name: b\n    - name: a\n", 7, "topology.namespaces[2].name", "duplicate namespace");
    one("name: b-veth", "name: a-veth", 10, "topology.links[0].ends[1].name", "duplicate interface");
}

#[test]
fn step_naming_an_unknown_link() {
    one("links: [a-veth]", "links: [z-veth]", 16, "steps[0].mtu_churn.links[0]", "unknown link `z-veth`");
}

#[test]
fn empty_pattern() {
    one("pattern: 'hello'", "pattern: ''", 19, "expect[0].kernel_log.pattern", "empty pattern");
}

#[test]
fn until_condition_is_checked_where_it_is_written() {
    let bad = "- id: churn\n    until: { kernel_log: { pattern: '(' } }\n    mtu_churn";
    one("- id: churn\n    mtu_churn", bad, 16, "steps[0].until.kernel_log.pattern", "regular expression");
    let good = GOOD.replacen("- id: churn\n    mtu_churn", "- id: churn\n    until: { kernel_log: { pattern: 'x' } }\n    mtu_churn", 1);
    let loaded = load_str(&good, Path::new("scenarios/t.yaml")).unwrap();
    assert!(loaded.steps[0].until.is_some());
}

#[test]
fn unknown_field_names_what_is_allowed() {
    one("rounds: 1 }", "rounds: 1, round: 2 }", 16, "steps[0].mtu_churn.round", "expected one of");
}

#[test]
fn unknown_step_kind() {
    // The YAML crate places this error at the start of the step entry.
    one("    mtu_churn:", "    mtu_chrun:", 15, "steps[0]", "unknown key `mtu_chrun`");
}

#[test]
fn expectation_after_an_unknown_step() {
    one("after: churn", "after: chrun", 20, "expect[0].after", "no step has id `chrun`");
}

#[test]
fn several_problems_are_all_reported() {
    let d = diags("netns: b, addresses: [10.0.0.2/24]", "netns: c, addresses: [nonsense]");
    assert_eq!(
        d.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(),
        ["topology.links[0].ends[1].netns", "topology.links[0].ends[1].addresses[0]"]
    );
}

#[test]
fn yaml_syntax_error_has_a_position() {
    let d = diags("  namespaces:\n", "  namespaces: [\n");
    assert!(d[0].line >= 4, "{:?}", d[0]);
}

#[test]
fn variants_are_picked_or_refused_by_name() {
    use super::variant::{Variant, VariantError};
    let none = load_str(GOOD, Path::new("t.yaml")).unwrap();
    assert_eq!(Variant::resolve(&none, None).unwrap().name, "default");
    let two = GOOD.to_string() + "variants:\n  buggy: {}\n  fixed: {}\n";
    let two = load_str(&two, Path::new("t.yaml")).unwrap();
    let e = Variant::resolve(&two, None).unwrap_err();
    assert!(matches!(e, VariantError::NoDefault { .. }));
    assert_eq!(e.to_string(), "scenario `t` has several variants and none is `default: true`; pick one with --variant (buggy, fixed)");
    let e = Variant::resolve(&two, Some("other")).unwrap_err();
    assert_eq!(e.to_string(), "scenario `t` has no variant `other`; it has: buggy, fixed");
    assert_eq!(Variant::resolve(&none, Some("x")).unwrap_err().to_string(), "scenario `t` has no variant `x`; it has: (none)");
}

/// A scenario with the pipe steps: identities, limits and variant-limited entries.
const PIPES: &str = r#"name: p
description: pipes
steps:
  - id: pressure
    background: true
    pipe_pressure: { soft_limit: 256, user: 0, caps: { drop: [cap_sys_resource, cap_sys_admin] } }
  - id: boot
    background: true
    variants: [buggy]
    seccomp_export: { profile: scenarios/profiles/large.json, mode: export-then-read, no_new_privileges: true, user: nobody }
  - id: boot
    background: true
    variants: [fixed]
    seccomp_export: { profile: scenarios/profiles/large.json, mode: read-while-export, no_new_privileges: true, user: nobody }
  - exec: { command: [id], user: 65534, group: 0, caps: { keep: [cap_net_admin] } }
  - stop: boot
expect:
  - id: blocked
    process_state: { step: boot, wchan: [pipe_write, anon_pipe_write], for: 5s }
    within: 30s
  - id: shrunk
    variants: [buggy]
    pipe_size: { step: boot, at_most: 8192 }
    after: boot
    within: 30s
variants:
  buggy: { default: true }
  fixed: { expect: { blocked: { must: not_appear } } }
"#;

/// Exactly one diagnostic for `PIPES` with `from` replaced by `to`.
fn one_pipes(from: &str, to: &str, line: usize, field: &str, says: &str) {
    assert!(PIPES.contains(from), "test fixture does not contain {from:?}");
    let d = match load_str(&PIPES.replacen(from, to, 1), Path::new("scenarios/p.yaml")) {
        Ok(_) => panic!("replacing {from:?} by {to:?} should be an error"),
        Err(LoadError::Invalid(d)) => d,
        Err(e) => panic!("unexpected error {e}"),
    };
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].line, d[0].field.as_str()), (line, field), "{}", d[0]);
    assert!(d[0].message.contains(says), "{}", d[0]);
    assert!(d[0].to_string().starts_with(&format!("scenarios/p.yaml:{line}:")), "{}", d[0]);
}

#[test]
fn the_pipes_fixture_is_valid_and_variants_pick_their_entries() {
    let s = load_str(PIPES, Path::new("p.yaml")).unwrap();
    let fixed = super::variant::Variant::resolve(&s, Some("fixed")).unwrap();
    assert_eq!(fixed.expect.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["blocked"]);
    let runs: Vec<bool> = s.steps.iter().map(|e| e.runs_in("fixed", crate::scenario::KernelVersion::V6_1)).collect();
    assert_eq!(runs, [true, false, true, true, true]);
}

#[test]
fn unknown_capability() {
    one_pipes("cap_sys_admin]", "cap_sys_amdin]", 6, "steps[0].pipe_pressure.caps.drop[1]", "`cap_sys_amdin` is not a Linux capability");
    one_pipes("keep: [cap_net_admin]", "keep: [net_admn]", 15, "steps[3].exec.caps.keep[0]", "not a Linux capability");
}

#[test]
fn user_that_does_not_exist() {
    one_pipes("user: nobody }", "user: no-such-lab-user }", 10, "steps[1].seccomp_export.user", "no user `no-such-lab-user`");
    one_pipes("group: 0,", "group: no-such-lab-group,", 15, "steps[3].exec.group", "no group `no-such-lab-group`");
}

#[test]
fn limit_out_of_range() {
    one_pipes("soft_limit: 256", "soft_limit: 0", 6, "steps[0].pipe_pressure.soft_limit", "0 pages is out of range 1..=65536");
    one_pipes("soft_limit: 256", "soft_limit: 70000", 6, "steps[0].pipe_pressure.soft_limit", "out of range");
}

#[test]
fn variant_lists_name_real_variants_and_keep_ids_apart() {
    one_pipes("    variants: [fixed]\n", "    variants: [fxed]\n", 13, "steps[2].variants[0]", "no variant `fxed`; variants: buggy, fixed");
    one_pipes("    variants: [fixed]\n", "    variants: [fixed, buggy]\n", 11, "steps[2].id", "duplicate step id `boot`");
    one_pipes(
        "  - id: shrunk\n    variants: [buggy]",
        "  - id: shrunk\n    variants: [bugy]",
        22,
        "expect[1].variants[0]",
        "no variant `bugy`",
    );
}

#[test]
fn an_expectation_after_a_step_its_variant_lacks() {
    let text = PIPES.replace("  - stop: boot\n", "  - id: only-buggy\n    variants: [buggy]\n    sleep: 1s\n  - stop: boot\n");
    let text =
        text.replace("    after: boot\n", "    after: only-buggy\n").replace("  - id: shrunk\n    variants: [buggy]\n", "  - id: shrunk\n");
    let Err(LoadError::Invalid(d)) = load_str(&text, Path::new("scenarios/p.yaml")) else { panic!("must be refused") };
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].field, "expect[1].after");
    assert!(d[0].message.contains("step `only-buggy` does not run in variant fixed"), "{}", d[0]);
}

#[test]
fn unknown_state_and_missing_bounds() {
    one_pipes("at_most: 8192 }", "}", 23, "expect[1].pipe_size", "give `equals`, `at_most` or `at_least`");
    one_pipes("wchan: [pipe_write", "state: Q, wchan: [pipe_write", 19, "expect[0].process_state.state", "not a process state letter");
}

#[test]
fn evidence_must_appear() {
    one("    within: 5s\n", "    within: 5s\n    evidence: true\n    must: not_appear\n", 23, "expect[0].must", "must `appear`");
    let ok = GOOD.replacen("    within: 5s\n", "    within: 5s\n    evidence: true\n", 1);
    let loaded = load_str(&ok, Path::new("t.yaml")).unwrap();
    assert!(loaded.expect[0].evidence);
}

#[test]
fn a_variant_cannot_turn_evidence_into_an_absence() {
    one_pipes("  - id: blocked\n", "  - id: blocked\n    evidence: true\n", 29, "variants.fixed.expect.blocked.must", "is evidence");
}

#[test]
fn faults_policy_is_read_and_checked_where_it_is_written() {
    use super::model::FaultPolicy;
    let with =
        |policy: &str| GOOD.replacen("description: two namespaces\n", &format!("description: two namespaces\nfaults: {policy}\n"), 1);
    let load = |policy: &str| load_str(&with(policy), Path::new("scenarios/t.yaml")).map(|l| l.faults.clone());
    assert_eq!(load_str(GOOD, Path::new("t.yaml")).unwrap().faults, FaultPolicy::Allow);
    assert_eq!(load("forbid").unwrap(), FaultPolicy::Forbid);
    assert_eq!(load("allow").unwrap(), FaultPolicy::Allow);
    assert_eq!(load("{ allow: ['^WARNING in lkdtm'] }").unwrap(), FaultPolicy::AllowOnly(vec!["^WARNING in lkdtm".into()]));
    one(
        "description: two namespaces\n",
        "description: two namespaces\nfaults: { allow: ['('] }\n",
        3,
        "faults.allow[0]",
        "regular expression",
    );
    one("description: two namespaces\n", "description: two namespaces\nfaults: forbidden\n", 3, "faults", "give `allow`, `forbid`");
}

#[test]
fn unknown_debug_kernel_names_the_known_ones() {
    one("topology:\n", "kernel:\n  debug: [lockdep, kcsan]\ntopology:\n", 4, "kernel.debug[1]", "kasan, kfence, lockdep");
}

/// The kernel dimension: `kernel.base` lists the kernels, entries may be limited to some of
/// them, and `kernels.<v>.expect` overrides an expectation on one, after the variant's.
#[test]
fn a_variant_on_a_kernel_takes_that_kernels_entries_and_overrides() {
    use super::{KernelVersion as K, Variant};
    let text = GOOD
        .replace("description: two namespaces\n", "description: two namespaces\nkernel:\n  base: [\"6.1\", \"5.10\"]\n")
        .replace("    within: 5s\n", "    within: 5s\n  - id: old\n    kernels: [\"5.10\"]\n    kernel_log: { pattern: 'x' }\n    within: 1s\nkernels:\n  \"5.10\":\n    why: reports every 10 s\n    expect:\n      seen: { within: 15s }\n");
    let s = load_str(&text, Path::new("k.yaml")).unwrap();
    let on = |k| Variant::resolve_on(&s, None, k).unwrap();
    let (new, old) = (on(None), on(Some(K::V5_10)));
    assert_eq!((new.kernel, new.label()), (K::V6_1, "default@6.1".to_string()), "the first listed is the default");
    assert_eq!(new.expect.iter().map(|e| (e.id.as_str(), e.within.as_secs())).collect::<Vec<_>>(), [("seen", 5)]);
    assert_eq!(old.expect.iter().map(|e| (e.id.as_str(), e.within.as_secs())).collect::<Vec<_>>(), [("seen", 15), ("old", 1)]);
    let e = Variant::resolve_on(&s, None, Some(K::V6_12)).unwrap_err().to_string();
    assert!(e.contains("not meant for kernel 6.12") && e.contains("6.1, 5.10"), "{e}");
}

#[test]
fn an_unknown_kernel_is_named_at_its_line_with_the_known_ones() {
    one(
        "description: two namespaces\n",
        "description: two namespaces\nkernel:\n  base: [\"6.1\", \"4.19\"]\n",
        4,
        "kernel.base[1]",
        "5.10, 6.1, 6.12",
    );
}

#[test]
fn kernel_overrides_name_listed_kernels_and_real_expectations() {
    one(
        "steps:\n",
        "kernels:\n  \"6.12\": { why: w, expect: {} }\nsteps:\n",
        14,
        "kernels",
        "\"6.12\": kernel 6.12 is not in kernel.base (6.1)",
    );
    one(
        "steps:\n",
        "kernels:\n  \"6.1\": { why: w, expect: { nope: { within: 1s } } }\nsteps:\n",
        14,
        "kernels",
        "\"6.1\".expect.nope: no expectation has id `nope`",
    );
}
