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
    /// The expectations of this variant (those limited to others left out), overridden.
    pub expect: Vec<ExpectEntry>,
}

/// Why no variant could be picked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    /// `--variant` names a variant the scenario does not have.
    #[error("scenario `{scenario}` has no variant `{requested}`; it has: {}", if known.is_empty() { "(none)".to_string() } else { known.join(", ") })]
    Unknown { scenario: String, requested: String, known: Vec<String> },
    /// No `--variant`, several variants, none marked `default: true`.
    #[error("scenario `{scenario}` has several variants and none is `default: true`; pick one with --variant ({})", known.join(", "))]
    NoDefault { scenario: String, known: Vec<String> },
}

impl Variant {
    /// Resolves `requested`, or the default variant: the one marked `default: true`, else the
    /// only one, else a variant named `default` with no patches when the scenario has none.
    pub fn resolve(scenario: &Scenario, requested: Option<&str>) -> Result<Variant, VariantError> {
        let name = pick(scenario, requested)?;
        let spec = scenario.variants.get(&name).cloned().unwrap_or_default();
        let mut expect: Vec<ExpectEntry> =
            scenario.expect.iter().filter(|e| super::model::in_variant(e.variants.as_deref(), &name)).cloned().collect();
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
}

/// The name of the variant [`Variant::resolve`] picks.
fn pick(scenario: &Scenario, requested: Option<&str>) -> Result<String, VariantError> {
    let names: Vec<String> = scenario.variants.keys().cloned().collect();
    match requested {
        Some(n) if scenario.variants.contains_key(n) => Ok(n.to_string()),
        Some(n) if scenario.variants.is_empty() && n == "default" => Ok(n.to_string()),
        Some(n) => Err(VariantError::Unknown { scenario: scenario.name.clone(), requested: n.to_string(), known: names }),
        None => match scenario.variants.iter().find(|(_, v)| v.default) {
            Some((n, _)) => Ok(n.clone()),
            None if names.len() == 1 => Ok(names[0].clone()),
            None if names.is_empty() => Ok("default".to_string()),
            None => Err(VariantError::NoDefault { scenario: scenario.name.clone(), known: names }),
        },
    }
}
