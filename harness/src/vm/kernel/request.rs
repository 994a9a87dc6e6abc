//! From a scenario and variant to what to build: its patch and config files, found in the
//! scenario's own tree or the lab's ([`KernelFiles`]).

use std::path::PathBuf;

use super::KernelRequest;
use crate::scenario::{KernelFiles, Loaded, Variant};

/// `kernel-patches/<scenario>/<patch>` for each patch of the variant, and
/// `vm/config/base.config` followed by the debug kernels' fragments (`debug/<kind>.config`),
/// then the scenario's and the variant's own, which may override them. Each patch as the
/// variant's kernel takes it (its own backport where there is one). A file in neither tree
/// is named where the scenario would bring it, for [`missing_files`] to report.
pub fn request_for(loaded: &Loaded, variant: &Variant) -> KernelRequest {
    let files = KernelFiles::of(loaded);
    let or_first = |found: Result<PathBuf, crate::scenario::files::NotFound>| found.unwrap_or_else(|e| e.tried[0].clone());
    let mut fragments = vec![or_first(files.base_config())];
    let debug = crate::scenario::debug::set_of(loaded.scenario.kernel.debug.iter().copied());
    fragments.extend(debug.iter().map(|k| or_first(files.fragment(&k.fragment()))));
    fragments.extend(variant.config.iter().map(|c| or_first(files.fragment(c))));
    KernelRequest {
        base: variant.kernel,
        patches: variant.patches.iter().map(|p| or_first(files.patch_on(p, variant.kernel))).collect(),
        fuzz: loaded.scenario.kernel.fuzz,
        fragments,
        needs: needs_of(&loaded.scenario, variant),
    }
}

/// The kernel options the steps of `variant` need on its kernel (`Step::kconfig`), sorted.
fn needs_of(s: &crate::scenario::Scenario, variant: &Variant) -> Vec<String> {
    fn walk(steps: &[crate::scenario::StepEntry], variant: &Variant, out: &mut Vec<String>) {
        for step in steps.iter().filter(|e| e.runs_in(&variant.name, variant.kernel)) {
            out.extend(step.kind.step().kconfig().iter().map(|o| o.to_string()));
            walk(step.nested(), variant, out);
        }
    }
    let mut out = Vec::new();
    walk(&s.steps, variant, &mut out);
    if !s.topology.namespaces.is_empty() {
        out.push("CONFIG_NET_NS".into());
    }
    if !s.topology.links.is_empty() {
        out.push("CONFIG_VETH".into());
    }
    out.sort();
    out.dedup();
    out
}

/// Files the request names that do not exist, for `lab check` and before a build.
pub fn missing_files(req: &KernelRequest) -> Vec<PathBuf> {
    req.patches.iter().chain(req.fragments.iter()).filter(|p| !p.is_file()).cloned().collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_scenario_elsewhere_builds_with_its_own_patch_and_the_labs_base_config() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/fnhe-leak.yaml")).unwrap();
        let path = dir.path().join("mine.yaml");
        std::fs::write(&path, text.replace("0001-route-debug-ref-leak-test.patch", "0001-mine.patch")).unwrap();
        std::fs::create_dir_all(dir.path().join("kernel-patches/fnhe-leak")).unwrap();
        std::fs::write(dir.path().join("kernel-patches/fnhe-leak/0001-mine.patch"), "").unwrap();
        let loaded = crate::scenario::load(&path).unwrap();
        let req = request_for(&loaded, &Variant::resolve(&loaded.scenario, Some("buggy")).unwrap());
        let (own, lab) = (dir.path().canonicalize().unwrap(), Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap());
        assert_eq!(req.patches[0], own.join("kernel-patches/fnhe-leak/0001-mine.patch"));
        assert_eq!(req.patches[1].parent(), Some(lab.join("kernel-patches/fnhe-leak").as_path()), "the rest from the lab");
        assert_eq!(req.fragments[0], lab.join("vm/config/base.config"));
        assert!(missing_files(&req).is_empty(), "{:?}", missing_files(&req));
    }
}
