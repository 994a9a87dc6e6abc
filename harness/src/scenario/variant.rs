//! Picking a variant: its kernel patches and config, and the expectations as it overrides them.

use super::model::{ExpectEntry, ExpectOverride, KernelVersion, Scenario};

/// A scenario's variant on one of its kernels, with overrides applied.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    /// The kernel it runs on: one of the scenario's `kernel.base`.
    pub kernel: KernelVersion,
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
    /// `--kernel` names a kernel the scenario's `kernel.base` does not list.
    #[error("scenario `{scenario}` is not meant for kernel {requested}: its kernel.base lists {known}")]
    KernelNotListed { scenario: String, requested: KernelVersion, known: String },
}

impl Variant {
    /// Resolves `requested`, or the default variant: the one marked `default: true`, else the
    /// only one, else a variant named `default` with no patches when the scenario has none.
    /// On the scenario's default kernel (the first of `kernel.base`).
    pub fn resolve(scenario: &Scenario, requested: Option<&str>) -> Result<Variant, VariantError> {
        Variant::resolve_on(scenario, requested, None)
    }

    /// On `kernel`, which must be one of `kernel.base` (`None`: the default kernel).
    pub fn resolve_on(scenario: &Scenario, requested: Option<&str>, kernel: Option<KernelVersion>) -> Result<Variant, VariantError> {
        let name = pick(scenario, requested)?;
        let kernel = kernel.unwrap_or(scenario.kernel.base.default_kernel());
        if !scenario.kernel.base.contains(kernel) {
            let known = scenario.kernel.base.to_string();
            return Err(VariantError::KernelNotListed { scenario: scenario.name.clone(), requested: kernel, known });
        }
        let spec = scenario.variants.get(&name).cloned().unwrap_or_default();
        let on_kernel = scenario.kernels.get(&kernel).map(|k| &k.expect);
        let mut expect: Vec<ExpectEntry> = scenario
            .expect
            .iter()
            .filter(|e| super::model::in_variant(e.variants.as_deref(), &name))
            .filter(|e| super::model::on_kernel(e.kernels.as_deref(), kernel))
            .cloned()
            .collect();
        for e in &mut expect {
            for o in [spec.expect.get(&e.id), on_kernel.and_then(|k| k.get(&e.id))].into_iter().flatten() {
                apply(o, e);
            }
        }
        let mut config = scenario.kernel.config.clone();
        config.extend(spec.config.iter().cloned());
        Ok(Variant { name, kernel, patches: spec.patches, config, expect })
    }

    /// `buggy@5.10`: how trials and reports name a variant on a kernel.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.kernel)
    }
}

fn apply(o: &ExpectOverride, e: &mut ExpectEntry) {
    if let Some(must) = o.must {
        e.must = must;
    }
    if let Some(within) = o.within {
        e.within = within;
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
