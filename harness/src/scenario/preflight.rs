//! What `lab check` verifies beyond loading: the kernel files the scenario names exist (in
//! its own tree or the lab's, see [`super::files`]), every variant resolves, and — warnings,
//! not errors — what the steps need from this machine (a program `exec` runs) and what is
//! written legally but will not do what it says (a global sysctl set inside a namespace).

use std::path::Path;

use super::check::{join_path, Problem};
use super::files::KernelFiles;
use super::load::{load, placed, Diagnostic, LoadError, Loaded};
use super::locate::Locator;
use super::model::{Scenario, StepEntry};
use super::variant::{Variant, VariantError};

/// A scenario that passed `lab check`.
#[derive(Debug)]
pub struct Checked {
    pub loaded: Loaded,
    /// Every variant, resolved (`default` when the scenario has none).
    pub variants: Vec<Variant>,
    /// What this machine lacks for a run: said, never fatal.
    pub warnings: Vec<Diagnostic>,
}

/// Why a scenario did not pass `lab check`.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// It does not load, or names kernel files that are in no tree.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A variant does not resolve.
    #[error(transparent)]
    Variant(#[from] VariantError),
}

/// Everything `lab check <path>` checks, with the diagnostics it prints.
pub fn check_file(path: &Path) -> Result<Checked, CheckError> {
    let loaded = load(path)?;
    let locator = Locator::new(&loaded.text);
    let missing = KernelFiles::of(&loaded).problems(&loaded);
    if !missing.is_empty() {
        return Err(LoadError::Invalid(placed(&locator, &loaded.path, missing)).into());
    }
    let s = &loaded.scenario;
    let names: Vec<&str> = if s.variants.is_empty() { vec!["default"] } else { s.variants.keys().map(String::as_str).collect() };
    let variants = names.into_iter().map(|v| Variant::resolve(s, Some(v))).collect::<Result<Vec<_>, _>>()?;
    let mut host = Vec::new();
    host_problems(&s.steps, "steps", &mut host);
    host.extend(lints(s));
    let warnings = placed(&locator, &loaded.path, host);
    Ok(Checked { loaded, variants, warnings })
}

/// What is written legally but will not do what it says: the steps' own
/// ([`crate::steps::Step::lint`]) and a global sysctl under a namespace's `sysctls:`.
fn lints(s: &Scenario) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, ns) in s.topology.namespaces.iter().enumerate() {
        for key in ns.sysctls.keys() {
            out.extend(crate::steps::sysctl::global_in_netns(&format!("topology.namespaces[{i}].sysctls.{key}"), key, true));
        }
    }
    step_lints(&s.steps, "steps", &mut out);
    out
}

fn step_lints(steps: &[StepEntry], prefix: &str, out: &mut Vec<Problem>) {
    for (i, step) in steps.iter().enumerate() {
        let kind_at = join_path(&format!("{prefix}[{i}]"), step.kind.name());
        out.extend(step.kind.step().lint().into_iter().map(|p| p.under(&kind_at)));
        step_lints(step.nested(), &format!("{kind_at}.steps"), out);
    }
}

/// What the steps (at any depth) need from this machine and it does not have.
fn host_problems(steps: &[StepEntry], prefix: &str, out: &mut Vec<Problem>) {
    for (i, step) in steps.iter().enumerate() {
        let kind_at = join_path(&format!("{prefix}[{i}]"), step.kind.name());
        out.extend(step.kind.step().check_host().into_iter().map(|p| p.under(&kind_at)));
        host_problems(step.nested(), &format!("{kind_at}.steps"), out);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const OWN: &str = r#"name: own
description: a scenario outside the lab's tree, with its own patch and fragment
kernel:
  config: [own.config]
topology:
  namespaces: [{ name: a }]
steps:
  - exec: { netns: a, command: [lab-no-such-program, --flag] }
expect: []
variants:
  buggy: { default: true, patches: [0001-own.patch] }
  fixed: {}
"#;

    /// `<tmp>/my.yaml` with `kernel-patches/own/0001-own.patch` and `vm/config/own.config`.
    fn own_tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("my.yaml");
        std::fs::write(&path, OWN).unwrap();
        std::fs::create_dir_all(dir.path().join("kernel-patches/own")).unwrap();
        std::fs::write(dir.path().join("kernel-patches/own/0001-own.patch"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("vm/config")).unwrap();
        std::fs::write(dir.path().join("vm/config/own.config"), "CONFIG_X=y\n").unwrap();
        (dir, path)
    }

    fn lab_tree() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
    }

    #[test]
    fn a_scenario_elsewhere_uses_its_own_files_and_the_labs_base_config() {
        let (dir, path) = own_tree();
        let checked = check_file(&path).unwrap();
        assert_eq!(checked.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["buggy", "fixed"]);
        let files = KernelFiles::of(&checked.loaded);
        let own = dir.path().canonicalize().unwrap();
        assert_eq!(files.patch("0001-own.patch").unwrap(), own.join("kernel-patches/own/0001-own.patch"));
        assert_eq!(files.fragment("own.config").unwrap(), own.join("vm/config/own.config"));
        assert_eq!(files.base_config().unwrap(), lab_tree().join("vm/config/base.config"));
    }

    #[test]
    fn a_missing_file_names_both_trees_at_its_field() {
        let (dir, path) = own_tree();
        std::fs::remove_file(dir.path().join("vm/config/own.config")).unwrap();
        let Err(CheckError::Load(LoadError::Invalid(d))) = check_file(&path) else { panic!("a missing fragment is an error") };
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].line, d[0].field.as_str()), (4, "kernel.config[0]"));
        let own = dir.path().canonicalize().unwrap();
        let want = format!(
            "{} does not exist (nor {})",
            own.join("vm/config/own.config").display(),
            lab_tree().join("vm/config/own.config").display()
        );
        assert_eq!(d[0].message, want);
    }

    #[test]
    fn a_program_the_host_lacks_is_a_warning_with_its_line() {
        let (_dir, path) = own_tree();
        let checked = check_file(&path).unwrap();
        assert_eq!(checked.warnings.len(), 1, "{:?}", checked.warnings);
        let w = &checked.warnings[0];
        assert_eq!((w.line, w.field.as_str()), (8, "steps[0].exec.command[0]"));
        assert!(w.message.contains("`lab-no-such-program` is not on this host"), "{w}");
    }

    #[test]
    fn a_global_sysctl_inside_a_namespace_is_a_warning_at_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("neigh.yaml");
        let text = "name: neigh\ndescription: x\ntopology:\n  namespaces:\n    - name: node\n      sysctls:\n        net.ipv4.ip_forward: 1\n        net.core.netdev_max_backlog: 5000\nsteps:\n  - sysctl: { key: net.ipv4.neigh.default.gc_thresh3, value: 2048, netns: node }\n  - sysctl: { key: net.ipv4.neigh.default.gc_thresh3, value: 2048 }\n";
        std::fs::write(&path, text).unwrap();
        let checked = check_file(&path).expect("warnings do not fail lab check");
        let at: Vec<(usize, usize, &str)> = checked.warnings.iter().map(|w| (w.line, w.column, w.field.as_str())).collect();
        assert_eq!(
            at,
            [(8, 9, "topology.namespaces[0].sysctls.net.core.netdev_max_backlog"), (10, 15, "steps[0].sysctl.key")],
            "{:?}",
            checked.warnings
        );
        assert!(checked.warnings[1].message.contains("exists only in the initial network namespace"), "{}", checked.warnings[1]);
    }

    #[test]
    fn a_copy_of_a_lab_scenario_elsewhere_finds_the_labs_patches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copy.yaml");
        std::fs::copy(lab_tree().join("scenarios/fnhe-leak.yaml"), &path).unwrap();
        let checked = check_file(&path).unwrap();
        assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
        let files = KernelFiles::of(&checked.loaded);
        let patch = &checked.loaded.scenario.variants["buggy"].patches[0];
        assert_eq!(files.patch(patch).unwrap(), lab_tree().join("kernel-patches/fnhe-leak").join(patch));
    }
}
