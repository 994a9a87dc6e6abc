//! From a scenario and variant to what to build: the repository's patch and config files.

use std::path::{Path, PathBuf};

use super::KernelRequest;
use crate::scenario::{Loaded, Variant};

/// The repository a scenario file belongs to: the parent of its `scenarios/` directory,
/// else the directory `lab` was built from.
pub fn repo_root(scenario_file: &Path) -> PathBuf {
    let dir = scenario_file.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf));
    match dir {
        Some(d) if d.file_name().is_some_and(|n| n == "scenarios") => d.parent().map(Path::to_path_buf).unwrap_or(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    }
}

/// `kernel-patches/<scenario>/<patch>` for each patch of the variant, and
/// `vm/config/base.config` followed by the scenario's and the variant's fragments.
pub fn request_for(loaded: &Loaded, variant: &Variant) -> KernelRequest {
    let root = repo_root(&loaded.path);
    let patch_dir = root.join("kernel-patches").join(&loaded.scenario.name);
    let config_dir = root.join("vm").join("config");
    let mut fragments = vec![config_dir.join("base.config")];
    fragments.extend(variant.config.iter().map(|c| config_dir.join(c)));
    KernelRequest {
        base: loaded.scenario.kernel.base.clone(),
        patches: variant.patches.iter().map(|p| patch_dir.join(p)).collect(),
        fragments,
    }
}

/// Files the request names that do not exist, for `lab check` and before a build.
pub fn missing_files(req: &KernelRequest) -> Vec<PathBuf> {
    req.patches.iter().chain(req.fragments.iter()).filter(|p| !p.is_file()).cloned().collect()
}

/// Every patch or config fragment a scenario names that is not there, as diagnostics
/// pointing at the entry that names it.
pub fn file_diagnostics(loaded: &Loaded) -> Vec<crate::scenario::Diagnostic> {
    let root = repo_root(&loaded.path);
    let locator = crate::scenario::locate::Locator::new(&loaded.text);
    let s = &loaded.scenario;
    let mut named: Vec<(String, PathBuf)> = vec![("kernel".into(), root.join("vm/config/base.config"))];
    for (i, c) in s.kernel.config.iter().enumerate() {
        named.push((format!("kernel.config[{i}]"), root.join("vm/config").join(c)));
    }
    for (name, v) in &s.variants {
        for (i, p) in v.patches.iter().enumerate() {
            named.push((format!("variants.{name}.patches[{i}]"), root.join("kernel-patches").join(&s.name).join(p)));
        }
        for (i, c) in v.config.iter().enumerate() {
            named.push((format!("variants.{name}.config[{i}]"), root.join("vm/config").join(c)));
        }
    }
    named
        .into_iter()
        .filter(|(_, p)| !p.is_file())
        .map(|(field, p)| {
            let pos = locator.find(&field);
            crate::scenario::Diagnostic {
                file: loaded.path.clone(),
                line: pos.map_or(1, |p| p.line),
                column: pos.map_or(1, |p| p.column),
                message: format!("{} does not exist", p.display()),
                field,
            }
        })
        .collect()
}
