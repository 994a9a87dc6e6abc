//! Picking a variant: its kernel patches and config, and the expectations as it overrides them.

use super::model::{ExpectEntry, Scenario};

/// A scenario's variant with overrides applied.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    /// Patch file names, in order, relative to `kernel-patches/<scenario>/`.
    pub patches: Vec<String>,
    /// Kconfig fragments relative to `vm/config/`: the scenario's, then the variant's.
    pub config: Vec<String>,
    pub expect: Vec<ExpectEntry>,
}

/// Resolves `requested`, or the default variant: the one marked `default: true`, else the
/// only one, else a variant named `default` with no patches when the scenario has none.
pub fn resolve_variant(scenario: &Scenario, requested: Option<&str>) -> Result<Variant, String> {
    let names: Vec<&str> = scenario.variants.keys().map(String::as_str).collect();
    let name = match requested {
        Some(n) if scenario.variants.contains_key(n) => n.to_string(),
        Some(n) if scenario.variants.is_empty() && n == "default" => n.to_string(),
        Some(n) => {
            return Err(format!(
                "scenario `{}` has no variant `{n}`; it has: {}",
                scenario.name,
                if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
            ))
        }
        None => match scenario.variants.iter().find(|(_, v)| v.default) {
            Some((n, _)) => n.clone(),
            None if names.len() == 1 => names[0].to_string(),
            None if names.is_empty() => "default".to_string(),
            None => {
                return Err(format!(
                    "scenario `{}` has several variants and none is `default: true`; pick one with --variant ({})",
                    scenario.name,
                    names.join(", ")
                ))
            }
        },
    };
    let spec = scenario.variants.get(&name).cloned().unwrap_or_default();
    let mut expect = scenario.expect.clone();
    for e in &mut expect {
        if let Some(o) = spec.expect.get(&e.id) {
            if let Some(must) = o.must {
                e.must = must;
            }
            if let Some(within) = o.within {
                e.within = within;
            }
        }
    }
    let mut config = scenario.kernel.config.clone();
    config.extend(spec.config.iter().cloned());
    Ok(Variant { name, patches: spec.patches, config, expect })
}
