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
