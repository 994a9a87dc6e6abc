//! Which two variants a verification compares: `--variants buggy,fixed`, else the default
//! variant and the other one; with `--fix`, the fixed side is the default variant's series
//! plus the given patches, judged by the fixed variant's expectations.

use std::path::{Path, PathBuf};

use crate::scenario::{KernelVersion, Loaded, Variant, VariantError};
use crate::vm::kernel::{self, BuiltKernel, KernelError};

use super::report::{KernelInfo, Role, Summary, Trial, VariantReport};
use super::stats;
use super::trial::Roles;

/// One side of the comparison.
#[derive(Debug, Clone)]
pub struct Side {
    pub role: Role,
    /// The name in the report (`fixed`, or `fixed+fix` for `--fix`).
    pub report_name: String,
    /// What runs: the guest resolves it by name, the host builds its patches.
    pub variant: Variant,
    pub roles: Roles,
    pub kernel: KernelInfo,
}

impl Side {
    /// This side's part of the report, from its trials.
    pub fn report(&self, trials: Vec<Trial>) -> VariantReport {
        let summary: Summary = stats::summarize(self.role, &trials);
        VariantReport {
            name: self.report_name.clone(),
            role: self.role,
            kernel: self.kernel.clone(),
            signature: self.roles.signature.clone(),
            evidence: self.roles.evidence.clone(),
            trials,
            summary,
        }
    }
}

/// The two sides, on one kernel.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kernel: KernelVersion,
    pub buggy: Side,
    pub fixed: Side,
}

/// What `--fix` asks for.
#[derive(Debug, Clone, Default)]
pub struct FixRequest {
    pub patches: Vec<PathBuf>,
    /// Put them before the series instead of after.
    pub before: bool,
}

/// Why the comparison cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Variant(#[from] VariantError),
    #[error("scenario `{scenario}` has {count} variants: name the buggy and the fixed one with --variants buggy,fixed")]
    NoPair { scenario: String, count: usize },
    #[error("scenario `{scenario}`: no expectation must appear in `{buggy}` and not appear in `{fixed}`, so nothing tells the two apart")]
    NoSignature { scenario: String, buggy: String, fixed: String },
    #[error("--fix {}: {source}", path.display())]
    FixFile { path: PathBuf, source: std::io::Error },
}

/// The comparison for `loaded` on its default kernel: `names` = (buggy, fixed) as given,
/// else guessed.
pub fn make(loaded: &Loaded, names: Option<(&str, &str)>, fix: &FixRequest) -> Result<Plan, PlanError> {
    make_on(loaded, names, fix, loaded.scenario.kernel.base.default_kernel())
}

/// The comparison on each of `kernels`, in that order.
pub fn make_all(loaded: &Loaded, names: Option<(&str, &str)>, fix: &FixRequest, kernels: &[KernelVersion]) -> Result<Vec<Plan>, PlanError> {
    kernels.iter().map(|k| make_on(loaded, names, fix, *k)).collect()
}

/// The comparison on `kernel`.
pub fn make_on(loaded: &Loaded, names: Option<(&str, &str)>, fix: &FixRequest, kernel: KernelVersion) -> Result<Plan, PlanError> {
    let s = &loaded.scenario;
    let on = |name| Variant::resolve_on(s, name, Some(kernel));
    let (b, f) = match names {
        Some((b, f)) => (on(Some(b))?, on(Some(f))?),
        None => {
            let b = on(None)?;
            let others: Vec<&String> = s.variants.keys().filter(|n| **n != b.name).collect();
            if others.len() != 1 {
                return Err(PlanError::NoPair { scenario: s.name.clone(), count: s.variants.len() });
            }
            let f = on(Some(others[0]))?;
            (b, f)
        }
    };
    let sig = super::trial::signature(&b, &f);
    if sig.is_empty() {
        return Err(PlanError::NoSignature { scenario: s.name.clone(), buggy: b.name, fixed: f.name });
    }
    let tolerate = &s.kernel.tolerate;
    let fuzz = s.kernel.fuzz;
    let at = |role, name, variant, fix, before| side(role, name, variant, &sig, tolerate, fix, before, fuzz);
    let buggy = at(Role::Buggy, b.name.clone(), b.clone(), Vec::new(), false);
    let fixed = if fix.patches.is_empty() {
        at(Role::Fixed, f.name.clone(), f, Vec::new(), false)
    } else {
        let paths = fix
            .patches
            .iter()
            .map(|p| p.canonicalize().map_err(|source| PlanError::FixFile { path: p.clone(), source }))
            .collect::<Result<Vec<_>, _>>()?;
        let extra: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let mut patches = if fix.before { extra.clone() } else { b.patches.clone() };
        patches.extend(if fix.before { b.patches.clone() } else { extra });
        let name = format!("{}+fix", f.name);
        let variant = Variant { patches, config: b.config.clone(), ..f };
        at(Role::Fixed, name, variant, fix.patches.iter().map(|p| p.display().to_string()).collect(), fix.before)
    };
    Ok(Plan { kernel, buggy, fixed })
}

#[allow(clippy::too_many_arguments)]
fn side(
    role: Role,
    report_name: String,
    variant: Variant,
    signature: &[String],
    tolerate: &[crate::event::GuestFault],
    fix: Vec<String>,
    fix_before: bool,
    fuzz: u32,
) -> Side {
    let roles = Roles::of(&variant, signature, tolerate);
    let version = Some(variant.kernel.to_string());
    let kernel = KernelInfo { patches: variant.patches.clone(), fix, fix_before, version, fuzz, ..KernelInfo::default() };
    Side { role, report_name, variant, roles, kernel }
}

/// Builds (or finds in the cache) both sides' kernels, recording what each is.
pub fn build_kernels(loaded: &Loaded, plan: &mut Plan, progress: &(dyn Fn(&str, kernel::BuildProgress) + Sync)) -> Result<(), KernelError> {
    for side in [&mut plan.buggy, &mut plan.fixed] {
        let req = kernel::request_for(loaded, &side.variant);
        if let Some(missing) = kernel::missing_files(&req).first() {
            return Err(KernelError::io(missing, std::io::Error::from(std::io::ErrorKind::NotFound)));
        }
        let name = side.variant.label();
        let built: BuiltKernel = kernel::ensure_built(&req, &|p| progress(&name, p))?;
        side.kernel.key = Some(built.key);
        side.kernel.source = Some(format!("linux-source-{} {}", req.base, built.source_version));
        side.kernel.hunks = built.hunks.iter().map(|h| h.to_string()).collect();
    }
    Ok(())
}

/// The patch files of a side, resolved as the kernel build resolves them.
pub fn patch_files(loaded: &Loaded, side: &Side) -> Vec<PathBuf> {
    kernel::request_for(loaded, &side.variant).patches
}

/// A short name for a patch path: its file name.
pub fn short(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn scenario(name: &str) -> Loaded {
        crate::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(name)).unwrap()
    }

    #[test]
    fn fnhe_leak_compares_buggy_and_fixed_on_the_leak_with_each_side_its_evidence() {
        let p = make(&scenario("fnhe-leak.yaml"), None, &FixRequest::default()).unwrap();
        assert_eq!((p.buggy.report_name.as_str(), p.fixed.report_name.as_str()), ("buggy", "fixed"));
        assert_eq!(p.buggy.roles.signature, ["leak-reported"]);
        assert_eq!(
            (p.buggy.roles.evidence.as_slice(), p.fixed.roles.evidence.as_slice()),
            (&["race-leaked".to_string()][..], &["race-refused".to_string()][..])
        );
    }

    #[test]
    fn a_fix_is_the_default_series_plus_the_patch_judged_as_the_fixed_variant() {
        let fix = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regression/fixes/fnhe-fix-rebased.patch");
        let p = make(&scenario("fnhe-leak.yaml"), None, &FixRequest { patches: vec![fix.clone()], before: false }).unwrap();
        assert_eq!(p.fixed.variant.name, "fixed", "the guest resolves the fixed variant's expectations by name");
        assert_eq!(p.fixed.report_name, "fixed+fix");
        assert_eq!(p.fixed.variant.patches.len(), 3);
        assert_eq!(p.fixed.variant.patches[..2], p.buggy.variant.patches[..]);
        assert_eq!(p.fixed.variant.patches[2], fix.canonicalize().unwrap().display().to_string());
        let before = make(&scenario("fnhe-leak.yaml"), None, &FixRequest { patches: vec![fix], before: true }).unwrap();
        assert!(before.fixed.variant.patches[0].ends_with("fnhe-fix-rebased.patch") && before.fixed.kernel.fix_before);
    }

    #[test]
    fn the_signature_is_what_buggy_must_show_and_fixed_must_not() {
        let p = make(&scenario("pipe-limit.yaml"), Some(("buggy", "fixed-model")), &FixRequest::default()).unwrap();
        assert!(p.buggy.roles.signature.contains(&"writer-blocked".to_string()), "{:?}", p.buggy.roles.signature);
        assert!(!p.buggy.roles.signature.contains(&"export-completes".to_string()), "flipped the other way: not the signature");
        assert!(matches!(make(&scenario("pipe-limit.yaml"), None, &FixRequest::default()), Err(PlanError::NoPair { .. })));
    }
}
